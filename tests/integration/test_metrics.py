"""GET /metrics: every line parses as Prometheus text format 0.0.4, and the counters move by
exactly what known traffic should move them by."""

import math
import re
import unittest

from test_admin_api import JSON, workflow_file

from harness import request, start_hookflow, start_mock, stripe_event, stripe_headers

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (?P<value>\S+)$" % (NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def parse_value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    return float(text)  # raises on anything that is not a number


def parse_labels(text):
    if not text:
        return ()
    labels = re.findall(LABEL, text[1:-1])
    names = [name for name, _ in labels]
    if len(names) != len(set(names)):
        raise ValueError("repeated label in " + text)
    unescaped = [(n, v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\"))
                 for n, v in labels]
    return tuple(sorted(unescaped))


def parse_exposition(text):
    """Parses the text format strictly. Returns {family: {"type", "help", "samples"}} with
    samples as {(name, labels): value}; raises AssertionError on any line that does not fit."""
    if not text.endswith("\n"):
        raise AssertionError("exposition does not end with a newline")
    families, current = {}, None
    for number, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (number, line)
        if line.startswith("# HELP "):
            match = HELP.match(line)
            assert match, where
            current = families.setdefault(match.group(1), {"samples": {}})
            assert "help" not in current, "second HELP, " + where
            current["help"] = match.group(2)
            continue
        if line.startswith("# TYPE "):
            match = TYPE.match(line)
            assert match, where
            assert match.group(1) in families and not families[match.group(1)]["samples"], \
                "TYPE must follow HELP and come before samples, " + where
            current = families[match.group(1)]
            current["type"] = match.group(2)
            continue
        assert line and not line.startswith("#"), "unexpected line, " + where
        match = SAMPLE.match(line)
        assert match, where
        name, labels, value = match.group(1), parse_labels(match.group(2)), match.group("value")
        assert current is not None and "type" in current, "sample before TYPE, " + where
        family_name = [f for f, d in families.items() if d is current][0]
        allowed = {family_name}
        if current["type"] == "histogram":
            allowed = {family_name + s for s in ("_bucket", "_sum", "_count")}
        assert name in allowed, "sample %s outside its family %s, %s" % (name, family_name, where)
        key = (name, labels)
        assert key not in current["samples"], "repeated sample, " + where
        current["samples"][key] = parse_value(value)
    for name, family in families.items():
        assert "help" in family and "type" in family, name
        assert name.startswith("hookflow_"), name
        if family["type"] == "counter":
            assert name.endswith("_total"), name
            assert all(v >= 0 for v in family["samples"].values()), name
        if family["type"] == "histogram":
            check_histogram(name, family["samples"])
    return families


def check_histogram(name, samples):
    """Buckets per series: cumulative, `le` increasing, +Inf equal to _count."""
    series = {}
    for (sample, labels), value in samples.items():
        if sample == name + "_bucket":
            le = dict(labels)["le"]
            rest = tuple(l for l in labels if l[0] != "le")
            series.setdefault(rest, {"buckets": []})["buckets"].append((parse_value(le), value))
        else:
            series.setdefault(labels, {"buckets": []})[sample[len(name):]] = value
    for labels, parts in series.items():
        buckets = sorted(parts["buckets"])
        assert buckets and math.isinf(buckets[-1][0]), (name, labels, "no +Inf bucket")
        counts = [count for _, count in buckets]
        assert counts == sorted(counts), (name, labels, "buckets not cumulative", counts)
        assert counts[-1] == parts["_count"], (name, labels, "+Inf != _count")
        assert "_sum" in parts, (name, labels, "no _sum")


def value(families, family, sample=None, **labels):
    samples = families.get(family, {"samples": {}})["samples"]
    return samples.get((sample or family, tuple(sorted(labels.items()))), 0.0)


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.mock = start_mock(self)
        self.server = start_hookflow(self, mock=self.mock, workflows=[workflow_file(self)])

    def scrape(self):
        answer = request(self.server.port, "GET", "/metrics")
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        return parse_exposition(answer.body.decode("utf-8"))

    def test_the_exposition_parses_and_names_every_family_once(self):
        families = self.scrape()
        for name, kind in (("hookflow_deliveries_total", "counter"),
                           ("hookflow_verification_failures_total", "counter"),
                           ("hookflow_runs", "gauge"),
                           ("hookflow_run_duration_seconds", "histogram"),
                           ("hookflow_step_duration_seconds", "histogram"),
                           ("hookflow_steps_total", "counter"),
                           ("hookflow_store_commit_seconds", "histogram"),
                           ("hookflow_store_commit_batch_size", "histogram"),
                           ("hookflow_store_commit_failures_total", "counter"),
                           ("hookflow_rest_connections_opened_total", "counter")):
            self.assertEqual(families[name]["type"], kind, name)
        # Every status has a queue series from the first scrape on, zero when empty.
        for status in ("queued", "running", "succeeded", "failed", "dead", "stale", "cancelled"):
            self.assertEqual(value(families, "hookflow_runs", status=status), 0.0, status)
        answer = request(self.server.port, "POST", "/metrics")
        self.assertEqual(answer.status, 405)

    def test_counters_move_by_exactly_the_traffic_sent(self):
        before = self.scrape()
        ids = ["evt_metrics_%d" % i for i in range(3)]
        for event_id in ids:
            for step in ("first", "second"):
                self.mock.route("GET", "/stripe/v1/%s/%s" % (step, event_id), 200, JSON, {})
        bodies = [stripe_event(event_id, "invoice.paid") for event_id in ids]
        for body in bodies:
            self.assertEqual(self.server.post("/hooks/stripe", body,
                                              stripe_headers(body)).json()["status"], "accepted")
        duplicate = self.server.post("/hooks/stripe", bodies[0], stripe_headers(bodies[0]))
        self.assertEqual(duplicate.json()["status"], "duplicate")
        for i in range(2):
            body = stripe_event("evt_forged_%d" % i, "invoice.paid")
            forged = self.server.post("/hooks/stripe", body,
                                      stripe_headers(body, "whsec_wrong_secret"))
            self.assertEqual(forged.status, 401)
        self.server.wait_run_finished(3)
        after = self.scrape()

        def moved(family, sample=None, **labels):
            return value(after, family, sample, **labels) - value(before, family, sample,
                                                                   **labels)

        self.assertEqual(moved("hookflow_deliveries_total", source="stripe",
                               outcome="accepted"), 3)
        self.assertEqual(moved("hookflow_deliveries_total", source="stripe",
                               outcome="duplicate"), 1)
        self.assertEqual(moved("hookflow_deliveries_total", source="stripe",
                               outcome="rejected", reason="signature"), 2)
        self.assertEqual(moved("hookflow_verification_failures_total", source="stripe",
                               reason="no_signature_matched"), 2)
        self.assertEqual(value(after, "hookflow_runs", status="succeeded"), 3)
        self.assertEqual(value(after, "hookflow_runs", status="queued"), 0)
        self.assertEqual(moved("hookflow_steps_total", connector="stripe", action="request",
                               outcome="succeeded", status_class="2xx"), 6)
        self.assertEqual(moved("hookflow_step_duration_seconds",
                               "hookflow_step_duration_seconds_count",
                               connector="stripe", action="request"), 6)
        self.assertEqual(moved("hookflow_run_duration_seconds",
                               "hookflow_run_duration_seconds_count",
                               workflow="admin-probe", status="succeeded"), 3)
        # Each accepted delivery and each step save is a write; commits carry them in batches.
        commits = moved("hookflow_store_commit_seconds", "hookflow_store_commit_seconds_count")
        writes = moved("hookflow_store_commit_batch_size",
                       "hookflow_store_commit_batch_size_sum")
        self.assertGreaterEqual(commits, 1)
        self.assertGreaterEqual(writes, 4 + 3 * 2 * 2 + 3)  # enqueues, step saves, finishes
        self.assertGreaterEqual(moved("hookflow_rest_connections_opened_total",
                                      host="127.0.0.1"), 1)
        self.assertEqual(value(after, "hookflow_store_commit_failures_total"), 0)

    def test_unknown_sources_share_one_label_value(self):
        for name in ("nope-a", "nope-b"):
            self.assertEqual(self.server.post("/hooks/" + name, b"{}", {}).status, 404)
        families = self.scrape()
        self.assertEqual(value(families, "hookflow_deliveries_total", source="_unknown",
                               outcome="rejected", reason="unknown_source"), 2)
        text = request(self.server.port, "GET", "/metrics").body.decode()
        self.assertNotIn("nope-a", text)

    def test_the_parser_refuses_malformed_expositions(self):
        for bad in ("hookflow_x_total 1\n",  # no HELP/TYPE
                    "# HELP hookflow_x_total h\n# TYPE hookflow_x_total counter\n"
                    "hookflow_x_total{a=\"1\"} one\n",
                    "# HELP hookflow_h h\n# TYPE hookflow_h histogram\n"
                    "hookflow_h_bucket{le=\"1\"} 2\nhookflow_h_bucket{le=\"+Inf\"} 1\n"
                    "hookflow_h_sum 1\nhookflow_h_count 1\n",
                    "# HELP hookflow_g g\n# TYPE hookflow_g gauge\nhookflow_g{a=\"x\n",
                    "# HELP hookflow_g g\n# TYPE hookflow_g gauge\nhookflow_g 1"):
            with self.assertRaises((AssertionError, ValueError), msg=bad):
                parse_exposition(bad)


if __name__ == "__main__":
    unittest.main()
