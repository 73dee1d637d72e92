/// Collects the constraint violations of one request and words them as AWS's JSON services do:
/// `2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; ...`.
public struct ValidationReport: Sendable {
    public private(set) var violations: [String] = []

    public init() {}

    public var isEmpty: Bool { violations.isEmpty }

    /// Records that `value` (as AWS prints it: `null`, `'text'`, `5`) at `path` breaks `constraint`.
    public mutating func add(value: String, at path: String, constraint: String) {
        violations.append("Value \(value) at '\(path)' failed to satisfy constraint: \(constraint)")
    }

    /// The ValidationException for the violations so far, or nil when there are none.
    public var error: AWSError? {
        guard !violations.isEmpty else { return nil }
        let count = violations.count
        let noun = count == 1 ? "error" : "errors"
        return .validation("\(count) validation \(noun) detected: " + violations.joined(separator: "; "))
    }
}
