import JSONCore

/// An error as AWS reports it: a code (`ValidationException`, `ExecutionDoesNotExist`, ...), a message, an HTTP
/// status, and whether the caller (Sender) or the service (Receiver) is at fault.
///
/// Every failure a request can meet ends as one of these, written in the shape of the service's wire protocol
/// by ``ErrorWriter``, so that SDKs raise the same exceptions they raise against AWS.
public struct AWSError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var status: Int
    public var isSenderFault: Bool
    /// Additional members some errors carry in their body (for example `resourceName`).
    public var fields: JSONObject

    public init(_ code: String, _ message: String, status: Int = 400, senderFault: Bool? = nil, fields: JSONObject = [:]) {
        self.code = code
        self.message = message
        self.status = status
        self.isSenderFault = senderFault ?? (status < 500)
        self.fields = fields
    }

    public var description: String { "\(code): \(message)" }
}

// MARK: - Errors every service shares

extension AWSError {
    /// One or more input members break their model's constraints.
    public static func validation(_ message: String) -> AWSError {
        AWSError("ValidationException", message)
    }

    /// The body is not well-formed for the protocol, or a member has the wrong type.
    public static func serialization(_ message: String) -> AWSError {
        AWSError("SerializationException", message)
    }

    /// The service has no operation of that name (awsJson protocols).
    public static func unknownOperation(_ name: String, service: String) -> AWSError {
        AWSError("UnknownOperationException", "Operation \(name) is not known to service \(service).")
    }

    /// The operation exists in AWS but this local cloud does not implement it.
    public static func notImplemented(_ name: String, service: String) -> AWSError {
        AWSError(
            "UnknownOperationException",
            "Skiff does not implement operation \(name) of service \(service) yet.", status: 501)
    }

    /// Something went wrong inside Skiff.
    public static func internalFailure(
        _ message: String = "The request processing has failed because of an unknown error, exception or failure."
    ) -> AWSError {
        AWSError("InternalFailure", message, status: 500)
    }

    /// The request carries no SigV4 signature, in the JSON protocols' words (``ErrorWriter`` gives the query
    /// protocol's: `MissingAuthenticationToken`, "Request is missing Authentication Token").
    public static func missingAuthenticationToken() -> AWSError {
        AWSError("MissingAuthenticationTokenException", "Missing Authentication Token", status: 403)
    }

    /// The request body is larger than the service accepts.
    public static func requestTooLarge(limit: Int) -> AWSError {
        AWSError("RequestEntityTooLargeException", "Request body exceeds the maximum of \(limit) bytes.", status: 413)
    }
}
