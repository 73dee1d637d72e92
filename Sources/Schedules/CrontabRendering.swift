import JSONCore

/// What runs each converted command: an ECS task, its cluster and task definition, the container whose command is
/// overridden, and the role EventBridge Scheduler assumes to call RunTask.
///
/// In a CloudFormation template, `${AWS::Partition}`, `${AWS::Region}` and `${AWS::AccountId}` in the ARNs are
/// filled in where the stack deploys (`Fn::Sub`), so that ARNs built from bare names name the stack's own account.
public struct CrontabTarget: Sendable, Equatable {
    /// The cluster's ARN.
    public var cluster: String
    /// The task definition's ARN, with a revision (`family:3`) or without (the latest ACTIVE revision).
    public var taskDefinition: String
    public var container: String
    /// The role Scheduler assumes; nil: the CloudFormation template creates it (``CrontabTemplate/roleLogicalId``).
    public var roleArn: String?
    /// The roles of the task definition (task role, execution role) the created role may pass to ECS; empty: any
    /// role of the account, passed to ECS tasks only.
    public var passRoles: [String]
    /// The schedule group of the schedules.
    public var group: String

    public init(
        cluster: String, taskDefinition: String, container: String = "app", roleArn: String?,
        passRoles: [String] = [], group: String = "default"
    ) {
        self.cluster = cluster
        self.taskDefinition = taskDefinition
        self.container = container
        self.roleArn = roleArn
        self.passRoles = passRoles
        self.group = group
    }
}

/// A note said once, with the crontab lines it applies to.
public struct CrontabNote: Sendable, Equatable {
    public var text: String
    /// Line numbers, ascending.
    public var lines: [Int]
}

extension CrontabConversion {
    /// Every note of the schedules, each once with the lines it applies to, in the order first said.
    public var notesWithLines: [CrontabNote] {
        var order: [String] = []
        var lines: [String: Set<Int>] = [:]
        for schedule in schedules {
            for note in schedule.notes {
                if lines[note] == nil { order.append(note) }
                lines[note, default: []].insert(schedule.line)
            }
        }
        return order.map { CrontabNote(text: $0, lines: lines[$0]!.sorted()) }
    }

    /// The notes that apply to more than one line: said once, where every schedule would repeat them.
    public var sharedNotes: [CrontabNote] { notesWithLines.filter { $0.lines.count > 1 } }

    /// The lines that became schedules, ascending.
    var convertedLines: [Int] { Array(Set(schedules.map(\.line))).sorted() }

    /// `every line`, `line 3`, or `lines 3-5, 9`.
    func describe(lines: [Int]) -> String {
        if lines.count > 1 && lines == convertedLines { return "every line" }
        var parts: [String] = []
        var i = 0
        while i < lines.count {
            var j = i
            while j + 1 < lines.count && lines[j + 1] == lines[j] + 1 { j += 1 }
            parts.append(j - i >= 2 ? "\(lines[i])-\(lines[j])" : (i...j).map { String(lines[$0]) }.joined(separator: ", "))
            i = j + 1
        }
        return (lines.count == 1 ? "line " : "lines ") + parts.joined(separator: ", ")
    }

    /// The schedules in crontab order, grouped by the line they come from (a line can become two).
    var schedulesByLine: [[ConvertedSchedule]] {
        var groups: [[ConvertedSchedule]] = []
        for schedule in schedules {
            if let last = groups.last?.last, last.line == schedule.line {
                groups[groups.count - 1].append(schedule)
            } else {
                groups.append([schedule])
            }
        }
        return groups
    }

    /// The notes of the schedules of one line that apply to that line only: those every schedule of the line has
    /// (`common`), and those of each schedule alone.
    func ownNotes(of group: [ConvertedSchedule]) -> (common: [String], bySchedule: [[String]]) {
        let shared = Set(sharedNotes.map(\.text))
        let own = group.map { $0.notes.filter { !shared.contains($0) } }
        guard group.count > 1, let first = own.first else { return ([], own) }
        let common = first.filter { note in own.allSatisfy { $0.contains(note) } }
        return (common, own.map { $0.filter { !common.contains($0) } })
    }

