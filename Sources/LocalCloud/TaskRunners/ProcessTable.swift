import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which processes are a task's, told by what the task cannot change: each task's process starts a session of its
/// own (`setsid`), whose id is the process's pid, and `/proc/<pid>/stat` gives its start time, which a later process
/// reusing the pid does not share. Its environment is no proof: a task definition sets any variable it likes.
public struct ProcessIdentity: Sendable, Equatable, Hashable {
    /// The task's first process, leader of its session and process group.
    public var pid: Int32
    /// The session (and process group) id, the leader's pid.
    public var session: Int32
    /// The leader's start time, in clock ticks after boot (field 22 of `/proc/<pid>/stat`).
    public var startTime: UInt64

    public init(pid: Int32, session: Int32, startTime: UInt64) {
        self.pid = pid
        self.session = session
        self.startTime = startTime
    }

    /// The identity of the live process `pid`, or nil when there is none (or no `/proc` to ask).
    public static func of(pid: Int32) -> ProcessIdentity? {
        guard let entry = ProcessTable.entry(pid), !entry.ended else { return nil }
        return ProcessIdentity(pid: pid, session: entry.session, startTime: entry.startTime)
    }
}

/// The host's processes, as `/proc` shows them (Linux).
public enum ProcessTable {
    /// What `/proc/<pid>/stat` says of a process.
    struct Entry: Equatable {
        var pid: Int32
        /// `Z` (zombie) or `X` (dead): it has ended, and only its exit status is left.
        var state: Character
        var processGroup: Int32
        var session: Int32
        var startTime: UInt64
        var ended: Bool { state == "Z" || state == "X" }
    }

    static func entry(_ pid: Int32) -> Entry? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        return parse(String(decoding: data, as: UTF8.self), pid: pid)
    }

    /// Parses a `stat` line; the command name (field 2) is in parentheses and may hold spaces and parentheses itself,
    /// so the fields are counted from the last `)`.
    static func parse(_ line: String, pid: Int32) -> Entry? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field N is fields[N - 3].
        guard fields.count > 19, let state = fields[0].first, let group = Int32(fields[2]), let session = Int32(fields[3]),
            let start = UInt64(fields[19])
        else { return nil }
        return Entry(pid: pid, state: state, processGroup: group, session: session, startTime: start)
    }

    /// Every process on the host.
    static func all() -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { Int32($0) }.compactMap { entry($0) }
    }

    /// Whether the process `identity` names is still running: its pid is there, not ended, and started when it did.
    public static func isRunning(_ identity: ProcessIdentity) -> Bool {
        guard let entry = entry(identity.pid) else { return false }
        return !entry.ended && entry.startTime == identity.startTime
    }

    /// The live processes of the task `identity` names: those of its session or process group.
    ///
    /// While any process holds a session or group id, Linux gives that number to no new process. So when the leader's
    /// pid belongs to a process that started at another time, the session is gone and these are someone else's;
    /// when the pid is free, whatever still holds the session is what the leader left. Processes older than the
    /// leader cannot be its descendants and are never counted.
    public static func members(of identity: ProcessIdentity) -> [Int32] {
        if let leader = entry(identity.pid), leader.startTime != identity.startTime { return [] }
        return all().filter { entry in
            !entry.ended && entry.startTime >= identity.startTime
                && (entry.session == identity.session || entry.processGroup == identity.session)
        }.map(\.pid)
    }

    /// Kills (SIGKILL) every live process of the task `identity` names, again until none is left (a process may
    /// fork while its session is being killed). Returns whether there was any.
    @discardableResult
    public static func killAll(_ identity: ProcessIdentity) -> Bool {
        var found = false
        for _ in 0..<20 {
            let pids = members(of: identity)
            if pids.isEmpty { break }
            found = true
            if identity.pid == identity.session { _ = kill(-identity.session, SIGKILL) }
            for pid in pids { _ = kill(pid, SIGKILL) }
            usleep(5_000)
        }
        return found
    }

    /// The environment a live process started with.
    static func environment(of pid: Int32) -> [String: String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        var environment: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment
    }

    /// The working directory of a live process.
    static func workingDirectory(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
    }
}
