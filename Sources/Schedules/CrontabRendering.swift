import JSONCore

extension CrontabConversion {
    /// A report for people: each schedule with its expression and the reasons for every change, then refusals.
    public var report: String {
        var out = ""
        for s in schedules {
            out += "line \(s.line): \(s.original)\n"
            out += "  → \(s.name): \(s.expression) in \(s.timeZone)\n"
            out += "    command: \(s.command.joined(separator: " "))\n"
            for note in s.notes { out += "    - \(note)\n" }
        }
        for r in refusals {
            out += "line \(r.line): \(r.text)\n  ✗ not converted: \(r.reason)\n"
        }
        out += "\(schedules.count) schedule(s), \(refusals.count) line(s) refused\n"
        return out
    }

    public var json: JSON {
        [
            "schedules": .array(schedules.map { s in
                [
                    "line": .number(Double(s.line)), "crontab": .string(s.original), "name": .string(s.name),
                    "scheduleExpression": .string(s.expression), "scheduleExpressionTimezone": .string(s.timeZone),
                    "command": .array(s.command.map { .string($0) }), "notes": .array(s.notes.map { .string($0) }),
                ]
            }),
            "refused": .array(refusals.map { ["line": .number(Double($0.line)), "crontab": .string($0.text), "reason": .string($0.reason)] }),
        ]
    }

    /// A CloudFormation template of `AWS::Scheduler::Schedule` resources that run each command as an ECS task.
    public func cloudFormation(cluster: String, taskDefinition: String, container: String = "app", roleArn: String) -> JSON {
        var resources = JSONObject()
        for s in schedules {
            let logicalId = "Schedule" + s.name.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
            let input: JSON = ["containerOverrides": [["name": .string(container), "command": .array(s.command.map { .string($0) })]]]
            resources[logicalId] = [
                "Type": "AWS::Scheduler::Schedule",
                "Properties": [
                    "Name": .string(s.name),
                    "Description": .string("From crontab line \(s.line): \(s.original)".prefix(512).description),
                    "ScheduleExpression": .string(s.expression),
                    "ScheduleExpressionTimezone": .string(s.timeZone),
                    "FlexibleTimeWindow": ["Mode": "OFF"],
                    "Target": [
                        "Arn": .string(cluster), "RoleArn": .string(roleArn),
                        "EcsParameters": ["TaskDefinitionArn": .string(taskDefinition), "TaskCount": 1],
                        "Input": .string(input.serialized()),
                    ],
                ],
            ]
        }
        return ["AWSTemplateFormatVersion": "2010-09-09", "Description": "Schedules migrated from a crontab by skiff crontab import", "Resources": .object(resources)]
    }
}
