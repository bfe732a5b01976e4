"""The /hooks endpoint and the server around it: dedupe, rejections, limits, health,
secrets kept out of answers and logs, restarts, and a source with no secret configured."""

import hashlib
import hmac
import json
import os
import threading
import time
import unittest

from harness import (
    EXAMPLE_WORKFLOW,
    STRIPE_SECRET,
    fixture_bytes,
    fixture_path,
    sign_stripe,
    start_hookflow,
    start_mock,
    stream_post,
    stripe_headers,
)

INVOICE = fixture_bytes("payloads", "stripe", "invoice.payment_failed.json")
CHARGE = fixture_bytes("payloads", "stripe", "charge.failed.json")
CHARGE_WORKFLOW = fixture_path("workflows", "charge-failed-tag-customer.yaml")


def tampered(body):
    """The same body with the amount changed: the signature no longer matches."""
    assert b'"amount_due": 1000' in body
    return body.replace(b'"amount_due": 1000', b'"amount_due": 9000', 1)


class IngestTest(unittest.TestCase):
    def assert_error_body(self, answer):
        doc = json.loads(answer.body)
        self.assertEqual(list(doc.keys()), ["error"], answer)
        self.assertIsInstance(doc["error"], str)
        self.assertTrue(doc["error"], answer)

    def test_same_delivery_twice_answers_duplicate_and_queues_one_run(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        first = server.deliver(INVOICE)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json()["status"], "accepted")
        self.assertEqual(first.json()["runs"], 1)
        # The provider's redelivery: same body, fresh timestamp and signature.
        later = int(time.time()) + 1
        second = server.post("/hooks/stripe", INVOICE, stripe_headers(INVOICE, t=later))
        self.assertEqual(second.status, 200, second)
        self.assertEqual(second.json(),
                         {"status": "duplicate", "event_id": first.json()["event_id"]})
        events = server.events()
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0]["delivery_id"], json.loads(INVOICE)["id"])
        self.assertEqual(events[0]["type"], "invoice.payment_failed")
        self.assertEqual(events[0]["source"], "stripe")
        runs = server.runs()
        self.assertEqual(len(runs), 1, runs)
        self.assertEqual(runs[0]["event_id"], first.json()["event_id"])

    def test_concurrent_copies_of_one_delivery_are_accepted_once(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        answers = []
        lock = threading.Lock()

        def send():
            answer = server.deliver(INVOICE)
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=send) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.assertEqual([a.status for a in answers], [200] * 12, answers)
        statuses = sorted(a.json()["status"] for a in answers)
        self.assertEqual(statuses, ["accepted"] + ["duplicate"] * 11)
        self.assertEqual(len({a.json()["event_id"] for a in answers}), 1, answers)
        self.assertEqual(len(server.events()), 1)
        self.assertEqual(len(server.runs()), 1)

    def test_tampered_body_is_401_and_nothing_is_stored(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        headers = stripe_headers(INVOICE)
        answer = server.post("/hooks/stripe", tampered(INVOICE), headers)
        self.assertEqual(answer.status, 401, answer)
        self.assert_error_body(answer)
        self.assertEqual(server.events(), [])
        self.assertEqual(server.runs(), [])

    def test_stale_timestamp_is_401_and_nothing_is_stored(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        old = int(time.time()) - 3600  # tolerance is 300 s
        answer = server.post("/hooks/stripe", INVOICE, stripe_headers(INVOICE, t=old))
        self.assertEqual(answer.status, 401, answer)
        self.assert_error_body(answer)
        self.assertEqual(server.events(), [])

    def test_body_over_max_body_bytes_is_413_and_connection_closed(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW],
                                config={"server": {"max_body_bytes": 4096}})
        body = b'{"id":"evt_big","type":"invoice.payment_failed","pad":"' + b"x" * 8000 + b'"}'
        headers = stripe_headers(body)
        headers["Content-Length"] = str(len(body))
        pieces = [body[i:i + 1024] for i in range(0, len(body), 1024)]
        result = stream_post(server.port, "/hooks/stripe", headers, pieces)
        self.assertEqual(result.status, 413, result)
        self.assertTrue(result.closed, "connection left open after 413: %r" % result)
        self.assertEqual(server.events(), [])

    def test_unknown_source_is_404(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        answer = server.post("/hooks/nosuchsource", INVOICE, stripe_headers(INVOICE))
        self.assertEqual(answer.status, 404, answer)
        self.assert_error_body(answer)
        self.assertEqual(server.events(), [])

    def test_other_methods_on_hooks_are_405_with_allow_post(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        for method in ("GET", "PUT", "DELETE"):
            answer = server.request(method, "/hooks/stripe")
            self.assertEqual(answer.status, 405, "%s: %r" % (method, answer))
            self.assertEqual(answer.headers.get("allow"), "POST", "%s: %r" % (method, answer))
        self.assertEqual(server.events(), [])

    def test_healthz_and_readyz_answer_200(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        self.assertEqual(server.request("GET", "/healthz").status, 200)
        ready = server.request("GET", "/readyz")
        self.assertEqual(ready.status, 200, ready)

    def test_secret_and_expected_signature_never_appear_in_answers_or_logs(self):
        mock = start_mock(self)
        server = start_hookflow(self, mock=mock, workflows=[EXAMPLE_WORKFLOW])
        t = int(time.time())
        bad_body = tampered(INVOICE)
        expected_sig = hmac.new(STRIPE_SECRET.encode(), b"%d." % t + bad_body,
                                hashlib.sha256).hexdigest()
        answers = [
            server.post("/hooks/stripe", bad_body,
                        {"Stripe-Signature": sign_stripe(STRIPE_SECRET, INVOICE, t)}),
            server.post("/hooks/stripe", INVOICE,
                        {"Stripe-Signature": "t=%d,v1=%s" % (t, "0" * 64)}),
            server.post("/hooks/stripe", INVOICE, {"Stripe-Signature": "garbage"}),
            server.post("/hooks/stripe", INVOICE, {}),
            server.post("/hooks/stripe", b"[]", stripe_headers(b"[]")),
            server.post("/hooks/nosuch", INVOICE, stripe_headers(INVOICE)),
            server.request("GET", "/hooks/stripe"),
            server.request("GET", "/healthz"),
            server.request("GET", "/readyz"),
            server.request("GET", "/metrics"),
            server.request("GET", "/nope"),
            server.deliver(INVOICE),
            server.deliver(INVOICE),
        ]
        for answer in answers:
            self.assertLess(answer.status, 500, answer)
            self.assertNotIn(STRIPE_SECRET.encode(), answer.body, answer)
            self.assertNotIn(expected_sig.encode(), answer.body, answer)
            for value in answer.headers.values():
                self.assertNotIn(STRIPE_SECRET, value)
                self.assertNotIn(expected_sig, value)
        server.wait_run_finished(1)
        server.stop()
        self.assertNotIn(STRIPE_SECRET, server.output())
        self.assertNotIn(expected_sig, server.output())

    def test_restart_on_same_database_keeps_events_runs_and_dedupe(self):
        mock = start_mock(self)
        update = json.loads(fixture_bytes("api", "stripe", "customer_update_200.json"))["response"]
        mock.route("POST", "/stripe/v1/customers/cus_QXg1o8vcGmoR32", 200, {}, update["body"])
        mock.route("POST", "/slack/api/chat.postMessage", 200, {}, {"ok": True, "ts": "1.2"})
        server = start_hookflow(self, mock=mock, workflows=[CHARGE_WORKFLOW])
        accepted = server.deliver(CHARGE)
        self.assertEqual(accepted.status, 200, accepted)
        runs_before = server.wait_run_finished(1)
        self.assertEqual(runs_before[0]["status"], "succeeded", runs_before)
        events_before = server.events()
        self.assertEqual(server.stop(), 0, "SIGTERM should exit 0:\n" + server.output()[-3000:])

        server.start()
        self.assertEqual(server.events(), events_before)
        runs_after = server.runs()
        self.assertEqual([(r["id"], r["status"]) for r in runs_after],
                         [(r["id"], r["status"]) for r in runs_before])
        again = server.deliver(CHARGE)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json(), {"status": "duplicate",
                                        "event_id": accepted.json()["event_id"]})
        self.assertEqual(len(mock.snapshot()), 2, "the finished run was executed again")

    def test_source_with_unset_secret_env_var_starts_warns_and_rejects(self):
        var = "HOOKFLOW_IT_SECRET_NEVER_SET"
        server = start_hookflow(
            self, workflows=[EXAMPLE_WORKFLOW], env={var: None},
            config={"sources": {"stripe": {"secrets": ["${%s}" % var]}}},
        )
        warnings = [line for line in server.lines()
                    if ("warn" in line.lower() or "error" in line.lower()) and "stripe" in line]
        self.assertTrue(warnings, "no start-up warning naming the source:\n" + server.output())
        for secret in (STRIPE_SECRET, ""):
            answer = server.deliver(INVOICE, secret=secret)
            self.assertEqual(answer.status, 401, "secret %r: %r" % (secret, answer))
            self.assert_error_body(answer)
        self.assertEqual(server.events(), [])

    def test_each_rejection_is_logged_with_its_reason_and_status(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW],
                                config={"server": {"max_body_bytes": 4096}})
        big = b'{"pad":"' + b"x" * 5000 + b'"}'
        headers = stripe_headers(big)
        headers["Content-Length"] = str(len(big))
        sent = {
            401: server.post("/hooks/stripe", b"{}", {}).status,
            400: server.post("/hooks/stripe", b"[]", stripe_headers(b"[]")).status,
            413: stream_post(server.port, "/hooks/stripe", headers,
                             [big[:2048], big[2048:]]).status,
        }
        self.assertEqual(sent, {401: 401, 400: 400, 413: 413})
        time.sleep(0.3)  # let the log lines reach the reader thread
        for status in sent:
            lines = [line for line in server.lines() if "http_status=%d" % status in line
                     and "reason=" in line and "source=stripe" in line]
            self.assertTrue(lines, "no log line for the %d rejection:\n%s"
                            % (status, server.output()))

    def test_sign_cli_prints_headers_that_make_a_valid_delivery(self):
        server = start_hookflow(self, workflows=[EXAMPLE_WORKFLOW])
        path = os.path.join(server.dir, "body.json")
        with open(path, "wb") as f:
            f.write(INVOICE)
        code, out, err = server.cli("sign", "--source", "stripe", path)
        self.assertEqual(code, 0, out + err)
        headers = {}
        for line in out.splitlines():
            name, sep, value = line.partition(":")
            if sep and value.strip():
                headers[name.strip()] = value.strip()
        self.assertIn("Stripe-Signature", headers, out)
        self.assertNotIn(STRIPE_SECRET, out + err)
        answer = server.post("/hooks/stripe", INVOICE, headers)
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json()["status"], "accepted")
        self.assertEqual(len(server.events()), 1)


if __name__ == "__main__":
    unittest.main()
