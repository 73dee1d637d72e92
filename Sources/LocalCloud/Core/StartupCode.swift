import Foundation
import Synchronization
#if os(Linux)
    import Glibc
#endif

/// The pages of machine code that start-up ran, given back once the server has started and fallen quiet.
///
/// Why: the code `skiff up` runs once (argument parsing, configuration, migrations, service set-up, the first
/// conformance lookups of the Swift runtime) lies all over the binary's text, and the kernel maps every code page
/// it reads in with the pages around it (fault-around, 64 KiB), so that a started server keeps several MiB of
/// text mapped that it will not run again. Those pages are clean copies of the file: unmapping them
/// (`MADV_DONTNEED` on the executable mappings) loses nothing, and any of them that runs again is mapped back
/// from the page cache on its first use. Only mappings that are executable and not writable are touched: data,
/// relocated data and the heap are never given back this way.
public enum StartupCode {
    /// Once the server, listening, has had no request under way for ``quietPeriod`` (its services' own start-up
    /// work done meanwhile), calls ``release()``; once, then it is done and wakes the server no more.
    public static func releaseWhenQuiet(_ activity: RequestActivity) {
        Task.detached(priority: .background) {
            while !Task.isCancelled {
                try? await Task.sleep(for: quietPeriod)
                if activity.isQuiet(for: quietPeriod) {
                    release()
                    return
                }
            }
        }
    }

    /// How long the server must go without a request for its start-up to count as over.
    static let quietPeriod = Duration.milliseconds(500)

    /// Unmaps the resident pages of every executable, file-backed mapping of the process. Does nothing on
    /// systems without `/proc/self/maps`.
    public static func release() {
        #if os(Linux)
            guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return }
            for line in maps.split(separator: "\n") {
                guard let region = ExecutableRegion(mapsLine: String(line)) else { continue }
                _ = madvise(UnsafeMutableRawPointer(bitPattern: region.start), Int(region.end - region.start), MADV_DONTNEED)
            }
        #endif
    }
}

/// One line of `/proc/self/maps` that maps a file's code: `start-end r-xp offset dev inode path`.
struct ExecutableRegion: Equatable {
    var start: UInt
    var end: UInt

    init?(mapsLine line: String) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        // Executable, not writable, private, and backed by a file (a path; not [vdso], [stack] or anonymous).
        guard fields.count >= 6, fields[1] == "r-xp", fields[5].hasPrefix("/") else { return nil }
        let bounds = fields[0].split(separator: "-")
        guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), start < end else {
            return nil
        }
        self.start = start
        self.end = end
    }

    init(start: UInt, end: UInt) {
        self.start = start
        self.end = end
    }
}

/// Requests under way, and when the last one ended.
public final class RequestActivity: Sendable {
    private let underWay = Atomic<Int>(0)
    private let lastEnded = Atomic<UInt64>(0)

    public init() {}

    func begin() {
        underWay.wrappingAdd(1, ordering: .relaxed)
    }

    func end() {
        lastEnded.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        underWay.wrappingSubtract(1, ordering: .relaxed)
    }

    /// No request under way, and none ended within `period`.
    func isQuiet(for period: Duration) -> Bool {
        guard underWay.load(ordering: .relaxed) == 0 else { return false }
        let (seconds, attoseconds) = period.components
        let nanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
        // Read after `now`, the last end can be later than it (a request ending in between): not quiet.
        let now = DispatchTime.now().uptimeNanoseconds
        let ended = lastEnded.load(ordering: .relaxed)
        return now >= ended && now - ended >= nanoseconds
    }
}
