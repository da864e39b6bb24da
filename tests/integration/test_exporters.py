"""Live exporters against real receivers: Prometheus scraping the endpoint, InfluxDB 1.6 over
UDP and HTTP, an OTLP/HTTP receiver decoding protobuf, a DogStatsD UDP listener; endpoints that
are down are reported once and never fail the test."""
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from ldtest import Case, doc, free_port, start_test

HERE = os.path.dirname(os.path.abspath(__file__))


def hello_test(test_time, name="hello", path="/get", users=4, **kw):
    return start_test([{"method": "get", "request_url": "${target}" + path, "name": name}],
                      users=users, test_time=test_time, **kw)


def wait_http(url, timeout=30, ok=(200, 204)):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status in ok:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


class Server:
    """A server process in its own temp dir, stopped (and the dir removed) at exit."""

    def __init__(self, case, args, tmp):
        self.tmp = tmp
        self.log = open(os.path.join(tmp, "server.log"), "w")
        self.proc = subprocess.Popen(args, cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT)
        case.addCleanup(self.stop)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def server_dir(case, prefix):
    tmp = tempfile.mkdtemp(prefix=prefix)
    case.addCleanup(shutil.rmtree, tmp, True)
    return tmp


class PrometheusTest(Case):
    def test_a_real_prometheus_scrapes_our_series_during_two_runs(self):
        tmp = server_dir(self, "ld-prom-")
        ld_port, prom_port = free_port(), free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: loaddensity
    static_configs:
      - targets: ["127.0.0.1:{ld_port}"]
