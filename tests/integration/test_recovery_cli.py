"""The operator's recovery commands and the CLI's refusals: `dead list`, `dead retry`,
`replay`, read commands on a missing database, and config problems `validate` reports."""

import os
import unittest

from harness import Hookflow, api_fixture, path_of, start_hookflow, start_mock
from test_payment_flow import (
    ALL_WORKFLOWS,
    CUSTOMER,
    CUSTOMER_ID,
    INVOICE_PATHS,
    LLM_ANSWER,
    SENDGRID_202,
    SLACK_OK,
    stripe_payload,
)

CHANNEL_NOT_FOUND = api_fixture("slack", "chat_postMessage_channel_not_found")["response"]


class RecoveryTest(unittest.TestCase):
    def setUp(self):
        self.mock = start_mock(self)
        self.mock.route("GET", "/stripe/v1/customers/" + CUSTOMER_ID, 200,
                        {"Content-Type": "application/json"}, CUSTOMER)
        self.mock.route("GET", "/crm/contacts/" + CUSTOMER["email"], 200,
                        {"Content-Type": "application/json"},
                        {"email": CUSTOMER["email"], "tier": "enterprise"})
        self.mock.route("POST", "/llm/v1/chat/completions", 200,
                        {"Content-Type": "application/json"}, LLM_ANSWER)
        self.mock.route("POST", "/sendgrid/v3/mail/send", SENDGRID_202["status"],
                        SENDGRID_202["headers"], None)

    def dead_run(self, server):
        answer = server.deliver(stripe_payload("invoice.payment_failed"))
        self.assertEqual(answer.json()["runs"], 1, answer)
        runs = server.wait_runs(lambda rs: rs and rs[0]["status"] == "dead", what="a dead run")
        return runs[0]

    def test_dead_retry_resumes_at_the_failed_step_after_the_cause_is_fixed(self):
        self.mock.route("POST", "/slack/api/chat.postMessage", [
            (200, CHANNEL_NOT_FOUND["headers"], CHANNEL_NOT_FOUND["body"]),
            (200, {"Content-Type": "application/json"}, SLACK_OK),
        ])
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        run = self.dead_run(server)

        dead = server.cli_json("dead", "list")
        self.assertEqual([(r["id"], r["status"]) for r in dead], [(run["id"], "dead")])
        self.assertIn("slack: channel_not_found", dead[0]["last_error"])

        code, out, err = server.cli("dead", "retry", run["id"])
        self.assertEqual(code, 0, out + err)
        runs = server.wait_run_finished()
        self.assertEqual([(r["id"], r["status"]) for r in runs], [(run["id"], "succeeded")])
        # The four steps that had succeeded were not called again: only Slack, twice.
        self.assertEqual([path_of(r) for r in self.mock.snapshot()],
                         INVOICE_PATHS + INVOICE_PATHS[4:])
        self.assertEqual(server.cli_json("dead", "list"), [])

    def test_dead_retry_of_a_run_that_is_not_dead_exits_1(self):
        self.mock.route("POST", "/slack/api/chat.postMessage", 200,
                        {"Content-Type": "application/json"}, SLACK_OK)
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        server.deliver(stripe_payload("invoice.payment_failed"))
        run = server.wait_run_finished()[0]
        code, out, err = server.cli("dead", "retry", run["id"])
        self.assertEqual(code, 1, out + err)
        self.assertIn(f"run {run['id']} is succeeded; only dead or failed runs can be retried",
                      err)
        code, out, err = server.cli("dead", "retry", "run_does_not_exist")
        self.assertEqual(code, 1, out + err)
        self.assertIn("no run run_does_not_exist", err)

    def test_replay_runs_every_step_again_for_a_stored_event(self):
        self.mock.route("POST", "/slack/api/chat.postMessage", 200,
                        {"Content-Type": "application/json"}, SLACK_OK)
        server = start_hookflow(self, mock=self.mock, workflows=ALL_WORKFLOWS)
        event_id = server.deliver(stripe_payload("invoice.payment_failed")).json()["event_id"]
        server.wait_run_finished()

        code, out, err = server.cli("replay", event_id)
        self.assertEqual(code, 0, out + err)
        self.assertIn("queued for event " + event_id, out)
        runs = server.wait_run_finished(count=2)
        self.assertEqual(sorted(r["status"] for r in runs), ["succeeded", "succeeded"])
        self.assertEqual({r["event_id"] for r in runs}, {event_id})
        self.assertEqual([path_of(r) for r in self.mock.snapshot()], INVOICE_PATHS * 2)

        code, out, err = server.cli("replay", "ev_does_not_exist")
        self.assertEqual(code, 1, out + err)
        self.assertIn("no event ev_does_not_exist", err)

    def test_unset_base_url_fails_the_step_naming_the_variable(self):
        server = start_hookflow(
            self, mock=self.mock, workflows=ALL_WORKFLOWS,
            config={"connectors": {"crm": {"base_url": "${HOOKFLOW_IT_UNSET_CRM_URL}"}}},
            env={"HOOKFLOW_IT_UNSET_CRM_URL": None})
        run = self.dead_run(server)
        self.assertEqual(run["last_error"], "connector crm: HOOKFLOW_IT_UNSET_CRM_URL is not set")
        self.assertEqual(self.mock.matching("/crm"), [])


