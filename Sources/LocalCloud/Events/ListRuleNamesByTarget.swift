import AWSProtocol
import Foundation
import JSONCore

/// ListRuleNamesByTarget's input and output, written from the EventBridge model (2015-10-07) with the same
/// constraints the generated shapes check: scripts/models.json does not list the operation yet, so
/// Generated/EventsAPI.swift has no shapes for it. Once it does, these give way to the generated ones.
struct ListRuleNamesByTargetRequest: ShapeDecodable, Equatable {
    var targetArn: String
    var eventBusName: String?
    var nextToken: String?
    var limit: Int?

    static var empty: ListRuleNamesByTargetRequest { ListRuleNamesByTargetRequest(targetArn: "") }

    init(targetArn: String, eventBusName: String? = nil, nextToken: String? = nil, limit: Int? = nil) {
        (self.targetArn, self.eventBusName, self.nextToken, self.limit) = (targetArn, eventBusName, nextToken, limit)
    }

    init(json: JSON, decoder d: inout ShapeDecoder, path: String) throws(AWSError) {
        let o = try d.object(json, path: path)
        let targetArn = try d.string(o["TargetArn"], path: ShapeDecoder.join(path, "targetArn"))
        d.length(targetArn as String?, min: 1, max: 1600, path: ShapeDecoder.join(path, "targetArn"))
        self.targetArn = d.required(targetArn, path: ShapeDecoder.join(path, "targetArn"), empty: "")
        eventBusName = try d.string(o["EventBusName"], path: ShapeDecoder.join(path, "eventBusName"))
        d.length(eventBusName as String?, min: 1, max: 1600, path: ShapeDecoder.join(path, "eventBusName"))
        nextToken = try d.string(o["NextToken"], path: ShapeDecoder.join(path, "nextToken"))
        d.length(nextToken as String?, min: 1, max: 2048, path: ShapeDecoder.join(path, "nextToken"))
        limit = try d.integer(o["Limit"], path: ShapeDecoder.join(path, "limit"))
        d.range(limit, min: 1, max: 100, path: ShapeDecoder.join(path, "limit"))
    }
}

struct ListRuleNamesByTargetResponse: JSONShapeEncodable, XMLShapeEncodable, Equatable {
    var ruleNames: [String]
    var nextToken: String?

    func json() -> JSON {
        var o: JSONObject = ["RuleNames": .array(ruleNames.map { .string($0) })]
        if let nextToken { o["NextToken"] = .string(nextToken) }
        return .object(o)
    }

    func xml(into w: inout XMLWriter) {
        w.element("RuleNames") { w in for name in ruleNames { w.element("member", name) } }
        if let nextToken { w.element("NextToken", nextToken) }
    }
}

/// The NextToken of EventBridge's List operations: the last key of the page, marked so that a token Skiff did
/// not issue is refused rather than read as a key. The model: "Using an expired pagination token results in an
/// HTTP 400 InvalidToken error."
enum PageToken {
    static let mark = "skiff-page:"

    static func encode(_ lastKey: String) -> String {
        Data((mark + lastKey).utf8).base64EncodedString()
    }

    /// The key after which the page starts; nil for the first page.
    static func decode(_ token: String?) throws(AWSError) -> String? {
        guard let token else { return nil }
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8), text.hasPrefix(mark) else {
            throw AWSError("InvalidToken", "The NextToken is not valid.")
        }
        return String(text.dropFirst(mark.count))
    }
}
