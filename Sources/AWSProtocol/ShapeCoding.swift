import Foundation
import JSONCore

/// A structure from a service model that can be read from a request.
/// A shape whose members rest-json may carry outside the body (path labels, query string, headers, status).
public protocol HTTPBound: Sendable {
    static var httpBindings: [HTTPBinding] { get }
}

extension HTTPBound {
    public static var httpBindings: [HTTPBinding] { [] }
}

public protocol ShapeDecodable: HTTPBound {
    /// Reads the structure from `json` (an object), recording constraint violations in `decoder`.
    init(json: JSON, decoder: inout ShapeDecoder, path: String) throws(AWSError)
    /// The structure with every member at its empty value: what a required member holds after it was found
    /// missing, so decoding can go on and report every violation at once.
    static var empty: Self { get }
}

/// A structure written as JSON (awsJson and rest-json responses).
public protocol JSONShapeEncodable: HTTPBound {
    func json() -> JSON
}

/// A structure written as XML (query responses).
public protocol XMLShapeEncodable: Sendable {
    func xml(into writer: inout XMLWriter)
}

/// Where a rest-json member travels: in the path, the query string, a header, or as the status code.
public struct HTTPBinding: Sendable {
    public enum Location: String, Sendable { case uri, querystring, header, headers, statusCode }
    /// The member's model type, by which its text in a path, query or header becomes a typed value.
    public enum Kind: String, Sendable { case string, integer, double, boolean, timestamp, list, map, blob }
    public var member: String
    public var location: Location
    public var name: String
    public var kind: Kind
    public init(member: String, location: Location, name: String, kind: Kind = .string) {
        self.member = member
        self.location = location
        self.name = name
        self.kind = kind
    }
}

/// The input or output of an operation that has none.
public struct EmptyShape: ShapeDecodable, JSONShapeEncodable, XMLShapeEncodable, Equatable {
    public init() {}
    public init(json: JSON, decoder: inout ShapeDecoder, path: String) throws(AWSError) {
        _ = try decoder.object(json, path: path)
    }
    public static var empty: EmptyShape { EmptyShape() }
    public func json() -> JSON { .object([:]) }
    public func xml(into writer: inout XMLWriter) {}
}

/// How a protocol writes timestamps.
public enum TimestampFormat: Sendable {
    case epochSeconds
    case iso8601
}

/// Reads members of model shapes from a JSON tree, checking types (SerializationException) and collecting
/// constraint violations (ValidationException) as AWS does.
///
/// Query-protocol requests arrive as flattened form fields; ``QueryForm`` turns them into a JSON tree whose
/// scalars are strings and whose lists are `{"member": {"1": ...}}` objects, and `lenientScalars` lets the
/// same generated decoders read it.
public struct ShapeDecoder: Sendable {
    public var report = ValidationReport()
    public var lenientScalars: Bool
    public var timestampFormat: TimestampFormat

    public init(lenientScalars: Bool = false, timestampFormat: TimestampFormat = .epochSeconds) {
        self.lenientScalars = lenientScalars
        self.timestampFormat = timestampFormat
    }

    public static func join(_ path: String, _ member: String) -> String { path.isEmpty ? member : path + "." + member }

    // MARK: Types

    public func object(_ json: JSON, path: String) throws(AWSError) -> JSONObject {
        switch json {
        case .object(let o): return o
        case .string("") where lenientScalars: return [:]
        default: throw mismatch(json, expected: "structure", path: path)
        }
    }

    /// The SerializationException AWS's JSON front ends answer for a value of the wrong type, in their words:
    /// `STRING_VALUE can not be converted to an Integer`, `Start of structure or map found where not expected.`
    func mismatch(_ json: JSON, expected: String, path: String) -> AWSError {
        switch json {
        case .object: return .serialization("Start of structure or map found where not expected.")
        case .array: return .serialization("Start of list found where not expected.")
        default:
            let token: String
            switch json {
            case .string: token = "STRING_VALUE"
            case .number: token = "NUMBER_VALUE"
            case .bool(true): token = "TRUE_VALUE"
            case .bool(false): token = "FALSE_VALUE"
            default: token = "NULL_VALUE"
            }
            let target: String
            switch expected {
            case "string": target = "a String"
            case "number": target = "an Integer"
            case "double": target = "a Double"
            case "boolean": target = "a Boolean"
            case "timestamp": target = "a Date"
            case "list", "map", "structure": target = "a \(expected == "list" ? "List" : "Map")"
            default: target = "a \(expected)"
            }
            return .serialization("\(token) can not be converted to \(target)")
        }
    }

    public func string(_ json: JSON?, path: String) throws(AWSError) -> String? {
        switch json {
        case nil, .null?: return nil
        case .string(let s)?: return s
        case let other?: throw mismatch(other, expected: "string", path: path)
        }
    }

