import AWSProtocol
import Foundation

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
