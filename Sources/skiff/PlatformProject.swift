import ArgumentParser
import Foundation
import JSONCore
import Platform
import PlatformExample

/// The options `skiff synth`, `skiff diff` and `skiff deploy` share: which platform, and its cloud assembly folder.
struct PlatformOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The platform package's folder.",
            discussion: """
                Default: the current folder or the nearest one above it whose Package.swift depends on Skiff's Platform \
                library (skiff init platform writes one).
                """, valueName: "dir"))
    var app: String?

    @Flag(help: "Use Skiff's built-in example platform (the seeds' accounts and workloads) instead of a platform package.")
    var example = false

    @Option(help: ArgumentHelp("The executable product to run, when the platform package has several.", valueName: "name"))
    var product: String?

    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "The cloud assembly folder (default: cdk.out in the platform package's folder; cdk.out here with --example).",
            valueName: "dir"))
    var out: String?

    func validate() throws {
        if example && (app != nil || product != nil) {
            throw ValidationError("--example synthesizes the built-in platform: it takes no --app or --product")
        }
    }

    /// The platform asked for.
    func source() throws -> PlatformSource {
        if example { return .example }
        let cwd = FileManager.default.currentDirectoryPath
        return .package(try PlatformPackage.locate(app: app.map { absolutePath($0, from: cwd) }, from: cwd), product: product)
    }

    /// The cloud assembly folder: `--out`, else the platform's `cdk.out`. Absolute for a platform package, whose
    /// program runs in the package's folder; as given for the example, which skiff writes itself.
    func outputFolder(for source: PlatformSource) -> String {
        switch source {
        case .example: return out ?? SynthOptions.defaultOutputDirectory
        case .package(let package, _):
            if let out { return absolutePath(out, from: FileManager.default.currentDirectoryPath) }
            return (package.directory as NSString).appendingPathComponent(SynthOptions.defaultOutputDirectory)
        }
    }
}

/// `path` made absolute against `directory`, with `.` and `..` resolved.
func absolutePath(_ path: String, from directory: String) -> String {
    let expanded = (path as NSString).expandingTildeInPath
    let joined = expanded.hasPrefix("/") ? expanded : (directory as NSString).appendingPathComponent(expanded)
    return URL(fileURLWithPath: joined).standardizedFileURL.path
}

/// A platform to synthesize: the built-in example, or a user's platform package.
enum PlatformSource {
    case example
    case package(PlatformPackage, product: String?)

    /// The result of synthesizing: the stacks of the assembly written, and the time each phase took.
    struct Synthesis {
        var stacks: [AssemblyStack]
        /// The paths written, when skiff wrote them itself (the example); a platform program prints its own.
        var written: [String]
        var buildTime: Duration?
        var synthTime: Duration
    }

    /// Synthesizes into `folder`, as `cdk synth` does: a platform package is built with SwiftPM (its output on
    /// standard error) and its program run with the folder to write; its own output goes to `programOutput`.
    func synthesize(into folder: String, includeYAML: Bool, programOutput: ChildProcess.Output) throws -> Synthesis {
        let options = SynthOptions(outputDirectory: folder, includeYAML: includeYAML)
        switch self {
        case .example:
            let start = ContinuousClock.now
            let written: [String]
            do { written = try ExamplePlatform.app.synth(options) } catch { throw CommandFailure(error.description) }
            return Synthesis(stacks: try Self.read(folder), written: written, buildTime: nil, synthTime: ContinuousClock.now - start)
        case .package(let package, let product):
            let buildStart = ContinuousClock.now
            let executable = try package.build(product: product)
            let synthStart = ContinuousClock.now
            try package.runProgram(executable, options: options, programOutput: programOutput)
            return Synthesis(
                stacks: try Self.read(folder), written: [], buildTime: synthStart - buildStart,
                synthTime: ContinuousClock.now - synthStart)
        }
    }

    static func read(_ folder: String) throws -> [AssemblyStack] {
        let stacks: [AssemblyStack]?
        do { stacks = try AssemblyReader.read(folder) } catch { throw CommandFailure(error.description) }
        guard let stacks else { throw CommandFailure("no cloud assembly was written to \(folder)") }
        return stacks
    }
}

/// A user's platform: a SwiftPM package with an executable that declares the platform with Skiff's `Platform`
/// library and calls `app.synth()`.
struct PlatformPackage {
    /// The package's folder, absolute.
    let directory: String

    var manifestPath: String { (directory as NSString).appendingPathComponent("Package.swift") }

    /// The package at `app`, or else the nearest one at or above `start` that depends on the Platform library.
    static func locate(app: String?, from start: String) throws -> PlatformPackage {
        let fm = FileManager.default
        if let app {
            guard fm.fileExists(atPath: (app as NSString).appendingPathComponent("Package.swift")) else {
                throw CommandFailure("\(app) holds no Package.swift: create a platform package there with `skiff init platform \(app)`")
            }
            return PlatformPackage(directory: app)
        }
        var directory = start
        var otherPackage: String?
        while true {
            let manifest = (directory as NSString).appendingPathComponent("Package.swift")
            if fm.fileExists(atPath: manifest) {
                if dependsOnPlatform(manifest) { return PlatformPackage(directory: directory) }
                otherPackage = otherPackage ?? manifest
            }
            let parent = (directory as NSString).deletingLastPathComponent
            if parent == directory || parent.isEmpty { break }
            directory = parent
        }
        let found = otherPackage.map { " (\($0) does not depend on it)" } ?? ""
        throw CommandFailure(
            """
            no platform package here: no Package.swift in \(start) or above depends on Skiff's Platform library\(found). \
            Create one with `skiff init platform DIR`, name one with --app DIR, or use the built-in example with --example
            """)
    }

