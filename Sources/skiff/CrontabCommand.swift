import ArgumentParser
import Foundation
import JSONCore
import Schedules

/// `skiff crontab import`: migrate a crontab to EventBridge Scheduler schedules (or EventBridge rule expressions).
struct CrontabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crontab", abstract: "Migrate crontabs to AWS schedules.", subcommands: [Import.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Convert a crontab to EventBridge Scheduler cron expressions, explaining every change.",
            discussion: """
                Each line becomes a schedule (or two, where cron's day-of-month OR day-of-week cannot be said in one AWS
                expression). Lines that cannot be expressed (@reboot, % standard input, an AND of day of month and day of
                week) are refused with the reason. Environment lines carry over: SHELL runs the command, RANDOM_DELAY
                becomes a flexible time window, other variables become container environment overrides.
                --format cloudformation writes AWS::Scheduler::Schedule resources that run each command as an ECS task
                (needs --cluster and --task-definition). --format rules writes EventBridge rule expressions, which run
                in UTC: a zone with one offset all year is moved to UTC, a zone with daylight saving is refused.
                Exit status: 0, 2 when a line (or, with --format rules, a rule) was refused, 1 when a schedule could not
                be created.
                """)

        @Argument(help: "The crontab file ('-' for standard input).") var file: String
        @Option(help: "IANA time zone of the schedules (CRON_TZ/TZ lines in the file win).") var timeZone: String?
        @Option(help: "ECS cluster name or ARN of the target (cloudformation, --create).") var cluster: String?
        @Option(help: "Task definition (family, family:revision or ARN) of the target (cloudformation, --create).") var taskDefinition: String?
        @Option(help: "Container whose command is overridden (cloudformation).") var container = "app"
        @Option(help: "Role Scheduler assumes to run the task (default: role/scheduler in --account).") var roleArn: String?
        @Option(help: "Region of ARNs built from bare names (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).") var region: String?
        @Option(help: "Account of ARNs built from bare names (default: with --create the account of the credentials, else 000000000000).") var account: String?
        @Option(help: "text, json, cloudformation or rules.") var format = "text"
        @Flag(help: "Also create the schedules in a running local cloud (needs --cluster and --task-definition).") var create = false
        @Option(help: "The local cloud that --create talks to (default: $SKIFF_ENDPOINT, $AWS_ENDPOINT_URL, else http://127.0.0.1:4566).")
        var endpointUrl: String?
        @Option(help: "Schedule group of the created schedules.") var group = "default"
        @Option(help: "Access key that --create signs with (default: AWS_ACCESS_KEY_ID, else test); skiff up maps it to an account.") var accessKeyId: String?

        func validate() throws {
            guard ["text", "json", "cloudformation", "rules"].contains(format) else {
                throw ValidationError("--format must be text, json, cloudformation or rules.")
            }
            if let timeZone, ScheduleTimeZone.named(timeZone) == nil {
                throw ValidationError("--time-zone \(timeZone) is not an IANA time zone (e.g. Asia/Tokyo); offsets such as UTC+9 are not zone names.")
            }
            if (format == "cloudformation" || create) && (cluster == nil || taskDefinition == nil) {
                throw ValidationError("--format cloudformation and --create need --cluster and --task-definition.")
            }
            if let account, account.count != 12 || !account.allSatisfy({ $0.isASCII && $0.isNumber }) {
                throw ValidationError("--account \(account) is not a 12-digit AWS account ID.")
            }
            _ = try target(account: account ?? Self.defaultAccount)
        }

        static let defaultAccount = "000000000000"

        var effectiveRegion: String {
            region ?? ProcessInfo.processInfo.environment["AWS_REGION"] ?? ProcessInfo.processInfo.environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        }

        /// The ECS target, with a bare cluster name or task-definition family expanded into the ARN the Scheduler
        /// target needs (a target's Arn is an ARN; a name there would fail when the schedule fires).
        func target(account: String) throws -> CrontabTarget? {
            guard let cluster, let taskDefinition else { return nil }
            let prefix = "arn:aws:ecs:\(effectiveRegion):\(account):"
            let clusterArn = try Self.ecsArn(
                cluster, resource: "cluster", option: "--cluster", prefix: prefix,
                arnForm: "an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME) or a cluster name",
                nameForm: "a cluster name (letters, digits, - and _, up to 255) or an ECS cluster ARN",
                isName: Self.isName)
            let taskDefinitionArn = try Self.ecsArn(
                taskDefinition, resource: "task-definition", option: "--task-definition", prefix: prefix,
                arnForm: "a task definition ARN or a family[:revision]",
                nameForm: "a family, family:revision or task definition ARN") { text in
                let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
                return (1...2).contains(pieces.count) && Self.isName(String(pieces[0]))
                    && (pieces.count == 1 || !pieces[1].isEmpty && pieces[1].allSatisfy { $0.isASCII && $0.isNumber })
            }
            return CrontabTarget(cluster: clusterArn, taskDefinition: taskDefinitionArn, container: container,
                                 roleArn: roleArn ?? "arn:aws:iam::\(account):role/scheduler")
        }

        /// `text` as the ARN of an ECS `resource`: an ARN of that resource as given, or a name (as `isName`
        /// accepts) expanded under `prefix`.
        static func ecsArn(_ text: String, resource: String, option: String, prefix: String, arnForm: String, nameForm: String,
                           isName: (String) -> Bool) throws -> String {
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
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
            guard let data, let text = String(data: data, encoding: .utf8) else { throw CommandFailure("cannot read the crontab \(file)") }
            let conversion = Crontab.convert(text, timeZone: timeZone)
            let endpoint = endpointUrl ?? LocalCloudClient.defaultEndpoint()
            let client = create ? LocalCloudClient(endpoint: endpoint, region: effectiveRegion, accessKeyId: accessKeyId) : nil
            // The schedules are created in the account of the credentials; ARNs built from bare names must name it.
            var account = self.account ?? Self.defaultAccount
            if let client {
                let signedIn = try client.callerAccount()
                if let asked = self.account, asked != signedIn {
                    throw CommandFailure("--account \(asked) is not the account of access key \(client.accessKeyId) in the local cloud (\(signedIn)): pass that key's account, or map the key with `skiff up --account KEY=\(asked)`")
                }
                account = signedIn
            }
            let target = try target(account: account)
            switch format {
            case "json":
                var json = conversion.json.objectValue ?? [:]
                json["rules"] = conversion.rulesJSON()
                print(JSON.object(json).serialized(.pretty))
            case "cloudformation": print(conversion.cloudFormation(target: target!).serialized(.pretty))
            case "rules": print(conversion.rulesReport(), terminator: "")
            default: print(conversion.report, terminator: "")
            }
            if let client, let target {
                let failures = createSchedules(conversion, target: target, client: client)
                if failures > 0 {
                    throw CommandFailure("\(failures) of \(conversion.schedules.count) schedule(s) could not be created (see above)")
                }
            }
            let rulesRefused = format == "rules" && conversion.ruleExpressions().contains { $0.refusal != nil }
            if !conversion.refusals.isEmpty || rulesRefused { throw ExitCode(2) }
        }

        /// CreateSchedule (EventBridge Scheduler, rest-json) for every converted schedule, on the local cloud; each
        /// failure is reported and the others still created. Returns how many failed.
        func createSchedules(_ conversion: CrontabConversion, target: CrontabTarget, client: LocalCloudClient) -> Int {
            var failures = 0
            for schedule in conversion.schedules {
                var body = conversion.scheduleProperties(schedule, target: target)
                body.removeValue(forKey: "Name")
                body["GroupName"] = .string(group)
                let name = schedule.name
                let path = "/schedules/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name)
                do {
                    let answer = try client.post(service: "scheduler", path: path, body: JSON.object(body).serializedBytes())
                    guard answer.status == 200 else {
                        failures += 1
                        FileHandle.standardError.write(Data("CreateSchedule \(name) failed (HTTP \(answer.status)): \(answer.body)\n".utf8))
                        continue
                    }
                    FileHandle.standardError.write(Data("created schedule \(name) in group \(group)\n".utf8))
                } catch {
                    failures += 1
                    FileHandle.standardError.write(Data("cannot create schedule \(name) at \(client.endpoint): \(error)\n".utf8))
                }
            }
            return failures
        }
    }
}
