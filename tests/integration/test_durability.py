"""Durable execution (issue 3): per-step retries against a mock API that fails on command,
backoff spacing, Retry-After and Stripe-Should-Retry, step and run timeouts, dead runs,
`dead retry` and `replay`, concurrency keys, and edge cases E5, E7 and E10.

Timing bounds come from the mock's request timestamps. The engine polls every 100 ms, so each
upper bound allows POLL_SLACK on top of the computed delay.
"""

import email.utils
import json
import time
import unittest
import uuid

from harness import (
    JSON_OK,
    KEYS,
    Delay,
    Reset,
    Script,
    api_fixture,
    durability_config,
    durability_workflow,
    gaps,
    start_hookflow,
    start_mock,
    stripe_event,
    stripe_headers,
)

POLL_SLACK = 0.7  # poll interval, process scheduling and a loaded 2-core machine
JITTER = 0.2  # the documented ±20 %
FINAL = ("succeeded", "dead", "stale")


def new_id(prefix="evt_dur_"):
    return prefix + uuid.uuid4().hex[:16]


def http_answer(status, headers=None, body=None):
    return (status, dict({"Content-Type": "application/json"}, **(headers or {})),
            {} if body is None else body)


class DurabilityCase(unittest.TestCase):
    """Shared set-up: a mock API with a Script, and helpers to start and query a server."""

    def setUp(self):
        self.mock = start_mock(self)
        self.script = Script(self.mock)

    def start(self, workflows, engine=None, storage=None, extra=None):
        config = durability_config(self.mock, engine, storage)
        for key, value in (extra or {}).items():
            config.setdefault(key, {}).update(value)
        return start_hookflow(self, mock=self.mock,
                              workflows=[durability_workflow(w) for w in workflows],
                              config=config)

    def deliver_new(self, server, body, runs=1):
        answer = server.deliver(body)
        self.assertEqual(answer.status, 200, answer)
        doc = answer.json()
        self.assertEqual(doc.get("status"), "accepted", doc)
        self.assertEqual(doc.get("runs"), runs, doc)
        return doc["event_id"]

    def wait_final(self, server, count=1, timeout=20):
        return server.wait_runs(
            lambda rs: len(rs) >= count and all(r.get("status") in FINAL for r in rs),
            timeout, "%d final run(s)" % count)

    def steps_of(self, server, run_id):
        shown = server.run(run_id)
        return {s["step_id"]: s for s in shown.get("steps", [])}

    def dead_ids(self, server):
        return [r["id"] for r in server.cli_json("dead", "list")]

    def assert_gap(self, gap, low, high, what):
        self.assertGreaterEqual(gap, low, "%s: %.3f s, expected at least %.3f s" % (what, gap, low))
        self.assertLessEqual(gap, high, "%s: %.3f s, expected at most %.3f s" % (what, gap, high))


