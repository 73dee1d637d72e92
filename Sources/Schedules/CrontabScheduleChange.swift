import JSONCore

/// What importing a crontab again does to one schedule, given the schedule of that name already in the group
/// (GetSchedule's answer), so that a second `--create` brings the schedules up to date instead of failing on each.
public enum CrontabScheduleChange: Sendable, Equatable {
    /// No schedule of that name: CreateSchedule.
    case create
    /// A schedule whose fields differ: UpdateSchedule, which replaces the schedule whole.
    case update([FieldChange])
    /// The schedule already says what the crontab line says.
    case unchanged

    /// One field of a schedule that an update changes: its path (`Target.Input`), what it is and what it becomes.
    public struct FieldChange: Sendable, Equatable {
        public var path: String
        public var old: JSON?
        public var new: JSON
    }

    /// The change that turns `existing` (nil: there is none) into `desired`. Only the fields the import sets are
    /// compared: those AWS fills in itself (`State`, `RetryPolicy`, ARNs, dates) are not the crontab's to change.
    /// `Target.Input` is compared as JSON, since it is JSON in a string.
    public static func between(desired: JSONObject, existing: JSONObject?) -> CrontabScheduleChange {
        guard let existing else { return .create }
        var changes: [FieldChange] = []
        collectChanges(desired: desired, existing: existing, path: "", into: &changes)
        return changes.isEmpty ? .unchanged : .update(changes)
    }

    static func collectChanges(desired: JSONObject, existing: JSONObject, path: String, into changes: inout [FieldChange]) {
        for (key, want) in desired {
            let fieldPath = path.isEmpty ? key : path + "." + key
            let have = existing[key]
            if case .object(let wantObject) = want, case .object(let haveObject)? = have {
                collectChanges(desired: wantObject, existing: haveObject, path: fieldPath, into: &changes)
            } else if key == "Input", case .string(let wantText) = want, case .string(let haveText)? = have,
                let wantJSON = try? JSON(parsing: wantText), let haveJSON = try? JSON(parsing: haveText)
            {
                if wantJSON != haveJSON { changes.append(FieldChange(path: fieldPath, old: have, new: want)) }
            } else if have != want {
                changes.append(FieldChange(path: fieldPath, old: have, new: want))
            }
        }
    }
}