""")
        Server(self, ["/usr/bin/prometheus", f"--config.file={tmp}/prometheus.yml",
                      f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{prom_port}"],
               tmp)
        api = f"http://127.0.0.1:{prom_port}"
        wait_http(api + "/-/ready")
        # Two runs in one process: the counters keep growing across them. The endpoint comes
        # from the CLI shortcut.
        d = doc(["LD_start_target"],
                hello_test(3, users=3),
                ["LD_generate_summary_report", {"report_name": "first"}],
                hello_test(4, users=3),
                ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"},
                                   "user_count": 2, "spawn_rate": 100, "test_time": 2,
                                   "tasks": [{"method": "get", "name": "missing",
                                              "request_url": "${target}/status/503"}]}])
        r = self.run_doc(d, "--prometheus", f"127.0.0.1:{ld_port}")
        self.assertEqual(r.code, 0, r.err)
        first = r.summary("first")["totals"]["requests"]
        total = r.summary()["totals"]
        self.assertGreater(first, 0)

        def query(q):
            res = get_json(api + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
            self.assertEqual(res["status"], "success", res)
            return res["data"]["result"]

        deadline = time.time() + 20
        while time.time() < deadline and not query('max_over_time(up{job="loaddensity"}[5m]) == 1'):
            time.sleep(0.5)
        ok = query('max_over_time(loaddensity_requests_total{name="hello",outcome="success"}[5m])')
        self.assertEqual(len(ok), 1, ok)
        self.assertEqual(ok[0]["metric"]["request_type"], "GET")
        scraped = float(ok[0]["value"][1])
        # Scraped during the second run: more than the first run alone, never more than all.
        self.assertGreater(scraped, first)
        self.assertLessEqual(scraped, total["requests"])
        self.assertEqual(query('resets(loaddensity_requests_total{name="hello"}[5m]) > 0'), [])
        buckets = query('count(max_over_time(loaddensity_request_latency_ms_bucket{name="hello"}[5m]))')
        self.assertEqual(float(buckets[0]["value"][1]), 43)  # 42 bounds + "+Inf"
        p99 = query('histogram_quantile(0.99, max_over_time(loaddensity_request_latency_ms_bucket{name="hello"}[5m]))')
        self.assertGreater(float(p99[0]["value"][1]), 0)
        users = query("max_over_time(loaddensity_users[5m])")
        self.assertEqual(float(users[0]["value"][1]), 3)
        # The failing run's errors, by kind (when a scrape caught it).
        errors = query('max_over_time(loaddensity_errors_total{name="missing"}[5m])')
        for e in errors:
            self.assertEqual(e["metric"]["kind"], "http_status")
            self.assertLessEqual(float(e["value"][1]), total["failures"])

    def test_start_stop_and_bad_arguments(self):
        port = free_port()
        d = doc(["LD_start_prometheus_exporter", {"port": port}],
                ["LD_start_target"], hello_test(1),
                ["LD_stop_prometheus_exporter"], summary=None)
        p = self.start_doc(d)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn(f"http://127.0.0.1:{port}/metrics", out)
        r = self.run_doc(doc(["LD_start_prometheus_exporter", {"port": 70000}], summary=None))
        self.assertEqual(r.code, 2)
        self.assertIn("port must be a number between 0 and 65535", r.err)
        r = self.run_ld("run-str", "[]", "--prometheus", "a:b:c:")
        self.assertEqual(r.code, 2, r.err)

    def test_scrape_by_hand_while_running(self):
        port = free_port()
        d = doc(["LD_start_target"], hello_test(3, name="a \"quoted\" name"), summary=None)
        p = self.start_doc(d, "--prometheus", str(port))
        try:
            body = ""
            deadline = time.time() + 30
            while time.time() < deadline and 'outcome="success"} ' not in body:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                        self.assertEqual(resp.headers["Content-Type"],
                                         "text/plain; version=0.0.4; charset=utf-8")
                        body = resp.read().decode()
                except OSError:
                    pass
                time.sleep(0.2)
            self.assertIn('loaddensity_requests_total{request_type="GET",name="a \\"quoted\\" name",'
                          'outcome="success"}', body)
        finally:
            p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0)


class InfluxTest(Case):
    def start_influxd(self):
        tmp = server_dir(self, "ld-influx-")
        http_port, udp_port, rpc_port = free_port(), free_port(), free_port()
        with open(os.path.join(tmp, "influxdb.conf"), "w") as f:
            f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{tmp}/meta"
[data]
  dir = "{tmp}/data"
  wal-dir = "{tmp}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[[udp]]
  enabled = true
  bind-address = "127.0.0.1:{udp_port}"
  database = "ld_udp"
  batch-size = 100
  batch-timeout = "100ms"
""")
        Server(self, ["/usr/bin/influxd", "-config", f"{tmp}/influxdb.conf"], tmp)
        base = f"http://127.0.0.1:{http_port}"
        wait_http(base + "/ping")
        return base, udp_port

    def influx_query(self, base, db, q):
        url = base + "/query?" + urllib.parse.urlencode({"db": db, "q": q})
        req = urllib.request.Request(url, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)["results"][0]

    def sum_requests(self, base, db, name):
        res = self.influx_query(base, db, "SELECT sum(requests), sum(failures), count(requests) "
                                          f"FROM loaddensity_request WHERE \"name\" = '{name}'")
        if "series" not in res:
            return None
        return res["series"][0]["values"][0][1:]

    def test_points_over_http_and_udp_are_read_back(self):
        base, udp_port = self.start_influxd()
        self.influx_query(base, "", "CREATE DATABASE ld_http")
        weird = "we ird,name=x"
        d = doc(["LD_start_target"],
                ["LD_start_influxdb_sink", {"transport": "http", "url": base + "/write?db=ld_http",
                                            "token": "secret", "interval_ms": 500}],
                hello_test(3, name=weird),
                ["LD_stop_influxdb_sink"],
                ["LD_generate_summary_report", {"report_name": "http"}],
                ["LD_start_influxdb_sink", {"port": udp_port, "interval_ms": 500}],
                hello_test(3, name="over udp"),
                ["LD_stop_influxdb_sink"])
        r = self.run_doc(d)
        self.assertEqual(r.code, 0, r.err)
        self.assertNotIn("unreachable", r.err)
        http_total = r.summary("http")["totals"]["requests"]
        udp_total = r.summary()["totals"]["requests"] - http_total
        # HTTP: every request is in the database once the sink stopped (batches per interval).
        got = self.sum_requests(base, "ld_http", weird)
        self.assertIsNotNone(got)
        self.assertEqual(got[0], http_total)
        self.assertEqual(got[1], 0)
        self.assertGreaterEqual(got[2], 3)  # several interval batches
        self.assertLess(got[2], 20)  # ... not one point per request
        res = self.influx_query(base, "ld_http", "SELECT * FROM loaddensity_request LIMIT 1")
        cols = res["series"][0]["columns"]
        for c in ["request_type", "name", "requests", "failures", "success", "latency_ms",
                  "latency_p95_ms", "response_bytes"]:
            self.assertIn(c, cols)
        row = dict(zip(cols, res["series"][0]["values"][0]))
        self.assertEqual(row["request_type"], "GET")
        self.assertIs(row["success"], True)
        # UDP: the listener batches on its side; wait for the points to land.
        deadline = time.time() + 15
        got = None
        while time.time() < deadline:
            try:
                got = self.sum_requests(base, "ld_udp", "over udp")
            except OSError:
                got = None
            if got and got[0] == udp_total:
                break
            time.sleep(0.3)
        self.assertIsNotNone(got)
        self.assertEqual(got[0], udp_total)


