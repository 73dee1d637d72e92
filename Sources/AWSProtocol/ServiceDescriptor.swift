import Foundation

/// What the router needs to know of a service, generated from its botocore model.
public struct ServiceDescriptor: Sendable {
    /// The model's `endpointPrefix` (`states`, `ecs`, `logs`, ...), used in the health report.
    public var endpointPrefix: String
    /// The SigV4 signing name, which the credential scope carries.
    public var signingName: String
    /// `X-Amz-Target` prefix of awsJson services (`AWSStepFunctions`).
    public var targetPrefix: String?
    public var wireProtocol: WireProtocol
    public var apiVersion: String
    /// Namespace of query-protocol XML responses.
    public var xmlNamespace: String?
    /// Every operation of the model, implemented or not, so unimplemented ones get a clear error.
    public var operations: Set<String>
    /// Method and path templates of rest-json operations.
    public var routes: [RestRoute]

    public init(
        endpointPrefix: String, signingName: String, targetPrefix: String?, wireProtocol: WireProtocol,
        apiVersion: String, xmlNamespace: String?, operations: Set<String>, routes: [RestRoute]
    ) {
        self.endpointPrefix = endpointPrefix
        self.signingName = signingName
        self.targetPrefix = targetPrefix
        self.wireProtocol = wireProtocol
        self.apiVersion = apiVersion
        self.xmlNamespace = xmlNamespace
        self.operations = operations
        self.routes = routes
    }
}

/// A rest-json operation's HTTP binding: `GET /schedules/{Name}`.
public struct RestRoute: Sendable {
    public var method: String
    public var operation: String
    /// Path segments; a segment `{Name}` (or greedy `{Name+}`) binds a label.
    public var segments: [Segment]
    /// Query names the route's URI fixes (`?tags` in `/resource?tags`).
    public var requiredQuery: [String]

    public enum Segment: Sendable, Equatable {
        case literal(String)
        case label(String)
        case greedyLabel(String)
    }

    public init(method: String, uri: String, operation: String) {
        self.method = method
        self.operation = operation
        let parts = uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? "/"
        requiredQuery = parts.count > 1 ? parts[1].split(separator: "&").map { String($0.split(separator: "=")[0]) } : []
        segments = path.split(separator: "/").map { segment in
            if segment.hasPrefix("{") && segment.hasSuffix("+}") { return .greedyLabel(String(segment.dropFirst().dropLast(2))) }
            if segment.hasPrefix("{") && segment.hasSuffix("}") { return .label(String(segment.dropFirst().dropLast())) }
            return .literal(String(segment))
        }
    }

    /// The labels' values when `method` and `path` match this route, else nil.
    public func match(method: String, path: String, query: [String: [String]]) -> [String: String]? {
        guard method == self.method, requiredQuery.allSatisfy({ query[$0] != nil }) else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var labels: [String: String] = [:]
        var i = 0
        for (n, segment) in segments.enumerated() {
            switch segment {
            case .literal(let text):
                guard i < parts.count, parts[i] == text else { return nil }
                i += 1
            case .label(let name):
                guard i < parts.count else { return nil }
                labels[name] = String(parts[i]).removingPercentEncoding ?? String(parts[i])
                i += 1
            case .greedyLabel(let name):
                guard n == segments.count - 1, i < parts.count else { return nil }
                labels[name] = parts[i...].joined(separator: "/").removingPercentEncoding ?? parts[i...].joined(separator: "/")
                i = parts.count
            }
        }
        return i == parts.count ? labels : nil
    }

    /// More literal segments make a more specific route, tried first.
    public var specificity: Int {
        var score = 0
        for segment in segments {
            if case .literal = segment { score += 2 } else { score += 1 }
        }
        return score * 4 + requiredQuery.count
    }
}
