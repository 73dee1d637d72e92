import JSONCore

/// What runs each converted command: an ECS task, its cluster and task definition, the container whose command is
/// overridden, and the role EventBridge Scheduler assumes to call RunTask.
public struct CrontabTarget: Sendable, Equatable {
    public var cluster: String
    public var taskDefinition: String
    public var container: String
    public var roleArn: String

    public init(cluster: String, taskDefinition: String, container: String = "app", roleArn: String) {
        self.cluster = cluster
        self.taskDefinition = taskDefinition
        self.container = container
        self.roleArn = roleArn
    }
}

extension CrontabConversion {
    /// A report for people: each schedule with its expression and the reasons for every change, then refusals.
    public var report: String {
        var out = ""
        for s in schedules {
            out += "line \(s.line): \(s.original)\n"
            out += "  → \(s.name): \(s.expression) in \(s.timeZone)\n"
            out += "    command: \(s.command.joined(separator: " "))\n"
            for variable in s.environment { out += "    environment: \(variable.name)=\(variable.value)\n" }
            if let minutes = s.flexibleWindowMinutes { out += "    flexible time window: \(minutes) minutes\n" }
            for note in s.notes { out += "    - \(note)\n" }
        }
        out += refusalReport
        out += "\(schedules.count) schedule(s), \(refusals.count) line(s) refused\n"
        return out
    }

    var refusalReport: String {
        refusals.map { "line \($0.line): \($0.text)\n  ✗ not converted: \($0.reason)\n" }.joined()
    }

    public var json: JSON {
        [
            "schedules": .array(schedules.map { s in
                var o: JSONObject = [
                    "line": .number(Double(s.line)), "crontab": .string(s.original), "name": .string(s.name),
                    "scheduleExpression": .string(s.expression), "scheduleExpressionTimezone": .string(s.timeZone),
                    "command": .array(s.command.map { .string($0) }),
                    "environment": .array(s.environment.map { ["name": .string($0.name), "value": .string($0.value)] }),
                ]
                if let minutes = s.flexibleWindowMinutes { o["flexibleWindowMinutes"] = .number(Double(minutes)) }
                o["notes"] = .array(s.notes.map { .string($0) })
                return .object(o)
            }),
            "refused": .array(refusals.map { ["line": .number(Double($0.line)), "crontab": .string($0.text), "reason": .string($0.reason)] }),
        ]
    }

    /// The properties of the `AWS::Scheduler::Schedule` (and the body of CreateSchedule, less its name) that runs
    /// `schedule` as an ECS task on `target`.
    public func scheduleProperties(_ schedule: ConvertedSchedule, target: CrontabTarget) -> JSONObject {
        var override: JSONObject = ["name": .string(target.container), "command": .array(schedule.command.map { .string($0) })]
        if !schedule.environment.isEmpty {
            override["environment"] = .array(schedule.environment.map { ["name": .string($0.name), "value": .string($0.value)] })
        }
        let input: JSON = ["containerOverrides": [.object(override)]]
        let window: JSON = schedule.flexibleWindowMinutes.map { ["Mode": "FLEXIBLE", "MaximumWindowInMinutes": .number(Double($0))] } ?? ["Mode": "OFF"]
        return [
            "Name": .string(schedule.name),
            "Description": .string("From crontab line \(schedule.line): \(schedule.original)".prefix(512).description),
            "ScheduleExpression": .string(schedule.expression),
            "ScheduleExpressionTimezone": .string(schedule.timeZone),
            "FlexibleTimeWindow": window,
            "Target": [
                "Arn": .string(target.cluster), "RoleArn": .string(target.roleArn),
                "EcsParameters": ["TaskDefinitionArn": .string(target.taskDefinition), "TaskCount": 1],
                "Input": .string(input.serialized()),
            ],
        ]
    }

    /// A CloudFormation template of `AWS::Scheduler::Schedule` resources that run each command as an ECS task, one
    /// resource for every converted schedule.
    public func cloudFormation(target: CrontabTarget) -> JSON {
        var resources = JSONObject()
        for s in schedules {
            resources[Self.logicalId(for: s.name, taken: resources)] = [
                "Type": "AWS::Scheduler::Schedule", "Properties": .object(scheduleProperties(s, target: target)),
            ]
        }
        return ["AWSTemplateFormatVersion": "2010-09-09", "Description": "Schedules migrated from a crontab by skiff crontab import", "Resources": .object(resources)]
    }

    public func cloudFormation(cluster: String, taskDefinition: String, container: String = "app", roleArn: String) -> JSON {
        cloudFormation(target: CrontabTarget(cluster: cluster, taskDefinition: taskDefinition, container: container, roleArn: roleArn))
    }

    /// `Schedule` and the name in UpperCamelCase (logical IDs are alphanumeric), numbered when two names read the
    /// same once their punctuation is gone (`backup.sh` and `backup-sh`).
    static func logicalId(for name: String, taken: JSONObject) -> String {
        let base = "Schedule" + name.split(whereSeparator: { !($0.isASCII && ($0.isLetter || $0.isNumber)) })
            .map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        var candidate = base
        var n = 2
        while taken[candidate] != nil {
            candidate = base + String(n)
            n += 1
        }
        return candidate
    }
}
