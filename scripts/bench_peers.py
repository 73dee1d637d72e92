"""The peers the benchmarks run beside skiff (moto's server and MiniStack), and how a server process is measured.

MiniStack (https://pypi.org/project/ministack/) is installed, at the version pinned here, into a virtual
environment of its own the first time a benchmark needs it (MINISTACK_VENV, by default
~/.cache/skiff-bench/ministack-venv; $XDG_CACHE_HOME is used when set), so that a plain run works on a machine
where it was never installed and the figures do not move with whatever version happens to be there. It is started
as its console script does, in the foreground, on the port given in GATEWAY_PORT, bound to 127.0.0.1, in memory
(MiniStack persists nothing unless PERSIST_STATE=1 or S3_PERSIST=1).
"""
import os
import subprocess
import sys

MINISTACK_VERSION = "1.5.33"


def ministack_venv():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("MINISTACK_VENV") or os.path.join(cache, "skiff-bench", "ministack-venv")


def ministack_python():
    """The venv's Python with MiniStack at MINISTACK_VERSION, installing it there first if needed. Raises
    RuntimeError, saying why, when that cannot be done (no network, no venv module)."""
    venv = ministack_venv()
    python = os.path.join(venv, "bin", "python")
    if installed_version(python) == MINISTACK_VERSION:
        return python
    print(f"installing ministack=={MINISTACK_VERSION} into {venv} (once)", file=sys.stderr)
    if not os.path.exists(python):
        run([sys.executable, "-m", "venv", venv])
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"ministack=={MINISTACK_VERSION}"])
    if installed_version(python) != MINISTACK_VERSION:
        raise RuntimeError(f"ministack {MINISTACK_VERSION} not importable from {python} after installing it")
    return python


def run(command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(command[:4])} failed: {last[0][:200]}")


def installed_version(python):
    if not os.path.exists(python):
        return None
    done = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('ministack'))"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def ministack_server(python):
    """How to start MiniStack on a port: (command line, environment) for the port. Its console script, in the
    foreground; the port comes from GATEWAY_PORT."""
    script = os.path.join(os.path.dirname(python), "ministack")
    # LOG_LEVEL=WARNING as skiff runs with --log-level warning: neither writes a line per request.
    return lambda port: ([script], dict(os.environ, GATEWAY_PORT=str(port), BIND_HOST="127.0.0.1", LOG_LEVEL="WARNING"))


def moto_server(python=sys.executable):
    return lambda port: ([python, "-m", "moto.server", "-p", str(port)], None)


def skiff_server(skiff):
    return lambda port: ([skiff, "up", "--in-memory", "--port", str(port), "--log-level", "warning"], None)


def descendants(pid):
    """pid and every live process below it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def cpu_seconds(pid):
    """User + system CPU time so far of a process (all its threads), of the children it has waited for, and of its
    live descendants."""
    ticks = 0
    for index, process in enumerate(descendants(pid)):
        try:
            with open(f"/proc/{process}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        if index == 0:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children it waited for
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    """(VmRSS, RssAnon) in KiB, summed over the process and its live descendants: all resident pages, and the
    private (anonymous) ones among them. The rest are file-backed pages of the executables and their libraries,
    shared and reclaimable."""
    vm_rss = rss_anon = 0
    for process in descendants(pid):
        try:
            with open(f"/proc/{process}/status") as f:
                for line in f:
                    name, _, rest = line.partition(":")
                    if name == "VmRSS":
                        vm_rss += int(rest.split()[0])
                    elif name == "RssAnon":
                        rss_anon += int(rest.split()[0])
        except OSError:
            continue
    return vm_rss, rss_anon
