import Foundation
import JSONCore
import Testing

@testable import EventPatterns

/// Patterns and events nested as deep as JSON allows, or (events built in code) deeper, compile and match
/// without overflowing the stack (issue #24).
@Suite struct EventPatternDepthTests {
    @Test func deepestPatternCompilesAndMatches() throws {
        let depth = JSON.maximumParseDepth - 1
        let pattern = try EventPattern(String(repeating: #"{"a":"#, count: depth) + #"["x"]"# + String(repeating: "}", count: depth))
        var event: JSON = "x"
        for _ in 0..<depth { event = ["a": event] }
        #expect(pattern.matches(event))
        var other: JSON = "y"
        for _ in 0..<depth { other = ["a": other] }
        #expect(!pattern.matches(other))
        #expect(throws: EventPatternError.self) {
            try EventPattern(String(repeating: #"{"a":"#, count: 100_000) + "[1]" + String(repeating: "}", count: 100_000))
        }
    }

    @Test func deeplyNestedArraysInAnEventAreFlattened() throws {
        let pattern = try EventPattern(#"{"detail": {"tag": ["x"]}}"#)
        var tags: JSON = ["y", "x"]
        for _ in 0..<10_000 { tags = [tags, "z"] }
        #expect(pattern.matches(["detail": ["tag": tags]]))
        #expect(ObjectPattern.leaves([[1, [2, [3]]], ["a": 1], 4]) == [1, 2, 3, 4])
    }
}
