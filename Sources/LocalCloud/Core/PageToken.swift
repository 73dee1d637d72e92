import AWSProtocol
import Foundation

/// The `nextToken` of the local cloud's list operations: the sort key of the last item of the page, so that
/// items created or deleted between two calls neither repeat nor skip others. Marked, so that a token Skiff did
/// not issue is refused rather than read as a key; each service answers its own error for that.
public enum PageToken {
    static let mark = "skiff-page:"

    public static func encode(_ lastKey: String) -> String {
        Data((mark + lastKey).utf8).base64EncodedString()
    }

    /// The key after which the page starts; nil for the first page. Throws `invalid` for a token Skiff did not
    /// issue.
    public static func decode(_ token: String?, invalid: @autoclosure () -> AWSError) throws(AWSError) -> String? {
        guard let token else { return nil }
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8), text.hasPrefix(mark) else {
            throw invalid()
        }
        return String(text.dropFirst(mark.count))
    }
}
