import Foundation

/// Where the process runner finds an image: image name → local directory.
///
/// The directory stands in for the image's file system: it becomes the working directory of the task's
/// process and is put first on its PATH, so an entry point `php` or `./job.sh` resolves inside it.
/// Mappings come from `skiff up --image-map NAME=DIR` (repeatable) and from environment variables
/// `SKIFF_IMAGE_<NAME>=DIR`, where `<NAME>` is the image name upper-cased with every character other than a
/// letter or digit replaced by `_` (`php-app` → `SKIFF_IMAGE_PHP_APP`). Command-line mappings win.
/// A name matches with or without its tag or digest: `php-app:1.2` and `123.dkr.ecr.../php-app:latest` both
/// match a mapping of `php-app` when no more exact mapping exists.
public struct ImageMap: Sendable, Equatable {
    public private(set) var directories: [String: String]

    public init(_ directories: [String: String] = [:]) {
        self.directories = directories
    }

    /// Parses `NAME=DIR` arguments, resolving relative directories against `base`.
    public init(arguments: [String], environment: [String: String] = [:], base: String = FileManager.default.currentDirectoryPath) throws {
        var directories: [String: String] = [:]
        for (key, value) in environment where key.hasPrefix("SKIFF_IMAGE_") && key.count > "SKIFF_IMAGE_".count && !value.isEmpty {
            directories["env:" + String(key.dropFirst("SKIFF_IMAGE_".count))] = Self.absolute(value, base: base)
        }
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex,
                argument.index(after: equals) != argument.endIndex
            else {
                throw ImageMapError(argument: argument)
            }
            directories[String(argument[..<equals])] = Self.absolute(String(argument[argument.index(after: equals)...]), base: base)
        }
        self.directories = directories
    }

    public static func absolute(_ path: String, base: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let full = expanded.hasPrefix("/") ? expanded : (base as NSString).appendingPathComponent(expanded)
        return (full as NSString).standardizingPath
    }

    /// The environment-variable spelling of an image name.
    public static func environmentKey(_ name: String) -> String {
        String(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// The directory of `image`, or nil when it is not mapped.
    public func directory(for image: String) -> String? {
        for candidate in Self.candidates(image) {
            if let directory = directories[candidate] { return directory }
            if let directory = directories["env:" + Self.environmentKey(candidate)] { return directory }
        }
        return nil
    }

    /// The names `image` may be mapped under, most exact first: `repo/name:tag`, `repo/name`, `name:tag`, `name`.
    static func candidates(_ image: String) -> [String] {
        var names = [image]
        var base = image
        if let at = base.firstIndex(of: "@") { base = String(base[..<at]) }
        let lastSlash = base.lastIndex(of: "/")
        let nameStart = lastSlash.map { base.index(after: $0) } ?? base.startIndex
        var untagged = base
        if let colon = base[nameStart...].firstIndex(of: ":") { untagged = String(base[..<colon]) }
        names.append(base)
        names.append(untagged)
        if let lastSlash {
            let short = String(base[base.index(after: lastSlash)...])
            names.append(short)
            let shortUntagged = short.split(separator: ":", maxSplits: 1).first.map(String.init) ?? short
            names.append(shortUntagged)
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}

public struct ImageMapError: Error, CustomStringConvertible {
    public var argument: String
    public var description: String { "image mapping '\(argument)' must have the form NAME=DIRECTORY (for example php-app=./jobs)" }
}
