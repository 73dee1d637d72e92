"""EventBridge Scheduler through the AWS CLI and boto3: schedules fire ECS tasks (the process runner) on time."""
import datetime
import json
import stat
import time

import pytest
from botocore.exceptions import ClientError

from conftest import SkiffServer, install_programs

ROLE = "arn:aws:iam::000000000000:role/scheduler"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("job-image")
    script = directory / "job.sh"
    script.write_text("#!/bin/sh\necho \"job ran: $*\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    install_programs(directory, "sh")
    return directory


def start_server(image_dir, state_dir=None):
    return SkiffServer(state_dir=state_dir, extra_args=["--image-map", f"job={image_dir}", "--container-engine", "none"]).start()


@pytest.fixture(scope="module")
def server(image_dir):
    server = start_server(image_dir)
    yield server
    server.stop()


def setup_ecs(server, cluster_name="batch"):
    ecs = server.client("ecs")
    cluster = ecs.create_cluster(clusterName=cluster_name)["cluster"]["clusterArn"]
    task_definition = ecs.register_task_definition(
        family="nightly", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "job:latest", "essential": True,
                               "entryPoint": ["sh"], "command": ["job.sh", "default"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    return ecs, cluster, task_definition


def at_expression(seconds_from_now):
    due = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=seconds_from_now)
    return due, f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})"


def ecs_target(cluster, task_definition, argument):
    return json.dumps({
        "Arn": cluster, "RoleArn": ROLE,
        "EcsParameters": {"TaskDefinitionArn": task_definition, "LaunchType": "FARGATE",
                          "NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": ["subnet-1"]}}},
        "Input": json.dumps({"containerOverrides": [{"name": "app", "command": ["job.sh", argument]}]}),
    })