class OtlpReceiver:
    """An OTLP/HTTP receiver: keeps every POST body and its content type."""

    def __init__(self, case, status=lambda n: 200):
        self.requests = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, self.headers["Content-Type"], body))
                self.send_response(status(len(outer.requests)))
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        case.addCleanup(self.close)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def otlp_module(case):
    """The test's OTLP messages, compiled from otlp/otlp_metrics.proto by protoc."""
    out = server_dir(case, "ld-otlp-")
    subprocess.run(["protoc", f"--proto_path={HERE}/otlp", f"--python_out={out}",
                    "otlp_metrics.proto"], check=True)
    sys.path.insert(0, out)
    case.addCleanup(sys.path.remove, out)
    import importlib
    import otlp_metrics_pb2
    return importlib.reload(otlp_metrics_pb2)


def attrs(point):
    return {kv.key: kv.value.string_value for kv in point.attributes}


class OtlpTest(Case):
    def test_receiver_decodes_cumulative_metrics(self):
        pb = otlp_module(self)
        rx = OtlpReceiver(self)
        d = doc(["LD_start_target"],
                ["LD_start_opentelemetry_exporter", {"endpoint": f"http://127.0.0.1:{rx.port}",
                                                     "service_name": "checkout",
                                                     "export_interval_ms": 500}],
                hello_test(3),
                ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"},
                                   "user_count": 1, "spawn_rate": 100, "test_time": 1,
                                   "tasks": [{"method": "get", "name": "missing",
                                              "request_url": "${target}/status/404"}]}],
                ["LD_stop_opentelemetry_exporter"])
        r = self.run_doc(d)
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()["totals"]
        self.assertGreaterEqual(len(rx.requests), 4)
        self.assertEqual({p for p, _, _ in rx.requests}, {"/v1/metrics"})
        self.assertEqual({c for _, c, _ in rx.requests}, {"application/x-protobuf"})
        starts, last_hello = set(), 0
        for _, _, body in rx.requests:
            req = pb.ExportMetricsServiceRequest()
            req.ParseFromString(body)
            (rm,) = req.resource_metrics
            self.assertEqual(attrs(rm.resource), {"service.name": "checkout"})
            (sm,) = rm.scope_metrics
            self.assertEqual(sm.scope.name, "loaddensity")
            metrics = {m.name: m for m in sm.metrics}
            if "loaddensity.requests" not in metrics:
                continue
            m = metrics["loaddensity.requests"]
            self.assertEqual(m.WhichOneof("data"), "sum")
            self.assertTrue(m.sum.is_monotonic)
            self.assertEqual(m.sum.aggregation_temporality, pb.AGGREGATION_TEMPORALITY_CUMULATIVE)
            for p in m.sum.data_points:
                starts.add(p.start_time_unix_nano)
                self.assertEqual(set(attrs(p)), {"request_type", "name", "outcome"})
                if attrs(p) == {"request_type": "GET", "name": "hello", "outcome": "success"}:
                    self.assertGreaterEqual(p.as_int, last_hello)  # cumulative, never resets
                    last_hello = p.as_int
            lat = metrics["loaddensity.request.latency"]
            self.assertEqual(lat.unit, "ms")
            self.assertEqual(lat.histogram.aggregation_temporality,
                             pb.AGGREGATION_TEMPORALITY_CUMULATIVE)
            for p in lat.histogram.data_points:
                self.assertEqual(set(attrs(p)), {"request_type", "name"})
                self.assertEqual(sum(p.bucket_counts), p.count)
                self.assertEqual(len(p.bucket_counts), len(p.explicit_bounds) + 1)
                self.assertEqual(list(p.explicit_bounds), sorted(p.explicit_bounds))
                self.assertGreater(p.sum, 0)
            self.assertEqual(metrics["loaddensity.response.size"].unit, "By")
        self.assertEqual(len(starts), 1)
        # The last export (at the stop) carries every request of both runs.
        req = pb.ExportMetricsServiceRequest()
        req.ParseFromString(rx.requests[-1][2])
        metrics = {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}
        by = {(attrs(p)["name"], attrs(p)["outcome"]): p.as_int
              for p in metrics["loaddensity.requests"].sum.data_points}
        self.assertEqual(by[("hello", "success")] + by[("missing", "success")] +
                         by[("hello", "failure")] + by[("missing", "failure")], s["requests"])
        self.assertEqual(by[("missing", "failure")], s["failures"])
        self.assertGreater(by[("missing", "failure")], 0)
        errs = {(attrs(p)["name"], attrs(p)["error.kind"]): p.as_int
                for p in metrics["loaddensity.errors"].sum.data_points}
        self.assertEqual(errs, {("missing", "http_status"): s["failures"]})
        hist = {attrs(p)["name"]: p for p in metrics["loaddensity.request.latency"].histogram.data_points}
        self.assertEqual(hist["hello"].count, by[("hello", "success")])


