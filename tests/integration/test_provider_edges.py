"""E1-E4 of tests/fixtures/edge-cases.md redone for every provider scheme but Stripe (which
test_edge_cases.py covers), against one running server with a source per provider:

- E1: a body whose bytes do not survive a JSON round trip (indentation, `1.50`, `\\u2028` as an
  escape, raw UTF-8, key order) is accepted and stored byte for byte; the same content
  re-serialized under the original signature is rejected and nothing is stored.
- E2: the same body sent with Transfer-Encoding: chunked in odd pieces (one splits a UTF-8
  character) gives exactly E1's outcome.
- E3: a body one byte over server.max_body_bytes is 413 and stored nowhere, with and without
  chunking; a body exactly at the limit is accepted.
- E4: bodies that are not JSON objects (scalars, arrays where not allowed, invalid UTF-8,
  truncated JSON) are 400 with a clear reason after a valid signature, 401 without one, never
  a 5xx, and nothing is stored.

Plus Twilio's URL from a trusted reverse proxy (server.trusted_proxies, no public_url), and the
same headers from a peer that is not trusted.

Each provider's signer is the test suite's own (harness.py), never hookflow's `sign`.
"""

import base64
import hashlib
import json
import shutil
import tempfile
import time
import unittest

from harness import (
    SendgridKey,
    github_signature,
    hmac_bytes,
    shopify_signature,
    slack_headers,
    standard_headers,
    start_hookflow,
    twilio_signature,
)

LIMIT = 4096  # server.max_body_bytes for these tests

GITHUB_SECRET = "github-edge-secret-NOT-REAL"
SLACK_SECRET = "slack-edge-signing-secret-NOT-REAL"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-edge-key-32byt").decode()
SHOPIFY_SECRET = "shopify-edge-client-secret-NOT-REAL"
TWILIO_TOKEN = "twilio-edge-auth-token-NOT-REAL"
ACME_SECRET = "acme-edge-secret-NOT-REAL"

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"

# E1's traits: two-space indent, LF, a trailing newline, raw UTF-8 (c3 ab, f0 9f 98 80), the six
# characters `\u2028`, an escaped slash and quote, `1.50`, `1E2`, and keys out of order.
E1_FIELDS = (
    '  "zeta": 1.50,\n'
    '  "name": "Zo\u00eb \U0001F600",\n'
    '  "description": "a\\u2028b \\/ \\"q\\"",\n'
    '  "big": 1E2,\n'
    '  "nested": {"b": [1, 2,  3], "a": null}'
)

# E4: not a JSON object (each of these, also `[]` for every provider but SendGrid).
NOT_OBJECTS = [b"1", b'"x"', b"null", b"not a json", b'{"id": "x", "type": ', b'{"a": "\xff"}',
               b""]


def compact(body):
    """What a receiver that parses and re-serializes would verify instead of the bytes."""
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def object_body(top, pad=""):
    """A JSON object with E1's traits, the provider's own `top` fields and a pad field."""
    fields = "".join('  %s: %s,\n' % (json.dumps(k), json.dumps(v)) for k, v in top.items())
    return ("{\n" + fields + E1_FIELDS + ',\n  "pad": "' + pad + '"\n}\n').encode("utf-8")


class Scheme:
    """One provider's source, body shape and signer. `sign(body, uid)` gives (path, headers)
    for a delivery whose id is `uid`; `identity(uid)` the (delivery id, type) it is stored
    with; `stored(body)` the bytes stored for it."""

    name = ""
    event_type = ""
    forms = False  # takes form bodies: a non-JSON form body may be a valid delivery

    def source(self):
        raise NotImplementedError

    def body(self, uid, pad=""):
        return object_body({"id": uid, "type": self.event_type}, pad)

    def sign(self, body, uid, content_type=JSON_TYPE):
        raise NotImplementedError

    def unsigned(self, body, uid, content_type=JSON_TYPE):
        path, headers = self.sign(body, uid, content_type)
        return path, {k: v for k, v in headers.items()
                      if k.lower() in ("content-type", "x-github-event", "x-github-delivery",
                                       "x-shopify-topic", "x-shopify-webhook-id", "webhook-id",
                                       "webhook-timestamp", "i-twilio-idempotency-token")}

    def identity(self, uid):
        return (uid, self.event_type)

    def stored(self, body):
        return body


