"""Loopback servers for tests/integration/test_connectors.py: a CA and certificates made with
the `openssl` CLI, a TLS mock API, a CONNECT proxy, a raw-socket fault server, and a counter
of the connections a MockApi accepts.

Python 3 standard library only (plus the `openssl` command).
"""

import json
import os
import select
import socket
import ssl
import struct
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory):
    """Creates ca.key and ca.pem (a self-signed CA) in `directory`; returns the ca.pem path."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=hookflow test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return os.path.join(directory, "ca.pem")


def make_leaf(directory, name, subject_alt_name):
    """Issues `name`.pem/`name`.key from the CA in `directory` for `subject_alt_name`
    (e.g. `IP:127.0.0.1` or `DNS:other.test`); returns (cert path, key path)."""
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n" % subject_alt_name)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
             cwd=directory)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext,
             cwd=directory)
    return os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")


def count_connections(mock):
    """Makes `mock` (a harness.MockApi) count accepted connections in `mock.connections`."""
    mock.connections = 0
    original = mock._server.get_request

    def counted():
        pair = original()
        with mock._lock:
            mock.connections += 1
        return pair

    mock._server.get_request = counted
    return mock


class TlsMock:
    """An HTTPS server on 127.0.0.1:0 answering every request with `{"ok": true, "path"}`.
    Counts connections and records (method, path, headers, body)."""

    def __init__(self, cert, key):
        self.requests = []
        self.connections = 0
        self._lock = threading.Lock()
        mock = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with mock._lock:
                    mock.requests.append({"method": self.command, "path": self.path,
                                          "headers": {k.lower(): v for k, v in
                                                      self.headers.items()},
                                          "body": body})
                data = json.dumps({"ok": True, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                with mock._lock:
                    mock.connections += 1
                return context.wrap_socket(sock, server_side=True,
                                           do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass  # failed handshakes are what some tests want

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def _pipe(a, b, stop):
    """Copies bytes both ways between sockets a and b until either closes."""
    sockets = [a, b]
    while not stop.is_set():
        readable, _, _ = select.select(sockets, [], [], 0.2)
        for s in readable:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            (b if s is a else a).sendall(data)


class ConnectProxy:
    """An HTTP proxy on 127.0.0.1:0 that only tunnels (CONNECT). Records each CONNECT target
    and its Proxy-Authorization header in `tunnels`."""

    def __init__(self):
        self.tunnels = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n")
            method, target, _ = lines[0].decode().split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if b":" in line:
                    name, value = line.decode().split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            with self._lock:
                self.tunnels.append({"method": method, "target": target,
                                     "proxy_authorization": headers.get("proxy-authorization")})
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                _pipe(client, upstream, self._stop)

    def close(self):
        self._stop.set()
        self._sock.close()


class RawServer:
    """A TCP server on 127.0.0.1:0 that reads one request head (and its body) per connection
    and hands (socket, head bytes) to `handler`, which writes whatever it wants."""

    def __init__(self, handler):
        self.handler = handler
        self.heads = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.base = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.heads.append(head)
            self.handler(client, head)
        except OSError:
            pass
        finally:
            client.close()

    def close(self):
        self._sock.close()


class KeepAliveRawServer(RawServer):
    """A RawServer that keeps each connection open and reads requests on it one after another
    (head, then a Content-Length body); for each it calls `handler(socket, head, n)`, `n`
    counting requests across all connections from 0. Records the heads in `heads` and counts
    accepted connections in `connections`."""

    def __init__(self, handler):
        self.connections = 0
        self._lock = threading.Lock()
        super().__init__(handler)

    def _accept(self):
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        pending = b""
        try:
            for _ in range(100):  # bounded: no test sends this many requests on one connection
                while b"\r\n\r\n" not in pending:
                    chunk = client.recv(4096)
                    if not chunk:
                        return
                    pending += chunk
                head, pending = pending.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(pending) < length:
                    chunk = client.recv(4096)
                    if not chunk:
                        return
                    pending += chunk
                pending = pending[length:]
                with self._lock:
                    n = len(self.heads)
                    self.heads.append(head)
                self.handler(client, head, n)
        except OSError:
            pass
        finally:
            client.close()


def reset(sock):
    """Closes `sock` with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
