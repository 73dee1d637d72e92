"""Step Functions across restarts of the server (kill -9, Ctrl-C): what AWS keeps through a service restart is kept
here too. Task tokens stay valid and their tasks are not started again, Wait states and execution timeouts keep their
deadlines, ECS tasks run on and report their own exit codes, and the history stays one contiguous record."""
import json
import os
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


def start_job_server(tmp_path):
    """A server with state on disk running `job.sh` (prints a line every 0.2 s, then exits with $CODE) as a task."""
    from conftest import install_programs
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    script = jobs / "job.sh"
    script.write_text('#!/bin/sh\ni=0\nwhile [ $i -lt 12 ]; do echo "step $i"; i=$((i+1)); sleep 0.2; done\nexit "$CODE"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    install_programs(jobs, "sleep")
    server = SkiffServer(state_dir=str(tmp_path / "state"), extra_args=["--image-map", f"job={jobs}", "--container-engine", "none"]).start()
    server.client("logs").create_log_group(logGroupName="/job")
    server.client("ecs").create_cluster()
    server.client("ecs").register_task_definition(family="job", containerDefinitions=[{
        "name": "app", "image": "job", "memory": 64, "entryPoint": ["./job.sh"],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/job", "awslogs-stream-prefix": "run"}}}])
    machine = server.client("stepfunctions").create_state_machine(name="job", roleArn=ROLE, definition=json.dumps({
        "StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "End": True,
                                             "Parameters": {"TaskDefinition": "job", "Overrides": {"ContainerOverrides": [
                                                 {"Name": "app", "Environment": [{"Name": "CODE", "Value.$": "$.code"}]}]}}}}}))
    return server, machine["stateMachineArn"]


def wait_for_running_task(ecs):
    deadline = time.time() + 20
    while time.time() < deadline:
        arns = ecs.list_tasks(desiredStatus="RUNNING")["taskArns"]
        if arns and ecs.describe_tasks(tasks=arns)["tasks"][0]["lastStatus"] == "RUNNING":
            return arns[0]
        time.sleep(0.05)
    raise AssertionError("the execution's task did not start")


def test_a_restart_keeps_the_running_task_and_its_execution_goes_to_succeeded(tmp_path):
    """Ctrl-C (SIGTERM) while runTask.sync waits: the task's process goes on, the next server takes it over, and the
    execution ends SUCCEEDED with the task's real exit code; the job's output reaches its log stream once, whole."""
    server, machine = start_job_server(tmp_path)
    try:
        sfn, ecs = server.client("stepfunctions"), server.client("ecs")
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"code": "0"}))["executionArn"]
        task_arn = wait_for_running_task(ecs)
        time.sleep(0.5)
        stopped_at = time.time()
        server.stop()
        with open(server.log_path) as f:
            assert "ECS tasks left running, for the next start to take over" in f.read()
        server.start()
        sfn, ecs = server.client("stepfunctions"), server.client("ecs")
        done = wait_done(sfn, execution, timeout=30)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"])["Containers"][0]["ExitCode"] == 0
        events = events_of(sfn, execution)
        assert_contiguous(events)
        # The Task state was entered, scheduled and started once, before the restart, and its events say so.
        types = [e["type"] for e in events]
        assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded",
                         "TaskStateExited", "ExecutionSucceeded"], types
        assert all(e["timestamp"].timestamp() < stopped_at for e in events[:4]), events[:4]
        task = ecs.describe_tasks(tasks=[task_arn])["tasks"][0]
        assert (task["lastStatus"], task["containers"][0]["exitCode"]) == ("STOPPED", 0)
        stream = f"run/app/{task_arn.rsplit('/', 1)[1]}"
        lines = [e["message"] for e in server.client("logs").get_log_events(logGroupName="/job", logStreamName=stream)["events"]]
        assert lines == [f"step {i}" for i in range(12)]
        with open(server.log_path) as f:
            assert "ECS task taken over" in f.read()
    finally:
        server.kill()


def test_a_task_that_ends_while_the_server_is_down_reports_its_exit_code(tmp_path):
    """kill -9 of the server; the task ends (exit 3) before the next start: its status was kept, so the execution
    fails as on AWS, with the task's exit code, not with a lost task."""
    server, machine = start_job_server(tmp_path)
    try:
        sfn, ecs = server.client("stepfunctions"), server.client("ecs")
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"code": "3"}))["executionArn"]
        wait_for_running_task(ecs)
        server.kill()
        time.sleep(3.5)  # the job runs 2.4 s
        server.start()
        done = wait_done(server.client("stepfunctions"), execution, timeout=30)
        assert (done["status"], done["error"]) == ("FAILED", "States.TaskFailed"), done
        assert json.loads(done["cause"])["Containers"][0]["ExitCode"] == 3
        # The output files of a task that ended and was shipped do not stay in the state directory.
        assert os.listdir(tmp_path / "state" / "tasks") == []
    finally:
        server.kill()
