import ArgumentParser
import Foundation
import TaskRunners

/// `skiff image`: the image → directory mappings of a state directory, which a running `skiff up` picks up at its
/// next task start (see ``ImageCatalog``).
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Map image names to local directories, for tasks run as local processes.",
        discussion: """
            The mappings live in the state directory (images.json) and apply to the skiff up that uses it from its \
            next task start on, without a restart; they win over --image-map and SKIFF_IMAGE_* given at its start.
            """,
        subcommands: [Map.self, Unmap.self, List.self])

    struct StateDirectory: ParsableArguments {
        @Option(help: "The state directory of the skiff up the mapping is for.") var stateDir = ".skiff"

        var file: String { ImageMapFile.path(stateDirectory: stateDir) }

        func read() throws -> [String: String] {
            do {
                return try ImageMapFile.read(file)
            } catch {
                throw CommandFailure("\(error)")
            }
        }

        func write(_ directories: [String: String]) throws {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: stateDir, isDirectory: &isDirectory) {
                // As skiff up creates it: readable by its owner alone (docs/security.md).
                do {
                    try FileManager.default.createDirectory(
                        atPath: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                } catch {
                    throw CommandFailure("cannot create the state directory \(stateDir): \(ImageMapFile.reason(of: error))")
                }
            } else if !isDirectory.boolValue {
                throw CommandFailure("the state directory \(stateDir) is not a directory")
            }
            do {
                try ImageMapFile.write(directories, to: file)
            } catch {
                throw CommandFailure("\(error)")
            }
        }
    }

    struct Map: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run image NAME from directory DIR.",
            discussion: "Example: skiff image map php-app ./examples/jobs (the directory is stored as an absolute path).")

        @Argument(help: "The image name, as task definitions give it (php-app, php-app:1.2 or a registry path).") var name: String
        @Argument(help: "The directory that stands for the image's file system.") var directory: String
        @OptionGroup var state: StateDirectory

        func validate() throws {
            guard !name.isEmpty, !name.contains(where: { $0.isWhitespace }) else {
                throw ValidationError("The image name must not be empty or contain spaces; got '\(name)'.")
            }
        }

        func run() throws {
            let absolute = ImageMap.absolute(directory, base: FileManager.default.currentDirectoryPath)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandFailure("\(directory) is not a directory")
            }
            var directories = try state.read()
            let previous = directories.updateValue(absolute, forKey: name)
            try state.write(directories)
            print(previous.map { "\(name): \(absolute) (was \($0))" } ?? "\(name): \(absolute)")
        }
    }

    struct Unmap: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the mapping of image NAME from the state directory.")

        @Argument(help: "The image name.") var name: String
        @OptionGroup var state: StateDirectory

        func run() throws {
            var directories = try state.read()
            guard directories.removeValue(forKey: name) != nil else {
                throw CommandFailure("image \(name) is not mapped in \(state.file)")
            }
            try state.write(directories)
            print("\(name): unmapped")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the state directory's mappings, one NAME DIR per line.")

        @OptionGroup var state: StateDirectory

        func run() throws {
            let directories = try state.read()
            for name in directories.keys.sorted() { print("\(name)\t\(directories[name]!)") }
        }
    }
}
