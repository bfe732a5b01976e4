"""The shipped config/hookflow.yaml and workflows/ are valid, runnable and signable as the
README says; `hookflow validate` reports problems as file:line:col."""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

from harness import (
    HOOKFLOW_BIN,
    REPO_ROOT,
    Hookflow,
    fixture_bytes,
    fixture_path,
    post,
)

DEFAULT_CONFIG = os.path.join(REPO_ROOT, "config", "hookflow.yaml")

# Variables the default config reads; cleared so the test sees what a fresh checkout sees.
CONFIG_VARS = ("STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY", "CRM_BASE_URL", "CRM_TOKEN",
               "OPENAI_API_KEY", "SENDGRID_API_KEY", "SLACK_BOT_TOKEN", "HOOKFLOW_ADMIN_TOKEN",
               "HOOKFLOW_PUBLIC_URL", "LLM_BASE_URL", "LLM_MODEL")


NOWHERE = "http://127.0.0.1:9"  # nothing listens on the discard port


def clean_env():
    env = dict(os.environ)
    for name in CONFIG_VARS:
        env.pop(name, None)
    env["LLM_BASE_URL"] = NOWHERE + "/v1"
    return env


def run_cli(args, cwd):
    done = subprocess.run([HOOKFLOW_BIN, *args], capture_output=True, cwd=cwd,
                          env=clean_env(), timeout=30)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


class ExamplesTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(HOOKFLOW_BIN and os.access(HOOKFLOW_BIN, os.X_OK), HOOKFLOW_BIN)

    def test_default_config_and_example_workflow_validate_from_the_checkout_root(self):
        code, out, err = run_cli(["validate", "--config", DEFAULT_CONFIG], REPO_ROOT)
        self.assertEqual(code, 0, out + err)
        self.assertIn("payment-failed-recovery", out + err)

    def test_test_workflows_validate_against_the_test_config(self):
        server = Hookflow(workflows=[
            os.path.join(REPO_ROOT, "workflows", "payment-failed-recovery.yaml"),
            fixture_path("workflows", "charge-failed-tag-customer.yaml"),
            fixture_path("workflows", "payment-intent-declined-email.yaml"),
        ])
        self.addCleanup(server.cleanup)
        code, out, err = server.cli("validate")
        self.assertEqual(code, 0, out + err)
        for name in ("payment-failed-recovery", "charge-failed-tag-customer",
                     "payment-intent-declined-email"):
            self.assertIn(name, out + err)

    def test_validate_reports_a_broken_workflow_as_file_line_col(self):
        server = Hookflow()
        self.addCleanup(server.cleanup)
        broken = os.path.join(server.workflows_dir, "broken.yaml")
        with open(broken, "w") as f:
            f.write("name: broken\n"
                    "on:\n"
                    "  source: stripe\n"
                    "  events: [invoice.payment_failed]\n"
                    "steps:\n"
                    "  - id: first\n"
                    "    uses: nosuchconnector.request\n"
                    "    with: {method: GET, path: /x}\n")
        code, out, err = server.cli("validate")
        self.assertEqual(code, 1, out + err)
        self.assertRegex(out + err, re.escape("broken.yaml") + r":\d+:\d+: \S")
        # The problem is the step on line 6 or its `uses` on line 7, not elsewhere.
        self.assertRegex(out + err, re.escape("broken.yaml") + r":[67]:\d+: .*nosuchconnector")

    def test_default_config_serves_a_delivery_signed_by_the_sign_command(self):
        # A copy of the checkout's config and workflows in a temp dir, with only the listen
        # address changed, so the database lands in the temp dir's var/.
        root = tempfile.mkdtemp(prefix="hookflow-default-")
        self.addCleanup(shutil.rmtree, root, True)
        shutil.copytree(os.path.join(REPO_ROOT, "workflows"), os.path.join(root, "workflows"))
        os.makedirs(os.path.join(root, "config"))
        with open(DEFAULT_CONFIG) as f:
            text = f.read()
        self.assertIn("listen: 127.0.0.1:8080", text)
        text = text.replace("listen: 127.0.0.1:8080", "listen: 127.0.0.1:0")
        public_urls = ("https://api.stripe.com", "https://api.sendgrid.com",
                       "https://slack.com/api")
        for public in public_urls:
            self.assertIn(public, text)
            text = text.replace(public, NOWHERE)  # tests use loopback only
        with open(os.path.join(root, "config", "hookflow.yaml"), "w") as f:
            f.write(text)
        body_path = os.path.join(root, "invoice.json")
        with open(body_path, "wb") as f:
            f.write(fixture_bytes("payloads", "stripe", "invoice.payment_failed.json"))

        server = DefaultConfigServer(root)
        self.addCleanup(server.stop)
        server.start()
        code, out, err = run_cli(["sign", "--source", "stripe", body_path], root)
        self.assertEqual(code, 0, out + err)
        headers = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        answer = post(server.port, "/hooks/stripe", fixture_bytes("payloads", "stripe",
                                                                  "invoice.payment_failed.json"),
                      headers)
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json()["status"], "accepted", answer)
        self.assertEqual(answer.json()["runs"], 1, answer)
        self.assertTrue(os.path.exists(os.path.join(root, "var", "hookflow.db")))


class DefaultConfigServer(Hookflow):
    """`hookflow serve` with the default config path, run from a copy of the checkout."""

    def __init__(self, root):
        self.dir = root
        self.config_path = os.path.join(root, "config", "hookflow.yaml")
        self.env = clean_env()
        self.proc = None
        self.port = None
        self._lines = []
        self._lines_lock = threading.Lock()
        self._readers = []


if __name__ == "__main__":
    unittest.main()
