import GRDB

/// One tag of a resource: a key and its value.
public struct ResourceTag: Sendable, Equatable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// Why a resource cannot have the tags a request gives it, by AWS's common tag rules (see ``TagRules``).
public enum TagViolation: Error, Sendable, Equatable {
    /// The resource would have `count` user tags, more than `maximum`.
    case tooMany(count: Int, maximum: Int)
    /// A key is empty or longer than 128 characters.
    case keyLength(key: String)
    /// A value is longer than 256 characters.
    case valueLength(key: String)
    /// A key begins with `aws:`, which AWS keeps for its own tags.
    case reservedKey(key: String)

    /// A message for a service that has no words of its own for the violation.
    public var message: String {
        switch self {
        case .tooMany(let count, let maximum): "A resource can have at most \(maximum) tags; this request would give it \(count)."
        case .keyLength(let key) where key.isEmpty: "Tag keys must not be empty."
        case .keyLength(let key): "Tag key \(key) is longer than 128 characters."
        case .valueLength(let key): "The value of tag \(key) is longer than 256 characters."
        case .reservedKey(let key): "Tag key \(key) begins with aws:, which is reserved for AWS use."
        }
    }
}

/// AWS's common tag rules ("Tagging AWS resources", tag naming limits and requirements): at most 50 user tags per
/// resource, keys of 1 to 128 characters, values of 0 to 256, the `aws:` key prefix reserved. A service gives the
/// error it answers for a violation: each service words them its own way.
public struct TagRules: Sendable {
    public var maximumTags: Int
    public var refusal: @Sendable (TagViolation) -> any Error

    public init(maximumTags: Int = 50, refusal: @escaping @Sendable (TagViolation) -> any Error) {
        self.maximumTags = maximumTags
        self.refusal = refusal
    }

    public static let maximumKeyLength = 128
    public static let maximumValueLength = 256

    /// The first rule the tags of a request break on their own (not counting the tags the resource has), or nil.
    public func violation(_ tags: [ResourceTag]) -> TagViolation? {
        for tag in tags {
            if tag.key.isEmpty || tag.key.count > Self.maximumKeyLength { return .keyLength(key: tag.key) }
            if tag.key.lowercased().hasPrefix("aws:") { return .reservedKey(key: tag.key) }
            if tag.value.count > Self.maximumValueLength { return .valueLength(key: tag.key) }
        }
        let count = Set(tags.map(\.key)).count
        if count > maximumTags { return .tooMany(count: count, maximum: maximumTags) }
        return nil
    }

    /// Throws the service's error for the first rule `tags` break on their own.
    public func check(_ tags: [ResourceTag]) throws {
        if let violation = violation(tags) { throw refusal(violation) }
    }
}

/// The tags of every resource of every service, by the resource's ARN, in one table (`resource_tags`). Each service
/// keeps its wire shape and its errors, and calls these inside its own transactions, so a resource and its tags
/// are written together; a service removes a resource's tags when it deletes the resource.
public enum ResourceTags {
    /// The migration that makes the table; each service's own migration then moves its older tags into it.
    public static let migration = "skiff-v2-resource-tags"

    static func registerMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration(migration) { db in
            try db.execute(
                sql: """
                    CREATE TABLE resource_tags (
                        arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                        PRIMARY KEY (arn, key)) WITHOUT ROWID
                    """)
        }
    }

    /// The tags of `arn`, by key.
    public static func tags(_ db: Database, arn: String) throws -> [ResourceTag] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT key, value FROM resource_tags WHERE arn = ? ORDER BY key"), arguments: [arn])
            .map { ResourceTag(key: $0[0], value: $0[1]) }
    }

    /// Adds `tags` to those of `arn`, a key it has taking the new value; refuses (with `rules`' error, writing
    /// nothing) tags that break the rules, or that would leave the resource more tags than the rules allow.
    public static func add(_ db: Database, arn: String, _ tags: [ResourceTag], rules: TagRules) throws {
        try rules.check(tags)
        guard !tags.isEmpty else { return }
        let keys = Set(tags.map(\.key))
        let kept = try tagsCount(db, arn: arn, excluding: keys)
        if kept + keys.count > rules.maximumTags {
            throw rules.refusal(.tooMany(count: kept + keys.count, maximum: rules.maximumTags))
        }
        for tag in tags {
            try db.executeCached(
                "INSERT OR REPLACE INTO resource_tags (arn, key, value) VALUES (?, ?, ?)", arguments: [arn, tag.key, tag.value])
        }
    }

    /// Gives `arn` exactly `tags` (a resource made anew under an ARN another one had).
    public static func replace(_ db: Database, arn: String, with tags: [ResourceTag], rules: TagRules) throws {
        try rules.check(tags)
        try removeAll(db, arn: arn)
        try add(db, arn: arn, tags, rules: rules)
    }

    /// Removes the tags of `arn` with these keys; keys it does not have are ignored.
    public static func remove(_ db: Database, arn: String, keys: [String]) throws {
        for key in keys {
            try db.executeCached("DELETE FROM resource_tags WHERE arn = ? AND key = ?", arguments: [arn, key])
        }
    }

    /// Removes every tag of `arn`: the resource is deleted.
    public static func removeAll(_ db: Database, arn: String) throws {
        try db.executeCached("DELETE FROM resource_tags WHERE arn = ?", arguments: [arn])
    }

    private static func tagsCount(_ db: Database, arn: String, excluding keys: Set<String>) throws -> Int {
        let all = try String.fetchAll(db.cachedStatement(sql: "SELECT key FROM resource_tags WHERE arn = ?"), arguments: [arn])
        return all.filter { !keys.contains($0) }.count
    }
}
