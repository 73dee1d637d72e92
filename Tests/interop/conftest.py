"""Interop tests: real AWS clients (boto3, the AWS CLI) against a running `skiff up`.

By default each test session starts its own server from the debug build (`.build/debug/skiff`, or the binary
named by SKIFF_BIN) on a free port with in-memory state. Set SKIFF_ENDPOINT to test a server already running.
"""
import json
import os
import socket
import subprocess
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGION = "us-east-1"


def install_programs(image_dir, *names):
    """Copies host programs into an image directory's bin/, as a container image carries its own: tasks of the
    process runner find programs inside their image only (docs/ecs-tasks.md)."""
    import shutil
    bin_dir = os.path.join(str(image_dir), "bin")
    os.makedirs(bin_dir, exist_ok=True)
    for name in names:
        shutil.copy2(shutil.which(name), os.path.join(bin_dir, name))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(endpoint, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(endpoint + "/_skiff/health", timeout=1) as r:
                return json.load(r)
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"skiff did not answer at {endpoint} within {timeout}s")


class SkiffServer:
    """A `skiff up` process; `restart()` keeps its state directory, `kill()` is a SIGKILL."""

    def __init__(self, state_dir=None, extra_args=()):
        self.binary = os.environ.get("SKIFF_BIN", os.path.join(ROOT, ".build", "debug", "skiff"))
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.state_dir = state_dir
        self.extra_args = list(extra_args)
        self.process = None
        self.log_path = None

    def start(self):
        args = [self.binary, "up", "--port", str(self.port)]
        args += ["--state-dir", self.state_dir] if self.state_dir else ["--in-memory"]
        args += self.extra_args
        self.log_path = f"/tmp/skiff-interop-{self.port}.log"
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_healthy(self.endpoint)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None

    def restart(self):
        self.stop()
        return self.start()

    def client(self, service):
        return client(service, self.endpoint)

    def cli(self, *args, check=True):
        return cli(self.endpoint, *args, check=check)


def client(service, endpoint):
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}, inject_host_prefix=False))


def cli(endpoint, *args, check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION,
               AWS_PAGER="", AWS_DISABLE_HOST_PREFIX_INJECTION="true")
    result = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", *args],
                            capture_output=True, text=True, env=env, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


@pytest.fixture(scope="session")
def skiff():
    """A server shared by the session (in memory), or the one at SKIFF_ENDPOINT."""
    if os.environ.get("SKIFF_ENDPOINT"):
        class External:
            endpoint = os.environ["SKIFF_ENDPOINT"]
            def client(self, service):
                return client(service, self.endpoint)
            def cli(self, *args, check=True):
                return cli(self.endpoint, *args, check=check)
        yield External()
        return
    server = SkiffServer().start()
    yield server
    server.stop()


@pytest.fixture
def fresh_skiff(tmp_path):
    """A server of the test's own, with its state on disk (for restart and crash tests)."""
    server = SkiffServer(state_dir=str(tmp_path / "state")).start()
    yield server
    server.kill()
