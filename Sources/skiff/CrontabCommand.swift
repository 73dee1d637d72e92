import ArgumentParser
import Foundation
import JSONCore
import Platform
import Schedules
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `skiff crontab import`: migrate a crontab to EventBridge Scheduler schedules (or EventBridge rule expressions).
struct CrontabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crontab", abstract: "Migrate crontabs to AWS schedules.", subcommands: [Import.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Convert a crontab to EventBridge Scheduler cron expressions, explaining every change.",
            discussion: """
                Each line becomes a schedule (or two, where cron's day-of-month OR day-of-week cannot be said in one \
                AWS expression), named after what its command does (cd /srv && php artisan batch:nightly: \
                batch-nightly). Lines that cannot be expressed (@reboot, % standard input, an AND of day of month \
                and day of week) are refused with the reason, on standard error in every format. Environment lines \
                carry over: SHELL runs the command, RANDOM_DELAY becomes a flexible time window, other variables \
                become container environment overrides.

                System crontabs (/etc/crontab, /etc/cron.d/*), whose sixth field is the user, are recognized by \
                their path, their header comment or their lines; --system or --user-crontab decide instead. A \
                schedule cannot set the user: a note says to set it on the task definition's container.

                --format cloudformation writes a YAML template, notes as comments: an AWS::Scheduler::Schedule for \
                each schedule and, unless --role-arn names one, the execution role they assume (ecs:RunTask of the \
                task definition on the cluster, iam:PassRole of the --pass-role roles to ECS tasks). Bare names in \
                --cluster and --task-definition become ARNs in the stack's own account and region. \
                cloudformation-json writes it as JSON, notes in Metadata. --format rules writes EventBridge rule \
                expressions, which run in UTC: a zone with one offset all year is moved to UTC, a zone with \
                daylight saving is refused.

                --create creates the schedules in a running local cloud and updates those that exist and differ; \
                with --dry-run it says what it would create or update, and writes nothing.

                Exit status: 0; 2 when a line (or, with --format rules, a rule) was refused; 1 when a schedule \
                could not be created or updated.
                """)

        @Argument(help: "The crontab file ('-' for standard input).") var file: String
        @Option(help: "IANA time zone of the schedules (CRON_TZ/TZ lines in the file win).") var timeZone: String?
        @Flag(help: "Read the file as a system crontab (/etc/crontab, /etc/cron.d): the sixth field is the user.") var system = false
        @Flag(help: "Read the file as a user's crontab (crontab -l): five time fields, then the command.") var userCrontab = false
        @Option(help: "ECS cluster name or ARN of the target (cloudformation, --create).") var cluster: String?
        @Option(help: "Task definition (family, family:revision or ARN) of the target (cloudformation, --create).") var taskDefinition:
            String?
        @Option(help: "Container whose command is overridden.") var container = "app"
        @Option(
            help:
                "Role Scheduler assumes to run the task (default: cloudformation creates one; --create uses role/scheduler in the account)."
        )
        var roleArn: String?
        @Option(
            help:
                "A role of the task definition (task role, execution role) the created role may pass to ECS; repeatable (default: any role of the account, to ECS tasks only)."
        )
        var passRole: [String] = []
        @Option(
            help:
                "Region of ARNs built from bare names (default: with --create AWS_REGION, AWS_DEFAULT_REGION, else us-east-1; in a template the stack's region)."
        )
        var region: String?
        @Option(
            help:
                "Account of ARNs built from bare names (default: with --create the account of the credentials; in a template the stack's account)."
        )
        var account: String?
        @Option(help: "text, json, cloudformation (YAML), cloudformation-json or rules.") var format = "text"
        @Flag(
            help: "Also create the schedules in a running local cloud, updating those that differ (needs --cluster and --task-definition).")
        var create = false
        @Flag(help: "With --create: say what would be created or updated, and write nothing.") var dryRun = false
        @Option(help: "The local cloud that --create talks to (default: $SKIFF_ENDPOINT, $AWS_ENDPOINT_URL, else http://127.0.0.1:4566).")
        var endpointUrl: String?
        @Option(help: "Schedule group of the schedules.") var group = "default"
        @Option(help: "Access key that --create signs with (default: AWS_ACCESS_KEY_ID, else test); skiff up maps it to an account.")
        var accessKeyId: String?

        static let formats = ["text", "json", "cloudformation", "cloudformation-json", "rules"]

        func validate() throws {
            guard Self.formats.contains(format) else {
                throw ValidationError("--format must be text, json, cloudformation, cloudformation-json or rules.")
            }
            if system && userCrontab {
                throw ValidationError("--system and --user-crontab contradict each other: a crontab is one or the other.")
            }
            if let timeZone, ScheduleTimeZone.named(timeZone) == nil {
                throw ValidationError(
                    "--time-zone \(timeZone) is not an IANA time zone (e.g. Asia/Tokyo); offsets such as UTC+9 are not zone names.")
            }
            if (format.hasPrefix("cloudformation") || create) && (cluster == nil || taskDefinition == nil) {
                throw ValidationError(
                    "--format \(format.hasPrefix("cloudformation") ? format : "cloudformation") and --create need --cluster and --task-definition."
                )
            }
            if dryRun && !create {
                throw ValidationError("--dry-run says what --create would do: pass --create with it.")
            }
            if let account, account.count != 12 || !account.allSatisfy({ $0.isASCII && $0.isNumber }) {
                throw ValidationError("--account \(account) is not a 12-digit AWS account ID.")
            }
            for (option, arn) in (roleArn.map { [("--role-arn", $0)] } ?? []) + passRole.map({ ("--pass-role", $0) })
            where !Self.isRoleArn(arn) {
                throw ValidationError("\(option) \(arn) is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME).")
            }
            if roleArn != nil && !passRole.isEmpty {
                throw ValidationError(
                    "--pass-role shapes the role the template creates; with --role-arn no role is created, so give that role iam:PassRole of the task's roles instead."
                )
            }
            guard (1...64).contains(group.count), group.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
            else {
                throw ValidationError("--group \(group) is not a schedule group name (1 to 64 letters, digits, -, _ and .).")
            }
            _ = try target(partition: "aws", region: "us-east-1", account: Self.defaultAccount)
        }

        static let defaultAccount = "000000000000"

        var effectiveRegion: String {
            region ?? ProcessInfo.processInfo.environment["AWS_REGION"] ?? ProcessInfo.processInfo.environment["AWS_DEFAULT_REGION"]
                ?? "us-east-1"
        }

        /// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, as IAM writes role ARNs.
        static func isRoleArn(_ text: String) -> Bool {
            let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            return parts.count == 6 && parts[0] == "arn" && parts[1].hasPrefix("aws") && parts[2] == "iam" && parts[3].isEmpty
                && parts[4].count == 12 && parts[4].allSatisfy({ $0.isASCII && $0.isNumber }) && parts[5].hasPrefix("role/")
                && parts[5].count > 5
        }

        /// The ECS target, with a bare cluster name or task-definition family expanded into the ARN the Scheduler
        /// target needs (a target's Arn is an ARN; a name there would fail when the schedule fires) under
        /// `partition`, `region` and `account`, which may be a template's `${AWS::...}` pseudo parameters.
        func target(partition: String, region: String, account: String) throws -> CrontabTarget? {
            guard let cluster, let taskDefinition else { return nil }
            let prefix = "arn:\(partition):ecs:\(region):\(account):"
            let clusterArn = try Self.ecsArn(
                cluster, resource: "cluster", option: "--cluster", prefix: prefix,
                arnForm: "an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME) or a cluster name",
                nameForm: "a cluster name (letters, digits, - and _, up to 255) or an ECS cluster ARN",
                isName: Self.isName)
            let taskDefinitionArn = try Self.ecsArn(
                taskDefinition, resource: "task-definition", option: "--task-definition", prefix: prefix,
                arnForm: "a task definition ARN or a family[:revision]",
                nameForm: "a family, family:revision or task definition ARN"
            ) { text in
                let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
                return (1...2).contains(pieces.count) && Self.isName(String(pieces[0]))
                    && (pieces.count == 1 || !pieces[1].isEmpty && pieces[1].allSatisfy { $0.isASCII && $0.isNumber })
            }
            return CrontabTarget(
                cluster: clusterArn, taskDefinition: taskDefinitionArn, container: container, roleArn: roleArn,
                passRoles: passRole, group: group)
        }

        /// The target of a CloudFormation template: ARNs built from bare names name the stack's partition, region and
        /// account (unless --region or --account say otherwise), so the template deploys in any account as is.
        func templateTarget() throws -> CrontabTarget? {
            try target(partition: "${AWS::Partition}", region: region ?? "${AWS::Region}", account: account ?? "${AWS::AccountId}")
        }

        /// `text` as the ARN of an ECS `resource`: an ARN of that resource as given, or a name (as `isName`
        /// accepts) expanded under `prefix`.
        static func ecsArn(
            _ text: String, resource: String, option: String, prefix: String, arnForm: String, nameForm: String,
            isName: (String) -> Bool
        ) throws -> String {
            if text.hasPrefix("arn:") {
                let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
                guard parts.count == 6, parts[2] == "ecs", parts[5].hasPrefix(resource + "/") else {
                    throw ValidationError("\(option) \(text) is not \(arnForm).")
                }
                return text
            }
            guard isName(text) else { throw ValidationError("\(option) \(text) is not \(nameForm).") }
            return prefix + resource + "/" + text
        }

        static func isName(_ text: String) -> Bool {
            (1...255).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }

        func run() throws {
            let bytes = try CommandFailure.read(file, as: "the crontab")
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw CommandFailure("the crontab \(file == "-" ? "on standard input" : file) is not UTF-8 text")
            }
            let kind: CrontabKind? = system ? .system : (userCrontab ? .user : nil)
            let path = file == "-" ? nil : file
            let conversion = Crontab.convert(text, timeZone: timeZone, kind: kind, path: path)
            let endpoint = endpointUrl ?? LocalCloudClient.defaultEndpoint()
            let client = create ? LocalCloudClient(endpoint: endpoint, region: effectiveRegion, accessKeyId: accessKeyId) : nil
            // The schedules are created in the account of the credentials; ARNs built from bare names must name it.
            var account = self.account ?? Self.defaultAccount
            if let client {
                let signedIn = try client.callerAccount()
                if let asked = self.account, asked != signedIn {
                    throw CommandFailure(
                        "--account \(asked) is not the account of access key \(client.accessKeyId) in the local cloud (\(signedIn)): pass that key's account, or map the key with `skiff up --account KEY=\(asked)`"
                    )
                }
                account = signedIn
            }
            let source = path ?? "standard input"
            switch format {
            case _ where format.hasPrefix("cloudformation") && conversion.schedules.isEmpty:
                // A template needs a resource, and a role for no schedule is no use: write none.
                Self.standardError("No line of \(source) became a schedule: no template written.\n")
            case "json":
                var json = conversion.json.objectValue ?? [:]
                json["rules"] = conversion.rulesJSON()
                print(JSON.object(json).serialized(.pretty))
            case "cloudformation":
                let template = conversion.cloudFormationTemplate(target: try templateTarget()!, source: path)
                do {
                    print(try template.yaml(rendering: CloudFormationYAML.render), terminator: "")
                } catch {
                    throw CommandFailure("cannot write the template as YAML: \(error)")
                }
            case "cloudformation-json":
                print(conversion.cloudFormation(target: try templateTarget()!, source: path).serialized(.pretty))
            case "rules": print(conversion.rulesReport(), terminator: "")
            default: print(conversion.report, terminator: "")
            }
            if !conversion.refusals.isEmpty {
                Self.standardError("\(conversion.refusals.count) line(s) of \(source) not converted:\n" + conversion.refusalReport)
            }
            if let client, var target = try target(partition: "aws", region: effectiveRegion, account: account) {
                // The local cloud runs the task with the role named; a template creates its own, a local cloud has none to create.
                target.roleArn = roleArn ?? "arn:aws:iam::\(account):role/scheduler"
                let failures = applySchedules(conversion, target: target, scheduler: LocalSchedules(client: client, group: group))
                if failures > 0 {
                    throw CommandFailure(
                        "\(failures) of \(conversion.schedules.count) schedule(s) could not be created or updated (see above)")
                }
            }
            let rulesRefused = format == "rules" && conversion.ruleExpressions().contains { $0.refusal != nil }
            if !conversion.refusals.isEmpty || rulesRefused { throw ExitCode(2) }
        }

        static func standardError(_ text: String) {
            FileHandle.standardError.write(Data(text.utf8))
        }

        /// Brings every converted schedule into the local cloud: CreateSchedule where the group has none of that
        /// name, UpdateSchedule where the one there differs (keeping its State, which the crontab does not set),
        /// nothing where it is the same; with --dry-run, only says which. Each failure is reported and the others
        /// still applied. Returns how many failed.
        func applySchedules(_ conversion: CrontabConversion, target: CrontabTarget, scheduler: LocalSchedules) -> Int {
            var failures = 0
            var counts: [String: Int] = [:]
            for schedule in conversion.schedules {
                var body = conversion.scheduleProperties(schedule, target: target)
                body.removeValue(forKey: "Name")
                body["GroupName"] = .string(group)
                let name = schedule.name
                do {
                    let existing = try scheduler.get(name)
                    switch CrontabScheduleChange.between(desired: body, existing: existing) {
                    case .create:
                        if !dryRun { try scheduler.write(name, body: body, update: false) }
                        Self.standardError("\(dryRun ? "would create" : "created") schedule \(name) in group \(group)\n")
                        counts["create", default: 0] += 1
                    case .update(let changes):
                        if let state = existing?["State"] { body["State"] = state }
                        if !dryRun { try scheduler.write(name, body: body, update: true) }
                        var message = "\(dryRun ? "would update" : "updated") schedule \(name) in group \(group):\n"
                        for change in changes {
                            let input = change.path == "Target.Input"
                            message +=
                                "  \(change.path): \(Self.shortText(change.old, isJSONText: input)) → \(Self.shortText(change.new, isJSONText: input))\n"
                        }
                        if existing?["State"] == "DISABLED" { message += "  (it stays DISABLED)\n" }
                        Self.standardError(message)
                        counts["update", default: 0] += 1
                    case .unchanged:
                        Self.standardError("unchanged schedule \(name) in group \(group)\n")
                        counts["unchanged", default: 0] += 1
                    }
                } catch {
                    failures += 1
                    Self.standardError("schedule \(name): \(error)\n")
                }
            }
            let be = dryRun ? "would be " : ""
            Self.standardError(
                "\(counts["create", default: 0]) \(be)created, \(counts["update", default: 0]) \(be)updated, \(counts["unchanged", default: 0]) unchanged"
                    + (failures > 0 ? ", \(failures) failed" : "") + (dryRun ? " (dry run: nothing was written)" : "") + "\n")
            return failures
        }

        /// A field's value for one line of a change list: JSON (the JSON in a string, for `Input`, where quoting it
        /// again would escape every quote), cut at 200 characters.
        static func shortText(_ value: JSON?, isJSONText: Bool = false) -> String {
            guard let value else { return "(none)" }
            let text =
                isJSONText
                ? value.stringValue.flatMap { try? JSON(parsing: $0) }.map { $0.serialized() } ?? value.serialized() : value.serialized()
            return text.count > 200 ? String(text.prefix(200)) + "…" : text
        }
    }
}

