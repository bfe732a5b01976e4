"""`hookflow test` (one workflow offline against a payload and a mock file) and `hookflow
trigger` (sign a payload and post it to a running server), issue 4.

`hookflow test` runs in a fresh working folder with TMPDIR pointing at an empty folder, so
the tests see that no database is left behind and that no default config is picked up.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import (
    EXAMPLE_WORKFLOW,
    HOOKFLOW_BIN,
    STRIPE_SECRET,
    Hookflow,
    fixture_path,
    start_hookflow,
    start_mock,
    to_yaml,
)

INVOICE_FAILED = fixture_path("payloads", "stripe", "invoice.payment_failed.json")
CHARGE_FAILED = fixture_path("payloads", "stripe", "charge.failed.json")
CHARGE_WORKFLOW = fixture_path("workflows", "charge-failed-tag-customer.yaml")


def mock_file(name):
    return fixture_path("mocks", name)


PROMPT = ("Customer Jenny Rosen could not pay an invoice of 1000 (smallest currency unit) in "
          "usd. Write a three-sentence email asking them to update their card.")
DRAFT = "Hi Jenny, your card was declined. Please update it. Thank you!"


class ToolCase(unittest.TestCase):
    def setUp(self):
        self.assertTrue(HOOKFLOW_BIN and os.access(HOOKFLOW_BIN, os.X_OK), HOOKFLOW_BIN)
        self.cwd = tempfile.mkdtemp(prefix="hookflow-tools-")
        self.tmp = os.path.join(self.cwd, "tmp")
        os.makedirs(self.tmp)
        self.addCleanup(shutil.rmtree, self.cwd, True)

    def hookflow(self, *args, timeout=60):
        env = dict(os.environ, TMPDIR=self.tmp)
        done = subprocess.run([HOOKFLOW_BIN, *args], capture_output=True, cwd=self.cwd, env=env,
                              timeout=timeout)
        return (done.returncode, done.stdout.decode("utf-8", "replace"),
                done.stderr.decode("utf-8", "replace"))

    def run_test(self, workflow, event, mock=None, *extra, expect=0):
        args = ["test", workflow, "--event", event, "--json", *extra]
        if mock:
            args += ["--mock", mock]
        code, out, err = self.hookflow(*args)
        self.assertEqual(code, expect, out + err)
        self.assertEqual(os.listdir(self.tmp), [], "hookflow test left files behind")
        return json.loads(out)

    def write(self, name, text):
        path = os.path.join(self.cwd, name)
        with open(path, "w") as f:
            f.write(text)
        return path


def steps_by_id(report):
    return {step["id"]: step for step in report["steps"]}


class HookflowTestCommandTest(ToolCase):
    def test_example_workflow_renders_every_request_exactly(self):
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED,
                               mock_file("payment-failed-recovery.yaml"))
        self.assertEqual(report["workflow"], "payment-failed-recovery")
        self.assertEqual(report["status"], "succeeded")
        self.assertEqual(report["type"], "invoice.payment_failed")
        self.assertEqual(report["source"], "stripe")
        steps = steps_by_id(report)
        self.assertEqual([s["id"] for s in report["steps"]],
                         ["customer", "tier", "draft", "email", "notify"])
        self.assertEqual(steps["customer"]["with"],
                         {"method": "GET", "path": "/v1/customers/cus_QXg1o8vcGmoR32"})
        self.assertEqual(steps["customer"]["output"]["email"], "jenny.rosen@example.com")
        self.assertEqual(steps["tier"]["with"],
                         {"method": "GET", "path": "/contacts/jenny.rosen@example.com"})
        self.assertEqual(steps["draft"]["with"], {
            "system": "You write short, kind payment-recovery emails.", "prompt": PROMPT})
        self.assertEqual(steps["email"]["with"], {
            "to": "jenny.rosen@example.com",
            "from": "billing@example.com",
            "subject": "Your payment did not go through",
            "text": DRAFT,
        })
        self.assertEqual(steps["email"]["output"], {"status": 202, "message_id": "msg_mock_1"})
        self.assertEqual(steps["notify"]["with"], {
            "channel": "#account-managers",
            "text": "Payment failed for jenny.rosen@example.com",
        })
        for step in report["steps"]:
            self.assertEqual((step["status"], step["attempt"], step["error"]),
                             ("succeeded", 1, ""), step["id"])
        self.assertEqual([(c["step"], c["uses"]) for c in report["calls"]], [
            ("customer", "stripe.request"), ("tier", "crm.request"), ("draft", "llm.chat"),
            ("email", "sendgrid.send"), ("notify", "slack.post")])

    def test_json_mock_file_and_a_skipped_step(self):
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED,
                               mock_file("payment-failed-recovery-basic.json"))
        steps = steps_by_id(report)
        self.assertEqual(report["status"], "succeeded")
        self.assertEqual(steps["notify"]["status"], "skipped")
        self.assertIsNone(steps["notify"]["with"])
        self.assertEqual(steps["email"]["with"]["text"], "Please update your card.")
        # sendgrid.send is not in the mock file: the default answer, 200 with {}.
        self.assertEqual(steps["email"]["output"], {})
        self.assertEqual(len(report["calls"]), 4)

    def test_without_a_mock_file_every_call_answers_200_with_an_empty_object(self):
        # The customer lookup answers {}, so the e-mail's required `to` renders null: the
        # step fails before anything is sent and the run is dead.
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED, expect=1)
        steps = steps_by_id(report)
        self.assertEqual(report["status"], "dead")
        self.assertEqual(steps["customer"]["output"], {})
        self.assertEqual(steps["customer"]["with"]["path"], "/v1/customers/cus_QXg1o8vcGmoR32")
        self.assertEqual(steps["tier"]["with"], {"method": "GET", "path": "/contacts/"})
        self.assertEqual(steps["email"]["status"], "failed")
        self.assertIsNone(steps["email"]["with"])
        self.assertIn("with.to is required", steps["email"]["error"])
        self.assertEqual(steps["notify"]["status"], "not_reached")
        self.assertEqual([c["step"] for c in report["calls"]], ["customer", "tier", "draft"])

    def test_stripe_form_body_workflow_and_text_output(self):
        code, out, err = self.hookflow("test", CHARGE_WORKFLOW, "--event", CHARGE_FAILED,
                                       "--mock", mock_file("charge-failed-tag-customer.yaml"))
        self.assertEqual(code, 0, out + err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "workflow charge-failed-tag-customer (%s)" % CHARGE_WORKFLOW)
        self.assertEqual(lines[1], "event charge.failed from stripe")
        self.assertEqual(lines[2], "step tag (stripe.request): succeeded")
        self.assertEqual(json.loads(lines[3].split("with:", 1)[1]), {
            "method": "POST",
            "path": "/v1/customers/cus_QXg1o8vcGmoR32",
            "body": {"metadata": {"last_failed_charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
                                  "failure_code": "card_declined"}},
        })
        self.assertIn("step notify (slack.post): succeeded", lines)
        notify = lines[lines.index("step notify (slack.post): succeeded") + 1]
        self.assertEqual(json.loads(notify.split("with:", 1)[1]), {
            "channel": "#payments",
            "text": "Charge ch_1PgafuB7WZ01zgkWXYmPNZs8 failed (card_declined) for "
                    "jenny.rosen@example.com",
        })
        self.assertEqual(lines[-1], "run succeeded")

    def test_failing_mock_is_retried_without_waiting_for_the_backoff(self):
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED, mock_file("stripe-flaky.yaml"))
        steps = steps_by_id(report)
        self.assertEqual(report["status"], "succeeded")
        self.assertEqual(report["attempts"], 3)
        self.assertEqual(steps["customer"]["attempt"], 3)
        self.assertEqual([(c["step"], c["attempt"], c["status"]) for c in report["calls"]
                          if c["step"] == "customer"],
                         [("customer", 1, 503), ("customer", 2, 503), ("customer", 3, 200)])

    def test_failing_mock_without_retry_ends_dead_with_exit_1(self):
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED, mock_file("crm-not-found.yaml"),
                               expect=1)
        steps = steps_by_id(report)
        self.assertEqual(report["status"], "dead")
        self.assertEqual(report["error"], "mock crm.request: status 404")
        self.assertEqual(steps["tier"]["status"], "failed")
        self.assertEqual(steps["tier"]["error"], "mock crm.request: status 404")
        self.assertEqual(steps["draft"]["status"], "not_reached")
        self.assertEqual(steps["email"]["status"], "not_reached")

    def test_retries_run_out_with_the_configured_max_attempts(self):
        config = self.write("hookflow.yaml", to_yaml({
            "sources": {"stripe": {"provider": "stripe", "secrets": ["whsec_x"]}},
            "engine": {"max_attempts": 2},
            "connectors": {"stripe": {"base_url": "http://127.0.0.1:9"},
                           "crm": {"base_url": "http://127.0.0.1:9"},
                           "llm": {"base_url": "http://127.0.0.1:9"},
                           "sendgrid": {"base_url": "http://127.0.0.1:9"},
                           "slack": {"base_url": "http://127.0.0.1:9"}},
        }) + "\n")
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED, mock_file("stripe-flaky.yaml"),
                               "--config", config, expect=1)
        self.assertEqual(report["status"], "dead")
        self.assertEqual(report["attempts"], 2)
        self.assertEqual(report["error"], "mock stripe.request: status 503")

    def test_event_the_trigger_does_not_match_exits_1(self):
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED, None, "--type",
                               "invoice.paid", expect=1)
        self.assertFalse(report["triggered"])
        self.assertEqual(report["status"], "not_triggered")
        self.assertIn("does not match", report["error"])
        with open(INVOICE_FAILED) as f:
            event = json.load(f)
        event["data"]["object"]["amount_due"] = 0
        zero = self.write("zero.json", json.dumps(event))
        report = self.run_test(EXAMPLE_WORKFLOW, zero, expect=1)
        self.assertEqual(report["error"], "on.if is false: event.data.object.amount_due > 0")

    def test_config_file_connectors_are_never_called(self):
        mock = start_mock(self)
        server = Hookflow(mock=mock)
        self.addCleanup(server.cleanup)
        report = self.run_test(EXAMPLE_WORKFLOW, INVOICE_FAILED,
                               mock_file("payment-failed-recovery.yaml"),
                               "--config", server.config_path)
        self.assertEqual(report["status"], "succeeded")
        self.assertEqual(mock.snapshot(), [])


class HookflowTestBadInputTest(ToolCase):
    def expect_bad_input(self, *args):
        code, out, err = self.hookflow("test", *args)
        self.assertEqual(code, 2, out + err)
        self.assertEqual(out, "")
        self.assertEqual(os.listdir(self.tmp), [])
        return err

    def test_missing_event_file(self):
        missing = os.path.join(self.cwd, "nope.json")
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", missing)
        self.assertEqual(err, "%s: cannot read the event file\n" % missing)

    def test_event_that_is_not_json(self):
        bad = self.write("bad.json", '{\n  "type": "invoice.payment_failed",\n  "id": }\n')
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", bad)
        self.assertEqual(err, "%s:3:9: the event is not valid JSON\n" % bad)

    def test_event_200000_deep_is_refused_before_parsing(self):
        # Regression: parsing this event overflowed the stack and crashed `hookflow test`.
        deep = self.write("deep.json", "[" * 200000 + "]" * 200000)
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", deep)
        self.assertEqual(err, "%s: the event is nested deeper than 256 levels\n" % deep)

    def test_mock_body_300_deep_is_refused(self):
        path = self.write("deep-mock.yaml",
                          "steps:\n  customer:\n    body: %s%s\n" % ("[" * 300, "]" * 300))
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", INVOICE_FAILED, "--mock", path)
        self.assertEqual(err, "%s:3:11: body is nested deeper than 256 levels\n" % path)

    def test_event_without_type(self):
        bad = self.write("untyped.json", '{"id": "evt_1"}')
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", bad)
        self.assertEqual(err, '%s: the event has no "type"; give one with --type\n' % bad)

    def test_malformed_mock_file(self):
        path = mock_file("malformed.yaml")
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", INVOICE_FAILED, "--mock", path)
        self.assertRegex(err, r"^%s:\d+:\d+: " % path)

    def test_mock_file_with_an_unknown_key(self):
        path = mock_file("unknown-key.yaml")
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", INVOICE_FAILED, "--mock", path)
        self.assertEqual(err, "%s:4:5: unknown key 'bdy' in a mock answer "
                              "(status, body, error, retryable)\n" % path)

    def test_mock_file_naming_a_step_the_workflow_lacks(self):
        path = self.write("typo.yaml", "steps:\n  custmer: {status: 200}\n")
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", INVOICE_FAILED, "--mock", path)
        self.assertEqual(err, "%s: steps.custmer: the workflow has no step 'custmer'\n" % path)

    def test_missing_mock_file(self):
        missing = os.path.join(self.cwd, "none.yaml")
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", INVOICE_FAILED, "--mock", missing)
        self.assertEqual(err, "%s: cannot read the mock file\n" % missing)

    def test_broken_workflow_is_reported_as_file_line_col(self):
        broken = self.write("broken.yaml", (
            "name: broken\n"
            "on:\n"
            "  source: stripe\n"
            "  events: [invoice.payment_failed]\n"
            "steps:\n"
            "  - id: first\n"
            "    uses: nosuchconnector.request\n"
            "    with: {method: GET, path: /x}\n"))
        err = self.expect_bad_input(broken, "--event", INVOICE_FAILED)
        self.assertRegex(err, r"^%s:7:\d+: .*nosuchconnector" % broken)

    def test_missing_workflow_file(self):
        missing = os.path.join(self.cwd, "missing.yaml")
        err = self.expect_bad_input(missing, "--event", INVOICE_FAILED)
        self.assertIn("%s: cannot read the workflow file\n" % missing, err)

    def test_missing_config_file_given_explicitly(self):
        missing = os.path.join(self.cwd, "nope.yaml")
        err = self.expect_bad_input(EXAMPLE_WORKFLOW, "--event", INVOICE_FAILED,
                                    "--config", missing)
        self.assertIn(missing, err)


class TriggerTest(unittest.TestCase):
    def setUp(self):
        self.mock = start_mock(self)
        self.server = start_hookflow(self, mock=self.mock, workflows=[EXAMPLE_WORKFLOW])
        self.url = "http://127.0.0.1:%d/hooks/stripe" % self.server.port

    def config_copy(self, **changes):
        """The server's config with `changes` merged in, written beside it."""
        config = json.loads(json.dumps(self.server.config))
        for key, value in changes.items():
            config[key].update(value)
        path = os.path.join(self.server.dir, "trigger-%d.yaml" % len(os.listdir(self.server.dir)))
        with open(path, "w") as f:
            f.write(to_yaml(config) + "\n")
        return path

    def trigger(self, config, *args):
        done = subprocess.run([HOOKFLOW_BIN, "trigger", *args, "--config", config],
                              capture_output=True, cwd=self.server.dir, timeout=30)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def test_signed_delivery_is_accepted_and_starts_a_run(self):
        code, out, err = self.trigger(self.server.config_path, "stripe", INVOICE_FAILED,
                                      "--url", self.url)
        self.assertEqual(code, 0, out + err)
        status, body = out.split("\n", 1)
        self.assertEqual(status, "HTTP 200")
        answer = json.loads(body)
        self.assertEqual((answer["status"], answer["runs"]), ("accepted", 1))
        events = self.server.all_events()
        self.assertEqual([e["delivery_id"] for e in events], ["evt_1Ph0KqB7WZ01zgkWc3VdS8tN"])

        # The same file again is the same delivery: still 2xx, nothing queued.
        code, out, err = self.trigger(self.server.config_path, "stripe", INVOICE_FAILED,
                                      "--url", self.url)
        self.assertEqual(code, 0, out + err)
        self.assertEqual(json.loads(out.split("\n", 1)[1])["status"], "duplicate")

    def test_default_url_comes_from_server_listen(self):
        config = self.config_copy(server={"listen": "127.0.0.1:%d" % self.server.port})
        code, out, err = self.trigger(config, "stripe", CHARGE_FAILED)
        self.assertEqual(code, 0, out + err)
        self.assertEqual(json.loads(out.split("\n", 1)[1])["status"], "accepted")

    def test_wrong_secret_is_refused_with_401_and_exit_1(self):
        config = self.config_copy(sources={"stripe": {
            "provider": "stripe", "secrets": ["whsec_not_the_servers"]}})
        code, out, err = self.trigger(config, "stripe", INVOICE_FAILED, "--url", self.url)
        self.assertEqual(code, 1, out + err)
        status, body = out.split("\n", 1)
        self.assertEqual(status, "HTTP 401")
        self.assertNotIn("whsec_", out + err)
        self.assertNotIn(STRIPE_SECRET, out + err)
        self.assertEqual(self.server.all_events(), [])

    def test_unknown_source_and_unreachable_server(self):
        code, out, err = self.trigger(self.server.config_path, "nosuch", INVOICE_FAILED)
        self.assertEqual(code, 1)
        self.assertEqual(err, "no source named 'nosuch' in %s\n" % self.server.config_path)
        code, out, err = self.trigger(self.server.config_path, "stripe", INVOICE_FAILED,
                                      "--url", "http://127.0.0.1:9/hooks/stripe")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("POST http://127.0.0.1:9/hooks/stripe: "), err)


if __name__ == "__main__":
    unittest.main()
