import Foundation
import JSONCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The image mappings a running server uses: those it started with (`--image-map`, `SKIFF_IMAGE_*`) and, over them,
/// those of its state directory's `images.json`, which `skiff image map` edits while the server runs.
///
/// The file, not an API call, is how mappings change at run time: a mapping decides which host directory a task may
/// run programs from, so changing one takes what writing to the state directory takes (being its owner), more than
/// signing a request does. The file is read again when it changes (``FileStamp``), which each task start checks with
/// a `stat`: no watcher thread.
public final class ImageCatalog: Sendable {
    public let startup: ImageMap
    /// `<state-dir>/images.json`; nil for a server whose state is in memory.
    public let file: String?
    private let loaded = Mutex<Loaded>(Loaded())

    struct Loaded {
        var stamp: FileStamp?
        var map = ImageMap()
        var problem: String?
    }

    public init(startup: ImageMap, file: String? = nil) {
        self.startup = startup
        self.file = file
    }

    /// The directory of `image`: the file's mapping when it has one for any of the image's names, else the start-up one.
    public func directory(for image: String) -> String? {
        current().directory(for: image) ?? startup.directory(for: image)
    }

    /// Why the file was not read, when it could not be (a task that fails to start on an unmapped image says it).
    public var fileProblem: String? { loaded.withLock { $0.problem } }

    private func current() -> ImageMap {
        guard let file else { return ImageMap() }
        let stamp = FileStamp(path: file)
        if let cached = loaded.withLock({ $0.stamp == stamp ? $0.map : nil }) { return cached }
        var next = Loaded(stamp: stamp)
        if stamp != nil {
            do {
                next.map = ImageMap(try ImageMapFile.read(file))
            } catch {
                next.problem = "\(error)"
            }
        }
        loaded.withLock { $0 = next }
        return next.map
    }
}

/// What tells a changed file: its inode (``ImageMapFile/write(_:to:)`` renames a new file over the old one, and
/// two writes may fall within one tick of the file system's clock), its modification time and its size.
struct FileStamp: Equatable {
    var inode: UInt64
    var modified: timespec
    var size: Int

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
            modified = info.st_mtimespec
        #else
            modified = info.st_mtim
        #endif
        size = Int(info.st_size)
        inode = UInt64(info.st_ino)
    }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.inode == b.inode && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec && a.size == b.size
    }
}

/// `images.json` of a state directory: a JSON object of image name → absolute directory, written by `skiff image map`
/// and read by the server. Written whole to a temporary file then renamed over, so that a reader never sees half.
public enum ImageMapFile {
    public static let name = "images.json"

    public static func path(stateDirectory: String) -> String {
        (stateDirectory as NSString).appendingPathComponent(name)
    }

    public static func read(_ path: String) throws(ImageMapFileError) -> [String: String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            if !FileManager.default.fileExists(atPath: path) { return [:] }
            throw ImageMapFileError(path: path, reason: Self.reason(of: error))
        }
        guard case .object(let object)? = try? JSON(parsing: data) else {
            throw ImageMapFileError(path: path, reason: "it is not a JSON object of image name to directory")
        }
        var directories: [String: String] = [:]
        for (name, value) in object {
            guard let directory = value.stringValue, directory.hasPrefix("/"), !name.isEmpty else {
                throw ImageMapFileError(path: path, reason: "the mapping of '\(name)' is not an absolute directory")
            }
            directories[name] = directory
        }
        return directories
    }

    public static func write(_ directories: [String: String], to path: String) throws(ImageMapFileError) {
        let sorted = JSONObject(uniqueKeysWithValues: directories.keys.sorted().map { ($0, JSON.string(directories[$0]!)) })
        let temporary = path + ".tmp-\(getpid())"
        let body = Data((JSON.object(sorted).serialized(.pretty) + "\n").utf8)
        guard FileManager.default.createFile(atPath: temporary, contents: body, attributes: [.posixPermissions: 0o600]) else {
            throw ImageMapFileError(path: path, reason: String(cString: strerror(errno)))
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ImageMapFileError(path: path, reason: reason)
        }
    }

    /// The OS's reason (`Permission denied`), not Foundation's wrapping of it.
    public static func reason(of error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
        return nsError.localizedDescription
    }
}

public struct ImageMapFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot use the image map \(path): \(reason)" }
}
