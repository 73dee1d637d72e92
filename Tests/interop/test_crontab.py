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
    assert "line 3: @reboot /app/start.sh" in result.stderr and "@reboot runs when the machine boots" in result.stderr
    scheduler = server.client("scheduler")
    names = sorted(s["Name"] for s in scheduler.list_schedules()["Schedules"])
    assert names == ["nightly", "poll"]
    nightly = scheduler.get_schedule(Name="nightly")
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
        template = json.loads(skiff("crontab", "import", str(crontab), "--format", "cloudformation-json",
                                    "--cluster", "batch", "--task-definition", "php-app:1").stdout)
        assert len(template["Resources"]) == 6  # five schedules and the role they assume
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
        got = prod.get_schedule(Name="job")
        assert got["Arn"] == "arn:aws:scheduler:eu-west-1:111111111111:schedule/default/job"
        assert got["Target"]["Arn"] == "arn:aws:ecs:eu-west-1:111111111111:cluster/batch"
        assert server.client("scheduler").list_schedules()["Schedules"] == []  # not in the default account
        # An --account other than the key's is refused before anything is created.
        refused = subprocess.run([binary, *args, "--account", "222222222222"], capture_output=True, text=True, timeout=60, env=env)
        assert refused.returncode != 0 and "111111111111" in refused.stderr and "--account" in refused.stderr, refused.stderr
    finally:
        server.stop()


# Issue #26, item 1: system crontabs (/etc/crontab, /etc/cron.d/*), whose sixth field is the user.

CRON_D = """SHELL=/bin/bash
0 3 * * * www-data cd /var/www/app && php artisan batch:nightly
*/10 * * * 1-5 www-data cd /var/www/app && php artisan queue:retry-failed >> /var/log/batch.log 2>&1
@reboot www-data /var/www/app/bin/warm-cache
"""


def cron_d_file(tmp_path):
    folder = tmp_path / "cron.d"
    folder.mkdir()
    path = folder / "batch"
    path.write_text(CRON_D)
    return path


def test_a_cron_d_file_is_read_with_its_user_and_named_after_its_jobs(tmp_path):
    path = cron_d_file(tmp_path)
    result = skiff("crontab", "import", str(path), "--time-zone", "Asia/Tokyo")
    assert result.returncode == 2, result.stderr  # @reboot is refused
    assert result.stdout.startswith("Read as a system crontab: "), result.stdout
    assert "→ batch-nightly: cron(0 3 * * ? *) in Asia/Tokyo" in result.stdout
    assert "→ queue-retry-failed: cron(0/10 * ? * 2-6 *) in Asia/Tokyo" in result.stdout
    assert "command: /bin/bash -c cd /var/www/app && php artisan batch:nightly" in result.stdout
    assert "→ www-data" not in result.stdout and "-c www-data" not in result.stdout
    # The user note is said once, for both lines.
    assert result.stdout.count("Cron ran the command as www-data") == 1 and "(every line)" in result.stdout
    # The refused line is on standard error, with the reason, not in the report.
    assert "line 4: @reboot www-data /var/www/app/bin/warm-cache" in result.stderr
    assert "@reboot runs when" in result.stderr and "@reboot runs when" not in result.stdout
    as_json = json.loads(skiff("crontab", "import", str(path), "--format", "json").stdout)
    assert as_json["crontabKind"] == "system"
    assert [(s["name"], s["user"]) for s in as_json["schedules"]] == [("batch-nightly", "www-data"), ("queue-retry-failed", "www-data")]


def test_the_kind_is_detected_on_standard_input_and_can_be_forced(tmp_path):
    system_lines = "0 3 * * * root /usr/local/bin/backup\n0 4 * * * root cd / && run-parts /etc/cron.daily\n"
    detected = subprocess.run([os.environ.get("SKIFF_BIN", os.path.join(ROOT, ".build", "debug", "skiff")),
                               "crontab", "import", "-", "--format", "json"], input=system_lines, capture_output=True, text=True, timeout=60)
    report = json.loads(detected.stdout)
    assert report["crontabKind"] == "system" and [s["name"] for s in report["schedules"]] == ["backup", "cron.daily"]
    user = tmp_path / "crontab"
    user.write_text("0 3 * * * php artisan inspire\n")
    kept = json.loads(skiff("crontab", "import", str(user), "--format", "json").stdout)
    assert kept["crontabKind"] == "user" and kept["schedules"][0]["command"] == ["sh", "-c", "php artisan inspire"]
    assert kept["schedules"][0]["name"] == "inspire"
    forced = json.loads(skiff("crontab", "import", str(user), "--format", "json", "--system").stdout)
    assert forced["schedules"][0]["user"] == "php" and forced["schedules"][0]["command"] == ["sh", "-c", "artisan inspire"]
    both = skiff("crontab", "import", str(user), "--system", "--user-crontab")
    assert both.returncode != 0 and "contradict" in both.stderr


# Issue #26, item 8: a CloudFormation template that deploys as is, and --create that can run again.