class StepRetryTest(DurabilityCase):
    """workflow durability-retry-chain: first -> flaky (retry 3 x, 200 ms..400 ms, timeout 1 s)
    -> last."""

    def setUp(self):
        super().setUp()
        self.script.set("/api/first/", JSON_OK)
        self.script.set("/api/last/", JSON_OK)

    def run_chain(self, flaky_answers, engine=None):
        self.script.set("/api/flaky/", flaky_answers)
        server = self.start(["retry-chain"], engine)
        event_id = new_id()
        self.deliver_new(server, stripe_event(event_id, "test.retry"))
        return server, event_id

    def calls(self, step):
        return self.mock.matching("/api/%s/" % step)

    def assert_one_key_per_step(self, run_id):
        """Every attempt of a step carries the same key, <run id>-<step id>."""
        for step in ("first", "flaky", "last"):
            keys = {r["headers"].get("idempotency-key") for r in self.calls(step)}
            self.assertLessEqual(keys, {run_id + "-" + step}, step)

    def test_two_500s_then_success_retries_with_exponential_backoff_and_resumes(self):
        server, _ = self.run_chain([http_answer(500), http_answer(500), JSON_OK])
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual((len(self.calls("first")), len(self.calls("flaky")),
                          len(self.calls("last"))), (1, 3, 1))
        first_gap, second_gap = gaps(self.calls("flaky"))
        self.assert_gap(first_gap, 0.2 * (1 - JITTER), 0.2 * (1 + JITTER) + POLL_SLACK,
                        "backoff before attempt 2")
        self.assert_gap(second_gap, 0.4 * (1 - JITTER), 0.4 * (1 + JITTER) + POLL_SLACK,
                        "backoff before attempt 3")
        steps = self.steps_of(server, run["id"])
        self.assertEqual(steps["flaky"]["status"], "succeeded", steps)
        self.assertEqual(steps["flaky"]["attempt"], 3, steps["flaky"])
        self.assertEqual(steps["first"]["attempt"], 1, steps["first"])
        self.assert_one_key_per_step(run["id"])

    def test_429_with_retry_after_seconds_waits_that_long(self):
        server, _ = self.run_chain([http_answer(429, {"Retry-After": "1"}), JSON_OK])
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        (gap,) = gaps(self.calls("flaky"))
        # Retry-After outranks the step's 200 ms backoff and its 400 ms max_backoff.
        self.assert_gap(gap, 0.95, 1.0 + 0.4 * (1 + JITTER) + POLL_SLACK, "Retry-After: 1")
        self.assertEqual(self.steps_of(server, run["id"])["flaky"]["attempt"], 2)

    def test_429_with_retry_after_http_date_waits_until_then(self):
        def later(_record):
            return http_answer(429, {"Retry-After": email.utils.formatdate(
                time.time() + 2, usegmt=True)})

        server, _ = self.run_chain([later, JSON_OK])
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        (gap,) = gaps(self.calls("flaky"))
        # The date has whole seconds: 2 s ahead, truncated, is at least 1 s ahead.
        self.assert_gap(gap, 0.95, 2.0 + 0.4 * (1 + JITTER) + POLL_SLACK, "Retry-After date")

    def test_connection_reset_twice_then_success_counts_three_attempts(self):
        self.mock.keep_alive = False  # no reuse: every reset is one real, counted failure
        server, _ = self.run_chain([Reset(), Reset(), JSON_OK])
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(len(self.calls("flaky")), 3)
        self.assertEqual(len(self.calls("first")), 1)
        self.assertEqual(self.steps_of(server, run["id"])["flaky"]["attempt"], 3)

    def test_hang_past_step_timeout_is_cancelled_and_retried(self):
        server, _ = self.run_chain([Delay(5.0), JSON_OK])
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        (gap,) = gaps(self.calls("flaky"))
        # Cancelled at the 1 s step timeout, not when the mock would have answered (5 s).
        self.assert_gap(gap, 1.0 + 0.2 * (1 - JITTER), 1.0 + 0.2 * (1 + JITTER) + POLL_SLACK,
                        "timeout then backoff")
        steps = self.steps_of(server, run["id"])
        self.assertEqual(steps["flaky"]["attempt"], 2, steps["flaky"])

    def test_out_of_attempts_is_dead_and_dead_retry_resumes_from_the_failed_step(self):
        server, _ = self.run_chain([http_answer(500, body={"message": "crm down"})])
        run = server.wait_runs(lambda rs: rs and rs[0]["status"] == "dead", 20, "a dead run")[0]
        self.assertEqual((len(self.calls("first")), len(self.calls("flaky")),
                          len(self.calls("last"))), (1, 3, 0))
        self.assertIn("500", run["last_error"])
        self.assertIn(run["id"], self.dead_ids(server))
        time.sleep(0.6)  # a dead run is not retried on its own
        self.assertEqual(len(self.calls("flaky")), 3)

        self.script.set("/api/flaky/", JSON_OK)
        code, out, err = server.cli("dead", "retry", run["id"])
        self.assertEqual(code, 0, out + err)
        run = server.wait_runs(lambda rs: rs[0]["status"] in ("succeeded",), 20,
                               "the retried run to succeed")[0]
        self.assertEqual((len(self.calls("first")), len(self.calls("flaky")),
                          len(self.calls("last"))), (1, 4, 1))
        self.assertNotIn(run["id"], self.dead_ids(server))
        steps = self.steps_of(server, run["id"])
        self.assertEqual([steps[s]["status"] for s in ("first", "flaky", "last")],
                         ["succeeded"] * 3)
        self.assert_one_key_per_step(run["id"])

    def test_4xx_is_not_retried(self):
        server, _ = self.run_chain([http_answer(400, body={"message": "bad input"})])
        run = server.wait_runs(lambda rs: rs and rs[0]["status"] == "dead", 20, "a dead run")[0]
        time.sleep(0.8)
        self.assertEqual((len(self.calls("flaky")), len(self.calls("last"))), (1, 0))
        self.assertIn("400", run["last_error"])

    def test_replay_starts_a_new_run_from_the_first_step(self):
        server, _ = self.run_chain([JSON_OK])
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        code, out, err = server.cli("replay", run["event_id"])
        self.assertEqual(code, 0, out + err)
        runs = self.wait_final(server, 2)
        self.assertEqual(len(runs), 2, runs)
        self.assertEqual({r["status"] for r in runs}, {"succeeded"})
        self.assertEqual({r["event_id"] for r in runs}, {run["event_id"]})
        keys = [r["headers"].get("idempotency-key") for r in self.calls("first")]
        self.assertEqual(len(keys), 2)
        self.assertEqual(len(set(keys)), 2, "the replayed run reused the first run's key")


