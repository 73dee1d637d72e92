import Foundation
import JSONCore

/// An event of an execution's history, shaped as GetExecutionHistory returns it.
public struct HistoryEvent: Sendable, Equatable {
    public var id: Int
    public var previousEventId: Int
    public var timestamp: Date
    /// `ExecutionStarted`, `PassStateEntered`, `TaskSucceeded`, ...
    public var type: String
    /// The member naming the details (`stateEnteredEventDetails`, ...), when the event has any.
    public var detailsKey: String?
    public var details: JSON?

    public init(id: Int, previousEventId: Int, timestamp: Date, type: String, detailsKey: String? = nil, details: JSON? = nil) {
        self.id = id
        self.previousEventId = previousEventId
        self.timestamp = timestamp
        self.type = type
        self.detailsKey = detailsKey
        self.details = details
    }

    /// The event as botocore's HistoryEvent shape (timestamps in epoch seconds).
    public var json: JSON {
        var o: JSONObject = [
            "timestamp": .number((timestamp.timeIntervalSince1970 * 1000).rounded() / 1000),
            "type": .string(type), "id": .number(Double(id)), "previousEventId": .number(Double(previousEventId)),
        ]
        if let detailsKey, let details { o[detailsKey] = details }
        return .object(o)
    }
}
