"""Robustness: hostile and broken input against a running `skiff up`, which must stay up and answer.

Each test sends a batch of requests (mutated bodies of every protocol, deep nesting, huge numbers, invalid UTF-8,
hostile state machines and JSONata, malformed HTTP) and then checks that the server is alive and answers its health
check within a second. The mutations come from a seeded generator (SKIFF_FUZZ_SEED, default 24), so a failure can be
replayed; the batches are bounded in count and time.

Run with the interop tests' server: `python3 -m pytest -q Tests/robustness` (SKIFF_BIN names the binary).
"""
import importlib.util
import json
import os
import random
import socket
import subprocess
import time
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("interop_support", os.path.join(HERE, "..", "interop", "conftest.py"))
interop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(interop)

SEED = int(os.environ.get("SKIFF_FUZZ_SEED", "24"))
REGION = "us-east-1"
CREDENTIALS = Credentials("test", "test")


@pytest.fixture(scope="module")
def server():
    server = interop.SkiffServer().start()
    yield server
    alive = server.process.poll() is None
    server.stop()
    assert alive, f"skiff up died; its log: {server.log_path}"


def assert_healthy(server, within=1.0):
    """The process lives and answers its health check within `within` seconds."""
    assert server.process.poll() is None, f"skiff up exited with {server.process.returncode}; log: {server.log_path}"
    started = time.monotonic()
    with urllib.request.urlopen(server.endpoint + "/_skiff/health", timeout=within) as answer:
        assert answer.status == 200
        assert json.load(answer)["status"] in ("ok", "degraded")
    assert time.monotonic() - started < within


def signed(server, service, body, headers, method="POST", path="/"):
    request = AWSRequest(method=method, url=server.endpoint + path, data=body, headers=headers)
    SigV4Auth(CREDENTIALS, service, REGION).add_auth(request)
    return dict(request.headers.items())


