"""What the original's Python clients do for every user, and users rely on: compressed responses
(Accept-Encoding: gzip, deflate; bodies decoded for assertions and extractors) and a cookie jar
per virtual user, over HTTP/1.1 (fast_http_user) and HTTP/2 (async_http_user, h2c). Against the
embedded target, small in-process servers, and real httpbin when LD_HTTPBIN_URL is set (see
tests/servers.sh)."""
import gzip
import os
import threading
import unittest
import zlib

from faultservers import TcpServer
from ldtest import Case, doc, start_test


def h2_test(tasks, **kw):
    return start_test(tasks, user_detail_dict={"user": "async_http_user"}, **kw)


def jp(path, value):
    return {"type": "json_path", "path": path, "value": value}


def read_request(conn, buf):
    """Reads one request head from `conn` (bytes left over stay in buf[0]); None at EOF."""
    while b"\r\n\r\n" not in buf[0]:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf[0] += chunk
    head, buf[0] = buf[0].split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0].split(" ")[1], headers


class RawHttp:
    """A keep-alive HTTP/1.1 server whose answers the test writes as bytes:
    `respond(path, headers) -> bytes`. Records (path, headers) of every request."""

    def __init__(self, respond):
        self.respond = respond
        self.requests = []
        self.lock = threading.Lock()
        self.server = TcpServer(self._serve)
        self.url = f"http://127.0.0.1:{self.server.port}"

    def _serve(self, conn):
        buf = [b""]
        while True:
            req = read_request(conn, buf)
            if req is None:
                return
            with self.lock:
                self.requests.append(req)
            conn.sendall(self.respond(*req))

    def close(self):
        self.server.close()


