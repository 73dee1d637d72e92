import Foundation
import JSONCore
import Testing

@testable import States

@Suite struct SnapshotSerializationTests {
    let snapshot = ExecutionSnapshot(
        nextState: "Next", input: ["z": 1, "a": ["nested": [true, .null, "x"]]], variables: ["v": 2.5, "w": "s"], lastEventId: 7,
        branches: ["Map/0": .done(output: ["ok": true]), "Map/1": .at(nextState: "Inner", input: ["i": 1], variables: ["k": "v"])],
        timers: ["Wait": Date(timeIntervalSince1970: 1_800_000_000.25)], tasks: ["Task#1": "token-1", "Task#2": ""])

    @Test func roundTripsThroughJSONCore() throws {
        #expect(try ExecutionSnapshot(serialized: snapshot.serialized()) == snapshot)
        for progress in snapshot.branches.values {
            #expect(try BranchProgress(serialized: progress.serialized()) == progress)
        }
    }

    /// Snapshots of the earlier form (the data inside the document, as the Codable forms write it) are read.
    @Test func readsWhatJSONEncoderWrote() throws {
        let encoded = String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self)
        #expect(try ExecutionSnapshot(serialized: encoded) == snapshot)
        let progress = BranchProgress.at(nextState: "S", input: [1, 2], variables: [:])
        #expect(try BranchProgress(serialized: String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)) == progress)
        #expect(try BranchProgress(serialized: #"{"done":{"output":{"a":[1]}}}"#) == .done(output: ["a": [1]]))
    }

    /// An execution holds data as deep as the parser reads (its input, any output, any variable): whatever its
    /// snapshot holds, the snapshot reads back. The data is written as text, each value parsed on its own.
    @Test func roundTripsDataAsDeepAsTheParserReads() throws {
        var deep: JSON = 0
        for _ in 0..<JSON.maximumParseDepth { deep = [deep] }
        let deepSnapshot = ExecutionSnapshot(
            nextState: "Next", input: deep, variables: ["v": deep], lastEventId: 3,
            branches: ["g3/M[0]": .done(output: deep), "g3/M[1]": .at(nextState: "I", input: deep, variables: ["w": deep])])
        #expect(try ExecutionSnapshot(serialized: deepSnapshot.serialized()) == deepSnapshot)
        for progress in deepSnapshot.branches.values {
            #expect(try BranchProgress(serialized: progress.serialized()) == progress)
        }
        // The document itself nests a few levels only.
        #expect(!JSONNesting.exceeds(try JSON(parsing: deepSnapshot.serialized()), 6))
    }

    @Test func keepsTheKeyOrderOfTheExecutionsData() throws {
        let text = snapshot.serialized()
        let input = try #require(try ExecutionSnapshot(serialized: text).input.objectValue)
        #expect(Array(input.keys) == ["z", "a"])
    }

    @Test func refusesWhatIsNotASnapshot() {
        #expect(throws: (any Error).self) { try ExecutionSnapshot(serialized: #"{"nextState": 1}"#) }
        #expect(throws: (any Error).self) { try BranchProgress(serialized: #"{"later": {}}"#) }
        #expect(throws: (any Error).self) { try ExecutionSnapshot(serialized: "not json") }
        // A known form with a part that does not read, an unknown form, an event id no history has.
        let written = snapshot.json
        var unreadable = written
        unreadable["input"] = "{\"unterminated\": "
        #expect(throws: SnapshotFormatError.self) { try ExecutionSnapshot(serialized: unreadable.serialized()) }
        var future = written
        future["format"] = 3
        #expect(throws: SnapshotFormatError.self) { try ExecutionSnapshot(serialized: future.serialized()) }
        var negative = written
        negative["lastEventId"] = -1
        #expect(throws: SnapshotFormatError.self) { try ExecutionSnapshot(serialized: negative.serialized()) }
        #expect(throws: SnapshotFormatError.self) { try BranchProgress(serialized: #"{"format":2,"done":{"output":{"a":1}}}"#) }
    }
}
