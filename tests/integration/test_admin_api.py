"""The admin API under /api/: bearer token, filters and cursor pages that match the CLI's
listing, replay, retry of a dead run, cancel, and the separate admin listener."""

import json
import os
import re
import tempfile
import time
import unittest
import urllib.parse

from harness import Delay, request, start_hookflow, start_mock, stripe_event, stripe_headers

TOKEN = "admin-token-hookflow-integration"  # the default config's admin.token
AUTH = {"Authorization": "Bearer " + TOKEN}
SHOP_SECRET = "whsec_integration_shop_NOT_A_REAL_SECRET"
JSON = {"Content-Type": "application/json"}

WORKFLOW = """\
name: admin-probe
on:
  source: stripe
  events: [invoice.paid]
steps:
  - id: first
    uses: stripe.request
    with:
      method: GET
      path: /v1/first/${{ event.id }}
  - id: second
    uses: stripe.request
    with:
      method: GET
      path: /v1/second/${{ event.id }}
"""


def workflow_file(testcase):
    folder = tempfile.mkdtemp(prefix="hookflow-admin-wf-")
    path = os.path.join(folder, "admin-probe.yaml")
    with open(path, "w") as f:
        f.write(WORKFLOW)
    testcase.addCleanup(lambda: (os.remove(path), os.rmdir(folder)))
    return path


