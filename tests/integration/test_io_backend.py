"""LD_start_test io_backend / --io-backend: the io_uring and epoll paths of fast_http_user and
socket_user give the same results, a bad value is refused before anything runs, and where
io_uring is unavailable `auto` falls back to epoll (saying so once) while `io_uring` is refused.
LD_IO_URING_UNAVAILABLE makes this process's io_uring probe fail, as an old kernel, a seccomp
profile or io_uring_disabled would."""
import json
import os
import re
import ssl
import subprocess
import threading

from faultservers import TcpServer
from ldtest import Case, doc, start_test

SOCKET_TASKS = [
    {"protocol": "tcp", "target": "${target_tcp}", "payload": "ping", "expect_bytes": 4,
     "name": "tcp"},
    {"protocol": "udp", "target": "${target_udp}", "payload": "pong", "expect_substring": "pong",
     "name": "udp"},
]


def http_tasks():
    return [{"method": "get", "request_url": "${target}/get", "name": "get"},
            {"method": "post", "request_url": "${target}/post", "data": "x" * 20000,
             "name": "post", "assertions": [{"type": "status_code", "value": 200}]}]


def both(backend, **kw):
    return doc(["LD_start_target"],
               start_test(http_tasks(), users=3, test_time=1, io_backend=backend, **kw),
               start_test(SOCKET_TASKS, users=2, test_time=1, io_backend=backend,
                          user_detail_dict={"user": "socket_user"}))


class IoBackendTest(Case):
    def test_every_backend_runs_http_and_socket_users_without_failures(self):
        for backend in ("auto", "io_uring", "epoll"):
            with self.subTest(backend=backend):
                r = self.run_ld("run", self._write(both(backend)))
                self.assertEqual(r.code, 0, r.err)
                totals = r.summary()["totals"]
                self.assertGreater(totals["requests"], 0)
                self.assertEqual(totals["failures"], 0, r.summary()["errors_by_kind"])

    def test_a_bad_value_is_refused_before_anything_runs(self):
        r = self.run_doc(doc(start_test([{"method": "get", "request_url": "http://127.0.0.1:1/"}],
                                        io_backend="kqueue")))
        self.assertEqual(r.code, 2)
        self.assertIn('io_backend must be "auto", "io_uring" or "epoll", got "kqueue"', r.err)
        self.assertIn("/io_backend", r.err)
        self.assertFalse(r.exists("summary.json"))
        r = self.run_ld("run", self._write(both("epoll")), "--io-backend", "kqueue")
        self.assertEqual(r.code, 2)

    def test_without_io_uring_auto_falls_back_once_and_io_uring_is_refused(self):
        off = {"LD_IO_URING_UNAVAILABLE": "1"}
        r = self.run_ld("run", self._write(both("auto")), env=off)
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(r.summary()["totals"]["failures"], 0)
        self.assertEqual(r.err.count("io_uring is not available (disabled by "
                                     "LD_IO_URING_UNAVAILABLE)"), 1, r.err)
        os.remove(os.path.join(self.workdir, "summary.json"))
        r = self.run_ld("run", self._write(both("io_uring")), env=off)
        self.assertEqual(r.code, 2)
        self.assertIn('io_backend "io_uring" is not available here', r.err)
        self.assertFalse(r.exists("summary.json"))
        r = self.run_ld("run", self._write(both("epoll")), env=off)
        self.assertEqual(r.code, 0, r.err)
        self.assertNotIn("io_uring", r.err)

    def _write(self, d):
        path = os.path.join(self.workdir, "doc.json")
        with open(path, "w") as f:
            json.dump(d, f)
        return path