    public func integer(_ json: JSON?, path: String) throws(AWSError) -> Int? {
        switch json {
        case nil, .null?: return nil
        case .number(let n)?:
            guard n.rounded(.towardZero) == n, abs(n) < 9.3e18 else {
                throw .serialization("NUMBER_VALUE can not be converted to an Integer")
            }
            return Int(n)
        case .string(let s)? where lenientScalars:
            guard let i = Int(s) else { throw .validation("Value '\(s)' at '\(path)' is not a valid integer.") }
            return i
        case let other?: throw mismatch(other, expected: "number", path: path)
        }
    }

    public func double(_ json: JSON?, path: String) throws(AWSError) -> Double? {
        switch json {
        case nil, .null?: return nil
        case .number(let n)?: return n
        case .string(let s)? where lenientScalars:
            guard let d = Double(s) else { throw .validation("Value '\(s)' at '\(path)' is not a valid number.") }
            return d
        case let other?: throw mismatch(other, expected: "double", path: path)
        }
    }

    public func boolean(_ json: JSON?, path: String) throws(AWSError) -> Bool? {
        switch json {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        case .string(let s)? where lenientScalars && (s == "true" || s == "false"): return s == "true"
        case let other?: throw mismatch(other, expected: "boolean", path: path)
        }
    }

    public func timestamp(_ json: JSON?, path: String) throws(AWSError) -> Date? {
        switch json {
        case nil, .null?: return nil
        case .number(let n)?: return Date(timeIntervalSince1970: n)
        case .string(let s)?:
            if let n = Double(s) { return Date(timeIntervalSince1970: n) }
            if let date = Timestamps.parseISO8601(s) { return date }
            throw .serialization("Value '\(s)' at '\(path)' is not a valid timestamp.")
        case let other?: throw mismatch(other, expected: "timestamp", path: path)
        }
    }

    public func blob(_ json: JSON?, path: String) throws(AWSError) -> Data? {
        guard let text = try string(json, path: path) else { return nil }
        guard let data = Data(base64Encoded: text) else {
            throw .serialization("Value at '\(path)' is not valid base64.")
        }
        return data
    }

    public func document(_ json: JSON?, path: String) -> JSON? {
        if case .null? = json { return nil }
        return json
    }

    public mutating func list<Element>(
        _ json: JSON?, path: String, element: (JSON, inout ShapeDecoder, String) throws(AWSError) -> Element?
    ) throws(AWSError) -> [Element]? {
        let items: [JSON]
        switch json {
        case nil, .null?: return nil
        case .array(let a)?: items = a
        case .object(let o)? where lenientScalars:
            // Query form: {"member": {"1": a, "2": b}} or flattened {"1": a, "2": b}.
            let indexed = o["member"]?.objectValue ?? o
            items = indexed.compactMap { key, value in Int(key).map { ($0, value) } }.sorted { $0.0 < $1.0 }.map(\.1)
        case .string("")? where lenientScalars: items = []
        case let other?: throw mismatch(other, expected: "list", path: path)
        }
        var result: [Element] = []
        result.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            let itemPath = "\(path).\(i + 1).member"
            if let value = try element(item, &self, itemPath) { result.append(value) }
        }
        return result
    }

    public mutating func map<Value>(
        _ json: JSON?, path: String, value: (JSON, inout ShapeDecoder, String) throws(AWSError) -> Value?
    ) throws(AWSError) -> [String: Value]? {
        switch json {
        case nil, .null?: return nil
        case .object(let o)?:
            var result: [String: Value] = [:]
            if lenientScalars, let entries = o["entry"]?.objectValue {
                // Query form: entry.N.key / entry.N.value
                for (_, entry) in entries {
                    guard let key = entry["key"]?.stringValue else { continue }
                    if let v = try value(entry["value"] ?? .null, &self, "\(path).\(key).member") { result[key] = v }
                }
                return result
            }
            for (key, item) in o {
                if let v = try value(item, &self, "\(path).\(key).member") { result[key] = v }
            }
            return result
        case let other?: throw mismatch(other, expected: "map", path: path)
        }
    }

    public mutating func structure<S: ShapeDecodable>(_ json: JSON?, path: String, as type: S.Type = S.self) throws(AWSError) -> S? {
        switch json {
        case nil, .null?: return nil
        case let value?: return try S(json: value, decoder: &self, path: path)
        }
    }

    // MARK: Constraints

    /// Records a missing required member; returns the value to keep.
    public mutating func required<T>(_ value: T?, path: String, empty: T) -> T {
        if let value { return value }
        report.add(value: "null", at: path, constraint: "Member must not be null")
        return empty
    }

    public mutating func length(_ value: String?, min: Int?, max: Int?, path: String) {
        guard let value else { return }
        // Smithy measures a string's length in Unicode scalar values, not grapheme clusters.
        let count = value.unicodeScalars.count
        if let min, count < min {
            report.add(value: "'\(value)'", at: path, constraint: "Member must have length greater than or equal to \(min)")
        }
        if let max, count > max {
            report.add(value: "'\(value.prefix(100))'", at: path, constraint: "Member must have length less than or equal to \(max)")
        }
    }

    /// Records a string that does not match its model's `pattern`. AWS's front ends match the whole value
    /// (Java's `Pattern.matches`), so the pattern is anchored at both ends.
    public mutating func pattern(_ value: String?, _ pattern: String, path: String) {
        guard let value, let expression = ModelPatterns.shared.expression(for: pattern) else { return }
        let range = NSRange(value.startIndex..., in: value)
        if expression.firstMatch(in: value, options: [.anchored], range: range)?.range != range {
            report.add(value: "'\(value.prefix(100))'", at: path, constraint: "Member must satisfy regular expression pattern: \(pattern)")
        }
    }

    public mutating func length<C: Collection>(_ value: C?, min: Int?, max: Int?, path: String) {
        guard let value else { return }
        if let min, value.count < min {
            report.add(value: Self.describe(value), at: path, constraint: "Member must have length greater than or equal to \(min)")
        }
        if let max, value.count > max {
            report.add(value: Self.describe(value), at: path, constraint: "Member must have length less than or equal to \(max)")
        }
    }

    static func describe<C: Collection>(_ value: C) -> String { "[\(value.count) items]" }

    public mutating func range(_ value: Double?, min: Double?, max: Double?, path: String) {
        guard let value else { return }
        let shown = JSON.formatNumber(value)
        if let min, value < min {
            report.add(
                value: "'\(shown)'", at: path, constraint: "Member must have value greater than or equal to \(JSON.formatNumber(min))")
        }
        if let max, value > max {
            report.add(value: "'\(shown)'", at: path, constraint: "Member must have value less than or equal to \(JSON.formatNumber(max))")
        }
    }

    public mutating func range(_ value: Int?, min: Double?, max: Double?, path: String) {
        range(value.map(Double.init), min: min, max: max, path: path)
    }

    /// Reads a member of an enum shape: a value outside the model's cases is reported as AWS reports it, and
    /// read as ``ModeledEnum/unmodeled`` so that decoding goes on to report every violation at once.
    public mutating func enumeration<E: ModeledEnum>(_ json: JSON?, as type: E.Type, path: String) throws(AWSError) -> E? {
        guard let value = try string(json, path: path) else { return nil }
        let read = E(rawValue: value)
        if case .none = read.modeledCase {
            report.add(
                value: "'\(value)'", at: path,
                constraint: "Member must satisfy enum value set: [\(E.allCases.map(\.rawValue).joined(separator: ", "))]")
        }
        return read
    }
}

