import AWSProtocol
import JSONCore

/// The checks CreateSchedule and UpdateSchedule make of a target's `Input`, so a schedule that could never
/// deliver is refused when it is written rather than failing at every fire.
///
/// - Amazon ECS: the input becomes RunTask's `overrides`, a TaskOverride. AWS answers "Unable to convert target
///   input to TaskOverride, JSON syntax error in input: ..." for input that is not such an object.
/// - AWS Lambda, Step Functions and EventBridge (templated targets): "the input must be a well-formed JSON".
enum TargetInputCheck {
    /// TaskOverride's members (ECS API) and, inside `containerOverrides`, ContainerOverride's.
    static let taskOverrideMembers: Set<String> = [
        "containerOverrides", "cpu", "ephemeralStorage", "executionRoleArn", "inferenceAcceleratorOverrides", "memory", "taskRoleArn",
    ]
    static let containerOverrideMembers: Set<String> = [
        "name", "command", "environment", "environmentFiles", "cpu", "memory", "memoryReservation", "resourceRequirements",
    ]

    static func validate(arn: String, input: String?) throws {
        guard let input else { return }
        if arn.hasPrefix("arn:aws:ecs:") {
            if let problem = taskOverrideProblem(input) {
                throw SchedulerAPI.Errors.validationException(
                    "Unable to convert target input to TaskOverride, JSON syntax error in input: \(problem).")
            }
        } else if ["arn:aws:states:", "arn:aws:lambda:", "arn:aws:events:"].contains(where: arn.hasPrefix) {
            if (try? JSON(parsing: input)) == nil {
                throw SchedulerAPI.Errors.validationException(
                    "Invalid target input for \(arn): the input of a Lambda, Step Functions or EventBridge target must be well-formed JSON."
                )
            }
        }
    }

    /// Why `input` is not a TaskOverride, or nil when it is one.
    static func taskOverrideProblem(_ input: String) -> String? {
        let json: JSON
        do { json = try JSON(parsing: input) } catch { return "\(error)" }
        guard let members = json.objectValue else { return "expected a TaskOverride object, found \(json.typeName)" }
        for (name, value) in members {
            guard taskOverrideMembers.contains(name) else {
                return "unrecognized field \"\(name)\" (TaskOverride has \(taskOverrideMembers.sorted().joined(separator: ", ")))"
            }
            switch name {
            case "containerOverrides":
                guard let overrides = value.arrayValue else { return "containerOverrides must be a list" }
                for override in overrides {
                    guard let fields = override.objectValue else { return "each of containerOverrides must be an object" }
                    for (field, item) in fields {
                        guard containerOverrideMembers.contains(field) else {
                            return
                                "unrecognized field \"\(field)\" in containerOverrides (ContainerOverride has \(containerOverrideMembers.sorted().joined(separator: ", ")))"
                        }
                        if field == "command", item.arrayValue?.allSatisfy({ $0.stringValue != nil }) != true {
                            return "containerOverrides command must be a list of strings"
                        }
                        if field == "environment", item.arrayValue?.allSatisfy({ $0.objectValue != nil }) != true {
                            return "containerOverrides environment must be a list of {\"name\", \"value\"} objects"
                        }
                    }
                }
            case "cpu", "memory", "executionRoleArn", "taskRoleArn":
                if value.stringValue == nil { return "\(name) must be a string" }
            case "ephemeralStorage":
                if value.objectValue == nil { return "ephemeralStorage must be an object" }
            default:
                if value.arrayValue == nil { return "\(name) must be a list" }
            }
        }
        return nil
    }
}
