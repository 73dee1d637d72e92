"""ECS tasks that really run (the process runner), with their output in CloudWatch Logs, through boto3 and the AWS CLI."""
import json
import os
import stat
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, SkiffServer, install_programs

BATCH_SCRIPT = """#!/bin/sh
# A batch job as the seed's php-app runs them: arguments in, lines out, an exit code.
echo "batch starting: $*"
echo "environment: JOB_ENV=$JOB_ENV"
i=0
while [ $i -lt 3 ]; do
  echo "{\\"step\\": $i, \\"status\\": \\"ok\\"}"
  i=$((i + 1))
done
if [ "$1" = "fail" ]; then
  echo "batch failed: bad input" >&2
  exit 42
fi
echo "batch done"
"""


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("php-app")
    script = directory / "batch.sh"
    script.write_text(BATCH_SCRIPT)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # A stand-in `php` on the image's PATH, so the seed's entryPoint ["php"] resolves inside the image.
    php = directory / "php"
    php.write_text("#!/bin/sh\nexec sh \"$@\"\n")
    php.chmod(0o755)
    install_programs(directory, "sh", "sleep")
    return directory


@pytest.fixture(scope="module")
def server(image_dir):
    server = SkiffServer(extra_args=["--image-map", f"php-app={image_dir}", "--container-engine", "none"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ecs(server):
    client = server.client("ecs")
    client.create_cluster()
    return client


@pytest.fixture(scope="module")
def logs(server):
    client = server.client("logs")
    client.create_log_group(logGroupName="/ecs/batch")
    return client


def register(ecs, family, image="php-app:latest", entry_point=("php",), command=("batch.sh",)):
    return ecs.register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{
            "name": "app", "image": image, "essential": True, "entryPoint": list(entry_point), "command": list(command),
            "environment": [{"name": "JOB_ENV", "value": "stg"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/batch", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "batch"}},
        }])["taskDefinition"]


NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"], "assignPublicIp": "DISABLED"}}


def wait_stopped(ecs, task_arn, timeout=30):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        task = ecs.describe_tasks(tasks=[task_arn])["tasks"][0]
        if not seen or seen[-1] != task["lastStatus"]:
            seen.append(task["lastStatus"])
        if task["lastStatus"] == "STOPPED":
            return task, seen
        time.sleep(0.05)
    raise AssertionError(f"task {task_arn} did not stop within {timeout}s (statuses {seen})")


def test_batch_job_runs_to_stopped_and_logs_its_output(ecs, logs, server):
    definition = register(ecs, "batch-ok")
    assert definition["revision"] == 1 and definition["status"] == "ACTIVE"
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="batch-ok", launchType="FARGATE")
    assert e.value.response["Error"]["Message"] == "Network Configuration must be provided when networkMode 'awsvpc' is specified."
    run = ecs.run_task(taskDefinition="batch-ok", launchType="FARGATE", networkConfiguration=NETWORK, overrides={
        "containerOverrides": [{"name": "app", "command": ["batch.sh", "2024-01-01"]}]})
    assert run["failures"] == []
    task_arn = run["tasks"][0]["taskArn"]
    assert run["tasks"][0]["lastStatus"] == "PROVISIONING"
    task, seen = wait_stopped(ecs, task_arn)
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["containers"][0]["exitCode"] == 0
    assert seen[-1] == "STOPPED"

    task_id = task_arn.rsplit("/", 1)[1]
    stream = f"batch/app/{task_id}"
    events = logs.get_log_events(logGroupName="/ecs/batch", logStreamName=stream, startFromHead=True)["events"]
    messages = [e["message"] for e in events]
    assert messages[0] == "batch starting: 2024-01-01"
    assert "environment: JOB_ENV=stg" in messages
    assert messages[-1] == "batch done"

    # JSON filter patterns over the job's structured lines.
    filtered = logs.filter_log_events(logGroupName="/ecs/batch", logStreamNames=[stream], filterPattern="{ $.step >= 1 }")
    assert [json.loads(e["message"])["step"] for e in filtered["events"]] == [1, 2]

    # The AWS CLI reads the same stream.
    out = json.loads(server.cli("logs", "get-log-events", "--log-group-name", "/ecs/batch", "--log-stream-name", stream,
                                "--start-from-head").stdout)
    assert out["events"][-1]["message"] == "batch done"


def test_failing_job_ends_with_its_exit_code(ecs, logs):
    register(ecs, "batch-fail")
    task_arn = ecs.run_task(taskDefinition="batch-fail", networkConfiguration=NETWORK, overrides={
        "containerOverrides": [{"name": "app", "command": ["batch.sh", "fail"]}]})["tasks"][0]["taskArn"]
    task, _ = wait_stopped(ecs, task_arn)
    assert task["containers"][0]["exitCode"] == 42
    assert task["stoppedReason"] == "Essential container in task exited"
    errors = logs.filter_log_events(logGroupName="/ecs/batch", filterPattern='"batch failed"')["events"]
    assert any(e["logStreamName"].endswith(task_arn.rsplit("/", 1)[1]) for e in errors)


def test_unmapped_image_stops_with_the_reason(ecs):
    register(ecs, "batch-ghost", image="123456789012.dkr.ecr.us-east-1.amazonaws.com/ghost:1")
    task_arn = ecs.run_task(taskDefinition="batch-ghost", networkConfiguration=NETWORK)["tasks"][0]["taskArn"]
    task, _ = wait_stopped(ecs, task_arn)
    assert task["stopCode"] == "TaskFailedToStart"
    assert "not mapped to a local directory" in task["stoppedReason"]
    assert "--image-map ghost=DIR" in task["stoppedReason"]


def test_unknown_task_definition_and_bad_overrides_are_aws_errors(ecs):
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="no-such-family")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert e.value.response["Error"]["Message"] == "TaskDefinition not found."
    register(ecs, "batch-overrides")
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="batch-overrides", networkConfiguration=NETWORK, overrides={"containerOverrides": [{"name": "web", "command": ["x"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="batch-overrides", cluster="no-such-cluster", networkConfiguration=NETWORK)
    assert e.value.response["Error"]["Code"] == "ClusterNotFoundException"
    with pytest.raises(ClientError) as e:
        ecs.describe_task_definition(taskDefinition="no-such-family")
    assert e.value.response["Error"]["Code"] == "ClientException"
    missing = ecs.describe_tasks(tasks=["0123456789abcdef0123456789abcdef"])
    assert missing["tasks"] == [] and missing["failures"][0]["reason"] == "MISSING"


def test_stop_task_and_skiff_exec(ecs, server, image_dir):
    ecs.register_task_definition(family="holder", containerDefinitions=[{
        "name": "app", "image": "php-app", "memory": 128, "command": ["sleep", "60"],
        "environment": [{"name": "SECRET_SETTING", "value": "42"}]}])
    task_arn = ecs.run_task(taskDefinition="holder", enableExecuteCommand=True)["tasks"][0]["taskArn"]
    deadline = time.time() + 20
    while ecs.describe_tasks(tasks=[task_arn])["tasks"][0]["lastStatus"] != "RUNNING":
        assert time.time() < deadline
        time.sleep(0.05)
    assert task_arn in ecs.list_tasks()["taskArns"]
    binary = os.environ.get("SKIFF_BIN", os.path.join(ROOT, ".build", "debug", "skiff"))
    result = subprocess.run([binary, "exec", "--endpoint-url", server.endpoint, "--task", task_arn, "--",
                             "sh", "-c", "echo $SECRET_SETTING; pwd; exit 3"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert result.stdout.splitlines()[0] == "42"
    assert os.path.realpath(result.stdout.splitlines()[1]) == os.path.realpath(str(image_dir))
    stopped = ecs.stop_task(task=task_arn, reason="maintenance")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    task, _ = wait_stopped(ecs, task_arn)
    assert task["stopCode"] == "UserInitiated" and task["stoppedReason"] == "maintenance"
    assert task["containers"][0]["exitCode"] == 143
    gone = subprocess.run([binary, "exec", "--endpoint-url", server.endpoint, "--task", task_arn, "--", "true"],
                          capture_output=True, text=True, timeout=30)
    assert gone.returncode != 0 and "not running" in gone.stderr


def test_logs_paginate_with_tokens_like_tail(logs):
    logs.create_log_group(logGroupName="/tail")
    logs.create_log_stream(logGroupName="/tail", logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/tail", logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": f"m{i}"} for i in range(25)])
    paginator = logs.get_paginator("filter_log_events")
    seen = [e["message"] for page in paginator.paginate(logGroupName="/tail", PaginationConfig={"PageSize": 10}) for e in page["events"]]
    assert seen == [f"m{i}" for i in range(25)]
    first = logs.get_log_events(logGroupName="/tail", logStreamName="s", startFromHead=True, limit=20)
    rest = logs.get_log_events(logGroupName="/tail", logStreamName="s", nextToken=first["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == [f"m{i}" for i in range(20, 25)]
    end = logs.get_log_events(logGroupName="/tail", logStreamName="s", nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName="/tail", retentionInDays=2)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    logs.put_retention_policy(logGroupName="/tail", retentionInDays=30)
    group = logs.describe_log_groups(logGroupNamePrefix="/tail")["logGroups"][0]
    assert group["retentionInDays"] == 30


def test_log_group_tags_through_boto3_and_the_cli(logs, server):
    logs.create_log_group(logGroupName="/tagged", tags={"team": "ops"})
    arn = logs.describe_log_groups(logGroupNamePrefix="/tagged")["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"env": "prod"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "prod", "team": "ops"}
    logs.untag_log_group(logGroupName="/tagged", tags=["team"])
    assert logs.list_tags_log_group(logGroupName="/tagged")["tags"] == {"env": "prod"}
    with pytest.raises(ClientError) as e:
        logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert e.value.response["Error"]["Code"] == "TooManyTagsException"
    listed = server.cli("logs", "list-tags-for-resource", "--resource-arn", arn)
    assert json.loads(listed.stdout)["tags"] == {"env": "prod"}


def test_running_task_survives_a_crash_and_is_taken_over(tmp_path, image_dir):
    """kill -9 of the server leaves the task's process running (its own session); the next server takes it over:
    it stays RUNNING, and StopTask still ends it."""
    server = SkiffServer(state_dir=str(tmp_path / "state"), extra_args=["--image-map", f"php-app={image_dir}", "--container-engine", "none"]).start()
    try:
        ecs = server.client("ecs")
        ecs.create_cluster()
        ecs.register_task_definition(family="long", containerDefinitions=[{"name": "app", "image": "php-app", "memory": 64, "command": ["sleep", "30"]}])
        task_arn = ecs.run_task(taskDefinition="long")["tasks"][0]["taskArn"]
        deadline = time.time() + 20
        while ecs.describe_tasks(tasks=[task_arn])["tasks"][0]["lastStatus"] != "RUNNING":
            assert time.time() < deadline
            time.sleep(0.05)
        server.kill()
        server.start()
        ecs = server.client("ecs")
        task = ecs.describe_tasks(tasks=[task_arn])["tasks"][0]
        assert task["lastStatus"] == "RUNNING"
        pid = int(task["containers"][0]["runtimeId"])
        assert os.path.exists(f"/proc/{pid}")
        ecs.stop_task(task=task_arn, reason="done")
        deadline = time.time() + 20
        while (task := ecs.describe_tasks(tasks=[task_arn])["tasks"][0])["lastStatus"] != "STOPPED":
            assert time.time() < deadline
            time.sleep(0.05)
        assert task["stoppedReason"] == "done"
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    finally:
        server.kill()
