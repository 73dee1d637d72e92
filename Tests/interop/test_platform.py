"""Platform as code: `skiff init platform`, then `skiff synth` and `skiff diff` in the package it writes (built with
SwiftPM, as `cdk synth` runs a CDK app), and `skiff deploy` / `skiff diff --deployed` through the AWS CLI.

test_init_synth_and_diff_a_platform_package builds a Swift package depending on this tree's Platform library: its
first build compiles Platform and its dependencies (about a minute on two cores, more on a cold SwiftPM cache). Set
SKIFF_SKIP_PLATFORM_BUILD=1 to skip it; the other tests build nothing.
"""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, SkiffServer

BINARY = os.environ.get("SKIFF_BIN", os.path.join(ROOT, ".build", "debug", "skiff"))


def skiff(*args, cwd=None, env=None, timeout=120):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def resource_types(template_path):
    with open(template_path) as f:
        return [r["Type"] for r in json.load(f)["Resources"].values()]


@pytest.mark.skipif(os.environ.get("SKIFF_SKIP_PLATFORM_BUILD") == "1",
                    reason="SKIFF_SKIP_PLATFORM_BUILD=1: building a platform package takes minutes")
def test_init_synth_and_diff_a_platform_package(tmp_path):
    app = tmp_path / "my-platform"
    try:
        created = skiff("init", "platform", str(app), "--skiff-path", ROOT)
        assert created.returncode == 0, created.stderr
        main_swift = app / "Sources" / "MyPlatform" / "main.swift"
        for path in [app / "Package.swift", main_swift, app / ".gitignore", app / "README.md"]:
            assert str(path) in created.stdout
        manifest_text = (app / "Package.swift").read_text()
        with open(os.path.join(ROOT, "Package.swift")) as f:
            assert manifest_text.splitlines()[0] == f.readline().rstrip("\n")  # Skiff's own swift-tools-version
        assert f'.package(name: "Skiff", path: "{ROOT}")' in manifest_text
        assert '.product(name: "Platform", package: "Skiff")' in manifest_text
        assert (app / ".gitignore").read_text().split() == [".build/", "cdk.out/", ".swiftpm/"]

        # Nothing is overwritten, even an untouched starter.
        again = skiff("init", "platform", str(app), "--skiff-path", ROOT)
        assert again.returncode == 1
        assert error_lines(again.stderr) == [f"Error: {app} already has Package.swift, Sources/MyPlatform/main.swift, .gitignore, "
                                             "README.md: nothing written (skiff init platform never overwrites a file)"]

        # From a folder inside the package: skiff finds the package above, builds it, runs it.
        synth = skiff("synth", cwd=str(app / "Sources"), timeout=3600)
        assert synth.returncode == 0, synth.stderr[-4000:]
        assert "Compiling" in synth.stderr or "Build of product" in synth.stderr  # SwiftPM's output, on stderr
        out = app / "cdk.out"
        for name in ["Management", "Prod", "Stg"]:
            assert f"{out}/{name}.template.json" in synth.stdout.splitlines()
        assert re.search(rf"^synthesized 3 stacks to {re.escape(str(out))} built in .+, synthesized in .+$", synth.stdout, re.M)
        manifest = json.loads((out / "manifest.json").read_text())
        assert {name: a["environment"] for name, a in manifest["artifacts"].items()} == {
            "Management": "aws://111111111111/us-east-1",
            "Prod": "aws://222222222222/ap-northeast-1",
            "Stg": "aws://333333333333/ap-northeast-1",
        }
        management = resource_types(out / "Management.template.json")
        assert management.count("AWS::Organizations::Account") == 2
        assert "AWS::Events::Rule" in management and "AWS::Organizations::Policy" in management
        for stack in ["Prod", "Stg"]:
            types = resource_types(out / f"{stack}.template.json")
            for expected in ["AWS::Scheduler::Schedule", "AWS::StepFunctions::StateMachine", "AWS::ECS::Service",
                             "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ECR::Repository"]:
                assert expected in types, (stack, expected)

        # The starter's templates pass cfn-lint without an error or a warning.
        templates = sorted(str(p) for p in out.glob("*.template.json"))
        lint = subprocess.run(["cfn-lint", "--format", "parseable", *templates], capture_output=True, text=True, timeout=300)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        unchanged = skiff("diff", "--fail", cwd=str(app), timeout=600)
        assert unchanged.returncode == 0, unchanged.stderr[-4000:]
        assert unchanged.stdout.count("There were no differences") == 3
        assert unchanged.stdout.rstrip().endswith("Number of stacks with differences: 0")

        # An edit to the platform: prod's web service scaled out, the batch job moved to 04:30.
        source = main_swift.read_text()
        edited = source.replace('desiredCount: name == "prod" ? 2 : 1', 'desiredCount: name == "prod" ? 4 : 1')
        edited = edited.replace('"cron(0 3 * * ? *)"', '"cron(30 4 * * ? *)"')
        assert edited != source and edited.count("cron(30 4") == 1
        main_swift.write_text(edited)
        changed = skiff("diff", "--fail", cwd=str(app), timeout=600)
        assert changed.returncode == 1, changed.stderr[-4000:]
        prod = changed.stdout.split("Stack Prod (aws://222222222222/ap-northeast-1)\n")[1].split("\n\n")[0]
        assert "[~] AWS::ECS::Service WebService\n" in prod
        assert " [~] Properties.DesiredCount: 2 → 4" in prod
        assert "[~] AWS::Scheduler::Schedule SampleBatchSchedule\n" in prod
        assert ' [~] Properties.ScheduleExpression: "cron(0 3 * * ? *)" → "cron(30 4 * * ? *)"' in prod
        stg = changed.stdout.split("Stack Stg (aws://333333333333/ap-northeast-1)\n")[1].split("\n\n")[0]
        assert "WebService" not in stg and "ScheduleExpression" in stg
        assert "Stack Management (aws://111111111111/us-east-1)\nThere were no differences" in changed.stdout
        assert changed.stdout.rstrip().endswith("Number of stacks with differences: 2")
        # diff leaves cdk.out as the last synth wrote it; only the named stack is compared when one is named.
        assert '"DesiredCount": 2' in (out / "Prod.template.json").read_text()
        only = skiff("diff", "Stg", cwd=str(app), timeout=600)
        assert only.returncode == 0 and "Stack Prod" not in only.stdout and "ScheduleExpression" in only.stdout

        # A platform that does not synthesize: the program's one-line reason, then skiff's.
        main_swift.write_text(edited.replace('"cron(30 4 * * ? *)"', '"cron(30 4 * *)"'))
        broken = skiff("synth", "--app", str(app), "--out", str(tmp_path / "elsewhere"), timeout=600)
        assert broken.returncode == 1
        assert error_lines(broken.stderr) == [
            'Error: the platform does not synthesize: stack Prod: batch job sample-batch: cron(...) takes 6 fields, '
            '"cron(30 4 * *)" has 4',
            "Error: the platform program MyPlatform failed (exit status 1)",
        ]
    finally:
        # The package's build folder holds Platform and its dependencies compiled: about 200 MB.
        shutil.rmtree(app / ".build", ignore_errors=True)


