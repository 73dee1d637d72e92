import GRDB
import Testing

@testable import LocalCloud

/// The core's tag store: tags by ARN, and AWS's common tag rules answered with each service's own error.
@Suite struct ResourceTagsTests {
    struct Refused: Error, Equatable {
        let violation: TagViolation
    }

    static let rules = TagRules { Refused(violation: $0) }
    static let arn = "arn:aws:ecs:us-east-1:000000000000:cluster/c"

    func database() throws -> CloudDatabase {
        let database = try CloudDatabase(stateDirectory: nil)
        try database.migrate([])
        return database
    }

    func tags(_ database: CloudDatabase, _ arn: String = Self.arn) throws -> [ResourceTag] {
        try database.writer.read { db in try ResourceTags.tags(db, arn: arn) }
    }

    func refusal(_ database: CloudDatabase, _ tags: [ResourceTag]) -> TagViolation? {
        do {
            try database.writer.write { db in try ResourceTags.add(db, arn: Self.arn, tags, rules: Self.rules) }
            return nil
        } catch let refused as Refused {
            return refused.violation
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test func addsOverwritesRemovesAndListsByKey() throws {
        let database = try database()
        try database.writer.write { db in
            try ResourceTags.add(
                db, arn: Self.arn, [.init(key: "team", value: "ops"), .init(key: "env", value: "prod")], rules: Self.rules)
            try ResourceTags.add(db, arn: Self.arn, [.init(key: "env", value: "stg")], rules: Self.rules)
            try ResourceTags.add(
                db, arn: "arn:aws:ecs:us-east-1:000000000000:cluster/other", [.init(key: "x", value: "")], rules: Self.rules)
        }
        #expect(try tags(database) == [.init(key: "env", value: "stg"), .init(key: "team", value: "ops")])
        try database.writer.write { db in try ResourceTags.remove(db, arn: Self.arn, keys: ["team", "absent"]) }
        #expect(try tags(database) == [.init(key: "env", value: "stg")])
        try database.writer.write { db in
            try ResourceTags.replace(db, arn: Self.arn, with: [.init(key: "new", value: "1")], rules: Self.rules)
        }
        #expect(try tags(database) == [.init(key: "new", value: "1")])
        try database.writer.write { db in try ResourceTags.removeAll(db, arn: Self.arn) }
        #expect(try tags(database) == [])
        // Another resource's tags are its own.
        #expect(try tags(database, "arn:aws:ecs:us-east-1:000000000000:cluster/other") == [.init(key: "x", value: "")])
    }

    @Test func atMostFiftyTagsCountingThoseTheResourceHas() throws {
        let database = try database()
        let fifty = (0..<50).map { ResourceTag(key: "k\($0)", value: "v") }
        #expect(refusal(database, Array(fifty.prefix(30))) == nil)
        #expect(refusal(database, Array(fifty.suffix(20))) == nil)
        #expect(refusal(database, [.init(key: "one-more", value: "v")]) == .tooMany(count: 51, maximum: 50))
        // A key the resource has takes the new value without adding a tag.
        #expect(refusal(database, [.init(key: "k1", value: "w")]) == nil)
        #expect(try tags(database).count == 50)
        #expect(refusal(try self.database(), fifty + [.init(key: "k50", value: "v")]) == .tooMany(count: 51, maximum: 50))
        // A request naming one key twice gives the resource one tag.
        #expect(refusal(try self.database(), fifty + [.init(key: "k0", value: "again")]) == nil)
    }

    @Test func keysValuesAndTheReservedPrefix() throws {
        let database = try database()
        let long = String(repeating: "k", count: 129)
        #expect(refusal(database, [.init(key: "", value: "v")]) == .keyLength(key: ""))
        #expect(refusal(database, [.init(key: long, value: "v")]) == .keyLength(key: long))
        #expect(refusal(database, [.init(key: "k", value: String(repeating: "v", count: 257))]) == .valueLength(key: "k"))
        #expect(
            refusal(database, [.init(key: "aws:cloudformation:stack-name", value: "v")])
                == .reservedKey(key: "aws:cloudformation:stack-name"))
        #expect(refusal(database, [.init(key: "AWS:x", value: "v")]) == .reservedKey(key: "AWS:x"))
        // A refused request writes none of its tags.
        #expect(refusal(database, [.init(key: "good", value: "v"), .init(key: "", value: "v")]) == .keyLength(key: ""))
        #expect(try tags(database) == [])
        let limits = [
            ResourceTag(key: String(repeating: "k", count: 128), value: String(repeating: "v", count: 256)), .init(key: "empty", value: ""),
            .init(key: "awsome", value: "v"),
        ]
        #expect(refusal(database, limits) == nil)
        #expect(try tags(database).count == 3)
        #expect(TagViolation.keyLength(key: "").message == "Tag keys must not be empty.")
    }

    @Test func aServiceMayAllowMoreTags() throws {
        let rules = TagRules(maximumTags: 2) { Refused(violation: $0) }
        #expect(
            rules.violation([.init(key: "a", value: ""), .init(key: "b", value: ""), .init(key: "c", value: "")])
                == .tooMany(count: 3, maximum: 2))
        #expect(throws: Refused(violation: .tooMany(count: 3, maximum: 2))) {
            try rules.check([.init(key: "a", value: ""), .init(key: "b", value: ""), .init(key: "c", value: "")])
        }
    }
}