def _read_request(conn, buf):
    """One request (head + Content-Length body) from conn: (head, rest), or (None, b"") at EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head, rest[length:]


class TlsOnBothPathsTest(Case):
    """https on the io_uring path (OpenSSL over the ring's bytes) and on epoll (Asio's TLS
    stream): the same successes, failures and messages for the same servers, and the io_uring
    run's connections really shook hands on the ring (its debug line counts them)."""

    def setUp(self):
        super().setUp()
        self.cert = os.path.join(self.workdir, "cert.pem")
        self.key = os.path.join(self.workdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True, timeout=60)

    def _ctx(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def _server(self, answer):
        """A TLS server: `answer(tls, head)` writes the response and returns False to end the
        connection (with close_notify when it returns "notify", without when "drop")."""
        ctx = self._ctx()

        def handler(conn):
            tls = ctx.wrap_socket(conn, server_side=True)
            buf = b""
            while True:
                head, buf = _read_request(tls, buf)
                if head is None:
                    break
                how = answer(tls, head)
                if how == "notify":
                    tls.unwrap().close()
                    return
                if how == "drop":
                    conn.close()
                    return
            tls.close()
        return TcpServer(handler)

    def _run(self, tasks, backend, users=1, test_time=1):
        d = doc(start_test(tasks, users=users, test_time=test_time, io_backend=backend))
        path = os.path.join(self.workdir, "doc.json")
        with open(path, "w") as f:
            json.dump(d, f)
        summary = os.path.join(self.workdir, "summary.json")
        if os.path.exists(summary):
            os.remove(summary)
        r = self.run_ld("--log-level", "debug", "run", path)
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        handshakes = sum(int(n) for n in re.findall(r"io_uring ring: \d+ connections, (\d+) TLS",
                                                    r.err))
        return s, handshakes, r.err

    def _same_on_both(self, tasks, expect_errors, users=1, test_time=1):
        """Runs `tasks` on each path; both see exactly `expect_errors` ({(kind, message)}) and
        some requests; the io_uring run completed its handshakes on the ring."""
        seen = {}
        for backend in ("io_uring", "epoll"):
            s, handshakes, err = self._run(tasks, backend, users, test_time)
            errors = {(e["kind"], e["message"]) for e in s["errors"]}
            self.assertEqual(errors, expect_errors, (backend, s["errors"]))
            self.assertGreater(s["totals"]["requests"], 0, backend)
            if backend == "epoll":
                self.assertNotIn("io_uring ring:", err)
            seen[backend] = (s, handshakes)
        return seen

    def test_keep_alive_close_notify_and_truncation(self):
        big = b"x" * 300000 + b"END"  # many records, across many of the ring's buffers

        def answer(tls, head):
            path = head.split(b" ")[1]
            if path == b"/big":
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
            elif path == b"/notify":  # a close-delimited body ended by close_notify
                tls.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nnotified")
                return "notify"
            elif path == b"/drop":  # ... and by a TCP close without close_notify
                tls.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ndropped")
                return "drop"
            elif path in (b"/idle-notify", b"/idle-drop"):  # keep-alive, then closed while idle
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                return "notify" if path == b"/idle-notify" else "drop"
            elif path == b"/cut":  # a Content-Length body cut short
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
                return "drop"
            else:
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return True

        with self._server(answer) as srv:
            base = f"https://127.0.0.1:{srv.port}"
            tasks = [
                {"method": "get", "request_url": base + "/", "verify": self.cert, "name": "ka"},
                {"method": "post", "request_url": base + "/", "verify": self.cert, "name": "post",
                 "data": "y" * 40000},
                {"method": "get", "request_url": base + "/big", "verify": self.cert, "name": "big",
                 "assertions": [{"type": "contains", "value": "END"}]},
                {"method": "get", "request_url": base + "/notify", "verify": self.cert,
                 "name": "notify", "assertions": [{"type": "contains", "value": "notified"}]},
                {"method": "get", "request_url": base + "/drop", "verify": self.cert,
                 "name": "drop", "assertions": [{"type": "contains", "value": "dropped"}]},
                {"method": "get", "request_url": base + "/cut", "verify": self.cert, "name": "cut"},
                # the next request finds the connection closed and is sent again on a new one
                {"method": "get", "request_url": base + "/idle-notify", "verify": self.cert,
                 "name": "idle-notify"},
                {"method": "get", "request_url": base + "/idle-drop", "verify": self.cert,
                 "name": "idle-drop"},
                {"method": "get", "request_url": base + "/", "verify": self.cert, "name": "ka2"},
            ]
            seen = self._same_on_both(
                tasks, {("reset", "connection closed mid-response")}, users=2)
        for backend, (s, _) in seen.items():
            self.assertGreater(s["totals"]["successes"], 0, backend)
        self.assertGreater(seen["io_uring"][1], 0)

    def test_verification_and_handshake_failures(self):
        def ok(tls, head):
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            return True


        def not_tls(conn):  # an https URL on a plain-HTTP server
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        def hang_up(conn):  # reads the ClientHello and closes
            conn.recv(4096)

        with self._server(ok) as tls_srv, TcpServer(not_tls) as plain, \
                TcpServer(hang_up) as closer:
            self._same_on_both(
                [{"method": "get", "request_url": f"https://127.0.0.1:{tls_srv.port}/",
                  "verify": True, "name": "self-signed"}],
                {("tls", "TLS certificate verification failed: self-signed certificate")})
            self._same_on_both(
                [{"method": "get", "request_url": f"https://127.0.0.1:{plain.port}/",
                  "verify": False, "name": "plain"}],
                {("tls", "TLS handshake failed: wrong version number")})
            self._same_on_both(
                [{"method": "get", "request_url": f"https://127.0.0.1:{closer.port}/",
                  "verify": False, "name": "closed"}],
                {("reset", "connection closed by peer")})

    def test_a_handshake_that_never_ends_times_out(self):
        release = threading.Event()

        def silent(conn):  # never answers the ClientHello
            conn.recv(4096)
            release.wait(10)

        with TcpServer(silent) as srv:
            seen = self._same_on_both(
                [{"method": "get", "request_url": f"https://127.0.0.1:{srv.port}/",
                  "verify": False, "timeout": 0.3, "name": "silent"}],
                {("timeout", "request timed out")}, test_time=1)
            release.set()
        for backend, (s, _) in seen.items():
            self.assertEqual(s["totals"]["successes"], 0, backend)

    def test_nginx_tls_and_client_certificates(self):
        url = self.need_env("LD_NGINX_TLS_URL")
        ca = self.need_env("LD_NGINX_TLS_CA")
        mtls = self.need_env("LD_NGINX_MTLS_URL")
        cert, key = self.need_env("LD_CLIENT_CERT"), self.need_env("LD_CLIENT_KEY")
        seen = self._same_on_both(
            [{"method": "get", "request_url": url + "/", "verify": ca, "name": "ca",
              "assertions": [{"type": "contains", "value": "tls ok"}]},
             {"method": "get", "request_url": mtls + "/", "verify": False, "cert": [cert, key],
              "name": "mtls", "assertions": [{"type": "contains", "value": "loaddensity-client"}]},
             {"method": "get", "request_url": url + "/", "name": "default-ca"}],
            {("tls", "TLS certificate verification failed: self-signed certificate")}, users=3)
        for backend, (s, _) in seen.items():
            self.assertGreater(s["totals"]["successes"], 0, backend)
        self.assertGreater(seen["io_uring"][1], 0)
