import Foundation
import JSONCore

/// A converted schedule as EventBridge rule schedule expressions. Rules evaluate `cron()` in UTC only, so a
/// schedule in another zone is moved to UTC when the zone keeps one offset all year; a zone with daylight saving
/// would run an hour off for part of the year, and is refused with that reason.
public struct RuleScheduleConversion: Sendable, Equatable {
    public var line: Int
    public var name: String
    /// UTC expressions that together fire when the schedule does (two when moving to UTC splits its hours across
    /// midnight); empty when refused.
    public var expressions: [String]
    public var notes: [String]
    public var refusal: String?
}

extension ConvertedSchedule {
    /// This schedule as EventBridge rule expressions, for the zone's offsets from `date` on.
    public func ruleExpressions(from date: Date = Date()) -> RuleScheduleConversion {
        var result = RuleScheduleConversion(line: line, name: name, expressions: [], notes: [], refusal: nil)
        func refuse(_ reason: String) -> RuleScheduleConversion {
            result.refusal = reason
            return result
        }
        guard let zone = ScheduleTimeZone.named(timeZone), let parsed = try? ScheduleExpression(expression),
            case .cron(let cron) = parsed.kind
        else {
            return refuse("\(expression) in \(timeZone) cannot be read back")
        }
        let offset = zone.secondsFromGMT(for: date)
        guard ScheduleTimeZone.hasFixedOffset(zone, from: date) else {
            return refuse(
                "\(timeZone) changes its UTC offset for daylight saving; an EventBridge rule evaluates cron in UTC only, so the job would run an hour off for part of the year. Use the Scheduler schedule, which keeps the time zone"
            )
        }
        if offset == 0 {
            result.expressions = [expression]
            result.notes = ["EventBridge rules evaluate cron in UTC\(timeZone == "UTC" ? "" : ", and \(timeZone) is UTC all year")."]
            return result
        }
        let sign = offset > 0 ? "+" : "-"
        let offsetText = "UTC\(sign)\(abs(offset) / 3600)\(abs(offset) % 3600 == 0 ? "" : String(format: ":%02d", abs(offset) % 3600 / 60))"
        guard offset % 3600 == 0 else {
            return refuse(
                "\(timeZone) is \(offsetText): moving minutes across the hour to reach UTC is not done here. Use the Scheduler schedule, which keeps the time zone"
            )
        }
        let shift = offset / 3600
        let fields = expressionFields
        // Each local hour's UTC hour, grouped by the day it falls on in UTC (-1: the day before, +1: the day after).
        var hoursByDay: [Int: Set<Int>] = [:]
        for hour in cron.hours {
            let utc = hour - shift
            let day = utc < 0 ? -1 : (utc >= 24 ? 1 : 0)
            hoursByDay[day, default: []].insert((utc % 24 + 24) % 24)
        }
        let minuteText = Crontab.Field.render(Set(cron.minutes), upperBound: 59)
        func hourText(_ hours: Set<Int>) -> String { hours.count == 24 ? "*" : Crontab.Field.render(hours, upperBound: 23) }
        let everyDay = fields[2] == "*" && fields[4] == "?"
        result.notes = ["\(timeZone) is \(offsetText) all year; EventBridge rules evaluate cron in UTC, so the hours move by \(-shift)."]
        if hoursByDay.keys.count == 1 && hoursByDay[0] != nil || everyDay && fields[3] == "*" {
            let hours = hoursByDay.values.reduce(into: Set<Int>()) { $0.formUnion($1) }
            result.expressions = ["cron(\(minuteText) \(hourText(hours)) \(fields[2]) \(fields[3]) \(fields[4]) *)"]
            return result
        }
        guard fields[3] == "*" else {
            return refuse(
                "In UTC some runs fall on the day before or after, which can be in another month; the month field \(fields[3]) cannot follow. Use the Scheduler schedule, which keeps the time zone"
            )
        }
        guard fields[2] == "?" || everyDay, case .days(let weekdays) = cron.dayOfWeek else {
            return refuse(
                "In UTC some runs fall on the day before or after; a day of month (\(fields[2])) cannot be moved by a day in a cron expression (the 1st would become the last day of the month before). Use the Scheduler schedule, which keeps the time zone"
            )
        }
        for day in hoursByDay.keys.sorted() {
            let shifted = Set(weekdays.map { ($0 - 1 + day + 7) % 7 + 1 })
            let weekdayText = shifted.count == 7 ? "*" : Crontab.Field.render(shifted, upperBound: 7, increments: false)
            result.expressions.append("cron(\(minuteText) \(hourText(hoursByDay[day]!)) ? * \(weekdayText) *)")
        }
        if result.expressions.count > 1 {
            result.notes.append("Its hours fall on two different days in UTC, so it takes \(result.expressions.count) rules.")
        } else if let day = hoursByDay.keys.first, day != 0 {
            result.notes.append("The runs fall on the day \(day < 0 ? "before" : "after") in UTC, so the days of the week move by \(day).")
        }
        return result
    }
}

extension CrontabConversion {
    /// Every schedule as EventBridge rule expressions.
    public func ruleExpressions(from date: Date = Date()) -> [RuleScheduleConversion] {
        schedules.map { $0.ruleExpressions(from: date) }
    }

    /// The rule expressions for people. The crontab lines refused outright are in ``refusalReport``, which the
    /// command prints on standard error.
    public func rulesReport(from date: Date = Date()) -> String {
        var out = ""
        for (schedule, rule) in zip(schedules, ruleExpressions(from: date)) {
            out += "line \(schedule.line): \(schedule.original)\n"
            if let refusal = rule.refusal {
                out += "  ✗ \(rule.name): no rule expression: \(refusal)\n"
            } else {
                for expression in rule.expressions { out += "  → \(rule.name): \(expression) (UTC)\n" }
                for note in rule.notes { out += "    - \(note)\n" }
            }
        }
        return out
    }

    public func rulesJSON(from date: Date = Date()) -> JSON {
        .array(
            ruleExpressions(from: date).map { rule in
                var o: JSONObject = [
                    "line": .number(Double(rule.line)), "name": .string(rule.name),
                    "scheduleExpressions": .array(rule.expressions.map { .string($0) }),
                    "notes": .array(rule.notes.map { .string($0) }),
                ]
                if let refusal = rule.refusal { o["refused"] = .string(refusal) }
                return .object(o)
            })
    }
}
