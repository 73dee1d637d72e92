import Foundation

/// A crontab translated into AWS schedule expressions: what was converted (with every change explained) and
/// what was refused (with the reason).
public struct CrontabConversion: Sendable, Equatable {
    public var schedules: [ConvertedSchedule]
    public var refusals: [CrontabRefusal]
}

/// One schedule for EventBridge Scheduler (or an EventBridge rule, in UTC) made from a crontab line.
public struct ConvertedSchedule: Sendable, Equatable {
    /// Line number in the crontab (1-based).
    public var line: Int
    public var original: String
    /// A schedule name derived from the command: letters, digits, `-`, `_`, `.`; at most 64 characters.
    public var name: String
    /// `cron(minutes hours day-of-month month day-of-week year)`.
    public var expression: String
    /// IANA time zone the expression is evaluated in.
    public var timeZone: String
    /// The command, as the container command override of the task that runs it.
    public var command: [String]
    /// What changed between the crontab line and the expression, and why.
    public var notes: [String]
}

public struct CrontabRefusal: Sendable, Equatable {
    public var line: Int
    public var text: String
    public var reason: String
}

/// Converts Vixie/cronie crontabs (5 fields, macros, names, ranges, steps, day-of-week 0-7) to AWS cron.
public enum Crontab {
    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// Converts `text`. Time zone: `CRON_TZ=`/`TZ=` lines in the file win over `timeZone`, which defaults to UTC.
    public static func convert(_ text: String, timeZone: String? = nil) -> CrontabConversion {
        var result = CrontabConversion(schedules: [], refusals: [])
        var zone = timeZone ?? "UTC"
        var zoneFromFile = false
        var usedNames: [String: Int] = [:]
        for (index, rawLine) in text.components(separatedBy: "\n").enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let assignment = environmentAssignment(line) {
                let (name, value) = assignment
                if name == "CRON_TZ" || name == "TZ" {
                    guard TimeZone(identifier: value) != nil else {
                        result.refusals.append(CrontabRefusal(line: lineNumber, text: line, reason: "\(name)=\(value) is not an IANA time zone"))
                        continue
                    }
                    zone = value
                    zoneFromFile = true
                }
                continue
            }
            do {
                var converted = try convertLine(line, lineNumber: lineNumber, timeZone: zone)
                for i in converted.indices {
                    let base = converted[i].name
                    let n = usedNames[base, default: 0]
                    usedNames[base] = n + 1
                    if n > 0 { converted[i].name = String("\(base)-\(n + 1)".suffix(64)) }
                    if zoneFromFile { converted[i].notes.append("Time zone \(zone) comes from CRON_TZ/TZ in the crontab.") }
                }
                result.schedules.append(contentsOf: converted)
            } catch let refusal as RefusalReason {
                result.refusals.append(CrontabRefusal(line: lineNumber, text: line, reason: refusal.reason))
            } catch {
                result.refusals.append(CrontabRefusal(line: lineNumber, text: line, reason: "\(error)"))
            }
        }
        return result
    }

    struct RefusalReason: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    static func environmentAssignment(_ line: String) -> (String, String)? {
        guard let eq = line.firstIndex(of: "=") else { return nil }
        let name = line[..<eq].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !(name.first?.isNumber ?? true) else { return nil }
        var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        if value.count >= 2, (value.hasPrefix("\"") && value.hasSuffix("\"")) || (value.hasPrefix("'") && value.hasSuffix("'")) {
            value = String(value.dropFirst().dropLast())
        }
        return (name, value)
    }

    static func convertLine(_ line: String, lineNumber: Int, timeZone: String) throws -> [ConvertedSchedule] {
        var notes: [String] = []
        var fields: [String]
        var command: String
        if line.hasPrefix("@") {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true).map(String.init)
            let macro = parts[0].lowercased()
            if macro == "@reboot" {
                throw RefusalReason("@reboot runs when the machine boots; a schedule has no boot to follow. Run it as part of the service's start-up instead.")
            }
            guard let expansion = macros[macro] else { throw RefusalReason("Unknown macro \(parts[0])") }
            guard parts.count == 2 else { throw RefusalReason("The line has no command") }
            fields = expansion.split(separator: " ").map(String.init)
            command = parts[1]
            notes.append("\(parts[0]) is \(expansion) in cron.")
        } else {
            let parts = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true).map(String.init)
            guard parts.count == 6 else {
                throw RefusalReason("A crontab line needs five time fields and a command")
            }
            fields = Array(parts[0..<5])
            command = parts[5].trimmingCharacters(in: .whitespaces)
        }
        command = try cronCommand(command, notes: &notes)

        let minutes = try Field.parse(fields[0], range: 0...59, names: nil, what: "minute")
        let hours = try Field.parse(fields[1], range: 0...23, names: nil, what: "hour")
        let days = try Field.parse(fields[2], range: 1...31, names: nil, what: "day of month")
        let months = try Field.parse(fields[3], range: 1...12, names: monthNames, nameBase: 1, what: "month")
        var weekdays = try Field.parse(fields[4], range: 0...7, names: dayNames, nameBase: 0, what: "day of week")
        // Cron: 0 and 7 are Sunday. AWS: 1-7 are SUN-SAT.
        if case .values(let set) = weekdays {
            weekdays = .values(Set(set.map { $0 == 7 ? 0 : $0 }))
        }
        let minuteText = minutes.aws(range: 0...59)
        let hourText = hours.aws(range: 0...23)
        let monthText = months.aws(range: 1...12)
        let base = scheduleName(command)
        func schedule(_ dom: String, _ dow: String, _ extra: [String]) -> ConvertedSchedule {
            ConvertedSchedule(
                line: lineNumber, original: line, name: base,
                expression: "cron(\(minuteText) \(hourText) \(dom) \(monthText) \(dow) *)", timeZone: timeZone,
                command: ["sh", "-c", command], notes: notes + extra + ["AWS cron has a sixth field, the year: * (every year)."])
        }
        let weekdayNote = fields[4] == "*" ? [] : ["Day of week \(fields[4]) is \(weekdays.aws(range: 0...6, shift: 1)) in AWS, which numbers SUN-SAT as 1-7 (cron: 0-7, with 0 and 7 both Sunday)."]
        switch (days.isAll, weekdays.isAll) {
        case (true, true):
            return [schedule("*", "?", ["AWS needs ? in day of week when day of month is given."])]
        case (false, true):
            return [schedule(days.aws(range: 1...31), "?", ["AWS needs ? in day of week when day of month is given."])]
        case (true, false):
            return [schedule("?", weekdays.aws(range: 0...6, shift: 1), weekdayNote + ["AWS needs ? in day of month when day of week is given."])]
        case (false, false):
            // Cron runs when EITHER field matches; AWS cannot say that in one expression: two schedules.
            var byDay = schedule(days.aws(range: 1...31), "?", ["Cron runs this line when the day of month OR the day of week matches; AWS cannot express OR, so it is split in two schedules (this one: the days of the month)."])
            var byWeekday = schedule("?", weekdays.aws(range: 0...6, shift: 1), weekdayNote + ["Cron runs this line when the day of month OR the day of week matches; AWS cannot express OR, so it is split in two schedules (this one: the days of the week)."])
            byDay.name = String((base + "-dom").suffix(64))
            byWeekday.name = String((base + "-dow").suffix(64))
            return [byDay, byWeekday]
        }
    }

    /// Cron's command field: `%` ends the command (the rest is standard input); `\%` is a literal `%`.
    static func cronCommand(_ text: String, notes: inout [String]) throws -> String {
        var out = ""
        var escaped = false
        for c in text {
            if escaped {
                if c != "%" { out.append("\\") }
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "%" {
                throw RefusalReason("An unescaped % sends the rest of the line to the command's standard input; write the input with a pipe (printf ... | command) and convert again")
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        if out.contains("\\%") || text.contains("\\%") { notes.append("\\% in the command became %.") }
        guard !out.isEmpty else { throw RefusalReason("The line has no command") }
        return out
    }

    static func scheduleName(_ command: String) -> String {
        let words = command.split(separator: " ").map(String.init)
        let program = words.first { !$0.contains("=") && $0 != "cd" && $0 != "sudo" } ?? "job"
        var name = (program as NSString).lastPathComponent
        if let script = words.dropFirst().first(where: { $0.hasSuffix(".php") || $0.hasSuffix(".sh") || $0.hasSuffix(".py") || $0.hasSuffix(".rb") }) {
            name += "-" + ((script as NSString).lastPathComponent as NSString).deletingPathExtension
        }
        let allowed = name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" }
        let cleaned = String(allowed).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return String((cleaned.isEmpty ? "job" : cleaned).prefix(64))
    }

    /// A cron time field: every value, or a set of values.
    enum Field {
        case all
        case values(Set<Int>)

        var isAll: Bool { if case .all = self { true } else { false } }

        static func parse(_ text: String, range: ClosedRange<Int>, names: [String]?, nameBase: Int = 0, what: String) throws -> Field {
            if text == "*" { return .all }
            var values = Set<Int>()
            for part in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard !part.isEmpty else { throw RefusalReason("Empty item in the \(what) field '\(text)'") }
                var step = 1
                var body = part
                if let slash = part.firstIndex(of: "/") {
                    guard let s = Int(part[part.index(after: slash)...]), s > 0 else { throw RefusalReason("Invalid step in the \(what) field '\(part)'") }
                    step = s
                    body = String(part[..<slash])
                }
                var low = range.lowerBound, high = range.upperBound
                if body != "*" {
                    let ends = body.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                    guard ends.count <= 2 else { throw RefusalReason("Invalid range in the \(what) field '\(part)'") }
                    low = try value(ends[0], range: range, names: names, nameBase: nameBase, what: what)
                    high = ends.count == 2 ? try value(ends[1], range: range, names: names, nameBase: nameBase, what: what) : (part.contains("/") ? range.upperBound : low)
                    guard low <= high else { throw RefusalReason("The range \(body) in the \(what) field runs backwards") }
                }
                var v = low
                while v <= high { values.insert(v); v += step }
            }
            // A day-of-week field naming all seven days is every day.
            if what == "day of week", Set(values.map { $0 == 7 ? 0 : $0 }).count == 7 { return .all }
            if values.count == range.count && what != "day of week" { return .all }
            return .values(values)
        }

        static func value(_ text: String, range: ClosedRange<Int>, names: [String]?, nameBase: Int, what: String) throws -> Int {
            if let n = Int(text) {
                guard range.contains(n) else { throw RefusalReason("\(n) is out of range \(range.lowerBound)-\(range.upperBound) for the \(what) field") }
                return n
            }
            if let names, let i = names.firstIndex(of: text.uppercased()) { return i + nameBase }
            throw RefusalReason("'\(text)' is not a valid \(what)")
        }

        /// AWS's text for the field: `*`, a single value, a `start/step` run, or a list with ranges compressed.
        func aws(range: ClosedRange<Int>, shift: Int = 0) -> String {
            guard case .values(let set) = self else { return "*" }
            let sorted = set.sorted().map { $0 + shift }
            if sorted.count > 2 {
                let step = sorted[1] - sorted[0]
                let isProgression = step > 1 && zip(sorted, sorted.dropFirst()).allSatisfy { $1 - $0 == step }
                if isProgression && sorted.last! + step > range.upperBound + shift { return "\(sorted[0])/\(step)" }
            }
            var parts: [String] = []
            var i = 0
            while i < sorted.count {
                var j = i
                while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
                parts.append(j - i >= 2 ? "\(sorted[i])-\(sorted[j])" : (i...j).map { String(sorted[$0]) }.joined(separator: ","))
                i = j + 1
            }
            return parts.joined(separator: ",")
        }
    }
}
