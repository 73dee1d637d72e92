"""skiff crontab import: conversion explained, refusals, and --create against a running local cloud."""
import json
import os
import subprocess

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
