import Foundation
import Testing

@testable import Schedules

/// Next-fire tables: each row is an expression, a time zone, a start, and the fire times that follow it (UTC).
@Suite struct ScheduleExpressionTests {
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    func fires(_ expression: String, zone: String = "UTC", after: String, count: Int, anchor: String? = nil) throws -> [String] {
        let parsed = try ScheduleExpression(expression)
        let start = Self.date(after)
        return parsed.fireTimes(after: start, anchor: anchor.map(Self.date) ?? start, in: TimeZone(identifier: zone)!, count: count).map(
            Self.iso)
    }

    @Test(arguments: [
        // Lists, ranges, increments and names.
        ("cron(0 10 * * ? *)", "UTC", "2026-11-24T10:00:00Z", ["2026-11-25T10:00:00Z", "2026-11-26T10:00:00Z"]),
        ("cron(0/20 9 * * ? *)", "UTC", "2026-11-24T09:15:00Z", ["2026-11-24T09:20:00Z", "2026-11-24T09:40:00Z", "2026-11-25T09:00:00Z"]),
        (
            "cron(5-50/15 8 * * ? *)", "UTC", "2026-11-24T00:00:00Z",
            ["2026-11-24T08:05:00Z", "2026-11-24T08:20:00Z", "2026-11-24T08:35:00Z", "2026-11-24T08:50:00Z"]
        ),
        (
            "cron(1/10,2,3/8 0 1 1 ? *)", "UTC", "2026-12-31T00:00:00Z",
            ["2027-01-01T00:01:00Z", "2027-01-01T00:02:00Z", "2027-01-01T00:03:00Z", "2027-01-01T00:11:00Z"]
        ),
        ("cron(0 18 ? * MON-FRI *)", "UTC", "2026-11-27T19:00:00Z", ["2026-11-30T18:00:00Z", "2026-12-01T18:00:00Z"]),
        ("cron(0 0 1 jan,Jul ? *)", "UTC", "2026-11-24T00:00:00Z", ["2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"]),
        ("cron(15 12 ? * sun 2027)", "UTC", "2026-11-24T00:00:00Z", ["2027-01-03T12:15:00Z"]),
        // Leap years: February 29 only every fourth year, and not in 2100.
        ("cron(0 12 29 2 ? *)", "UTC", "2025-01-01T00:00:00Z", ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"]),
        ("cron(0 0 29 2 ? 2096-2104)", "UTC", "2096-03-01T00:00:00Z", ["2104-02-29T00:00:00Z"]),
        ("cron(0 0 L 2 ? *)", "UTC", "2027-03-01T00:00:00Z", ["2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"]),
        ("cron(0 0 L-2 2 ? *)", "UTC", "2027-03-01T00:00:00Z", ["2028-02-27T00:00:00Z", "2029-02-26T00:00:00Z"]),
        // W: the weekday nearest a day, never leaving the month.
        ("cron(0 9 15W * ? *)", "UTC", "2026-11-01T00:00:00Z", ["2026-11-16T09:00:00Z", "2026-12-15T09:00:00Z"]),
        ("cron(0 9 1W 8,11 ? *)", "UTC", "2026-07-15T00:00:00Z", ["2026-08-03T09:00:00Z", "2026-11-02T09:00:00Z"]),
        ("cron(0 9 31W 5 ? *)", "UTC", "2026-01-01T00:00:00Z", ["2026-05-29T09:00:00Z", "2027-05-31T09:00:00Z"]),
        ("cron(0 9 LW * ? *)", "UTC", "2027-01-01T00:00:00Z", ["2027-01-29T09:00:00Z", "2027-02-26T09:00:00Z"]),
        // #: the k-th weekday of the month, and nL: the last one.
        ("cron(0 10 ? * 3#2 *)", "UTC", "2026-12-01T00:00:00Z", ["2026-12-08T10:00:00Z", "2027-01-12T10:00:00Z", "2027-02-09T10:00:00Z"]),
        ("cron(0 10 ? * TUE#5 *)", "UTC", "2026-12-01T00:00:00Z", ["2026-12-29T10:00:00Z", "2027-03-30T10:00:00Z"]),
        ("cron(0 10 ? * 6L *)", "UTC", "2026-12-01T00:00:00Z", ["2026-12-25T10:00:00Z", "2027-01-29T10:00:00Z", "2027-02-26T10:00:00Z"]),
        ("cron(0 10 ? * L *)", "UTC", "2026-11-24T00:00:00Z", ["2026-11-28T10:00:00Z", "2026-12-05T10:00:00Z"]),
        // Time zones: wall-clock times in the schedule's zone.
        ("cron(0 9 * * ? *)", "Asia/Tokyo", "2026-11-24T00:00:00Z", ["2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"]),
        // Spring forward in New York (2026-03-08 02:00 → 03:00): 02:30 does not exist that day and is skipped.
        ("cron(30 2 * * ? *)", "America/New_York", "2026-03-07T00:00:00Z", ["2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"]),
        (
            "cron(30 * * * ? *)", "America/New_York", "2026-03-08T05:00:00Z",
            ["2026-03-08T05:30:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z"]
        ),
        // Fall back (2026-11-01 02:00 → 01:00): 01:30 happens twice on the clock and fires once.
        (
            "cron(30 1 * * ? *)", "America/New_York", "2026-10-31T00:00:00Z",
            ["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
        ),
        (
            "cron(30 * * * ? *)", "America/New_York", "2026-11-01T04:00:00Z",
            ["2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z"]
        ),
        // The last year AWS accepts ends the schedule.
        ("cron(0 0 31 12 ? 2199)", "UTC", "2199-06-01T00:00:00Z", ["2199-12-31T00:00:00Z"]),
    ])
    func cronFireTimes(_ expression: String, _ zone: String, _ after: String, _ expected: [String]) throws {
        #expect(try fires(expression, zone: zone, after: after, count: expected.count + 1).prefix(expected.count) == ArraySlice(expected))
    }

    @Test func impossibleDatesNeverFire() throws {
        #expect(try fires("cron(0 0 30 2 ? *)", after: "2026-01-01T00:00:00Z", count: 1).isEmpty)
        #expect(try fires("cron(0 0 31 12 ? 2199)", after: "2199-12-31T00:00:00Z", count: 1).isEmpty)
    }

    @Test func ratesCountElapsedTimeFromTheAnchor() throws {
        #expect(
            try fires("rate(5 minutes)", after: "2026-11-24T10:07:00Z", count: 2, anchor: "2026-11-24T10:00:00Z")
                == ["2026-11-24T10:10:00Z", "2026-11-24T10:15:00Z"])
        #expect(try fires("rate(1 hour)", after: "2026-11-24T10:00:00Z", count: 1) == ["2026-11-24T11:00:00Z"])
        // A day is 24 hours, also across a daylight-saving change.
        #expect(
            try fires("rate(1 day)", zone: "America/New_York", after: "2026-03-07T17:00:00Z", count: 2)
                == ["2026-03-08T17:00:00Z", "2026-03-09T17:00:00Z"])
    }

