"""The workflow language through the running server: for_each, continue_on_error, env,
outputs, secrets redaction and required `with` fields that render empty.

Each test writes its own workflow, starts a server and a mock API, delivers one signed Stripe
event and checks the requests the mock saw and what `runs show --json` recorded.
"""

import glob
import json
import os
import tempfile
import unittest

from harness import start_hookflow, start_mock

SECRET_VALUE = "sekret-Value_7f3a9c21"
SLACK_OK = {"ok": True, "channel": "C1", "ts": "1700000000.000100"}


def invoice_event(event_id, obj):
    return json.dumps({
        "id": event_id,
        "object": "event",
        "type": "invoice.payment_failed",
        "data": {"object": obj},
    }).encode()


class LanguageTest(unittest.TestCase):
    def setUp(self):
        self.mock = start_mock(self)
        self.mock.route("POST", "/slack/api/chat.postMessage", 200,
                        {"Content-Type": "application/json"}, SLACK_OK)
        self.tmp = tempfile.mkdtemp(prefix="hookflow-lang-")

    def workflow(self, text):
        path = os.path.join(self.tmp, "workflow.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_one(self, workflow_text, obj, config=None, env=None, event_id="evt_lang_1"):
        server = start_hookflow(self, mock=self.mock, workflows=[self.workflow(workflow_text)],
                                config=config, env=env)
        answer = server.deliver(invoice_event(event_id, obj))
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json()["runs"], 1, answer.json())
        runs = server.wait_run_finished(1)
        return server, runs[0], server.run(runs[0]["id"])

    def steps_of(self, shown):
        return {s["step_id"]: s for s in shown["steps"]}

    def test_for_each_calls_once_per_item_with_its_own_idempotency_key(self):
        self.mock.route("POST", "/stripe/v1/customers/cus_1", 200,
                        {"Content-Type": "application/json"}, {"id": "cus_1", "object": "customer"})
        server, run, shown = self.run_one("""
name: per-item
on:
  source: stripe
  events: [invoice.*]
steps:
  - id: tag
    uses: stripe.request
    for_each: ${{ event.data.object.tags }}
    with:
      method: POST
      path: /v1/customers/cus_1
      body:
        metadata:
          tag: ${{ item }}
          position: ${{ index }}
  - id: notify
    uses: slack.post
    with:
      channel: "#ops"
      text: tagged ${{ length(steps.tag.output) }} times
""", {"tags": ["gold", "late", "eu"]})
        self.assertEqual(run["status"], "succeeded", server.output()[-3000:])
        posts = self.mock.matching("/stripe/v1/customers/cus_1", "POST")
        self.assertEqual([p["body"] for p in posts], [
            b"metadata[position]=0&metadata[tag]=gold",
            b"metadata[position]=1&metadata[tag]=late",
            b"metadata[position]=2&metadata[tag]=eu",
        ])
        keys = [p["headers"].get("idempotency-key") for p in posts]
        self.assertEqual(len(set(keys)), 3, keys)
        self.assertTrue(all(keys), keys)
        steps = self.steps_of(shown)
        self.assertEqual(sorted(steps), ["notify", "tag", "tag[0]", "tag[1]", "tag[2]"])
        self.assertEqual(steps["tag"]["status"], "succeeded")
        self.assertEqual(len(steps["tag"]["output"]), 3)
        slack = self.mock.matching("/slack/api/chat.postMessage")
        self.assertEqual(json.loads(slack[0]["body"])["text"], "tagged 3 times")

    def test_for_each_over_too_many_items_fails_the_step(self):
        server, run, shown = self.run_one("""
name: too-many
on:
  source: stripe
steps:
  - id: each
    uses: slack.post
    for_each: ${{ split(event.data.object.csv, ',') }}
    with:
      channel: "#ops"
      text: ${{ item }}
""", {"csv": ",".join(str(i) for i in range(101))})
        self.assertEqual(run["status"], "dead")
        self.assertEqual(self.steps_of(shown)["each"]["error"],
                         "step 'each': for_each list has 101 items, more than 100")
        self.assertEqual(self.mock.matching("/slack"), [])

    def test_continue_on_error_records_the_failure_and_goes_on(self):
        self.mock.route("GET", "/crm/contacts/nobody", 404,
                        {"Content-Type": "application/json"}, {"error": "not found"})
        server, run, shown = self.run_one("""
name: keep-going
on:
  source: stripe
steps:
  - id: lookup
    uses: crm.request
    continue_on_error: true
    with:
      path: /contacts/nobody
  - id: notify
    uses: slack.post
    with:
      channel: "#ops"
      text: "lookup ${{ steps.lookup.status }}: ${{ steps.lookup.error != null }}"
""", {"customer": "cus_1"})
        self.assertEqual(run["status"], "succeeded", server.output()[-3000:])
        steps = self.steps_of(shown)
        self.assertEqual(steps["lookup"]["status"], "failed")
        self.assertTrue(steps["lookup"]["error"])
        self.assertEqual(steps["notify"]["status"], "succeeded")
        slack = self.mock.matching("/slack/api/chat.postMessage")
        self.assertEqual(json.loads(slack[0]["body"])["text"], "lookup failed: true")

    def test_env_and_outputs(self):
        server, run, shown = self.run_one("""
name: env-outputs
description: Tells ops how much a customer owes.
on:
  source: stripe
env:
  AMOUNT: ${{ event.data.object.amount_due / 100 }}
  WHO: ${{ upper(event.data.object.customer_name) }}
steps:
  - id: notify
    uses: slack.post
    with:
      channel: "#ops"
      text: ${{ format('{0} owes {1}', env.WHO, env.AMOUNT) }}
outputs:
  amount: ${{ env.AMOUNT }}
  message_ts: ${{ steps.notify.output.ts }}
  summary: ${{ env.WHO }} notified
""", {"amount_due": 1250, "customer_name": "jenny"})
        self.assertEqual(run["status"], "succeeded", server.output()[-3000:])
        slack = self.mock.matching("/slack/api/chat.postMessage")
        self.assertEqual(json.loads(slack[0]["body"])["text"], "JENNY owes 12.5")
        outputs = self.steps_of(shown)["outputs"]
        self.assertEqual(outputs["status"], "succeeded")
        self.assertEqual(outputs["output"], {
            "amount": 12.5, "message_ts": "1700000000.000100", "summary": "JENNY notified"})

    def test_secret_values_never_reach_the_store_or_the_log(self):
        self.mock.route("POST", "/echo", 200, {"Content-Type": "application/json"},
                        {"echo": "you sent " + SECRET_VALUE})
        self.mock.route("POST", "/fail", 400, {"Content-Type": "application/json"},
                        {"error": "bad token " + SECRET_VALUE})
        server, run, shown = self.run_one("""
name: secret-use
on:
  source: stripe
steps:
  - id: echo
    uses: http.request
    with:
      method: POST
      url: %s/echo?t=${{ secrets.API_TOKEN }}
      headers:
        X-Api-Token: ${{ secrets.API_TOKEN }}
      json:
        note: token is ${{ secrets.API_TOKEN }}
  - id: fail
    uses: http.request
    with:
      method: POST
      url: %s/fail
      json:
        token: ${{ secrets.API_TOKEN }}
""" % (self.mock.base, self.mock.base), {"customer": "cus_1"},
            config={"secrets": {"API_TOKEN": "${LANG_TEST_API_TOKEN}"}},
            env={"LANG_TEST_API_TOKEN": SECRET_VALUE})
        self.assertEqual(run["status"], "dead", server.output()[-3000:])
        echo = self.mock.matching("/echo")[0]
        self.assertEqual(echo["headers"].get("x-api-token"), SECRET_VALUE)
        self.assertEqual(json.loads(echo["body"]), {"note": "token is " + SECRET_VALUE})
        steps = self.steps_of(shown)
        self.assertIn("***", json.dumps(steps["echo"]["request"]))
        self.assertEqual(steps["echo"]["output"]["body"], {"echo": "you sent ***"})
        self.assertNotIn(SECRET_VALUE, json.dumps(shown))
        server.stop()
        for path in glob.glob(os.path.join(server.dir, "hookflow.db*")):
            with open(path, "rb") as f:
                self.assertNotIn(SECRET_VALUE.encode(), f.read(), path)
        self.assertNotIn(SECRET_VALUE, server.output())

    def test_required_field_rendering_null_fails_before_sending(self):
        server, run, shown = self.run_one("""
name: hole
on:
  source: stripe
steps:
  - id: email
    uses: sendgrid.send
    with:
      to: ${{ event.data.object.customer_email }}
      from: billing@example.com
      subject: Payment failed
      text: hello
  - id: empty
    uses: stripe.request
    with:
      path: "${{ event.data.object.blank }}"
""", {"customer": "cus_1"})
        self.assertEqual(run["status"], "dead")
        self.assertEqual(self.mock.matching("/sendgrid"), [])
        step = self.steps_of(shown)["email"]
        self.assertEqual(step["status"], "failed")
        self.assertEqual(step["error"],
                         "step 'email': with.to is required but "
                         "'${{ event.data.object.customer_email }}' rendered null; nothing was sent")
        self.assertNotIn("empty", self.steps_of(shown))

    def test_wrong_argument_type_names_step_field_and_expression(self):
        server, run, shown = self.run_one("""
name: bad-type
on:
  source: stripe
steps:
  - id: notify
    uses: slack.post
    with:
      channel: "#ops"
      text: ${{ lower(event.data.object.amount_due) }}
""", {"amount_due": 5})
        self.assertEqual(run["status"], "dead")
        self.assertEqual(self.steps_of(shown)["notify"]["error"],
                         "step 'notify': with.text: expression "
                         "'lower(event.data.object.amount_due)': lower() needs a string, "
                         "got number at column 1")

    def test_validate_prints_one_summary_line(self):
        server = start_hookflow(self, mock=self.mock, workflows=[self.workflow("""
name: summary-check
on:
  source: stripe
  events: [invoice.payment_failed, invoice.paid]
steps:
  - id: one
    uses: slack.post
    with:
      channel: "#ops"
      text: hi
  - id: two
    uses: http.request
    with:
      url: http://127.0.0.1:9/x
""")])
        code, out, err = server.cli("validate")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.strip(), "summary-check: on stripe [invoice.payment_failed, "
                         "invoice.paid], 2 steps (slack.post, http.request)")


if __name__ == "__main__":
    unittest.main()
