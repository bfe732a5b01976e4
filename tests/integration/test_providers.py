"""Every provider's scheme against a running server: GitHub, Slack, Shopify, Standard Webhooks
(webhook-* and svix-*), SendGrid batches, Twilio behind a path-rewriting proxy, the generic
`hmac` provider and `provider: none`.

Each delivery is signed with the test suite's own implementation of the provider's scheme in
harness.py (hmac/hashlib/base64; SendGrid's ECDSA through the `openssl` CLI with a key pair made
in the test's temp dir), never with hookflow's `sign`. Python 3 standard library only.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import harness
from harness import (
    Delay,
    SendgridKey,
    fixture_bytes,
    fixture_json,
    github_signature,
    hmac_bytes,
    shopify_signature,
    standard_signature,
    start_hookflow,
    start_mock,
    twilio_signature,
)

GITHUB_SECRET = "github-it-secret-NOT-REAL"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SHOPIFY_SECRET = "shopify-it-client-secret-NOT-REAL"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-it-key-32bytes").decode()
TWILIO_TOKEN = "twilio-it-auth-token-NOT-REAL"
ACME_SECRET = "acme-it-secret-NOT-REAL"

PUSH = fixture_bytes("payloads", "github", "push.json")
PUSH_HEADERS = fixture_json("payloads", "github", "push.headers.json")
PR = fixture_bytes("payloads", "github", "pull_request.opened.json")
PR_HEADERS = fixture_json("payloads", "github", "pull_request.opened.headers.json")
SLACK_CHALLENGE = fixture_bytes("payloads", "slack", "url_verification.json")
SLACK_MENTION = fixture_bytes("payloads", "slack", "event_callback.app_mention.json")
SLACK_MESSAGE = fixture_bytes("payloads", "slack", "event_callback.message.json")
SENDGRID_BATCH = fixture_bytes("payloads", "sendgrid", "event_batch.json")

NON_OBJECT_BODIES = [b"1", b"[]", b'"x"', b"null", b"not a json"]


# ---------------------------------------------------------------------------------------------
# The providers' schemes (harness.py implements them from their documentation)


def github_headers(fixture_headers, body, secret=GITHUB_SECRET):
    headers = dict(fixture_headers)
    headers["X-Hub-Signature-256"] = github_signature(secret, body)
    return headers


def slack_headers(body, secret=SLACK_SECRET, t=None, content_type="application/json"):
    return harness.slack_headers(body, secret, t, content_type)


def standard_headers(msg_id, body, secret=STANDARD_SECRET, t=None, prefix="webhook"):
    return harness.standard_headers(msg_id, body, secret, t, prefix)


def body_hash(body):
    return hashlib.sha256(body).hexdigest()


# ---------------------------------------------------------------------------------------------


class ProvidersTest(unittest.TestCase):
    def temp_dir(self):
        path = tempfile.mkdtemp(prefix="hookflow-providers-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def workflow(self, text, name="wf.yaml"):
        path = os.path.join(self.temp_dir(), name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def server(self, sources, workflows=(), mock=None, extra=None):
        config = {"sources": sources}
        if mock is not None:
            config["connectors"] = {"api": {"type": "http", "base_url": mock.base + "/api"}}
        if extra:
            config.update(extra)
        return start_hookflow(self, mock=mock, config=config, workflows=list(workflows))

    def assert_accepted(self, answer, runs=0):
        self.assertEqual(answer.status, 200, answer)
        doc = answer.json()
        self.assertEqual(sorted(doc), ["event_id", "runs", "status"], answer)
        self.assertEqual(doc["status"], "accepted", answer)
        self.assertEqual(doc["runs"], runs, answer)
        return doc["event_id"]

    def assert_rejected(self, answer, status, reason=None):
        self.assertEqual(answer.status, status, answer)
        doc = answer.json()
        self.assertEqual(list(doc), ["error"], answer)
        if reason is not None:
            self.assertEqual(doc["error"], reason, answer)

    def ids_and_types(self, server, source=None):
        return sorted((e["delivery_id"], e["type"]) for e in server.events()
                      if source is None or e["source"] == source)

    # -- GitHub ---------------------------------------------------------------------------

    def test_github_push_and_pull_request_opened_fixtures(self):
        mock = start_mock(self)
        mock.route("POST", "/api/pr/2", 200, {}, {"ok": True})
        pr_workflow = self.workflow(
            "name: pr-opened\n"
            "on:\n"
            "  source: github-pr\n"
            "  events: [pull_request.opened]\n"
            "  if: ${{ event.action == 'opened' && event.pull_request.number == 2 }}\n"
            "steps:\n"
            "  - id: call\n"
            "    uses: api.request\n"
            "    with:\n"
            "      method: POST\n"
            "      url: /pr/${{ event.number }}\n")
        # Both fixtures carry the same X-GitHub-Delivery: one source each.
        server = self.server({
            "github": {"provider": "github", "secrets": [GITHUB_SECRET]},
            "github-pr": {"provider": "github", "secrets": [GITHUB_SECRET]},
        }, workflows=[pr_workflow], mock=mock)
        push = server.post("/hooks/github", PUSH, github_headers(PUSH_HEADERS, PUSH))
        push_id = self.assert_accepted(push, runs=0)
        pr = server.post("/hooks/github-pr", PR, github_headers(PR_HEADERS, PR))
        pr_id = self.assert_accepted(pr, runs=1)
        events = {e["id"]: e for e in server.events()}
        self.assertEqual(len(events), 2, events)
        self.assertEqual((events[push_id]["source"], events[push_id]["delivery_id"],
                          events[push_id]["type"]),
                         ("github", PUSH_HEADERS["X-GitHub-Delivery"], "push"))
        self.assertEqual((events[pr_id]["source"], events[pr_id]["delivery_id"],
                          events[pr_id]["type"]),
                         ("github-pr", PR_HEADERS["X-GitHub-Delivery"], "pull_request.opened"))
        # A manual redelivery from GitHub's UI: same X-GitHub-Delivery, same body.
        again = server.post("/hooks/github", PUSH, github_headers(PUSH_HEADERS, PUSH))
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json(), {"status": "duplicate", "event_id": push_id})
        runs = server.wait_run_finished(1)
        self.assertEqual([(r["event_id"], r["workflow"], r["status"]) for r in runs],
                         [(pr_id, "pr-opened", "succeeded")])
        self.assertEqual([r["path"] for r in mock.matching("/api/pr")], ["/api/pr/2"])

    def test_github_form_body_verifies_and_reads_action_from_payload(self):
        server = self.server({"github": {"provider": "github", "secrets": [GITHUB_SECRET]}})
        body = b"payload=" + urllib.parse.quote_plus(PR.decode("utf-8")).encode()
        headers = github_headers(PR_HEADERS, body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.assert_accepted(server.post("/hooks/github", body, headers))
        self.assertEqual(self.ids_and_types(server),
                         [(PR_HEADERS["X-GitHub-Delivery"], "pull_request.opened")])

    def test_github_tampered_unsigned_sha1_only_and_other_secret_are_401_nothing_stored(self):
        server = self.server({"github": {"provider": "github", "secrets": [GITHUB_SECRET]}})
        tampered = PUSH.replace(b'"ref": "refs/heads/master"', b'"ref": "refs/heads/evil"', 1)
        self.assertNotEqual(tampered, PUSH)
        self.assert_rejected(
            server.post("/hooks/github", tampered, github_headers(PUSH_HEADERS, PUSH)),
            401, "no signature matched")
        self.assert_rejected(
            server.post("/hooks/github", PUSH, github_headers(PUSH_HEADERS, PUSH, "other")),
            401, "no signature matched")
        self.assert_rejected(server.post("/hooks/github", PUSH, dict(PUSH_HEADERS)),
                             401, "missing signature header")
        sha1_only = dict(PUSH_HEADERS)
        sha1_only["X-Hub-Signature"] = "sha1=" + hmac_bytes(GITHUB_SECRET, PUSH,
                                                            hashlib.sha1).hex()
        self.assert_rejected(server.post("/hooks/github", PUSH, sha1_only),
                             401, "missing signature header")
        no_prefix = dict(PUSH_HEADERS)
        no_prefix["X-Hub-Signature-256"] = hmac_bytes(GITHUB_SECRET, PUSH).hex()
        self.assertEqual(server.post("/hooks/github", PUSH, no_prefix).status, 401)
        self.assertEqual(server.events(), [])
        rejected = [line for line in server.lines() if "delivery rejected" in line]
        self.assertEqual(len(rejected), 5, "\n".join(rejected))
        self.assertNotIn(GITHUB_SECRET, server.output())
        self.assertNotIn(github_signature(GITHUB_SECRET, tampered), server.output())

    def test_rejections_are_logged_with_provider_and_reason(self):
        server = self.server({"github": {"provider": "github", "secrets": [GITHUB_SECRET]}})
        server.post("/hooks/github", PUSH, dict(PUSH_HEADERS))
        rejected = [line for line in server.lines() if "delivery rejected" in line]
        self.assertEqual(len(rejected), 1, server.output())
        self.assertIn("missing signature header", rejected[0])
        # Issue 5: "A rejected delivery is logged with the provider and the precise reason".
        self.assertIn("provider=github", rejected[0])

    # -- E4 for GitHub and Slack: bodies that are not JSON objects ------------------------

    def test_e4_github_and_slack_non_object_bodies_401_unsigned_400_signed_nothing_stored(self):
        server = self.server({
            "github": {"provider": "github", "secrets": [GITHUB_SECRET]},
            "slack": {"provider": "slack", "secrets": [SLACK_SECRET]},
        })
        failures = []

        def check(what, answer, status, reason=None):
            problem = None
            if status == "4xx":
                status = answer.status if 400 <= answer.status < 500 else 400
            try:
                doc = answer.json()
            except ValueError:
                doc = None
            if answer.status != status:
                problem = "status %d, expected %d" % (answer.status, status)
            elif not isinstance(doc, dict) or list(doc) != ["error"]:
                problem = "body is not {\"error\": ...}"
            elif reason is not None and doc["error"] != reason:
                problem = "reason %r, expected %r" % (doc["error"], reason)
            if problem:
                failures.append("%s: %s: %r" % (what, problem, answer))

        for body in NON_OBJECT_BODIES:
            # JSON content type: 400 with a valid signature, 401 without one.
            signed = github_headers(PUSH_HEADERS, body)
            check("github %r signed" % body, server.post("/hooks/github", body, signed),
                  400, "body is not a JSON object")
            check("github %r unsigned" % body,
                  server.post("/hooks/github", body, dict(PUSH_HEADERS)), 401)
            check("slack %r signed" % body,
                  server.post("/hooks/slack", body, slack_headers(body)),
                  400, "body is not a JSON object")
            check("slack %r unsigned" % body,
                  server.post("/hooks/slack", body, {"Content-Type": "application/json"}), 401)
            # Form content type: a 4xx, never stored (GitHub's form case has its own test).
            answer = server.post("/hooks/slack", body, slack_headers(
                body, content_type="application/x-www-form-urlencoded"))
            check("slack %r signed form" % body, answer, "4xx")
        self.assertEqual(failures, [], "\n".join(failures))
        self.assertEqual(server.events(), [])

    def test_e4_github_form_body_without_payload_is_4xx_nothing_stored(self):
        # GitHub's form deliveries carry the JSON in `payload`; a signed form without it is
        # not a GitHub event (E4 with a form content type).
        server = self.server({"github": {"provider": "github", "secrets": [GITHUB_SECRET]}})
        for body in (b"1", b"not a json", b"other=1"):
            headers = github_headers(PUSH_HEADERS, body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            answer = server.post("/hooks/github", body, headers)
            self.assertTrue(400 <= answer.status < 500, "%r: %r" % (body, answer))
        self.assertEqual(server.events(), [])

    # -- Slack ----------------------------------------------------------------------------

    def test_slack_url_verification_challenge_round_trip_stores_nothing(self):
        server = self.server({"slack": {"provider": "slack", "secrets": [SLACK_SECRET]}})
        challenge = json.loads(SLACK_CHALLENGE)["challenge"]
        answer = server.post("/hooks/slack", SLACK_CHALLENGE, slack_headers(SLACK_CHALLENGE))
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json(), {"challenge": challenge})
        self.assertTrue(answer.headers.get("content-type", "").startswith("application/json"))
        # Slack checks again later: answered again, still nothing stored.
        again = server.post("/hooks/slack", SLACK_CHALLENGE,
                            slack_headers(SLACK_CHALLENGE, t=int(time.time()) + 1))
        self.assertEqual(again.json(), {"challenge": challenge}, again)
        # Unsigned or wrongly signed: no challenge echoed.
        self.assert_rejected(server.post("/hooks/slack", SLACK_CHALLENGE,
                                         {"Content-Type": "application/json"}),
                             401, "missing signature header")
        bad = server.post("/hooks/slack", SLACK_CHALLENGE,
                          slack_headers(SLACK_CHALLENGE, secret="other"))
        self.assert_rejected(bad, 401, "no signature matched")
        self.assertNotIn(challenge.encode(), bad.body)
        self.assertEqual(server.events(), [])

    def test_slack_event_callbacks_use_event_id_and_event_type(self):
        server = self.server({"slack": {"provider": "slack", "secrets": [SLACK_SECRET]}})
        self.assert_accepted(server.post("/hooks/slack", SLACK_MENTION,
                                         slack_headers(SLACK_MENTION)))
        self.assert_accepted(server.post("/hooks/slack", SLACK_MESSAGE,
                                         slack_headers(SLACK_MESSAGE)))
        self.assertEqual(self.ids_and_types(server),
                         [("Ev0PV52K21", "message"), ("Ev123ABC456", "app_mention")])

    def test_slack_stale_and_far_future_timestamps_are_401_nothing_stored(self):
        server = self.server({"slack": {"provider": "slack", "secrets": [SLACK_SECRET],
                                        "tolerance_seconds": 300}})
        now = int(time.time())
        for t in (now - 400, now + 400):
            self.assert_rejected(server.post("/hooks/slack", SLACK_MENTION,
                                             slack_headers(SLACK_MENTION, t=t)),
                                 401, "timestamp outside tolerance")
        # The timestamp is inside the MAC: moving it into the window breaks the signature.
        headers = slack_headers(SLACK_MENTION, t=now - 400)
        headers["X-Slack-Request-Timestamp"] = str(now)
        self.assert_rejected(server.post("/hooks/slack", SLACK_MENTION, headers),
                             401, "no signature matched")
        self.assertEqual(server.events(), [])

    def test_e8_slack_retry_of_slow_delivery_answered_fast_and_stored_once(self):
        mock = start_mock(self)
        mock.route("POST", "/api/slow", [Delay(4.0, 200, None, {"ok": True})])
        mock.route("POST", "/slack/api/chat.postMessage", 200, {}, {"ok": True, "ts": "1.2"})
        workflow = self.workflow(
            "name: e8-slack-mention\n"
            "on:\n"
            "  source: slack\n"
            "  events: [app_mention]\n"
            "steps:\n"
            "  - id: slow\n"
            "    uses: api.request\n"
            "    timeout: 20s\n"
            "    with:\n"
            "      method: POST\n"
            "      url: /slow\n"
            "  - id: post\n"
            "    uses: slack.post\n"
            "    with:\n"
            "      channel: \"#e8\"\n"
            "      text: Mention ${{ event.event_id }}\n")
        server = self.server({"slack": {"provider": "slack", "secrets": [SLACK_SECRET]}},
                             workflows=[workflow], mock=mock)
        body = SLACK_MENTION.replace(b'"Ev123ABC456"', b'"Ev0FAKE001"', 1)
        self.assertIn(b'"Ev0FAKE001"', body)
        t = int(time.time())
        started = time.monotonic()
        first = server.post("/hooks/slack", body, slack_headers(body, t=t))
        first_took = time.monotonic() - started
        event_id = self.assert_accepted(first, runs=1)
        mock.wait_matching("/api/slow", 1, timeout=5)  # the slow step is now running
        retry_headers = slack_headers(body, t=t + 1)  # fresh timestamp and signature
        retry_headers["X-Slack-Retry-Num"] = "1"
        retry_headers["X-Slack-Retry-Reason"] = "http_timeout"
        started = time.monotonic()
        retry = server.post("/hooks/slack", body, retry_headers)
        retry_took = time.monotonic() - started
        self.assertEqual(retry.status, 200, retry)
        self.assertEqual(retry.json(), {"status": "duplicate", "event_id": event_id})
        # Under the 4 s of the slow step: the answer never waits for the workflow. The margin
        # leaves room for fsync on a loaded CI machine.
        self.assertLess(first_took, 3.0)
        self.assertLess(retry_took, 3.0)
        self.assertEqual(self.ids_and_types(server), [("Ev0FAKE001", "app_mention")])
        runs = server.wait_run_finished(1, timeout=20)
        self.assertEqual([(r["event_id"], r["status"]) for r in runs], [(event_id, "succeeded")])
        posts = mock.matching("/slack/api/chat.postMessage")
        self.assertEqual(len(posts), 1, posts)
        self.assertEqual(json.loads(posts[0]["body"])["text"], "Mention Ev0FAKE001")

    def test_slack_dedup_key_from_team_channel_and_ts(self):
        # Slack resends one message under a new event_id in some cases; the source's
        # dedup_key replaces the delivery id.
        server = self.server({"slack": {
            "provider": "slack", "secrets": [SLACK_SECRET],
            "dedup_key": "${{ event.team_id }}/${{ event.event.channel }}/${{ event.event.ts }}",
        }})
        first = self.assert_accepted(server.post("/hooks/slack", SLACK_MESSAGE,
                                                 slack_headers(SLACK_MESSAGE)))
        resent = SLACK_MESSAGE.replace(b'"Ev0PV52K21"', b'"Ev0PV52K99"', 1)
        again = server.post("/hooks/slack", resent, slack_headers(resent))
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json(), {"status": "duplicate", "event_id": first})
        self.assertEqual(self.ids_and_types(server),
                         [("T123ABC456/C123ABC456/1355517523.000005", "message")])

    # -- Shopify --------------------------------------------------------------------------

    def test_shopify_webhook_id_and_topic_with_classic_lower_case_and_events_headers(self):
        server = self.server({"shopify": {"provider": "shopify",
                                          "secrets": [SHOPIFY_SECRET, "old-client-secret"]}})
        body = b'{"id": 820982911946154508, "email": "jon@example.com", "total_price": "1.50"}\n'
        classic = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": shopify_signature(SHOPIFY_SECRET, body),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "b54557e4-0001-4b37-8a5f-bf7d70bcd043",
            "X-Shopify-Shop-Domain": "example-shop.myshopify.com",
        }
        self.assert_accepted(server.post("/hooks/shopify", body, classic))
        lower = {k.lower(): v for k, v in classic.items()}
        lower["x-shopify-webhook-id"] = "b54557e4-0002-4b37-8a5f-bf7d70bcd043"
        lower["x-shopify-topic"] = "orders/paid"
        self.assert_accepted(server.post("/hooks/shopify", body, lower))
        events_style = {
            "content-type": "application/json",
            "shopify-hmac-sha256": shopify_signature("old-client-secret", body),  # rotation
            "shopify-topic": "orders/updated",
            "shopify-webhook-id": "b54557e4-0003-4b37-8a5f-bf7d70bcd043",
        }
        self.assert_accepted(server.post("/hooks/shopify", body, events_style))
        # Shopify's retry carries the original webhook id.
        retry = server.post("/hooks/shopify", body, classic)
        self.assertEqual(retry.json()["status"], "duplicate", retry)
        self.assertEqual(self.ids_and_types(server), [
            ("b54557e4-0001-4b37-8a5f-bf7d70bcd043", "orders/create"),
            ("b54557e4-0002-4b37-8a5f-bf7d70bcd043", "orders/paid"),
            ("b54557e4-0003-4b37-8a5f-bf7d70bcd043", "orders/updated"),
        ])
        # Hex instead of base64, a missing topic, a tampered body: 401, nothing more stored.
        hex_digest = dict(classic, **{"X-Shopify-Webhook-Id": "hex"})
        hex_digest["X-Shopify-Hmac-Sha256"] = hmac_bytes(SHOPIFY_SECRET, body).hex()
        self.assert_rejected(server.post("/hooks/shopify", body, hex_digest),
                             401, "no signature matched")
        no_topic = dict(classic, **{"X-Shopify-Webhook-Id": "notopic"})
        del no_topic["X-Shopify-Topic"]
        self.assert_rejected(server.post("/hooks/shopify", body, no_topic),
                             401, "missing topic header")
        tampered = body.replace(b"1.50", b"0.01")
        self.assert_rejected(server.post("/hooks/shopify", tampered,
                                         dict(classic, **{"X-Shopify-Webhook-Id": "t"})),
                             401, "no signature matched")
        self.assertEqual(len(server.events()), 3)

    # -- Standard Webhooks ----------------------------------------------------------------

    def test_standard_webhooks_with_webhook_and_svix_headers(self):
        server = self.server({"billing": {"provider": "standard", "secrets": [STANDARD_SECRET],
                                          "tolerance_seconds": 300}})
        body = b'{"type":"invoice.paid","timestamp":"2026-01-01T00:00:00Z","data":{"id":"in_1"}}'
        self.assert_accepted(server.post("/hooks/billing", body,
                                         standard_headers("msg_it_webhook_0001", body)))
        self.assert_accepted(server.post("/hooks/billing", body,
                                         standard_headers("msg_it_svix_0002", body,
                                                          prefix="svix")))
        # Rotation: an unknown version and an old key first, the matching one last.
        t = int(time.time())
        headers = standard_headers("msg_it_rotation_0003", body, t=t)
        headers["webhook-signature"] = " ".join([
            "v2,AAAA",
            standard_signature("whsec_" + base64.b64encode(b"old-key").decode(),
                               "msg_it_rotation_0003", t, body),
            headers["webhook-signature"],
        ])
        self.assert_accepted(server.post("/hooks/billing", body, headers))
        self.assertEqual(self.ids_and_types(server, "billing"), [
            ("msg_it_rotation_0003", "invoice.paid"),
            ("msg_it_svix_0002", "invoice.paid"),
            ("msg_it_webhook_0001", "invoice.paid"),
        ])
        # The sender's retry: same id, new timestamp and signature.
        retry = server.post("/hooks/billing", body,
                            standard_headers("msg_it_webhook_0001", body, t=t + 5))
        self.assertEqual(retry.json()["status"], "duplicate", retry)

        # Keyed with the literal secret instead of its base64-decoded bytes.
        literal = standard_headers("msg_it_bad_0004", body, t=t)
        mac = hmac_bytes(STANDARD_SECRET, b"msg_it_bad_0004.%d." % t + body)
        literal["webhook-signature"] = "v1," + base64.b64encode(mac).decode()
        self.assert_rejected(server.post("/hooks/billing", body, literal),
                             401, "no signature matched")
        # The id swapped after signing.
        swapped = standard_headers("msg_it_bad_0005", body, t=t)
        swapped["webhook-id"] = "msg_it_bad_0006"
        self.assert_rejected(server.post("/hooks/billing", body, swapped),
                             401, "no signature matched")
        # Stale and far-future timestamps.
        for when in (t - 400, t + 400):
            self.assert_rejected(
                server.post("/hooks/billing", body,
                            standard_headers("msg_it_time_%d" % when, body, t=when,
                                             prefix="svix")),
                401, "timestamp outside tolerance")
        self.assertEqual(len(server.events()), 3)

    # -- SendGrid -------------------------------------------------------------------------

    def test_sendgrid_fixture_batch_with_distinct_ids_stored_as_eleven_events(self):
        key = SendgridKey(self.temp_dir())
        server = self.server({"sendgrid": {"provider": "sendgrid",
                                           "public_keys": [key.public_b64],
                                           "tolerance_seconds": 300}})
        # The documented batch uses the placeholder "sg_event_id" for every event; give each
        # one its own id, keeping every other byte.
        parts = SENDGRID_BATCH.split(b'"sg_event_id": "sg_event_id"')
        self.assertEqual(len(parts), 12)
        batch = parts[0]
        for i, part in enumerate(parts[1:]):
            batch += b'"sg_event_id": "sg_it_%02d"' % i + part
        types = [e["event"] for e in json.loads(batch)]
        self.assertEqual(len(types), 11)

        answer = server.post("/hooks/sendgrid", batch, key.headers(batch))
        self.assertEqual(answer.status, 200, answer)
        doc = answer.json()
        self.assertEqual(list(doc), ["status", "event_ids", "duplicates", "runs"], answer)
        self.assertEqual((doc["status"], doc["duplicates"], doc["runs"]), ("accepted", 0, 0))
        self.assertEqual(len(set(doc["event_ids"])), 11, answer)
        events = {e["id"]: e for e in server.events()}
        self.assertEqual([(events[i]["delivery_id"], events[i]["type"]) for i in doc["event_ids"]],
                         [("sg_it_%02d" % i, types[i]) for i in range(11)])

        # SendGrid's redelivery: same events, new timestamp and signature.
        again = server.post("/hooks/sendgrid", batch, key.headers(batch, t=int(time.time()) + 1))
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json(), {"status": "accepted", "event_ids": doc["event_ids"],
                                        "duplicates": 11, "runs": 0})
        self.assertEqual(len(server.events()), 11)

    def test_sendgrid_documented_batch_as_is_and_rejections(self):
        key = SendgridKey(self.temp_dir())
        other = SendgridKey(self.temp_dir())
        pem = subprocess.run(["openssl", "ec", "-in", key.private, "-pubout"],
                             check=True, capture_output=True).stdout.decode()
        server = self.server({
            "sendgrid": {"provider": "sendgrid", "public_keys": [key.public_b64]},
            "sendgrid-pem": {"provider": "sendgrid", "public_keys": [other.public_b64, pem]},
        })
        # As documented, all 11 events share sg_event_id "sg_event_id": one event stored, the
        # other ten are duplicates of it within the same delivery.
        answer = server.post("/hooks/sendgrid", SENDGRID_BATCH, key.headers(SENDGRID_BATCH))
        self.assertEqual(answer.status, 200, answer)
        doc = answer.json()
        self.assertEqual((doc["status"], doc["duplicates"], len(doc["event_ids"])),
                         ("accepted", 10, 11), answer)
        self.assertEqual(len(set(doc["event_ids"])), 1, answer)
        self.assertEqual(self.ids_and_types(server, "sendgrid"), [("sg_event_id", "processed")])
        # A PEM key (second in the list) verifies too.
        self.assertEqual(server.post("/hooks/sendgrid-pem", SENDGRID_BATCH,
                                     key.headers(SENDGRID_BATCH)).status, 200)

        t = int(time.time())
        tampered = SENDGRID_BATCH.replace(b"cat facts", b"dog facts", 1)
        self.assert_rejected(server.post("/hooks/sendgrid", tampered,
                                         key.headers(SENDGRID_BATCH, t=t)),
                             401, "no signature matched")
        self.assert_rejected(server.post("/hooks/sendgrid", SENDGRID_BATCH,
                                         other.headers(SENDGRID_BATCH)),
                             401, "no signature matched")
        stripped = SENDGRID_BATCH.rstrip(b"\n")
        headers = key.headers(SENDGRID_BATCH, t=t)
        self.assert_rejected(server.post("/hooks/sendgrid", stripped, headers),
                             401, "no signature matched")
        self.assert_rejected(server.post("/hooks/sendgrid", SENDGRID_BATCH,
                                         key.headers(SENDGRID_BATCH, t=t - 400)),
                             401, "timestamp outside tolerance")
        # A signed body that is neither an array nor an object.
        self.assert_rejected(server.post("/hooks/sendgrid", b"1", key.headers(b"1")), 400)
        self.assertEqual(len(server.events()), 2)

    def test_sendgrid_batches_of_one_and_two_events_give_steps_the_event_object(self):
        mock = start_mock(self)
        mock.route("POST", "/api/bounce/sg_one_1", 200, {}, {"ok": True})
        mock.route("POST", "/api/bounce/sg_two_1", 200, {}, {"ok": True})
        workflow = self.workflow(
            "name: sg-bounce\n"
            "on:\n"
            "  source: sendgrid\n"
            "  events: [bounce]\n"
            "  if: ${{ event.email == 'bounce@example.com' }}\n"
            "steps:\n"
            "  - id: call\n"
            "    uses: api.request\n"
            "    with:\n"
            "      method: POST\n"
            "      url: /bounce/${{ event.sg_event_id }}\n")
        key = SendgridKey(self.temp_dir())
        server = self.server({"sendgrid": {"provider": "sendgrid",
                                           "public_keys": [key.public_b64]}},
                             workflows=[workflow], mock=mock)
        item = ('{"email":"bounce@example.com","timestamp":1513299569,"event":"bounce",'
                '"sg_event_id":"%s"}')
        one = ("[" + item % "sg_one_1" + "]\r\n").encode()
        two = ("[" + item % "sg_two_1" + ",\r\n"
               + item.replace("bounce", "open") % "sg_two_2" + "]\r\n").encode()
        answer_one = server.post("/hooks/sendgrid", one, key.headers(one))
        self.assertEqual(answer_one.status, 200, answer_one)
        answer_two = server.post("/hooks/sendgrid", two, key.headers(two))
        self.assertEqual(answer_two.status, 200, answer_two)
        self.assertEqual((answer_two.json()["duplicates"], answer_two.json()["runs"]), (0, 1))
        self.assertEqual(self.ids_and_types(server), [
            ("sg_one_1", "bounce"), ("sg_two_1", "bounce"), ("sg_two_2", "open")])
        # Each event is stored as the bytes of its array element, not re-serialized.
        stored = {e["delivery_id"]: server.event(e["id"])["body"].encode()
                  for e in server.events()}
        self.assertEqual(stored, {
            "sg_one_1": (item % "sg_one_1").encode(), "sg_two_1": (item % "sg_two_1").encode(),
            "sg_two_2": (item.replace("bounce", "open") % "sg_two_2").encode()})
        runs = server.wait_run_finished(2)
        self.assertEqual([r["status"] for r in runs], ["succeeded"] * 2, runs)
        # Each run's steps see the item (an object), not the delivery's array.
        self.assertEqual(sorted(r["path"] for r in mock.matching("/api/bounce")),
                         ["/api/bounce/sg_one_1", "/api/bounce/sg_two_1"])
        # The same answer shape for every batch, whatever its size.
        self.assertEqual(sorted(answer_one.json()), ["duplicates", "event_ids", "runs", "status"],
                         answer_one)

    # -- Twilio ---------------------------------------------------------------------------

    def test_twilio_form_behind_path_rewriting_proxy_verifies_only_with_right_public_url(self):
        mock = start_mock(self)
        mock.route("POST", "/api/sms/SM0000000000000000000000000000it01", 200, {}, {"ok": True})
        mock.route("POST", "/api/sms/SM0000000000000000000000000000it02", 200, {}, {"ok": True})
        workflow = self.workflow(
            "name: sms-hello\n"
            "on:\n"
            "  source: twilio\n"
            "  events: [sms.received]\n"
            "  if: ${{ event.Body == 'Hello hookflow' && event.From == '+14155550100' }}\n"
            "steps:\n"
            "  - id: call\n"
            "    uses: api.request\n"
            "    with:\n"
            "      method: POST\n"
            "      url: /sms/${{ event.MessageSid }}\n")
        public = "https://edge.example.com/twilio/sms"
        server = self.server({
            "twilio": {"provider": "twilio", "secrets": [TWILIO_TOKEN],
                       "event_type": "sms.received", "public_url": public},
            "twilio-wrong": {"provider": "twilio", "secrets": [TWILIO_TOKEN],
                             "event_type": "sms.received",
                             "public_url": "https://edge.example.com/hooks/twilio"},
        }, workflows=[workflow], mock=mock, extra=None)
        body = (b"ToCountry=US&Body=Hello+hookflow&From=%2B14155550100&To=%2B14155550111"
                b"&MessageSid=SM0000000000000000000000000000it01&NumMedia=0")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, public, body),
            "I-Twilio-Idempotency-Token": "it-idem-0001",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "edge.example.com",
        }
        self.assert_accepted(server.post("/hooks/twilio", body, headers), runs=1)
        # The same request at a source configured with another public URL.
        self.assert_rejected(server.post("/hooks/twilio-wrong", body, headers),
                             401, "no signature matched")
        # Signed for the address the request reached (no proxy in Twilio's view): refused.
        local = dict(headers, **{"I-Twilio-Idempotency-Token": "it-idem-0002"})
        local["X-Twilio-Signature"] = twilio_signature(
            TWILIO_TOKEN, "http://127.0.0.1:%d/hooks/twilio" % server.port, body)
        self.assert_rejected(server.post("/hooks/twilio", body, local),
                             401, "no signature matched")
        # The query string is part of the signed URL; with the default port written out too.
        query = dict(headers)
        del query["I-Twilio-Idempotency-Token"]
        body2 = body.replace(b"it01", b"it02")
        query["X-Twilio-Signature"] = twilio_signature(
            TWILIO_TOKEN, "https://edge.example.com:443/twilio/sms?tenant=a", body2)
        self.assert_accepted(server.post("/hooks/twilio?tenant=a", body2, query), runs=1)
        self.assert_rejected(server.post("/hooks/twilio?tenant=b", body2, query),
                             401, "no signature matched")
        # A form parameter changed after signing.
        self.assert_rejected(
            server.post("/hooks/twilio", body.replace(b"Hello", b"Howdy"),
                        dict(headers, **{"I-Twilio-Idempotency-Token": "it-idem-0003"})),
            401, "no signature matched")
        self.assertEqual(self.ids_and_types(server), sorted([
            ("it-idem-0001", "sms.received"), (body_hash(body2), "sms.received")]))
        runs = server.wait_run_finished(2)
        self.assertEqual([r["status"] for r in runs], ["succeeded"] * 2, runs)
        # The steps saw the form as the `event` context.
        self.assertEqual(sorted(r["path"] for r in mock.matching("/api/sms")),
                         ["/api/sms/SM0000000000000000000000000000it01",
                          "/api/sms/SM0000000000000000000000000000it02"])

    # -- generic hmac ---------------------------------------------------------------------

    def test_generic_hmac_with_header_prefix_timestamp_and_ids(self):
        server = self.server({
            "acme": {"provider": "hmac", "secrets": [ACME_SECRET],
                     "header": "X-Acme-Signature", "algorithm": "sha256", "encoding": "hex",
                     "prefix": "sha256=", "timestamp_header": "X-Acme-Timestamp",
                     "tolerance_seconds": 300,
                     "delivery_id": "header:X-Acme-Delivery", "event_type": "type"},
            "plain": {"provider": "hmac", "secrets": [ACME_SECRET],
                      "header": "X-Plain-Mac", "algorithm": "sha512", "encoding": "base64",
                      "delivery_id": "data.id", "event_type": "header:X-Plain-Event"},
        })
        body = b'{"type":"order.paid","data":{"id":"ord_it_1","total":150}}'

        def acme(t, delivery, secret=ACME_SECRET, prefix="sha256="):
            mac = hmac_bytes(secret, b"%d." % t + body).hex()
            return {"Content-Type": "application/json", "X-Acme-Timestamp": str(t),
                    "X-Acme-Signature": prefix + mac, "X-Acme-Delivery": delivery}

        t = int(time.time())
        self.assert_accepted(server.post("/hooks/acme", body, acme(t, "dlv-it-1")))
        # Hex in upper case with the prefix as configured is accepted too.
        upper = acme(t, "dlv-it-2")
        upper["X-Acme-Signature"] = "sha256=" + upper["X-Acme-Signature"][7:].upper()
        self.assert_accepted(server.post("/hooks/acme", body, upper))
        self.assert_rejected(server.post("/hooks/acme", body, acme(t, "dlv-it-3", prefix="")),
                             401, "malformed signature header")
        self.assert_rejected(server.post("/hooks/acme", body, acme(t, "dlv-it-4", "other")),
                             401, "no signature matched")
        self.assert_rejected(server.post("/hooks/acme", body, acme(t - 400, "dlv-it-5")),
                             401, "timestamp outside tolerance")
        no_ts = acme(t, "dlv-it-6")
        del no_ts["X-Acme-Timestamp"]
        self.assert_rejected(server.post("/hooks/acme", body, no_ts),
                             401, "missing timestamp header")
        # The timestamp is signed: a body-only MAC does not pass.
        body_only = acme(t, "dlv-it-7")
        body_only["X-Acme-Signature"] = "sha256=" + hmac_bytes(ACME_SECRET, body).hex()
        self.assert_rejected(server.post("/hooks/acme", body, body_only),
                             401, "no signature matched")

        plain = {"Content-Type": "application/json", "X-Plain-Event": "order.shipped",
                 "X-Plain-Mac": base64.b64encode(hmac_bytes(ACME_SECRET, body,
                                                            hashlib.sha512)).decode()}
        self.assert_accepted(server.post("/hooks/plain", body, plain))
        self.assertEqual(server.post("/hooks/plain", body, plain).json()["status"], "duplicate")
        self.assertEqual(self.ids_and_types(server), [
            ("dlv-it-1", "order.paid"), ("dlv-it-2", "order.paid"),
            ("ord_it_1", "order.shipped")])

    # -- none -----------------------------------------------------------------------------

    def test_provider_none_accepts_warns_at_start_and_dedupes_by_body_hash(self):
        server = self.server({"intranet-form": {"provider": "none",
                                                "event_type": "form.submitted"}})
        warnings = [line for line in server.lines()
                    if "intranet-form" in line and "verifies nothing" in line]
        self.assertEqual(len(warnings), 1, server.output())
        self.assertRegex(warnings[0].lower(), r"\bwarn")
        body = b"name=Zo%C3%AB&team=billing"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        event_id = self.assert_accepted(server.post("/hooks/intranet-form", body, headers))
        again = server.post("/hooks/intranet-form", body, headers)
        self.assertEqual(again.json(), {"status": "duplicate", "event_id": event_id})
        json_body = b'{"name":"x"}'
        self.assert_accepted(server.post("/hooks/intranet-form", json_body,
                                         {"Content-Type": "application/json"}))
        self.assert_rejected(server.post("/hooks/intranet-form", b"[]",
                                         {"Content-Type": "application/json"}),
                             400, "body is not a JSON object")
        self.assertEqual(self.ids_and_types(server), sorted([
            (body_hash(body), "form.submitted"), (body_hash(json_body), "form.submitted")]))


if __name__ == "__main__":
    unittest.main()
