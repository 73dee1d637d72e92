import Foundation
import JSONCore
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The lines `skiff up` writes: one per request or lifecycle event (a task started or stopped, an execution
/// started or ended, a schedule fired), for people (`text`) or for programs (`json`, one object per line).
///
/// A line's message says what happened in a few fixed words ("ECS task stopped") and its metadata says of what
/// (`task=…`, `exit-codes=app:0`): the text form is logfmt after the message, so `grep 'ECS task stopped'` and a
/// log shipper reading `json` find the same events.
public struct ServerLogHandler: LogHandler {
    public enum Format: String, CaseIterable, Sendable {
        case text, json
    }

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public let format: Format
    private let output: ServerLogOutput

    public init(format: Format, output: ServerLogOutput = .standardError) {
        self.format = format
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        output.writeLine(Self.line(format: format, time: Date(), level: event.level, message: "\(event.message)", metadata: fields))
    }

    /// The keys a line shows first, in this order: what it is about, then what happened to it, then where.
    /// Other keys follow in alphabetical order, so that lines of one kind always read alike.
    static let leadingKeys = [
        "service", "operation", "status", "task", "execution", "schedule", "rule", "target", "task-definition", "stop-code",
        "exit-codes", "error", "reason", "duration-ms", "cluster", "account", "region", "request-id",
    ]
    static let keyRank = Dictionary(uniqueKeysWithValues: leadingKeys.enumerated().map { ($1, $0) })

    static func ordered(_ keys: some Collection<String>) -> [String] {
        keys.sorted { left, right in
            let (l, r) = (keyRank[left] ?? Int.max, keyRank[right] ?? Int.max)
            return l != r ? l < r : left < right
        }
    }

    /// One line, ending with a newline.
    public static func line(format: Format, time: Date, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let keys = ordered(metadata.keys)
        switch format {
        case .text:
            var line = Self.timestamp(time)
            line += " "
            line += level.rawValue
            line += String(repeating: " ", count: max(1, 9 - level.rawValue.count))
            line += message
            for key in keys {
                line += " "
                line += key
                line += "="
                line += Self.logfmtValue(Self.text(of: metadata[key]!))
            }
            line += "\n"
            return line
        case .json:
            var object: JSONObject = ["time": .string(Self.timestamp(time)), "level": .string(level.rawValue), "message": .string(message)]
            for key in keys where object[key] == nil { object[key] = Self.json(of: metadata[key]!) }
            return JSON.object(object).serialized() + "\n"
        }
    }

    /// `2026-12-07T22:40:01.123Z`: UTC with milliseconds, as CloudWatch and most log tools read it.
    static func timestamp(_ date: Date) -> String {
        // Nudged half a microsecond up: the writer rounds down to the millisecond, and 0.007 s is 6.999… ms as a Double.
        UTCTimestamp.iso8601(secondsSince1970: date.timeIntervalSince1970 + 5e-7, fractionDigits: 3)
    }

    static func text(of value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return convertible.description
        case .array(let values): return values.map { text(of: $0) }.joined(separator: ",")
        case .dictionary(let entries): return entries.keys.sorted().map { "\($0):\(text(of: entries[$0]!))" }.joined(separator: ",")
        }
    }

    static func json(of value: Logger.MetadataValue) -> JSON {
        switch value {
        case .string(let string): return .string(string)
        case .stringConvertible(let convertible): return .string(convertible.description)
        case .array(let values): return .array(values.map { json(of: $0) })
        case .dictionary(let entries):
            return .object(JSONObject(uniqueKeysWithValues: entries.keys.sorted().map { ($0, json(of: entries[$0]!)) }))
        }
    }

    /// A logfmt value: bare when it has no space, quote, equals sign or control character; else a quoted string with
    /// JSON's escapes, which logfmt readers take.
    static func logfmtValue(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty || value.utf8.contains { $0 <= 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") || $0 == 0x7F }
        return needsQuotes ? JSON.string(value).serialized() : value
    }
}

/// Where the server's lines go: a file descriptor written one whole line per `write`, so that lines from many
/// threads never interleave (swift-log's stream handler takes a lock and a `FILE` for the same end).
public struct ServerLogOutput: Sendable {
    let descriptor: Int32

    public static let standardError = ServerLogOutput(descriptor: 2)
    public static let standardOutput = ServerLogOutput(descriptor: 1)

    public init(descriptor: Int32) { self.descriptor = descriptor }

    func writeLine(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return  // a closed log must not stop the server
                }
            }
        }
    }
}
