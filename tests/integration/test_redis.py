"""redis_user against a real redis-server (started by tests/servers.sh; a second one with a
password is started here): every method, any command, AUTH and SELECT from the URL, pipelining,
error replies, nil, per-request placeholders, extract, and bad input."""
import os
import socket
import subprocess
import time

from ldtest import Case, doc, free_port


def redis_test(tasks, users=1, test_time=2, **kw):
    args = {"user_detail_dict": {"user": "redis_user"}, "user_count": users, "spawn_rate": 1000,
            "test_time": test_time, "tasks": tasks}
    args.update(kw)
    return ["LD_start_test", args]


class RedisTest(Case):
    def setUp(self):
        super().setUp()
        self.url = self.need_env("LD_REDIS_URL")
        self.port = self.need_env("LD_REDIS_PORT")
        self.cli("FLUSHALL")

    def cli(self, *args, port=None, password=None, db=0):
        cmd = ["redis-cli", "-p", str(port or self.port), "-n", str(db)]
        if password:
            cmd += ["--no-auth-warning", "-a", password]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def run_ok(self, *actions):
        r = self.run_doc(doc(*actions))
        self.assertEqual(r.code, 0, r.err + r.out)
        return r.summary()

    def started(self, process, port, what):
        """Stops `process` at the end of the test; returns `port` once it accepts connections."""
        self.addCleanup(lambda: (process.terminate(), process.wait(10)))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.05)
        self.fail(f"{what} did not start")

    def start_password_server(self):
        port = free_port()
        p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--requirepass", "s3cret", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=self.workdir)
        return self.started(p, port, "redis-server with a password")

    def test_every_method(self):
        s = self.run_ok(redis_test([
            {"method": "set", "key": "k", "value": "v1"},
            {"method": "get", "key": "k", "expect": "v1"},
            {"method": "incr", "key": "counter"},
            {"method": "lpush", "key": "list", "value": "x"},
            {"method": "rpop", "key": "list", "expect": "x"},
            {"method": "exists", "key": "k", "expect": 1},
            {"method": "set", "key": "gone", "value": 5, "name": "set gone"},
            {"method": "delete", "key": "gone", "expect": "1"},
        ], connection={"url": self.url}))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        per = s["per_name"]
        for name in ["set", "get", "incr", "lpush", "rpop", "exists", "set gone", "delete"]:
            self.assertGreater(per[name]["requests"], 10, name)
            self.assertEqual(per[name]["request_type"], "REDIS")
        self.assertEqual(int(self.cli("GET", "counter")), per["incr"]["requests"])
        self.assertEqual(self.cli("GET", "k"), "v1")
        # The test may stop between two tasks of an iteration: what is left is what ran.
        self.assertEqual(int(self.cli("EXISTS", "gone")),
                         per["set gone"]["requests"] - per["delete"]["requests"])
        self.assertEqual(int(self.cli("LLEN", "list")),
                         per["lpush"]["requests"] - per["rpop"]["requests"])
        self.assertGreater(s["totals"]["bytes_sent"], 0)
        self.assertGreater(s["totals"]["bytes_received"], 0)

    def test_any_command_with_per_request_placeholders(self):
        s = self.run_ok(redis_test([
            {"command": ["HSET", "h", "${uuid()}", "${randint(1,9)}"]},
            {"command": ["EXPIRE", "h", 600], "name": "expire"},
        ], users=2, connection=self.url))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        hset = s["per_name"]["HSET"]["requests"]
        self.assertGreater(hset, 10)
        # Every HSET added a field: each request rendered its own uuid.
        self.assertEqual(int(self.cli("HLEN", "h")), hset)
        values = set(self.cli("HVALS", "h").split())
        self.assertTrue(values <= {str(i) for i in range(1, 10)}, values)

    def test_pipeline_keeps_one_record_per_operation(self):
        s = self.run_ok(redis_test([{"method": "incr", "key": "n"}], users=3, pipeline=16,
                                   connection={"url": self.url}))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        # The server counted exactly as many INCRs as there are records.
        self.assertEqual(int(self.cli("GET", "n")), s["per_name"]["incr"]["requests"])
        self.assertGreater(s["per_name"]["incr"]["requests"], 1000)

    def test_auth_and_select_from_the_url(self):
        port = self.start_password_server()
        s = self.run_ok(
            redis_test([
                {"method": "set", "key": "db5", "value": "in five"},
                {"method": "set", "key": "db0", "value": "in zero", "name": "default db",
                 "url": f"redis://:s3cret@127.0.0.1:{port}"},
                {"method": "get", "key": "db5", "expect": "in five"},
            ], connection={"url": f"redis://:s3cret@127.0.0.1:{port}/5"}))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertEqual(self.cli("GET", "db5", port=port, password="s3cret", db=5), "in five")
        self.assertEqual(self.cli("GET", "db5", port=port, password="s3cret", db=0), "")
        self.assertEqual(self.cli("GET", "db0", port=port, password="s3cret", db=0), "in zero")
        # An ACL user with user:password@.
        self.cli("ACL", "SETUSER", "alice", "on", ">pw", "~*", "+@all", port=port, password="s3cret")
        s = self.run_ok(redis_test([{"method": "set", "key": "a", "value": "alice was here"}],
                                   connection=f"redis://alice:pw@127.0.0.1:{port}/2"))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertEqual(self.cli("GET", "a", port=port, password="s3cret", db=2), "alice was here")
        # A wrong password fails every operation as redis_error with the server's message.
        s = self.run_ok(redis_test([{"method": "get", "key": "a"}], test_time=1,
                                   connection=f"redis://:wrong@127.0.0.1:{port}/0"))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertEqual({e["kind"] for e in s["errors"]}, {"redis_error"})
        self.assertIn("WRONGPASS", s["errors"][0]["message"])
        # No password at all: the server refuses the command itself.
        s = self.run_ok(redis_test([{"method": "get", "key": "a"}], test_time=1,
                                   connection=f"redis://127.0.0.1:{port}"))
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertIn("NOAUTH", s["errors"][0]["message"])

    def start_tls_server(self):
        cert, key = os.path.join(self.workdir, "cert.pem"), os.path.join(self.workdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        port = free_port()
        p = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port),
                              "--bind", "127.0.0.1", "--tls-cert-file", cert,
                              "--tls-key-file", key, "--tls-ca-cert-file", cert,
                              "--tls-auth-clients", "no", "--requirepass", "tls-pw",
                              "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=self.workdir)
        return self.started(p, port, "redis-server with TLS"), cert

    def test_rediss_with_verification(self):
        port, ca = self.start_tls_server()
        s = self.run_ok(redis_test([
            {"method": "set", "key": "t", "value": "over tls"},
            {"method": "get", "key": "t", "expect": "over tls"},
        ], pipeline=4, connection={"url": f"rediss://:tls-pw@localhost:{port}/3", "verify": ca}))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(s["per_name"]["get"]["requests"], 100)
        # An IP literal is checked against the certificate's IP address; verify false skips it.
        s = self.run_ok(redis_test([{"method": "incr", "key": "n", "url": f"rediss://:tls-pw@127.0.0.1:{port}"}],
                                   test_time=1, connection={"url": self.url, "verify": ca}))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        s = self.run_ok(redis_test([{"method": "incr", "key": "n", "verify": False,
                                     "url": f"rediss://:tls-pw@127.0.0.1:{port}"}], test_time=1))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        # The system store does not know the self-signed certificate: tls failures.
        s = self.run_ok(redis_test([{"method": "get", "key": "t"}], test_time=1,
                                   connection=f"rediss://:tls-pw@localhost:{port}"))
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertEqual(set(s["errors_by_kind"]), {"tls"})
        self.assertIn("certificate", s["errors"][0]["message"])

    def test_error_replies_are_redis_errors(self):
        self.cli("SET", "str", "x")
        s = self.run_ok(redis_test([
            {"command": ["LPUSH", "str", "y"], "name": "wrongtype"},
            {"command": ["NOSUCHCOMMAND", "a"], "name": "unknown"},
            {"method": "get", "key": "str", "expect": "x", "name": "still fine"},
        ], pipeline=4, connection=self.url))
        per = s["per_name"]
        self.assertEqual(per["wrongtype"]["failures"], per["wrongtype"]["requests"])
        self.assertEqual(per["unknown"]["failures"], per["unknown"]["requests"])
        self.assertEqual(per["still fine"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"redis_error"})
        messages = {e["name"]: e["message"] for e in s["errors"]}
        self.assertTrue(messages["wrongtype"].startswith("WRONGTYPE"), messages)
        self.assertIn("unknown command", messages["unknown"])

    def test_nil_can_be_asserted(self):
        s = self.run_ok(redis_test([
            {"method": "get", "key": "missing", "expect": None, "name": "expect nil"},
            {"method": "rpop", "key": "nolist", "name": "json null",
             "assertions": [{"type": "json_path", "path": "$", "value": None}]},
            {"method": "get", "key": "missing", "expect": "something", "name": "not nil"},
            {"method": "incr", "key": "n", "name": "not null",
             "assertions": [{"type": "json_path", "path": "$", "value": None}]},
        ], connection=self.url, test_time=1))
        per = s["per_name"]
        self.assertEqual(per["expect nil"]["failures"], 0)
        self.assertEqual(per["json null"]["failures"], 0)
        self.assertEqual(per["not nil"]["failures"], per["not nil"]["requests"])
        self.assertEqual(per["not null"]["failures"], per["not null"]["requests"])
        self.assertEqual(set(s["errors_by_kind"]), {"assertion"})
        messages = {e["name"]: e["message"] for e in s["errors"]}
        self.assertEqual(messages["not nil"], "expect failed: reply == 'something'")

    def test_extract_then_use_in_a_later_task(self):
        self.cli("SET", "doc", '{"user": {"id": 42, "tags": ["a", "b"]}}')
        self.cli("RPUSH", "names", "ann", "bob")
        s = self.run_ok(redis_test([
            {"method": "set", "key": "src", "value": "hello-${randint(100,100)}"},
            {"method": "get", "key": "src", "name": "read",
             "assertions": [{"type": "contains", "value": "hello"}],
             "extract": [{"var": "greeting", "path": "$"}]},
            {"method": "set", "key": "copy", "value": "${greeting}!"},
            {"method": "get", "key": "doc", "name": "doc",
             "assertions": [{"type": "json_path", "path": "user.tags[1]", "value": "b"}],
             "extract": [{"var": "uid", "path": "$.user.id"}]},
            {"command": ["LRANGE", "names", 0, -1], "name": "range",
             "assertions": [{"type": "json_path", "path": "$[0]", "value": "ann"}],
             "extract": [{"var": "second", "path": "1"}]},
            {"command": ["SET", "derived", "${uid}-${second}"], "name": "derived"},
        ], connection=self.url))
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertEqual(self.cli("GET", "copy"), "hello-100!")
        self.assertEqual(self.cli("GET", "derived"), "42-bob")

    def test_timeout_and_refused(self):
        port = free_port()  # nothing listens there
        s = self.run_ok(redis_test([{"method": "get", "key": "k"}], test_time=1,
                                   connection=f"redis://127.0.0.1:{port}"))
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"refused"})
        # A blocking command past its timeout is a timeout, and the connection is replaced.
        s = self.run_ok(redis_test([
            {"command": ["BLPOP", "never", 5], "timeout": 0.2, "name": "blocked"},
            {"method": "get", "key": "k", "name": "after"},
        ], test_time=1, connection=self.url))
        per = s["per_name"]
        self.assertEqual(per["blocked"]["failures"], per["blocked"]["requests"])
        self.assertEqual(per["after"]["failures"], 0)
        self.assertGreater(per["after"]["requests"], 0)
        self.assertEqual(set(s["errors_by_kind"]), {"timeout"})

    def test_bad_input_exits_2_before_anything_runs(self):
        for task, needle in [
            ({"method": "set", "key": "k"}, "/tasks/0/value"),
            ({"method": "gett", "key": "k"}, "did you mean 'get'?"),
            ({"command": "GET k"}, "/tasks/0/command"),
            ({"method": "get", "key": "k", "url": "http://127.0.0.1:1"}, "/tasks/0/url"),
        ]:
            r = self.run_doc(doc(redis_test([task], connection=self.url)))
            self.assertEqual(r.code, 2, (task, r.out, r.err))
            self.assertIn(needle, r.err + r.out)
            self.assertFalse(r.exists("summary.json"))
        r = self.run_doc(doc(redis_test([{"method": "get", "key": "k"}], pipeline=0)))
        self.assertEqual(r.code, 2)
        self.assertIn("/pipeline", r.err + r.out)
