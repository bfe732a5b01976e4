"""The inputs from tests/fixtures/edge-cases.md that concern ingest: E1, E2, E3, E4, E9."""

# Limitation: E5-E8 and E10 (retries, locked store, ordering, Slack retries, rate limits) are
# not covered here yet.

import hashlib
import json
import time
import unittest

from harness import (
    STRIPE_SECRET,
    fixture_bytes,
    sign_stripe,
    start_hookflow,
    stream_post,
    stripe_headers,
)

E1_SECRET = "whsec_FAKEnew000000000000000000000000"
E1_BODY = (
    '{\n'
    '  "id": "evt_FAKE0001",\n'
    '  "object": "event",\n'
    '  "type": "customer.updated",\n'
    '  "data": {\n'
    '    "object": {\n'
    '      "id": "cus_FAKE0001",\n'
    '      "name": "Zo\u00eb \U0001F600",\n'
    '      "description": "a\\u2028b",\n'
    '      "amount": 1.50\n'
    '    }\n'
    '  }\n'
    '}\n'
).encode("utf-8")
E1_SHA256 = "aa7c62d7e2d5ed6dd431497ed469e21e04c98475bc2f1208fd3b4cf906a60baa"
E1_HEADER_AT_1700000000 = (
    "t=1700000000,v1=83b13908f3dd09352b9369cfc4e7eab4552eaa48edb82949061524714805d84f"
)
# What a receiver that parses and re-serializes would verify instead of the bytes received.
E1_COMPACT = json.dumps(json.loads(E1_BODY), separators=(",", ":"), ensure_ascii=False).encode()

INTERNAL_MARKERS = ("exception", "std::", ".cpp", ".hpp", "terminate", "traceback",
                    "parse_error", "what()", "sqlite", "boost")


class EdgeCaseTest(unittest.TestCase):
    def test_e1_vectors_are_what_edge_cases_md_states(self):
        # Guards the test data itself: the bytes, hash and signature of E1 as written there.
        self.assertEqual(len(E1_BODY), 226)
        self.assertEqual(hashlib.sha256(E1_BODY).hexdigest(), E1_SHA256)
        self.assertEqual(sign_stripe(E1_SECRET, E1_BODY, 1700000000), E1_HEADER_AT_1700000000)
        self.assertNotEqual(E1_COMPACT, E1_BODY)

    def e1_server(self):
        return start_hookflow(self, config={"sources": {"stripe": {"secrets": [E1_SECRET]}}})

    def check_e1(self, chunks):
        server = self.e1_server()
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Stripe-Signature": sign_stripe(E1_SECRET, E1_BODY, int(time.time()))}
        # First the re-serialized body under the original's signature: rejected, nothing stored.
        forged = server.post("/hooks/stripe", E1_COMPACT, headers, chunks=chunks and [64, 64])
        self.assertEqual(forged.status, 401, forged)
        self.assertEqual(server.events(), [])
        # Then the exact bytes: accepted and stored byte for byte.
        answer = server.post("/hooks/stripe", E1_BODY, headers, chunks=chunks)
        self.assertEqual(answer.status, 200, answer)
        doc = answer.json()
        self.assertEqual(doc["status"], "accepted", doc)
        events = server.events()
        self.assertEqual([(e["id"], e["delivery_id"], e["type"]) for e in events],
                         [(doc["event_id"], "evt_FAKE0001", "customer.updated")])
        shown = server.event(doc["event_id"])
        self.assertIsInstance(shown["body"], str)
        stored = shown["body"].encode("utf-8")
        self.assertEqual(hashlib.sha256(stored).hexdigest(), E1_SHA256,
                         "stored body differs: %r" % stored)

    def test_e1_exact_bytes_accepted_and_stored_byte_identical_reserialized_rejected(self):
        self.check_e1(chunks=None)

    def test_e2_chunked_without_content_length_same_outcome_as_e1(self):
        self.check_e1(chunks=[64, 64, 98])

    # Limitation: E3's "memory flat" is not measured; the test checks the 413 comes before the
    # body ends, which a server buffering the whole body could not do.
    def test_e3_chunked_3mib_over_1mib_limit_is_413_early_and_closed(self):
        server = start_hookflow(self, config={"server": {"max_body_bytes": 1048576}})
        chunk = b"x" * 65536
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        pieces = [framed] * 48  # 3 MiB
        headers = {"Content-Type": "application/json",
                   "Transfer-Encoding": "chunked",
                   "Stripe-Signature": sign_stripe(STRIPE_SECRET, b"{}", int(time.time()))}
        result = stream_post(server.port, "/hooks/stripe", headers, pieces,
                             terminator=b"0\r\n\r\n", pause=0.005)
        self.assertEqual(result.status, 413, result)
        self.assertTrue(result.answered_early,
                        "413 came only after the whole 3 MiB body: %r" % result)
        self.assertTrue(result.closed, "connection not closed after 413: %r" % result)
        self.assertEqual(server.events(), [])
        # The server is still fine afterwards.
        self.assertEqual(server.request("GET", "/healthz").status, 200)

    # Limitation: E4's "rejection counted by reason" is not checked (no metrics format to
    # assert against yet).
    def test_e4_non_object_bodies_are_401_unsigned_400_signed_never_5xx_nothing_stored(self):
        server = start_hookflow(self)
        bodies = [b"1", b"[]", b'"x"', b"null", b"not a json"]
        types = ["application/json", "application/x-www-form-urlencoded"]
        failures = []
        for body in bodies:
            for content_type in types:
                for signing, expected in (("none", 401), ("wrong", 401), ("valid", 400)):
                    headers = {"Content-Type": content_type}
                    if signing == "wrong":
                        headers["Stripe-Signature"] = sign_stripe("whsec_wrong", body,
                                                                  int(time.time()))
                    elif signing == "valid":
                        headers.update(stripe_headers(body))
                        headers["Content-Type"] = content_type
                    answer = server.post("/hooks/stripe", body, headers)
                    problem = self.e4_problem(answer, expected)
                    if problem:
                        failures.append("%r %s %s signature: %s: %r"
                                        % (body, content_type, signing, problem, answer))
        self.assertEqual(failures, [], "\n".join(failures))
        self.assertEqual(server.events(), [])
        self.assertEqual(server.runs(), [])

    def e4_problem(self, answer, expected):
        if answer.status != expected:
            return "status %d, expected %d" % (answer.status, expected)
        try:
            doc = json.loads(answer.body)
        except ValueError:
            return "body is not JSON"
        if not isinstance(doc, dict) or list(doc) != ["error"] or not isinstance(doc["error"], str):
            return "body is not {\"error\": reason}"
        reason = doc["error"].lower()
        leaked = [m for m in INTERNAL_MARKERS if m in reason]
        if leaked or len(reason) > 200:
            return "reason shows internals: %s" % leaked
        return None

    def test_e9_checkout_completed_without_signature_header_is_401_nothing_stored(self):
        server = start_hookflow(self)
        body = fixture_bytes("payloads", "stripe", "checkout.session.completed.json")
        answer = server.post("/hooks/stripe", body, {"Content-Type": "application/json"})
        self.assertEqual(answer.status, 401, answer)
        self.assertEqual(list(json.loads(answer.body)), ["error"], answer)
        self.assertEqual(server.events(), [])
        self.assertEqual(server.runs(), [])


if __name__ == "__main__":
    unittest.main()
