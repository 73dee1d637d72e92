"""The README's shell blocks, run in order as a newcomer pastes them.

The first block's two commands are the project's run and test commands: the first is started and checked healthy
(then stopped, as the README says before the tour), the second is CI's test command, which `.ci/run` runs itself.
Every later `sh` block runs, as written, in one bash session (so its exports and variables carry over), in a fresh
directory holding the repository's `examples/` and `scripts/`, with HOME set to a fresh directory (so that
`scripts/install` installs into it), and with the debug build installed instead of a release build
(SKIFF_INSTALL_CONFIGURATION=debug; `scripts/install` documents it). The tour uses port 4566, as the README does.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT

PORT = 4566


def shell_blocks():
    """(line number, text) of each ```sh block of README.md, in order."""
    return code_blocks("sh|bash")


def code_blocks(languages):
    blocks, current, start = [], None, 0
    with open(os.path.join(ROOT, "README.md")) as f:
        for number, line in enumerate(f, 1):
            if current is None and re.match(rf"^```({languages})\s*$", line):
                current, start = [], number
            elif current is not None and line.startswith("```"):
                blocks.append((start, "".join(current)))
                current = None
            elif current is not None:
                current.append(line)
    return blocks


def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_for_health(timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/_skiff/health", timeout=1) as answer:
                return answer.status == 200
        except Exception:
            time.sleep(0.2)
    return False


def stop_group(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def kill_tasks_under(directory):
    """Ends the task processes still running from `directory`'s images: tasks outlive their server by design, and a
    failed block may leave the tour's worker running."""
    root = os.path.realpath(directory)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.path.realpath(f"/proc/{pid}/cwd").startswith(root + os.sep):
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def test_the_readme_starts_with_the_run_and_test_commands():
    first_line, first = shell_blocks()[0]
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in first.splitlines() if line.strip()]
    assert commands == ["swift run skiff up", "swift test"], f"README.md line {first_line}: {commands}"


@pytest.fixture
def port_4566():
    if not port_is_free(PORT):
        pytest.fail(f"port {PORT} is in use: the README's commands use it; stop the skiff up (or other program) on it")


def test_the_first_command_runs_the_local_cloud(port_4566, tmp_path):
    _, first = shell_blocks()[0]
    command = re.sub(r"\s+#.*$", "", first.splitlines()[0]).strip()
    log = open(tmp_path / "swift-run.log", "wb")
    process = subprocess.Popen(["bash", "-c", command], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # `swift run` builds first: quick once the build is there, minutes on a fresh clone.
        healthy = wait_for_health(timeout=900)
        assert healthy, open(tmp_path / "swift-run.log").read()[-3000:]
    finally:
        stop_group(process)


def test_every_later_block_runs_in_order(port_4566, tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    home.mkdir()
    work.mkdir()
    shutil.copytree(os.path.join(ROOT, "examples"), work / "examples")
    os.symlink(os.path.join(ROOT, "scripts"), work / "scripts")
    script = ["set -euo pipefail"]
    for line, text in shell_blocks()[1:]:
        script.append(f"echo '=== README.md line {line}'")
        script.append(text)
    environment = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("AWS_", "SKIFF_"))  # the README sets what it needs; nothing from this shell leaks in
    }
    environment.update({"HOME": str(home), "SKIFF_INSTALL_CONFIGURATION": "debug"})
    output_path = tmp_path / "readme.out"
    with open(output_path, "wb") as output:
        process = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=work, env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=1500)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            stop_group(process)
            kill_tasks_under(work)
    text = open(output_path).read()
    server_log = (work / "skiff.log").read_text() if (work / "skiff.log").exists() else "(no skiff.log)"
    assert code == 0, f"a README block failed (exit {code}):\n{text[-6000:]}\n--- skiff.log ---\n{server_log[-3000:]}"
    # What the tour says the reader sees.
    assert '"SUCCEEDED"' in text and '{\\"exitCode\\":0}' in text, text[-4000:]
    assert "batch job started with: --date 2024-01-01" in text
    assert "ECS task stopped" in server_log and "execution ended" in server_log

    # The README's Swift is a platform's main.swift: it builds and synthesizes in the package the tour created.
    swift_blocks = code_blocks("swift")
    assert len(swift_blocks) == 1, "the README shows one main.swift"
    main = work / "my-platform" / "Sources" / "MyPlatform" / "main.swift"
    assert main.exists(), "the tour's skiff init platform my-platform wrote Sources/MyPlatform/main.swift"
    main.write_text(swift_blocks[0][1])
    skiff = home / ".local" / "bin" / "skiff"
    synthesized = subprocess.run([str(skiff), "synth", "--app", "my-platform"], cwd=work, env=environment,
                                 capture_output=True, text=True, timeout=900)
    assert synthesized.returncode == 0, f"README.md line {swift_blocks[0][0]}: {synthesized.stderr[-3000:]}"
    assert (work / "my-platform" / "cdk.out" / "Prod.template.json").exists()
