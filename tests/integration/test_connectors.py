"""The REST client and the connectors through the real binary: TLS with a test CA, pooling,
a CONNECT proxy, each connector's exact request, faults, and redaction of secrets."""

import json
import os
import shutil
import tempfile
import time
import unittest

from connector_mocks import (
    ConnectProxy,
    KeepAliveRawServer,
    RawServer,
    TlsMock,
    count_connections,
    make_ca,
    make_leaf,
    reset,
)
from harness import (
    KEYS,
    Delay,
    api_fixture,
    path_of,
    start_hookflow,
    start_mock,
    stripe_event,
    stripe_headers,
)

EVENT_TYPE = "connector.test"
# Every run gets one attempt unless a test asks for more: failures show at once.
ONE_ATTEMPT = {"engine": {"max_attempts": 1, "poll_interval_ms": 100}}
PROXY_PASSWORD = "proxy-pass-hookflow-integration"


def workflow_file(directory, steps):
    """Writes a workflow that runs `steps` (a YAML text block) on EVENT_TYPE; returns its path."""
    path = os.path.join(directory, "connectors-test.yaml")
    with open(path, "w") as f:
        f.write("name: connectors-test\non:\n  source: stripe\n  events: [%s]\nsteps:\n%s"
                % (EVENT_TYPE, steps))
    return path


def step(step_id, uses, with_yaml):
    lines = ["  - id: %s" % step_id, "    uses: %s" % uses, "    with:"]
    lines += ["      " + line for line in with_yaml.strip("\n").split("\n")]
    return "\n".join(lines) + "\n"


class ConnectorTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hookflow-conn-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.events = 0
        self.seen = set()

    def start(self, steps, config=None, mock=None, env=None):
        merged = json.loads(json.dumps(ONE_ATTEMPT))
        for key, value in (config or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key].update(value)
            else:
                merged[key] = value
        return start_hookflow(self, mock=mock, workflows=[workflow_file(self.dir, steps)],
                              config=merged, env=env)

    def run_once(self, server, timeout=20):
        """Delivers one event and returns the finished run's `runs show` document."""
        self.events += 1
        body = stripe_event("evt_conn_%d_%d" % (os.getpid(), self.events), EVENT_TYPE,
                            {"id": "obj_1", "customer": "cus_1"})
        self.assertEqual(server.post("/hooks/stripe", body, stripe_headers(body)).status, 200)
        runs = server.wait_run_finished(self.events, timeout=timeout)
        fresh = [r for r in runs if r["id"] not in self.seen]
        self.assertEqual(len(fresh), 1, json.dumps(runs))
        self.seen.add(fresh[0]["id"])
        return server.run(fresh[0]["id"])

    def steps_of(self, shown):
        return {s["step_id"]: s for s in shown["steps"]}