def lint(path):
    result = subprocess.run(["cfn-lint", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cloudformation_creates_the_role_keeps_the_notes_and_passes_cfn_lint(tmp_path):
    path = cron_d_file(tmp_path)
    args = ["crontab", "import", str(path), "--time-zone", "Asia/Tokyo", "--cluster", "batch", "--task-definition", "php-app",
            "--pass-role", "arn:aws:iam::111111111111:role/php-app-task",
            "--pass-role", "arn:aws:iam::111111111111:role/php-app-execution"]
    result = skiff(*args, "--format", "cloudformation")
    assert result.returncode == 2, result.stderr
    # The refused line: on standard error and in the template's header, with the reason.
    assert "line 4: @reboot" in result.stderr and "@reboot runs when" in result.stderr
    assert "#   line 4: @reboot www-data /var/www/app/bin/warm-cache" in result.stdout
    assert "# line 2: 0 3 * * * www-data cd /var/www/app && php artisan batch:nightly" in result.stdout
    assert result.stdout.count("Cron ran the command as www-data") == 1
    yaml_path = tmp_path / "schedules.yaml"
    yaml_path.write_text(result.stdout)
    lint(yaml_path)
    as_json = skiff(*args, "--format", "cloudformation-json")
    template = json.loads(as_json.stdout)
    json_path = tmp_path / "schedules.json"
    json_path.write_text(as_json.stdout)
    lint(json_path)
    resources = template["Resources"]
    role = resources["SchedulerRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    run_task, pass_role = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert run_task["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/php-app"},
        {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/php-app:*"}]
    assert pass_role["Resource"] == ["arn:aws:iam::111111111111:role/php-app-task", "arn:aws:iam::111111111111:role/php-app-execution"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    nightly = resources["ScheduleBatchNightly"]
    assert nightly["Properties"]["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert nightly["Properties"]["Target"]["Arn"] == {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/batch"}
    assert any("www-data" in note for note in template["Metadata"]["Skiff::Notes"])
    assert nightly["Metadata"]["Skiff::Notes"][0].startswith("line 2: ")
    # A role given: no role created, the schedules use it.
    given = json.loads(skiff("crontab", "import", str(path), "--format", "cloudformation-json", "--cluster", "batch",
                             "--task-definition", "php-app:3", "--role-arn", "arn:aws:iam::111111111111:role/scheduler").stdout)
    assert "SchedulerRole" not in given["Resources"]
    assert given["Resources"]["ScheduleBatchNightly"]["Properties"]["Target"]["RoleArn"] == "arn:aws:iam::111111111111:role/scheduler"
    refused = skiff("crontab", "import", str(path), "--format", "cloudformation", "--cluster", "batch", "--task-definition", "t",
                    "--role-arn", "scheduler")
    assert refused.returncode != 0 and "not an IAM role ARN" in refused.stderr


def test_refused_lines_are_on_standard_error_in_every_format(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("0 1 * * * /job.sh\n@reboot /start.sh\n")
    for fmt in ["text", "json", "rules", "cloudformation", "cloudformation-json"]:
        result = skiff("crontab", "import", str(crontab), "--format", fmt, "--cluster", "c", "--task-definition", "t")
        assert result.returncode == 2, (fmt, result.stderr)
        assert "line 2: @reboot /start.sh" in result.stderr and "@reboot runs when the machine boots" in result.stderr, (fmt, result.stderr)
    # Nothing converted: no template (one without schedules would not deploy), and the reason.
    crontab.write_text("@reboot /start.sh\n")
    empty = skiff("crontab", "import", str(crontab), "--format", "cloudformation", "--cluster", "c", "--task-definition", "t")
    assert empty.returncode == 2 and empty.stdout == "" and "no template written" in empty.stderr, empty.stderr


def test_create_again_updates_what_changed_and_dry_run_writes_nothing(tmp_path):
    crontab = tmp_path / "crontab"
    crontab.write_text("0 1 * * * /app/backup.sh\n0 2 * * * /app/report.sh\n")
    server = SkiffServer().start()
    try:
        args = ["crontab", "import", str(crontab), "--time-zone", "UTC", "--create", "--endpoint-url", server.endpoint,
                "--cluster", "batch", "--task-definition", "php-app:1"]
        first = skiff(*args)
        assert first.returncode == 0, first.stderr
        assert "created schedule backup in group default" in first.stderr
        again = skiff(*args)
        assert again.returncode == 0, again.stderr
        assert "unchanged schedule backup" in again.stderr and "unchanged schedule report" in again.stderr
        scheduler = server.client("scheduler")
        scheduler.update_schedule(Name="report", ScheduleExpression="cron(0 2 * * ? *)", FlexibleTimeWindow={"Mode": "OFF"},
                                  State="DISABLED", Target=scheduler.get_schedule(Name="report")["Target"])
        crontab.write_text("30 1 * * * /app/backup.sh\n0 2 * * * /app/report.sh --full\n0 3 * * * /app/cleanup.sh\n")
        dry = skiff(*args, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would update schedule backup in group default:" in dry.stderr
        assert "ScheduleExpression: \"cron(0 1 * * ? *)\" → \"cron(30 1 * * ? *)\"" in dry.stderr, dry.stderr
        assert "would update schedule report" in dry.stderr and "Target.Input" in dry.stderr
        assert "would create schedule cleanup" in dry.stderr and "dry run: nothing was written" in dry.stderr
        assert scheduler.get_schedule(Name="backup")["ScheduleExpression"] == "cron(0 1 * * ? *)"
        assert "cleanup" not in [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
        applied = skiff(*args)
        assert applied.returncode == 0, applied.stderr
        assert "updated schedule backup" in applied.stderr and "created schedule cleanup" in applied.stderr
        assert scheduler.get_schedule(Name="backup")["ScheduleExpression"] == "cron(30 1 * * ? *)"
        report = scheduler.get_schedule(Name="report")
        assert json.loads(report["Target"]["Input"])["containerOverrides"][0]["command"] == ["sh", "-c", "/app/report.sh --full"]
        assert report["State"] == "DISABLED"  # the crontab does not say; an update keeps it
        assert "it stays DISABLED" in applied.stderr
        refused = skiff("crontab", "import", str(crontab), "--dry-run")
        assert refused.returncode != 0 and "--create" in refused.stderr
    finally:
        server.stop()
