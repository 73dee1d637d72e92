"""Step Functions across a kill -9: what AWS keeps through a service restart is kept here too. Task tokens stay
valid and their tasks are not started again, Wait states and execution timeouts keep their deadlines, and the
history stays one contiguous record."""
import json
import stat
import time

from conftest import SkiffServer
from test_stepfunctions import ROLE, wait_done


def events_of(sfn, arn):
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


def assert_contiguous(events):
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types.count("ExecutionStarted") == 1
    ends = [t for t in types if t in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")]
    assert ends == [types[-1]], types


def test_kill_9_keeps_tokens_deadlines_and_history(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    script = jobs / "notify.sh"
    script.write_text('#!/bin/sh\necho "$TOKEN" >> tokens.log\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    server = SkiffServer(state_dir=str(tmp_path / "state"), extra_args=["--image-map", f"notify={jobs}"]).start()
    try:
        ecs = server.client("ecs")
        ecs.create_cluster()
        ecs.register_task_definition(family="notify", containerDefinitions=[
            {"name": "c", "image": "notify", "memory": 128, "entryPoint": ["./notify.sh"]}])
        sfn = server.client("stepfunctions")
        create = lambda name, definition: sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition))["stateMachineArn"]

        activity = sfn.create_activity(name="review")["activityArn"]
        by_worker = create("by-worker", {"StartAt": "Prepare", "States": {
            "Prepare": {"Type": "Pass", "Result": {"doc": 1}, "Next": "Review"},
            "Review": {"Type": "Task", "Resource": activity, "End": True}}})
        callback = create("callback", {"StartAt": "Notify", "States": {"Notify": {
            "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.waitForTaskToken", "End": True,
            "Parameters": {"TaskDefinition": "notify", "Overrides": {"ContainerOverrides": [
                {"Name": "c", "Environment": [{"Name": "TOKEN", "Value.$": "$$.Task.Token"}]}]}}}}})
        pause = create("pause", {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 6, "End": True}}})
        bounded = create("bounded", {"TimeoutSeconds": 5, "StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 60, "End": True}}})

        reviewed = sfn.start_execution(stateMachineArn=by_worker, input="{}")["executionArn"]
        notified = sfn.start_execution(stateMachineArn=callback, input="{}")["executionArn"]
        paused = sfn.start_execution(stateMachineArn=pause, input="{}")["executionArn"]
        timed = sfn.start_execution(stateMachineArn=bounded, input="{}")["executionArn"]
        task = sfn.get_activity_task(activityArn=activity, workerName="reviewer")
        assert task.get("taskToken")
        deadline = time.time() + 20
        while time.time() < deadline and not (jobs / "tokens.log").exists():
            time.sleep(0.05)
        time.sleep(1.5)

        server.kill()
        server.start()
        sfn = server.client("stepfunctions")

        # The worker that took the activity before the restart finishes it with its token.
        sfn.send_task_heartbeat(taskToken=task["taskToken"])
        sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"approved": True}))
        done = wait_done(sfn, reviewed)
        assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"approved": True})
        started = [e for e in events_of(sfn, reviewed) if e["type"] == "ActivityStarted"]
        assert [e["activityStartedEventDetails"]["workerName"] for e in started] == ["reviewer"]
        assert_contiguous(events_of(sfn, reviewed))

        # The callback's ECS task ran once; its token still completes the state.
        tokens = (jobs / "tokens.log").read_text().split()
        assert len(tokens) == 1
        sfn.send_task_success(taskToken=tokens[0], output=json.dumps({"sent": True}))
        assert wait_done(sfn, notified)["status"] == "SUCCEEDED"
        time.sleep(0.5)
        assert len((jobs / "tokens.log").read_text().split()) == 1
        assert_contiguous(events_of(sfn, notified))

        # The Wait and the execution timeout count from before the restart.
        done = wait_done(sfn, paused, timeout=20)
        assert done["status"] == "SUCCEEDED"
        assert (done["stopDate"] - done["startDate"]).total_seconds() < 8.5
        assert_contiguous(events_of(sfn, paused))
        done = wait_done(sfn, timed, timeout=20)
        assert done["status"] == "TIMED_OUT"
        assert (done["stopDate"] - done["startDate"]).total_seconds() < 6.5
        assert_contiguous(events_of(sfn, timed))

        # A token of a task that has ended is TaskTimedOut, as in AWS.
        try:
            sfn.send_task_success(taskToken=task["taskToken"], output="{}")
            raise AssertionError("a closed task's token was accepted")
        except sfn.exceptions.TaskTimedOut:
            pass
    finally:
        server.kill()