class StatsdTest(Case):
    LINE = re.compile(r"^loaddensity\.(requests|errors):(\d+)\|c\|#method:GET,name:([^,|#:]+)"
                      r"(?:,outcome:(success|failure)|,kind:(\w+))$"
                      r"|^loaddensity\.request\.latency:(\d+)\|ms(?:\|@([0-9.e-]+))?\|#method:GET,name:([^,|#:]+)$"
                      r"|^loaddensity\.response\.size:(\d+)\|h(?:\|@([0-9.e-]+))?\|#method:GET,name:([^,|#:]+)$"
                      r"|^loaddensity\.users:(\d+)\|g$")

    def test_listener_checks_the_lines(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        self.addCleanup(sock.close)
        datagrams = []
        stop = threading.Event()

        def read():
            while not stop.is_set():
                try:
                    datagrams.append(sock.recv(65536).decode())
                except socket.timeout:
                    pass

        t = threading.Thread(target=read)
        t.start()
        weird = "a|b,c:d#e"
        d = doc(["LD_start_target"],
                ["LD_start_statsd_sink", {"port": sock.getsockname()[1], "interval_ms": 500}],
                start_test([{"method": "get", "request_url": "${target}/get", "name": weird},
                            {"method": "get", "request_url": "${target}/status/500",
                             "name": "fails"}], users=2, test_time=3),
                ["LD_stop_statsd_sink"])
        r = self.run_doc(d)
        time.sleep(0.5)  # the last datagram is in the socket buffer; let the reader take it
        stop.set()
        t.join()
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertGreater(len(datagrams), 3)
        self.assertTrue(all(len(x) <= 1432 for x in datagrams))
        counts, latency_samples, names = {}, {}, set()
        for line in "\n".join(datagrams).split("\n"):
            m = self.LINE.match(line)
            self.assertIsNotNone(m, line)
            if m.group(1):
                key = (m.group(1), m.group(3), m.group(4) or m.group(5))
                counts[key] = counts.get(key, 0) + int(m.group(2))
                names.add(m.group(3))
            elif m.group(6):
                rate = float(m.group(7) or 1)
                latency_samples[m.group(8)] = latency_samples.get(m.group(8), 0) + round(1 / rate)
        self.assertEqual(names, {"a_b_c_d_e", "fails"})
        self.assertIn(weird, per)
        ok = per[weird]["requests"]
        self.assertEqual(per[weird]["failures"], 0)
        self.assertEqual(counts[("requests", "a_b_c_d_e", "success")], ok)
        self.assertNotIn(("requests", "a_b_c_d_e", "failure"), counts)
        fails = per["fails"]["requests"]
        self.assertEqual(per["fails"]["failures"], fails)
        self.assertEqual(counts[("requests", "fails", "failure")], fails)
        self.assertEqual(counts[("errors", "fails", "http_status")], fails)
        self.assertEqual(latency_samples["a_b_c_d_e"], ok)
        self.assertEqual(latency_samples["fails"], fails)


class DownEndpointTest(Case):
    def test_down_endpoints_are_reported_once_and_the_run_succeeds(self):
        closed = free_port()
        d = doc(["LD_start_target"],
                ["LD_start_statsd_sink", {"port": closed, "interval_ms": 200}],
                ["LD_start_opentelemetry_exporter", {"endpoint": f"http://127.0.0.1:{closed}",
                                                     "export_interval_ms": 200}],
                ["LD_start_influxdb_sink", {"transport": "http", "interval_ms": 200,
                                            "url": f"http://127.0.0.1:{closed}/write?db=x"}],
                hello_test(3),
                ["LD_stop_statsd_sink"], ["LD_stop_opentelemetry_exporter"],
                ["LD_stop_influxdb_sink"])
        r = self.run_doc(d)
        self.assertEqual(r.code, 0, r.err)
        self.assertGreater(r.summary()["totals"]["requests"], 0)
        self.assertEqual(r.summary()["totals"]["failures"], 0)
        for component in ["exporter.statsd", "exporter.otlp", "exporter.influxdb"]:
            lines = [x for x in r.err.splitlines() if f"[{component}]" in x and "unreachable" in x]
            self.assertEqual(len(lines), 1, r.err)
            self.assertIn(f"127.0.0.1:{closed}", lines[0])

    def test_a_receiver_that_comes_back_gets_everything(self):
        # OTLP is cumulative: the first export the receiver accepts after an outage carries
        # every request so far. The first three attempts are refused with 503.
        pb = otlp_module(self)
        rx = OtlpReceiver(self, status=lambda n: 503 if n <= 3 else 200)
        d = doc(["LD_start_target"],
                ["LD_start_opentelemetry_exporter", {"endpoint": f"http://127.0.0.1:{rx.port}",
                                                     "export_interval_ms": 200}],
                hello_test(3), ["LD_stop_opentelemetry_exporter"])
        r = self.run_doc(d)
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(len([x for x in r.err.splitlines() if "HTTP 503" in x]), 1, r.err)
        self.assertGreater(len(rx.requests), 3)
        req = pb.ExportMetricsServiceRequest()
        req.ParseFromString(rx.requests[-1][2])
        metrics = {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}
        total = sum(p.as_int for p in metrics["loaddensity.requests"].sum.data_points)
        self.assertEqual(total, r.summary()["totals"]["requests"])

    def test_retries_back_off(self):
        rx = OtlpReceiver(self, status=lambda n: 503)
        d = doc(["LD_start_target"],
                ["LD_start_opentelemetry_exporter", {"endpoint": f"http://127.0.0.1:{rx.port}",
                                                     "export_interval_ms": 200}],
                hello_test(2), ["LD_stop_opentelemetry_exporter"])
        r = self.run_doc(d)
        self.assertEqual(r.code, 0, r.err)
        # Intervals at 0.2 s, retries after 0.2, 0.4, 0.8, 1.6 s, plus the one at the stop:
        # far fewer attempts than the ~10 intervals of the run.
        self.assertGreaterEqual(len(rx.requests), 3)
        self.assertLess(len(rx.requests), 8)


if __name__ == "__main__":
    import unittest
    unittest.main()
