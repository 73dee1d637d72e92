import AWSProtocol
import Foundation

/// The pages of every list operation of the local cloud: items in the order of a sort key, and a `nextToken`
/// that names the key of the last item listed, so that items created or deleted between two calls neither
/// repeat nor skip others (an offset would). The token is marked, so that one Skiff did not issue is refused
/// rather than read as a key; each service answers its own error for that (``invalidToken``).
public struct Paginator: Sendable {
    /// What the service answers for a token it did not issue (Step Functions' `InvalidToken`, ECS's
    /// `InvalidParameterException`, ...).
    public var invalidToken: AWSError
    /// The page size when the request gives none (or, as AWS reads it, zero or less).
    public var defaultPageSize: Int

    public init(invalidToken: AWSError, defaultPageSize: Int = 100) {
        self.invalidToken = invalidToken
        self.defaultPageSize = defaultPageSize
    }

    /// The page size a request asks for.
    public func size(_ maxResults: Int?) -> Int {
        guard let maxResults, maxResults > 0 else { return defaultPageSize }
        return maxResults
    }

    /// The key after which the requested page starts; nil for the first page.
    public func start(_ token: String?) throws(AWSError) -> PageKey? {
        guard let token else { return nil }
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
            text.hasPrefix(PageKey.mark)
        else {
            throw invalidToken
        }
        return PageKey(
            parts: text.dropFirst(PageKey.mark.count).split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init))
    }

    /// One page of `items`, in the order of `key` (unique per item), smallest first or, with `descending`,
    /// largest first.
    public func page<Item>(
        _ items: [Item], maxResults: Int?, nextToken: String?, descending: Bool = false, key: (Item) -> PageKey
    ) throws(AWSError) -> Page<Item> {
        let after = try start(nextToken)
        var keyed = items.map { (key: key($0), item: $0) }
        keyed.sort { descending ? $0.key > $1.key : $0.key < $1.key }
        let remaining = after.map { after in keyed.drop { descending ? $0.key >= after : $0.key <= after } } ?? keyed[...]
        let size = size(maxResults)
        let listed = remaining.prefix(size)
        return Page(items: listed.map(\.item), nextToken: remaining.count > size ? listed.last?.key.token : nil)
    }

    /// The page of items a store fetched in key order after ``start(_:)``'s key: up to `size + 1` of them,
    /// the one past the page telling that another page follows.
    public func page<Item>(fetched: [Item], size: Int, key: (Item) -> PageKey) -> Page<Item> {
        guard fetched.count > size else { return Page(items: fetched, nextToken: nil) }
        let items = Array(fetched.prefix(size))
        return Page(items: items, nextToken: items.last.map { key($0).token })
    }
}

/// One page of a listing: its items, and the token of the next page when there is one.
public struct Page<Item> {
    public var items: [Item]
    public var nextToken: String?

    public init(items: [Item], nextToken: String?) {
        self.items = items
        self.nextToken = nextToken
    }

    public func map<T>(_ transform: (Item) throws -> T) rethrows -> Page<T> {
        Page<T>(items: try items.map(transform), nextToken: nextToken)
    }
}

/// Where an item stands in a listing: its parts compared in turn (a creation time, then a name, ...).
/// Numbers are written so that they sort as numbers do (``number(_:)``).
public struct PageKey: Comparable, Hashable, Sendable {
    static let mark = "skiff-page:"

    public var parts: [String]

    public init(_ parts: String...) {
        self.parts = parts
    }

    public init(parts: [String]) {
        self.parts = parts
    }

    /// The `nextToken` that starts the page after this key.
    public var token: String {
        Data((Self.mark + parts.joined(separator: "\u{0}")).utf8).base64EncodedString()
    }

    /// A non-negative number, zero-padded so that keys sort as numbers do.
    public static func number(_ value: Int) -> String {
        let digits = String(max(0, value))
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// A time in whole microseconds since 1970, as ``number(_:)``.
    public static func time(_ date: Date) -> String {
        number(Int((date.timeIntervalSince1970 * 1_000_000).rounded()))
    }

    /// The number part `index` holds, or nil when the part is no number of ``number(_:)`` (a token made up).
    public func number(at index: Int) -> Int? {
        guard parts.indices.contains(index), parts[index].count == 20, let value = Int(parts[index]) else { return nil }
        return value
    }

    public static func < (lhs: PageKey, rhs: PageKey) -> Bool {
        lhs.parts.lexicographicallyPrecedes(rhs.parts)
    }
}
