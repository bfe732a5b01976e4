"""Operating hookflow: the access log, log rotation, the HTTPS listener, online backup, vacuum
and retention, each against the real binary on loopback."""

import glob
import http.client
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (
    HOOKFLOW_BIN,
    JSON_OK,
    STRIPE_SECRET,
    Hookflow,
    durability_workflow,
    start_hookflow,
    start_mock,
    stripe_event,
    stripe_headers,
    to_yaml,
    try_deliver,
)

ACCESS_TEXT = re.compile(
    r" info http request method=POST path=/hooks/stripe http_status=200 bytes=(\d+) "
    r"elapsed_ms=(\d+) client=127\.0\.0\.1 request=(req_\w+)$"
)


class JsonHookflow(Hookflow):
    """A server logging JSON lines: the port comes from the `address` key."""

    def _wait_listening(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for line in self.lines():
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if doc.get("msg") == "server listening":
                    return int(doc["address"].rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                time.sleep(0.1)
                raise RuntimeError("hookflow exited before listening:\n" + self.output())
            time.sleep(0.05)
        raise RuntimeError("hookflow did not log `server listening`:\n" + self.output())


def deliver_many(server, count, prefix, event_type="test.none"):
    """Posts `count` signed events; returns their answers' JSON."""
    answers = []
    for i in range(count):
        answer = server.deliver(stripe_event("evt_%s_%03d" % (prefix, i), event_type))
        assert answer.status == 200, answer
        answers.append(answer.json())
    return answers


def wait_for_line(server, needle, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.lines():
            if needle in line:
                return line
        time.sleep(0.1)
    raise AssertionError("no log line with %r:\n%s" % (needle, server.output()[-4000:]))


class AccessLogTest(unittest.TestCase):
    def test_text_access_line_per_request_and_probes_at_debug(self):
        server = start_hookflow(self)
        deliver_many(server, 3, "acc")
        self.assertEqual(server.request("GET", "/healthz").status, 200)
        server.stop()

        access = [line for line in server.lines() if " http request " in line]
        matches = [ACCESS_TEXT.search(line) for line in access]
        self.assertEqual(len(access), 3, access)  # /healthz is logged at debug only
        self.assertTrue(all(matches), access)
        self.assertEqual(len({m.group(3) for m in matches}), 3)
        # The body written is counted: {"status":"accepted","event_id":"ev_…","runs":0}.
        self.assertTrue(all(40 <= int(m.group(1)) <= 100 for m in matches), access)

    def test_refused_request_gets_an_access_line(self):
        server = start_hookflow(self, config={"server": {"max_body_bytes": 1024}})
        answer = server.post("/hooks/stripe?token=secret", b"x" * 4096,
                             {"Content-Type": "application/json"})
        self.assertEqual(answer.status, 413)
        line = wait_for_line(server, "http request method=POST")
        # The query string is never logged (it may hold a token).
        self.assertIn("path=/hooks/stripe http_status=413", line)
        self.assertNotIn("secret", line)


class LogRotationTest(unittest.TestCase):
    def start_json(self, max_files):
        server = JsonHookflow(config={"log": {
            "format": "json", "file": "logs/hookflow.log", "max_size": "4KB",
            "max_files": max_files}})
        self.addCleanup(server.cleanup)
        return server.start()

    def read_files(self, server):
        files = sorted(glob.glob(os.path.join(server.dir, "logs", "hookflow*.log")))
        lines = []
        for path in files:
            self.assertLessEqual(os.path.getsize(path), 4096, path)
            with open(path, "rb") as f:
                data = f.read()
            self.assertTrue(data == b"" or data.endswith(b"\n"), path)
            for raw in data.splitlines():
                lines.append(json.loads(raw))  # every line is one complete JSON object
        return files, lines

    def test_files_rotate_at_the_size_and_no_line_is_lost(self):
        server = self.start_json(max_files=30)
        answers = deliver_many(server, 60, "rot")
        server.stop()

        files, lines = self.read_files(server)
        self.assertGreaterEqual(len(files), 5, files)
        self.assertIn(os.path.join(server.dir, "logs", "hookflow.1.log"), files)
        access = [l for l in lines if l["msg"] == "http request"]
        self.assertEqual(len(access), 60)
        self.assertEqual(len({l["request"] for l in access}), 60)
        first = access[0]
        self.assertEqual(first["method"], "POST")
        self.assertEqual(first["path"], "/hooks/stripe")
        self.assertEqual(first["http_status"], 200)
        self.assertEqual(first["client"], "127.0.0.1")
        self.assertIsInstance(first["elapsed_ms"], int)
        self.assertEqual(first["level"], "info")
        accepted = {l["event"] for l in lines if l["msg"] == "delivery accepted"}
        self.assertEqual(accepted, {a["event_id"] for a in answers})
        # stdout gets every line too.
        self.assertEqual(sum(1 for l in server.lines() if '"msg":"http request"' in l), 60)

    def test_file_count_is_bounded(self):
        server = self.start_json(max_files=2)
        deliver_many(server, 60, "bound")
        server.stop()

        files, lines = self.read_files(server)
        self.assertEqual(len(files), 3, files)  # hookflow.log, hookflow.1.log, hookflow.2.log
        self.assertTrue(lines)
        self.assertTrue(all("msg" in l and "time" in l for l in lines))

    def test_bad_max_size_is_reported_with_its_position(self):
        server = Hookflow(config={"log": {"max_size": "10 parsecs"}})
        self.addCleanup(server.cleanup)
        code, _, err = server.cli("validate")
        self.assertEqual(code, 1)
        self.assertRegex(err, r"hookflow\.yaml:\d+:\d+: log\.max_size: expected a size")


def make_certs(folder):
    """A test CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=hookflow test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(folder, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    openssl("req", *ec, "-x509", "-keyout", "other.key", "-out", "other.pem", "-days", "2",
            "-subj", "/CN=other")
    return {name: os.path.join(folder, name)
            for name in ("ca.pem", "server.pem", "server.key", "other.key")}


def curl(*args):
    done = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


class TlsListenerTest(unittest.TestCase):
    def setUp(self):
        self.certs_dir = tempfile.mkdtemp(prefix="hookflow-tls-")
        self.addCleanup(shutil.rmtree, self.certs_dir, True)
        self.certs = make_certs(self.certs_dir)

    def tls_config(self, cert=None, key=None):
        return {"server": {"tls": {"cert": cert or self.certs["server.pem"],
                                   "key": key or self.certs["server.key"]}}}

    def test_https_with_the_test_ca_and_plain_http_fails_cleanly(self):
        server = start_hookflow(self, config=self.tls_config())
        base = "https://127.0.0.1:%d" % server.port

        code, out, err = curl("--cacert", self.certs["ca.pem"], base + "/healthz")
        self.assertEqual(code, 0, err)

        body = stripe_event("evt_tls_1", "test.none")
        headers = []
        for name, value in stripe_headers(body).items():
            headers += ["-H", "%s: %s" % (name, value)]
        code, out, err = curl("--cacert", self.certs["ca.pem"], *headers,
                              "--data-binary", body.decode(), base + "/hooks/stripe")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["status"], "accepted")

        # Without the CA, the certificate is not trusted.
        code, _, _ = curl(base + "/healthz")
        self.assertNotEqual(code, 0)

        # Plain HTTP to the HTTPS port: a plain 400, then the connection is closed.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        self.assertEqual(answer.status, 400)
        self.assertIn(b"plain HTTP", answer.read())
        conn.close()

        # Garbage that is not HTTP either: the connection is closed, the server lives on.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"\x00\x01\x02 not tls\r\n\r\n")
            sock.settimeout(10)
            try:
                while sock.recv(4096):
                    pass
            except ConnectionResetError:
                pass

        code, out, err = curl("--cacert", self.certs["ca.pem"], base + "/healthz")
        self.assertEqual(code, 0, err)
        self.assertEqual(server.proc.poll(), None)
        self.assertIn("evt_tls_1", {e["delivery_id"] for e in server.events()})

    def test_python_client_speaks_tls_1_2_or_later(self):
        server = start_hookflow(self, config=self.tls_config())
        context = ssl.create_default_context(cafile=self.certs["ca.pem"])
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))

    def test_mismatched_key_stops_start_up_with_a_clear_error(self):
        server = Hookflow(config=self.tls_config(key=self.certs["other.key"]))
        self.addCleanup(server.cleanup)
        code, _, err = server.cli("serve", timeout=30)
        self.assertNotEqual(code, 0)
        code, _, err = server.cli("validate")
        self.assertEqual(code, 1)
        self.assertIn("does not match the certificate", err)

    def test_missing_file_and_half_config_are_config_errors(self):
        server = Hookflow(config={"server": {"tls": {"cert": "/nonexistent/cert.pem",
                                                     "key": self.certs["server.key"]}}})
        self.addCleanup(server.cleanup)
        code, _, err = server.cli("validate")
        self.assertEqual(code, 1)
        self.assertRegex(err, r"hookflow\.yaml:\d+:\d+: server\.tls\.cert: "
                              r"/nonexistent/cert\.pem does not exist")

        half = Hookflow(config={"server": {"tls": {"cert": self.certs["server.pem"]}}})
        self.addCleanup(half.cleanup)
        code, _, err = half.cli("serve", timeout=30)
        self.assertNotEqual(code, 0)
        self.assertRegex(err, r"hookflow\.yaml:\d+:\d+: server\.tls: set both cert and key")


class BackupTest(unittest.TestCase):
    def test_backup_while_ingesting_holds_every_event_acknowledged_before_it(self):
        server = start_hookflow(self)
        acked = []  # (monotonic time of the 200, event id)
        stop = threading.Event()

        def ingest():
            for i in range(2000):  # bounded; stops earlier when told
                if stop.is_set():
                    return
                answer = try_deliver(server.port, stripe_event("evt_bk_%04d" % i, "test.none"))
                if answer is not None and answer.status == 200:
                    acked.append((time.monotonic(), answer.json()["event_id"]))

        thread = threading.Thread(target=ingest, daemon=True)
        thread.start()
        time.sleep(1.0)
        target = os.path.join(server.dir, "backup.db")
        began = time.monotonic()
        code, out, err = server.cli("db", "backup", target)
        time.sleep(0.5)
        stop.set()
        thread.join(timeout=30)
        self.assertEqual(code, 0, err)

        before = {event_id for t, event_id in acked if t < began}
        self.assertGreater(len(before), 5)
        self.assertGreater(len(acked), len(before))  # ingest went on during the backup
        with sqlite3.connect(target) as db:
            stored = {row[0] for row in db.execute("SELECT id FROM events")}
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        db.close()
        self.assertEqual(before - stored, set())
        self.assertRegex(out, r"backed up .* to .*backup\.db: %d events, 0 runs" % len(stored))
        self.assertFalse(os.path.exists(target + "-wal"))

        # An existing file is never overwritten.
        size = os.path.getsize(target)
        code, _, err = server.cli("db", "backup", target)
        self.assertEqual(code, 1)
        self.assertIn("already exists", err)
        self.assertEqual(os.path.getsize(target), size)

    def test_backup_and_vacuum_refuse_a_missing_database(self):
        server = Hookflow()
        self.addCleanup(server.cleanup)
        target = os.path.join(server.dir, "backup.db")
        code, _, err = server.cli("db", "backup", target)
        self.assertEqual(code, 1)
        self.assertIn("no database at", err)
        self.assertFalse(os.path.exists(target))
        code, _, err = server.cli("db", "vacuum")
        self.assertEqual(code, 1)
        self.assertIn("no database at", err)

    def test_vacuum_keeps_the_data(self):
        server = start_hookflow(self)
        deliver_many(server, 20, "vac")
        code, out, err = server.cli("db", "vacuum")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"vacuumed .*hookflow\.db: [\d.]+ MB -> [\d.]+ MB")
        self.assertEqual(len(server.all_events()), 20)
        self.assertEqual(server.deliver(stripe_event("evt_vac_after", "test.none")).status, 200)


class RetentionTest(unittest.TestCase):
    def test_old_finished_rows_go_and_the_rest_stays(self):
        mock = start_mock(self)
        mock.handler = lambda record: JSON_OK
        server = start_hookflow(
            self, mock=mock, workflows=[durability_workflow("one-stripe-step")])
        for name in ("old_ok", "old_dead", "old_waiting", "new_ok"):
            self.assertEqual(server.deliver(stripe_event("evt_" + name, "test.load")).status, 200)
        self.assertEqual(server.deliver(stripe_event("evt_old_norun", "test.none")).status, 200)
        server.wait_run_finished(4)
        server.stop()

        # Age the rows by hand while the server is stopped.
        old_ms = int((time.time() - 3 * 86400) * 1000)
        db = sqlite3.connect(os.path.join(server.dir, "hookflow.db"))
        ids = dict(db.execute("SELECT delivery_id, id FROM events"))
        old = [ids["evt_old_ok"], ids["evt_old_dead"], ids["evt_old_waiting"],
               ids["evt_old_norun"]]
        db.executemany("UPDATE events SET received_at_ms = ? WHERE id = ?",
                       [(old_ms, i) for i in old])
        db.executemany("UPDATE runs SET updated_at_ms = ? WHERE event_id = ?",
                       [(old_ms, i) for i in old])
        db.execute("UPDATE runs SET status = 'dead' WHERE event_id = ?", (ids["evt_old_dead"],))
        # A run waiting for its next attempt (far away) is not finished.
        db.execute("UPDATE runs SET status = 'failed', next_attempt_at_ms = ? WHERE event_id = ?",
                   (int((time.time() + 86400) * 1000), ids["evt_old_waiting"]))
        runs_before = dict(db.execute("SELECT event_id, id FROM runs"))
        db.commit()
        db.close()

        server.config["storage"]["retention_days"] = 1
        with open(server.config_path, "w") as f:
            f.write(to_yaml(server.config) + "\n")
        server.start()
        line = wait_for_line(server, "retention deleted")
        self.assertIn("events=3 runs=2", line)

        db = sqlite3.connect(os.path.join(server.dir, "hookflow.db"))
        events = {row[0] for row in db.execute("SELECT id FROM events")}
        runs = {row[0] for row in db.execute("SELECT event_id FROM runs")}
        steps = {row[0] for row in db.execute("SELECT run_id FROM steps")}
        db.close()
        self.assertEqual(events, {ids["evt_old_waiting"], ids["evt_new_ok"]})
        self.assertEqual(runs, {ids["evt_old_waiting"], ids["evt_new_ok"]})
        self.assertNotIn(runs_before[ids["evt_old_ok"]], steps)
        self.assertIn(runs_before[ids["evt_new_ok"]], steps)

    def test_negative_retention_is_a_config_error(self):
        server = Hookflow(config={"storage": {"retention_days": -1}})
        self.addCleanup(server.cleanup)
        code, _, err = server.cli("validate")
        self.assertEqual(code, 1)
        self.assertRegex(err, r"hookflow\.yaml:\d+:\d+: storage\.retention_days")


if __name__ == "__main__":
    unittest.main()
