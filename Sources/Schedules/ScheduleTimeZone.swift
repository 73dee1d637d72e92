import Foundation

/// The time zones AWS schedules accept: IANA names (`Asia/Tokyo`, `America/New_York`) and `UTC`.
///
/// `TimeZone(identifier:)` alone is too lenient: it also builds zones from offsets such as `GMT+5` or `UTC+9`,
/// which are not IANA names and which EventBridge Scheduler refuses. Checking against the known identifiers
/// keeps the local cloud, `skiff schedule next` and the crontab converter in step with AWS.
public enum ScheduleTimeZone {
    static let known: Set<String> = Set(TimeZone.knownTimeZoneIdentifiers).union(["UTC"])

    /// The zone called `name`, or nil when `name` is not an IANA time zone name.
    public static func named(_ name: String) -> TimeZone? {
        guard known.contains(name) else { return nil }
        return TimeZone(identifier: name)
    }

    /// Whether clocks in `zone` keep one UTC offset from `date` on (no daylight saving ahead).
    static func hasFixedOffset(_ zone: TimeZone, from date: Date) -> Bool {
        zone.nextDaylightSavingTimeTransition(after: date) == nil
    }
}