class GitHub(Scheme):
    name = "github"
    event_type = "issues.edited"
    forms = True

    def source(self):
        return {"provider": "github", "secrets": [GITHUB_SECRET]}

    def body(self, uid, pad=""):
        return object_body({"action": "edited", "issue": {"number": 7}}, pad)

    def sign(self, body, uid, content_type=JSON_TYPE):
        return "/hooks/github", {"Content-Type": content_type, "X-GitHub-Event": "issues",
                                 "X-GitHub-Delivery": uid,
                                 "X-Hub-Signature-256": github_signature(GITHUB_SECRET, body)}


class Slack(Scheme):
    name = "slack"
    event_type = "app_mention"
    forms = True

    def source(self):
        return {"provider": "slack", "secrets": [SLACK_SECRET]}

    def body(self, uid, pad=""):
        return object_body({"type": "event_callback", "event_id": uid,
                            "event": {"type": "app_mention", "text": "hi"}}, pad)

    def sign(self, body, uid, content_type=JSON_TYPE):
        return "/hooks/slack", slack_headers(body, SLACK_SECRET, content_type=content_type)


class Standard(Scheme):
    name = "standard"
    event_type = "invoice.paid"

    def source(self):
        return {"provider": "standard", "secrets": [STANDARD_SECRET]}

    def sign(self, body, uid, content_type=JSON_TYPE):
        headers = standard_headers(uid, body, STANDARD_SECRET)
        headers["Content-Type"] = content_type
        return "/hooks/standard", headers


class Shopify(Scheme):
    name = "shopify"
    event_type = "orders/create"

    def source(self):
        return {"provider": "shopify", "secrets": [SHOPIFY_SECRET]}

    def sign(self, body, uid, content_type=JSON_TYPE):
        return "/hooks/shopify", {"Content-Type": content_type,
                                  "X-Shopify-Topic": "orders/create",
                                  "X-Shopify-Webhook-Id": uid,
                                  "X-Shopify-Hmac-Sha256": shopify_signature(SHOPIFY_SECRET,
                                                                             body)}


class Sendgrid(Scheme):
    """A batch of one event; the event is stored as the bytes of its array element."""

    name = "sendgrid"
    event_type = "delivered"

    def __init__(self, key):
        self.key = key

    def source(self):
        return {"provider": "sendgrid", "public_keys": [self.key.public_b64]}

    def body(self, uid, pad=""):
        element = object_body({"sg_event_id": uid, "event": "delivered",
                               "email": "a@example.com"}, pad).decode("utf-8")
        return ("[\n  " + element.rstrip("\n").replace("\n", "\n  ") + "\n]\n").encode("utf-8")

    def sign(self, body, uid, content_type=JSON_TYPE):
        headers = self.key.headers(body)
        headers["Content-Type"] = content_type
        return "/hooks/sendgrid", headers

    def stored(self, body):
        return body.strip()[1:-1].strip()


class Twilio(Scheme):
    """A JSON body: the signed URL carries its SHA-256 in `bodySHA256`."""

    name = "twilio"
    event_type = "twilio.request"
    forms = True

    def source(self):
        return {"provider": "twilio", "secrets": [TWILIO_TOKEN],
                "public_url": "https://edge.example.com/hooks/twilio"}

    def sign(self, body, uid, content_type=JSON_TYPE):
        query = "?bodySHA256=" + hashlib.sha256(body).hexdigest()
        url = "https://edge.example.com/hooks/twilio" + query
        return "/hooks/twilio" + query, {"Content-Type": content_type,
                                         "I-Twilio-Idempotency-Token": uid,
                                         "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN,
                                                                                url)}


class Hmac(Scheme):
    name = "acme"
    event_type = "order.paid"
    forms = True

    def source(self):
        return {"provider": "hmac", "secrets": [ACME_SECRET], "header": "X-Acme-Signature",
                "algorithm": "sha256", "encoding": "hex", "prefix": "sha256=",
                "timestamp_header": "X-Acme-Timestamp", "delivery_id": "id",
                "event_type": "type"}

    def sign(self, body, uid, content_type=JSON_TYPE):
        t = int(time.time())
        mac = hmac_bytes(ACME_SECRET, b"%d." % t + body).hex()
        return "/hooks/acme", {"Content-Type": content_type, "X-Acme-Timestamp": str(t),
                               "X-Acme-Signature": "sha256=" + mac}


def odd_chunks(body):
    """Chunk sizes that split the body in odd places: one byte, a UTF-8 character cut in the
    middle, a prime-sized run, then the rest."""
    cut = body.index("\U0001F600".encode("utf-8")) + 2
    return [1, cut - 1 - 7, 7, 61, 3]


class ProviderEdgesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hookflow-provider-edges-")
        cls.schemes = [GitHub(), Slack(), Standard(), Shopify(), Sendgrid(SendgridKey(cls.dir)),
                       Twilio(), Hmac()]
        cls.uid = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def setUp(self):
        sources = {scheme.name: scheme.source() for scheme in self.schemes}
        self.server = start_hookflow(self, config={"server": {"max_body_bytes": LIMIT},
                                                   "sources": sources})

    def new_uid(self, scheme):
        ProviderEdgesTest.uid += 1
        return "edge-%s-%04d-%d" % (scheme.name, self.uid, int(time.time() * 1000) % 100000)

    def events(self):
        return {e["id"]: e for e in self.server.events()}

    def assert_stored(self, scheme, uid, answer, body):
        self.assertEqual(answer.status, 200, "%s: %r" % (scheme.name, answer))
        doc = answer.json()
        event_id = doc["event_ids"][0] if "event_ids" in doc else doc["event_id"]
        event = self.events()[event_id]
        self.assertEqual((event["source"], event["delivery_id"], event["type"]),
                         (scheme.name,) + scheme.identity(uid), scheme.name)
        stored = self.server.event(event_id)["body"].encode("utf-8")
        self.assertEqual(stored, scheme.stored(body), "%s: stored body differs" % scheme.name)
        return event_id

    # -- E1 and E2 ------------------------------------------------------------------------

    def check_exact_bytes(self, chunked):
        for scheme in self.schemes:
            with self.subTest(provider=scheme.name):
                before = len(self.events())
                uid = self.new_uid(scheme)
                body = scheme.body(uid)
                reserialized = compact(body)
                self.assertNotEqual(reserialized, body)
                path, headers = scheme.sign(body, uid)
                forged = self.server.post(path, reserialized, headers,
                                          chunks=[64, 64] if chunked else None)
                self.assertEqual(forged.status, 401, "%s: %r" % (scheme.name, forged))
                self.assertEqual(len(self.events()), before, scheme.name)
                chunks = odd_chunks(body) if chunked else None
                answer = self.server.post(path, body, headers, chunks=chunks)
                self.assert_stored(scheme, uid, answer, body)
                self.assertEqual(len(self.events()), before + 1, scheme.name)

    def test_e1_exact_bytes_stored_byte_identical_reserialized_rejected(self):
        self.check_exact_bytes(chunked=False)

    def test_e2_chunked_in_odd_places_same_outcome_as_e1(self):
        self.check_exact_bytes(chunked=True)

    # -- E3 -------------------------------------------------------------------------------

    def sized_body(self, scheme, uid, size):
        body = scheme.body(uid)
        body = scheme.body(uid, "p" * (size - len(body)))
        self.assertEqual(len(body), size)
        return body

    def test_e3_body_at_limit_accepted_one_byte_over_is_413_nothing_stored(self):
        for scheme in self.schemes:
            with self.subTest(provider=scheme.name):
                for chunks in (None, [1000, 999, 7]):
                    uid = self.new_uid(scheme)
                    over = self.sized_body(scheme, uid, LIMIT + 1)
                    path, headers = scheme.sign(over, uid)
                    answer = self.server.post(path, over, headers, chunks=chunks)
                    self.assertEqual(answer.status, 413, "%s %r: %r" % (scheme.name, chunks,
                                                                        answer))
                    self.assertNotIn(uid, json.dumps(self.server.events()))
                    at_limit = self.sized_body(scheme, uid, LIMIT)
                    path, headers = scheme.sign(at_limit, uid)
                    answer = self.server.post(path, at_limit, headers, chunks=chunks)
                    self.assert_stored(scheme, uid, answer, at_limit)
        self.assertEqual(len(self.events()), 2 * len(self.schemes))

    # -- E4 -------------------------------------------------------------------------------

    def test_e4_not_json_objects_400_signed_401_unsigned_nothing_stored(self):
        failures = []
        for scheme in self.schemes:
            bodies = NOT_OBJECTS + ([] if scheme.name == "sendgrid" else [b"[]", b'[{"a": 1}]'])
            for body in bodies:
                uid = self.new_uid(scheme)
                signed_path, signed = scheme.sign(body, uid)
                answer = self.server.post(signed_path, body, signed)
                self.collect(failures, "%s %r signed" % (scheme.name, body), answer, 400,
                             "body is not a JSON object")
                path, unsigned = scheme.unsigned(body, uid)
                self.collect(failures, "%s %r unsigned" % (scheme.name, body),
                             self.server.post(path, body, unsigned), 401)
        self.assertEqual(failures, [], "\n".join(failures))
        self.assertEqual(self.server.events(), [])
        self.assertEqual(self.server.runs(), [])

    def test_e4_sendgrid_arrays_that_hold_no_events_are_400(self):
        scheme = next(s for s in self.schemes if s.name == "sendgrid")
        cases = [(b"[]", "body holds no events"), (b"[1]", None), (b'[{"event": "open"}]', None),
                 (b"[{}]", None), (b"{}", None)]
        failures = []
        for body, reason in cases:
            path, headers = scheme.sign(body, "-")
            self.collect(failures, "sendgrid %r" % body, self.server.post(path, body, headers),
                         400, reason)
        self.assertEqual(failures, [], "\n".join(failures))
        self.assertEqual(self.server.events(), [])

    def test_e4_form_content_type_to_json_providers_is_400_form_providers_4xx(self):
        # Standard Webhooks, Shopify and SendGrid send JSON whatever the content type says;
        # GitHub, Slack and hmac sources take forms, whose fields then miss the provider's ids.
        failures = []
        for scheme in self.schemes:
            if scheme.name == "twilio":
                continue  # any form is a Twilio delivery; see test_twilio_form_* below
            for body in (b"1", b"not a json", b"null"):
                uid = self.new_uid(scheme)
                path, headers = scheme.sign(body, uid, content_type=FORM_TYPE)
                answer = self.server.post(path, body, headers)
                self.collect(failures, "%s %r form" % (scheme.name, body), answer,
                             "4xx" if scheme.forms else 400)
        self.assertEqual(failures, [], "\n".join(failures))
        self.assertEqual(self.server.events(), [])

    def collect(self, failures, what, answer, status, reason=None):
        """Appends what is wrong with a rejection: its status, a body other than
        {"error": reason}, or internals in the reason."""
        if status == "4xx":
            status = answer.status if 400 <= answer.status < 500 else 400
        try:
            doc = json.loads(answer.body)
        except ValueError:
            doc = None
        problem = None
        if answer.status != status:
            problem = "status %d, expected %d" % (answer.status, status)
        elif not isinstance(doc, dict) or list(doc) != ["error"]:
            problem = "body is not {\"error\": reason}"
        elif reason is not None and doc["error"] != reason:
            problem = "reason %r, expected %r" % (doc["error"], reason)
        elif any(m in doc["error"].lower() for m in ("exception", "std::", ".cpp", "parse_error",
                                                      "what()", "sqlite")):
            problem = "reason shows internals"
        if problem:
            failures.append("%s: %s: %r" % (what, problem, answer))


