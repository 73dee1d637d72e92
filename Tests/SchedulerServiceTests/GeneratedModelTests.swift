import AWSProtocol
import JSONCore
import SchedulerService
import Testing

/// What scripts/generate-models emits for a model's enums and errors, seen through the Scheduler's model.
@Suite struct GeneratedModelTests {
    @Test func enumsReadEveryValueAndKeepTheOnesTheModelDoesNotList() {
        #expect(SchedulerAPI.ScheduleState(rawValue: "ENABLED") == .enabled)
        #expect(SchedulerAPI.ScheduleState.disabled.rawValue == "DISABLED")
        // A value of a newer model survives a round trip through storage.
        let newer = SchedulerAPI.ScheduleState(rawValue: "PAUSED")
        #expect(newer == .unmodeled("PAUSED"))
        #expect(newer.rawValue == "PAUSED")
        #expect(newer.modeledCase == nil)
        #expect(SchedulerAPI.ScheduleState.allCases == [.enabled, .disabled])
        // "NONE" is not `.none`, which would be nil where an Optional is expected.
        #expect(SchedulerAPI.ActionAfterCompletion(rawValue: "NONE") == .noneValue)
    }

    @Test func aValueOutsideTheEnumIsReportedInAWSWords() throws {
        var decoder = ShapeDecoder()
        let input = try SchedulerAPI.ListSchedulesInput(json: ["State": "PAUSED"], decoder: &decoder, path: "")
        #expect(input.state == .unmodeled("PAUSED"))
        let error = try #require(decoder.report.error)
        #expect(
            error.message.contains(
                "Value 'PAUSED' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"))
    }

    @Test func errorsCarryTheModelsCodeStatusAndFault() {
        let conflict = SchedulerAPI.Errors.conflictException("Schedule nightly already exists.")
        #expect(conflict.code == "ConflictException")
        #expect(conflict.status == 409)
        #expect(conflict.isSenderFault)
        let serverError = SchedulerAPI.Errors.internalServerException("boom")
        #expect(serverError.status == 500)
        #expect(!serverError.isSenderFault)
        #expect(SchedulerAPI.Errors.resourceNotFoundException("gone").status == 404)
    }
}