def test_init_refuses_what_it_cannot_write(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    refused = skiff("init", "platform", str(a_file), "--skiff-path", ROOT)
    assert refused.returncode == 1 and error_lines(refused.stderr) == [f"Error: {a_file} is a file, not a folder"]

    not_skiff = skiff("init", "platform", str(tmp_path / "p"), "--skiff-path", str(tmp_path))
    assert not_skiff.returncode == 1
    assert error_lines(not_skiff.stderr) == [f"Error: {tmp_path} is not Skiff's source tree (no Package.swift declaring the Platform library)"]
    assert not (tmp_path / "p").exists()

    # A folder with other files takes the package; its own files stay as they are.
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "notes.txt").write_text("mine")
    written = skiff("init", "platform", str(tmp_path / "q"), "--skiff-path", ROOT, "--name", "Infra")
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "q" / "Sources" / "Infra" / "main.swift").exists()
    assert (tmp_path / "q" / "notes.txt").read_text() == "mine"

    bad_name = skiff("init", "platform", str(tmp_path / "r"), "--name", "Platform")
    assert bad_name.returncode != 0 and "--name Platform is the name of a module" in bad_name.stderr


def test_synth_outside_a_platform_package_says_what_to_do(tmp_path):
    result = skiff("synth", cwd=str(tmp_path))
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "no platform package here" in line and "skiff init platform" in line and "--example" in line

    example = skiff("synth", "--example", "--out", str(tmp_path / "cdk.out"))
    assert example.returncode == 0, example.stderr
    assert sorted(p.name for p in (tmp_path / "cdk.out").iterdir()) == [
        "Management.template.json", "Prod.template.json", "Stg.template.json", "manifest.json"]