def send_raw(server, data, timeout=10.0):
    """Sends bytes on a new connection; returns what came back before the server closed or `timeout` passed."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
        except socket.timeout:
            pass
        return received


def request(server, service, body, headers, method="POST", path="/", timeout=10.0):
    """A signed request with `body` as bytes (any bytes); returns (status, body)."""
    headers = dict(headers)
    headers.setdefault("Host", f"127.0.0.1:{server.port}")
    all_headers = signed(server, service, body, headers, method, path)
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    answer = send_raw(server, head.encode("latin-1") + body, timeout=timeout)
    status_line = answer.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, answer.partition(b"\r\n\r\n")[2]


JSON_TARGETS = {
    "states": ("AWSStepFunctions", "application/x-amz-json-1.0"),
    "ecs": ("AmazonEC2ContainerServiceV20141113", "application/x-amz-json-1.1"),
    "events": ("AWSEvents", "application/x-amz-json-1.1"),
    "logs": ("Logs_20140328", "application/x-amz-json-1.1"),
}

PASS_MACHINE = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})

SEEDS = [
    ("states", "CreateStateMachine", {"name": "fz", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": PASS_MACHINE}),
    ("states", "StartExecution", {"stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:fz", "input": "{\"a\":[1,2,{\"b\":null}]}"}),
    ("states", "ListExecutions", {"stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:fz", "maxResults": 10}),
    ("states", "TestState", {"definition": json.dumps({"Type": "Pass", "End": True}), "input": "{}"}),
    ("ecs", "CreateCluster", {"clusterName": "fz"}),
    ("ecs", "RegisterTaskDefinition", {"family": "fz", "containerDefinitions": [{"name": "a", "image": "none", "memory": 128}]}),
    ("ecs", "ListTasks", {"cluster": "fz", "maxResults": 10}),
    ("events", "PutRule", {"Name": "fz", "EventPattern": "{\"source\":[\"a\"],\"detail\":{\"n\":[{\"numeric\":[\">\",1]}]}}"}),
    ("events", "PutEvents", {"Entries": [{"Source": "a", "DetailType": "t", "Detail": "{\"n\":5}"}]}),
    ("events", "TestEventPattern", {"EventPattern": "{\"source\":[\"a\"]}", "Event": "{\"id\":\"1\",\"source\":\"a\",\"detail-type\":\"t\",\"account\":\"000000000000\",\"region\":\"us-east-1\",\"time\":\"2024-01-01T00:00:00Z\",\"resources\":[],\"detail\":{}}"}),
    ("logs", "CreateLogGroup", {"logGroupName": "fz"}),
    ("logs", "FilterLogEvents", {"logGroupName": "fz", "filterPattern": "{ $.n > 1 && $.s = \"x*\" }"}),
    ("logs", "PutLogEvents", {"logGroupName": "fz", "logStreamName": "s", "logEvents": [{"timestamp": 1, "message": "m"}]}),
]


def mutate(rng, data):
    """One mutation of `data` (bytes): flips, cuts, splices of hostile fragments."""
    data = bytearray(data)
    kind = rng.randrange(9)
    if kind == 0 and data:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1 and data:
        del data[rng.randrange(len(data)):]
    elif kind == 2:
        data[rng.randrange(len(data) + 1):0] = b"[" * rng.choice([600, 5000, 100000])
    elif kind == 3:
        data[rng.randrange(len(data) + 1):0] = rng.choice([b"1e400", b"-1e308", b"123456789012345678901234567890", b"1e-400", b"NaN", b"-0"])
    elif kind == 4:
        data[rng.randrange(len(data) + 1):0] = rng.choice([b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\x00", b"\\ud800"])
    elif kind == 5:
        data = bytearray(json.dumps(rng.choice([None, [], 1e308, "x" * 70000, {"a": {"b": {}}}])).encode())
    elif kind == 6:
        data[rng.randrange(len(data) + 1):0] = b'{"a":' * 3000
    elif kind == 7:
        data = bytearray(rng.randbytes(rng.randint(0, 300)))
    else:
        text = bytes(data).replace(b"1", b"99999999999999999999999").replace(b"10", b"1e300")
        data = bytearray(text)
    return bytes(data)


def test_mutated_json_protocol_requests_leave_the_server_up(server):
    rng = random.Random(SEED)
    deadline = time.monotonic() + 40
    sent = 0
    for round_ in range(12):
        for service, operation, body in SEEDS:
            prefix, content_type = JSON_TARGETS[service]
            payload = mutate(rng, json.dumps(body).encode())
            status, answer = request(server, service, payload,
                                     {"X-Amz-Target": f"{prefix}.{operation}", "Content-Type": content_type})
            sent += 1
            assert status != 0, f"no answer to {operation} with {payload[:200]!r}"
            assert status < 500 or status == 503, f"{operation} answered {status}: {answer[:300]!r} for {payload[:200]!r}"
        assert_healthy(server)
        if time.monotonic() > deadline:
            break
    assert sent >= len(SEEDS)


def test_mutated_rest_json_and_query_requests_leave_the_server_up(server):
    rng = random.Random(SEED + 1)
    schedule = json.dumps({"ScheduleExpression": "cron(0 12 * * ? *)", "FlexibleTimeWindow": {"Mode": "OFF"},
                           "Target": {"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": "arn:aws:iam::000000000000:role/r"}}).encode()
    expressions = [b"rate(99999999999999999999 minutes)", b"cron(99999999999 * * * ? *)", b"at(9999-99-99T99:99:99)",
                   b"cron(" + b"1," * 20000 + b"1 * * * ? *)", b"rate(-1 minutes)", b"cron(0 0 L-99999999999 * ? *)"]
    for index in range(40):
        body = mutate(rng, schedule) if index % 2 else schedule.replace(b"cron(0 12 * * ? *)", rng.choice(expressions))
        status, answer = request(server, "scheduler", body, {"Content-Type": "application/json"}, path=f"/schedules/fz{index}")
        assert status != 0 and (status < 500 or status == 503), f"CreateSchedule answered {status}: {answer[:300]!r}"
        form = mutate(rng, b"Action=GetCallerIdentity&Version=2011-06-15")
        status, answer = request(server, "sts", form, {"Content-Type": "application/x-www-form-urlencoded"})
        assert status != 0 and (status < 500 or status == 503), f"STS answered {status}: {answer[:300]!r}"
    assert_healthy(server)


def test_malformed_http_is_answered_and_the_server_stays_up(server):
    rng = random.Random(SEED + 2)
    broken = [
        b"HELLO THERE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello
    ]
    for index in range(60):
        data = broken[index] if index < len(broken) else mutate(rng, rng.choice(broken))
        answer = send_raw(server, data, timeout=5)
        if answer:
            assert answer.startswith(b"HTTP/1."), answer[:100]
            status = int(answer.split(b" ")[1])
            assert status in (400, 403, 404, 405, 411, 413, 431, 501, 505), answer[:300]
            assert answer.partition(b"\r\n\r\n")[2], f"an empty {status} to {data[:80]!r}"
    assert_healthy(server)


HOSTILE_MACHINES = [
    {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1e16, "End": True}}},
    {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}},
    {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True, "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1e16, "BackoffRate": 1e300}]}}},
    {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "End": True,
                                      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1e16, "BackoffRate": 1e300, "MaxAttempts": 1e20}]}}},
    {"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 1e20, "ToleratedFailureCount": 1e20, "End": True,
                                      "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}}}}},
    {"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrencyPath": "$.s", "End": True,
                                      "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}}}}},
    {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% " + "(" * 700 + "1" + ")" * 700 + " %}", "End": True}}},
    {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% " + "-" * 100000 + "1 %}", "End": True}}},
    {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% " + "[" * 50000 + " %}", "End": True}}},
    {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $length($string([1..9999999])) %}", "End": True}}},
    {"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $count([1..3000].([1..3000])) %}", "End": True}}},
    {"QueryLanguage": "JSONata", "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": "{% 1e300 %}", "End": True}}},
    {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Next": "E", **json.loads("{\"Not\":" * 400 + "{\"Variable\":\"$.a\",\"IsPresent\":true}" + "}" * 400)}], "Default": "E"},
                                "E": {"Type": "Succeed"}}},
]


def test_hostile_state_machines_leave_the_server_up(server):
    states = server.client("stepfunctions")
    for index, definition in enumerate(HOSTILE_MACHINES):
        text = json.dumps(definition)
        status, answer = request(server, "states", json.dumps({
            "name": f"hostile-{index}", "roleArn": "arn:aws:iam::000000000000:role/r", "definition": text}).encode(),
            {"X-Amz-Target": "AWSStepFunctions.CreateStateMachine", "Content-Type": "application/x-amz-json-1.0"})
        assert status in (200, 400), f"machine {index}: {status} {answer[:300]!r}"
        if status == 200:
            arn = json.loads(answer)["stateMachineArn"]
            for payload in ({"s": 1e300}, {"s": -1e300}, {"s": 1e16}, {}):
                started = time.monotonic()
                states.start_execution(stateMachineArn=arn, input=json.dumps(payload))
                assert time.monotonic() - started < 5, f"StartExecution of machine {index} held its caller"
                assert_healthy(server)
        assert_healthy(server)
    # Nothing is left running for ever: every execution ends (failed or not) within the engines' time limits.
    deadline = time.monotonic() + 30
    running = None
    while time.monotonic() < deadline:
        running = [e for m in states.list_state_machines()["stateMachines"] if m["name"].startswith("hostile-")
                   for e in states.list_executions(stateMachineArn=m["stateMachineArn"], statusFilter="RUNNING")["executions"]
                   if "Wait" not in json.dumps(states.describe_state_machine(stateMachineArn=m["stateMachineArn"])["definition"])]
        if not running:
            break
        time.sleep(0.5)
    assert not running, f"executions still running: {running}"


def test_deep_event_patterns_and_events_leave_the_server_up(server):
    deep_pattern = "{\"detail\":" * 2000 + "{\"a\":[1]}" + "}" * 2000
    deep_event = json.dumps({"id": "1", "source": "a", "detail-type": "t", "account": "000000000000", "region": REGION,
                             "time": "2024-01-01T00:00:00Z", "resources": [], "detail": {}})[:-2] + "\"x\":" + "[" * 3000 + "]" * 3000 + "}}"
    for pattern, event in ((deep_pattern, None), ("{\"source\":[\"a\"]}", deep_event), ("[" * 100000, None)):
        body = {"EventPattern": pattern, "Event": event or deep_event}
        status, answer = request(server, "events", json.dumps(body).encode(),
                                 {"X-Amz-Target": "AWSEvents.TestEventPattern", "Content-Type": "application/x-amz-json-1.1"})
        assert status in (200, 400), f"{status} {answer[:300]!r}"
        assert_healthy(server)


def test_hostile_crontab_lines_are_refused_clearly(tmp_path):
    binary = os.environ.get("SKIFF_BIN", os.path.join(interop.ROOT, ".build", "debug", "skiff"))
    lines = ["99999999999999999999 * * * * job", "*/0 * * * * job", "0 0 31 2 * never", "@reboot x", "(" * 100000,
             "1-99999999999 * * * * job", "* * * * * " + "x" * 200000, "\xff\xfe * * * * job"]
    for index, line in enumerate(lines):
        crontab = tmp_path / f"crontab-{index}"
        crontab.write_text(line + "\n", errors="surrogateescape")
        result = subprocess.run([binary, "crontab", "import", str(crontab)], capture_output=True, timeout=30)
        assert result.returncode >= 0, f"skiff crontab import died of signal {-result.returncode} on {line[:60]!r}"


def test_a_web_page_cannot_drive_the_local_cloud(server):
    """DNS rebinding, a text/plain POST and an unsigned exec: each refused, nothing created."""
    body = b'{"clusterName":"pwned"}'
    rebinding = (f"POST / HTTP/1.1\r\nHost: evil.example:{server.port}\r\nOrigin: http://evil.example:{server.port}\r\n"
                 "X-Amz-Target: AmazonEC2ContainerServiceV20141113.CreateCluster\r\nContent-Type: application/x-amz-json-1.1\r\n"
                 "Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0\r\n"
                 f"X-Amz-Date: 20240101T000000Z\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    assert send_raw(server, rebinding).startswith(b"HTTP/1.1 403")
    schedule = b'{"ScheduleExpression":"rate(1 minute)","FlexibleTimeWindow":{"Mode":"OFF"},"Target":{"Arn":"arn:aws:ecs:us-east-1:000000000000:cluster/default","RoleArn":"arn:aws:iam::000000000000:role/r"}}'
    text_plain = (f"POST /schedules/pwned HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nOrigin: https://evil.example\r\n"
                  f"Content-Type: text/plain\r\nContent-Length: {len(schedule)}\r\nConnection: close\r\n\r\n").encode() + schedule
    assert send_raw(server, text_plain).startswith(b"HTTP/1.1 403")
    exec_body = b'{"task":"any","command":["/bin/sh","-c","echo pwned"]}'
    unsigned_exec = (f"POST /_skiff/ecs/exec HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(exec_body)}\r\nConnection: close\r\n\r\n").encode() + exec_body
    assert send_raw(server, unsigned_exec).startswith(b"HTTP/1.1 403")
    assert "pwned" not in server.client("ecs").list_clusters()["clusterArns"]
    assert not [s for s in server.client("scheduler").list_schedules()["Schedules"] if s["Name"] == "pwned"]
    assert_healthy(server)


def test_slow_clients_do_not_lock_others_out(server):
    """300 half-sent requests hold connections; a well-behaved client is still answered at once."""
    held = []
    try:
        for _ in range(300):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            connection.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nab")
            held.append(connection)
        assert_healthy(server)
        assert server.client("sts").get_caller_identity()["Account"] == "000000000000"
    finally:
        for connection in held:
            connection.close()
    assert_healthy(server)