/// An enum of a service model: a known case for each value the model lists, and `unmodeled` for any other
/// value (one a newer model adds), so that reading a value never fails and a `switch` names every case.
public protocol ModeledEnum: RawRepresentable, Hashable, Sendable, CaseIterable, CustomStringConvertible
where RawValue == String, AllCases == [Self] {
    init(rawValue: String)
    static func unmodeled(_ value: String) -> Self
}

extension ModeledEnum {
    public var description: String { rawValue }

    /// Self when the model lists the value, nil for an ``unmodeled(_:)`` value.
    public var modeledCase: Self? { Self.allCases.contains(self) ? self : nil }
}

/// Helpers generated encoders call.
public enum ShapeEncoding {
    public static func timestamp(_ date: Date) -> JSON { .number((date.timeIntervalSince1970 * 1000).rounded() / 1000) }
    public static func blob(_ data: Data) -> JSON { .string(data.base64EncodedString()) }
}

/// ISO 8601 timestamps as AWS writes them (`2024-01-02T03:04:05.678Z`) and reads them (with or without
/// fractional seconds, `Z` or an offset).
public enum Timestamps {
    public static func iso8601(_ date: Date) -> String {
        UTCTimestamp.iso8601(secondsSince1970: date.timeIntervalSince1970, fractionDigits: 3)
    }

    public static func parseISO8601(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return nil
    }
}

/// Storage for a member whose structure contains itself (a value type cannot hold itself directly).
public final class Indirect<Value: Sendable & Equatable>: Sendable, Equatable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
    public static func == (lhs: Indirect, rhs: Indirect) -> Bool { lhs.value == rhs.value }
}

/// The compiled regular expressions of model patterns, each compiled once. A pattern ICU cannot compile (a few
/// models carry Java-only syntax) is not checked rather than refusing every value.
final class ModelPatterns: @unchecked Sendable {
    static let shared = ModelPatterns()
    private let lock = NSLock()
    private var compiled: [String: NSRegularExpression?] = [:]

    func expression(for pattern: String) -> NSRegularExpression? {
        lock.lock()
        defer { lock.unlock() }
        if let known = compiled[pattern] { return known }
        let expression = try? NSRegularExpression(pattern: "^(?:\(pattern))$")
        compiled[pattern] = expression
        return expression
    }
}