def test_diff_of_the_example_against_its_last_synthesis(tmp_path):
    out = str(tmp_path / "cdk.out")
    first = skiff("diff", "--example", "--out", out, "--fail")
    assert first.returncode == 1  # nothing synthesized yet: every stack is new
    assert "no cloud assembly in" in first.stderr and first.stdout.count("[+] new stack") == 3
    assert skiff("synth", "--example", "--out", out).returncode == 0
    same = skiff("diff", "--example", "--out", out, "--fail")
    assert same.returncode == 0 and same.stdout.rstrip().endswith("Number of stacks with differences: 0")

    # A stack synthesized before and gone from the platform is listed as removed.
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    manifest["artifacts"]["Old"] = {"type": "aws:cloudformation:stack", "environment": "aws://222222222222/ap-northeast-1",
                                    "properties": {"templateFile": "Old.template.json"}}
    (tmp_path / "cdk.out" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "cdk.out" / "Old.template.json").write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}')
    removed = skiff("diff", "--example", "--out", out)
    assert removed.returncode == 0
    assert "Stack Old\n[-] no longer in the platform" in removed.stdout

    unknown = skiff("diff", "Nope", "--example", "--out", out)
    assert error_lines(unknown.stderr) == ["Error: no stack Nope in the platform (its stacks: Management, Prod, Stg)"]


@pytest.fixture
def multi_account_cloud():
    server = SkiffServer(extra_args=["--account", "AKIDPROD=222222222222"]).start()
    yield server
    server.stop()


def test_deploy_and_diff_deployed_through_the_aws_cli(tmp_path, multi_account_cloud):
    endpoint = multi_account_cloud.endpoint
    out = str(tmp_path / "cdk.out")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDPROD", AWS_SECRET_ACCESS_KEY="test")
    env.pop("AWS_PROFILE", None)

    # The credentials' account (222222222222) is not the management stack's: nothing is deployed.
    refused = skiff("deploy", "--example", "--out", out, "--endpoint-url", endpoint, env=env)
    assert refused.returncode == 1
    assert error_lines(refused.stderr) == [
        "Error: the credentials are for account 222222222222, not for Management (account 111111111111), "
        "Stg (account 333333333333): deploy each account's stacks with its credentials (--profile), naming them "
        "(skiff deploy STACK...)"]

    # The local cloud does not serve CloudFormation yet: the AWS CLI's answer, as one line.
    deploy = skiff("deploy", "Prod", "--example", "--out", out, "--endpoint-url", endpoint,
                   "--parameters", "VpcId=vpc-1", "--parameters", "Prod:ImageTag=1.2.0", env=env)
    assert deploy.returncode == 1
    [line] = error_lines(deploy.stderr)
    assert line.startswith(f"Error: stack Prod was not deployed (aws cloudformation deploy at {endpoint}): An error occurred "
                           "(UnknownOperationException)")
    assert "does not serve CloudFormation" in line
    assert "Prod: deploying to aws://222222222222/ap-northeast-1" in deploy.stdout
    assert os.path.exists(os.path.join(out, "Prod.template.json"))  # deploy synthesizes into cdk.out first

    deployed = skiff("diff", "Prod", "--example", "--out", out, "--deployed", "--endpoint-url", endpoint, env=env)
    assert deployed.returncode == 1
    [line] = error_lines(deployed.stderr)
    assert "cannot get the deployed template of Prod" in line and "does not serve CloudFormation GetTemplate" in line

    bad = skiff("deploy", "--example", "--parameters", "nonsense", env=env)
    assert bad.returncode != 0 and "--parameters nonsense is not Key=Value or Stack:Key=Value" in bad.stderr


def test_deploy_without_the_aws_cli(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))
    result = skiff("deploy", "--example", "--out", str(tmp_path / "cdk.out"), env=env)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Error: the AWS CLI (aws) is not on PATH: install it (pip install awscli, or https://aws.amazon.com/cli/)"]
    assert not (tmp_path / "cdk.out").exists()  # nothing is synthesized before the CLI is found