class TwilioProxyTest(unittest.TestCase):
    """Twilio signs the URL it called; behind a reverse proxy with no public_url configured,
    that URL comes from the proxy's X-Forwarded-* headers, believed only from a peer in
    server.trusted_proxies."""

    BODY = (b"ToCountry=US&Body=Hello+proxy&From=%2B14155550100&To=%2B14155550111"
            b"&MessageSid=SM00000000000000000000000000proxy1")
    PUBLIC = "https://edge.example.com/webhooks/hooks/sms"

    def server(self, trusted):
        config = {"server": {"public_url": "", "max_body_bytes": LIMIT},
                  "sources": {"sms": {"provider": "twilio", "secrets": [TWILIO_TOKEN],
                                      "event_type": "sms.received"}}}
        if trusted is not None:
            config["server"]["trusted_proxies"] = trusted
        return start_hookflow(self, config=config)

    def headers(self, url, body, token="proxy-0001", prefix="/webhooks"):
        headers = {"Content-Type": FORM_TYPE, "I-Twilio-Idempotency-Token": token,
                   "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, body),
                   "X-Forwarded-Proto": "https", "X-Forwarded-Host": "edge.example.com",
                   "X-Forwarded-For": "203.0.113.7"}
        if prefix:
            headers["X-Forwarded-Prefix"] = prefix
        return headers

    def rejected_reason(self, answer):
        self.assertEqual(answer.status, 401, answer)
        return answer.json()["error"]

    def test_twilio_from_trusted_proxy_verifies_with_forwarded_url(self):
        server = self.server(["10.0.0.0/8", "127.0.0.1", "::1"])
        answer = server.post("/hooks/sms", self.BODY, self.headers(self.PUBLIC, self.BODY))
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual([(e["delivery_id"], e["type"]) for e in server.events()],
                         [("proxy-0001", "sms.received")])
        stored = server.event(answer.json()["event_id"])["body"].encode("utf-8")
        self.assertEqual(stored, self.BODY)

        # The query is part of the signed URL; without a prefix header the path is as received.
        url = "https://edge.example.com/hooks/sms?tenant=a"
        query = self.headers(url, self.BODY, "proxy-0002", prefix=None)
        self.assertEqual(server.post("/hooks/sms?tenant=a", self.BODY, query).status, 200)
        # The proxy's headers decide the URL: signed for another host, refused.
        other = self.headers(self.PUBLIC.replace("edge.", "other."), self.BODY, "proxy-0003")
        self.assertEqual(self.rejected_reason(server.post("/hooks/sms", self.BODY, other)),
                         "no signature matched")
        # A malformed forwarded host is refused with its own reason.
        bad = self.headers(self.PUBLIC, self.BODY, "proxy-0004")
        bad["X-Forwarded-Host"] = "edge.example.com/evil"
        self.assertEqual(self.rejected_reason(server.post("/hooks/sms", self.BODY, bad)),
                         "no public url configured and malformed X-Forwarded-Host")
        # Without X-Forwarded-* a trusted proxy's Host header counts, scheme http.
        plain = {"Content-Type": FORM_TYPE, "I-Twilio-Idempotency-Token": "proxy-0005",
                 "X-Twilio-Signature": twilio_signature(
                     TWILIO_TOKEN, "http://127.0.0.1:%d/hooks/sms" % server.port, self.BODY)}
        self.assertEqual(server.post("/hooks/sms", self.BODY, plain).status, 200)
        self.assertEqual(sorted(e["delivery_id"] for e in server.events()),
                         ["proxy-0001", "proxy-0002", "proxy-0005"])

    def test_twilio_forwarded_headers_from_untrusted_peer_rejected_nothing_stored(self):
        server = self.server(["10.0.0.0/8", "192.0.2.1"])
        answer = server.post("/hooks/sms", self.BODY, self.headers(self.PUBLIC, self.BODY))
        self.assertEqual(self.rejected_reason(answer),
                         "no public url configured and peer is not a trusted proxy")
        # Nor is the Host header of an untrusted peer used as the signed URL.
        local = {"Content-Type": FORM_TYPE,
                 "X-Twilio-Signature": twilio_signature(
                     TWILIO_TOKEN, "http://127.0.0.1:%d/hooks/sms" % server.port, self.BODY)}
        self.assertEqual(self.rejected_reason(server.post("/hooks/sms", self.BODY, local)),
                         "no public url configured and peer is not a trusted proxy")
        self.assertEqual(server.events(), [])
        rejected = [line for line in server.lines() if "delivery rejected" in line]
        self.assertEqual(len(rejected), 2, server.output())
        self.assertIn("peer is not a trusted proxy", rejected[0])

    def test_twilio_without_trusted_proxies_or_public_url_rejected(self):
        server = self.server(None)
        answer = server.post("/hooks/sms", self.BODY, self.headers(self.PUBLIC, self.BODY))
        self.assertEqual(self.rejected_reason(answer), "no public url configured")
        self.assertEqual(server.events(), [])

    def test_bad_trusted_proxies_entry_stops_start_with_line_and_column(self):
        server = self.server(None)
        server.stop()
        with open(server.config_path) as f:
            text = f.read()
        text = text.replace("  public_url: \"\"\n",
                            "  public_url: \"\"\n  trusted_proxies: [127.0.0.1, 10.0.0.0/33]\n")
        with open(server.config_path, "w") as f:
            f.write(text)
        lines = text.splitlines()
        line = lines.index("  trusted_proxies: [127.0.0.1, 10.0.0.0/33]")
        column = lines[line].index("10.0.0.0/33") + 1
        code, out, err = server.cli("validate")
        self.assertNotEqual(code, 0, out + err)
        self.assertIn("hookflow.yaml:%d:%d: server.trusted_proxies[1]: expected an IPv4 or IPv6 "
                      "address or CIDR range (10.0.0.0/8), got '10.0.0.0/33'"
                      % (line + 1, column), out + err)


if __name__ == "__main__":
    unittest.main()