    /// Whether a manifest declares a dependency on the product `Platform` (the text `.product(name: "Platform"`).
    static func dependsOnPlatform(_ manifest: String) -> Bool {
        guard let text = try? String(contentsOfFile: manifest, encoding: .utf8) else { return false }
        return text.contains(/\.product\(\s*name:\s*"Platform"/)
    }

    static func swift() throws -> String {
        guard let swift = ChildProcess.find("swift") else {
            throw CommandFailure("swift is not on PATH: a platform package is built with SwiftPM (https://swift.org/install)")
        }
        return swift
    }

    /// Builds the platform program with SwiftPM, its output on standard error; returns the executable's path.
    func build(product: String?) throws -> String {
        let swift = try Self.swift()
        let name = try product ?? executableName(swift: swift)
        let build = try ChildProcess.run(
            swift, ["build", "--package-path", directory, "--product", name],
            standardOutput: .standardError, standardError: .inherit)
        guard build.succeeded else {
            throw CommandFailure("the platform package in \(directory) does not build (swift build: \(build.statusDescription))")
        }
        let binPath = try ChildProcess.run(
            swift, ["build", "--package-path", directory, "--show-bin-path"],
            standardOutput: .capture, standardError: .capture)
        guard binPath.succeeded, let bin = binPath.standardOutputText.split(whereSeparator: \.isNewline).last else {
            throw CommandFailure(
                "swift build --show-bin-path failed in \(directory): \(binPath.lastErrorLine ?? binPath.statusDescription)")
        }
        return (String(bin) as NSString).appendingPathComponent(name)
    }

    /// The package's one executable, read from `swift package dump-package`.
    func executableName(swift: String) throws -> String {
        let dump = try ChildProcess.run(
            swift, ["package", "dump-package", "--package-path", directory],
            standardOutput: .capture, standardError: .capture)
        guard dump.succeeded else {
            FileHandle.standardError.write(dump.standardError)
            throw CommandFailure("cannot read \(manifestPath) (swift package dump-package: \(dump.statusDescription))")
        }
        let manifest: JSON
        do { manifest = try JSON(parsing: dump.standardOutput) } catch {
            throw CommandFailure("swift package dump-package wrote no JSON for \(manifestPath): \(error.description)")
        }
        var names: [String] = []
        for product in manifest["products"]?.arrayValue ?? [] where product["type"]?["executable"] != nil {
            if let name = product["name"]?.stringValue, !names.contains(name) { names.append(name) }
        }
        for target in manifest["targets"]?.arrayValue ?? [] where target["type"]?.stringValue == "executable" {
            if let name = target["name"]?.stringValue, !names.contains(name) { names.append(name) }
        }
        switch names.count {
        case 1: return names[0]
        case 0: throw CommandFailure("\(manifestPath) declares no executable target: the platform is a program that calls app.synth()")
        default:
            throw CommandFailure("\(manifestPath) declares several executables (\(names.joined(separator: ", "))): name one with --product")
        }
    }

    /// Runs the platform program in the package's folder with the assembly folder to write, as `cdk synth` runs a
    /// CDK app with `CDK_OUTDIR`.
    func runProgram(_ executable: String, options: SynthOptions, programOutput: ChildProcess.Output) throws {
        var environment = ProcessInfo.processInfo.environment
        for name in SynthOptions.outputDirectoryVariables { environment[name] = options.outputDirectory }
        environment[SynthOptions.yamlVariable] = options.includeYAML ? "1" : "0"
        let manifest = (options.outputDirectory as NSString).appendingPathComponent("manifest.json")
        let started = Date()
        let run = try ChildProcess.run(
            executable, [], directory: directory, environment: environment,
            standardOutput: programOutput, standardError: .inherit)
        let name = (executable as NSString).lastPathComponent
        guard run.succeeded else {
            throw CommandFailure("the platform program \(name) failed (\(run.statusDescription))")
        }
        // A manifest older than the run is a previous synthesis: the program never called app.synth().
        let modified = (try? FileManager.default.attributesOfItem(atPath: manifest)[.modificationDate]) as? Date
        guard let modified, modified.timeIntervalSince(started) > -0.5 else {
            throw CommandFailure(
                "the platform program \(name) wrote no cloud assembly to \(options.outputDirectory): does its main.swift end with app.synth()?"
            )
        }
    }
}

extension Duration {
    /// `12.3 s`, `45 ms`.
    var readable: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return seconds >= 1 ? String(format: "%.1f s", seconds) : String(format: "%.0f ms", seconds * 1000)
    }
}
