"""Shared helpers for the integration tests: a real hookflow server on loopback, a mock API
server that records what the connectors send, Stripe signing, raw HTTP posting and waits.

Python 3 standard library only.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOOKFLOW_BIN = os.environ.get("HOOKFLOW_BIN", "")
FIXTURES = os.environ.get(
    "HOOKFLOW_FIXTURES",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"),
)
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLE_WORKFLOW = os.path.join(REPO_ROOT, "workflows", "payment-failed-recovery.yaml")

STRIPE_SECRET = "whsec_integration_current_NOT_A_REAL_SECRET"

# The credentials the tests give each connector; every outgoing request must carry them.
KEYS = {
    "stripe": "sk_test_hookflow_integration_KEY",
    "crm": "crm_token_hookflow_integration",
    "llm": "sk-llm-hookflow-integration",
    "sendgrid": "SG.hookflow.integration",
    "slack": "xoxb-hookflow-integration",
}

WAIT_SECONDS = 15.0
START_SECONDS = 15.0


def fixture_path(*parts):
    return os.path.join(FIXTURES, *parts)


def fixture_bytes(*parts):
    with open(fixture_path(*parts), "rb") as f:
        return f.read()


def fixture_json(*parts):
    return json.loads(fixture_bytes(*parts))


def api_fixture(api, case):
    """One exchange from tests/fixtures/api/<api>/<case>.json."""
    return fixture_json("api", api, case + ".json")


def sign_stripe(secret, body, t):
    """The Stripe-Signature header value for `body` at unix time `t`."""
    payload = str(int(t)).encode() + b"." + body
    digest = hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (int(t), digest)


def stripe_headers(body, secret=STRIPE_SECRET, t=None):
    if t is None:
        t = int(time.time())
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign_stripe(secret, body, t),
    }


# ---------------------------------------------------------------------------------------------
# YAML writing (configs are small: nested dicts, lists of scalars, scalars)


def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(data, indent=0):
    lines = []
    pad = "  " * indent
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append("%s%s:" % (pad, key))
            lines.append(to_yaml(value, indent + 1))
        elif isinstance(value, (list, tuple)):
            lines.append("%s%s: [%s]" % (pad, key, ", ".join(_yaml_scalar(v) for v in value)))
        else:
            lines.append("%s%s: %s" % (pad, key, _yaml_scalar(value)))
    return "\n".join(line for line in lines if line)


def deep_merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


# ---------------------------------------------------------------------------------------------
# Mock API


class MockApi:
    """A loopback HTTP server that records every request and answers from per-test routes.

    Routes map (method, path) to (status, headers, body) or to a list of those (served in
    order, the last one repeating). `path` is matched without the query string and
    percent-decoded. `body` may be bytes, str, None or a JSON-able value.
    """

    def __init__(self):
        self._lock = threading.Condition()
        self.requests = []
        self._routes = {}
        self.fallback = (404, {"Content-Type": "application/json"}, {"error": "no mock route"})
        # handler(record) -> an answer (a tuple, Delay or Reset) or None to use the routes.
        self.handler = None
        # False: every answer carries `Connection: close` (no connection is reused).
        self.keep_alive = True
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return _read_chunked(self.rfile)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _serve(self):
                body = self._read_body()
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
                answer = _perform(mock._record_and_route(record))
                if answer is None:  # Reset: close the socket without answering
                    _reset_connection(self)
                    mock._mark_done(record, None)
                    return
                status, headers, payload = answer
                data = _encode_body(payload)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        if name.lower() not in ("content-length", "transfer-encoding",
                                                "connection"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    if not mock.keep_alive:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:  # the client gave up (a step timeout) while we were slow
                    self.close_connection = True
                    mock._mark_done(record, None)
                    return
                mock._mark_done(record, status)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def route(self, method, path, status=200, headers=None, body=None):
        """Answers `method path` with one response, or a list of (status, headers, body)."""
        with self._lock:
            if isinstance(status, list):
                self._routes[(method, path)] = list(status)
            else:
                self._routes[(method, path)] = [(status, headers or {}, body)]

    def route_fixture(self, method, path, api, case):
        response = api_fixture(api, case)["response"]
        self.route(method, path, response["status"], response["headers"], response["body"])

    def _record_and_route(self, record):
        path = urllib.parse.unquote(record["path"].split("?", 1)[0])
        record["time"] = time.monotonic()  # arrival; `done` is set once answered
        record["done"] = None
        record["answered"] = None  # the status sent, None for a reset or a dropped client
        if self.handler is not None:
            answer = self.handler(record)
            if answer is not None:
                with self._lock:
                    self.requests.append(record)
                    self._lock.notify_all()
                return answer
        with self._lock:
            self.requests.append(record)
            self._lock.notify_all()
            answers = self._routes.get((record["method"], path))
            if not answers:
                return self.fallback
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def _mark_done(self, record, status):
        with self._lock:
            record["done"] = time.monotonic()
            record["answered"] = status
            self._lock.notify_all()

    def snapshot(self):
        with self._lock:
            return list(self.requests)

    def matching(self, prefix, method=None):
        """Recorded requests whose decoded path starts with `prefix`, in arrival order."""
        return [r for r in self.snapshot()
                if path_of(r).startswith(prefix) and (method is None or r["method"] == method)]

    def count_by_header(self, name="idempotency-key", prefix=""):
        """How many requests carried each value of header `name` (lower case)."""
        counts = {}
        for r in self.matching(prefix):
            value = r["headers"].get(name)
            if value is not None:
                counts[value] = counts.get(value, 0) + 1
        return counts

    def wait_matching(self, prefix, n, timeout=WAIT_SECONDS, answered=False):
        """Waits until n requests under `prefix` arrived (and, with answered, were answered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.matching(prefix)
            if answered:
                got = [r for r in got if r["done"] is not None]
            if len(got) >= n:
                return got
            time.sleep(0.02)
        return self.matching(prefix)

    def wait_for(self, n_requests, timeout=WAIT_SECONDS):
        """Waits until at least n requests arrived; returns the recorded requests."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < n_requests:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return list(self.requests)

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Delay:
    """A mock answer sent after `seconds` (a slow API, or a hang past a step's timeout)."""

    def __init__(self, seconds, status=200, headers=None, body=None):
        self.seconds = seconds
        self.answer = (status, headers or {"Content-Type": "application/json"},
                       {} if body is None else body)


class Reset:
    """A mock "answer" that closes the connection without sending anything (RST)."""


def _perform(answer):
    """Turns a route's answer into (status, headers, body), or None for a reset."""
    if isinstance(answer, Reset):
        return None
    if isinstance(answer, Delay):
        time.sleep(answer.seconds)
        return answer.answer
    return answer


def _reset_connection(handler):
    handler.close_connection = True
    try:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        handler.connection.close()
    except OSError:
        pass


def path_of(record):
    """A recorded request's path, percent-decoded, without the query string."""
    return urllib.parse.unquote(record["path"].split("?", 1)[0])


def _read_chunked(rfile):
    out = b""
    for _ in range(100000):
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return out
        out += rfile.read(size)
        rfile.readline()
    return out


def _encode_body(payload):
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The server under test


def default_config(mock=None, workflows_dir="workflows", db="hookflow.db"):
    base = mock.base if mock else "http://127.0.0.1:9"  # port 9: nothing listens
    return {
        "server": {
            "listen": "127.0.0.1:0",
            "public_url": "http://127.0.0.1",
            "max_body_bytes": 1048576,
            "header_timeout_seconds": 5,
            "idle_timeout_seconds": 10,
        },
        "storage": {"sqlite": db},
        "engine": {"workers": 4, "max_attempts": 3, "lease_seconds": 30, "poll_interval_ms": 200},
        "workflows": {"dir": workflows_dir},
        "log": {"level": "info", "format": "text", "file": ""},
        "admin": {"token": "admin-token-hookflow-integration"},
        "sources": {
            "stripe": {"provider": "stripe", "secrets": [STRIPE_SECRET], "tolerance_seconds": 300}
        },
        "connectors": {
            "stripe": {"base_url": base + "/stripe", "api_key": KEYS["stripe"]},
            "crm": {"base_url": base + "/crm", "token": KEYS["crm"]},
            "llm": {
                "base_url": base + "/llm/v1",
                "api_key": KEYS["llm"],
                "model": "gpt-4o-mini",
            },
            "sendgrid": {"base_url": base + "/sendgrid", "api_key": KEYS["sendgrid"]},
            "slack": {"base_url": base + "/slack/api", "token": KEYS["slack"]},
        },
    }


class Hookflow:
    """One hookflow server in a fresh temp dir: config, database and workflows live there.

    `workflows` is a list of workflow files copied into the temp workflows dir; `config`
    is deep-merged over the default config; `env` is added to (or, for None values,
    removed from) the process environment. `preexec`, when given, runs in the child before
    hookflow starts (e.g. to lower a resource limit).
    """

    def __init__(self, mock=None, workflows=(), config=None, env=None, preexec=None):
        if not HOOKFLOW_BIN or not os.access(HOOKFLOW_BIN, os.X_OK):
            raise RuntimeError("HOOKFLOW_BIN is not an executable: %r" % HOOKFLOW_BIN)
        self.dir = tempfile.mkdtemp(prefix="hookflow-it-")
        self.workflows_dir = os.path.join(self.dir, "workflows")
        os.makedirs(self.workflows_dir)
        for path in workflows:
            shutil.copy(path, self.workflows_dir)
        self.config = deep_merge(
            default_config(mock, self.workflows_dir, os.path.join(self.dir, "hookflow.db")),
            config or {},
        )
        self.config_path = os.path.join(self.dir, "hookflow.yaml")
        with open(self.config_path, "w") as f:
            f.write(to_yaml(self.config) + "\n")
        self.env = dict(os.environ)
        # A proxy set on the machine running the tests must not carry the loopback mocks'
        # traffic; tests that want a proxy pass it in `env`.
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                    "no_proxy", "ALL_PROXY", "all_proxy"):
            self.env.pop(key, None)
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self.preexec = preexec
        self.proc = None
        self.port = None
        self._lines = []
        self._lines_lock = threading.Lock()
        self._readers = []

    # -- process ------------------------------------------------------------------------------

    def start(self):
        """Starts `hookflow serve` and waits for its `server listening` line."""
        with self._lines_lock:
            self._lines = []
        self.proc = subprocess.Popen(
            [HOOKFLOW_BIN, "serve", "--config", self.config_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.dir,
            env=self.env,
            preexec_fn=getattr(self, "preexec", None),  # subclasses may skip __init__
        )
        self._readers = [
            threading.Thread(target=self._collect, args=(self.proc.stdout, ""), daemon=True),
            threading.Thread(target=self._collect, args=(self.proc.stderr, "[stderr] "),
                             daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.port = self._wait_listening()
        return self

    def _collect(self, stream, prefix):
        for raw in iter(stream.readline, b""):
            with self._lines_lock:
                self._lines.append(prefix + raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def _wait_listening(self):
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            for line in self.lines():
                if "server listening" in line and "address=127.0.0.1:" in line:
                    port = line.split("address=127.0.0.1:", 1)[1].split()[0].strip('"')
                    return int(port)
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the readers drain
                raise RuntimeError(
                    "hookflow exited with %s before listening:\n%s"
                    % (self.proc.returncode, self.output())
                )
            time.sleep(0.05)
        raise RuntimeError("hookflow did not log `server listening`:\n" + self.output())

    def stop(self):
        """SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash) and wait for the process; the temp dir stays for a restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode if self.proc else None

    def terminate(self, timeout=30):
        """SIGTERM; waits up to `timeout` s. Returns the exit code, or None if still running
        (the caller then kills it)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def all_runs(self):
        return self.cli_json("runs", "list", "--limit", "1000")

    def all_events(self):
        return self.cli_json("events", "list", "--limit", "1000")

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def lines(self):
        with self._lines_lock:
            return list(self._lines)

    def output(self):
        return "\n".join(self.lines())

    # -- CLI ----------------------------------------------------------------------------------

    def cli(self, *args, timeout=30):
        """Runs `hookflow <args> --config <file>`; returns (exit code, stdout, stderr)."""
        done = subprocess.run(
            [HOOKFLOW_BIN, *args, "--config", self.config_path],
            capture_output=True,
            cwd=self.dir,
            env=self.env,
            timeout=timeout,
        )
        return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode(
            "utf-8", "replace"
        )

    def cli_json(self, *args):
        code, out, err = self.cli(*args, "--json")
        if code != 0:
            raise AssertionError("hookflow %s --json exited %d: %s%s"
                                 % (" ".join(args), code, out, err))
        try:
            return json.loads(out)
        except ValueError as exc:
            raise AssertionError("hookflow %s --json printed no JSON (%s): %r"
                                 % (" ".join(args), exc, out))

    def events(self):
        return self.cli_json("events", "list")

    def runs(self):
        return self.cli_json("runs", "list")

    def run(self, run_id):
        return self.cli_json("runs", "show", run_id)

    def event(self, event_id):
        return self.cli_json("events", "show", event_id)

    # -- HTTP ---------------------------------------------------------------------------------

    def post(self, path, body, headers=None, chunks=None):
        return post(self.port, path, body, headers or {}, chunks)

    def request(self, method, path, body=None, headers=None):
        return request(self.port, method, path, body, headers or {})

    def deliver(self, body, source="stripe", secret=STRIPE_SECRET):
        """Posts `body` signed now with `secret`."""
        return self.post("/hooks/" + source, body, stripe_headers(body, secret))

    # -- waits --------------------------------------------------------------------------------

    def wait_runs(self, condition, timeout=WAIT_SECONDS, what="runs"):
        """Polls `runs list --json` until condition(runs) is true; returns the runs."""
        deadline = time.monotonic() + timeout
        runs = []
        while time.monotonic() < deadline:
            runs = self.all_runs()
            if condition(runs):
                return runs
            time.sleep(0.2)
        raise AssertionError(
            "timed out waiting for %s; last runs list: %s\nserver output:\n%s"
            % (what, json.dumps(runs, indent=1), self.output()[-6000:])
        )

    def wait_run_finished(self, count=1, timeout=WAIT_SECONDS):
        """Waits until `count` runs exist and all are final: succeeded or dead (a `failed` run
        is due for retry)."""
        return self.wait_runs(
            lambda runs: len(runs) >= count
            and all(r.get("status") in ("succeeded", "dead") for r in runs),
            timeout,
            "%d finished run(s)" % count,
        )


def start_hookflow(testcase, **kwargs):
    """Starts a server for a unittest.TestCase and registers its cleanup."""
    server = Hookflow(**kwargs)
    testcase.addCleanup(server.cleanup)
    server.start()
    return server


def start_mock(testcase):
    mock = MockApi()
    testcase.addCleanup(mock.close)
    return mock


# ---------------------------------------------------------------------------------------------
# HTTP clients


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Answer(%d, %r, %r)" % (self.status, self.headers, self.body[:300])


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def post(port, path, body, headers=None, chunks=None):
    """POSTs raw bytes. With `chunks` (a list of sizes), the body goes out with
    Transfer-Encoding: chunked in chunks of those sizes and no Content-Length."""
    headers = dict(headers or {})
    if chunks is None:
        return request(port, "POST", path, body, headers)
    pieces, offset = [], 0
    for size in chunks:
        pieces.append(body[offset : offset + size])
        offset += size
    if offset < len(body):
        pieces.append(body[offset:])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.putrequest("POST", path)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for piece in pieces:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


class StreamResult:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b""
        self.bytes_sent = 0
        self.finished_sending = False
        self.answered_early = False
        self.closed = False
        self.error = None

    def __repr__(self):
        return (
            "StreamResult(status=%r, body=%r, bytes_sent=%d, finished_sending=%r, "
            "answered_early=%r, closed=%r, error=%r)"
            % (self.status, self.body[:200], self.bytes_sent, self.finished_sending,
               self.answered_early, self.closed, self.error)
        )


def stream_post(port, path, headers, pieces, terminator=b"", pause=0.0, answer_timeout=5.0):
    """Sends a request on a raw socket piece by piece, stopping as soon as an answer is
    readable. `pieces` are raw byte strings already framed (chunked framing is the caller's).
    `terminator` goes out after all pieces unless an answer came first; `answered_early`
    tells whether the answer was readable before it. Reads the answer, then reports whether
    the server closed the connection."""
    result = StreamResult()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % path
        head += "".join("%s: %s\r\n" % (k, v) for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode("latin-1"))
        _send_pieces(sock, pieces, pause, result)
        if not result.answered_early and result.error is None:
            result.answered_early = _readable(sock, 1.0 if terminator else 0)
            if terminator and not result.answered_early:
                try:
                    sock.sendall(terminator)
                except OSError as exc:
                    result.error = repr(exc)
        if result.answered_early or _readable(sock, answer_timeout):
            _read_answer(sock, result)
    finally:
        sock.close()
    return result


def _send_pieces(sock, pieces, pause, result):
    for piece in pieces:
        if _readable(sock, 0):
            result.answered_early = True
            return
        try:
            sock.sendall(piece)
        except OSError as exc:  # the server may close while we send
            result.error = repr(exc)
            result.answered_early = True
            return
        result.bytes_sent += len(piece)
        if pause:
            time.sleep(pause)
    result.finished_sending = True


def _readable(sock, timeout):
    ready, _, _ = select.select([sock], [], [], timeout)
    return bool(ready)


def _read_answer(sock, result):
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            got = sock.recv(65536)
            if not got:
                break
            data += got
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if lines and lines[0].startswith("HTTP/"):
            result.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            result.headers[name.strip().lower()] = value.strip()
        length = int(result.headers.get("content-length", "0") or 0)
        while len(rest) < length:
            got = sock.recv(65536)
            if not got:
                break
            rest += got
        result.body = rest[:length]
        sock.settimeout(3)
        try:
            result.closed = sock.recv(1) == b""
        except ConnectionResetError:
            result.closed = True
        except socket.timeout:
            result.closed = False
    except OSError as exc:
        result.error = (result.error or "") + " read: " + repr(exc)


# ---------------------------------------------------------------------------------------------
# Durability helpers (retries, crashes, restarts)

DURABILITY_WORKFLOWS = os.path.join(FIXTURES, "workflows", "durability")


def durability_workflow(name):
    return os.path.join(DURABILITY_WORKFLOWS, name + ".yaml")


def durability_config(mock, engine=None, storage=None):
    """Config overrides for the durability tests: a fast engine and an `api` http connector
    pointing at the mock under /api."""
    config = {
        "engine": {"poll_interval_ms": 100, "lease_seconds": 30, "max_attempts": 3},
        "connectors": {"api": {"type": "http", "base_url": mock.base + "/api"}},
    }
    config["engine"].update(engine or {})
    if storage:
        config["storage"] = storage
    return config


def stripe_event(event_id, event_type, obj=None, created=None):
    """A Stripe Event body (bytes) with the given id, type and data.object."""
    doc = {
        "id": event_id,
        "object": "event",
        "api_version": "2026-11-18.endive",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "type": event_type,
        "data": {"object": obj or {"id": "obj_" + event_id, "customer": "cus_durable"}},
    }
    return json.dumps(doc, indent=2).encode("utf-8") + b"\n"


def try_deliver(port, body, timeout=10):
    """Posts a signed delivery; returns the Answer, or None when no answer came (refused,
    reset, timed out)."""
    headers = stripe_headers(body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/hooks/stripe", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def gaps(records):
    """Seconds between consecutive request arrivals."""
    return [b["time"] - a["time"] for a, b in zip(records, records[1:])]


JSON_OK = (200, {"Content-Type": "application/json"}, {"ok": True})


class Script:
    """The mock's answers by path prefix: set(prefix, [answers]) serves them in order, the last
    one repeating. An answer is a (status, headers, body) tuple, a Delay, a Reset, or a
    callable(record) returning one of those. Installed as the mock's handler."""

    def __init__(self, mock):
        self._lock = threading.Lock()
        self._answers = {}
        mock.handler = self

    def set(self, prefix, answers):
        if not isinstance(answers, list):
            answers = [answers]
        with self._lock:
            self._answers[prefix] = list(answers)

    def __call__(self, record):
        path = path_of(record)
        with self._lock:
            for prefix, answers in self._answers.items():
                if path.startswith(prefix):
                    answer = answers.pop(0) if len(answers) > 1 else answers[0]
                    break
            else:
                return None
        return answer(record) if callable(answer) else answer


# ---------------------------------------------------------------------------------------------
# The providers' signature schemes, written here from their documentation (never with
# hookflow's own `sign`), for the provider tests.


def hmac_bytes(key, data, algorithm=hashlib.sha256):
    if isinstance(key, str):
        key = key.encode("utf-8")
    return hmac.new(key, data, algorithm).digest()


def github_signature(secret, body):
    """X-Hub-Signature-256: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac_bytes(secret, body).hex()


def slack_headers(body, secret, t=None, content_type="application/json"):
    """X-Slack-Signature: `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    t = int(time.time()) if t is None else int(t)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(t),
        "X-Slack-Signature": "v0=" + hmac_bytes(secret, b"v0:%d:" % t + body).hex(),
    }


def shopify_signature(secret, body):
    """X-Shopify-Hmac-Sha256: the base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac_bytes(secret, body)).decode()


def standard_signature(secret, msg_id, t, body):
    """One `v1,<base64>` entry: HMAC-SHA256 keyed with the base64-decoded `whsec_` secret over
    `{id}.{timestamp}.{body}`."""
    key = base64.b64decode(secret[len("whsec_"):])
    signed = ("%s.%d." % (msg_id, t)).encode() + body
    return "v1," + base64.b64encode(hmac_bytes(key, signed)).decode()


def standard_headers(msg_id, body, secret, t=None, prefix="webhook"):
    t = int(time.time()) if t is None else int(t)
    return {
        "Content-Type": "application/json",
        prefix + "-id": msg_id,
        prefix + "-timestamp": str(t),
        prefix + "-signature": standard_signature(secret, msg_id, t, body),
    }


def twilio_signature(token, url, form_body=b""):
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each form parameter as
    name+value, sorted (a JSON body signs the URL alone, its hash being in `bodySHA256`)."""
    params = urllib.parse.parse_qsl(form_body.decode("utf-8"), keep_blank_values=True)
    text = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac_bytes(token, text.encode("utf-8"), hashlib.sha1)).decode()


class SendgridKey:
    """An ECDSA P-256 key pair made with the openssl CLI in `directory`; signs like SendGrid's
    Event Webhook (base64 DER signature of SHA-256 over `timestamp + body`)."""

    def __init__(self, directory):
        self.dir = directory
        self.private = os.path.join(directory, "sendgrid-key.pem")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", self.private], check=True, capture_output=True)
        der = subprocess.run(["openssl", "ec", "-in", self.private, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.public_b64 = base64.b64encode(der).decode()  # as SendGrid's UI shows it

    def sign(self, data):
        path = os.path.join(self.dir, "sendgrid-signed-%d.bin" % threading.get_ident())
        with open(path, "wb") as f:
            f.write(data)
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.private, path],
                             check=True, capture_output=True).stdout
        return base64.b64encode(der).decode()

    def headers(self, body, t=None):
        t = int(time.time()) if t is None else int(t)
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Timestamp": str(t),
            "X-Twilio-Email-Event-Webhook-Signature": self.sign(str(t).encode() + body),
        }