/// The schedules of one group in the local cloud, through EventBridge Scheduler's rest-json operations.
struct LocalSchedules {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let client: LocalCloudClient
    let group: String

    func path(_ name: String) -> String {
        "/schedules/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name)
    }

    /// GetSchedule: the schedule, or nil when the group has none of that name (ResourceNotFoundException).
    func get(_ name: String) throws -> JSONObject? {
        let answer = try send(method: "GET", path: path(name), query: [("groupName", group)], body: [])
        if answer.status == 404 { return nil }
        guard answer.status == 200 else { throw Failure(description: "GetSchedule failed (HTTP \(answer.status)): \(answer.body)") }
        guard let schedule = (try? JSON(parsing: answer.body))?.objectValue else {
            throw Failure(description: "GetSchedule answered what is not a JSON object: \(answer.body.prefix(200))")
        }
        return schedule
    }

    /// CreateSchedule (POST) or UpdateSchedule (PUT) with `body`, which both take whole.
    func write(_ name: String, body: JSONObject, update: Bool) throws {
        let answer = try send(method: update ? "PUT" : "POST", path: path(name), query: [], body: JSON.object(body).serializedBytes())
        guard answer.status == 200 else {
            throw Failure(description: "\(update ? "UpdateSchedule" : "CreateSchedule") failed (HTTP \(answer.status)): \(answer.body)")
        }
    }

    func send(method: String, path: String, query: [(String, String)], body: [UInt8]) throws -> (status: Int, body: String) {
        do {
            return try client.send(service: "scheduler", method: method, path: path, query: query, body: body)
        } catch {
            throw Failure(description: "cannot reach the local cloud at \(client.endpoint): \(error)")
        }
    }
}
