"""End to end: a signed Stripe delivery runs a workflow whose steps call the (mock) APIs.

Each test starts its own server and mock API, posts one fixture payload and checks the exact
requests the connectors sent, in order, and what `runs show --json` recorded.
"""

import json
import unittest
import urllib.parse

from harness import (
    EXAMPLE_WORKFLOW,
    KEYS,
    api_fixture,
    fixture_bytes,
    fixture_json,
    fixture_path,
    start_hookflow,
    start_mock,
)

CUSTOMER_ID = "cus_QXg1o8vcGmoR32"  # the customer every Stripe payload fixture points at
CHARGE_WORKFLOW = fixture_path("workflows", "charge-failed-tag-customer.yaml")
INTENT_WORKFLOW = fixture_path("workflows", "payment-intent-declined-email.yaml")
ALL_WORKFLOWS = [EXAMPLE_WORKFLOW, CHARGE_WORKFLOW, INTENT_WORKFLOW]

CUSTOMER = api_fixture("stripe", "customer_retrieve_200")["response"]["body"]
LLM_ANSWER = api_fixture("openai", "chat_completions_200")["response"]["body"]
LLM_TEXT = LLM_ANSWER["choices"][0]["message"]["content"]
SENDGRID_202 = api_fixture("sendgrid", "mail_send_plain_html_202")["response"]
SLACK_OK = api_fixture("slack", "chat_postMessage_200")["response"]["body"]
INVOICE_PATHS = [
    "/stripe/v1/customers/" + CUSTOMER_ID,
    "/crm/contacts/" + CUSTOMER["email"],
    "/llm/v1/chat/completions",
    "/sendgrid/v3/mail/send",
    "/slack/api/chat.postMessage",
]


def stripe_payload(name):
    return fixture_bytes("payloads", "stripe", name + ".json")


def path_of(req):
    """The request path, percent-decoded, without the query string."""
    return urllib.parse.unquote(req["path"].split("?", 1)[0])


