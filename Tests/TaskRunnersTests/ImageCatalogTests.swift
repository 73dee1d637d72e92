import Foundation
import Testing

@testable import TaskRunners

/// Image mappings that change while the server runs: `skiff image map` writes the state directory's images.json,
/// the server reads it again when it changed.
@Suite struct ImageCatalogTests {
    func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("skiff-images-\(UUID().uuidString).json").path
    }

    @Test func fileMappingsWinOverStartupOnesAndChangesAreSeenWithoutARestart() throws {
        let file = temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let catalog = ImageCatalog(startup: ImageMap(["php-app": "/startup", "worker": "/worker"]), file: file)
        #expect(catalog.directory(for: "php-app:1") == "/startup", "no file yet: the start-up mappings")

        try ImageMapFile.write(["php-app": "/mapped/v1"], to: file)
        #expect(catalog.directory(for: "php-app:1") == "/mapped/v1")
        #expect(catalog.directory(for: "worker") == "/worker", "names the file does not map keep their start-up directory")

        // A rewrite of the same length within one tick of the file system clock still counts (a new inode).
        try ImageMapFile.write(["php-app": "/mapped/v2"], to: file)
        #expect(catalog.directory(for: "php-app") == "/mapped/v2")

        try FileManager.default.removeItem(atPath: file)
        #expect(catalog.directory(for: "php-app") == "/startup", "a removed file removes its mappings")
    }

    @Test func fileIsWrittenWholeReadableByItsOwnerOnly() throws {
        let file = temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        try ImageMapFile.write(["b": "/dir with \"quotes\"", "a": "/a"], to: file)
        #expect(try ImageMapFile.read(file) == ["b": "/dir with \"quotes\"", "a": "/a"])
        let permissions = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (file as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix((file as NSString).lastPathComponent + ".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func unreadableFileIsReportedAndStartupMappingsStillServe() throws {
        let file = temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: file))
        let catalog = ImageCatalog(startup: ImageMap(["php-app": "/startup"]), file: file)
        #expect(catalog.directory(for: "php-app") == "/startup")
        #expect(catalog.directory(for: "other") == nil)
        #expect(catalog.fileProblem == "cannot use the image map \(file): it is not a JSON object of image name to directory")
        #expect(throws: ImageMapFileError.self) { try ImageMapFile.read(file) }

        try Data(#"{"php-app": "relative/dir"}"#.utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: ImageMapFileError.self) { try ImageMapFile.read(file) }
    }

    @Test func missingFileIsNoMappings() throws {
        #expect(try ImageMapFile.read("/nonexistent/skiff/images.json") == [:])
        #expect(ImageCatalog(startup: ImageMap(), file: "/nonexistent/skiff/images.json").directory(for: "x") == nil)
    }
}
