"""The HTTP/2 user (async_http_user) against real nginx (h2c and h2 over TLS, started by
tests/servers.sh), against nginx instances and fake servers each test starts and breaks itself,
and against the embedded target's h2c endpoint."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

from ldtest import Case, SOURCE, doc, start_test


def h2_test(tasks, users=4, test_time=2, **kw):
    return start_test(tasks, users=users, test_time=test_time,
                      user_detail_dict={"user": "async_http_user"}, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, tries=100):
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def log_lines(path, marker):
    """Access-log lines (connection, end_s, request_time_s) of requests whose URI has `marker`."""
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and marker in parts[3]:
                out.append((parts[0], float(parts[1]), float(parts[2])))
    return out


def max_overlap(lines):
    """Most requests in flight at once: for each request, how many intervals hold its midpoint."""
    best = 0
    for _, end, rt in lines:
        mid = end - rt / 2
        best = max(best, sum(1 for _, e, r in lines if e - r < mid < e))
    return best


class NginxH2Test(Case):
    def test_counts_statuses_resets_and_redirects_over_h2c(self):
        url = self.need_env("LD_NGINX_H2C_URL")
        r = self.run_doc(doc(h2_test([
            {"method": "get", "request_url": url + "/hello", "name": "hello"},
            {"method": "post", "request_url": url + "/hello", "json": {"a": 1}, "name": "post"},
            {"method": "get", "request_url": url + "/fail", "name": "fail"},
            {"method": "get", "request_url": url + "/reset", "name": "reset"},
            {"method": "get", "request_url": url + "/redirect", "name": "redirect"},
            {"method": "get", "request_url": url + "/redirect", "name": "noredirect",
             "follow_redirects": False},
        ], users=4, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        for name in ["hello", "post", "redirect", "noredirect"]:
            self.assertGreater(per[name]["requests"], 50, name)
            self.assertEqual(per[name]["failures"], 0, name)
        self.assertEqual(per["hello"]["request_type"], "GET")
        self.assertEqual(per["post"]["request_type"], "POST")
        self.assertEqual(per["fail"]["failures"], per["fail"]["requests"])
        self.assertEqual(per["reset"]["failures"], per["reset"]["requests"])
        self.assertEqual(s["errors_by_kind"],
                         {"http_status": per["fail"]["requests"],
                          "reset": per["reset"]["requests"]})
        # 13-byte body plus decoded headers per hello; the redirect hop adds a 302 first.
        self.assertGreater(per["hello"]["bytes_received"], 13 * per["hello"]["requests"])
        self.assertGreater(per["redirect"]["bytes_received"] / per["redirect"]["requests"],
                           per["hello"]["bytes_received"] / per["hello"]["requests"])
        counts = [per[n]["requests"] for n in per]
        self.assertLessEqual(max(counts) - min(counts), 4, "tasks run in order per user")

    def test_placeholders_render_per_request_on_every_stream(self):
        url = self.need_env("LD_NGINX_H2C_URL")
        log = self.need_env("LD_NGINX_H2_LOG")
        marker = uuid.uuid4().hex
        r = self.run_doc(doc(h2_test(
            [{"method": "get", "request_url": f"{url}/hello?m={marker}&u=${{uuid()}}",
              "params": {"r": "${randint(1,1000000000)}"}, "headers": {"X-Id": "${uuid()}"},
              "name": "hello"}],
            users=2, test_time=1, max_streams=4)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        requests = s["totals"]["requests"]
        self.assertGreater(requests, 20)
        uris = []
        for _ in range(50):  # nginx writes a line once its response is done
            with open(log) as f:
                uris = [line.split()[3] for line in f if marker in line]
            if len(uris) >= requests:
                break
            time.sleep(0.05)
        self.assertEqual(len(uris), requests)
        self.assertEqual(len(set(uris)), len(uris), "a fresh uuid per request")
        self.assertFalse([u for u in uris if "${" in u or "%24%7B" in u], uris[:3])

    def test_max_streams_multiplexes_on_one_connection(self):
        url = self.need_env("LD_NGINX_H2C_URL")
        log = self.need_env("LD_NGINX_H2_LOG")
        results = {}
        for streams in (8, 1):
            marker = uuid.uuid4().hex
            r = self.run_doc(doc(h2_test(
                [{"method": "get", "request_url": f"{url}/slow?m={marker}", "name": "slow"}],
                users=1, test_time=2, max_streams=streams)))
            self.assertEqual(r.code, 0, r.err)
            s = r.summary()
            self.assertEqual(s["totals"]["failures"], 0)
            time.sleep(0.2)  # nginx writes the log line when the response is done
            lines = log_lines(log, marker)
            self.assertEqual(len(lines), s["totals"]["requests"])
            results[streams] = (lines, s["totals"]["requests"])
        lines8, n8 = results[8]
        lines1, n1 = results[1]
        self.assertEqual(len({c for c, _, _ in lines8}), 1, "one user, one connection")
        self.assertEqual(len({c for c, _, _ in lines1}), 1)
        # Each response takes ~1 s: with 8 streams they overlap on that one connection; with one
        # stream they never do.
        self.assertGreaterEqual(max_overlap(lines8), 4)
        self.assertEqual(max_overlap(lines1), 1)
        self.assertGreater(n8, n1)

    def test_tls_alpn_and_verification(self):
        url = self.need_env("LD_NGINX_H2_URL")
        ca = self.need_env("LD_NGINX_TLS_CA")
        h1_tls = self.need_env("LD_NGINX_TLS_URL")
        r = self.run_doc(doc(h2_test([
            {"method": "get", "request_url": url + "/hello", "name": "noverify", "verify": False},
            {"method": "get", "request_url": url + "/hello", "name": "strict"},
            {"method": "get", "request_url": url.replace("127.0.0.1", "localhost") + "/hello",
             "name": "ca", "verify": ca},
            {"method": "get", "request_url": h1_tls + "/", "name": "noalpn", "verify": False},
        ], users=2, test_time=1, max_streams=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        self.assertGreater(per["noverify"]["requests"], 0)
        self.assertEqual(per["noverify"]["failures"], 0)
        self.assertEqual(per["ca"]["failures"], 0, "verify with the CA bundle succeeds")
        self.assertGreater(per["ca"]["requests"], 0)
        self.assertEqual(per["strict"]["failures"], per["strict"]["requests"],
                         "a self-signed certificate fails verification by default")
        self.assertEqual(per["noalpn"]["failures"], per["noalpn"]["requests"],
                         "a TLS server without h2 in ALPN is a failure, not HTTP/1.1")
        messages = {(e["name"], e["kind"], e["message"].split(" 1")[0]) for e in s["errors"]}
        self.assertIn(("noalpn", "protocol", "server did not negotiate h2 (ALPN)"), messages)
        self.assertTrue(any(e["name"] == "strict" and e["kind"] == "tls" and
                            "certificate verification failed" in e["message"]
                            for e in s["errors"]), s["errors"])

    def test_stream_timeout_resets_only_that_stream(self):
        url = self.need_env("LD_NGINX_H2C_URL")
        r = self.run_doc(doc(h2_test([
            {"method": "get", "request_url": url + "/slow", "name": "slow", "timeout": 0.3},
            {"method": "get", "request_url": url + "/hello", "name": "hello"},
        ], users=2, test_time=2, max_streams=2)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertGreater(per["slow"]["requests"], 0)
        self.assertEqual(per["slow"]["failures"], per["slow"]["requests"])
        self.assertEqual(r.summary()["errors_by_kind"], {"timeout": per["slow"]["requests"]})
        self.assertGreater(per["hello"]["requests"], 0)
        self.assertEqual(per["hello"]["failures"], 0, "the connection survives a reset stream")

    def test_http2_false_runs_the_tasks_over_http1(self):
        url = self.need_env("LD_NGINX_URL")  # an HTTP/1.1-only port
        r = self.run_doc(doc(h2_test([{"method": "get", "request_url": url + "/hello",
                                       "name": "h1"}], users=2, test_time=1, http2=False)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertGreater(per["h1"]["requests"], 0)
        self.assertEqual(per["h1"]["failures"], 0)


class BrokenServerTest(Case):
    def _nginx(self, port, workdir):
        conf = os.path.join(workdir, f"nginx-{port}.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1; daemon off; master_process off;
pid {workdir}/nginx-{port}.pid; error_log {workdir}/nginx-{port}.err warn;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {workdir}/body;
  server {{ listen 127.0.0.1:{port} http2;
           location / {{ default_type text/plain; return 200 "ok\\n"; }} }} }}
""")
        p = subprocess.Popen(["nginx", "-c", conf, "-e", f"{workdir}/nginx-{port}.err"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        return p

    def test_server_killed_mid_run_is_counted_and_the_run_recovers(self):
        port = free_port()
        nginx = self._nginx(port, self.workdir)
        try:
            proc = self.start_doc(doc(h2_test(
                [{"method": "get", "request_url": f"http://127.0.0.1:{port}/", "name": "x",
                  "timeout": 2}], users=4, test_time=4, max_streams=4)))
            time.sleep(1.2)
            nginx.kill()  # SIGKILL: connections drop mid-stream
            nginx.wait()
            time.sleep(0.8)
            nginx = self._nginx(port, self.workdir)  # back again: users reconnect
            out, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, err)
        finally:
            nginx.kill()
            nginx.wait()
        import json
        with open(os.path.join(self.workdir, "summary.json")) as f:
            s = json.load(f)
        kinds = s["errors_by_kind"]
        self.assertGreater(s["totals"]["successes"], 0)
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertTrue(set(kinds) <= {"reset", "refused"}, kinds)
        self.assertIn("refused", kinds, "requests while the server was down")
        # Requests succeeded after the restart: the last second of the timeline has successes.
        self.assertGreater(s["per_name"]["x"]["requests"] - s["per_name"]["x"]["failures"], 0)

    def test_garbage_instead_of_frames_is_a_protocol_failure(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(64)
        srv.settimeout(0.2)
        port = srv.getsockname()[1]
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                except OSError:
                    continue
                try:
                    c.settimeout(1)
                    c.recv(4096)
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
                    time.sleep(0.05)
                except OSError:
                    pass
                finally:
                    c.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            r = self.run_doc(doc(h2_test([{"method": "get", "name": "junk",
                                           "request_url": f"http://127.0.0.1:{port}/"}],
                                         users=2, test_time=1)))
        finally:
            stop.set()
            t.join(timeout=5)
            srv.close()
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertGreater(s["totals"]["requests"], 0)
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertIn("protocol", s["errors_by_kind"])
        self.assertTrue(any(e["message"].startswith("HTTP/2 protocol error from server")
                            for e in s["errors"]), s["errors"])


class EmbeddedTargetH2cTest(Case):
    def test_http2_example_runs_offline(self):
        r = self.run_ld("run", os.path.join(SOURCE, "examples", "http2_smoke.json"))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary("http2_smoke-summary")
        per = s["per_name"]
        self.assertEqual(set(per), {"h2 GET /get", "h2 POST /post", "h2 GET /status/404"})
        self.assertGreater(per["h2 GET /get"]["requests"], 100)
        self.assertEqual(per["h2 GET /get"]["failures"], 0)
        self.assertEqual(per["h2 POST /post"]["failures"], 0)
        self.assertEqual(per["h2 GET /status/404"]["failures"],
                         per["h2 GET /status/404"]["requests"])
        self.assertEqual(s["errors_by_kind"], {"http_status": per["h2 GET /status/404"]["requests"]})

    def test_placeholders_render_per_request_and_checks_read_the_echo(self):
        r = self.run_doc(doc(["LD_start_target"], h2_test([
            {"method": "post", "request_url": "${target}/anything/${uuid()}?q=${uuid()}",
             "headers": {"X-Id": "${uuid()}"}, "json": {"id": "${uuid()}", "n": 1},
             "name": "first", "extract": [{"var": "prev", "path": "json.id"}],
             "assertions": [{"type": "json_path", "path": "json.n", "value": 1},
                            {"type": "not_contains", "value": "${"}]},
            {"method": "post", "request_url": "${target}/post", "data": {"f": "${uuid()}"},
             "name": "differs",
             "assertions": [{"type": "not_contains", "value": "${prev}"},
                            {"type": "contains", "value": "\"f\""},
                            {"type": "not_contains", "value": "${"}]},
            {"method": "get", "request_url": "${target}/get?x=${uuid()}", "name": "fails",
             "assertions": [{"type": "contains", "value": "nope"}]},
        ], users=2, test_time=1, max_streams=3)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        for name in ["first", "differs"]:
            self.assertGreater(per[name]["requests"], 20, name)
            self.assertEqual(per[name]["failures"], 0, s["errors"])
        self.assertEqual(per["fails"]["failures"], per["fails"]["requests"])
        self.assertEqual(s["errors_by_kind"], {"assertion": per["fails"]["requests"]})

    def test_target_answers_h2c_with_delays_and_redirects(self):
        r = self.run_doc(doc(["LD_start_target"], h2_test([
            {"method": "get", "request_url": "${target}/delay/0.2", "name": "delay"},
            {"method": "get", "request_url": "${target}/redirect/2", "name": "redirect"},
            {"method": "put", "request_url": "${target}/put", "data": "x" * 70000, "name": "put"},
            {"method": "head", "request_url": "${target}/get", "name": "head"},
        ], users=2, test_time=1, max_streams=3)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        for name in ["delay", "redirect", "put", "head"]:
            self.assertGreater(per[name]["requests"], 0, name)
            self.assertEqual(per[name]["failures"], 0, name)
        self.assertGreaterEqual(per["delay"]["min_ms"], 190)
        # the echo of a 70,000-byte body comes back in the response
        self.assertGreater(per["put"]["bytes_received"] / per["put"]["requests"], 70000)


class Http2BadInputTest(Case):
    def _bad(self, action, *expected):
        r = self.run_doc(doc(action, summary=None))
        self.assertEqual(r.code, 2, r.err)
        for e in expected:
            self.assertIn(e, r.err)
        return r

    def test_bad_options_and_fields_stop_before_anything_runs(self):
        ok_task = {"method": "get", "request_url": "http://127.0.0.1:1/"}
        self._bad(h2_test([ok_task], max_streams=0), "max_streams", "/max_streams")
        self._bad(h2_test([ok_task], http2="yes"), "argument 'http2' of LD_start_test must be boolean")
        self._bad(h2_test([{**ok_task, "headers": {"Connection": "close"}}]),
                  "not allowed in HTTP/2", "/tasks/0/headers/Connection")
        self._bad(h2_test([{**ok_task, "stream": 1}]), "unknown task field 'stream'",
                  "/tasks/0/stream")
        self._bad(h2_test([{"method": "get"}]), "request_url")
