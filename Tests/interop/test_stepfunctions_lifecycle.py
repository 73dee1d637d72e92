"""Step Functions through boto3 and the AWS CLI, beyond running machines: an activity worker, HeartbeatSeconds,
versions and aliases, RedriveExecution and TestState."""
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from test_stepfunctions import ROLE, machine, wait_done


def test_activity_worker_loop(skiff):
    sfn = skiff.client("stepfunctions")
    activity = sfn.create_activity(name="thumbnail")["activityArn"]
    arn = machine(sfn, "activity-demo", {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 30, "End": True}}})
    runs = [sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": n}))["executionArn"] for n in range(3)]

    def worker():
        done = 0
        while done < 3:
            task = sfn.get_activity_task(activityArn=activity, workerName="worker-1")
            if not task.get("taskToken"):
                continue
            sfn.send_task_heartbeat(taskToken=task["taskToken"])
            n = json.loads(task["input"])["n"]
            sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"square": n * n}))
            done += 1

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    outputs = sorted(json.loads(wait_done(sfn, r)["output"])["square"] for r in runs)
    assert outputs == [0, 1, 4]
    events = sfn.get_execution_history(executionArn=runs[0])["events"]
    started = [e for e in events if e["type"] == "ActivityStarted"]
    assert started and started[0]["activityStartedEventDetails"]["workerName"] == "worker-1"
    assert any(a["activityArn"] == activity for a in sfn.list_activities()["activities"])
    with pytest.raises(ClientError) as error:
        sfn.send_task_failure(taskToken="not-a-token", error="E")
    assert error.value.response["Error"]["Code"] == "InvalidToken"


def test_versions_aliases_and_cli(skiff):
    sfn = skiff.client("stepfunctions")
    definition = lambda value: json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": value, "End": True}}})
    created = sfn.create_state_machine(name="versioned", roleArn=ROLE, definition=definition("blue"), publish=True)
    arn = created["stateMachineArn"]
    assert created["stateMachineVersionArn"] == arn + ":1"
    v2 = sfn.update_state_machine(stateMachineArn=arn, definition=definition("green"), publish=True)["stateMachineVersionArn"]
    alias = sfn.create_state_machine_alias(name="live", routingConfiguration=[
        {"stateMachineVersionArn": arn + ":1", "weight": 100}])["stateMachineAliasArn"]
    run = sfn.start_execution(stateMachineArn=alias)
    assert json.loads(wait_done(sfn, run["executionArn"])["output"]) == "blue"
    # Shift all traffic to version 2 with the AWS CLI.
    skiff.cli("stepfunctions", "update-state-machine-alias", "--state-machine-alias-arn", alias,
              "--routing-configuration", json.dumps([{"stateMachineVersionArn": v2, "weight": 100}]))
    run = sfn.start_execution(stateMachineArn=alias)
    done = wait_done(sfn, run["executionArn"])
    assert json.loads(done["output"]) == "green"
    assert done["stateMachineVersionArn"] == v2 and done["stateMachineAliasArn"] == alias
    versions = [v["stateMachineVersionArn"] for v in sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]]
    assert versions == [v2, arn + ":1"]
    with pytest.raises(ClientError) as error:
        sfn.delete_state_machine_version(stateMachineVersionArn=v2)
    assert error.value.response["Error"]["Code"] == "ConflictException"


def test_redrive_resumes_the_failed_state(skiff):
    sfn = skiff.client("stepfunctions")
    arn = machine(sfn, "redrive-demo", {"QueryLanguage": "JSONata", "StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Output": {"prepared": True}, "Next": "Flaky"},
        "Flaky": {"Type": "Pass", "End": True,
                  "Output": "{% $states.context.Execution.RedriveCount = 0 ? $error('transient') : $states.input %}"}}})
    run = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert wait_done(sfn, run)["status"] == "FAILED"
    sfn.redrive_execution(executionArn=run)
    done = wait_done(sfn, run)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1
    assert json.loads(done["output"]) == {"prepared": True}
    types = [e["type"] for e in sfn.get_execution_history(executionArn=run, maxResults=1000)["events"]]
    assert types.count("ExecutionRedriven") == 1 and types[-1] == "ExecutionSucceeded"
    with pytest.raises(ClientError) as error:
        sfn.redrive_execution(executionArn=run)
    assert error.value.response["Error"]["Code"] == "ExecutionNotRedrivable"



def test_runaway_loop_ends_at_the_history_limit(skiff):
    """AWS's hard quota of 25,000 history events: the 25,000th is ExecutionFailed, the execution can't be redriven,
    and boto3's paginator reads the whole history back (and its newest events first)."""
    sfn = skiff.client("stepfunctions")
    arn = machine(sfn, "runaway", {"StartAt": "Again", "States": {
        "Again": {"Type": "Pass", "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "BooleanEquals": True, "Next": "Done"}], "Default": "Again"},
        "Done": {"Type": "Succeed"}}})
    run = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"stop": False}))["executionArn"]
    done = wait_done(sfn, run, timeout=120)
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")
    assert done["cause"] == "The execution reached the maximum number of history events (25000)."
    assert (done["redriveStatus"], done["redriveStatusReason"]) == ("NOT_REDRIVABLE", "Execution history event limit exceeded")
    with pytest.raises(ClientError) as error:
        sfn.redrive_execution(executionArn=run)
    assert error.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    ids = [e["id"] for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=run, includeExecutionData=False, PaginationConfig={"PageSize": 1000}) for e in page["events"]]
    assert ids == list(range(1, 25001))
    newest = [e["id"] for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=run, reverseOrder=True, includeExecutionData=False, PaginationConfig={"PageSize": 1000, "MaxItems": 2000}) for e in page["events"]]
    assert newest == list(range(25000, 23000, -1))
    last = sfn.get_execution_history(executionArn=run, reverseOrder=True, maxResults=1)["events"][0]
    assert last["type"] == "ExecutionFailed" and last["executionFailedEventDetails"]["error"] == "States.Runtime"


def test_test_state(skiff):
    sfn = skiff.client("stepfunctions")
    result = sfn.test_state(definition=json.dumps({"Type": "Pass", "Parameters": {"total.$": "States.MathAdd($.a, $.b)"}, "Next": "Report"}),
                            roleArn=ROLE, input='{"a": 2, "b": 3}', inspectionLevel="DEBUG")
    assert result["status"] == "SUCCEEDED" and result["nextState"] == "Report"
    assert json.loads(result["output"]) == {"total": 5}
    assert json.loads(result["inspectionData"]["input"]) == {"a": 2, "b": 3}
    caught = sfn.test_state(definition=json.dumps({
        "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "End": True,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Cleanup"}]}),
        roleArn=ROLE, mock={"errorOutput": {"error": "ECS.AccessDeniedException", "cause": "denied"}})
    assert caught["status"] == "CAUGHT_ERROR" and caught["nextState"] == "Cleanup"