class TimeoutTest(DurabilityCase):
    def test_run_timeout_ends_a_hanging_run(self):
        self.script.set("/api/hang/", Delay(20.0))
        server = self.start(["run-timeout"], engine={"max_attempts": 1})
        started = time.monotonic()
        self.deliver_new(server, stripe_event(new_id(), "test.run_timeout"))
        run = server.wait_runs(lambda rs: rs and rs[0]["status"] in ("dead", "failed"), 10,
                               "the run to time out")[0]
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 2.0 + 3.0, "the run timeout (2 s) did not cut the 20 s hang")
        self.assertTrue(run["last_error"], run)
        self.assertEqual(len(self.mock.matching("/api/hang/")), 1)


class StripeShouldRetryTest(DurabilityCase):
    def start_stripe(self):
        return self.start(["stripe-should-retry"])

    def test_stripe_should_retry_false_on_500_is_not_retried(self):
        self.mock.route("POST", "/stripe/v1/customers/cus_should", 500,
                        {"Content-Type": "application/json", "Stripe-Should-Retry": "false"},
                        {"error": {"type": "api_error", "message": "do not retry"}})
        server = self.start_stripe()
        self.deliver_new(server, stripe_event(new_id(), "test.stripe_retry",
                                              {"id": "x", "customer": "cus_should"}))
        run = server.wait_runs(lambda rs: rs and rs[0]["status"] == "dead", 20, "a dead run")[0]
        time.sleep(0.8)
        self.assertEqual(len(self.mock.matching("/stripe/v1/customers/")), 1)
        self.assertIn("500", run["last_error"])

    def test_lock_timeout_with_stripe_should_retry_true_is_retried_with_the_same_key(self):
        lock = api_fixture("stripe", "error_429_lock_timeout")["response"]
        customer = api_fixture("stripe", "customer_update_200")["response"]
        self.mock.route("POST", "/stripe/v1/customers/cus_should", [
            (lock["status"], lock["headers"], lock["body"]),
            (customer["status"], customer["headers"], customer["body"]),
        ])
        server = self.start_stripe()
        self.deliver_new(server, stripe_event(new_id(), "test.stripe_retry",
                                              {"id": "x", "customer": "cus_should"}))
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        calls = self.mock.matching("/stripe/v1/customers/")
        self.assertEqual(len(calls), 2)
        self.assertEqual([c["headers"].get("idempotency-key") for c in calls],
                         [run["id"] + "-tag"] * 2)
        self.assertEqual(calls[0]["headers"].get("authorization"), "Bearer " + KEYS["stripe"])


