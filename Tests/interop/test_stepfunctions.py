"""Step Functions through boto3 and the AWS CLI: both query languages, errors, history, the seed's batch job
running a real script as an ECS task, and resumption after kill -9."""
import json
import os
import stat
import time

import pytest
from botocore.exceptions import ClientError

from conftest import SkiffServer

ROLE = "arn:aws:iam::000000000000:role/sfn"


def wait_done(sfn, arn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.1)
    raise AssertionError(f"{arn} still running")


def machine(sfn, name, definition):
    return sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition))["stateMachineArn"]


def test_jsonpath_machine_runs_and_records_history(skiff):
    sfn = skiff.client("stepfunctions")
    arn = machine(sfn, "jsonpath-demo", {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "ResultPath": "$.r", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.r.sum", "NumericGreaterThan": 2, "Next": "Big"}], "Default": "Small"},
        "Big": {"Type": "Succeed"}, "Small": {"Type": "Fail", "Error": "TooSmall"}}})
    run = sfn.start_execution(stateMachineArn=arn, name="r1", input='{"a": 1, "b": 2}')
    done = wait_done(sfn, run["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"a": 1, "b": 2, "r": {"sum": 3}}
    events = sfn.get_execution_history(executionArn=run["executionArn"])["events"]
    assert [e["type"] for e in events][:2] == ["ExecutionStarted", "PassStateEntered"]
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    reverse = sfn.get_execution_history(executionArn=run["executionArn"], reverseOrder=True, maxResults=2)
    assert [e["type"] for e in reverse["events"]][0] == "ExecutionSucceeded" and "nextToken" in reverse
    # Same name and input: the same execution (idempotent); other input: ExecutionAlreadyExists.
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name="r1", input='{"a": 5}')
    assert e.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    listed = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
    assert [x["name"] for x in listed] == ["r1"]


def test_jsonata_machine_with_variables(skiff):
    sfn = skiff.client("stepfunctions")
    arn = machine(sfn, "jsonata-demo", {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"total": "{% $sum($states.input.n) %}"}, "Next": "B"},
        "B": {"Type": "Pass", "Output": "{% {'total': $total, 'parts': $partition($states.input.n, 2)} %}", "End": True}}})
    run = sfn.start_execution(stateMachineArn=arn, input='{"n": [1, 2, 3]}')
    done = wait_done(sfn, run["executionArn"])
    assert json.loads(done["output"]) == {"total": 6, "parts": [[1, 2], [3]]}


def test_errors_are_aws_shaped(skiff):
    sfn = skiff.client("stepfunctions")
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name="bad", roleArn=ROLE, definition='{"StartAt":"X","States":{"P":{"Type":"Pass","End":true}}}')
    assert e.value.response["Error"]["Code"] == "InvalidDefinition"
    assert "MISSING_TRANSITION_TARGET" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:nope")
    assert e.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
    with pytest.raises(ClientError) as e:
        sfn.describe_execution(executionArn="not-an-arn")
    assert e.value.response["Error"]["Code"] == "InvalidArn"
    result = sfn.validate_state_machine_definition(definition='{"StartAt":"A","States":{"A":{"Type":"Pass"}}}')
    assert result["result"] == "FAIL" and result["diagnostics"][0]["code"] == "MISSING_TRANSITION_TARGET"


def test_stop_execution_aborts_a_waiting_execution(skiff):
    sfn = skiff.client("stepfunctions")
    arn = machine(sfn, "waits", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    run = sfn.start_execution(stateMachineArn=arn)
    sfn.stop_execution(executionArn=run["executionArn"], error="Operator", cause="stopped by hand")
    d = sfn.describe_execution(executionArn=run["executionArn"])
    assert (d["status"], d["error"], d["cause"]) == ("ABORTED", "Operator", "stopped by hand")


def test_cli_round_trip(skiff):
    out = skiff.cli("stepfunctions", "create-state-machine", "--name", "cli-demo", "--role-arn", ROLE, "--definition",
                    '{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"ok","End":true}}}')
    arn = json.loads(out.stdout)["stateMachineArn"]
    run = json.loads(skiff.cli("stepfunctions", "start-execution", "--state-machine-arn", arn).stdout)
    done = wait_done(skiff.client("stepfunctions"), run["executionArn"])
    assert done["output"] == '"ok"'
    listed = json.loads(skiff.cli("stepfunctions", "list-state-machines").stdout)
    assert any(m["name"] == "cli-demo" for m in listed["stateMachines"])


BATCH_JOB = {"QueryLanguage": "JSONata", "StartAt": "ValidateArgs", "States": {
    "ValidateArgs": {"Type": "Choice", "Choices": [{
        "Condition": "{% $exists($states.input.date) and $exists($states.input.mode) %}", "Next": "RunEcsTask"}],
        "Default": "MissingArgs"},
    "MissingArgs": {"Type": "Fail", "Error": "MissingArgs", "Cause": "required arguments: date, mode"},
    "RunEcsTask": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "Arguments": {
        "Cluster": "batch", "TaskDefinition": "php-app", "LaunchType": "FARGATE",
        "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": ["subnet-0123456789abcdef0"]}},
        "Overrides": {"ContainerOverrides": [{"Name": "app", "Command": "{% [$states.input.date, $states.input.mode] %}"}]}},
        "End": True}}}