    /// A report for people: how the file was read, each line with its schedules and what changed on that line
    /// alone, then the notes that apply to several lines, each said once with its lines. Refused lines are in
    /// ``refusalReport``, which the command prints on standard error.
    public var report: String {
        var out = "Read as a \(kind.kind.rawValue) crontab: \(kind.reason).\n\n"
        for group in schedulesByLine {
            out += "line \(group[0].line): \(group[0].original)\n"
            let (common, bySchedule) = ownNotes(of: group)
            for (s, notes) in zip(group, bySchedule) {
                out += "  → \(s.name): \(s.expression) in \(s.timeZone)\n"
                out += "    command: \(s.command.joined(separator: " "))\n"
                if let user = s.user { out += "    user: \(user)\n" }
                for variable in s.environment { out += "    environment: \(variable.name)=\(variable.value)\n" }
                if let minutes = s.flexibleWindowMinutes { out += "    flexible time window: \(minutes) minutes\n" }
                for note in notes { out += "    - \(note)\n" }
            }
            if !common.isEmpty {
                out += "  \(group.count == 2 ? "both" : "all \(group.count)") schedules:\n"
                for note in common { out += "    - \(note)\n" }
            }
        }
        let shared = sharedNotes
        if !shared.isEmpty {
            out += "\nNotes on several lines:\n"
            for note in shared { out += "  - \(note.text)\n    (\(describe(lines: note.lines)))\n" }
        }
        out += "\n\(schedules.count) schedule(s), \(refusals.count) line(s) refused\(refusals.isEmpty ? "" : " (on standard error)")\n"
        return out
    }

    /// The refused lines, each with the reason.
    public var refusalReport: String {
        refusals.map { "line \($0.line): \($0.text)\n  ✗ not converted: \($0.reason)\n" }.joined()
    }

    /// The conversion for programs: how the file was read, every schedule with all its notes, the refused lines.
    public var json: JSON {
        [
            "crontabKind": .string(kind.kind.rawValue),
            "crontabKindReason": .string(kind.reason),
            "schedules": .array(
                schedules.map { s in
                    var o: JSONObject = [
                        "line": .number(Double(s.line)), "crontab": .string(s.original), "name": .string(s.name),
                        "scheduleExpression": .string(s.expression), "scheduleExpressionTimezone": .string(s.timeZone),
                        "command": .array(s.command.map { .string($0) }),
                    ]
                    if let user = s.user { o["user"] = .string(user) }
                    o["environment"] = .array(s.environment.map { ["name": .string($0.name), "value": .string($0.value)] })
                    if let minutes = s.flexibleWindowMinutes { o["flexibleWindowMinutes"] = .number(Double(minutes)) }
                    o["notes"] = .array(s.notes.map { .string($0) })
                    return .object(o)
                }),
            "refused": .array(
                refusals.map { ["line": .number(Double($0.line)), "crontab": .string($0.text), "reason": .string($0.reason)] }),
        ]
    }

    /// The properties of the `AWS::Scheduler::Schedule` (and the body of CreateSchedule and UpdateSchedule, less
    /// the name) that runs `schedule` as an ECS task on `target`. Without a role ARN, the target's role is the
    /// template's own (``CrontabTemplate/roleLogicalId``).
    public func scheduleProperties(_ schedule: ConvertedSchedule, target: CrontabTarget) -> JSONObject {
        var override: JSONObject = ["name": .string(target.container), "command": .array(schedule.command.map { .string($0) })]
        if !schedule.environment.isEmpty {
            override["environment"] = .array(schedule.environment.map { ["name": .string($0.name), "value": .string($0.value)] })
        }
        let input: JSON = ["containerOverrides": [.object(override)]]
        let window: JSON =
            schedule.flexibleWindowMinutes.map { ["Mode": "FLEXIBLE", "MaximumWindowInMinutes": .number(Double($0))] } ?? ["Mode": "OFF"]
        var properties: JSONObject = ["Name": .string(schedule.name)]
        if target.group != "default" { properties["GroupName"] = .string(target.group) }
        properties["Description"] = .string(String("From crontab line \(schedule.line): \(schedule.original)".prefix(512)))
        properties["ScheduleExpression"] = .string(schedule.expression)
        properties["ScheduleExpressionTimezone"] = .string(schedule.timeZone)
        properties["FlexibleTimeWindow"] = window
        properties["Target"] = [
            "Arn": CrontabTemplate.value(target.cluster),
            "RoleArn": target.roleArn.map(CrontabTemplate.value) ?? ["Fn::GetAtt": [.string(CrontabTemplate.roleLogicalId), "Arn"]],
            "EcsParameters": ["TaskDefinitionArn": CrontabTemplate.value(target.taskDefinition), "TaskCount": 1],
            "Input": .string(input.serialized()),
        ]
        return properties
    }
}
