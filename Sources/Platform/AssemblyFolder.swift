import Foundation
import JSONCore

/// A stack of a cloud assembly folder as its manifest lists it, with its template.
public struct AssemblyStack: Sendable, Equatable {
    public var name: String
    /// `aws://ACCOUNT/REGION` read from the manifest, when it names one.
    public var environment: Environment?
    /// The template file's path.
    public var templatePath: String
    public var template: JSON

    public init(name: String, environment: Environment?, templatePath: String, template: JSON) {
        self.name = name
        self.environment = environment
        self.templatePath = templatePath
        self.template = template
    }
}

/// Reads a cloud assembly folder: Skiff's own (`skiff synth`) and CDK's `cdk.out` alike, both listing their stacks in
/// `manifest.json` as artifacts of type `aws:cloudformation:stack` with a `templateFile`.
public enum AssemblyReader {
    /// The stacks in manifest order, or nil when the folder holds no manifest (nothing synthesized there yet).
    public static func read(_ folder: String) throws(SynthesisError) -> [AssemblyStack]? {
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: manifestPath) else { return nil }
        let manifest = try parseJSONFile(manifestPath)
        guard let artifacts = manifest["artifacts"]?.objectValue else {
            throw SynthesisError("\(manifestPath) lists no artifacts")
        }
        var stacks: [AssemblyStack] = []
        for (name, artifact) in artifacts where artifact["type"]?.stringValue == "aws:cloudformation:stack" {
            guard let file = artifact["properties"]?["templateFile"]?.stringValue else {
                throw SynthesisError("\(manifestPath): stack \(name) has no properties.templateFile")
            }
            let path = (folder as NSString).appendingPathComponent(file)
            // CDK gives the deployed name as properties.stackName when it differs from the artifact's ID.
            stacks.append(
                AssemblyStack(
                    name: artifact["properties"]?["stackName"]?.stringValue ?? name,
                    environment: artifact["environment"]?.stringValue.flatMap(environment(uri:)),
                    templatePath: path, template: try parseJSONFile(path)))
        }
        return stacks
    }

    /// `aws://111111111111/us-east-1` as an environment; nil for CDK's environment-agnostic `aws://unknown-account/...`.
    public static func environment(uri: String) -> Environment? {
        guard uri.hasPrefix("aws://") else { return nil }
        let parts = uri.dropFirst("aws://".count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].allSatisfy(\.isNumber), !parts[0].isEmpty, !parts[1].hasPrefix("unknown") else { return nil }
        return Environment(account: String(parts[0]), region: String(parts[1]))
    }

    static func parseJSONFile(_ path: String) throws(SynthesisError) -> JSON {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SynthesisError("cannot read \(path): \(PlatformApp.reason(error))")
        }
        do { return try JSON(parsing: data) } catch {
            throw SynthesisError("\(path) is not JSON: \(error.description)")
        }
    }
}

extension AssemblyWriter {
    /// Writes the assembly as ``write(_:to:includeYAML:)`` does, first removing the files the folder's previous
    /// manifest listed that this assembly does not write (the templates of stacks since removed, YAML no longer
    /// asked for), so that the folder holds one assembly. Files the manifest never listed are left alone.
    @discardableResult
    public static func replace(_ assembly: CloudAssembly, in folder: String, includeYAML: Bool) throws -> [String] {
        let writing = Set(try assembly.files(includeYAML: includeYAML).map(\.name))
        for name in previousFiles(in: folder) where !writing.contains(name) {
            try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
        return try write(assembly, to: folder, includeYAML: includeYAML)
    }

    /// The template files the folder's manifest lists (plain file names only: nothing outside the folder).
    static func previousFiles(in folder: String) -> [String] {
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: manifestPath),
            let manifest = try? AssemblyReader.parseJSONFile(manifestPath)
        else { return [] }
        var names: [String] = []
        for (_, artifact) in manifest["artifacts"]?.objectValue ?? [:] {
            for key in ["templateFile", "yamlTemplateFile"] {
                if let name = artifact["properties"]?[key]?.stringValue, !name.contains("/"), name != "..", name != "." {
                    names.append(name)
                }
            }
        }
        return names
    }
}
