import Foundation
import Testing
@testable import JSONCore

@Suite struct JSONParsingTests {
    @Test func parsesEveryKind() throws {
        let value = try JSON(parsing: #" {"a": [1, -2.5, 1e3, true, false, null], "b": "x\ny\u00e9\ud83d\ude00", "c": {}} "#)
        #expect(value["a"] == [1, -2.5, 1000, true, false, nil])
        #expect(value["b"] == "x\nyé😀")
        #expect(value["c"] == .object([:]))
    }

    @Test func keepsMemberOrder() throws {
        let value = try JSON(parsing: #"{"z":1,"a":2,"m":3}"#)
        #expect(value.objectValue.map { Array($0.keys) } == ["z", "a", "m"])
        #expect(value.serialized() == #"{"z":1,"a":2,"m":3}"#)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "\"abc", "[1] x", "-", "\"\u{01}\"", "{1:2}", "1e"])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON(parsing: text) }
    }

    @Test func reportsTheOffsetOfTheProblem() {
        #expect(throws: JSONParseError("Expected ',' or ']' in array", offset: 3)) { try JSON(parsing: "[1 2]") }
    }

    @Test func boundsNestingDepth() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSON(parsing: deep) }
    }

    @Test func parsesLargeIntegersAndFractionsExactly() throws {
        #expect(try JSON(parsing: "9007199254740993") == .number(9007199254740992))
        #expect(try JSON(parsing: "0.1") == .number(0.1))
        #expect(try JSON(parsing: "-0") == .number(0))
        #expect(try JSON(parsing: "123456789012345678901234567890") == .number(1.2345678901234568e29))
    }
}

@Suite struct JSONWritingTests {
    @Test(arguments: [
        (1.0, "1"), (-1.5, "-1.5"), (0.1, "0.1"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
        (1e-7, "1e-7"), (0.000001, "0.000001"), (123.456, "123.456"), (-0.0, "0"), (1.5e300, "1.5e+300"),
        (9007199254740993.0, "9007199254740992"), (0.1 + 0.2, "0.30000000000000004"), (Double.nan, "null"),
        (2.5e-10, "2.5e-10"), (1e16, "10000000000000000"), (3.14159e25, "3.14159e+25"),
    ])
    func writesNumbersAsJavaScript(_ value: Double, _ expected: String) {
        #expect(JSON.formatNumber(value) == expected)
    }

    /// The fast paths for integers and short decimals write what the general path (shortest round-trip digits)
    /// writes, over numbers of every size they take and the edges where they stop taking them.
    @Test func fastNumberPathsAgreeWithTheGeneralPath() {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [
            0.001, -0.001, 0.01, 0.999, 1.001, 999_999_999_999.999, 1e12 - 0.001, 1e12 + 0.5, 0.0009, 0.0015,
            1764750000.123, 1764750000.1, 0.1 + 0.2, 1.005, 2.675, 9_007_199_254_740_991, -9_007_199_254_740_991, 12345,
        ]
        for _ in 0..<20_000 {
            let integer = Double(Int64.random(in: -1_000_000_000_000_000...1_000_000_000_000_000, using: &generator))
            let fractionDigits = Int.random(in: 0...4, using: &generator)
            let scale = [1.0, 10, 100, 1000, 10000][fractionDigits]
            values.append(integer.truncatingRemainder(dividingBy: [1e3, 1e6, 1e9, 1e12, 1e15].randomElement(using: &generator)!) / scale)
            values.append(Double.random(in: -1e13...1e13, using: &generator))
            values.append(Double.random(in: 0...1, using: &generator))
        }
        for value in values where value != 0 && value.rounded(.towardZero) != value {
            var fast: [UInt8] = []
            var general: [UInt8] = []
            JSONWriter.writeShortestDigits(value, into: &general)
            if JSONWriter.writeShortDecimal(value, into: &fast) {
                #expect(
                    fast == general, "\(value): \(String(decoding: fast, as: UTF8.self)) != \(String(decoding: general, as: UTF8.self))")
            }
        }
        for value in values where value.rounded(.towardZero) == value && abs(value) < 9_007_199_254_740_992 && value != 0 {
            var fast: [UInt8] = []
            var general: [UInt8] = []
            JSONWriter.writeInteger(Int64(value), into: &fast)
            JSONWriter.writeShortestDigits(value, into: &general)
            #expect(fast == general, "\(value)")
        }
        // Written by the fast path, as expected of the values it exists for.
        var out: [UInt8] = []
        #expect(JSONWriter.writeShortDecimal(1764750000.123, into: &out) && out == Array("1764750000.123".utf8))
        out = []
        #expect(!JSONWriter.writeShortDecimal(0.1 + 0.2, into: &out) && out.isEmpty)
    }

