"""grpc_user against two real gRPC servers: grpcio in Python (tests/integration/grpc_server.py,
generic handlers, plaintext and TLS), with the message types from examples/proto/echo.proto, and
the embedded target's grpc++ echo service through server reflection. Every call kind, statuses,
metadata, checks and extractors, timeouts, a server that is down, and bad input."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

from ldtest import SOURCE, Case, doc, free_port

PROTO = os.path.join(SOURCE, "examples", "proto", "echo.proto")
SERVICE = "loaddensity.echo.Echo"
PYTHON = "/usr/bin/python3"  # Debian's, which sees python3-grpcio


def grpc_test(tasks, users=2, test_time=2, **kw):
    args = {"user_detail_dict": {"user": "grpc_user"}, "user_count": users, "spawn_rate": 1000,
            "test_time": test_time, "tasks": tasks}
    args.update(kw)
    return ["LD_start_test", args]


class PyServer:
    """grpc_server.py on a free port; stopped by stop()."""

    def __init__(self, workdir, tls=None):
        self.port_file = os.path.join(workdir, "port-tls" if tls else "port")
        cmd = [PYTHON, os.path.join(os.path.dirname(__file__), "grpc_server.py"), self.port_file]
        if tls:
            cmd += ["--tls", *tls]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(200):
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    self.port = int(f.read())
                return
            if self.proc.poll() is not None:
                raise RuntimeError("grpc_server.py failed: " + self.proc.stderr.read().decode())
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("grpc_server.py did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stderr.close()


class GrpcTest(Case):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="ld-grpc-")
        d = cls.dir.name
        cls.cert, cls.key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", cls.key, "-out", cls.cert], check=True, capture_output=True)
        cls.plain = PyServer(d)
        try:
            cls.tls = PyServer(d, tls=(cls.cert, cls.key))
        except Exception:
            cls.plain.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.plain.stop()
        cls.tls.stop()
        cls.dir.cleanup()

    def target(self):
        return f"127.0.0.1:{self.plain.port}"

    def task(self, method, **kw):
        t = {"target": self.target(), "proto": PROTO, "method": f"{SERVICE}/{method}"}
        t.update(kw)
        return t

    def run_ok(self, *actions, failures=0):
        r = self.run_doc(doc(*actions))
        self.assertEqual(r.code, 0, r.err + r.out)
        s = r.summary()
        if failures is not None:
            self.assertEqual(s["totals"]["failures"], failures, s["errors"])
        return s

    def test_every_call_kind_against_grpcio(self):
        s = self.run_ok(grpc_test([
            self.task("Unary", payload={"message": "hello"},
                      assertions=[{"type": "json_path", "path": "message", "value": "hello"},
                                  {"type": "status", "value": "OK"}]),
            self.task("ServerStream", payload={"message": "s", "count": 4}, expect_messages=4,
                      assertions=[{"type": "json_path", "path": "3.index", "value": 3}]),
            self.task("ClientStream", messages=[{"message": "a"}, {"message": "b"},
                                                {"message": "c"}],
                      assertions=[{"type": "json_path", "path": "received", "value": 3},
                                  {"type": "json_path", "path": "message", "value": "a,b,c"}]),
            self.task("Bidi", messages=[{"message": "x"}, {"message": "y"}], expect_messages=2,
                      assertions=[{"type": "contains", "value": "\"y\""}]),
        ]))
        per = s["per_name"]
        for m in ["Unary", "ServerStream", "ClientStream", "Bidi"]:
            name = f"{SERVICE}/{m}"
            self.assertGreater(per[name]["requests"], 5, name)
            self.assertEqual(per[name]["request_type"], "GRPC")
        # Streams count their messages next to the calls.
        calls = {m: per[f"{SERVICE}/{m}"]["requests"] for m in ["ServerStream", "ClientStream",
                                                                 "Bidi"]}
        self.assertEqual(per[f"{SERVICE}/ServerStream"]["messages_received"], 4 * calls["ServerStream"])
        self.assertEqual(per[f"{SERVICE}/ClientStream"]["messages_sent"], 3 * calls["ClientStream"])
        self.assertEqual(per[f"{SERVICE}/Bidi"]["messages_sent"], 2 * calls["Bidi"])
        self.assertEqual(per[f"{SERVICE}/Bidi"]["messages_received"], 2 * calls["Bidi"])
        self.assertNotIn("messages_sent", per[f"{SERVICE}/Unary"])

    def test_reflection_on_the_embedded_target(self):
        tasks = [{"target": "${target_grpc}", "reflection": True, "method": f"{SERVICE}/{m}", **kw}
                 for m, kw in [("Unary", {"payload": {"message": "r"},
                                          "assertions": [{"type": "json_path", "path": "message",
                                                          "value": "r"}]}),
                               ("ServerStream", {"payload": {"count": 3}, "expect_messages": 3}),
                               ("ClientStream", {"messages": [{"message": "p"}, {"message": "q"}],
                                                 "assertions": [{"type": "json_path",
                                                                 "path": "received",
                                                                 "value": 2}]}),
                               ("Bidi", {"messages": [{}, {}, {}], "expect_messages": 3})]]
        s = self.run_ok(["LD_start_target", {}], grpc_test(tasks), ["LD_stop_target", {}])
        self.assertEqual(len(s["per_name"]), 4)
        for v in s["per_name"].values():
            self.assertGreater(v["requests"], 5)

    def test_status_is_a_failure_unless_asserted(self):
        s = self.run_ok(grpc_test([
            self.task("Unary", name="not found", payload={"status": 5}),
            self.task("Unary", name="expected", payload={"status": 5},
                      assertions=[{"type": "status", "value": "NOT_FOUND"}]),
            self.task("Unary", name="wrong expectation", payload={"status": 7},
                      assertions=[{"type": "status", "value": 5}]),
        ]), failures=None)
        per = s["per_name"]
        self.assertEqual(per["not found"]["failures"], per["not found"]["requests"])
        self.assertEqual(per["expected"]["failures"], 0)
        self.assertEqual(per["wrong expectation"]["failures"],
                         per["wrong expectation"]["requests"])
        kinds = {(e["name"], e["kind"]): e["message"] for e in s["errors"]}
        self.assertEqual(kinds[("not found", "grpc_status")], "NOT_FOUND: requested status")
        self.assertIn("status_code", kinds[("wrong expectation", "assertion")])

    def test_metadata_placeholders_and_extract(self):
        s = self.run_ok(grpc_test([
            self.task("Unary", name="first", payload={"message": "id-${randint(1000,9999)}"},
                      metadata={"x-echo": "${uuid()}"},
                      extract=[{"var": "got", "from": "json_path", "path": "message"},
                               {"var": "echoed", "from": "header", "name": "x-echo"}]),
            self.task("Unary", name="second", payload={"message": "${got}"},
                      metadata={"x-echo": "${echoed}"},
                      assertions=[{"type": "json_path", "path": "message", "value": "${got}"},
                                  {"type": "contains", "value": "id-"},
                                  {"type": "header", "name": "x-echo", "value": "${echoed}"}]),
        ], users=3))
        self.assertGreater(s["per_name"]["second"]["requests"], 5)

    def test_tls_with_a_ca(self):
        t = {"target": f"localhost:{self.tls.port}", "proto": PROTO, "method": f"{SERVICE}/Unary",
             "tls": True, "ca": self.cert, "payload": {"message": "tls"},
             "assertions": [{"type": "json_path", "path": "message", "value": "tls"}]}
        s = self.run_ok(grpc_test([t]))
        self.assertGreater(s["totals"]["requests"], 5)
        # Without the CA the server's self-signed certificate is refused (one user at a calm
        # pace: a refused handshake costs a new connection per call).
        del t["ca"]
        t["think_time"] = 0.02
        s = self.run_ok(grpc_test([t], users=1, test_time=1), failures=None)
        self.assertGreater(s["totals"]["requests"], 5)
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertEqual(set(s["errors_by_kind"]), {"tls"})

    def test_deadline_and_our_timeout(self):
        s = self.run_ok(grpc_test([self.task("Unary", payload={"delay_ms": 1500}, timeout=0.3)],
                                  users=1, test_time=1), failures=None)
        self.assertGreater(s["totals"]["requests"], 0)
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        # The server sees grpc-timeout and ends the call, or our own timeout fires first.
        self.assertLessEqual(set(s["errors_by_kind"]), {"grpc_status", "timeout"})
        self.assertLess(s["latency_overall"]["max_ms"], 1000)

    def test_max_streams_runs_calls_at_once(self):
        s = self.run_ok(grpc_test([self.task("Unary", payload={"delay_ms": 200})],
                                  users=1, test_time=2, max_streams=8))
        # One user with 8 calls in flight: about 8 calls per 200 ms.
        self.assertGreater(s["totals"]["requests"], 30)

    def test_server_down_is_counted(self):
        port = free_port()
        s = self.run_ok(grpc_test([{"target": f"127.0.0.1:{port}", "proto": PROTO,
                                    "method": f"{SERVICE}/Unary"}], test_time=1), failures=None)
        self.assertEqual(set(s["errors_by_kind"]), {"refused"})

    def test_reflection_needs_a_reflection_service(self):
        r = self.run_doc(doc(grpc_test([{"target": self.target(), "reflection": True,
                                         "method": f"{SERVICE}/Unary"}], test_time=1)))
        self.assertNotEqual(r.code, 0)
        self.assertIn("no reflection service", r.err + r.out)

    def bad(self, task, pointer, words):
        r = self.run_doc(doc(grpc_test([task])))
        self.assertEqual(r.code, 2, r.err + r.out)
        self.assertIn(pointer, r.err)
        for w in words:
            self.assertIn(w, r.err)
        self.assertFalse(r.exists("summary.json"))

    def test_bad_input(self):
        self.bad({"target": self.target(), "stub_path": "x_pb2_grpc.py", "method": "Echo"},
                 "/tasks/0/stub_path", ["proto", "package.Service/Method"])
        self.bad({"target": self.target(), "method": f"{SERVICE}/Unary"}, "/tasks/0/proto",
                 ["reflection"])
        self.bad(self.task("Nope"), "/tasks/0/method", ["has no method 'Nope'", "Unary"])
        self.bad(self.task("Unary", payload={"mesage": "x"}), "/tasks/0/payload",
                 ["loaddensity.echo.EchoRequest"])
        self.bad(self.task("Unary", messages=[{}]), "/tasks/0/messages", ["unary"])
        self.bad(self.task("Unary", expect_messages=2), "/tasks/0/expect_messages", ["unary"])
        self.bad(self.task("Unary", assertions=[{"type": "status", "value": "NOPE"}]),
                 "/tasks/0/assertions/0/value", ["NOT_FOUND"])
        self.bad(self.task("Unary", metadata={"te": "x"}), "/tasks/0/metadata/te", ["reserved"])
        broken = os.path.join(self.workdir, "broken.proto")
        with open(broken, "w") as f:
            f.write('syntax = "proto3";\nmessage A { strin x = 1; }\n')
        self.bad(self.task("Unary", proto=broken), "/tasks/0/proto", ["broken.proto:2"])


if __name__ == "__main__":
    unittest.main()
