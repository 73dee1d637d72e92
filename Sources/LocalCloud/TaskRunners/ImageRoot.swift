import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An image directory as the root of a task's file system, for the process runner.
///
/// A task names paths as a container sees them: `/app` and `/usr/bin/php` are inside its image, and so are
/// `./batch.sh` and the working directory. This type turns those paths into host paths and keeps them inside the
/// image: a path is resolved with every symbolic link followed (`realpath`), and one that ends outside the image's
/// own real path (`../../..`, a link to `/bin/sh`) is refused. Programs named without a slash are searched in the
/// image's `PATH` only, never the host's, so `sh` or `php` is the image's or nothing.
///
/// What runs inside the image is the image's business: a script's `#!/bin/sh` line is read by the kernel, and a
/// script may call any program it names. What a task definition (an API caller) names is kept inside.
public struct ImageRoot: Sendable, Equatable {
    /// The image directory with its symbolic links resolved.
    public let path: String

    /// The search path of a container whose image sets none: Docker's default.
    public static let defaultSearchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The root at `directory`, or nil when it does not exist.
    public init?(directory: String) {
        guard let real = Self.realPath(directory) else { return nil }
        path = real
    }

    /// Where a path leads.
    public enum Resolution: Sendable, Equatable {
        /// Inside the image, at this host path (symbolic links resolved).
        case inside(String)
        /// Outside the image, at this host path.
        case outside(String)
        /// Nothing is there.
        case missing
    }

    /// Resolves `path` as the container sees it: absolute paths from the image's root, relative ones from `base`
    /// (a host path inside the image).
    public func resolve(_ path: String, from base: String) -> Resolution {
        let joined = path.hasPrefix("/") ? self.path + path : base + "/" + path
        guard let real = Self.realPath(joined) else { return .missing }
        return contains(real) ? .inside(real) : .outside(real)
    }

    /// Whether a host path (already resolved) lies in the image.
    public func contains(_ real: String) -> Bool {
        path == "/" || real == path || real.hasPrefix(path + "/")
    }

    /// The host directories a task's `PATH` names: each entry taken from the image's root, with `..` stopping at
    /// the root as it does in a container, and an entry whose links lead out of the image left out. The image
    /// directory itself comes first, so that a program at its top (`php` in `./jobs`) is found by name.
    public func searchPath(_ taskPath: String?) -> [String] {
        let entries = taskPath.map { $0.split(separator: ":").map(String.init) } ?? Self.defaultSearchPath
        var directories = [path]
        for entry in entries where entry.hasPrefix("/") {
            let host = Self.confined(entry, root: path)
            if let real = Self.realPath(host), !contains(real) { continue }
            if !directories.contains(host) { directories.append(host) }
        }
        return directories
    }

    /// Why a program cannot run.
    public enum LookupFailure: Error, Sendable, Equatable {
        /// Nothing executable of that name in the image.
        case notFound
        /// The name leads out of the image (to this host path).
        case outside(String)
    }

    /// The host path of the executable `program` names: with a slash, a path resolved by ``resolve(_:from:)``;
    /// without one, the first executable file of that name in `searchPath` whose links stay in the image.
    public func executable(_ program: String, searchPath: [String], workingDirectory: String) -> Result<String, LookupFailure> {
        if program.contains("/") {
            switch resolve(program, from: workingDirectory) {
            case .inside(let real): return Self.isExecutableFile(real) ? .success(real) : .failure(.notFound)
            case .outside(let real): return .failure(.outside(real))
            case .missing: return .failure(.notFound)
            }
        }
        var refused: String? = nil
        for directory in searchPath {
            guard let real = Self.realPath(directory + "/" + program) else { continue }
            guard contains(real) else {
                refused = refused ?? real
                continue
            }
            if Self.isExecutableFile(real) { return .success(real) }
        }
        return .failure(refused.map { .outside($0) } ?? .notFound)
    }

    // MARK: Paths

    /// `path` with its symbolic links, `.` and `..` resolved, or nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `path` (absolute, as the container sees it) under `root`, `..` never climbing above the root.
    static func confined(_ path: String, root: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": _ = components.popLast()
            default: components.append(component)
            }
        }
        return components.isEmpty ? root : root + "/" + components.joined(separator: "/")
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }
}