class ConcurrencyKeyTest(DurabilityCase):
    def test_one_key_runs_in_arrival_order_one_at_a_time_other_keys_in_parallel(self):
        self.script.set("/api/ordered/", Delay(0.4))
        server = self.start(["ordered-by-customer"], engine={"workers": 4})
        order = [("cus_A", 1), ("cus_A", 2), ("cus_B", 1), ("cus_A", 3), ("cus_B", 2),
                 ("cus_A", 4), ("cus_B", 3), ("cus_A", 5)]
        for customer, seq in order:
            body = stripe_event(new_id(), "test.ordered",
                                {"id": "obj", "customer": customer, "seq": seq})
            self.deliver_new(server, body)
        runs = self.wait_final(server, len(order), timeout=30)
        self.assertEqual({r["status"] for r in runs}, {"succeeded"}, runs)
        by_key = {}
        for record in self.mock.matching("/api/ordered/"):
            _, _, _, customer, seq = record["path"].split("/")  # /api/ordered/<key>/<seq>
            by_key.setdefault(customer, []).append((int(seq), record))
        self.assertEqual([s for s, _ in by_key["cus_A"]], [1, 2, 3, 4, 5])
        self.assertEqual([s for s, _ in by_key["cus_B"]], [1, 2, 3])
        for customer, calls in by_key.items():
            for (_, before), (seq, after) in zip(calls, calls[1:]):
                self.assertIsNotNone(before["done"])
                self.assertGreaterEqual(after["time"], before["done"] - 0.05,
                                        "%s #%d started before #%d finished"
                                        % (customer, seq, seq - 1))
        overlap = any(a["time"] < b["done"] and b["time"] < a["done"]
                      for _, a in by_key["cus_A"] for _, b in by_key["cus_B"])
        self.assertTrue(overlap, "runs of cus_A and cus_B never ran at the same time")


class EdgeCaseE5Test(DurabilityCase):
    """E5: step 2 fails after the event was acknowledged; the provider redelivers."""

    def invoice_paid(self):
        return stripe_event("evt_FAKE0014", "invoice.paid",
                            {"id": "in_FAKE0014", "object": "invoice", "customer": "cus_FAKE0014",
                             "status": "paid"}, created=1700000014)

    def setUp(self):
        super().setUp()
        self.mock.route("GET", "/crm/contacts/cus_FAKE0014", 200,
                        {"Content-Type": "application/json"}, {"id": "contact_14"})

    def test_crm_503_once_is_retried_by_hookflow_and_the_redelivery_is_a_duplicate(self):
        self.mock.route("POST", "/crm/deals", [
            (503, {"Content-Type": "application/json"}, {"message": "unavailable"}),
            (201, {"Content-Type": "application/json"}, {"id": "deal_14"}),
        ])
        server = self.start(["e5-invoice-paid-crm"])
        body = self.invoice_paid()
        self.deliver_new(server, body)
        self.mock.wait_matching("/crm/deals", 1)
        # The provider's redelivery: same event, a new timestamp and signature.
        again = server.post("/hooks/stripe", body, stripe_headers(body, t=int(time.time()) + 1))
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json().get("status"), "duplicate", again)
        run = self.wait_final(server)[0]
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(len(server.all_runs()), 1)
        self.assertEqual(len(server.all_events()), 1)
        deals = self.mock.matching("/crm/deals")
        self.assertEqual([d["answered"] for d in deals], [503, 201])
        self.assertEqual(len(self.mock.matching("/crm/contacts/")), 1)
        self.assertEqual(json.loads(deals[1]["body"])["invoice"], "in_FAKE0014")

    def test_crm_that_never_recovers_leaves_the_run_dead_and_listed(self):
        self.mock.route("POST", "/crm/deals", 503, {"Content-Type": "application/json"},
                        {"message": "unavailable"})
        server = self.start(["e5-invoice-paid-crm"])
        self.deliver_new(server, self.invoice_paid())
        run = server.wait_runs(lambda rs: rs and rs[0]["status"] in ("dead", "succeeded"), 20,
                               "the run to end")[0]
        self.assertEqual(run["status"], "dead", run)
        self.assertEqual(self.dead_ids(server), [run["id"]])
        self.assertEqual(len(self.mock.matching("/crm/deals")), 3)
        self.assertIn("503", run["last_error"])


