"""How the HTTP users build requests, checked on the exact bytes a raw TCP server receives:
URL percent-encoding, request splitting through the URL or a header (rejected statically, or
counted as invalid_request when a placeholder brings it), the task's Host header, framing
headers, servers that answer with something that is not HTTP, and TLS failure messages."""
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import unittest

from faultservers import TcpServer
from ldtest import Case, doc, start_test


def h2_test(tasks, **kw):
    return start_test(tasks, user_detail_dict={"user": "async_http_user"}, **kw)


def read_request(conn, buf):
    """Reads one request (head + Content-Length body) from conn; returns (request, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
    head_end = buf.index(b"\r\n\r\n") + 4
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", buf[:head_end], re.I)
    length = int(m.group(1)) if m else 0
    while len(buf) < head_end + length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf[:head_end + length], buf[head_end + length:]


class CaptureServer(TcpServer):
    """Answers every request with `respond(request_bytes)` (default: 200, empty body) on a
    keep-alive connection and keeps the exact bytes of every request it got."""

    def __init__(self, respond=None):
        self.requests = []
        self.lock = threading.Lock()
        self.respond = respond or (lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        super().__init__(self._handle)
        self.url = f"http://127.0.0.1:{self.port}"

    def _handle(self, conn):
        buf = b""
        while True:
            req, buf = read_request(conn, buf)
            if req is None:
                return
            with self.lock:
                self.requests.append(req)
            conn.sendall(self.respond(req))

    def heads(self):
        with self.lock:
            return [r.split(b"\r\n\r\n")[0].split(b"\r\n") for r in self.requests]


def header_values(lines, name):
    out = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            out.append(v.strip())
    return out


class StaticRequestRulesTest(Case):
    """Bad text fixed in the document is bad input: exit 2, the field's JSON pointer, nothing
    sent (not even by the actions before it)."""

    def _bad(self, server, tasks, *expected, user="fast_http_user"):
        first = start_test([{"method": "get", "request_url": server.url + "/first"}],
                           users=1, test_time=1)
        bad = start_test(tasks, users=1, test_time=1, user_detail_dict={"user": user})
        r = self.run_doc(doc(first, bad, summary=None))
        self.assertEqual(r.code, 2, r.err)
        for e in expected:
            self.assertIn(e, r.err)
        self.assertEqual(server.accepted, 0, "nothing runs when the document has bad input")
        return r

    def test_line_breaks_nul_and_bad_names_stop_before_anything_runs(self):
        with CaptureServer() as s:
            for user in ("fast_http_user", "async_http_user"):
                self._bad(s, [{"method": "get",
                               "request_url": s.url + "/get?x=1 HTTP/1.1\r\nInjected: url\r\n\r\n"}],
                          "line break", "/tasks/0/request_url", user=user)
                self._bad(s, [{"method": "get", "request_url": s.url + "/a\u0000b"}],
                          "NUL", "/tasks/0/request_url", user=user)
                self._bad(s, [{"method": "get", "request_url": s.url + "/",
                               "headers": {"X-A": "1\r\nInjected: header"}}],
                          "line break", "/tasks/0/headers/X-A", user=user)
                self._bad(s, [{"method": "get", "request_url": s.url + "/",
                               "headers": {"X-A": "a\u0000b"}}], "/tasks/0/headers/X-A", user=user)
                self._bad(s, [{"method": "get", "request_url": s.url + "/",
                               "headers": {"X-A\r\nInjected": "1"}}],
                          "not a valid header name", "/tasks/0/headers/X-A", user=user)
                self._bad(s, [{"method": "get", "request_url": s.url + "/",
                               "headers": {"X A": "1"}}],
                          "not a valid header name", "/tasks/0/headers/X A", user=user)
                self._bad(s, [{"method": "get", "request_url": s.url + "/",
                               "cookies": {"a": "1\r\nInjected: cookie"}}],
                          "/tasks/0/cookies/a", user=user)
                self._bad(s, [{"method": "get", "request_url": s.url + "/",
                               "auth": {"type": "bearer", "token": "t\r\nX: 1"}}],
                          "/tasks/0/auth/token", user=user)

    def test_framing_headers_are_decided_by_the_body(self):
        with CaptureServer() as s:
            for user in ("fast_http_user", "async_http_user"):
                self._bad(s, [{"method": "post", "request_url": s.url + "/", "data": "x",
                               "headers": {"Content-Length": "1000"}}],
                          "the body decides", "/tasks/0/headers/Content-Length", user=user)
                self._bad(s, [{"method": "post", "request_url": s.url + "/", "data": "x",
                               "headers": {"transfer-encoding": "chunked"}}],
                          "the body decides", "/tasks/0/headers/transfer-encoding", user=user)

    def test_a_registered_value_with_a_line_break_is_bad_input(self):
        with CaptureServer() as s:
            r = self.run_doc(doc(
                ["LD_register_variables", {"variables": {"evil": "1\r\nInjected: var"}}],
                start_test([{"method": "get", "request_url": s.url + "/",
                             "headers": {"X-A": "${evil}"}}], users=1, test_time=1),
                summary=None))
            self.assertEqual(r.code, 2, r.err)
            self.assertIn("/tasks/0/headers/X-A", r.err)
            self.assertEqual(s.requests, [])


class RequestBytesTest(Case):
    def test_url_is_percent_encoded_as_curl_does(self):
        with CaptureServer() as s:
            r = self.run_doc(doc(start_test(
                [{"method": "get", "request_url": s.url + "/a b/\u00e9?q=x y&t=\u0001\u007f&k=%41/?:@!$'()*+,;=",
                  "name": "static"}], users=1, test_time=1)))
            self.assertEqual(r.code, 0, r.err)
            lines = {h[0] for h in s.heads()}
            self.assertEqual(lines, {b"GET /a%20b/%C3%A9?q=x%20y&t=%01%7F&k=%41/?:@!$'()*+,;= HTTP/1.1"})

    def test_basic_auth_rendered_per_request_on_both_http_versions(self):
        # A username from a placeholder: the Authorization header is built for every request.
        auth = {"type": "basic", "username": "u${randint(1,3)}", "password": "pw"}
        for user in ("fast_http_user", "async_http_user"):
            r = self.run_doc(doc(
                ["LD_start_target"],
                start_test([{"method": "get", "request_url": "${target}/basic-auth/u1/pw",
                             "name": "u1", "auth": auth}],
                           users=2, test_time=1, user_detail_dict={"user": user})))
            self.assertEqual(r.code, 0, r.err)
            t = r.summary()["totals"]
            self.assertGreater(t["requests"], 30, user)
            # u1 passes, u2/u3 get 401: about a third succeed, so both outcomes show up.
            self.assertGreater(t["failures"], 0, user)
            self.assertLess(t["failures"], t["requests"], user)

    def test_placeholder_values_are_encoded_and_line_breaks_are_invalid_requests(self):
        path = os.path.join(self.workdir, "rows.csv")
        with open(path, "w", newline="") as f:
            f.write('v,h\n')
            f.write('a b\u00e9,ok\n')
            f.write('"x HTTP/1.1\r\nInjected: url\r\n\r\n",ok\n')
            f.write('fine,"1\r\nInjected: header"\n')
            f.write('"nul\x00",ok\n')
        with CaptureServer() as s:
            r = self.run_doc(doc(
                ["LD_register_csv_source", {"name": "rows", "file_path": path}],
                start_test([{"method": "get", "name": "dyn",
                             "request_url": s.url + "/get?x=${csv.rows.v}",
                             "headers": {"X-H": "${csv.rows.h}"}}],
                           users=1, test_time=1)))
            self.assertEqual(r.code, 0, r.err)
            summary = r.summary()
            heads = s.heads()
            self.assertGreater(len(heads), 0)
            raw = b"".join(s.requests)
            self.assertFalse(b"Injected" in raw, "a placeholder never splits the request")
            self.assertFalse(b"\x00" in raw, "no NUL is sent")
            for h in heads:
                self.assertIn(h[0], {b"GET /get?x=a%20b%C3%A9 HTTP/1.1"})
                self.assertEqual(header_values(h, "X-H"), [b"ok"])
            per = summary["per_name"]["dyn"]
            invalid = summary["errors_by_kind"].get("invalid_request", 0)
            # Rows 2, 3 and 4 of every cycle are not sent, row 1 is.
            self.assertGreater(invalid, 0, summary["errors"])
            self.assertEqual(per["failures"], invalid)
            self.assertEqual(per["requests"] - per["failures"], len(heads))
            self.assertGreaterEqual(invalid, 3 * (len(heads) - 1))
            kinds = {e["kind"] for e in summary["errors"]}
            self.assertEqual(kinds, {"invalid_request"})

    def test_a_placeholder_url_with_a_bad_host_or_line_break_is_an_invalid_request(self):
        path = os.path.join(self.workdir, "urls.csv")
        with CaptureServer() as s:
            with open(path, "w", newline="") as f:
                f.write("u\n")
                f.write(f"{s.url}/ok x\n")
                f.write(f'"{s.url}/a\r\nInjected: 1"\n')
                f.write("http://bad host/\n")
            r = self.run_doc(doc(
                ["LD_register_csv_source", {"name": "urls", "file_path": path}],
                start_test([{"method": "get", "name": "u", "request_url": "${csv.urls.u}"}],
                           users=1, test_time=1)))
            self.assertEqual(r.code, 0, r.err)
            summary = r.summary()
            self.assertGreater(len(s.requests), 0)
            self.assertEqual({h[0] for h in s.heads()}, {b"GET /ok%20x HTTP/1.1"})
            self.assertGreaterEqual(summary["errors_by_kind"].get("invalid_request", 0),
                                    2 * (len(s.requests) - 1))
            self.assertEqual({e["kind"] for e in summary["errors"]}, {"invalid_request"})

    def test_task_host_header_replaces_the_generated_one(self):
        with CaptureServer() as other:
            def respond(req):
                if req.startswith(b"GET /away"):
                    return (b"HTTP/1.1 302 Found\r\nLocation: " + other.url.encode() +
                            b"/there\r\nContent-Length: 0\r\n\r\n")
                if req.startswith(b"GET /here"):
                    return b"HTTP/1.1 302 Found\r\nLocation: /landed\r\nContent-Length: 0\r\n\r\n"
                return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            with CaptureServer(respond) as s:
                r = self.run_doc(doc(start_test([
                    {"method": "get", "request_url": s.url + "/plain", "headers": {"host": "example.test"}},
                    {"method": "get", "request_url": s.url + "/here", "headers": {"Host": "same.test"}},
                    {"method": "get", "request_url": s.url + "/away", "headers": {"HOST": "away.test"}},
                ], users=1, test_time=1)))
                self.assertEqual(r.code, 0, r.err)
                self.assertEqual(r.summary()["errors"], [])
                by_path = {}
                for h in s.heads() + other.heads():
                    by_path.setdefault(h[0].split(b" ")[1], []).append(header_values(h, "Host"))
                self.assertEqual({tuple(v) for v in by_path[b"/plain"]}, {(b"example.test",)})
                self.assertEqual({tuple(v) for v in by_path[b"/here"]}, {(b"same.test",)})
                # a redirect on the same origin keeps the task's Host, to another origin not
                self.assertEqual({tuple(v) for v in by_path[b"/landed"]}, {(b"same.test",)})
                self.assertEqual({tuple(v) for v in by_path[b"/away"]}, {(b"away.test",)})
                self.assertEqual({tuple(v) for v in by_path[b"/there"]},
                                 {(f"127.0.0.1:{other.port}".encode(),)})

    def test_body_sets_content_length_once(self):
        with CaptureServer() as s:
            r = self.run_doc(doc(start_test([{"method": "post", "request_url": s.url + "/p",
                                              "data": "x"}], users=1, test_time=1)))
            self.assertEqual(r.code, 0, r.err)
            for h in s.heads():
                self.assertEqual(header_values(h, "Content-Length"), [b"1"])
                self.assertEqual(header_values(h, "Host"), [f"127.0.0.1:{s.port}".encode()])


def garbage_keep_open(conn):
    """Reads a request, answers bytes that are not HTTP and keeps the connection open."""
    read_request(conn, b"")
    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
    conn.settimeout(30)
    while conn.recv(4096):
        pass


class NotHttpTest(Case):
    def test_garbage_on_an_open_connection_fails_at_once_as_protocol(self):
        with TcpServer(garbage_keep_open) as srv:
            began = time.monotonic()
            r = self.run_doc(doc(start_test([{"method": "get", "timeout": 20,
                                              "request_url": f"http://127.0.0.1:{srv.port}/"}],
                                            users=2, test_time=2)), timeout=60)
            elapsed = time.monotonic() - began
            self.assertEqual(r.code, 0, r.err)
            s = r.summary()
            self.assertGreater(s["errors_by_kind"].get("protocol", 0), 2, s["errors"])
            self.assertEqual(s["errors_by_kind"].get("reset", 0), 0, s["errors"])
            self.assertEqual(s["errors_by_kind"].get("timeout", 0), 0, s["errors"])
            self.assertLess(elapsed, 15, "the failure does not wait for the 20 s timeout")
            self.assertIn("not HTTP", s["errors"][0]["message"])

    def test_garbage_then_close_is_protocol_not_reset(self):
        def garbage_close(conn):
            read_request(conn, b"")
            conn.sendall(b"hello\n")
        with TcpServer(garbage_close) as srv:
            r = self.run_doc(doc(start_test([{"method": "get", "timeout": 5,
                                              "request_url": f"http://127.0.0.1:{srv.port}/"}],
                                            users=1, test_time=1)))
            self.assertEqual(r.code, 0, r.err)
            s = r.summary()
            self.assertGreater(s["errors_by_kind"].get("protocol", 0), 0, s["errors"])
            self.assertEqual(s["errors_by_kind"].get("reset", 0), 0, s["errors"])


class TlsMessagesTest(Case):
    def setUp(self):
        super().setUp()
        self.cert = os.path.join(self.workdir, "cert.pem")
        self.key = os.path.join(self.workdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True, timeout=60)

    def _tls_server(self, alpn=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        if alpn:
            ctx.set_alpn_protocols(alpn)

        def handler(conn):
            with ctx.wrap_socket(conn, server_side=True) as tls:
                buf = b""
                while True:
                    req, buf = read_request(tls, buf)
                    if req is None:
                        return
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        return TcpServer(handler)

    def test_self_signed_certificate_is_named(self):
        for user, alpn in (("fast_http_user", None), ("async_http_user", ["h2"])):
            with self._tls_server(alpn) as srv:
                r = self.run_doc(doc(start_test(
                    [{"method": "get", "request_url": f"https://127.0.0.1:{srv.port}/",
                      "verify": True, "timeout": 5}],
                    users=1, test_time=1, user_detail_dict={"user": user})))
                self.assertEqual(r.code, 0, r.err)
                s = r.summary()
                self.assertGreater(s["errors_by_kind"].get("tls", 0), 0, (user, s["errors"]))
                msgs = [e["message"] for e in s["errors"]]
                self.assertTrue(all("TLS certificate verification failed: self-signed" in m
                                    for m in msgs), (user, msgs))

    def test_websocket_and_sse_share_the_messages(self):
        cases = (("websocket_user", [{"method": "connect", "verify": True, "timeout": 5,
                                      "request_url": "wss://127.0.0.1:{port}/", "name": "c"}]),
                 ("sse_user", [{"method": "open", "verify": True, "timeout": 5,
                                "request_url": "https://127.0.0.1:{port}/", "name": "c"}]))
        for user, tasks in cases:
            with self._tls_server() as srv:
                for t in tasks:
                    t["request_url"] = t["request_url"].format(port=srv.port)
                r = self.run_doc(doc(start_test(tasks, users=1, test_time=1,
                                                user_detail_dict={"user": user})))
                self.assertEqual(r.code, 0, r.err)
                s = r.summary()
                msgs = {(e["kind"], e["message"]) for e in s["errors"]}
                self.assertIn(("tls", "TLS certificate verification failed: self-signed certificate"),
                              msgs, user)

    def test_handshake_failure_gives_the_reason(self):
        def plain_http(conn):
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        for user in ("fast_http_user", "async_http_user"):
            with TcpServer(plain_http) as srv:
                r = self.run_doc(doc(start_test(
                    [{"method": "get", "request_url": f"https://127.0.0.1:{srv.port}/",
                      "verify": False, "timeout": 5}],
                    users=1, test_time=1, user_detail_dict={"user": user})))
                self.assertEqual(r.code, 0, r.err)
                s = r.summary()
                msgs = {e["message"] for e in s["errors"]}
                self.assertEqual({e["kind"] for e in s["errors"]}, {"tls"}, (user, msgs))
                # an https URL on a plain-HTTP server: OpenSSL's reason, no number
                self.assertEqual(msgs, {"TLS handshake failed: wrong version number"}, user)


if __name__ == "__main__":
    unittest.main()
