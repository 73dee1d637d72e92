"""skiff crontab import: conversion explained, refusals, and --create against a running local cloud."""
import json
import os
import subprocess

import boto3
import pytest

from conftest import ROOT, SkiffServer


def skiff(*args, check=False):
    binary = os.environ.get("SKIFF_BIN", os.path.join(ROOT, ".build", "debug", "skiff"))
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=check)


def test_import_creates_schedules_in_the_local_cloud(skiff_server_crontab):
    server, crontab = skiff_server_crontab
    result = skiff("crontab", "import", crontab, "--time-zone", "Asia/Tokyo", "--format", "json", "--create",
                   "--endpoint-url", server.endpoint, "--cluster", "arn:aws:ecs:us-east-1:000000000000:cluster/batch",
                   "--task-definition", "arn:aws:ecs:us-east-1:000000000000:task-definition/php-app:1")
    assert result.returncode == 2, result.stderr  # one line refused
    report = json.loads(result.stdout)
    assert [s["scheduleExpression"] for s in report["schedules"]] == ["cron(30 2 * * ? *)", "cron(0/10 * ? * 2-6 *)"]
    assert "@reboot" in report["refused"][0]["reason"]
    scheduler = server.client("scheduler")
    names = sorted(s["Name"] for s in scheduler.list_schedules()["Schedules"])
    assert names == ["nightly.sh", "poll.sh"]
    nightly = scheduler.get_schedule(Name="nightly.sh")
    assert nightly["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert json.loads(nightly["Target"]["Input"])["containerOverrides"][0]["command"] == ["sh", "-c", "/app/nightly.sh"]


def test_import_explains_changes_in_text():
    path = os.path.join(ROOT, ".build", "crontab-text-test")
    with open(path, "w") as f:
        f.write("0 9 * * 0 /app/weekly.sh\n")
    result = skiff("crontab", "import", path)
    assert result.returncode == 0
    assert "cron(0 9 ? * 1 *)" in result.stdout and "SUN-SAT as 1-7" in result.stdout


@pytest.fixture
def skiff_server_crontab(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("30 2 * * * /app/nightly.sh\n*/10 * * * 1-5 /app/poll.sh\n@reboot /app/start.sh\n")
    server = SkiffServer().start()
    yield server, str(crontab)
    server.stop()


def test_create_makes_every_schedule_even_when_names_collide(tmp_path):
    crontab = tmp_path / "crontab"
    # backup.sh / backup-sh read the same as logical IDs; cleanup twice and cleanup-2 collide as names. Tabs too.
    crontab.write_text("0 1 * * * backup.sh\n0 2 * * * backup-sh\n0\t3\t*\t*\t*\tcleanup\n0 4 * * * cleanup\n0 5 * * * cleanup-2\n")
    server = SkiffServer().start()
    try:
        result = skiff("crontab", "import", str(crontab), "--time-zone", "UTC", "--create", "--endpoint-url", server.endpoint,
                       "--cluster", "batch", "--task-definition", "php-app:1")
        assert result.returncode == 0, result.stderr
        schedules = server.client("scheduler").list_schedules()["Schedules"]
        names = sorted(s["Name"] for s in schedules)
        assert len(names) == 5 and len(set(names)) == 5, names
        # A bare cluster name and task-definition family become ARNs (the local cloud's account and region).
        got = server.client("scheduler").get_schedule(Name="backup-sh")
        assert got["Target"]["Arn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/batch"
        assert got["Target"]["EcsParameters"]["TaskDefinitionArn"] == "arn:aws:ecs:us-east-1:000000000000:task-definition/php-app:1"
        template = json.loads(skiff("crontab", "import", str(crontab), "--format", "cloudformation",
                                    "--cluster", "batch", "--task-definition", "php-app:1").stdout)
        assert len(template["Resources"]) == 5
        # Creating again: every CreateSchedule conflicts, and the command says so with a non-zero status.
        again = skiff("crontab", "import", str(crontab), "--create", "--endpoint-url", server.endpoint,
                      "--cluster", "batch", "--task-definition", "php-app:1")
        assert again.returncode == 1 and "ConflictException" in again.stderr, again.stderr
    finally:
        server.stop()


def test_refuses_a_cluster_that_is_neither_a_name_nor_an_arn(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("0 1 * * * /job.sh\n")
    result = skiff("crontab", "import", str(crontab), "--format", "cloudformation", "--cluster", "my cluster", "--task-definition", "t")
    assert result.returncode != 0 and "--cluster" in result.stderr


def test_rules_format_moves_fixed_offset_zones_to_utc(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("CRON_TZ=Asia/Tokyo\n0 9 * * 1-5 /job.sh\n")
    result = skiff("crontab", "import", str(crontab), "--format", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cron(0 0 ? * 2-6 *) (UTC)" in result.stdout
    berlin = tmp_path / "berlin"
    berlin.write_text("CRON_TZ=Europe/Berlin\n0 9 * * * /job.sh\n")
    refused = skiff("crontab", "import", str(berlin), "--format", "rules")
    assert refused.returncode == 2 and "daylight saving" in refused.stdout


def test_schedule_next_refuses_offsets_that_are_not_zone_names():
    refused = skiff("schedule", "next", "cron(0 9 * * ? *)", "--time-zone", "UTC+9")
    assert refused.returncode != 0 and "IANA" in refused.stderr
    accepted = skiff("schedule", "next", "cron(0 9 * * ? *)", "--time-zone", "Asia/Tokyo", "--count", "1",
                     "--after", "2026-12-31T23:00:00Z")
    assert accepted.returncode == 0 and "2027-01-01T00:00:00Z" in accepted.stdout, accepted.stdout + accepted.stderr


def test_create_signs_for_the_region_and_the_keys_account(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("0 1 * * * /job.sh\n")
    server = SkiffServer(extra_args=("--account", "AKIDPROD=111111111111")).start()
    try:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDPROD", "AWS_SECRET_ACCESS_KEY": "secret"}
        args = ["crontab", "import", str(crontab), "--time-zone", "UTC", "--create", "--endpoint-url", server.endpoint,
                "--region", "eu-west-1", "--cluster", "batch", "--task-definition", "php-app:1"]
        binary = os.environ.get("SKIFF_BIN", os.path.join(ROOT, ".build", "debug", "skiff"))
        result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        # The schedule is in the key's account and the region asked for, and its target ARNs name them.
        prod = boto3.client("scheduler", endpoint_url=server.endpoint, region_name="eu-west-1",
                            aws_access_key_id="AKIDPROD", aws_secret_access_key="secret")
        got = prod.get_schedule(Name="job.sh")
        assert got["Arn"] == "arn:aws:scheduler:eu-west-1:111111111111:schedule/default/job.sh"
        assert got["Target"]["Arn"] == "arn:aws:ecs:eu-west-1:111111111111:cluster/batch"
        assert server.client("scheduler").list_schedules()["Schedules"] == []  # not in the default account
        # An --account other than the key's is refused before anything is created.
        refused = subprocess.run([binary, *args, "--account", "222222222222"], capture_output=True, text=True, timeout=60, env=env)
        assert refused.returncode != 0 and "111111111111" in refused.stderr and "--account" in refused.stderr, refused.stderr
    finally:
        server.stop()
