import Foundation
import Testing

@testable import Schedules

/// Numbers of any size in expressions and dates give an answer or a clear error, never a trap (issue #24).
@Suite struct ScheduleBoundsTests {
    @Test func hugeRatesAreRefusedOrComputed() throws {
        #expect { try ScheduleExpression("rate(99999999999999999999 minutes)") } throws: { error in
            (error as? ScheduleExpressionError)?.reason == "the rate value 99999999999999999999 is too large"
        }
        #expect(throws: ScheduleExpressionError.self) { try ScheduleExpression("rate(+5 minutes)") }
        let rate = try ScheduleExpression("rate(9223372036854775807 days)")
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(rate.nextFire(after: start, anchor: start, in: .gmt).map { $0 > start } == true)
    }

    @Test func hugeCronFieldsAreRefused() {
        for text in [
            "cron(99999999999999999999 * * * ? *)", "cron(0 0 L-99999999999999999999 * ? *)",
            "cron(0/99999999999999999999 * * * ? *)", "cron(0 0 ? * 2#99999999999999999999 *)",
            "cron(0 0 99999999999999999999W * ? *)", "cron(0 0 * * ? 99999999999999999999)",
        ] {
            #expect(throws: ScheduleExpressionError.self, "\(text)") { try ScheduleExpression(text) }
        }
    }

    @Test func datesOfAnySizeDoNotTrap() throws {
        let cron = try ScheduleExpression("cron(0 12 * * ? *)")
        let far = Date(timeIntervalSince1970: 1e300)
        #expect(cron.nextFire(after: far, anchor: far, in: .gmt) == nil)
        #expect(cron.nextFire(after: Date(timeIntervalSince1970: -1e300), anchor: .distantPast, in: .gmt) != nil)
        #expect(LocalDateTime(far, in: .gmt).year > 2199)
        #expect(LocalDateTime(Date(timeIntervalSince1970: .nan), in: .gmt) == LocalDateTime(year: 1970, month: 1, day: 1))
        let rate = try ScheduleExpression("rate(5 minutes)")
        #expect(rate.nextFire(after: far, anchor: .distantPast, in: .gmt) != nil)
    }
}
