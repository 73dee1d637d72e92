import Foundation

/// The name a platform's `main.swift` uses, as a CDK app declares `new App()`.
public typealias App = PlatformApp

extension PlatformApp {
    /// A platform whose name is its program's (the executable target of the user's package).
    public init(@StackBuilder _ stacks: () -> [Stack]) {
        let program = CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent } ?? ""
        self.init(program.isEmpty ? "platform" : program, stacks)
    }

    /// The entry point of a platform program, as CDK's `app.synth()`: synthesizes every stack and writes the cloud
    /// assembly to the folder `skiff synth` asks for (``SynthOptions``), printing each file written.
    ///
    /// On failure it prints one line, `Error: <why>`, on standard error and exits with status 1, so that the program
    /// needs no error handling of its own and `skiff synth` reports why.
    public func synth() {
        do {
            let options = try SynthOptions(
                arguments: Array(CommandLine.arguments.dropFirst()),
                environment: ProcessInfo.processInfo.environment)
            for path in try synth(options) { print(path) }
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Synthesizes every stack and writes the cloud assembly to `options.outputDirectory`, replacing the files of
    /// the assembly written there before (other files are left alone). Returns the paths written.
    @discardableResult
    public func synth(_ options: SynthOptions) throws(SynthesisError) -> [String] {
        let assembly: CloudAssembly
        do { assembly = try synthesize() } catch let error as SynthesisError {
            throw SynthesisError("the platform does not synthesize: \(error.description)")
        } catch {
            throw SynthesisError("the platform does not synthesize: \(error)")
        }
        do {
            return try AssemblyWriter.replace(assembly, in: options.outputDirectory, includeYAML: options.includeYAML)
        } catch let error as SynthesisError {
            throw error
        } catch {
            throw SynthesisError("cannot write the cloud assembly to \(options.outputDirectory): \(Self.reason(error))")
        }
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, ns.domain == NSCocoaErrorDomain {
            return underlying.localizedDescription
        }
        return ns.localizedDescription
    }
}

/// Where and how ``PlatformApp/synth()`` writes the cloud assembly.
///
/// `skiff synth` runs the platform program with `SKIFF_OUTDIR` (and `SKIFF_YAML=1` for `--yaml`); the program also
/// honours CDK's `CDK_OUTDIR`, and its own arguments `--out DIR` and `--yaml` when run by hand (`swift run`).
/// The default is `cdk.out` in the current directory.
public struct SynthOptions: Sendable, Equatable {
    public var outputDirectory: String
    public var includeYAML: Bool

    public static let outputDirectoryVariables = ["SKIFF_OUTDIR", "CDK_OUTDIR"]
    public static let yamlVariable = "SKIFF_YAML"
    public static let defaultOutputDirectory = "cdk.out"

    public init(outputDirectory: String = SynthOptions.defaultOutputDirectory, includeYAML: Bool = false) {
        self.outputDirectory = outputDirectory
        self.includeYAML = includeYAML
    }

    /// The options of a platform program: its arguments first, then the environment, then the defaults.
    public init(arguments: [String], environment: [String: String]) throws(SynthesisError) {
        self.init()
        if let directory = Self.outputDirectoryVariables.lazy.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }) {
            outputDirectory = directory
        }
        if let yaml = environment[Self.yamlVariable] {
            switch yaml.lowercased() {
            case "1", "true", "yes": includeYAML = true
            case "", "0", "false", "no": includeYAML = false
            default: throw SynthesisError("\(Self.yamlVariable) must be 1 or 0, not \"\(yaml)\"")
            }
        }
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--yaml": includeYAML = true
            case "--out", "-o":
                guard let value = rest.popFirst(), !value.isEmpty else { throw SynthesisError("\(argument) needs a folder") }
                outputDirectory = value
            case _ where argument.hasPrefix("--out="):
                let value = String(argument.dropFirst("--out=".count))
                guard !value.isEmpty else { throw SynthesisError("--out needs a folder") }
                outputDirectory = value
            default:
                throw SynthesisError("unknown argument \"\(argument)\" (a platform program takes --out DIR and --yaml)")
            }
        }
    }
}
