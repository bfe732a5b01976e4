"""Inputs that broke hookflow once, each named for what was sent (found by a bad-input review)."""

import unittest

from harness import (
    fixture_path,
    path_of,
    start_hookflow,
    start_mock,
    stripe_event,
    stripe_headers,
)

CHARGE_WORKFLOW = fixture_path("workflows", "charge-failed-tag-customer.yaml")


class RegressionTest(unittest.TestCase):
    def test_signed_body_nested_150000_levels_is_400_and_server_keeps_serving(self):
        server = start_hookflow(self, workflows=[CHARGE_WORKFLOW])
        body = (b'{"id":"evt_deep","type":"charge.failed","n":' + b"[" * 150000 + b"]" * 150000
                + b"}")
        answer = server.post("/hooks/stripe", body, stripe_headers(body))
        self.assertEqual(answer.status, 400, answer)
        self.assertEqual(answer.json(), {"error": "body is nested too deeply"})
        self.assertEqual(server.events(), [])
        self.assertEqual(server.request("GET", "/healthz").status, 200)

    def test_signed_stripe_body_sent_as_a_form_is_400_and_not_stored(self):
        server = start_hookflow(self, workflows=[CHARGE_WORKFLOW])
        body = b"a=b&id=evt_form&type=charge.failed"
        headers = stripe_headers(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = server.post("/hooks/stripe", body, headers)
        self.assertEqual(answer.status, 400, answer)
        self.assertEqual(answer.json(), {"error": "body is not a JSON object"})
        self.assertEqual(server.events(), [])

    def test_crlf_in_event_data_is_not_sent_into_a_request_line(self):
        mock = start_mock(self)
        server = start_hookflow(self, mock=mock, workflows=[CHARGE_WORKFLOW])
        customer = "cus_x\r\nX-Injected: 1\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: y"
        body = stripe_event("evt_crlf", "charge.failed", {
            "id": "ch_crlf", "object": "charge", "status": "failed", "amount": 100,
            "customer": customer, "failure_code": "card_declined"})
        self.assertEqual(server.post("/hooks/stripe", body, stripe_headers(body)).status, 200)
        runs = server.wait_runs(lambda rs: rs and rs[0]["status"] == "dead", what="a dead run")
        self.assertIn("control character", runs[0]["last_error"])
        self.assertEqual([path_of(r) for r in mock.snapshot()], [])


if __name__ == "__main__":
    unittest.main()