    @Test func measuresTheSerializedSizeAgainstALimit() throws {
        let values: [JSON] = [
            .null, true, 1.5, "a\"b\u{01}", [1, "x", [:]],
            // A subnormal: the longest numbers to write.
            ["key": ["nested": [true, false, .null]], "n": .number(-Double.leastNormalMagnitude * 0.55)],
            .string(String(repeating: "\u{01}", count: 100)), .array(Array(repeating: 123456789, count: 50)),
        ]
        for value in values {
            let size = value.serializedBytes().count
            #expect(value.serializedSizeIsAtMost(size))
            #expect(!value.serializedSizeIsAtMost(size - 1))
            #expect(value.serializedSizeIsAtMost(size * 10))
        }
    }

    @Test func escapesStringsAsJSONStringify() {
        let value: JSON = "a\"b\\c\n\t\u{01}/é"
        #expect(value.serialized() == #""a\"b\\c\n\t\u0001/é""#)
        #expect(value.serialized(.init(escapeSlashes: true)) == #""a\"b\\c\n\t\u0001\/é""#)
    }

    /// Every byte to escape is found wherever it falls among runs copied whole: strings of every length up to 40
    /// built from bytes that need an escape, bytes next to them and multi-byte UTF-8, against an escape written
    /// scalar by scalar.
    @Test func escapesEveryByteWhereverItFalls() {
        func reference(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let pieces: [String] = ["\"", "\\", "\n", "\u{01}", "\u{1F}", " ", "!", "#", "[", "]", "a", "\u{7F}", "é", "€", "😀", "/"]
        var generator = SystemRandomNumberGenerator()
        for length in 0...40 {
            for _ in 0..<50 {
                let text = (0..<length).map { _ in pieces.randomElement(using: &generator)! }.joined()
                #expect(JSON.string(text).serialized() == reference(text), "\(Array(text.utf8))")
            }
        }
    }

    @Test func writesPrettyText() {
        let value: JSON = ["a": [1, 2], "b": [:], "c": []]
        #expect(value.serialized(.pretty) == "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}")
    }

    @Test func roundTrips() throws {
        let text = #"{"name":"job","args":["--date","2024-01-01"],"n":3.25,"ok":true,"none":null}"#
        #expect(try JSON(parsing: text).serialized() == text)
    }
}

@Suite struct JSONEqualityTests {
    @Test func objectsCompareRegardlessOfOrder() throws {
        let a = try JSON(parsing: #"{"x":1,"y":[1,2]}"#)
        let b = try JSON(parsing: #"{"y":[1,2],"x":1}"#)
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != (try JSON(parsing: #"{"y":[2,1],"x":1}"#)))
    }

    @Test func subscriptsReadAndWrite() {
        var value: JSON = ["a": 1]
        value["b"] = "two"
        #expect(value["b"] == "two")
        #expect(value["missing"] == nil)
        #expect(value.intValue == nil)
        #expect(JSON.number(3).intValue == 3)
        #expect(JSON.number(3.5).intValue == nil)
    }
}

@Suite struct UTCTimestampTests {
    @Test func matchesFoundationAcrossCenturies() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var seconds = -2_208_988_800.0  // 1900-01-01
        while seconds < 4_102_444_800 {  // 2100-01-01
            let date = Date(timeIntervalSince1970: seconds)
            #expect(UTCTimestamp.iso8601(secondsSince1970: seconds, fractionDigits: 3) == formatter.string(from: date))
            seconds += 86_400 * 37 + 3_723.25
        }
    }

    @Test func leapDaysAndFractions() {
        #expect(UTCTimestamp.iso8601(secondsSince1970: 951_782_400) == "2000-02-29T00:00:00Z")
        #expect(UTCTimestamp.iso8601(secondsSince1970: 1_704_067_199.9996, fractionDigits: 3) == "2023-12-31T23:59:59.999Z")
        #expect(UTCTimestamp.iso8601(secondsSince1970: -0.5, fractionDigits: 3) == "1969-12-31T23:59:59.500Z")
    }
}
