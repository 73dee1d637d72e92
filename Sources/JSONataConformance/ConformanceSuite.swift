import Foundation
import JSONCore
import JSONata

/// The official JSONata test suite (jsonata-js `test/test-suite`), run against Skiff's JSONata.
public struct ConformanceSuite: Sendable {
    public struct Case: Sendable {
        public var group: String
        public var name: String
        public var expression: String
        public var input: JSON?
        public var bindings: [String: JSON]
        public var expected: Expected
        public var unordered: Bool
        public var timeLimitMilliseconds: Int?
        public var depth: Int?
        public var id: String { "\(group)/\(name)" }
    }

    public enum Expected: Sendable {
        case result(JSON)
        case undefined
        case error(code: String)
    }

    public struct Outcome: Sendable {
        public var testCase: Case
        public var failure: String?
        public var passed: Bool { failure == nil }
    }

    public let root: URL
    public init(root: URL) { self.root = root }

    /// `<package>/../shared/conformance/jsonata`, where CI and developers keep the suite.
    public static func defaultRoot(packageRoot: URL) -> URL {
        packageRoot.deletingLastPathComponent().appendingPathComponent("shared/conformance/jsonata")
    }

    public var isAvailable: Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent("groups").path) }

    public func cases() throws -> [Case] {
        let fm = FileManager.default
        let groupsURL = root.appendingPathComponent("groups")
        var datasets: [String: JSON] = [:]
        for file in try fm.contentsOfDirectory(atPath: root.appendingPathComponent("datasets").path) where file.hasSuffix(".json") {
            let data = try Data(contentsOf: root.appendingPathComponent("datasets").appendingPathComponent(file))
            datasets[String(file.dropLast(5))] = try JSON(parsing: data)
        }
        var result: [Case] = []
        for group in try fm.contentsOfDirectory(atPath: groupsURL.path).sorted() {
            let groupURL = groupsURL.appendingPathComponent(group)
            for file in try fm.contentsOfDirectory(atPath: groupURL.path).sorted() where file.hasSuffix(".json") {
                let json = try JSON(parsing: try Data(contentsOf: groupURL.appendingPathComponent(file)))
                let entries: [JSON] = json.arrayValue ?? [json]
                for (i, entry) in entries.enumerated() {
                    let name = entries.count > 1 ? "\(file.dropLast(5))[\(i)]" : String(file.dropLast(5))
                    var expression = entry["expr"]?.stringValue ?? ""
                    if let exprFile = entry["expr-file"]?.stringValue {
                        expression = try String(contentsOf: groupURL.appendingPathComponent(exprFile), encoding: .utf8)
                    }
                    var input: JSON? = nil
                    if let data = entry["data"] {
                        input = data
                    } else if let dataset = entry["dataset"]?.stringValue {
                        input = datasets[dataset]
                    }
                    var bindings: [String: JSON] = [:]
                    for (k, v) in entry["bindings"]?.objectValue ?? [:] { bindings[k] = v }
                    let expected: Expected
                    if let code = entry["code"]?.stringValue {
                        expected = .error(code: code)
                    } else if let code = entry["error"]?["code"]?.stringValue {
                        expected = .error(code: code)
                    } else if entry["undefinedResult"] == .bool(true) {
                        expected = .undefined
                    } else if let r = entry["result"] {
                        expected = .result(r)
                    } else {
                        expected = .undefined
                    }
                    result.append(
                        Case(
                            group: group, name: name, expression: expression, input: input, bindings: bindings,
                            expected: expected, unordered: entry["unordered"] == .bool(true),
                            timeLimitMilliseconds: entry["timelimit"]?.intValue, depth: entry["depth"]?.intValue))
                }
            }
        }
        return result
    }

    public static func run(_ c: Case) -> Outcome {
        var limits = JSONataLimits()
        if let t = c.timeLimitMilliseconds { limits.timeout = .milliseconds(t) }
        if let d = c.depth { limits.maxDepth = d }
        let environment = JSONataEnvironment(variables: c.bindings, limits: limits)
        do {
            let expression = try JSONataExpression(c.expression)
            let value = try expression.evaluate(c.input, environment: environment)
            switch c.expected {
            case .result(let expected):
                guard let value else { return Outcome(testCase: c, failure: "expected \(expected), got undefined") }
                if matches(value, expected, unordered: c.unordered) { return Outcome(testCase: c) }
                return Outcome(testCase: c, failure: "expected \(expected), got \(value)")
            case .undefined:
                return value == nil ? Outcome(testCase: c) : Outcome(testCase: c, failure: "expected undefined, got \(value!)")
            case .error(let code):
                return Outcome(testCase: c, failure: "expected error \(code), got \(value.map { "\($0)" } ?? "undefined")")
            }
        } catch let error as JSONataError {
            if case .error(let code) = c.expected {
                if error.code == code || (code == "U1001" && ["D1011", "D1012"].contains(error.code)) { return Outcome(testCase: c) }
                return Outcome(testCase: c, failure: "expected error \(code), got \(error.code): \(error.message)")
            }
            return Outcome(testCase: c, failure: "error \(error.code): \(error.message)")
        } catch {
            return Outcome(testCase: c, failure: "error \(error)")
        }
    }

    static func matches(_ value: JSON, _ expected: JSON, unordered: Bool) -> Bool {
        if !unordered { return value == expected }
        guard case .array(var remaining) = expected, case .array(let got) = value, got.count == remaining.count else {
            return value == expected
        }
        for item in got {
            guard let i = remaining.firstIndex(of: item) else { return false }
            remaining.remove(at: i)
        }
        return true
    }
}
