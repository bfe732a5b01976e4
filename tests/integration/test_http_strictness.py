"""The listener's strictness, from raw sockets: malformed chunked framing, a Transfer-Encoding
other than a single `chunked` (request smuggling), trailers, duplicate admin tokens and
repeated or empty admin parameters, accept errors when the process is out of descriptors,
resource-sizing config keys out of bounds, and CLI usage errors."""

import json
import os
import resource
import socket
import time
import unittest

from harness import (
    STRIPE_SECRET,
    fixture_bytes,
    request,
    start_hookflow,
    stripe_headers,
)

INVOICE = fixture_bytes("payloads", "stripe", "invoice.payment_failed.json")
TOKEN = "admin-token-hookflow-integration"  # the default config's admin.token
SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def exchange(port, raw, timeout=8.0):
    """Sends raw bytes and reads until the server closes; returns (bytes read, closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data = b""
    closed = False
    try:
        sock.sendall(raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                piece = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not piece:
                closed = True
                break
            data += piece
    finally:
        sock.close()
    return data, closed


def head(body, extra_headers, signed=True):
    """The request line and headers of a signed POST to /hooks/stripe."""
    headers = dict(stripe_headers(body)) if signed else {}
    headers.update(extra_headers)
    text = "POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    text += "".join("%s: %s\r\n" % (k, v) for k, v in headers.items())
    return (text + "\r\n").encode()


def chunked(body):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


class HttpStrictnessTest(unittest.TestCase):
    def setUp(self):
        self.server = start_hookflow(self)

    def assert_refused(self, raw, status=400, error=None):
        """One answer with `status` (and `error`), the connection closed, nothing stored."""
        data, closed = exchange(self.server.port, raw)
        self.assertTrue(data.startswith(b"HTTP/1.1 %d " % status), data[:300])
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)
        self.assertTrue(closed, data)
        if error is not None:
            body = data.split(b"\r\n\r\n", 1)[1]
            self.assertEqual(json.loads(body), {"error": error}, data)
        self.assertEqual(self.server.events(), [])
        self.assertEqual(request(self.server.port, "GET", "/healthz").status, 200)
        return data

    # -- chunked framing ------------------------------------------------------------------

    def test_chunk_size_not_hex_gets_400(self):
        raw = head(INVOICE, {"Transfer-Encoding": "chunked"}) + b"zz\r\n" + INVOICE + b"\r\n0\r\n\r\n"
        self.assert_refused(raw, 400, "malformed request")

    def test_chunk_size_overflow_gets_400(self):
        raw = head(INVOICE, {"Transfer-Encoding": "chunked"}) + b"ffffffffffffffffffff\r\nab\r\n"
        self.assert_refused(raw, 400, "malformed request")

    def test_chunk_data_without_crlf_gets_400(self):
        raw = head(INVOICE, {"Transfer-Encoding": "chunked"})
        raw += b"%x\r\n%sXX0\r\n\r\n" % (len(INVOICE), INVOICE)
        self.assert_refused(raw, 400, "malformed request")

    def test_well_formed_chunked_body_is_still_accepted(self):
        raw = head(INVOICE, {"Transfer-Encoding": "chunked", "Connection": "close"})
        data, _ = exchange(self.server.port, raw + chunked(INVOICE))
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:300])

    # -- Transfer-Encoding (RFC 9112 6.3) -------------------------------------------------

    def test_transfer_encoding_other_than_chunked_gets_400_and_no_smuggled_request(self):
        for coding in ("gzip", "chunked, identity", "xchunked", "gzip, chunked", "identity"):
            with self.subTest(coding=coding):
                raw = head(SMUGGLED, {"Transfer-Encoding": coding}) + SMUGGLED
                self.assert_refused(raw, 400, "unsupported transfer encoding")

    def test_two_transfer_encoding_headers_get_400(self):
        raw = head(INVOICE, {})[:-2] + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        self.assert_refused(raw + chunked(INVOICE), 400)

    def test_transfer_encoding_with_content_length_gets_400_either_order(self):
        body = chunked(INVOICE)
        te_first = head(INVOICE, {"Transfer-Encoding": "chunked", "Content-Length": len(body)})
        cl_first = head(INVOICE, {"Content-Length": len(body), "Transfer-Encoding": "chunked"})
        gzip_first = head(INVOICE, {"Transfer-Encoding": "gzip", "Content-Length": len(body)})
        for raw in (te_first, cl_first, gzip_first):
            with self.subTest(raw=raw[-80:]):
                self.assert_refused(raw + body, 400)

    # -- trailers -------------------------------------------------------------------------

    def test_signature_sent_only_in_a_trailer_is_refused(self):
        signature = stripe_headers(INVOICE)["Stripe-Signature"]
        raw = head(INVOICE, {"Transfer-Encoding": "chunked"}, signed=False)
        raw += b"%x\r\n%s\r\n0\r\nStripe-Signature: %s\r\n\r\n" % (
            len(INVOICE), INVOICE, signature.encode())
        self.assert_refused(raw, 400, "trailers are not accepted")

    def test_large_trailer_is_refused(self):
        raw = head(INVOICE, {"Transfer-Encoding": "chunked"})
        raw += b"%x\r\n%s\r\n0\r\nX-Pad: %s\r\n\r\n" % (len(INVOICE), INVOICE, b"a" * 30000)
        self.assert_refused(raw, 400, "trailers are not accepted")

    # -- admin API ------------------------------------------------------------------------

    def admin(self, target, auth_headers):
        raw = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % target
        raw += "".join("Authorization: %s\r\n" % value for value in auth_headers) + "\r\n"
        data, _ = exchange(self.server.port, raw.encode())
        status = int(data.split(b" ", 2)[1])
        return status, json.loads(data.split(b"\r\n\r\n", 1)[1])

    def test_admin_duplicate_authorization_gets_401_in_either_order(self):
        good, bad = "Bearer " + TOKEN, "Bearer wrong-token"
        self.assertEqual(self.admin("/api/events", [good])[0], 200)
        for headers in ([good, bad], [bad, good], [good, good]):
            with self.subTest(headers=headers):
                self.assertEqual(self.admin("/api/events", headers)[0], 401)

    def test_admin_empty_or_repeated_parameters_get_400(self):
        auth = ["Bearer " + TOKEN]
        cases = {
            "/api/events?limit=": "query parameter 'limit' has no value",
            "/api/runs?status=": "query parameter 'status' has no value",
            "/api/events?limit=1&limit=2": "query parameter 'limit' is repeated",
            "/api/runs?status=dead&status=failed": "query parameter 'status' is repeated",
        }
        for target, error in cases.items():
            with self.subTest(target=target):
                self.assertEqual(self.admin(target, auth), (400, {"error": error}))


class AcceptBackoffTest(unittest.TestCase):
    def test_out_of_descriptors_backs_off_and_recovers(self):
        def low_fd_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        server = start_hookflow(self, preexec=low_fd_limit)
        sockets = []
        try:
            for _ in range(100):
                sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            time.sleep(3)
        finally:
            for sock in sockets:
                sock.close()
        failures = [line for line in server.lines() if "accept failed" in line]
        self.assertGreater(len(failures), 0, server.output()[-2000:])
        self.assertLess(len(failures), 50, failures[:5])
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            try:
                status = request(server.port, "GET", "/healthz").status
                break
            except OSError:
                time.sleep(0.2)
        self.assertEqual(status, 200, server.output()[-2000:])


class ConfigBoundsTest(unittest.TestCase):
    def validate(self, extra):
        from harness import Hookflow
        server = Hookflow(config=extra)
        self.addCleanup(server.cleanup)
        return server.cli("validate")

    def test_resource_sizing_keys_out_of_bounds_fail_validate_with_a_position(self):
        cases = [
            ({"server": {"threads": 100000000}}, "server.threads: must be at most 256"),
            ({"engine": {"workers": 100000000}}, "engine.workers: must be at most 4096"),
            ({"log": {"max_files": 100000000}}, "log.max_files: must be at most 1000"),
        ]
        for extra, message in cases:
            with self.subTest(message=message):
                code, out, err = self.validate(extra)
                self.assertEqual(code, 1, out + err)
                self.assertRegex(err + out, r"hookflow\.yaml:\d+:\d+: " + message)

    def test_threads_at_the_bound_still_validate(self):
        code, out, err = self.validate({"server": {"threads": 256}})
        self.assertEqual(code, 0, out + err)


class CliUsageTest(unittest.TestCase):
    def cli(self, *args):
        from harness import Hookflow
        server = Hookflow()
        self.addCleanup(server.cleanup)
        return server.cli(*args)

    def test_unknown_option_exits_1_and_names_it(self):
        code, out, err = self.cli("--bogus")
        self.assertEqual(code, 1, out + err)
        self.assertIn("--bogus", err)

    def test_usage_errors_exit_1(self):
        for args in ((), ("nosuchcommand",), ("events", "list", "--limit", "x")):
            with self.subTest(args=args):
                code, out, err = self.cli(*args)
                self.assertEqual(code, 1, (args, out, err))

    def test_test_command_usage_error_keeps_exit_2(self):
        code, out, err = self.cli("test")
        self.assertEqual(code, 2, out + err)

    def test_help_exits_0(self):
        code, out, _ = self.cli("--help")
        self.assertEqual(code, 0)
        self.assertIn("hookflow", out)


if __name__ == "__main__":
    unittest.main()