class CliRefusalTest(unittest.TestCase):
    def test_read_commands_refuse_a_missing_database_and_create_nothing(self):
        server = Hookflow()  # never started: no database yet
        self.addCleanup(server.cleanup)
        for args in (["events", "list"], ["runs", "list"], ["dead", "list"],
                     ["replay", "ev_x"], ["dead", "retry", "run_x"]):
            code, out, err = server.cli(*args)
            self.assertEqual(code, 1, (args, out, err))
            self.assertIn("no database at", err)
        self.assertFalse(os.path.exists(server.config["storage"]["sqlite"]))

    def test_validate_reports_an_unknown_provider(self):
        server = Hookflow(config={"sources": {"paddle": {"provider": "paddle",
                                                         "secrets": ["x"]}}})
        self.addCleanup(server.cleanup)
        code, out, err = server.cli("validate")
        self.assertEqual(code, 1, out + err)
        self.assertIn("source paddle: unknown provider paddle", err)

    def test_validate_reports_an_empty_database_path_with_its_position(self):
        server = Hookflow(config={"storage": {"sqlite": ""}})
        self.addCleanup(server.cleanup)
        code, out, err = server.cli("validate")
        self.assertEqual(code, 1, out + err)
        self.assertRegex(err, r"hookflow\.yaml:\d+:\d+: storage\.sqlite: must name a database file")

    def test_trigger_with_port_0_in_config_asks_for_url(self):
        server = Hookflow()  # the default test config listens on 127.0.0.1:0
        self.addCleanup(server.cleanup)
        payload = os.path.join(server.dir, "event.json")
        with open(payload, "wb") as f:
            f.write(stripe_payload("invoice.payment_failed"))
        code, out, err = server.cli("trigger", "stripe", payload)
        self.assertEqual(code, 1, out + err)
        self.assertIn("server.listen has port 0; pass --url with the server's address", err)

    def test_events_list_with_since_yesterday_names_every_accepted_form(self):
        server = start_hookflow(self)
        code, out, err = server.cli("events", "list", "--since", "yesterday")
        self.assertEqual(code, 1, out + err)
        self.assertIn("bad time 'yesterday': expected RFC 3339 (2026-12-04T18:00:00Z), a date "
                      "(2026-12-04) or unix seconds", err)
        code, out, err = server.cli("events", "list", "--since", "2026-12-04")
        self.assertEqual(code, 0, out + err)


if __name__ == "__main__":
    unittest.main()