def response(body, headers=(), status="200 OK", chunked=False):
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    if chunked:
        parts = [body[i:i + 7] for i in range(0, len(body), 7)]
        data = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + data
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class CompressionTest(Case):
    def test_target_gzip_and_deflate_pass_their_assertions_over_http1(self):
        r = self.run_doc(doc(["LD_start_target"], start_test([
            {"method": "get", "request_url": "${target}/gzip", "name": "gzip",
             "assertions": [jp("gzipped", True), jp("headers.Accept-Encoding", "gzip, deflate")]},
            {"method": "get", "request_url": "${target}/deflate", "name": "deflate",
             "assertions": [jp("deflated", True), {"type": "contains", "value": "\"GET\""}],
             "extract": [{"var": "m", "path": "method"}]},
            {"method": "get", "request_url": "${target}/headers", "name": "identity",
             "headers": {"Accept-Encoding": "identity"},
             "assertions": [jp("headers.Accept-Encoding", "identity")]},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        for name in ["gzip", "deflate", "identity"]:
            self.assertGreater(s["per_name"][name]["requests"], 0, name)
            self.assertEqual(s["per_name"][name]["failures"], 0, (name, s["errors"]))

    def test_target_gzip_passes_its_assertion_over_h2c(self):
        r = self.run_doc(doc(["LD_start_target"], h2_test([
            {"method": "get", "request_url": "${target}/gzip", "name": "gzip",
             "assertions": [jp("gzipped", True), jp("headers.Accept-Encoding", "gzip, deflate"),
                            {"type": "header", "name": "content-encoding", "value": "gzip"}]},
            {"method": "get", "request_url": "${target}/deflate", "name": "deflate",
             "assertions": [jp("deflated", True)]},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        for name in ["gzip", "deflate"]:
            self.assertGreater(s["per_name"][name]["requests"], 0, name)
            self.assertEqual(s["per_name"][name]["failures"], 0, (name, s["errors"]))

    def test_chunked_raw_deflate_corrupt_and_unchecked_bodies(self):
        doc_json = b'{"ok": "yes", "pad": "' + b"x" * 3000 + b'"}'
        raw = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw_deflate = raw.compress(doc_json) + raw.flush()

        def respond(path, headers):
            if path == "/chunked":  # chunked + gzip, coding name in upper case
                return response(gzip.compress(doc_json), [("Content-Encoding", "GZIP")],
                                chunked=True)
            if path == "/raw":  # deflate without the zlib wrapper, as some servers send it
                return response(raw_deflate, [("Content-Encoding", "deflate")])
            # /corrupt and /unchecked
            return response(b"\x1f\x8b\x08\x00garbage, not gzip",
                            [("Content-Encoding", "gzip")])

        srv = RawHttp(respond)
        try:
            r = self.run_doc(doc(start_test([
                {"method": "get", "request_url": srv.url + "/chunked", "name": "chunked",
                 "assertions": [jp("ok", "yes")]},
                {"method": "get", "request_url": srv.url + "/raw", "name": "raw",
                 "assertions": [{"type": "contains", "value": "xxxxxxxx"}]},
                {"method": "get", "request_url": srv.url + "/corrupt", "name": "corrupt",
                 "assertions": [{"type": "status_code", "value": 200}, jp("ok", "yes")]},
                {"method": "get", "request_url": srv.url + "/unchecked", "name": "unchecked"},
            ], users=1, test_time=1)))
        finally:
            srv.close()
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        for name in ["chunked", "raw", "unchecked"]:
            self.assertGreater(per[name]["requests"], 0, name)
            self.assertEqual(per[name]["failures"], 0, (name, s["errors"]))
        # A run without checks never inflates: the bad body of "unchecked" is not noticed.
        self.assertEqual(per["corrupt"]["failures"], per["corrupt"]["requests"])
        errors = {(e["name"], e["kind"], e["message"]) for e in s["errors"]}
        self.assertEqual(errors, {("corrupt", "protocol", "corrupt compressed body")})
        # bytes_received counts the wire (compressed) bytes.
        per_request = per["raw"]["bytes_received"] / per["raw"]["requests"]
        self.assertLess(per_request, len(doc_json) / 2)
        # Every request asked for compression.
        self.assertTrue(all(h.get("accept-encoding") == ["gzip, deflate"]
                            for _, h in srv.requests), srv.requests[:1])


class CookieTest(Case):
    def cookie_tasks(self):
        return [
            {"method": "get", "request_url": "${target}/cookies/set?a=1", "name": "set",
             "assertions": [jp("cookies.a", "1")]},
            # The jar lasts for the user: a later task still sends it, merged with its own.
            {"method": "get", "request_url": "${target}/cookies", "name": "next",
             "cookies": {"b": "2"},
             "assertions": [jp("cookies.a", "1"), jp("cookies.b", "2")]},
            # The task's own cookie wins over the jar's of the same name.
            {"method": "get", "request_url": "${target}/cookies", "name": "override",
             "cookies": {"a": "task"}, "assertions": [jp("cookies.a", "task")]},
            {"method": "get", "request_url": "${target}/cookies/delete?a", "name": "delete",
             "assertions": [{"type": "not_contains", "value": "\"a\""}]},
        ]

    def check(self, r):
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        for name in ["set", "next", "override", "delete"]:
            self.assertGreater(s["per_name"][name]["requests"], 0, name)
            self.assertEqual(s["per_name"][name]["failures"], 0, (name, s["errors"]))

    def test_cookie_jar_over_http1(self):
        self.check(self.run_doc(doc(["LD_start_target"],
                                    start_test(self.cookie_tasks(), users=2, test_time=1))))

    def test_cookie_jar_over_h2c(self):
        self.check(self.run_doc(doc(["LD_start_target"],
                                    h2_test(self.cookie_tasks(), users=2, test_time=1))))

    def test_login_cookie_domain_path_and_secure_rules(self):
        def respond(path, headers):
            if path == "/login":
                return response(b"{}", [
                    ("Set-Cookie", "session=s3cr3t; Path=/; HttpOnly"),
                    ("Set-Cookie", "api=1; Path=/api"),
                    ("Set-Cookie", "sec=1; Secure; Path=/"),
                    ("Set-Cookie", "evil=1; Domain=example.com; Path=/"),
                    ("Set-Cookie", "gone=1; Max-Age=0; Path=/"),
                ])
            return response(b"{}")

        srv = RawHttp(respond)
        try:
            r = self.run_doc(doc(start_test([
                {"method": "post", "request_url": srv.url + "/login", "name": "login"},
                {"method": "get", "request_url": srv.url + "/api/items", "name": "api"},
                {"method": "get", "request_url": srv.url + "/home", "name": "home"},
                {"method": "get", "request_url": srv.url + "/own", "name": "own",
                 "headers": {"Cookie": "mine=1"}},
            ], users=1, test_time=1)))
        finally:
            srv.close()
        self.assertEqual(r.code, 0, r.err)
        sent = {}
        for path, headers in srv.requests:
            sent.setdefault(path, set()).add(tuple(headers.get("cookie", [])))
        # The first login sends none; the user's later iterations send the session cookie.
        self.assertIn((), sent["/login"])
        self.assertLessEqual(sent["/login"], {(), ("session=s3cr3t",)})
        self.assertEqual(sent["/api/items"], {("api=1; session=s3cr3t",)})  # longer path first
        self.assertEqual(sent["/home"], {("session=s3cr3t",)})  # no Secure over http, no evil
        self.assertEqual(sent["/own"], {("mine=1",)})  # the task's own Cookie header replaces


class HttpbinTest(Case):
    """Real httpbin, when tests/servers.sh started it."""

    def setUp(self):
        super().setUp()
        self.url = os.environ.get("LD_HTTPBIN_URL") or os.environ.get("HTTPBIN_URL")
        if not self.url:
            raise unittest.SkipTest("LD_HTTPBIN_URL is not set (tests/servers.sh starts httpbin)")

    def test_gzip_deflate_and_cookies(self):
        url = self.url
        r = self.run_doc(doc(start_test([
            {"method": "get", "request_url": url + "/gzip", "name": "gzip",
             "assertions": [jp("gzipped", True)]},
            {"method": "get", "request_url": url + "/deflate", "name": "deflate",
             "assertions": [jp("deflated", True)]},
            {"method": "get", "request_url": url + "/cookies/set?a=1", "name": "set",
             "assertions": [jp("cookies.a", "1")]},
            {"method": "get", "request_url": url + "/cookies", "name": "cookies",
             "assertions": [jp("cookies.a", "1")]},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        for name in ["gzip", "deflate", "set", "cookies"]:
            self.assertGreater(s["per_name"][name]["requests"], 0, name)
            self.assertEqual(s["per_name"][name]["failures"], 0, (name, s["errors"]))


if __name__ == "__main__":
    unittest.main()
