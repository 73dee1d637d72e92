"""ECS Exec against the local cloud: `aws ecs execute-command --interactive` through the `session-manager-plugin` skiff
installs (a link to the skiff binary, here in a directory of the test's own on PATH), and `skiff exec`, on a terminal
(a pseudo-terminal of the test's), with standard input forwarded, and with a shell's exit statuses."""
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
import urllib.request

import pytest

from conftest import REGION, ROOT, SkiffServer, install_programs

BINARY = os.environ.get("SKIFF_BIN", os.path.join(ROOT, ".build", "debug", "skiff"))


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """The example image (examples/jobs: its long-running worker.sh), with a few programs of the host in its bin."""
    directory = tmp_path_factory.mktemp("jobs")
    shutil.copytree(os.path.join(ROOT, "examples", "jobs"), str(directory), dirs_exist_ok=True)
    install_programs(directory, "stty", "cat", "sleep")
    (directory / "notes.txt").write_text("not a program\n")
    return directory


@pytest.fixture(scope="module")
def server(image_dir):
    server = SkiffServer(extra_args=["--image-map", f"jobs={image_dir}", "--container-engine", "none"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """A directory holding `session-manager-plugin`, a link to skiff, as skiff's install makes it."""
    directory = tmp_path_factory.mktemp("plugin")
    os.symlink(BINARY, str(directory / "session-manager-plugin"))
    return str(directory)


def environment(server, plugin_path):
    return dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION,
                AWS_PAGER="", PATH=plugin_path + os.pathsep + os.environ["PATH"], TERM="xterm")


@pytest.fixture(scope="module")
def ecs(server):
    client = server.client("ecs")
    client.create_cluster(clusterName="web")
    client.register_task_definition(family="worker", containerDefinitions=[{
        "name": "app", "image": "jobs", "memory": 128, "entryPoint": ["./worker.sh"],
        "environment": [{"name": "WORKER_INTERVAL", "value": "1"}]}])
    return client


def run_task(ecs, enable_execute_command=True):
    task_arn = ecs.run_task(cluster="web", taskDefinition="worker",
                            enableExecuteCommand=enable_execute_command)["tasks"][0]["taskArn"]
    deadline = time.time() + 20
    while ecs.describe_tasks(cluster="web", tasks=[task_arn])["tasks"][0]["lastStatus"] != "RUNNING":
        assert time.time() < deadline, "the task did not reach RUNNING"
        time.sleep(0.05)
    return task_arn


@pytest.fixture(scope="module")
def task(ecs):
    task_arn = run_task(ecs)
    yield task_arn
    ecs.stop_task(cluster="web", task=task_arn)


def on_terminal(argv, keystrokes, env, rows=30, columns=100, timeout=60, pause=1.0):
    """Runs `argv` on a pseudo-terminal of `rows` x `columns`, typing each of `keystrokes` `pause` seconds apart;
    returns what it wrote and its exit status."""
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        os.execvpe(argv[0], argv, env)
    output, pending, last = b"", list(keystrokes), time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            output += data
        if pending and time.time() - last > pause:
            os.write(fd, pending.pop(0))
            last = time.time()
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return output.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def execute_command(server, plugin_path, task_arn, command, keystrokes=(), **options):
    return on_terminal(["aws", "--endpoint-url", server.endpoint, "ecs", "execute-command", "--cluster", "web",
                        "--task", task_arn, "--container", "app", "--interactive", "--command", command],
                       keystrokes, environment(server, plugin_path), **options)


def test_the_plugin_is_found_as_the_aws_cli_checks_it(plugin_path):
    result = subprocess.run(["session-manager-plugin"], capture_output=True, text=True, timeout=30,
                            env=dict(os.environ, PATH=plugin_path + os.pathsep + os.environ["PATH"]))
    assert result.returncode == 0
    assert "The Session Manager plugin was installed successfully" in result.stdout
    hidden = subprocess.run([BINARY, "session-manager-plugin", "--version"], capture_output=True, text=True, timeout=30)
    assert hidden.returncode == 0 and "skiff" in hidden.stdout


def test_execute_command_opens_an_interactive_shell(server, plugin_path, task):
    output, status = execute_command(server, plugin_path, task, "sh", [
        b"stty size; echo \"name=$ECS_CONTAINER_NAME term=$TERM\"\r", b"exit\r"])
    assert status == 0, output
    assert "Starting session with SessionId: ecs-execute-command-" in output
    assert "30 100" in output
    assert "name=app term=xterm-256color" in output
    assert "Exiting session with sessionId: ecs-execute-command-" in output


def test_keystrokes_and_the_exit_status_reach_through_the_aws_cli(server, plugin_path, task):
    # Ctrl-C goes to the remote command (the local terminal is raw): it ends the `cat`, not the session.
    output, status = execute_command(server, plugin_path, task, "sh", [
        b"cat\r", b"typed through\r", b"\x03", b"echo after-interrupt; exit 3\r"])
    assert "typed through" in output and "after-interrupt" in output, output
    # The AWS CLI reports a plugin's non-zero status as its own error (255), naming the status.
    assert status == 255, output
    assert "returned non-zero exit status 3" in output


def test_a_missing_command_exits_127(server, plugin_path, task):
    output, status = execute_command(server, plugin_path, task, "no-such-program --help")
    assert 'exec: "no-such-program": executable file not found in $PATH' in output
    assert status == 255 and "returned non-zero exit status 127" in output, output
    output, status = execute_command(server, plugin_path, task, "./notes.txt")
    assert 'exec: "./notes.txt": permission denied' in output
    assert "returned non-zero exit status 126" in output, output


def test_execute_command_needs_execute_command_enabled(server, plugin_path, ecs):
    task_arn = run_task(ecs, enable_execute_command=False)
    try:
        result = subprocess.run(["aws", "--endpoint-url", server.endpoint, "ecs", "execute-command", "--cluster", "web",
                                 "--task", task_arn, "--interactive", "--command", "sh"],
                                capture_output=True, text=True, timeout=60, env=environment(server, plugin_path))
        assert result.returncode != 0
        assert "InvalidParameterException" in result.stderr
        assert "execute command was not enabled when the task was run" in result.stderr
    finally:
        ecs.stop_task(cluster="web", task=task_arn)


def test_skiff_exec_on_a_terminal(server, plugin_path, task):
    output, status = on_terminal([BINARY, "exec", "--endpoint-url", server.endpoint, "--task", task, "--", "sh"], [
        b"stty size; test -t 0 && echo on-a-terminal\r", b"exit 5\r"], environment(server, plugin_path), rows=25, columns=90)
    assert status == 5, output
    assert "25 90" in output and "on-a-terminal" in output


def test_skiff_exec_exit_statuses_agree_with_the_json_endpoint(server, task):
    missing = subprocess.run([BINARY, "exec", "--endpoint-url", server.endpoint, "--task", task, "--", "no-such-program"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert missing.returncode == 127
    assert 'exec: "no-such-program": executable file not found in $PATH' in missing.stderr
    unrunnable = subprocess.run([BINARY, "exec", "--endpoint-url", server.endpoint, "--task", task, "--", "./notes.txt"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert unrunnable.returncode == 126
    signalled = subprocess.run([BINARY, "exec", "--endpoint-url", server.endpoint, "--task", task, "--", "sh", "-c", "kill -9 $$"],
                               capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert signalled.returncode == 137
    # The JSON endpoint scripts use answers the same statuses.
    request = urllib.request.Request(
        server.endpoint + "/_skiff/ecs/exec", method="POST",
        data=json.dumps({"task": task, "command": ["no-such-program"]}).encode(),
        headers={"Content-Type": "application/json", "X-Amz-Date": "20240101T000000Z",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = json.load(answer)
    assert body["exitCode"] == 127 and "executable file not found" in body["stderr"]
    gone = subprocess.run([BINARY, "exec", "--endpoint-url", server.endpoint, "--task", "0" * 32, "--", "true"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert gone.returncode == 125 and "not running" in gone.stderr


def test_skiff_exec_forwards_standard_input(server, task, tmp_path):
    data = os.urandom(300_000)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    with open(source, "rb") as stdin:
        piped = subprocess.run([BINARY, "exec", "-i", "--endpoint-url", server.endpoint, "--task", task, "--",
                                "sh", "-c", "cat; echo done >&2"], stdin=stdin, capture_output=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == data
    assert piped.stderr == b"done\n"


def test_a_client_that_goes_away_ends_the_command(server, plugin_path, task):
    """The AWS CLI and its plugin killed mid-session: the command run in the task ends (a terminal's hang-up)."""
    marker = "4242.5"
    pid, fd = pty.fork()
    if pid == 0:
        argv = ["aws", "--endpoint-url", server.endpoint, "ecs", "execute-command", "--cluster", "web", "--task", task,
                "--container", "app", "--interactive", "--command", f"sleep {marker}"]
        os.execvpe(argv[0], argv, environment(server, plugin_path))

    def sleeping():
        """The processes that are the command: `sleep` (by whatever path) with the marker as its argument."""
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    argv = cmdline.read().split(b"\0")
            except (OSError, ValueError):
                continue
            if len(argv) >= 2 and argv[0].endswith(b"sleep") and argv[1] == marker.encode():
                found.append(entry)
        return found

    deadline = time.time() + 30
    while not sleeping():
        assert time.time() < deadline, "the command did not start"
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                pass
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(fd)
    deadline = time.time() + 10
    while sleeping():
        assert time.time() < deadline, "the command outlived its client"
        time.sleep(0.1)