class EdgeCaseE7Test(DurabilityCase):
    """E7: an older event for the same subscription arrives after a newer one."""

    def test_older_event_is_stale_and_sends_nothing_final_status_active(self):
        self.script.set("/crm/subscriptions/", Delay(0.5, 200, None, {"id": "sub_FAKE016"}))
        server = self.start(["e7-subscription-status"])
        newer = stripe_event("evt_FAKE016B", "customer.subscription.updated",
                             {"id": "sub_FAKE016", "object": "subscription", "status": "active"},
                             created=1700000001)
        older = stripe_event("evt_FAKE016A", "customer.subscription.created",
                             {"id": "sub_FAKE016", "object": "subscription",
                              "status": "incomplete"}, created=1700000000)
        self.deliver_new(server, newer)
        self.deliver_new(server, older)
        runs = self.wait_final(server, 2)
        events = {e["id"]: e["delivery_id"] for e in server.all_events()}
        status = {events[r["event_id"]]: r["status"] for r in runs}
        self.assertEqual(status, {"evt_FAKE016B": "succeeded", "evt_FAKE016A": "stale"})
        calls = self.mock.matching("/crm/subscriptions/sub_FAKE016")
        self.assertEqual(len(calls), 1, [c["body"] for c in calls])
        self.assertEqual(json.loads(calls[-1]["body"]),
                         {"status": "active", "event": "evt_FAKE016B"})
        stale = [r for r in runs if r["status"] == "stale"][0]
        executed = [s for s in server.run(stale["id"]).get("steps", [])
                    if s["status"] in ("succeeded", "failed", "running")]
        self.assertEqual(executed, [])


class EdgeCaseE10Test(DurabilityCase):
    """E10: Slack answers 429 with Retry-After: 2 twice, then ok."""

    def test_step_waits_retry_after_each_time_and_succeeds_on_the_third_attempt(self):
        limited = api_fixture("slack", "chat_postMessage_ratelimited_429")["response"]
        ok = api_fixture("slack", "chat_postMessage_200")["response"]
        headers = dict(limited["headers"], **{"Retry-After": "2"})
        self.mock.route("POST", "/slack/api/chat.postMessage", [
            (429, headers, {"ok": False, "error": "ratelimited"}),
            (429, headers, {"ok": False, "error": "ratelimited"}),
            (200, ok["headers"], ok["body"]),
        ])
        server = self.start(["e10-slack-ratelimited"])
        self.deliver_new(server, stripe_event(new_id(), "test.slack"))
        run = self.wait_final(server, timeout=25)[0]
        self.assertEqual(run["status"], "succeeded", run)
        calls = self.mock.matching("/slack/api/chat.postMessage")
        self.assertEqual(len(calls), 3)
        for gap in gaps(calls):
            self.assert_gap(gap, 1.95, 2.0 + 0.4 * (1 + JITTER) + POLL_SLACK, "Retry-After: 2")
        step = self.steps_of(server, run["id"])["notify"]
        self.assertEqual((step["status"], step["attempt"]), ("succeeded", 3), step)
        self.assertEqual(step["output"]["ts"], ok["body"]["ts"])


if __name__ == "__main__":
    unittest.main()
