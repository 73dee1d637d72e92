import JSONCore

/// A CloudFormation template that runs a converted crontab as ECS tasks: one `AWS::Scheduler::Schedule` for every
/// schedule and, unless the target names a role, the execution role they share, with the least privilege RunTask
/// needs. The notes travel with it: as YAML comments beside each resource (``yaml(rendering:)``) or, in JSON, which
/// has no comments, as each resource's `Metadata` (``templateWithMetadata``).
public struct CrontabTemplate: Sendable {
    /// The logical ID of the execution role the template creates.
    public static let roleLogicalId = "SchedulerRole"

    /// The comment lines of one resource.
    public struct ResourceNotes: Sendable, Equatable {
        public var logicalId: String
        public var lines: [String]
    }

    /// The template, without notes.
    public var template: JSON
    /// Lines for the top of the file: where the schedules come from, the lines not converted and why, and the
    /// notes that apply to several lines, each once.
    public var header: [String]
    /// The notes of each resource, in template order.
    public var resourceNotes: [ResourceNotes]

    /// The template with the header in the template's `Metadata` and each resource's notes in its own, under
    /// `Skiff::Notes`.
    public var templateWithMetadata: JSON {
        guard var object = template.objectValue else { return template }
        var metadata = object["Metadata"]?.objectValue ?? [:]
        metadata["Skiff::Notes"] = .array(header.map(JSON.string))
        var resources = object["Resources"]?.objectValue ?? [:]
        for notes in resourceNotes where !notes.lines.isEmpty {
            guard var resource = resources[notes.logicalId]?.objectValue else { continue }
            var resourceMetadata = resource["Metadata"]?.objectValue ?? [:]
            resourceMetadata["Skiff::Notes"] = .array(notes.lines.map(JSON.string))
            resource["Metadata"] = .object(resourceMetadata)
            resources[notes.logicalId] = .object(resource)
        }
        // Metadata after the description, where CloudFormation's own templates put it.
        var ordered: JSONObject = [:]
        for (key, value) in object where key != "Metadata" {
            if key == "Resources" { ordered["Metadata"] = .object(metadata) }
            ordered[key] = key == "Resources" ? .object(resources) : value
        }
        object = ordered
        return .object(object)
    }

    /// The template as YAML, with the header as comments at the top and each resource's notes as comments just
    /// above it. `render` writes the YAML (the Platform module's CloudFormation YAML writer: this library does no
    /// YAML of its own); its resources must be indented by two spaces, as YAML writers do by default.
    public func yaml(rendering render: (JSON) throws -> String) rethrows -> String {
        let text = try render(template)
        let notesByResource = Dictionary(resourceNotes.map { ($0.logicalId, $0.lines) }, uniquingKeysWith: { first, _ in first })
        var out = header.map { Self.comment($0, indent: "") }.joined()
        var inResources = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first != " " {
                inResources = line == "Resources:"
            } else if inResources, line.hasPrefix("  "), !line.hasPrefix("   "), line.hasSuffix(":"),
                let notes = notesByResource[String(line.dropFirst(2).dropLast())]
            {
                out += "\n" + notes.map { Self.comment($0, indent: "  ") }.joined()
            }
            out += line + "\n"
        }
        while out.hasSuffix("\n\n") { out.removeLast() }
        return out
    }

    /// `text` as one comment line: a line break in it would end the comment and be read as YAML.
    static func comment(_ text: String, indent: String) -> String {
        let flat = text.map { $0 == "\n" || $0 == "\r" ? " " : $0 }
        return indent + (flat.isEmpty ? "#" : "# " + String(flat)) + "\n"
    }

    /// `arn` as a template value: `Fn::Sub` when it names the stack's partition, region or account.
    static func value(_ arn: String) -> JSON {
        arn.contains("${AWS::") ? ["Fn::Sub": .string(arn)] : .string(arn)
    }

    /// The resources `ecs:RunTask` is allowed on for `taskDefinition`. A revision (`family:3`) is that revision
    /// alone. Without one RunTask runs the latest ACTIVE revision, authorized as that revision's ARN: the policy
    /// allows every revision (`family:*`), and the family itself, as ECS documents for policies that name a task
    /// definition ("either a specific revision, or all revisions").
    static func runTaskResources(_ taskDefinition: String) -> [JSON] {
        let resource = taskDefinition.split(separator: "/").last ?? ""
        let revision = resource.split(separator: ":", omittingEmptySubsequences: false).dropFirst().first
        if let revision, !revision.isEmpty, revision.allSatisfy({ $0.isASCII && $0.isNumber }) {
            return [value(taskDefinition)]
        }
        return [value(taskDefinition), value(taskDefinition + ":*")]
    }

    /// The role EventBridge Scheduler assumes to start the tasks, as its documentation sets one up: trusted by
    /// `scheduler.amazonaws.com` for this account only (`aws:SourceAccount`, against the confused deputy), allowed
    /// `ecs:RunTask` of the task definition on the cluster, and `iam:PassRole` of the task's roles to ECS tasks.
    static func executionRole(target: CrontabTarget) -> JSON {
        let passRoles: [JSON] =
            target.passRoles.isEmpty
            ? [["Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"]]
            : target.passRoles.map(value)
        let trust: JSON = [
            "Version": "2012-10-17",
            "Statement": [
                [
                    "Effect": "Allow", "Principal": ["Service": "scheduler.amazonaws.com"], "Action": "sts:AssumeRole",
                    "Condition": ["StringEquals": ["aws:SourceAccount": ["Ref": "AWS::AccountId"]]],
                ]
            ],
        ]
        let policy: JSON = [
            "Version": "2012-10-17",
            "Statement": [
                [
                    "Sid": "RunTask", "Effect": "Allow", "Action": "ecs:RunTask",
                    "Resource": .array(runTaskResources(target.taskDefinition)),
                    "Condition": ["ArnEquals": ["ecs:cluster": value(target.cluster)]],
                ],
                [
                    "Sid": "PassTaskRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": .array(passRoles),
                    "Condition": ["StringEquals": ["iam:PassedToService": "ecs-tasks.amazonaws.com"]],
                ],
            ],
        ]
        return [
            "Type": "AWS::IAM::Role",
            "Properties": [
                "Description": "Assumed by EventBridge Scheduler to run the schedules migrated from a crontab as ECS tasks",
                "AssumeRolePolicyDocument": trust,
                "Policies": [["PolicyName": "run-task", "PolicyDocument": policy]],
            ],
        ]
    }

    static func executionRoleNotes(target: CrontabTarget) -> [String] {
        var notes = [
            "The role EventBridge Scheduler assumes to start the tasks: only this account's schedules may use it (aws:SourceAccount), and it may only run the task definition on the cluster (ecs:RunTask, ecs:cluster) and pass roles to ECS tasks (iam:PassRole, iam:PassedToService)."
        ]
        if target.passRoles.isEmpty {
            notes.append(
                "RunTask passes the task definition's task role and execution role, so the role may pass roles; with no --pass-role given it may pass any role of this account (to ECS tasks only). Name the two roles with --pass-role to allow those alone, as AWS recommends."
            )
        }
        return notes
    }
}