    @Test func atIsAWallClockTimeInTheZone() throws {
        #expect(
            try fires("at(2026-11-24T09:30:00)", zone: "Asia/Tokyo", after: "2026-11-23T00:00:00Z", count: 2) == ["2026-11-24T00:30:00Z"])
        #expect(try fires("at(2026-11-24T09:30:00)", after: "2026-11-24T09:30:00Z", count: 1).isEmpty)
        // A time inside the spring-forward gap happens as the clock jumps past it.
        #expect(
            try fires("at(2026-03-08T02:30:00)", zone: "America/New_York", after: "2026-03-01T00:00:00Z", count: 1) == [
                "2026-03-08T07:30:00Z"
            ])
        #expect(try ScheduleExpression("at(2028-02-29T00:00:00)").isOneTime)
    }

    @Test(arguments: [
        ("cron(0 10 * * * *)", "cannot both be specified"),
        ("cron(0 10 ? * ? *)", "only one of day-of-month and day-of-week"),
        ("cron(0 10 * * ?)", "six fields"),
        ("cron(60 10 * * ? *)", "minutes value 60 is outside 0-59"),
        ("cron(0 24 * * ? *)", "hours value 24"),
        ("cron(0 10 ? * -1 *)", "day-of-week"),
        ("cron(0 10 ? * 8 *)", "day-of-week value 8"),
        ("cron(0 10 ? * MOO *)", "not a number or a name"),
        ("cron(0 10 1 13 ? *)", "month value 13"),
        ("cron(0 10 1 * ? 1969)", "year value 1969"),
        ("cron(0 10 1 * ? 2200)", "year value 2200"),
        ("cron(0 5-1 * * ? *)", "runs backwards"),
        ("cron(0/0 10 * * ? *)", "increment 0"),
        ("cron(0 10 ? * 3#1,6#3 *)", "one expression only"),
        ("cron(0 10 ? * 3#6 *)", "from 1 to 5"),
        ("cron(0 10 1-5W * ? *)", "W follows a single day"),
        ("cron(0 10 L,15 * ? *)", "L and W cannot be combined"),
        ("cron(0 ? 1 * ? *)", "? is allowed only"),
        ("cron(0 10 1,,2 * ? *)", "empty list item"),
        ("rate(0 minutes)", "positive"),
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "plural"),
        ("rate(5 weeks)", "plural"),
        ("rate(five minutes)", "whole number"),
        ("at(2027-02-29T00:00:00)", "yyyy-mm-ddThh:mm:ss"),
        ("at(2026-11-24 09:30:00)", "yyyy-mm-ddThh:mm:ss"),
        ("every(5 minutes)", "expected at"),
        ("cron(0 10 * * ? *", "expected at"),
    ])
    func refusesWithAReason(_ expression: String, _ reason: String) {
        do {
            _ = try ScheduleExpression(expression)
            Issue.record("\(expression) was accepted")
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
            #expect(error.expression == expression)
        }
    }

    @Test func civilCalendarMatchesFoundation() {
        // Day numbers and weekdays over four centuries agree with Foundation's Gregorian calendar.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for days in stride(from: -40_000, through: 120_000, by: 37) {
            let date = Date(timeIntervalSince1970: Double(days) * 86400)
            let c = calendar.dateComponents([.year, .month, .day, .weekday], from: date)
            let civil = CivilDate(days: days)
            #expect(civil == CivilDate(year: c.year!, month: c.month!, day: c.day!))
            #expect(civil.days == days)
            #expect(civil.weekday == c.weekday!)
        }
    }

    // MARK: Numbers are digits; L with lists is named for what it is

    @Test(arguments: ["cron(+5 12 * * ? *)", "cron(0 +12 * * ? *)", "cron(0 12 ? * +2 *)", "cron(0 12 1-+5 * ? *)"])
    func refusesSignedNumbers(_ text: String) {
        #expect(throws: ScheduleExpressionError.self) { try ScheduleExpression(text) }
    }

    @Test func explainsThatLCannotJoinAList() throws {
        let error = #expect(throws: ScheduleExpressionError.self) { try ScheduleExpression("cron(0 12 ? * MON,L *)") }
        #expect(error?.reason.contains("L cannot be combined") == true, "\(String(describing: error))")
    }

    // MARK: A rate schedule's first occurrence is its anchor

    @Test func rateFiresFirstAtItsAnchor() throws {
        let anchor = Self.date("2027-01-15T08:00:00Z")
        let rate = try ScheduleExpression("rate(5 minutes)")
        let utc = TimeZone(identifier: "UTC")!
        #expect(rate.nextFire(after: anchor.addingTimeInterval(-0.001), anchor: anchor, in: utc) == anchor)
        #expect(rate.nextFire(after: anchor, anchor: anchor, in: utc) == anchor.addingTimeInterval(300))
        #expect(rate.nextFire(after: anchor.addingTimeInterval(-3600), anchor: anchor, in: utc) == anchor)
    }
}
