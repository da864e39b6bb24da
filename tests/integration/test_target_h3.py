"""The embedded target's HTTP/3 listener (`loaddensity target`, ${target_h3}), checked with an
independent client: ngtcp2's gtlsclient (Debian's ngtcp2-client). Every answer must equal the
HTTP/1.1 answer for the same path, over one connection and over several at once; request bodies
arrive; datagrams that are not QUIC are dropped without harm; an unknown QUIC version gets a
Version Negotiation packet."""
import concurrent.futures
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from ldtest import Case, doc, free_port, start_target, stop_target

GTLSCLIENT = shutil.which("gtlsclient") or "/usr/bin/gtlsclient"
# Paths whose answer does not depend on the connection (no Host, peer or random part).
SAME_PATHS = ["/json", "/html", "/xml", "/robots.txt", "/status/418", "/status/204",
              "/base64/aGVsbG8gaDM=", "/nope"]


def h1(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@unittest.skipUnless(os.path.exists(GTLSCLIENT), "ngtcp2-client (gtlsclient) is not installed")
class EmbeddedHttp3Test(Case):
    @classmethod
    def setUpClass(cls):
        cls.http_port = free_port()
        cls.target, port = start_target("-p", str(cls.http_port),
                                        listing=r"h3 https://127\.0\.0\.1:(\d+)")
        cls.port = int(port)

    @classmethod
    def tearDownClass(cls):
        stop_target(cls.target)

    def h3(self, paths, *extra):
        """One gtlsclient connection requesting `paths` in order: [(status, body)], one per path
        (bodies are downloaded, so the last path components must differ)."""
        with tempfile.TemporaryDirectory(prefix="ld-h3-") as d:
            uris = [f"https://127.0.0.1:{self.port}{p}" for p in paths]
            p = subprocess.run([GTLSCLIENT, "--exit-on-all-streams-close", "--no-quic-dump",
                                "--no-http-dump", "--timeout=10s", "--download", d, *extra,
                                "127.0.0.1", str(self.port), *uris],
                               capture_output=True, text=True, timeout=60)
            statuses = {int(sid, 16): int(code) for sid, code in
                        re.findall(r"http: stream 0x([0-9a-f]+) \[:status: (\d+)\]", p.stdout + p.stderr)}
            self.assertEqual(len(statuses), len(paths), p.stdout[-3000:] + p.stderr[-2000:])
            out = []
            for i, path in enumerate(paths):
                name = path.rstrip("/").rsplit("/", 1)[-1] or "index.html"
                f = os.path.join(d, name)
                body = open(f, "rb").read() if os.path.exists(f) else b""
                out.append((statuses[4 * i], body))  # client streams 0, 4, 8... in order
            return out

    def test_answers_equal_http11_over_one_connection(self):
        got = self.h3(SAME_PATHS)
        for path, answer in zip(SAME_PATHS, got):
            with self.subTest(path=path):
                self.assertEqual(answer, h1(self.http_port, path))
        self.assertEqual(got[0][0], 200)
        self.assertIn(b"slideshow", got[0][1])
        self.assertEqual(got[4], (418, b""))
        self.assertEqual(got[7][0], 404)

    def test_many_requests_and_concurrent_connections(self):
        # 6 connections at once, each 20 requests on its one connection.
        paths = [f"/base64/{i:04d}" for i in range(20)]  # /base64/0001 decodes to bytes
        expected = [h1(self.http_port, p) for p in paths]
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: self.h3(paths), range(6)))
        for got in results:
            self.assertEqual(got, expected)

    def test_request_body_arrives(self):
        with tempfile.NamedTemporaryFile(prefix="ld-h3-body-") as f:
            payload = b"quic body " * 5000  # 50 kB: several packets and flow-control updates
            f.write(payload)
            f.flush()
            [(status, body)] = self.h3(["/anything"], "-m", "POST", "-d", f.name)
        self.assertEqual(status, 200)
        echoed = json.loads(body)
        self.assertEqual(echoed["method"], "POST")
        self.assertEqual(echoed["data"], payload.decode())

    def test_large_answer_crosses_flow_control(self):
        # 3 MB: many times the client's windows and the server's packets per write.
        [(status, body)] = self.h3(["/bytes/3000000"])
        self.assertEqual((status, len(body)), (200, 3000000))

    def test_delay_answers_after_the_wait(self):
        [(status, body)] = self.h3(["/delay/1"])
        self.assertEqual(status, 200)
        self.assertIn("url", json.loads(body))

    def test_garbage_datagrams_are_dropped(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        try:
            for junk in (b"", b"\x00", b"GET / HTTP/1.1\r\n\r\n", b"\x3f" + os.urandom(1199),
                         b"\xc0\x00\x00\x00\x01" + os.urandom(1300),  # an Initial, broken
                         b"\x40" + os.urandom(60)):  # a short header for no connection
                s.sendto(junk, ("127.0.0.1", self.port))
            # A long header with an unknown version: a Version Negotiation packet listing v1.
            dcid, scid = os.urandom(8), os.urandom(8)
            s.sendto(b"\xc0" + struct.pack(">I", 0x1a2a3a4a) + bytes([8]) + dcid + bytes([8]) +
                     scid + os.urandom(1200), ("127.0.0.1", self.port))
            reply, _ = s.recvfrom(2048)
        finally:
            s.close()
        self.assertEqual(struct.unpack(">I", reply[1:5])[0], 0)  # version 0: negotiation
        self.assertEqual(reply[6:14], scid)  # addressed to the sender's connection ID
        self.assertIn(struct.pack(">I", 1), reply[14 + 1 + 8:])
        # Still serving.
        self.assertEqual(self.h3(["/json"])[0][0], 200)

    def test_placeholder_names_the_udp_port(self):
        # A datagram with an unknown QUIC version, sent by socket_user to ${target_h3}: the
        # Version Negotiation reply (version 0, listing v1) proves the placeholder's port.
        initial = ("c0" + "1a2a3a4a" + "08" + "11" * 8 + "08" + "22" * 8 + "00" * 1200)
        task = {"protocol": "udp", "target": "${target_h3}", "payload": "hex:" + initial,
                "expect_substring": "hex:00000000082222222222222222", "timeout": 2,
                "name": "vn"}
        r = self.run_doc(doc(["LD_start_target", {}],
                             ["LD_start_test", {"user_detail_dict": {"user": "socket_user"},
                                                "user_count": 1, "spawn_rate": 10,
                                                "test_time": 1, "tasks": [task]}],
                             ["LD_stop_target"]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertGreater(s["totals"]["requests"], 0, s)
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])

if __name__ == "__main__":
    unittest.main()
