#!/usr/bin/env python3
"""Benchmark: how fast hookflow accepts signed deliveries, and how fast it runs workflows.

Starts the real `hookflow` binary on loopback in a temp dir (nothing outside it is touched),
then measures two things and prints the figures:

  ingest     N signed Stripe events posted by C keep-alive clients; every answer must be 200.
             Prints deliveries per second and answer latency percentiles. Each 200 means the
             event was committed to SQLite with synchronous=FULL, so this is also the
             durable-commit rate.
  end-to-end the same kind of events start a one-step workflow (`http.request` to a loopback
             mock that answers at once); prints runs finished per second from the first
             delivery to the last run's success.

Usage: scripts/bench.py [--bin build/hookflow] [--events 2000] [--clients 8]

The clients are Python threads on the same machine: on 2 cores they take CPU from the
server, so the figures are a floor, not a ceiling.
"""

import argparse
import http.client
import json
import os
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402

WORKFLOW = """name: bench-notify
on:
  source: stripe
  events: [invoice.payment_failed]
steps:
  - id: notify
    uses: http.request
    with:
      method: POST
      url: {base}/notify
      json:
        invoice: ${{{{ event.data.object.id }}}}
"""


def percentile(sorted_values, fraction):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def post_many(port, bodies, latencies, failures):
    """One keep-alive client posting its share of bodies in order."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for body in bodies:
        headers = harness.stripe_headers(body)
        started = time.perf_counter()
        conn.request("POST", "/hooks/stripe", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            failures.append(response.status)
    conn.close()


def deliver_all(port, prefix, count, clients):
    """Posts `count` events over `clients` connections; returns (seconds, latencies)."""
    bodies = [harness.stripe_event("evt_%s_%06d" % (prefix, i), "invoice.payment_failed",
                                   {"id": "in_%s_%06d" % (prefix, i), "customer": "cus_bench"})
              for i in range(count)]
    shares = [bodies[i::clients] for i in range(clients)]
    latencies, failures = [], []
    threads = [threading.Thread(target=post_many, args=(port, share, latencies, failures))
               for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit("%d deliveries were not answered 200: %s" % (len(failures),
                                                                     sorted(set(failures))))
    return elapsed, sorted(latencies)


def print_ingest(label, count, clients, elapsed, latencies):
    ms = [v * 1000 for v in latencies]
    print("%-10s %d events, %d clients: %.0f deliveries/s; answer ms p50 %.2f p90 %.2f "
          "p99 %.2f max %.2f" % (label, count, clients, count / elapsed, percentile(ms, 0.5),
                                 percentile(ms, 0.9), percentile(ms, 0.99), ms[-1]))


def count_succeeded(db_path):
    with sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5) as db:
        return db.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'").fetchone()[0]


def bench_ingest(args):
    server = harness.Hookflow()
    try:
        server.start()
        elapsed, latencies = deliver_all(server.port, "ingest", args.events, args.clients)
        print_ingest("ingest", args.events, args.clients, elapsed, latencies)
    finally:
        server.cleanup()


def bench_end_to_end(args):
    mock = harness.MockApi()
    server = None
    try:
        mock.route("POST", "/notify", 200, body={"ok": True})
        server = harness.Hookflow(mock=mock, config={"engine": {"workers": 16}})
        with open(os.path.join(server.workflows_dir, "bench.yaml"), "w") as f:
            f.write(WORKFLOW.format(base=mock.base))
        server.start()
        db_path = server.config["storage"]["sqlite"]
        started = time.perf_counter()
        elapsed, latencies = deliver_all(server.port, "e2e", args.events, args.clients)
        print_ingest("e2e-ingest", args.events, args.clients, elapsed, latencies)
        deadline = time.monotonic() + 600
        done = 0
        while done < args.events and time.monotonic() < deadline:
            time.sleep(0.1)
            done = count_succeeded(db_path)
        total = time.perf_counter() - started
        print("%-10s %d runs succeeded in %.2f s: %.0f runs/s (one http.request step each)"
              % ("end-to-end", done, total, done / total))
        if done < args.events:
            raise SystemExit("only %d of %d runs succeeded" % (done, args.events))
    finally:
        if server:
            server.cleanup()
        mock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    parser.add_argument("--bin", default=os.path.join(root, "build", "hookflow"))
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    harness.HOOKFLOW_BIN = os.path.abspath(args.bin)
    print("hookflow benchmark: %s, %d cores" % (harness.HOOKFLOW_BIN, os.cpu_count()))
    bench_ingest(args)
    bench_end_to_end(args)


if __name__ == "__main__":
    main()
