"""Hot reload of workflows (issue 4): the server notices changed, added and removed workflow
files within about two seconds and on SIGHUP; new runs use the new version, runs in flight
finish on the one they started with, a broken edit keeps the previous version."""

import hashlib
import os
import re
import signal
import threading
import time
import unittest
import uuid

from harness import (
    JSON_OK,
    Delay,
    Hookflow,
    Script,
    durability_config,
    start_mock,
    stripe_event,
)

RELOAD_SECONDS = 5.0  # the server polls every 0.5 s and loads a change seen twice in a row

WORKFLOW = """name: reload-demo
on:
  source: stripe
  events: [test.reload]
steps:
  - id: call
    uses: api.request
    with:
      method: POST
      url: /%s/${{ event.id }}
"""

BROKEN = """name: reload-demo
on:
  source: stripe
  events: [test.reload]
steps:
  - id: call
    uses: api.request
    wiht:
      method: POST
      url: /v3/${{ event.id }}
"""


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_id():
    return "evt_reload_" + uuid.uuid4().hex[:16]


class HotReloadTest(unittest.TestCase):
    def setUp(self):
        self.mock = start_mock(self)
        self.script = Script(self.mock)

    def start(self, files, answers=()):
        """A server whose workflows folder holds `files` (name -> text); the mock answers
        `answers` ((prefix, list) pairs, first match wins), then 200 to anything under /api/."""
        for prefix, answer in answers:
            self.script.set(prefix, answer)
        self.script.set("/api/", [JSON_OK])
        self.server = Hookflow(mock=self.mock, config=durability_config(self.mock))
        self.addCleanup(self.server.cleanup)
        for name, text in files.items():
            self.write(name, text)
        return self.server.start()

    def write(self, name, text):
        path = os.path.join(self.server.workflows_dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)  # as editors that save atomically do

    def deliver(self, event_id):
        answer = self.server.deliver(stripe_event(event_id, "test.reload"))
        self.assertEqual(answer.status, 200, answer)
        return answer.json()

    def wait_log(self, pattern, after=0, timeout=RELOAD_SECONDS):
        """The first log line at index >= `after` matching `pattern`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.server.lines()[after:]:
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        self.fail("no log line matching %r within %.1f s:\n%s"
                  % (pattern, timeout, self.server.output()[-4000:]))

    def runs_by_event(self):
        runs = self.server.all_runs()
        return {run["event_id"]: run for run in runs}

    def test_changed_workflow_applies_to_new_runs_while_runs_in_flight_keep_theirs(self):
        v1, v2 = WORKFLOW % "v1", WORKFLOW % "v2"
        server = self.start({"reload.yaml": v1},
                            [("/api/v1/", [Delay(2.0, 200, None, {"version": 1}), JSON_OK])])

        in_flight = new_id()
        first = self.deliver(in_flight)
        self.assertEqual(first["runs"], 1)
        self.mock.wait_matching("/api/v1/" + in_flight, 1)  # its step is being answered, slowly

        mark = len(server.lines())
        self.write("reload.yaml", v2)
        changed_at = time.monotonic()
        line = self.wait_log(r"workflows reloaded", mark)
        self.assertLess(time.monotonic() - changed_at, 2.5)
        self.assertIn("changed=reload-demo", line)
        self.assertIn("hashes=reload-demo@" + sha256(v2)[:12], line)

        after = new_id()
        self.assertEqual(self.deliver(after)["runs"], 1)
        server.wait_run_finished(2)
        runs = {r["event_id"]: r for r in server.all_runs()}
        self.assertEqual(runs[first["event_id"]]["workflow_hash"], sha256(v1))
        self.assertEqual(runs[first["event_id"]]["status"], "succeeded")
        paths = [r["path"] for r in self.mock.snapshot()]
        self.assertEqual(paths, ["/api/v1/" + in_flight, "/api/v2/" + after])
        self.assertEqual(server.run(runs[first["event_id"]]["id"])["steps"][0]["output"]["body"],
                         {"version": 1})
        hashes = sorted(r["workflow_hash"] for r in runs.values())
        self.assertEqual(hashes, sorted([sha256(v1), sha256(v2)]))

    def test_deliveries_during_an_edit_switch_versions_once_and_for_good(self):
        v1, v2 = WORKFLOW % "v1", WORKFLOW % "v2"
        server = self.start({"reload.yaml": v1})
        order = []
        stop = threading.Event()

        def flow():
            for _ in range(60):  # bounded: at most 60 deliveries, ~6 s
                if stop.is_set():
                    return
                event_id = new_id()
                answer = server.deliver(stripe_event(event_id, "test.reload"))
                if answer.status == 200:
                    order.append(answer.json()["event_id"])
                time.sleep(0.1)

        sender = threading.Thread(target=flow)
        sender.start()
        time.sleep(0.5)
        mark = len(server.lines())
        self.write("reload.yaml", v2)
        self.wait_log(r"workflows reloaded", mark)
        time.sleep(0.5)
        stop.set()
        sender.join(timeout=30)

        server.wait_run_finished(len(order), timeout=30)
        runs = {r["event_id"]: r for r in server.all_runs()}
        versions = [runs[event]["workflow_hash"] for event in order]
        self.assertIn(sha256(v1), versions)
        self.assertIn(sha256(v2), versions)
        switch = versions.index(sha256(v2))
        self.assertEqual(versions[:switch], [sha256(v1)] * switch)
        self.assertEqual(versions[switch:], [sha256(v2)] * (len(versions) - switch))
        self.assertTrue(all(runs[e]["status"] == "succeeded" for e in order))

    def test_broken_edit_keeps_the_previous_version_and_logs_file_line_col(self):
        v1 = WORKFLOW % "v1"
        server = self.start({"reload.yaml": v1})
        mark = len(server.lines())
        self.write("reload.yaml", BROKEN)
        path = os.path.join(server.workflows_dir, "reload.yaml")
        error = self.wait_log(r"workflow reload error", mark)
        self.assertRegex(error, re.escape(path) + r":8:5: [^\n]*wiht")
        self.wait_log(r"workflows not reloaded; previous version stays active errors=\d+", mark)
        self.assertEqual(server.request("GET", "/readyz").status, 200)

        event_id = new_id()
        self.assertEqual(self.deliver(event_id)["runs"], 1)
        server.wait_run_finished(1)
        self.assertEqual(server.all_runs()[0]["workflow_hash"], sha256(v1))
        self.assertEqual([r["path"] for r in self.mock.snapshot()], ["/api/v1/" + event_id])

        # The error is logged once per change, not on every poll.
        time.sleep(1.5)
        errors = [l for l in server.lines()[mark:] if "workflow reload error" in l]
        self.assertEqual(len(errors), len(set(errors)))

        # Fixing the file loads the fix.
        mark = len(server.lines())
        self.write("reload.yaml", WORKFLOW % "v4")
        self.wait_log(r"workflows reloaded .*changed=reload-demo", mark)

    def test_removed_file_stops_matching_and_added_file_starts(self):
        server = self.start({"reload.yaml": WORKFLOW % "v1"})
        mark = len(server.lines())
        os.remove(os.path.join(server.workflows_dir, "reload.yaml"))
        line = self.wait_log(r"workflows reloaded", mark)
        self.assertIn("workflows=0", line)
        self.assertIn("removed=reload-demo", line)
        self.assertEqual(self.deliver(new_id())["runs"], 0)

        mark = len(server.lines())
        self.write("again.yml", WORKFLOW % "v5")
        line = self.wait_log(r"workflows reloaded", mark)
        self.assertIn("added=reload-demo", line)
        self.assertEqual(self.deliver(new_id())["runs"], 1)

    def test_sighup_reloads_at_once_and_the_server_keeps_serving(self):
        server = self.start({"reload.yaml": WORKFLOW % "v1"})
        mark = len(server.lines())
        server.proc.send_signal(signal.SIGHUP)
        line = self.wait_log(r"workflows reloaded", mark, timeout=2.0)
        self.assertIn("reason=sighup", line)
        self.assertIn("changed=- ", line)
        self.assertIsNone(server.proc.poll())
        self.assertEqual(server.request("GET", "/healthz").status, 200)

        # An edit followed at once by SIGHUP is loaded by the signal, before any poll could.
        mark = len(server.lines())
        self.write("second.yaml", (WORKFLOW % "v6").replace("reload-demo", "second"))
        server.proc.send_signal(signal.SIGHUP)
        line = self.wait_log(r"workflows reloaded", mark, timeout=2.0)
        self.assertIn("added=second", line)
        self.assertEqual(self.deliver(new_id())["runs"], 2)
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
