import Foundation

/// A crontab translated into AWS schedule expressions: what was converted (with every change explained) and
/// what was refused (with the reason).
public struct CrontabConversion: Sendable, Equatable {
    /// Whether the file was read as a user or a system crontab, and why.
    public var kind: CrontabKindDecision
    public var schedules: [ConvertedSchedule]
    public var refusals: [CrontabRefusal]
}

/// A variable a crontab sets for the commands after it (`PATH=/usr/local/bin:/usr/bin`).
public struct EnvironmentVariable: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One schedule for EventBridge Scheduler (or an EventBridge rule, in UTC) made from a crontab line.
public struct ConvertedSchedule: Sendable, Equatable {
    /// Line number in the crontab (1-based).
    public var line: Int
    public var original: String
    /// A schedule name derived from the command: letters, digits, `-`, `_`, `.`; at most 64 characters, unique
    /// within the conversion.
    public var name: String
    /// `cron(minutes hours day-of-month month day-of-week year)`.
    public var expression: String
    /// IANA time zone the expression is evaluated in.
    public var timeZone: String
    /// The command, as the container command override of the task that runs it: `SHELL -c command`.
    public var command: [String]
    /// The user a system crontab ran the command as; nil for a user crontab (the crontab's owner).
    public var user: String?
    /// Variables the crontab set above the line, which cron passes to the command: container environment overrides.
    public var environment: [EnvironmentVariable]
    /// cronie's `RANDOM_DELAY` in minutes, which a flexible time window reproduces; nil when the start is exact.
    public var flexibleWindowMinutes: Int?
    /// What changed between the crontab line and the expression, and why.
    public var notes: [String]
}

extension ConvertedSchedule {
    /// The six fields of ``expression``: minutes, hours, day of month, month, day of week, year.
    var expressionFields: [String] {
        expression.dropFirst("cron(".count).dropLast().split(separator: " ").map(String.init)
    }
}

public struct CrontabRefusal: Sendable, Equatable {
    public var line: Int
    public var text: String
    public var reason: String
}

