"""A real nginx (Debian's) in front of hookflow, with the locations of
deploy/nginx/hookflow-locations.conf: deliveries pass through, and the access log shows the
client address from X-Forwarded-For only as far as the proxies are trusted."""

import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import REPO_ROOT, start_hookflow, stripe_event, stripe_headers

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
LOCATIONS = os.path.join(REPO_ROOT, "deploy", "nginx", "hookflow-locations.conf")

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream hookflow {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include {locations};
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_from(source_ip, port, path, body, headers):
    """POSTs from a chosen loopback address (127.0.0.2 is an untrusted client)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15,
                                      source_address=(source_ip, 0))
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Nginx:
    def __init__(self, upstream_port):
        self.dir = tempfile.mkdtemp(prefix="hookflow-nginx-")
        os.chmod(self.dir, 0o755)  # workers may run as another user when we are root
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, upstream=upstream_port, port=self.port,
                                      locations=LOCATIONS))
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir, "-c", self.conf, "-e", os.path.join(self.dir, "error.log")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._wait_listening()

    def _wait_listening(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: %s\n%s" % (self.proc.stdout.read(),
                                                             self.error_log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen:\n" + self.error_log())

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to the master: fast shutdown of it and its workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def access_lines(server, path="/hooks/stripe"):
    return [l for l in server.lines() if "http request method=POST path=%s " % path in l]


def wait_access_lines(server, count):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = access_lines(server)
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return access_lines(server)


@unittest.skipIf(NGINX is None,
                 "nginx is not installed (scripts/install-deps.sh installs Debian's nginx)")
class NginxProxyTest(unittest.TestCase):
    def start(self, trusted):
        server = start_hookflow(self, config={"server": {"trusted_proxies": trusted}})
        nginx = Nginx(server.port)
        self.addCleanup(nginx.stop)
        return server, nginx

    def test_delivery_through_nginx_is_accepted_and_logged_with_the_forwarded_client(self):
        server, nginx = self.start(["127.0.0.1"])
        body = stripe_event("evt_nginx_1", "invoice.paid")
        headers = dict(stripe_headers(body), **{"X-Forwarded-For": "198.51.100.7"})
        # From 127.0.0.1, itself a trusted address (like an inner proxy): nginx appends it,
        # hookflow skips both trusted hops and shows the address that proxy forwarded.
        status, answer = post_from("127.0.0.1", nginx.port, "/hooks/stripe", body, headers)
        self.assertEqual(status, 200, answer)
        self.assertIn(b'"status":"accepted"', answer)
        self.assertIn("evt_nginx_1", {e["delivery_id"] for e in server.events()})
        lines = wait_access_lines(server, 1)
        self.assertEqual(len(lines), 1, server.output()[-3000:])
        self.assertIn(" http_status=200 ", lines[0])
        self.assertIn(" client=198.51.100.7 ", lines[0])

    def test_spoofed_forwarded_for_from_an_untrusted_client_behind_nginx_is_ignored(self):
        server, nginx = self.start(["127.0.0.1"])
        body = stripe_event("evt_nginx_2", "invoice.paid")
        headers = dict(stripe_headers(body), **{"X-Forwarded-For": "198.51.100.7"})
        # 127.0.0.2 is not trusted: nginx appends it, and hookflow stops there.
        status, _ = post_from("127.0.0.2", nginx.port, "/hooks/stripe", body, headers)
        self.assertEqual(status, 200)
        lines = wait_access_lines(server, 1)
        self.assertEqual(len(lines), 1, server.output()[-3000:])
        self.assertIn(" client=127.0.0.2 ", lines[0])
        self.assertNotIn("198.51.100.7", lines[0])

    def test_spoofed_forwarded_for_sent_directly_is_ignored(self):
        server = start_hookflow(self, config={"server": {"trusted_proxies": ["127.0.0.3"]}})
        body = stripe_event("evt_direct_1", "invoice.paid")
        headers = dict(stripe_headers(body), **{"X-Forwarded-For": "198.51.100.7"})
        status, _ = post_from("127.0.0.1", server.port, "/hooks/stripe", body, headers)
        self.assertEqual(status, 200)
        lines = wait_access_lines(server, 1)
        self.assertEqual(len(lines), 1, server.output()[-3000:])
        self.assertIn(" client=127.0.0.1 ", lines[0])
        self.assertNotIn("198.51.100.7", lines[0])

    def test_nginx_refuses_bodies_over_the_limit_itself(self):
        server, nginx = self.start(["127.0.0.1"])
        body = b"x" * (2 * 1024 * 1024)
        status, _ = post_from("127.0.0.1", nginx.port, "/hooks/stripe", body,
                              {"Content-Type": "application/json"})
        self.assertEqual(status, 413)
        self.assertEqual(access_lines(server), [])

    def test_admin_paths_are_not_forwarded(self):
        server, nginx = self.start(["127.0.0.1"])
        conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
        conn.request("GET", "/metrics")
        self.assertEqual(conn.getresponse().status, 404)
        conn.close()


if __name__ == "__main__":
    unittest.main()
