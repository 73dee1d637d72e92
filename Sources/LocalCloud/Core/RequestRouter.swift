import AWSProtocol

/// Finds the service and operation of a request the way AWS's front ends do: `X-Amz-Target` for awsJson
/// services, `Action` for query services, method and path for rest-json services, and the SigV4 credential
/// scope's service name wherever more than one service could answer.
public struct RequestRouter: Sendable {
    public struct Route: Sendable {
        public var service: any LocalService
        public var operation: String
        public var pathParameters: [String: String]
    }

    /// A request for an AWS service the local cloud does not serve: the service's name and, where the request
    /// names it (awsJson's target, query's action), the operation.
    public struct Unserved: Sendable, Equatable {
        public var service: String
        public var operation: String?

        /// The answer: one sentence naming both, in the error shape of the request's protocol.
        public func error(method: String, path: String) -> AWSError {
            let what = operation.map { "\(service) \($0)" } ?? "\(service) (\(method) \(path.prefix(200)))"
            return AWSError("UnknownOperationException", "Skiff does not serve \(what) yet.", status: 501)
        }
    }

    let services: [any LocalService]
    let byTargetPrefix: [String: any LocalService]
    let signingNames: Set<String>

    public init(services: [any LocalService]) {
        self.services = services
        var byTarget: [String: any LocalService] = [:]
        for service in services {
            if let prefix = service.descriptor.targetPrefix { byTarget[prefix] = service }
        }
        byTargetPrefix = byTarget
        signingNames = Set(services.map(\.descriptor.signingName))
    }

    /// The AWS service `request` is for, when it is one the local cloud does not serve: recognised by the service it
    /// was signed for, or by its `X-Amz-Target` prefix. Nil for requests a Skiff service may answer.
    public func unserved(_ request: OperationRequest, signingService: String?) -> Unserved? {
        let target = request.headers["x-amz-target"]
        let dot = target?.lastIndex(of: ".")
        // The operation, read only for a request found to be unserved: reading a query body costs a parse.
        func operation() -> String? {
            if let target, let dot { return String(target[target.index(after: dot)...]) }
            return Self.queryParameter("Action", of: request)
        }
        if let signingService, !signingNames.contains(signingService),
            let service = AWSServiceNames.service(signingName: signingService, version: Self.queryParameter("Version", of: request))
        {
            return Unserved(service: service.name, operation: operation())
        }
        if let target, let dot, byTargetPrefix[String(target[..<dot])] == nil,
            let service = AWSServiceNames.service(targetPrefix: String(target[..<dot]))
        {
            return Unserved(service: service.name, operation: operation())
        }
        return nil
    }

    /// The route of `request`. `signingService` is the service name of the SigV4 credential scope, if signed.
    /// A request for a service Skiff does not serve is answered by ``unserved(_:signingService:)``, not here.
    public func route(_ request: OperationRequest, signingService: String?) throws(AWSError) -> Route {
        if let target = request.headers["x-amz-target"] {
            guard let dot = target.lastIndex(of: ".") else {
                throw AWSError("UnknownOperationException", "X-Amz-Target '\(target)' does not name an operation.")
            }
            let prefix = String(target[..<dot])
            let operation = String(target[target.index(after: dot)...])
            guard let service = byTargetPrefix[prefix] else {
                throw AWSError("UnknownOperationException", "No AWS service answers X-Amz-Target prefix '\(prefix.prefix(200))'.")
            }
            // awsJson operations are all `POST /`; other methods and paths reach no operation.
            guard request.method == "POST", request.path == "/" || request.path.isEmpty else {
                throw AWSError(
                    "UnknownOperationException",
                    "\(service.descriptor.endpointPrefix) answers X-Amz-Target only on POST /, not \(request.method) \(request.path).",
                    status: 404)
            }
            return Route(service: service, operation: operation, pathParameters: [:])
        }

        let queryServices = services.filter { $0.descriptor.wireProtocol == .query }
        let signedQueryService = signingService.flatMap { name in queryServices.first { $0.descriptor.signingName == name } }
        if let action = Self.queryParameter("Action", of: request) {
            let service = signedQueryService ?? queryServices.first { $0.descriptor.operations.contains(action) }
            guard let service else {
                throw AWSError("InvalidAction", "The action \(action) is not valid for this web service.")
            }
            guard service.descriptor.operations.contains(action) else {
                throw AWSError("InvalidAction", "The action \(action) is not valid for this web service.")
            }
            if let version = Self.queryParameter("Version", of: request), version != service.descriptor.apiVersion {
                throw AWSError("InvalidAction", "Could not find operation \(action) for version \(version)")
            }
            return Route(service: service, operation: action, pathParameters: [:])
        }
        if signedQueryService != nil, request.method == "POST" || Self.queryParameter("Version", of: request) != nil {
            throw AWSError("MissingAction", "Missing Action")
        }

        var matches: [(service: any LocalService, route: RestRoute, labels: [String: String])] = []
        for service in services where service.descriptor.wireProtocol == .restJson {
            for route in service.descriptor.routes {
                if let labels = route.match(method: request.method, path: request.path, query: request.query) {
                    matches.append((service, route, labels))
                }
            }
        }
        // A path may be shared by services (`/tags/{arn}`): the one the request was signed for answers it.
        if let signingService, signingNames.contains(signingService) {
            matches = matches.filter { $0.service.descriptor.signingName == signingService }
        }
        guard let best = matches.max(by: { $0.route.specificity < $1.route.specificity }) else {
            throw AWSError(
                "UnknownOperationException",
                "No operation of Skiff's services answers \(request.method) \(request.path).", status: 404)
        }
        return Route(service: best.service, operation: best.route.operation, pathParameters: best.labels)
    }

    /// A parameter of a query-protocol request (`Action`, `Version`): in the query string, or in the form body of
    /// a POST.
    static func queryParameter(_ name: String, of request: OperationRequest) -> String? {
        if let value = request.query[name]?.first { return value }
        guard request.method == "POST",
            request.headers["content-type"]?.hasPrefix("application/x-www-form-urlencoded") == true
        else { return nil }
        let form = QueryForm.parse(String(decoding: request.body, as: UTF8.self))
        return form.first { $0.0 == name }?.1
    }
}
