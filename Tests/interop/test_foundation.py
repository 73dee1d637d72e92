"""The foundation through real clients: routing, protocols, errors and persistence."""
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError


def test_health(skiff):
    with urllib.request.urlopen(skiff.endpoint + "/_skiff/health") as r:
        health = json.load(r)
    assert health["services"]["sts"] == "running"
    assert "version" in health and "uptimeSeconds" in health


def test_sts_through_boto3_and_cli(skiff):
    identity = skiff.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    out = json.loads(skiff.cli("sts", "get-caller-identity").stdout)
    assert out["Account"] == "000000000000"


def test_unimplemented_operation_names_itself(skiff):
    with pytest.raises(ClientError) as e:
        skiff.client("sts").get_session_token()
    assert "GetSessionToken" in e.value.response["Error"]["Message"]


@pytest.mark.parametrize("service, call, sentence", [
    ("iam", lambda c: c.create_group(GroupName="ops"), "Skiff does not serve IAM CreateGroup yet."),
    ("sns", lambda c: c.create_topic(Name="alerts"), "Skiff does not serve Amazon SNS CreateTopic yet."),
    ("organizations", lambda c: c.describe_organization(), "Skiff does not serve Organizations DescribeOrganization yet."),
    ("cloudtrail", lambda c: c.describe_trails(), "Skiff does not serve CloudTrail DescribeTrails yet."),
    ("eks", lambda c: c.list_clusters(), "Skiff does not serve Amazon EKS (GET /clusters) yet."),
    ("eks", lambda c: c.tag_resource(resourceArn="arn:aws:eks:us-east-1:000000000000:cluster/c", tags={"a": "b"}),
     "Skiff does not serve Amazon EKS (POST /tags/arn%3Aaws%3Aeks%3Aus-east-1%3A000000000000%3Acluster%2Fc) yet."),
])
def test_services_not_served_are_named(skiff, service, call, sentence):
    with pytest.raises(ClientError) as e:
        call(skiff.client(service))
    assert e.value.response["Error"]["Message"] == sentence
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_malformed_json_gets_aws_error_and_server_keeps_serving(skiff):
    req = urllib.request.Request(skiff.endpoint + "/", data=b"{not json", method="POST", headers={
        "X-Amz-Target": "Nope.Op", "Content-Type": "application/x-amz-json-1.0"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400
    assert json.load(e.value)["__type"] == "UnknownOperationException"
    assert skiff.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_state_survives_restart(fresh_skiff):
    with urllib.request.urlopen(fresh_skiff.endpoint + "/_skiff/health") as r:
        assert json.load(r)["persistence"].endswith("skiff.sqlite")
    fresh_skiff.restart()
    assert fresh_skiff.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_graceful_shutdown_on_sigterm(fresh_skiff):
    process = fresh_skiff.process
    process.terminate()
    assert process.wait(timeout=10) == 0
    fresh_skiff.process = None


def test_access_keys_map_to_accounts(tmp_path):
    from conftest import SkiffServer, client
    import boto3
    from botocore.config import Config
    server = SkiffServer(extra_args=["--account", "AKIDPROD=111111111111"]).start()
    try:
        prod = boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                            aws_access_key_id="AKIDPROD", aws_secret_access_key="x")
        assert prod.get_caller_identity()["Account"] == "111111111111"
        assert server.client("sts").get_caller_identity()["Account"] == "000000000000"
    finally:
        server.stop()


def test_state_directory_is_private_and_its_errors_are_one_line(fresh_skiff, tmp_path):
    import os
    import stat
    import subprocess
    assert stat.S_IMODE(os.stat(fresh_skiff.state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(fresh_skiff.state_dir, "skiff.sqlite")).st_mode) == 0o600
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run([fresh_skiff.binary, "up", "--port", "0", "--state-dir", str(blocker)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: cannot use the state directory: {blocker}: it is a file, not a folder"


def test_skiff_jsonata_says_to_drop_the_state_machine_braces(skiff):
    import subprocess
    result = subprocess.run([interop_binary(), "jsonata", "{% $sum([1, 2]) %}"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "skiff jsonata '$sum([1, 2])'" in result.stderr


def interop_binary():
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.environ.get("SKIFF_BIN", os.path.join(root, ".build", "debug", "skiff"))
