import ArgumentParser
import Foundation
import JSONCore
import Schedules

/// `skiff crontab import`: migrate a crontab to EventBridge Scheduler schedules.
struct CrontabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crontab", abstract: "Migrate crontabs to AWS schedules.", subcommands: [Import.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a crontab to EventBridge Scheduler cron expressions, explaining every change.",
            discussion: """
                Each line becomes a schedule (or two, where cron's day-of-month OR day-of-week cannot be said in one AWS
                expression). Lines that cannot be expressed (@reboot, % standard input) are refused with the reason.
                --format cloudformation writes AWS::Scheduler::Schedule resources that run each command as an ECS task
                (needs --cluster and --task-definition).
                """)

        @Argument(help: "The crontab file ('-' for standard input).") var file: String
        @Option(help: "IANA time zone of the schedules (CRON_TZ/TZ lines in the file win).") var timeZone: String?
        @Option(help: "Cluster ARN for the ECS target (cloudformation).") var cluster: String?
        @Option(help: "Task definition ARN for the ECS target (cloudformation).") var taskDefinition: String?
        @Option(help: "Container whose command is overridden (cloudformation).") var container = "app"
        @Option(help: "Role Scheduler assumes to run the task (cloudformation).") var roleArn = "arn:aws:iam::000000000000:role/scheduler"
        @Option(help: "text, json or cloudformation.") var format = "text"
        @Flag(help: "Also create the schedules in a running local cloud (needs --cluster and --task-definition).") var create = false
        @Option(help: "The local cloud that --create talks to.") var endpointUrl = "http://127.0.0.1:4566"
        @Option(help: "Schedule group of the created schedules.") var group = "default"

        func validate() throws {
            guard ["text", "json", "cloudformation"].contains(format) else { throw ValidationError("--format must be text, json or cloudformation.") }
            if let timeZone, TimeZone(identifier: timeZone) == nil { throw ValidationError("--time-zone \(timeZone) is not an IANA time zone (e.g. Asia/Tokyo).") }
            if (format == "cloudformation" || create) && (cluster == nil || taskDefinition == nil) {
                throw ValidationError("--format cloudformation and --create need --cluster and --task-definition.")
            }
        }

        func run() throws {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
            guard let data, let text = String(data: data, encoding: .utf8) else { throw CommandFailure("cannot read the crontab \(file)") }
            let conversion = Crontab.convert(text, timeZone: timeZone)
            switch format {
            case "json": print(conversion.json.serialized(.pretty))
            case "cloudformation": print(conversion.cloudFormation(cluster: cluster!, taskDefinition: taskDefinition!, container: container, roleArn: roleArn).serialized(.pretty))
            default: print(conversion.report, terminator: "")
            }
            if create { try createSchedules(conversion) }
            if !conversion.refusals.isEmpty { throw ExitCode(2) }
        }

        /// CreateSchedule (EventBridge Scheduler, rest-json) for each converted schedule, on the local cloud.
        func createSchedules(_ conversion: CrontabConversion) throws {
            let template = conversion.cloudFormation(cluster: cluster!, taskDefinition: taskDefinition!, container: container, roleArn: roleArn)
            for (_, resource) in template["Resources"]?.objectValue ?? [:] {
                guard let properties = resource["Properties"], let name = properties["Name"]?.stringValue else { continue }
                var body = properties.objectValue ?? [:]
                body.removeValue(forKey: "Name")
                body["GroupName"] = .string(group)
                let path = "/schedules/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name)
                let answer: (status: Int, body: String)
                do {
                    answer = try LocalHTTP.post(endpointUrl, path: path, body: JSON.object(body).serializedBytes())
                } catch {
                    throw CommandFailure("cannot create schedule \(name) at \(endpointUrl): \(error)")
                }
                guard answer.status == 200 else {
                    throw CommandFailure("CreateSchedule \(name) failed (HTTP \(answer.status)): \(answer.body)")
                }
                FileHandle.standardError.write(Data("created schedule \(name) in group \(group)\n".utf8))
            }
        }

    }
}