/// Converts Vixie/cronie crontabs (5 fields, macros, names, ranges, steps, day-of-week 0-7, environment lines)
/// to AWS cron.
public enum Crontab {
    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// Converts `text`, read from `path` (nil: standard input). Time zone: `CRON_TZ=`/`TZ=` lines in the file win
    /// over `timeZone`; with neither, UTC (and a note says so). `kind` nil: ``detectKind(_:path:)`` decides whether
    /// the sixth field is the user. `now` is where daylight-saving checks start.
    public static func convert(
        _ text: String, timeZone: String? = nil, kind: CrontabKind? = nil, path: String? = nil,
        now: Date = Date()
    ) -> CrontabConversion {
        let decision =
            kind.map { kind in
                CrontabKindDecision(
                    kind: kind,
                    reason: kind == .system
                        ? "--system says the sixth field of each line is the user"
                        : "--user-crontab says each line is five time fields, then the command")
            } ?? detectKind(text, path: path)
        var result = CrontabConversion(kind: decision, schedules: [], refusals: [])
        var settings = LineSettings(zone: timeZone ?? "UTC", zoneSource: timeZone == nil ? .defaulted : .option)
        var usedNames = Set<String>()
        for (index, rawLine) in text.components(separatedBy: "\n").enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let (name, value) = environmentAssignment(line) {
                if let reason = settings.apply(name: name, value: value) {
                    result.refusals.append(CrontabRefusal(line: lineNumber, text: line, reason: reason))
                }
                continue
            }
            do {
                var converted = try convertLine(line, lineNumber: lineNumber, kind: decision.kind, settings: settings, now: now)
                for i in converted.indices { converted[i].name = uniqueName(converted[i].name, used: &usedNames) }
                result.schedules.append(contentsOf: converted)
            } catch let refusal as RefusalReason {
                result.refusals.append(CrontabRefusal(line: lineNumber, text: line, reason: refusal.reason))
            } catch {
                result.refusals.append(CrontabRefusal(line: lineNumber, text: line, reason: "\(error)"))
            }
        }
        // One task definition runs every schedule, and its container has one user.
        let users = Set(result.schedules.compactMap(\.user)).sorted()
        if users.count > 1 {
            let note =
                "The crontab runs its commands as \(users.count) users (\(users.joined(separator: ", "))), and a task definition's container runs as one: split the crontab by user and import each part with a task definition of its own."
            for i in result.schedules.indices { result.schedules[i].notes.append(note) }
        }
        return result
    }

    struct RefusalReason: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// `base`, or `base-2`, `base-3`, ... : the first not among `used` (every name produced so far, suffixed ones
    /// included), kept within 64 characters.
    static func uniqueName(_ base: String, used: inout Set<String>) -> String {
        var candidate = base
        var n = 2
        while used.contains(candidate) {
            let suffix = "-\(n)"
            candidate = String(base.prefix(64 - suffix.count)) + suffix
            n += 1
        }
        used.insert(candidate)
        return candidate
    }

    // MARK: Environment lines

    /// What the environment lines above a crontab line set: cron applies each to the lines that follow it.
    struct LineSettings {
        enum ZoneSource { case option, file, defaulted }
        var zone: String
        var zoneSource: ZoneSource
        var shell: String?
        var environment: [EnvironmentVariable] = []
        var mailTo: String?
        var randomDelay: Int?

        /// Records `name=value`; returns why it is refused, if it is.
        mutating func apply(name: String, value: String) -> String? {
            switch name {
            case "CRON_TZ", "TZ":
                guard ScheduleTimeZone.named(value) != nil else { return "\(name)=\(value) is not an IANA time zone (e.g. Europe/Berlin)" }
                zone = value
                zoneSource = .file
                // TZ is also in the environment cron gives the command (its `date` shows local time).
                if name == "TZ" { set(name, value) }
            case "SHELL":
                guard !value.isEmpty else { return "SHELL= is empty: cron could not run the commands below it" }
                shell = value
            case "MAILTO", "MAILFROM":
                mailTo = value.isEmpty ? nil : value
            case "RANDOM_DELAY":
                guard let minutes = Int(value), value.allSatisfy(\.isASCII), (0...1440).contains(minutes) else {
                    return "RANDOM_DELAY=\(value) is not a number of minutes from 0 to 1440 (a flexible time window's limit)"
                }
                randomDelay = minutes == 0 ? nil : minutes
            default:
                set(name, value)
            }
            return nil
        }

        mutating func set(_ name: String, _ value: String) {
            if let i = environment.firstIndex(where: { $0.name == name }) {
                environment[i].value = value
            } else {
                environment.append(EnvironmentVariable(name: name, value: value))
            }
        }

        /// The notes every schedule converted under these settings carries.
        var notes: [String] {
            var notes: [String] = []
            switch zoneSource {
            case .file: notes.append("Time zone \(zone) comes from CRON_TZ/TZ in the crontab.")
            case .defaulted:
                notes.append(
                    "No time zone was given (--time-zone or CRON_TZ): the schedule runs in UTC, where cron ran in the server's local time zone."
                )
            case .option: break
            }
            if let shell { notes.append("SHELL=\(shell): the command runs as \(shell) -c, as cron ran it (the image must have \(shell)).") }
            if !environment.isEmpty {
                notes.append(
                    "Environment from the crontab (\(environment.map(\.name).joined(separator: ", "))) is set as container environment overrides, as cron set it for the command."
                )
            }
            if let mailTo {
                notes.append(
                    "MAILTO=\(mailTo) is not carried over: cron mailed the job's output; a task's output goes to its log driver (awslogs: CloudWatch Logs), and an EventBridge rule on \"ECS Task State Change\" can alert on failed runs."
                )
            }
            if let randomDelay {
                notes.append(
                    "RANDOM_DELAY=\(randomDelay) becomes a \(randomDelay)-minute flexible time window: Scheduler starts each run at a random moment within it, as cronie delayed it."
                )
            }
            return notes
        }
    }

    static func environmentAssignment(_ line: String) -> (String, String)? {
        guard let eq = line.firstIndex(of: "=") else { return nil }
        let name = line[..<eq].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !(name.first?.isNumber ?? true) else {
            return nil
        }
        var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        if value.count >= 2, (value.hasPrefix("\"") && value.hasSuffix("\"")) || (value.hasPrefix("'") && value.hasSuffix("'")) {
            value = String(value.dropFirst().dropLast())
        }
        return (name, value)
    }

    // MARK: Schedule lines

    /// The first `count` whitespace-separated fields of `line` (crontab(5): spaces or tabs) and the rest of the
    /// line after the blanks that follow them; nil when the line has fewer fields.
    static func splitFields(_ line: String, count: Int) -> (fields: [String], rest: String)? {
        var fields: [String] = []
        var index = line.startIndex
        func isBlank(_ c: Character) -> Bool { c == " " || c == "\t" }
        while fields.count < count {
            while index < line.endIndex, isBlank(line[index]) { index = line.index(after: index) }
            guard index < line.endIndex else { return nil }
            let start = index
            while index < line.endIndex, !isBlank(line[index]) { index = line.index(after: index) }
            fields.append(String(line[start..<index]))
        }
        while index < line.endIndex, isBlank(line[index]) { index = line.index(after: index) }
        return (fields, String(line[index...]))
    }

    static func convertLine(
        _ line: String, lineNumber: Int, kind: CrontabKind, settings: LineSettings, now: Date
    ) throws -> [ConvertedSchedule] {
        var notes: [String] = []
        let fields: [String]
        var command: String
        if line.hasPrefix("@") {
            let (words, rest) = splitFields(line, count: 1)!
            let macro = words[0].lowercased()
            if macro == "@reboot" {
                throw RefusalReason(
                    "@reboot runs when the machine boots; a schedule has no boot to follow. Run it as part of the service's start-up instead."
                )
            }
            guard let expansion = macros[macro] else { throw RefusalReason("Unknown macro \(words[0])") }
            guard !rest.isEmpty else { throw RefusalReason("The line has no command") }
            fields = expansion.split(separator: " ").map(String.init)
            command = rest
            notes.append("\(words[0]) is \(expansion) in cron.")
        } else {
            guard let (words, rest) = splitFields(line, count: 5), !rest.isEmpty else {
                throw RefusalReason(
                    kind == .system
                        ? "A system crontab line needs five time fields, the user and a command"
                        : "A crontab line needs five time fields and a command")
            }
            fields = words
            command = rest
        }
        var user: String?
        if kind == .system {
            let split = try splitUser(command)
            user = split.user
            command = split.command
            notes.append(userNote(split.user))
        }
        command = try cronCommand(command, notes: &notes)

        let minutes = try Field.parse(fields[0], range: 0...59, what: "minute")
        let hours = try Field.parse(fields[1], range: 0...23, what: "hour")
        let days = try Field.parse(fields[2], range: 1...31, what: "day of month")
        let months = try Field.parse(fields[3], range: 1...12, names: monthNames, nameBase: 1, what: "month")
        // Cron: 0 and 7 are Sunday. AWS: 1-7 are SUN-SAT.
        let weekdays = try Field.parse(fields[4], range: 0...7, names: dayNames, what: "day of week").sundayAsZero()
        let minuteText = minutes.aws()
        let hourText = hours.aws()
        let monthText = months.aws()
        let base = CrontabJobName.name(forCommand: command)
        let lineNotes = notes + settings.notes + ["AWS cron has a sixth field, the year: * (every year)."]
        func schedule(_ dom: String, _ dow: String, _ extra: [String]) -> ConvertedSchedule {
            ConvertedSchedule(
                line: lineNumber, original: line, name: base,
                expression: "cron(\(minuteText) \(hourText) \(dom) \(monthText) \(dow) *)", timeZone: settings.zone,
                command: [settings.shell ?? "sh", "-c", command], user: user, environment: settings.environment,
                flexibleWindowMinutes: settings.randomDelay, notes: extra + lineNotes)
        }
        let weekdayText = weekdays.aws(shift: 1, increments: false)
        let weekdayNote =
            "Day of week \(fields[4]) is \(weekdayText) in AWS, which numbers SUN-SAT as 1-7 (cron: 0-7, with 0 and 7 both Sunday)."
        let domOnly = "AWS needs ? in day of week when day of month is given."
        let dowOnly = "AWS needs ? in day of month when day of week is given."

        // Vixie cron (and cronie) set DOM_STAR / DOW_STAR when a field's text begins with `*` (`*/2` too). With
        // either flag a day must match BOTH fields; without, EITHER. A `*` field matches every day, so under AND
        // only the other field counts.
        var converted: [ConvertedSchedule]
        if days.startsWithStar || weekdays.startsWithStar {
            switch (days.isAll, weekdays.isAll) {
            case (true, true):
                converted = [schedule("*", "?", [domOnly])]
            case (true, false):
                converted = [schedule("?", weekdayText, [weekdayNote, dowOnly])]
            case (false, true):
                try requirePossibleDays(days, months, fields: fields)
                converted = [schedule(days.aws(), "?", [domOnly])]
            case (false, false):
                throw RefusalReason(
                    "Cron runs this line only on days that match both the day of month \(fields[2]) and the day of week \(fields[4]) (a day field that starts with * makes cron require both); an AWS cron expression takes one of the two fields, never both. Split the line into schedules that name the days, or keep one of the fields"
                )
            }
        } else if days.isAll || weekdays.isAll {
            let full = days.isAll ? "day of month \(fields[2])" : "day of week \(fields[4])"
            converted = [
                schedule(
                    "*", "?",
                    [
                        "Cron runs this line when the day of month OR the day of week matches; \(full) matches every day, so it runs every day.",
                        domOnly,
                    ])
            ]
        } else {
            // Cron runs when EITHER field matches; AWS cannot say that in one expression: two schedules.
            var byDay = schedule(
                days.aws(), "?",
                [
                    "Cron runs this line when the day of month OR the day of week matches; AWS cannot express OR, so it is split in two schedules (this one: the days of the month)."
                ])
            var byWeekday = schedule(
                "?", weekdayText,
                [
                    weekdayNote,
                    "Cron runs this line when the day of month OR the day of week matches; AWS cannot express OR, so it is split in two schedules (this one: the days of the week).",
                ])
            byDay.name = base + "-dom"
            byWeekday.name = base + "-dow"
            if (try? requirePossibleDays(days, months, fields: fields)) == nil {
                byWeekday.notes.insert(
                    "The day-of-month half (\(fields[2]) in month \(fields[3])) never happens, so only the day-of-week schedule is kept.",
                    at: 0)
                converted = [byWeekday]
            } else {
                converted = [byDay, byWeekday]
            }
        }
        if let leapNote = leapYearNote(days, months),
            let i = converted.firstIndex(where: { $0.expressionFields[2] != "*" && $0.expressionFields[2] != "?" })
        {
            converted[i].notes.insert(leapNote, at: 0)
        }
        // Daylight saving: cron runs a fixed-time job whose time is skipped right after the change; Scheduler skips it.
        if !minutes.startsWithStar && !hours.startsWithStar, let zone = ScheduleTimeZone.named(settings.zone) {
            for i in converted.indices {
                if let note = daylightSavingNote(converted[i].expression, zone: zone, name: settings.zone, from: now) {
                    converted[i].notes.insert(note, at: 0)
                }
            }
        }
        return converted
    }

    static func maximumDays(inMonth month: Int) -> Int {
        switch month {
        case 2: 29
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Refuses a day-of-month field that no month of the month field has (`31 2`: there is no February 31).
    static func requirePossibleDays(_ days: Field, _ months: Field, fields: [String]) throws {
        let possible = days.values.contains { day in months.values.contains { day <= maximumDays(inMonth: $0) } }
        if !possible {
            throw RefusalReason(
                "This line never runs: no month in \(fields[3]) has day \(fields[2]); cron never runs it either, and an AWS schedule that never fires is only clutter"
            )
        }
    }

    static func leapYearNote(_ days: Field, _ months: Field) -> String? {
        guard !days.isAll, days.values.contains(29), months.values == [2] else { return nil }
        let otherDays = days.values.filter { $0 < 29 }
        return otherDays.isEmpty
            ? "February 29 happens only in leap years: the schedule runs once every four years (2100 is not a leap year), as cron does."
            : nil
    }

    /// A note when a fixed time of `expression` falls in a daylight-saving gap of `zone` within the next three
    /// years: the first day it happens.
    static func daylightSavingNote(_ expression: String, zone: TimeZone, name: String, from start: Date) -> String? {
        guard let parsed = try? ScheduleExpression(expression), case .cron(let cron) = parsed.kind else { return nil }
        var cursor = start
        for _ in 0..<8 {
            guard let transition = zone.nextDaylightSavingTimeTransition(after: cursor) else { return nil }
            cursor = transition
            let before = zone.secondsFromGMT(for: transition.addingTimeInterval(-1))
            let after = zone.secondsFromGMT(for: transition)
            guard after > before else { continue }
            // Clocks jump from gapStart to gapStart + (after - before): times in between do not exist that day.
            let gapStart = LocalDateTime(localSeconds: LocalDateTime.wholeSeconds(transition) + before)
            let gapEnd = LocalDateTime(localSeconds: gapStart.localSeconds + after - before)
            guard cron.months.contains(gapStart.month), cron.years?.contains(gapStart.year) ?? true,
                cron.days(year: gapStart.year, month: gapStart.month).contains(gapStart.day)
            else { continue }
            for hour in cron.hours {
                for minute in cron.minutes {
                    let time = LocalDateTime(year: gapStart.year, month: gapStart.month, day: gapStart.day, hour: hour, minute: minute)
                    guard time >= gapStart, time < gapEnd else { continue }
                    func hm(_ t: LocalDateTime) -> String { String(t.description.dropFirst(11).prefix(5)) }
                    return
                        "In \(name) clocks skip from \(hm(gapStart)) to \(hm(gapEnd)) on \(String(time.description.prefix(10))): EventBridge Scheduler does not run the \(hm(time)) occurrence that day, where cron runs a job whose time was skipped right after the change."
                }
            }
        }
        return nil
    }

    /// The user and the command of what follows the time fields on a system crontab line.
    static func splitUser(_ rest: String) throws -> (user: String, command: String) {
        guard let (words, command) = splitFields(rest, count: 1) else { throw RefusalReason("The line has no user and no command") }
        let user = words[0]
        guard isUserName(user) else {
            throw RefusalReason(
                "In a system crontab the sixth field is the user cron runs the command as, and '\(user)' is not a user name. If this file is a user's crontab (crontab -l), convert it with --user-crontab"
            )
        }
        guard !command.isEmpty else { throw RefusalReason("The line has no command after the user \(user)") }
        return (user, command)
    }

    /// Why the user is not in the schedule: ECS RunTask's ContainerOverride has name, command, environment,
    /// environmentFiles, cpu, memory, memoryReservation and resourceRequirements, but no user (the botocore ecs model).
    static func userNote(_ user: String) -> String {
        "Cron ran the command as \(user). A schedule cannot choose the user (ECS RunTask's container overrides have no user): set \"user\": \"\(user)\" on the container in the task definition (User in an AWS::ECS::TaskDefinition's ContainerDefinitions), or the command runs as the image's USER."
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
                throw RefusalReason(
                    "An unescaped % sends the rest of the line to the command's standard input; write the input with a pipe (printf ... | command) and convert again"
                )
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        if out.contains("\\%") || text.contains("\\%") { notes.append("\\% in the command became %.") }
        guard !out.isEmpty else { throw RefusalReason("The line has no command") }
        return out
    }

    /// A cron time field: the values it matches, and whether its text began with `*` (cron's DOM_STAR/DOW_STAR).
    struct Field {
        var values: Set<Int>
        var range: ClosedRange<Int>
        var startsWithStar: Bool

        var isAll: Bool { values.count == range.count }

        static func parse(_ text: String, range: ClosedRange<Int>, names: [String]? = nil, nameBase: Int = 0, what: String) throws -> Field
        {
            var values = Set<Int>()
            for part in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard !part.isEmpty else { throw RefusalReason("Empty item in the \(what) field '\(text)'") }
                var step = 1
                var body = part
                if let slash = part.firstIndex(of: "/") {
                    let stepText = part[part.index(after: slash)...]
                    guard stepText.allSatisfy({ $0.isASCII && $0.isNumber }), let s = Int(stepText), s > 0 else {
                        throw RefusalReason("Invalid step in the \(what) field '\(part)'")
                    }
                    step = s
                    body = String(part[..<slash])
                }
                var low = range.lowerBound, high = range.upperBound
                if body != "*" {
                    let ends = body.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                    guard ends.count <= 2 else { throw RefusalReason("Invalid range in the \(what) field '\(part)'") }
                    low = try value(ends[0], range: range, names: names, nameBase: nameBase, what: what)
                    high =
                        ends.count == 2
                        ? try value(ends[1], range: range, names: names, nameBase: nameBase, what: what)
                        : (part.contains("/") ? range.upperBound : low)
                    guard low <= high else { throw RefusalReason("The range \(body) in the \(what) field runs backwards") }
                }
                var v = low
                while v <= high { values.insert(v); v += step }
            }
            return Field(values: values, range: range, startsWithStar: text.hasPrefix("*"))
        }

        /// A day-of-week field with Sunday as 0 only (cron also writes it 7): values in 0...6.
        func sundayAsZero() -> Field {
            Field(values: Set(values.map { $0 == 7 ? 0 : $0 }), range: 0...6, startsWithStar: startsWithStar)
        }

        static func value(_ text: String, range: ClosedRange<Int>, names: [String]?, nameBase: Int, what: String) throws -> Int {
            // Digits only: crontab(5) numbers have no sign.
            if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text) {
                guard range.contains(n) else {
                    throw RefusalReason("\(n) is out of range \(range.lowerBound)-\(range.upperBound) for the \(what) field")
                }
                return n
            }
            if let names, let i = names.firstIndex(of: text.uppercased()) { return i + nameBase }
            throw RefusalReason("'\(text)' is not a valid \(what)")
        }

        /// AWS's text for the field: `*`, a single value, a `start/step` run (where AWS allows increments; not in
        /// day-of-week), or a list with ranges compressed. `shift` renumbers the values (cron's 0-6 days to AWS's 1-7).
        func aws(shift: Int = 0, increments: Bool = true) -> String {
            if isAll { return "*" }
            return Self.render(values, upperBound: range.upperBound + shift, shift: shift, increments: increments)
        }

        static func render(_ values: Set<Int>, upperBound: Int, shift: Int = 0, increments: Bool = true) -> String {
            let sorted = values.sorted().map { $0 + shift }
            if increments, sorted.count > 2 {
                let step = sorted[1] - sorted[0]
                let isProgression = step > 1 && zip(sorted, sorted.dropFirst()).allSatisfy { $1 - $0 == step }
                if isProgression && sorted.last! + step > upperBound { return "\(sorted[0])/\(step)" }
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
