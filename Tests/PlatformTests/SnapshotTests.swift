import Foundation
import Testing
import JSONCore
import Platform
import PlatformExample

/// The example platform's files compared exactly with Tests/PlatformTests/Snapshots.
/// To re-record after an intended change: `SKIFF_RECORD_SNAPSHOTS=1 swift test --filter PlatformTests.SnapshotTests`,
/// then review the diff with `git diff Tests/PlatformTests/Snapshots`.
@Suite struct SnapshotTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")

    @Test func exampleMatchesSnapshots() throws {
        let files = try ExamplePlatform.app.synthesize().files(includeYAML: true)
        let record = ProcessInfo.processInfo.environment["SKIFF_RECORD_SNAPSHOTS"] == "1"
        #expect(files.count == 7)
        for file in files {
            let url = Self.folder.appendingPathComponent(file.name)
            if record {
                try FileManager.default.createDirectory(at: Self.folder, withIntermediateDirectories: true)
                try Data(file.contents.utf8).write(to: url)
                continue
            }
            let expected = try String(contentsOf: url, encoding: .utf8)
            #expect(
                file.contents == expected, "\(file.name) differs from its snapshot; re-record with SKIFF_RECORD_SNAPSHOTS=1 if intended")
        }
        // No stale snapshot files.
        let names = Set(files.map(\.name))
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path)
        #expect(Set(onDisk) == names)
    }
}