def wait_for_task(ecs, cluster, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        arns = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"] + ecs.list_tasks(cluster=cluster)["taskArns"]
        if arns:
            return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"], time.time()
        time.sleep(0.05)
    return [], time.time()


def test_one_time_schedule_created_with_the_cli_runs_an_ecs_task(server):
    ecs, cluster, task_definition = setup_ecs(server)
    due, expression = at_expression(3)
    server.cli("scheduler", "create-schedule", "--name", "once", "--schedule-expression", expression,
               "--flexible-time-window", "Mode=OFF", "--action-after-completion", "DELETE",
               "--target", ecs_target(cluster, task_definition, "from-scheduler"))
    shown = json.loads(server.cli("scheduler", "get-schedule", "--name", "once").stdout)
    assert shown["ScheduleExpression"] == expression
    assert shown["Target"]["EcsParameters"]["TaskDefinitionArn"] == task_definition
    tasks, seen = wait_for_task(ecs, cluster, timeout=15)
    assert len(tasks) == 1, "the schedule did not run a task"
    assert seen >= due.timestamp() - 0.05, "the task started before the schedule was due"
    assert tasks[0]["taskDefinitionArn"] == task_definition
    assert tasks[0]["overrides"]["containerOverrides"][0]["command"] == ["job.sh", "from-scheduler"]
    assert tasks[0]["startedBy"] == "chronos-schedule/once", "Scheduler's tasks say who started them, as on AWS"
    # ActionAfterCompletion DELETE removes the completed one-time schedule.
    deadline = time.time() + 5
    while time.time() < deadline and server.cli("scheduler", "get-schedule", "--name", "once", check=False).returncode == 0:
        time.sleep(0.1)
    missing = server.cli("scheduler", "get-schedule", "--name", "once", check=False)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


def test_schedule_api_through_boto3(server):
    scheduler = server.client("scheduler")
    target = {"Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:none", "RoleArn": ROLE}
    scheduler.create_schedule_group(Name="jobs", Tags=[{"Key": "team", "Value": "ops"}])
    for i in range(7):
        scheduler.create_schedule(Name=f"job-{i}", GroupName="jobs", ScheduleExpression="cron(0 3 * * ? *)",
                                  ScheduleExpressionTimezone="Europe/Paris", FlexibleTimeWindow={"Mode": "OFF"},
                                  Target=target, State="DISABLED" if i == 6 else "ENABLED")
    paginator = scheduler.get_paginator("list_schedules")
    names = [s["Name"] for page in paginator.paginate(GroupName="jobs", PaginationConfig={"PageSize": 3}) for s in page["Schedules"]]
    assert names == [f"job-{i}" for i in range(7)]
    assert [s["Name"] for s in scheduler.list_schedules(State="DISABLED")["Schedules"]] == ["job-6"]
    got = scheduler.get_schedule(Name="job-1", GroupName="jobs")
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["Arn"] == "arn:aws:scheduler:us-east-1:000000000000:schedule/jobs/job-1"
    assert isinstance(got["CreationDate"], datetime.datetime)

    scheduler.update_schedule(Name="job-1", GroupName="jobs", ScheduleExpression="rate(2 hours)",
                              FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, Target=target)
    got = scheduler.get_schedule(Name="job-1", GroupName="jobs")
    assert got["ScheduleExpression"] == "rate(2 hours)"
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}

    with pytest.raises(ClientError) as error:
        scheduler.create_schedule(Name="bad", ScheduleExpression="cron(0 3 * * * *)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as error:
        scheduler.get_schedule(Name="nope")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as error:
        scheduler.create_schedule(Name="job-0", GroupName="jobs", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert error.value.response["Error"]["Code"] == "ConflictException"

    group_arn = scheduler.get_schedule_group(Name="jobs")["Arn"]
    scheduler.tag_resource(ResourceArn=group_arn, Tags=[{"Key": "env", "Value": "stg"}, {"Key": "tier", "Value": "batch"}])
    scheduler.untag_resource(ResourceArn=group_arn, TagKeys=["team", "tier"])
    assert scheduler.list_tags_for_resource(ResourceArn=group_arn)["Tags"] == [{"Key": "env", "Value": "stg"}]
    assert {g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]} >= {"default", "jobs"}
    scheduler.delete_schedule_group(Name="jobs")
    assert scheduler.list_schedules(GroupName="jobs")["Schedules"] == []


def test_schedule_due_while_skiff_was_down_fires_after_restart(image_dir, tmp_path):
    server = start_server(image_dir, state_dir=str(tmp_path / "state"))
    try:
        ecs, cluster, task_definition = setup_ecs(server)
        due, expression = at_expression(2)
        server.cli("scheduler", "create-schedule", "--name", "missed", "--schedule-expression", expression,
                   "--flexible-time-window", "Mode=OFF", "--target", ecs_target(cluster, task_definition, "late"))
        server.stop()
        time.sleep(max(0, due.timestamp() - time.time()) + 1)
        server.start()
        tasks, _ = wait_for_task(server.client("ecs"), cluster, timeout=15)
        assert len(tasks) == 1
        assert tasks[0]["overrides"]["containerOverrides"][0]["command"] == ["job.sh", "late"]
    finally:
        server.stop()


def test_eventbridge_rule_fires_step_functions_from_put_events(server):
    sfn = server.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="on-event", roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    events = server.client("events")
    rule_arn = events.put_rule(Name="job-done", EventPattern=json.dumps({"source": ["batch"], "detail": {"status": ["done"]}}))["RuleArn"]
    assert rule_arn == "arn:aws:events:us-east-1:000000000000:rule/job-done"
    events.put_targets(Rule="job-done", Targets=[{
        "Id": "sfn", "Arn": machine, "RoleArn": ROLE,
        "InputTransformer": {"InputPathsMap": {"job": "$.detail.job"}, "InputTemplate": '{"job": <job>}'}}])
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="job-done")["Targets"]] == ["sfn"]
    result = events.put_events(Entries=[
        {"Source": "batch", "DetailType": "Job", "Detail": json.dumps({"status": "done", "job": "nightly"})},
        {"Source": "batch", "DetailType": "Job", "Detail": json.dumps({"status": "running", "job": "other"})},
    ])
    assert result["FailedEntryCount"] == 0
    deadline = time.time() + 10
    executions = []
    while time.time() < deadline and not executions:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        time.sleep(0.1)
    assert len(executions) == 1
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {"job": "nightly"}
    with pytest.raises(ClientError) as error:
        events.put_rule(Name="bad", EventPattern='{"source": "batch"}')
    assert error.value.response["Error"]["Code"] == "InvalidEventPatternException"
    cli = server.cli("events", "test-event-pattern", "--event-pattern", '{"source": ["batch"]}', "--event", json.dumps({
        "id": "1", "account": "000000000000", "source": "batch", "time": "2027-01-01T00:00:00Z", "region": "us-east-1",
        "detail-type": "Job", "resources": [], "detail": {}}))
    assert json.loads(cli.stdout) == {"Result": True}


