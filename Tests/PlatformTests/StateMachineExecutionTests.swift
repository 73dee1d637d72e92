import Foundation
import Testing
import JSONCore
import Platform
import States

/// The generated on-demand state machine run on Skiff's States engine, with DefinitionSubstitutions applied
/// as Step Functions applies them, and a recording ECS integration.
@Suite struct StateMachineExecutionTests {
    actor Recorder: TaskIntegration {
        var calls: [TaskInvocation] = []
        func invoke(_ task: TaskInvocation) async throws -> JSON {
            calls.append(task)
            return ["StopCode": "EssentialContainerExited"]
        }
    }

    static let job = BatchJob(
        "sample-batch", image: "php-app", entryPoint: ["php"], command: ["artisan", "batch:sample"],
        requiredArguments: ["date", "target"], network: testNetwork)

    func machine() throws -> StateMachine {
        var text = Self.job.stateMachineDefinition.serialized()
        for (key, value) in [
            "ClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
            "TaskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/t:1",
            "SecurityGroupId": "sg-1", "Subnets": "subnet-a,subnet-b",
        ] {
            text = text.replacingOccurrences(of: "${\(key)}", with: value)
        }
        return try StateMachine(definition: text)
    }

    func run(_ input: JSON) async throws -> (ExecutionOutcome, [TaskInvocation]) {
        let recorder = Recorder()
        let engine = ExecutionEngine(machine: try machine(), integrations: recorder)
        let outcome = await engine.run(
            input: input, context: ExecutionContext(executionArn: "arn:aws:states:us-east-1:123456789012:execution:m:e", name: "e"))
        return (outcome, await recorder.calls)
    }

    @Test func definitionIsValid() throws {
        #expect(StateMachine.validate(try machine().json.serialized()).isEmpty)
    }

    @Test func runsTheTaskWithTheArgumentsAsCommand() async throws {
        let (outcome, calls) = try await run(["date": "2024-01-01", "target": "all"])
        #expect(outcome.status == .succeeded)
        let call = try #require(calls.first)
        #expect(calls.count == 1)
        #expect(call.resource == "arn:aws:states:::ecs:runTask.sync")
        #expect(call.input["Overrides"]?["ContainerOverrides"]?[0]?["Command"] == ["artisan", "batch:sample", "2024-01-01", "all"])
        #expect(call.input["NetworkConfiguration"]?["AwsvpcConfiguration"]?["Subnets"] == ["subnet-a", "subnet-b"])
        #expect(call.input["Cluster"] == "arn:aws:ecs:us-east-1:123456789012:cluster/c")
    }

    @Test func missingArgumentsFailWithoutRunningTheTask() async throws {
        let (outcome, calls) = try await run(["date": "2024-01-01"])
        #expect(outcome.status == .failed)
        #expect(outcome.error == "MissingArgs")
        #expect(calls.isEmpty)
    }
}