class TlsTest(ConnectorTest):
    def setUp(self):
        super().setUp()
        self.ca = make_ca(self.dir)

    def tls_mock(self, san):
        cert, key = make_leaf(self.dir, san.split(":", 1)[1].replace(".", "_"), san)
        mock = TlsMock(cert, key)
        self.addCleanup(mock.close)
        return mock

    def http_step(self, port, path="/tls"):
        return step("call", "http.request", "url: https://127.0.0.1:%d%s" % (port, path))

    def test_ca_file_trusts_the_test_ca_and_connections_are_reused(self):
        mock = self.tls_mock("IP:127.0.0.1")
        steps = "".join(step("call%d" % i, "http.request",
                             "url: https://127.0.0.1:%d/tls/%d" % (mock.port, i))
                        for i in range(3))
        server = self.start(steps, {"connectors": {"http": {"type": "http",
                                                            "ca_file": self.ca}}})
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual([r["path"] for r in mock.requests], ["/tls/0", "/tls/1", "/tls/2"])
        self.assertEqual(mock.connections, 1)
        self.assertEqual(self.steps_of(shown)["call2"]["output"]["body"],
                         {"ok": True, "path": "/tls/2"})

    def test_system_store_does_not_trust_the_test_ca(self):
        mock = self.tls_mock("IP:127.0.0.1")
        server = self.start(self.http_step(mock.port))
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "dead")
        error = self.steps_of(shown)["call"]["error"]
        self.assertIn("http: tls handshake with 127.0.0.1: certificate verify failed", error)
        self.assertEqual(mock.requests, [])

    def test_certificate_for_another_host_fails(self):
        mock = self.tls_mock("DNS:other.test")
        server = self.start(self.http_step(mock.port),
                            {"connectors": {"http": {"type": "http", "ca_file": self.ca}}})
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "dead")
        error = self.steps_of(shown)["call"]["error"]
        self.assertIn("tls handshake with 127.0.0.1: certificate verify failed", error)
        self.assertEqual(mock.requests, [])

    def test_connect_proxy_carries_https_and_no_proxy_bypasses_it(self):
        mock = self.tls_mock("IP:127.0.0.1")
        proxy = ConnectProxy()
        self.addCleanup(proxy.close)
        proxy_url = "http://tester:%s@127.0.0.1:%d" % (PROXY_PASSWORD, proxy.port)
        env = {"HTTPS_PROXY": proxy_url, "https_proxy": None, "NO_PROXY": None,
               "no_proxy": None}
        config = {"connectors": {"http": {"type": "http", "ca_file": self.ca}}}
        server = self.start(self.http_step(mock.port), config, env=env)

        shown = self.run_once(server)

        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual(len(proxy.tunnels), 1)
        self.assertEqual(proxy.tunnels[0]["method"], "CONNECT")
        self.assertEqual(proxy.tunnels[0]["target"], "127.0.0.1:%d" % mock.port)
        self.assertEqual(proxy.tunnels[0]["proxy_authorization"],
                         "Basic dGVzdGVyOnByb3h5LXBhc3MtaG9va2Zsb3ctaW50ZWdyYXRpb24=")
        self.assertEqual([r["path"] for r in mock.requests], ["/tls"])
        server.stop()
        self.assertNotIn(PROXY_PASSWORD, server.output())

        # The same call with NO_PROXY naming the host goes direct.
        env["NO_PROXY"] = "localhost,127.0.0.1"
        direct = self.start(self.http_step(mock.port, "/direct"), config, env=env)
        self.events = 0
        shown = self.run_once(direct)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual(len(proxy.tunnels), 1)
        self.assertEqual([r["path"] for r in mock.requests], ["/tls", "/direct"])


