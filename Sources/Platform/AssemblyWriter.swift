import OrderedCollections
import Foundation

/// Writes a cloud assembly to a folder (with ``PlatformApp/synth()``, the Platform module's only I/O).
public enum AssemblyWriter {
    /// Writes every file, creating the folder; returns the paths written.
    @discardableResult
    public static func write(_ assembly: CloudAssembly, to folder: String, includeYAML: Bool) throws -> [String] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var written: [String] = []
        for file in try assembly.files(includeYAML: includeYAML) {
            let path = (folder as NSString).appendingPathComponent(file.name)
            try Data(file.contents.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            written.append(path)
        }
        return written
    }
}
