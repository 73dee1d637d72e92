import Foundation
import Testing
@testable import JSONCore

/// Values nested deeper than the parser accepts can still be built in code (an engine's loop, a JSONata
/// `$reduce`); writing, comparing, hashing and encoding them must not overflow the stack (issue #24).
@Suite struct DeepValueTests {
    /// Deep enough to overflow any recursive walk on a 512 KiB stack, shallow enough for Swift's own release of
    /// the enum (which recurses, a few hundred bytes a level) on the 8 MiB stack of a test's task.
    static let depth = 10_000

    static func nestedArrays(_ depth: Int, around leaf: JSON = 1) -> JSON {
        var value = leaf
        for _ in 0..<depth { value = [value] }
        return value
    }

    static func nestedObjects(_ depth: Int) -> JSON {
        var value: JSON = 1
        for _ in 0..<depth { value = ["a": value, "b": true] }
        return value
    }

    /// Runs `body` on a thread with a 512 KiB stack, the size of secondary threads (and of Swift tasks) on macOS.
    func onSmallStack(_ body: @escaping @Sendable () -> Void) {
        onStack(of: 512 << 10, body)
    }

    func onStack(of size: Int, _ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            done.signal()
        }
        thread.stackSize = size
        thread.start()
        done.wait()
    }

    @Test func writesDeepValues() throws {
        let depth = Self.depth
        let arrays = Self.nestedArrays(depth)
        #expect(arrays.serialized() == String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth))
        let objects = Self.nestedObjects(depth)
        let text = objects.serialized()
        #expect(text == String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: #","b":true}"#, count: depth))
        #expect(objects.serialized(JSONWriteOptions(sortedKeys: true)) == text)
        #expect(objects.serializedSizeIsAtMost(text.utf8.count))
        #expect(!objects.serializedSizeIsAtMost(text.utf8.count - 1))
        #expect(objects.serialized(maximumLength: 100) == nil)
        #expect(objects.serialized(maximumLength: text.utf8.count) == text)
        // Pretty text of a deep value reads back as the same value (below the parser's limit) and is laid out as
        // the recursive writer lays out a shallow one.
        let shallow = Self.nestedObjects(100)
        #expect(try JSON(parsing: shallow.serialized(.pretty)) == shallow)
        #expect(shallow.serialized(.pretty).contains("\n" + String(repeating: " ", count: 200) + "\"a\": 1,"))
        // (Pretty text indents each level further: a thousand levels are half a megabyte of spaces.)
        #expect(Self.nestedArrays(1000).serialized(.pretty).hasSuffix("\n  ]\n]"))
    }

    @Test func comparesAndHashesDeepValues() {
        let a = Self.nestedObjects(Self.depth), b = Self.nestedObjects(Self.depth)
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Self.nestedArrays(Self.depth) != Self.nestedArrays(Self.depth, around: 2))
        #expect(Self.nestedArrays(Self.depth) != Self.nestedArrays(Self.depth + 1))
        #expect(Set([a, b, Self.nestedArrays(Self.depth)]).count == 2)
    }

    @Test func writesAndComparesOnSmallStacks() {
        onSmallStack {
            // A value deeper than the parser allows: written and compared without recursion past 64 levels (and
            // shallow enough for the recursive release of the enum itself on this stack).
            let deep = Self.nestedArrays(1000)
            #expect(deep.serialized().count == 2001)
            #expect(deep == Self.nestedArrays(1000))
            _ = deep.hashValue
        }
    }

    /// (A debug build's frames are several times a release build's: its parser needs more than 512 KiB here.)
    @Test func parsesTheDeepestTextOnSmallStacks() {
        onStack(of: 1 << 20) {
            let depth = JSON.maximumParseDepth
            let text = String(repeating: #"{"a":["#, count: depth / 2) + "1" + String(repeating: "]}", count: depth / 2)
            let value = try? JSON(parsing: text)
            #expect(value?.serialized() == text)
            #expect(value == (try? JSON(parsing: text)))
        }
    }

    @Test func parserRefusesDeepText() {
        let limit = JSON.maximumParseDepth
        #expect(throws: Never.self) { try JSON(parsing: String(repeating: "[", count: limit) + String(repeating: "]", count: limit)) }
        for depth in [limit + 1, 100_000] {
            #expect(throws: JSONParseError.self) {
                try JSON(parsing: String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
            }
            #expect(throws: JSONParseError.self) {
                try JSON(parsing: String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth))
            }
        }
    }

    @Test func codableRefusesValuesDeeperThanTheParser() throws {
        #expect(throws: EncodingError.self) { try JSONEncoder().encode(Self.nestedArrays(JSON.maximumParseDepth + 10)) }
        let fits = Self.nestedArrays(100)
        #expect(try JSONDecoder().decode(JSON.self, from: JSONEncoder().encode(fits)) == fits)
    }

    @Test func timestampsOfAnyNumberDoNotTrap() {
        #expect(UTCTimestamp.iso8601(secondsSince1970: 1e300) == UTCTimestamp.iso8601(secondsSince1970: 8.64e12))
        #expect(UTCTimestamp.iso8601(secondsSince1970: -1e300, fractionDigits: 3).hasSuffix(".000Z"))
        #expect(UTCTimestamp.iso8601(secondsSince1970: .nan) == "1970-01-01T00:00:00Z")
        #expect(UTCTimestamp.iso8601(secondsSince1970: 8e12, fractionDigits: 9).hasSuffix(".000000000Z"))
        #expect(UTCTimestamp.iso8601(secondsSince1970: 1.5, fractionDigits: 9) == "1970-01-01T00:00:01.500000000Z")
    }
}