extension CrontabConversion {
    /// A deployable CloudFormation template for the schedules on `target`, from the crontab at `source`.
    public func cloudFormationTemplate(target: CrontabTarget, source: String? = nil) -> CrontabTemplate {
        var resources = JSONObject()
        var resourceNotes: [CrontabTemplate.ResourceNotes] = []
        if target.roleArn == nil {
            resources[CrontabTemplate.roleLogicalId] = CrontabTemplate.executionRole(target: target)
            resourceNotes.append(.init(logicalId: CrontabTemplate.roleLogicalId, lines: CrontabTemplate.executionRoleNotes(target: target)))
        }
        for group in schedulesByLine {
            let (common, bySchedule) = ownNotes(of: group)
            for (schedule, notes) in zip(group, bySchedule) {
                let logicalId = Self.logicalId(for: schedule.name, taken: resources)
                resources[logicalId] = [
                    "Type": "AWS::Scheduler::Schedule", "Properties": .object(scheduleProperties(schedule, target: target)),
                ]
                resourceNotes.append(
                    .init(logicalId: logicalId, lines: ["line \(schedule.line): \(schedule.original)"] + (common + notes).map { "- " + $0 })
                )
            }
        }
        var header = [
            "Schedules migrated from \(source ?? "a crontab") by skiff crontab import, read as a \(kind.kind.rawValue) crontab: \(kind.reason)."
        ]
        if !refusals.isEmpty {
            header.append("Not converted (also listed on standard error):")
            for refusal in refusals {
                header.append("  line \(refusal.line): \(refusal.text)")
                header.append("    \(refusal.reason)")
            }
        }
        let shared = sharedNotes
        if !shared.isEmpty {
            header.append("Notes on several lines:")
            for note in shared { header.append("  - \(note.text) (\(describe(lines: note.lines)))") }
        }
        let template: JSON = [
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": .string(
                "Schedules migrated from \(source.map { "the crontab \($0)" } ?? "a crontab") by skiff crontab import".prefix(1024)
                    .description),
            "Resources": .object(resources),
        ]
        return CrontabTemplate(template: template, header: header, resourceNotes: resourceNotes)
    }

    /// The template as JSON, its notes in `Metadata`.
    public func cloudFormation(target: CrontabTarget, source: String? = nil) -> JSON {
        cloudFormationTemplate(target: target, source: source).templateWithMetadata
    }

    public func cloudFormation(cluster: String, taskDefinition: String, container: String = "app", roleArn: String?) -> JSON {
        cloudFormation(target: CrontabTarget(cluster: cluster, taskDefinition: taskDefinition, container: container, roleArn: roleArn))
    }

    /// `Schedule` and the name in UpperCamelCase (logical IDs are alphanumeric), numbered when two names read the
    /// same once their punctuation is gone (`backup_sh` and `backup-sh`).
    static func logicalId(for name: String, taken: JSONObject) -> String {
        let base =
            "Schedule"
            + name.split(whereSeparator: { !($0.isASCII && ($0.isLetter || $0.isNumber)) })
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