class PaymentFlowTest(unittest.TestCase):
    def setUp(self):
        self.mock = start_mock(self)
        self.mock.route("GET", "/stripe/v1/customers/" + CUSTOMER_ID, 200,
                        {"Content-Type": "application/json", "Request-Id": "req_it_1"}, CUSTOMER)
        self.mock.route("POST", "/llm/v1/chat/completions", 200,
                        {"Content-Type": "application/json"}, LLM_ANSWER)
        self.mock.route("POST", "/sendgrid/v3/mail/send", SENDGRID_202["status"],
                        SENDGRID_202["headers"], None)
        self.mock.route("POST", "/slack/api/chat.postMessage", 200,
                        {"Content-Type": "application/json; charset=utf-8"}, SLACK_OK)

    # -- helpers ------------------------------------------------------------------------------

    def route_crm_tier(self, tier):
        self.mock.route("GET", "/crm/contacts/" + CUSTOMER["email"], 200,
                        {"Content-Type": "application/json"},
                        {"email": CUSTOMER["email"], "tier": tier})

    def deliver_and_finish(self, server, payload_name):
        """Posts a signed fixture; expects accepted with one run that then succeeds."""
        body = stripe_payload(payload_name)
        answer = server.deliver(body)
        self.assertEqual(answer.status, 200, answer)
        doc = answer.json()
        self.assertEqual(doc["status"], "accepted", doc)
        self.assertEqual(doc["runs"], 1, doc)
        self.assertTrue(doc["event_id"], doc)
        runs = server.wait_run_finished(1)
        self.assertEqual(len(runs), 1, runs)
        run = runs[0]
        self.assertEqual(run["event_id"], doc["event_id"], run)
        self.assertEqual(run["status"], "succeeded",
                         "run did not succeed: %s\nserver output:\n%s"
                         % (json.dumps(run), server.output()[-4000:]))
        return run, server.run(run["id"])

    def assert_auth(self, req, connector):
        self.assertEqual(req["headers"].get("authorization"), "Bearer " + KEYS[connector],
                         "%s %s" % (req["method"], req["path"]))

    def assert_stripe_headers(self, req):
        self.assert_auth(req, "stripe")
        self.assertTrue(req["headers"].get("stripe-version"),
                        "Stripe-Version missing on %s %s" % (req["method"], req["path"]))

    def assert_steps(self, shown, expected):
        """`expected` is [(step_id, status)] in workflow order."""
        steps = sorted(shown["steps"], key=lambda s: s["position"])
        self.assertEqual([(s["step_id"], s["status"]) for s in steps], expected,
                         json.dumps(shown, indent=1)[:4000])
        for step in steps:
            self.assertIsInstance(step.get("output"), (dict, type(None)),
                                  "step output is not a JSON object: %r" % step)
        return {s["step_id"]: s for s in steps}

    def assert_no_keys_in(self, shown):
        text = json.dumps(shown)
        for connector, key in KEYS.items():
            self.assertNotIn(key, text, "runs show leaks the %s credential" % connector)

    def assert_invoice_requests(self, reqs, expect_slack):
        """The example workflow's calls: stripe, crm, llm, sendgrid, then (maybe) slack."""
        expected_paths = [
            ("GET", "/stripe/v1/customers/" + CUSTOMER_ID),
            ("GET", "/crm/contacts/" + CUSTOMER["email"]),
            ("POST", "/llm/v1/chat/completions"),
            ("POST", "/sendgrid/v3/mail/send"),
        ]
        if expect_slack:
            expected_paths.append(("POST", "/slack/api/chat.postMessage"))
        self.assertEqual([(r["method"], path_of(r)) for r in reqs], expected_paths)
        stripe, crm, llm, sendgrid = reqs[:4]
        self.assert_stripe_headers(stripe)
        self.assert_auth(crm, "crm")
        self.assert_auth(llm, "llm")
        self.assert_auth(sendgrid, "sendgrid")
        self.assert_llm_request(json.loads(llm["body"]))
        self.assert_email(json.loads(sendgrid["body"]), CUSTOMER["email"], LLM_TEXT,
                          "Your payment did not go through")
        if expect_slack:
            slack = reqs[4]
            self.assert_auth(slack, "slack")
            message = json.loads(slack["body"])
            self.assertEqual(message["channel"], "#account-managers")
            self.assertEqual(message["text"], "Payment failed for " + CUSTOMER["email"])

    def assert_llm_request(self, chat):
        self.assertEqual(chat["model"], "gpt-4o-mini")
        roles = [m["role"] for m in chat["messages"]]
        self.assertEqual(roles, ["system", "user"], chat)
        self.assertEqual(chat["messages"][0]["content"],
                         "You write short, kind payment-recovery emails.")
        prompt = chat["messages"][1]["content"]
        invoice = fixture_json("payloads", "stripe", "invoice.payment_failed.json")
        invoice = invoice["data"]["object"]
        self.assertIn(CUSTOMER["name"], prompt)
        self.assertIn(str(invoice["amount_due"]), prompt)
        self.assertIn(invoice["currency"], prompt)
        self.assertNotIn("${{", prompt)

    def assert_email(self, mail, to, text, subject):
        self.assertEqual(mail["personalizations"][0]["to"][0]["email"], to, mail)
        self.assertEqual(len(mail["personalizations"]), 1, mail)
        self.assertEqual(mail["from"]["email"], "billing@example.com", mail)
        self.assertEqual(mail["subject"], subject, mail)
        self.assertEqual(mail["content"][0], {"type": "text/plain", "value": text}, mail)

    # -- tests --------------------------------------------------------------------------------

    def test_invoice_payment_failed_enterprise_customer_runs_five_steps_and_posts_to_slack(self):
        self.route_crm_tier("enterprise")
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        run, shown = self.deliver_and_finish(server, "invoice.payment_failed")
        self.assertEqual(shown["workflow"], "payment-failed-recovery")
        reqs = self.mock.snapshot()
        self.assert_invoice_requests(reqs, expect_slack=True)
        steps = self.assert_steps(shown, [("customer", "succeeded"), ("tier", "succeeded"),
                                          ("draft", "succeeded"), ("email", "succeeded"),
                                          ("notify", "succeeded")])
        self.assertEqual(steps["customer"]["output"]["email"], CUSTOMER["email"])
        self.assertEqual(steps["tier"]["output"]["tier"], "enterprise")
        self.assertEqual(steps["draft"]["output"]["text"], LLM_TEXT)
        self.assertEqual(steps["email"]["output"]["message_id"],
                         SENDGRID_202["headers"]["X-Message-Id"])
        self.assertEqual(steps["notify"]["output"]["ts"], SLACK_OK["ts"])
        self.assert_no_keys_in(shown)

    def test_invoice_payment_failed_basic_customer_skips_slack(self):
        self.route_crm_tier("basic")
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        run, shown = self.deliver_and_finish(server, "invoice.payment_failed")
        reqs = self.mock.snapshot()
        self.assert_invoice_requests(reqs, expect_slack=False)
        self.assert_steps(shown, [("customer", "succeeded"), ("tier", "succeeded"),
                                  ("draft", "succeeded"), ("email", "succeeded"),
                                  ("notify", "skipped")])
        self.assert_no_keys_in(shown)

    def test_slack_ok_false_fails_the_step_and_the_run_ends_dead_not_succeeded(self):
        self.route_crm_tier("enterprise")
        not_found = api_fixture("slack", "chat_postMessage_channel_not_found")["response"]
        self.assertEqual(not_found["status"], 200)
        self.mock.route("POST", "/slack/api/chat.postMessage", not_found["status"],
                        not_found["headers"], not_found["body"])
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS,
                                config={"engine": {"max_attempts": 2}})
        answer = server.deliver(stripe_payload("invoice.payment_failed"))
        self.assertEqual(answer.json()["runs"], 1, answer)
        runs = server.wait_runs(lambda rs: rs and rs[0]["status"] == "dead", what="a dead run")
        self.assertIn("channel_not_found", runs[0]["last_error"])
        paths = [path_of(r) for r in self.mock.snapshot()]
        # The four steps that succeeded ran once, whether or not the Slack step was retried.
        self.assertEqual(paths[:4], INVOICE_PATHS[:4])
        self.assertIn(paths[4:], [INVOICE_PATHS[4:], INVOICE_PATHS[4:] * 2])
        shown = server.run(runs[0]["id"])
        steps = self.assert_steps(shown, [("customer", "succeeded"), ("tier", "succeeded"),
                                          ("draft", "succeeded"), ("email", "succeeded"),
                                          ("notify", "failed")])
        self.assertIn("channel_not_found", steps["notify"]["error"])

    def test_slack_unavailable_once_is_retried_without_repeating_succeeded_steps(self):
        self.route_crm_tier("enterprise")
        self.mock.route("POST", "/slack/api/chat.postMessage", [
            (503, {"Content-Type": "text/plain"}, "upstream unavailable"),
            (200, {"Content-Type": "application/json"}, SLACK_OK),
        ])
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        run, shown = self.deliver_and_finish(server, "invoice.payment_failed")
        self.assertEqual([path_of(r) for r in self.mock.snapshot()],
                         INVOICE_PATHS + INVOICE_PATHS[4:])
        steps = self.assert_steps(shown, [("customer", "succeeded"), ("tier", "succeeded"),
                                          ("draft", "succeeded"), ("email", "succeeded"),
                                          ("notify", "succeeded")])
        self.assertEqual(steps["notify"]["output"]["ts"], SLACK_OK["ts"])

    def test_invoice_with_zero_amount_due_queues_no_run(self):
        self.route_crm_tier("enterprise")
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        text = stripe_payload("invoice.payment_failed").decode("utf-8")
        self.assertIn('"amount_due": 1000', text)
        body = text.replace('"amount_due": 1000', '"amount_due": 0', 1).encode("utf-8")
        answer = server.deliver(body)
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json()["status"], "accepted", answer)
        self.assertEqual(answer.json()["runs"], 0, answer)
        self.assertEqual(server.runs(), [])
        self.assertEqual(len(server.events()), 1)

    def test_charge_failed_tags_customer_with_form_post_and_posts_to_slack(self):
        update = api_fixture("stripe", "customer_update_200")["response"]
        self.mock.route("POST", "/stripe/v1/customers/" + CUSTOMER_ID, update["status"],
                        update["headers"], update["body"])
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        run, shown = self.deliver_and_finish(server, "charge.failed")
        self.assertEqual(shown["workflow"], "charge-failed-tag-customer")
        charge = fixture_json("payloads", "stripe", "charge.failed.json")["data"]["object"]
        reqs = self.mock.snapshot()
        self.assertEqual([(r["method"], path_of(r)) for r in reqs],
                         [("POST", "/stripe/v1/customers/" + CUSTOMER_ID),
                          ("POST", "/slack/api/chat.postMessage")])
        tag, slack = reqs
        self.assert_stripe_headers(tag)
        self.assertTrue(tag["headers"].get("idempotency-key"), "POST without Idempotency-Key")
        self.assertTrue(tag["headers"].get("content-type", "").startswith(
            "application/x-www-form-urlencoded"), tag["headers"])
        form = urllib.parse.parse_qs(tag["body"].decode("utf-8"), strict_parsing=True)
        self.assertEqual(form, {"metadata[last_failed_charge]": [charge["id"]],
                                "metadata[failure_code]": [charge["failure_code"]]})
        self.assert_auth(slack, "slack")
        message = json.loads(slack["body"])
        self.assertEqual(message["channel"], "#payments")
        self.assertEqual(message["text"], "Charge %s failed (%s) for %s"
                         % (charge["id"], charge["failure_code"], update["body"]["email"]))
        self.assert_steps(shown, [("tag", "succeeded"), ("notify", "succeeded")])
        self.assert_no_keys_in(shown)

    def test_payment_intent_failed_emails_the_decline_message(self):
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        run, shown = self.deliver_and_finish(server, "payment_intent.payment_failed")
        self.assertEqual(shown["workflow"], "payment-intent-declined-email")
        intent = fixture_json("payloads", "stripe", "payment_intent.payment_failed.json")
        message = intent["data"]["object"]["last_payment_error"]["message"]
        reqs = self.mock.snapshot()
        self.assertEqual([(r["method"], path_of(r)) for r in reqs],
                         [("GET", "/stripe/v1/customers/" + CUSTOMER_ID),
                          ("POST", "/sendgrid/v3/mail/send")])
        self.assert_stripe_headers(reqs[0])
        self.assert_auth(reqs[1], "sendgrid")
        self.assert_email(json.loads(reqs[1]["body"]), CUSTOMER["email"],
                          "Hi %s, %s" % (CUSTOMER["name"], message), "Your card was declined")
        self.assert_steps(shown, [("customer", "succeeded"), ("email", "succeeded")])
        self.assert_no_keys_in(shown)


if __name__ == "__main__":
    unittest.main()
