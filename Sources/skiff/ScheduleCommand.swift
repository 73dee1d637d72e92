import ArgumentParser
import Foundation
import Schedules

/// `skiff schedule next`: check a schedule expression and show when it fires, as the consoles do.
struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Check AWS schedule expressions.", subcommands: [Next.self])

    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "next",
            abstract: "Validate a cron(), rate() or at() expression and print its next fire times.",
            discussion: """
                Times are printed in UTC and in the time zone. Daylight saving follows EventBridge Scheduler: a \
                wall-clock time that does not exist is skipped, one that happens twice fires once. EventBridge rules \
                evaluate in UTC.

                Example:
                  skiff schedule next 'cron(0 9 ? * MON-FRI *)' --time-zone Asia/Tokyo
                """)

        @Argument(help: "The expression, e.g. 'cron(0 10 * * ? *)', 'rate(5 minutes)', 'at(2026-12-01T09:00:00)'.") var expression: String
        @Option(help: "IANA time zone the expression is evaluated in.") var timeZone = "UTC"
        @Option(help: "How many fire times to print.") var count = 10
        @Option(help: "Start from this time (ISO 8601, e.g. 2026-12-01T00:00:00Z) instead of now; also the anchor of rate().") var after:
            String?

        func validate() throws {
            if ScheduleTimeZone.named(timeZone) == nil {
                throw ValidationError(
                    "--time-zone \(timeZone) is not an IANA time zone (e.g. Asia/Tokyo); offsets such as UTC+9 are not zone names.")
            }
            if count < 1 { throw ValidationError("--count must be at least 1.") }
            if let after, Self.parseInstant(after) == nil {
                throw ValidationError("--after \(after) is not an ISO 8601 time such as 2026-12-01T00:00:00Z.")
            }
        }

        static func parseInstant(_ text: String) -> Date? {
            let formatter = ISO8601DateFormatter()
            return formatter.date(from: text)
        }

        func run() throws {
            let parsed: ScheduleExpression
            do { parsed = try ScheduleExpression(expression) } catch { throw CommandFailure(error.description) }
            let zone = ScheduleTimeZone.named(timeZone)!
            let start = after.flatMap(Self.parseInstant) ?? Date()
            let times = parsed.fireTimes(after: start, anchor: start, in: zone, count: count)
            if times.isEmpty { print("\(expression) does not fire after \(Self.format(start, in: TimeZone(identifier: "UTC")!)).") }
            let utc = TimeZone(identifier: "UTC")!
            for time in times {
                print(
                    zone == utc ? Self.format(time, in: utc) : "\(Self.format(time, in: utc))  \(Self.format(time, in: zone)) \(timeZone)")
            }
        }

        static func format(_ date: Date, in zone: TimeZone) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.timeZone = zone
            return formatter.string(from: date)
        }
    }
}