def admin_port(server, timeout=10):
    """The port of `admin listening address=127.0.0.1:PORT` in the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.lines():
            found = re.search(r"admin listening address=127\.0\.0\.1:(\d+)", line)
            if found:
                return int(found.group(1))
        time.sleep(0.05)
    raise AssertionError("no `admin listening` line:\n" + server.output())


def api(server, method, path, headers=AUTH, port=None):
    return request(port or server.port, method, path, None, dict(headers))


def get_json(testcase, server, path, port=None):
    answer = api(server, "GET", path, port=port)
    testcase.assertEqual(answer.status, 200, answer)
    testcase.assertEqual(answer.headers["content-type"], "application/json")
    return answer.json()


def all_pages(testcase, server, path, limit):
    """Follows next_cursor from the first page to the last; returns (items, page sizes)."""
    items, sizes, cursor = [], [], None
    for _ in range(50):
        sep = "&" if "?" in path else "?"
        url = path + sep + "limit=%d" % limit
        if cursor:
            url += "&cursor=" + urllib.parse.quote(cursor)
        page = get_json(testcase, server, url)
        items += page["items"]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return items, sizes
    raise AssertionError("pages never ended")


def iso_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class AdminApiTest(unittest.TestCase):
    def setUp(self):
        self.mock = start_mock(self)
        self.mock.route("GET", "/stripe/v1/first/evt_slow", 200, JSON, {"ok": True})

    def ok_routes(self, *event_ids):
        for event_id in event_ids:
            for step in ("first", "second"):
                self.mock.route("GET", "/stripe/v1/%s/%s" % (step, event_id), 200, JSON,
                                {"id": event_id})

    def start(self, config=None):
        return start_hookflow(self, mock=self.mock, workflows=[workflow_file(self)],
                              config=config)

    def deliver(self, server, event_id, event_type="invoice.paid", source="stripe",
                secret=None):
        body = stripe_event(event_id, event_type)
        headers = stripe_headers(body, secret) if secret else stripe_headers(body)
        answer = server.post("/hooks/" + source, body, headers)
        self.assertEqual(answer.status, 200, answer)
        return answer.json()

    def test_requests_without_or_with_a_wrong_token_get_401(self):
        server = self.start()
        for headers in ({}, {"Authorization": "Bearer wrong-token"},
                        {"Authorization": "Basic " + TOKEN}, {"Authorization": TOKEN}):
            answer = api(server, "GET", "/api/events", headers)
            self.assertEqual(answer.status, 401, (headers, answer))
            self.assertTrue(answer.headers["www-authenticate"].startswith("Bearer"), answer)
            self.assertIn("error", answer.json())
        self.assertEqual(api(server, "GET", "/api/events").status, 200)
        self.assertEqual(api(server, "GET", "/api/events",
                             {"Authorization": "bearer " + TOKEN}).status, 200)
        self.assertNotIn(TOKEN, server.output())
        self.assertNotIn("wrong-token", server.output())

    def test_without_a_token_the_api_is_off_and_says_so_at_start(self):
        server = self.start(config={"admin": {"token": ""}})
        for path in ("/api/events", "/api/runs", "/api/runs/run_x/retry"):
            answer = api(server, "GET", path)
            self.assertEqual(answer.status, 404, answer)
            self.assertEqual(answer.json(), {"error": "not found"})
        self.assertIn("admin api is off", server.output())

    def test_filters_and_pages_return_exactly_the_matching_rows_like_the_cli(self):
        server = self.start(config={"sources": {"shop": {"provider": "stripe",
                                                         "secrets": [SHOP_SECRET]}}})
        ids = ["evt_page_%d" % i for i in range(7)]
        self.ok_routes(*ids)
        for i, event_id in enumerate(ids):
            kind = "invoice.paid" if i % 2 == 0 else "invoice.created"
            self.deliver(server, event_id, kind)
            time.sleep(0.005)  # distinct received times for the range filter
        self.deliver(server, "evt_shop_1", "invoice.paid", "shop", SHOP_SECRET)

        # Pages of 3 over the stripe events: 3, 3, 1, newest first, each exactly once.
        items, sizes = all_pages(self, server, "/api/events?source=stripe", 3)
        self.assertEqual(sizes, [3, 3, 1])
        self.assertEqual([e["delivery_id"] for e in items], list(reversed(ids)))
        cli = server.cli_json("events", "list", "--source", "stripe")
        self.assertEqual(items, cli)

        by_type, _ = all_pages(self, server, "/api/events?type=invoice.created", 2)
        self.assertEqual([e["delivery_id"] for e in by_type], ["evt_page_5", "evt_page_3",
                                                                "evt_page_1"])
        shop = get_json(self, server, "/api/events?source=shop")
        self.assertEqual([e["delivery_id"] for e in shop["items"]], ["evt_shop_1"])
        self.assertIsNone(shop["next_cursor"])

        # since is inclusive, until exclusive; RFC 3339 with milliseconds or unix seconds.
        received = {e["delivery_id"]: e["received_at_ms"] for e in items}
        since, until = received["evt_page_2"], received["evt_page_5"]
        query = "/api/events?source=stripe&since=%s&until=%s" % (
            urllib.parse.quote(iso_ms(since)), urllib.parse.quote(iso_ms(until)))
        ranged, _ = all_pages(self, server, query, 2)
        self.assertEqual([e["delivery_id"] for e in ranged],
                         ["evt_page_4", "evt_page_3", "evt_page_2"])
        cli_ranged = server.cli_json("events", "list", "--source", "stripe",
                                     "--since", iso_ms(since), "--until", iso_ms(until))
        self.assertEqual(cli_ranged, ranged)
        future = get_json(self, server, "/api/events?since=%d" % (time.time() + 3600))
        self.assertEqual(future, {"items": [], "next_cursor": None})

        # Runs: one per stripe invoice.paid event (the trigger), filtered like the CLI.
        runs = server.wait_runs(lambda rs: len(rs) == 4 and all(
            r["status"] == "succeeded" for r in rs), what="four succeeded runs")
        api_runs, _ = all_pages(self, server, "/api/runs?workflow=admin-probe&status=succeeded",
                                2)
        self.assertEqual(api_runs, runs)
        self.assertEqual(api_runs, server.cli_json("runs", "list", "--workflow", "admin-probe",
                                                   "--status", "succeeded"))
        event_id = items[0]["id"]  # evt_page_6
        of_event = get_json(self, server, "/api/runs?event=" + event_id)["items"]
        self.assertEqual([r["event_id"] for r in of_event], [event_id])
        self.assertEqual(get_json(self, server, "/api/runs?status=dead")["items"], [])

    def test_a_page_boundary_is_stable_when_events_arrive_between_pages(self):
        server = self.start()
        ids = ["evt_stable_%d" % i for i in range(4)]
        self.ok_routes(*ids, "evt_late")
        for event_id in ids:
            self.deliver(server, event_id)
        first = get_json(self, server, "/api/events?limit=2")
        self.deliver(server, "evt_late")
        second = get_json(self, server, "/api/events?limit=2&cursor=" + first["next_cursor"])
        self.assertEqual([e["delivery_id"] for e in first["items"] + second["items"]],
                         ["evt_stable_3", "evt_stable_2", "evt_stable_1", "evt_stable_0"])
        self.assertIsNone(second["next_cursor"])

    def test_bad_filters_and_cursors_get_400(self):
        server = self.start()
        for path in ("/api/events?since=yesterday", "/api/events?until=2026-13-01",
                     "/api/events?since=2000&until=1000", "/api/events?limit=0",
                     "/api/events?limit=501", "/api/events?limit=ten",
                     "/api/events?cursor=not-a-cursor!", "/api/events?colour=red",
                     "/api/runs?status=finished", "/api/runs?source=stripe",
                     "/api/runs?cursor=ZXZfMQ"):
            answer = api(server, "GET", path)
            self.assertEqual(answer.status, 400, (path, answer))
            self.assertIsInstance(answer.json()["error"], str)
        code, _, err = server.cli("runs", "list", "--status", "finished")
        self.assertEqual(code, 1)
        self.assertIn("unknown status", err)

    def test_show_event_and_run_with_steps(self):
        server = self.start()
        self.ok_routes("evt_show")
        event_id = self.deliver(server, "evt_show")["event_id"]
        runs = server.wait_run_finished()
        event = get_json(self, server, "/api/events/" + event_id)
        self.assertEqual(event, server.cli_json("events", "show", event_id))
        self.assertEqual(event["delivery_id"], "evt_show")
        self.assertEqual(json.loads(event["body"])["id"], "evt_show")
        self.assertEqual([r["id"] for r in event["runs"]], [runs[0]["id"]])
        run = get_json(self, server, "/api/runs/" + runs[0]["id"])
        self.assertEqual(run, server.cli_json("runs", "show", runs[0]["id"]))
        self.assertEqual([(s["step_id"], s["status"]) for s in run["steps"]],
                         [("first", "succeeded"), ("second", "succeeded")])
        self.assertEqual(api(server, "GET", "/api/events/ev_missing").json(),
                         {"error": "no such event"})
        self.assertEqual(api(server, "GET", "/api/runs/run_missing").status, 404)
        self.assertEqual(api(server, "GET", "/api/widgets").status, 404)
        answer = api(server, "DELETE", "/api/runs/" + runs[0]["id"])
        self.assertEqual((answer.status, answer.headers.get("allow")), (405, "GET, HEAD"))

    def test_replay_queues_a_new_run_that_runs_again(self):
        server = self.start()
        self.ok_routes("evt_replay")
        event_id = self.deliver(server, "evt_replay")["event_id"]
        first = server.wait_run_finished()[0]
        answer = api(server, "POST", "/api/events/%s/replay" % event_id)
        self.assertEqual(answer.status, 202, answer)
        replayed = answer.json()
        self.assertEqual(replayed["event_id"], event_id)
        self.assertEqual(len(replayed["runs"]), 1)
        self.assertNotEqual(replayed["runs"][0], first["id"])
        runs = server.wait_runs(lambda rs: len(rs) == 2 and all(
            r["status"] == "succeeded" for r in rs), what="the replayed run")
        self.assertEqual(sorted(r["id"] for r in runs), sorted([first["id"]] +
                                                              replayed["runs"]))
        self.assertEqual(len(self.mock.matching("/stripe/v1/first/evt_replay")), 2)
        self.assertEqual(api(server, "POST", "/api/events/ev_missing/replay").status, 404)
        answer = api(server, "GET", "/api/events/%s/replay" % event_id)
        self.assertEqual((answer.status, answer.headers.get("allow")), (405, "POST"))
        # An event no workflow takes cannot be replayed.
        other = self.deliver(server, "evt_other", "customer.created")["event_id"]
        answer = api(server, "POST", "/api/events/%s/replay" % other)
        self.assertEqual(answer.status, 409, answer)

    def test_retry_requeues_a_dead_run_which_then_succeeds(self):
        self.mock.route("GET", "/stripe/v1/first/evt_dead", 200, JSON, {"ok": True})
        self.mock.route("GET", "/stripe/v1/second/evt_dead", [
            (400, JSON, {"error": {"type": "invalid_request_error", "message": "nope"}}),
            (200, JSON, {"ok": True}),
        ])
        server = self.start()
        self.deliver(server, "evt_dead")
        run = server.wait_runs(lambda rs: rs and rs[0]["status"] == "dead",
                               what="a dead run")[0]
        dead = get_json(self, server, "/api/runs?status=dead")["items"]
        self.assertEqual([r["id"] for r in dead], [run["id"]])

        answer = api(server, "POST", "/api/runs/%s/retry" % run["id"])
        self.assertEqual(answer.status, 200, answer)
        self.assertIn(answer.json()["status"], ("queued", "running", "succeeded"))
        runs = server.wait_run_finished()
        self.assertEqual([(r["id"], r["status"]) for r in runs], [(run["id"], "succeeded")])
        # It resumed at the failed step: the first one was not called again.
        self.assertEqual(len(self.mock.matching("/stripe/v1/first/evt_dead")), 1)
        self.assertEqual(len(self.mock.matching("/stripe/v1/second/evt_dead")), 2)

        again = api(server, "POST", "/api/runs/%s/retry" % run["id"])
        self.assertEqual(again.status, 409, again)
        self.assertIn("succeeded", again.json()["error"])
        self.assertEqual(api(server, "POST", "/api/runs/run_missing/retry").status, 404)

    def test_cancel_stops_a_running_run_before_its_next_step_and_a_queued_one_entirely(self):
        self.mock.route("GET", "/stripe/v1/first/evt_slow", [Delay(2.0, 200, JSON, {})])
        self.ok_routes("evt_waiting")
        server = self.start(config={"engine": {"workers": 1}})
        self.deliver(server, "evt_slow")
        self.mock.wait_matching("/stripe/v1/first/evt_slow", 1)
        self.deliver(server, "evt_waiting")
        runs = server.all_runs()
        by_event = {server.event(r["event_id"])["delivery_id"]: r for r in runs}
        running, waiting = by_event["evt_slow"], by_event["evt_waiting"]
        self.assertEqual((running["status"], waiting["status"]), ("running", "queued"))

        answer = api(server, "POST", "/api/runs/%s/cancel" % waiting["id"])
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual((answer.json()["status"], answer.json()["previous_status"]),
                         ("cancelled", "queued"))
        answer = api(server, "POST", "/api/runs/%s/cancel" % running["id"])
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json()["previous_status"], "running")

        # The slow step finishes; the run stops there and nothing else runs.
        self.mock.wait_matching("/stripe/v1/first/evt_slow", 1, answered=True)
        deadline = time.monotonic() + 10
        while "err=cancelled" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        self.assertIn("run stopped without outcome", server.output())
        statuses = {r["id"]: r["status"] for r in server.all_runs()}
        self.assertEqual(statuses, {running["id"]: "cancelled", waiting["id"]: "cancelled"})
        self.assertEqual(self.mock.matching("/stripe/v1/second/"), [])
        self.assertEqual(self.mock.matching("/stripe/v1/first/evt_waiting"), [])

        again = api(server, "POST", "/api/runs/%s/cancel" % running["id"])
        self.assertEqual(again.status, 409, again)
        self.assertEqual(api(server, "POST", "/api/runs/run_missing/cancel").status, 404)

    def test_admin_listen_serves_the_api_and_metrics_apart_from_the_public_port(self):
        server = self.start(config={"admin": {"listen": "127.0.0.1:0"}})
        port = admin_port(server)
        self.assertNotEqual(port, server.port)
        self.assertEqual(api(server, "GET", "/api/events").status, 404)
        self.assertEqual(api(server, "GET", "/metrics").status, 404)
        self.assertEqual(api(server, "GET", "/api/events", port=port).status, 200)
        self.assertEqual(api(server, "GET", "/api/events", {}, port=port).status, 401)
        metrics = api(server, "GET", "/metrics", {}, port=port)
        self.assertEqual(metrics.status, 200)
        self.assertIn(b"# TYPE hookflow_deliveries_total counter", metrics.body)
        self.assertEqual(api(server, "GET", "/healthz", {}, port=port).status, 200)
        self.assertEqual(api(server, "GET", "/healthz", {}).status, 200)


if __name__ == "__main__":
    unittest.main()