@pytest.fixture
def batch_server(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    script = jobs / "batch.sh"
    script.write_text('#!/bin/sh\necho "batch for $1 mode $2"\n[ "$2" = "fail" ] && { echo "failing" >&2; exit 3; }\necho done\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    server = SkiffServer(state_dir=str(tmp_path / "state"), extra_args=["--image-map", f"php-app={jobs}"]).start()
    ecs = server.client("ecs")
    ecs.create_cluster(clusterName="batch")
    ecs.register_task_definition(family="php-app", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
                                 memory="512", containerDefinitions=[{
                                     "name": "app", "image": "php-app", "essential": True, "entryPoint": ["./batch.sh"],
                                     "logConfiguration": {"logDriver": "awslogs", "options": {
                                         "awslogs-group": "/batch/php-app", "awslogs-region": "us-east-1",
                                         "awslogs-stream-prefix": "batch", "awslogs-create-group": "true"}}}])
    yield server
    server.kill()


def test_seed_batch_job_through_the_cli(batch_server):
    with open(os.path.join(os.path.dirname(batch_server.log_path), "batch-sm.json"), "w") as f:
        json.dump(BATCH_JOB, f)
    out = batch_server.cli("stepfunctions", "create-state-machine", "--name", "batch-job", "--role-arn", ROLE,
                           "--definition", f"file://{f.name}")
    arn = json.loads(out.stdout)["stateMachineArn"]
    sfn = batch_server.client("stepfunctions")

    def run(inp):
        started = json.loads(batch_server.cli("stepfunctions", "start-execution", "--state-machine-arn", arn,
                                              "--input", json.dumps(inp)).stdout)
        return wait_done(sfn, started["executionArn"])

    ok = run({"date": "2024-01-01", "mode": "ok"})
    assert ok["status"] == "SUCCEEDED", ok
    assert json.loads(ok["output"])["Containers"][0]["ExitCode"] == 0
    assert json.loads(ok["output"])["StartedBy"] == "AWS Step Functions"
    failed = run({"date": "2024-01-01", "mode": "fail"})
    assert failed["status"] == "FAILED" and failed["error"] == "States.TaskFailed"
    assert json.loads(failed["cause"])["Containers"][0]["ExitCode"] == 3
    missing = run({"date": "2024-01-01"})
    assert (missing["status"], missing["error"]) == ("FAILED", "MissingArgs")
    messages = [e["message"] for e in batch_server.client("logs").filter_log_events(logGroupName="/batch/php-app")["events"]]
    assert "batch for 2024-01-01 mode ok" in messages and "failing" in messages


def test_kill_9_resumes_running_executions_without_repeating_steps(tmp_path):
    marker = tmp_path / "jobs"
    marker.mkdir()
    script = marker / "step.sh"
    script.write_text('#!/bin/sh\necho "$1" >> steps.log\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    server = SkiffServer(state_dir=str(tmp_path / "state"), extra_args=["--image-map", f"steps={marker}"]).start()
    try:
        ecs = server.client("ecs")
        ecs.create_cluster()
        ecs.register_task_definition(family="steps", containerDefinitions=[{"name": "c", "image": "steps", "memory": 128, "entryPoint": ["./step.sh"]}])
        sfn = server.client("stepfunctions")
        task = lambda label: {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
                              "Parameters": {"TaskDefinition": "steps", "Overrides": {"ContainerOverrides": [{"Name": "c", "Command": [label]}]}}}
        arn = machine(sfn, "durable", {"StartAt": "First", "States": {
            "First": {**task("first"), "ResultPath": None, "Next": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Second"},
            "Second": {**task("second"), "ResultPath": None, "End": True}}})
        run = sfn.start_execution(stateMachineArn=arn, name="durable-1")
        deadline = time.time() + 20
        while time.time() < deadline and not (marker / "steps.log").exists():
            time.sleep(0.05)
        time.sleep(0.8)  # First has finished and the execution waits in Pause
        server.kill()
        server.start()
        done = wait_done(server.client("stepfunctions"), run["executionArn"], timeout=30)
        assert done["status"] == "SUCCEEDED", done
        assert (marker / "steps.log").read_text().split() == ["first", "second"]
    finally:
        server.kill()