def test_schedule_runs_a_task_whose_stop_event_fires_a_rule(server):
    """Scheduler → ECS RunTask → ECS publishes "ECS Task State Change" to the default bus → a rule starts an execution."""
    ecs, cluster, task_definition = setup_ecs(server, "chain")
    sfn = server.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="after-task", roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    events = server.client("events")
    events.put_rule(Name="task-stopped", EventPattern=json.dumps({
        "source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
        "detail": {"lastStatus": ["STOPPED"], "clusterArn": [cluster]}}))
    events.put_targets(Rule="task-stopped", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": ROLE, "InputPath": "$.detail.taskArn"}])
    _, expression = at_expression(2)
    server.client("scheduler").create_schedule(
        Name="chain", ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
        Target=json.loads(ecs_target(cluster, task_definition, "chained")))
    deadline = time.time() + 20
    executions = []
    while time.time() < deadline and not executions:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        time.sleep(0.2)
    assert len(executions) == 1, "the task's STOPPED event did not start the execution"
    task_arn = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    stopped = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED" and stopped["startedBy"] == "chronos-schedule/chain"
    # The server log tells the story, a line each: the schedule fired, the task started and stopped, the rule fired.
    with open(server.log_path) as f:
        log = f.read()
    task_id = task_arn.rsplit("/", 1)[1]
    assert "schedule fired service=scheduler schedule=arn:aws:scheduler:us-east-1:000000000000:schedule/default/chain" in log
    assert f"ECS task started service=ecs task={task_id}" in log
    assert f"ECS task stopped service=ecs task={task_id} task-definition=" in log and "exit-codes=app:0" in log
    assert "rule fired service=events rule=arn:aws:events:us-east-1:000000000000:rule/task-stopped" in log


def test_eventbridge_targets_rules_and_events_as_aws_documents_them(server):
    sfn = server.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="transformed", roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    events = server.client("events")
    for i in range(3):
        events.put_rule(Name=f"doc-{i}", EventPattern=json.dumps({"source": ["doc.example"]}), Tags=[{"Key": "n", "Value": str(i)}])
    # The InputTransformer example of the EventBridge API reference: placeholders in and out of a string.
    events.put_targets(Rule="doc-0", Targets=[{
        "Id": "sfn", "Arn": machine, "RoleArn": ROLE,
        "InputTransformer": {"InputPathsMap": {"instance": "$.detail.instance", "status": "$.detail.status"},
                             "InputTemplate": '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\""}'}}])
    for i in (1, 2):
        events.put_targets(Rule=f"doc-{i}", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": ROLE, "Input": "{}"}])
    # ListRuleNamesByTarget through boto3's paginator.
    pages = events.get_paginator("list_rule_names_by_target").paginate(TargetArn=machine, PaginationConfig={"PageSize": 2})
    assert [name for page in pages for name in page["RuleNames"]] == ["doc-0", "doc-1", "doc-2"]
    with pytest.raises(ClientError) as error:
        events.put_targets(Rule="doc-1", Targets=[{"Id": "no-role", "Arn": machine}])
    assert "RoleArn is required for target" in error.value.response["Error"]["Message"]
    # PutRule on an existing rule ignores its Tags.
    events.put_rule(Name="doc-1", EventPattern=json.dumps({"source": ["other"]}), Tags=[{"Key": "n", "Value": "changed"}])
    arn = events.describe_rule(Name="doc-1")["Arn"]
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "n", "Value": "1"}]
    result = events.put_events(Entries=[
        {"Source": "doc.example", "DetailType": "State", "Detail": json.dumps({"instance": "i-1", "status": "running"})},
        {"Source": "aws.ec2", "DetailType": "State", "Detail": "{}"},
    ])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][1]["ErrorCode"] == "NotAuthorizedForSourceException"
    deadline = time.time() + 10
    executions = []
    while time.time() < deadline and len(executions) < 2:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        time.sleep(0.1)
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]
    assert {"myInstance": "i-1", "myStatus": 'i-1 is in state "running"'} in inputs, inputs

