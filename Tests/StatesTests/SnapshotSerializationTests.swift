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

    @Test func readsWhatJSONEncoderWroteAndTheOtherWayRound() throws {
        let encoded = String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self)
        #expect(try ExecutionSnapshot(serialized: encoded) == snapshot)
        #expect(try JSONDecoder().decode(ExecutionSnapshot.self, from: Data(snapshot.serialized().utf8)) == snapshot)
        let progress = BranchProgress.at(nextState: "S", input: [1, 2], variables: [:])
        #expect(try BranchProgress(serialized: String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)) == progress)
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
    }
}