class PoolTest(ConnectorTest):
    def test_sequential_calls_reuse_one_connection(self):
        mock = count_connections(start_mock(self))
        mock.route("POST", "/slack/api/chat.postMessage", 200, {}, {"ok": True, "ts": "1.2"})
        steps = "".join(step("post%d" % i, "slack.post", "channel: C1\ntext: message %d" % i)
                        for i in range(5))
        server = self.start(steps, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual(len(mock.matching("/slack/api/chat.postMessage")), 5)
        self.assertEqual(mock.connections, 1)

    def test_server_closing_each_connection_is_handled(self):
        mock = count_connections(start_mock(self))
        mock.keep_alive = False
        mock.route("POST", "/slack/api/chat.postMessage", 200, {}, {"ok": True})
        steps = "".join(step("post%d" % i, "slack.post", "channel: C1\ntext: m%d" % i)
                        for i in range(3))
        server = self.start(steps, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual(mock.connections, 3)


class ConnectorRequestTest(ConnectorTest):
    def test_stripe_form_encoding_account_and_version(self):
        mock = start_mock(self)
        mock.route("POST", "/stripe/v1/customers/cus_1", 200, {}, {"id": "cus_1"})
        steps = step("tag", "stripe.request", """
method: POST
path: /v1/customers/${{ event.data.object.customer }}
account: acct_42
body:
  metadata:
    tier: gold
    note: a b&c
  expand: [default_source, invoice_settings.default_payment_method]
""")
        server = self.start(steps, {"connectors": {"stripe": {"api_version": "2025-01-01"}}},
                            mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        request = mock.matching("/stripe/v1/customers/cus_1")[0]
        self.assertEqual(request["method"], "POST")
        self.assertEqual(request["headers"]["authorization"], "Bearer " + KEYS["stripe"])
        self.assertEqual(request["headers"]["stripe-account"], "acct_42")
        self.assertEqual(request["headers"]["stripe-version"], "2025-01-01")
        self.assertEqual(request["headers"]["content-type"], "application/x-www-form-urlencoded")
        self.assertTrue(request["headers"]["idempotency-key"].endswith("-tag"))
        self.assertEqual(request["body"],
                         b"expand[0]=default_source"
                         b"&expand[1]=invoice_settings.default_payment_method"
                         b"&metadata[note]=a%20b%26c&metadata[tier]=gold")

    def test_sendgrid_dynamic_template_exact_json(self):
        mock = start_mock(self)
        mock.route("POST", "/sendgrid/v3/mail/send", 202, {"X-Message-Id": "msg-1"}, b"")
        steps = step("email", "sendgrid.send", """
to: { email: jenny@example.com, name: Jenny Rosen }
from: { email: billing@example.com, name: Billing }
cc: [ops@example.com]
reply_to: support@example.com
template_id: d-0123456789abcdef
dynamic_template_data:
  amount: "20.00"
  customer: ${{ event.data.object.customer }}
categories: [dunning]
""")
        server = self.start(steps, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual(self.steps_of(shown)["email"]["output"],
                         {"status": 202, "message_id": "msg-1"})
        request = mock.matching("/sendgrid/v3/mail/send")[0]
        self.assertEqual(request["headers"]["authorization"], "Bearer " + KEYS["sendgrid"])
        self.assertEqual(request["headers"]["content-type"], "application/json")
        self.assertEqual(request["body"].decode(), (
            '{"personalizations":[{"to":[{"email":"jenny@example.com","name":"Jenny Rosen"}],'
            '"cc":[{"email":"ops@example.com"}],'
            '"dynamic_template_data":{"amount":"20.00","customer":"cus_1"}}],'
            '"from":{"email":"billing@example.com","name":"Billing"},'
            '"reply_to":{"email":"support@example.com"},'
            '"template_id":"d-0123456789abcdef","categories":["dunning"]}'))

    def test_anthropic_request_shape_and_headers(self):
        mock = start_mock(self)
        fixture = api_fixture("anthropic", "messages_200")["response"]
        mock.route("POST", "/anthropic/v1/messages", 200, {}, fixture["body"])
        steps = step("ask", "llm.chat", """
system: You triage payments.
prompt: Hello, Claude
max_tokens: 50
""")
        config = {"connectors": {"llm": {"flavor": "anthropic", "model": "claude-opus-4-8",
                                         "base_url": mock.base + "/anthropic"}}}
        server = self.start(steps, config, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        request = mock.matching("/anthropic/v1/messages")[0]
        self.assertEqual(request["headers"]["x-api-key"], KEYS["llm"])
        self.assertEqual(request["headers"]["anthropic-version"], "2023-06-01")
        self.assertEqual(request["headers"]["content-type"], "application/json")
        self.assertNotIn("authorization", request["headers"])
        self.assertEqual(request["body"].decode(), (
            '{"model":"claude-opus-4-8","max_tokens":50,"system":"You triage payments.",'
            '"messages":[{"role":"user","content":"Hello, Claude"}]}'))
        output = self.steps_of(shown)["ask"]["output"]
        usage = fixture["body"]["usage"]
        self.assertEqual(output["usage"]["input_tokens"], usage["input_tokens"])
        self.assertEqual(output["usage"]["output_tokens"], usage["output_tokens"])
        self.assertEqual(output["text"], fixture["body"]["content"][0]["text"])

    def test_hubspot_search_exact_body_and_first_contact(self):
        mock = start_mock(self)
        fixture = api_fixture("hubspot", "contacts_search_by_email_200")
        mock.route("POST", "/crm/crm/v3/objects/contacts/search", 200, {},
                   fixture["response"]["body"])
        steps = step("find", "crm.find_contact", "email: bryan.cooper@example.com")
        server = self.start(steps, {"connectors": {"crm": {"flavor": "hubspot"}}}, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        request = mock.matching("/crm/crm/v3/objects/contacts/search")[0]
        self.assertEqual(request["method"], "POST")
        self.assertEqual(request["headers"]["authorization"], "Bearer " + KEYS["crm"])
        self.assertEqual(request["body"].decode(), fixture["request"]["body"])
        self.assertEqual(self.steps_of(shown)["find"]["output"]["id"], "512")

    def test_slack_ok_false_names_slack_error(self):
        mock = start_mock(self)
        body = api_fixture("slack", "chat_postMessage_channel_not_found")["response"]["body"]
        mock.route("POST", "/slack/api/chat.postMessage", 200, {}, body)
        server = self.start(step("post", "slack.post", "channel: C404\ntext: hi"), mock=mock)
        shown = self.run_once(server)
        self.assertEqual(self.steps_of(shown)["post"]["error"], "slack: channel_not_found")


class FaultTest(ConnectorTest):
    def fault_run(self, answer_or_server, config=None, uses="stripe.request",
                  with_yaml="path: /v1/customers/cus_1"):
        mock = None
        if callable(answer_or_server):
            raw = RawServer(answer_or_server)
            self.addCleanup(raw.close)
            base = raw.base
        else:
            mock = start_mock(self)
            mock.route("GET", "/stripe/v1/customers/cus_1", *answer_or_server)
            base = mock.base + "/stripe"
        merged = {"connectors": {"stripe": {"base_url": base}}}
        for key, value in (config or {}).items():
            merged["connectors"]["stripe"][key] = value
        server = self.start(step("call", uses, with_yaml), merged, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "dead", json.dumps(shown))
        return self.steps_of(shown)["call"]["error"]

    def test_slow_headers_give_timeout_error(self):
        mock = start_mock(self)
        mock.route("GET", "/stripe/v1/customers/cus_1", [Delay(4, 200, None, {"id": "x"})])
        server = self.start(step("call", "stripe.request", "path: /v1/customers/cus_1"),
                            {"connectors": {"stripe": {"timeout": 1}}}, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(self.steps_of(shown)["call"]["error"],
                         "stripe: no answer from 127.0.0.1 within 1000 ms")

    def test_reset_mid_body(self):
        def handler(sock, head):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"id\": \"cus_")
            time.sleep(0.2)
            reset(sock)
        error = self.fault_run(handler)
        self.assertTrue(error.startswith("stripe: exchange with 127.0.0.1:"), error)
        self.assertIn("connection reset by peer", error)

    def test_malformed_json(self):
        error = self.fault_run((200, {"Content-Type": "application/json"}, b"{\"id\": "))
        self.assertEqual(error, "stripe 200: answer is not JSON")

    def test_oversized_response(self):
        error = self.fault_run((200, {}, {"blob": "x" * 5000}), {"max_response_bytes": 1000})
        self.assertEqual(error, "stripe: response larger than 1000 bytes")

    def test_429_retry_after_is_honoured(self):
        mock = start_mock(self)
        mock.route("POST", "/slack/api/chat.postMessage", [
            (429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}),
            (200, {}, {"ok": True, "ts": "1.1"}),
        ])
        server = self.start(step("post", "slack.post", "channel: C1\ntext: hi"),
                            {"engine": {"max_attempts": 3}},
                            mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        calls = mock.matching("/slack/api/chat.postMessage")
        self.assertEqual(len(calls), 2)
        self.assertGreaterEqual(calls[1]["time"] - calls[0]["time"], 0.9)
        self.assertIn("slack 429: ratelimited", server.output())

    def test_redirect_is_not_followed(self):
        error = self.fault_run((302, {"Location": "https://elsewhere.example/v1"}, b""))
        self.assertEqual(error, "stripe: answer 302 redirects to https://elsewhere.example/v1; "
                                "redirects are not followed (set follow_redirects: true on the "
                                "connector, or fix its base_url)")


class DeepAnswerTest(ConnectorTest):
    def test_answer_100000_deep_fails_the_step_once_and_server_stays_up(self):
        # Regression: parsing this answer overflowed the stack; `serve` crashed on every claim.
        mock = start_mock(self)
        deep = b"[" * 100000 + b"]" * 100000
        mock.route("GET", "/deep", 200, {"Content-Type": "application/json"}, deep)
        server = self.start(step("call", "http.request", "url: %s/deep" % mock.base),
                            {"engine": {"max_attempts": 3}}, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "dead", json.dumps(shown)[:2000])
        self.assertEqual(shown["attempt"], 1)
        self.assertEqual(self.steps_of(shown)["call"]["error"],
                         "http: answer is nested deeper than 256 levels (200000 bytes, status 200)")
        self.assertEqual(len(mock.matching("/deep")), 1)
        self.assertEqual(server.request("GET", "/healthz").status, 200)
        code, out, err = server.cli("runs", "show", shown["id"], "--json")
        self.assertEqual(code, 0, err)
        self.assertNotIn("[[[[", out)

    def test_answer_300_deep_with_continue_on_error_lets_the_run_go_on(self):
        mock = start_mock(self)
        mock.route("GET", "/deep", 200, {"Content-Type": "application/json"},
                   b"  " + b"{\"a\":[" * 150 + b"1" + b"]}" * 150)
        mock.route("GET", "/after", 200, {}, {"ok": True})
        steps = (step("call", "http.request", "url: %s/deep" % mock.base) +
                 "    continue_on_error: true\n" +
                 step("after", "http.request", "url: %s/after" % mock.base))
        server = self.start(steps, mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown)[:2000])
        self.assertIn("answer is nested deeper than 256 levels",
                      self.steps_of(shown)["call"]["error"])
        self.assertEqual(self.steps_of(shown)["after"]["output"]["body"], {"ok": True})

    def test_answer_256_deep_is_parsed(self):
        mock = start_mock(self)
        mock.route("GET", "/deep", 200, {"Content-Type": "application/json"},
                   b"[" * 256 + b"]" * 256)
        server = self.start(step("call", "http.request", "url: %s/deep" % mock.base), mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown)[:2000])


def json_answer(payload):
    body = json.dumps(payload).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body


class InterimAnswerTest(ConnectorTest):
    def two_calls(self, handler):
        raw = KeepAliveRawServer(handler)
        self.addCleanup(raw.close)
        steps = (step("first", "http.request", "url: %s/first" % raw.base) +
                 step("second", "http.request", "url: %s/second" % raw.base))
        shown = self.run_once(self.start(steps))
        return raw, shown

    def test_several_100_continue_before_200_are_skipped(self):
        # Regression: the first 100 was taken as the answer, and the next request on the pooled
        # connection read a leftover 100 instead of being sent.
        def handler(sock, head, n):
            interim = b"HTTP/1.1 100 Continue\r\n\r\n" * 3 if n == 0 else b""
            sock.sendall(interim + json_answer({"n": n}))
        raw, shown = self.two_calls(handler)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual(self.steps_of(shown)["first"]["output"]["body"], {"n": 0})
        self.assertEqual(self.steps_of(shown)["second"]["output"]["body"], {"n": 1})
        self.assertEqual([h.split(b" ")[1] for h in raw.heads], [b"/first", b"/second"])
        self.assertEqual(raw.connections, 1)

    def test_bytes_after_the_answer_close_the_connection(self):
        def handler(sock, head, n):
            extra = json_answer({"n": "stale"}) if n == 0 else b""
            sock.sendall(json_answer({"n": n}) + extra)
        raw, shown = self.two_calls(handler)
        self.assertEqual(shown["status"], "succeeded", json.dumps(shown))
        self.assertEqual(self.steps_of(shown)["first"]["output"]["body"], {"n": 0})
        self.assertEqual(self.steps_of(shown)["second"]["output"]["body"], {"n": 1})
        self.assertEqual(raw.connections, 2)

    def test_101_switching_protocols_fails_the_step(self):
        def handler(sock, head, n):
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        raw, shown = self.two_calls(handler)
        self.assertEqual(shown["status"], "dead", json.dumps(shown))
        self.assertIn("answered 101 Switching Protocols", self.steps_of(shown)["first"]["error"])

    def test_endless_100_continue_fails_the_step(self):
        def handler(sock, head, n):
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 20 + json_answer({"n": n}))
        raw, shown = self.two_calls(handler)
        self.assertEqual(shown["status"], "dead", json.dumps(shown))
        self.assertIn("sent more than 8 interim 1xx answers",
                      self.steps_of(shown)["first"]["error"])


class RedactionTest(ConnectorTest):
    def test_no_secret_in_database_or_log(self):
        mock = start_mock(self)
        # Answers that echo the credentials back, as some APIs do in error texts.
        mock.route("POST", "/stripe/v1/customers/cus_1", 400, {},
                   {"error": {"type": "invalid_request_error",
                              "message": "Invalid API Key provided: " + KEYS["stripe"]}})
        mock.route("POST", "/slack/api/chat.postMessage", 200, {},
                   {"ok": True, "echo": KEYS["slack"]})
        mock.route("POST", "/crm/notes", 200, {}, {"ok": True})
        mock.route("POST", "/llm/v1/chat/completions", 200, {},
                   api_fixture("openai", "chat_completions_200")["response"]["body"])
        mock.route("POST", "/sendgrid/v3/mail/send", 202, {}, b"")
        steps = (step("notify", "slack.post", "channel: C1\ntext: hi") +
                 step("note", "crm.request", "method: POST\npath: /notes\njson: {a: 1}") +
                 step("ask", "llm.chat", "prompt: hi") +
                 step("mail", "sendgrid.send",
                      "to: a@example.com\nfrom: b@example.com\nsubject: s\ntext: t") +
                 step("tag", "stripe.request", "method: POST\npath: /v1/customers/cus_1"))
        proxy_conf = "http://u:%s@127.0.0.1:9" % PROXY_PASSWORD
        server = self.start(steps, {"log": {"level": "debug"},
                                    "connectors": {"crm": {"proxy": "none"},
                                                   "http": {"type": "http",
                                                            "proxy": proxy_conf}}},
                            mock=mock)
        shown = self.run_once(server)
        self.assertEqual(shown["status"], "dead", json.dumps(shown))
        self.assertIn("Invalid API Key provided: ***", self.steps_of(shown)["tag"]["error"])
        self.assertEqual(self.steps_of(shown)["notify"]["output"]["echo"], "***")
        self.assertEqual(len(mock.snapshot()), 5)
        server.stop()

        stored = b""
        for name in os.listdir(server.dir):
            if name.startswith("hookflow.db"):
                with open(os.path.join(server.dir, name), "rb") as f:
                    stored += f.read()
        self.assertGreater(len(stored), 0)
        log = server.output().encode()
        for secret in list(KEYS.values()) + [PROXY_PASSWORD]:
            self.assertNotIn(secret.encode(), stored, secret)
            self.assertNotIn(secret.encode(), log, secret)


if __name__ == "__main__":
    unittest.main()
