import ArgumentParser
import Foundation

/// `skiff init`: new projects from templates.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new project from a template.",
        subcommands: [InitPlatformCommand.self]
    )
}

/// `skiff init platform [DIR]`: a platform package, as `cdk init app` makes a CDK app.
struct InitPlatformCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "platform",
        abstract: "Create a platform package: the platform declared in Swift, for skiff synth, diff and deploy.",
        discussion: """
            Writes Package.swift (an executable depending on the Platform library of Skiff's source tree), \
            Sources/<Name>/main.swift (a starter platform: the management account with the organization and \
            root-user protection, prod and stg member accounts, a batch job on a schedule and on demand, and a web \
            service), .gitignore and README.md. Nothing is overwritten: the command refuses when any of these files \
            exists.
            Example: skiff init platform my-platform && cd my-platform && skiff synth
            """
    )

    @Argument(help: ArgumentHelp("The package's folder, created if needed (default: the current folder).", valueName: "dir"))
    var directory: String?

    @Option(
        help: ArgumentHelp("Skiff's source tree, which the package depends on (default: the one skiff was built from).", valueName: "dir"))
    var skiffPath: String?

    @Option(
        help: ArgumentHelp("The executable target's name (default: from the folder's name, my-platform → MyPlatform).", valueName: "name"))
    var name: String?

    func validate() throws {
        if let name, name.firstMatch(of: /^[A-Za-z_][A-Za-z0-9_]*$/) == nil {
            throw ValidationError("--name \(name) is not a Swift identifier (letters, digits and _, not starting with a digit)")
        }
        if let name, PlatformTemplates.reservedNames.contains(name) {
            throw ValidationError("--name \(name) is the name of a module the Platform library brings: choose another")
        }
    }

    func run() throws {
        let fm = FileManager.default
        let cwd = fm.currentDirectoryPath
        let folder = absolutePath(directory ?? ".", from: cwd)
        let skiff: String
        if let skiffPath {
            skiff = absolutePath(skiffPath, from: cwd)
            guard PlatformTemplates.isSkiffSourceTree(skiff) else {
                throw CommandFailure("\(skiff) is not Skiff's source tree (no Package.swift declaring the Platform library)")
            }
        } else {
            guard let builtFrom = PlatformTemplates.builtFromSourceTree else {
                throw CommandFailure(
                    "the source tree skiff was built from is no longer there: give Skiff's source tree with --skiff-path DIR")
            }
            skiff = builtFrom
        }

        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: folder, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw CommandFailure("\(folder) is a file, not a folder")
        }
        let folderName = (folder as NSString).lastPathComponent
        let templates = PlatformTemplates(
            packageName: folderName, targetName: name ?? PlatformTemplates.targetName(from: folderName), skiffPath: skiff,
            toolsVersion: PlatformTemplates.toolsVersion(ofManifestIn: skiff) ?? "6.1")
        let files = templates.files
        let present = files.map(\.path).filter { fm.fileExists(atPath: (folder as NSString).appendingPathComponent($0)) }
        if !present.isEmpty {
            throw CommandFailure(
                "\(folder) already has \(present.joined(separator: ", ")): nothing written (skiff init platform never overwrites a file)")
        }

        for file in files {
            let path = (folder as NSString).appendingPathComponent(file.path)
            do {
                try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(file.contents.utf8).write(to: URL(fileURLWithPath: path), options: .withoutOverwriting)
            } catch {
                throw CommandFailure("cannot write \(path): \(error.localizedDescription)")
            }
            print(path)
        }
        let cd = folder == cwd ? "" : "cd \(directory ?? folder) && "
        print(
            """
            created the platform package \(templates.packageName) (depends on Skiff at \(skiff)).
            Next: \(cd)skiff synth    # the first build compiles Skiff's Platform library: a few minutes
            """)
    }
}
