"""The binary against its embedded target: the quick start, counts, failure kinds, CLI modes."""
import json
import os
import signal
import time

from ldtest import Case, SOURCE, doc, start_test


class EmbeddedTargetTest(Case):
    def test_quick_smoke_example_runs_offline(self):
        r = self.run_ld("run", os.path.join(SOURCE, "examples", "quick_smoke.json"))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary("quick_smoke-summary")
        self.assertGreater(s["totals"]["requests"], 300)
        self.assertEqual(s["totals"]["failures"], 0)
        self.assertEqual(set(s["per_name"]), {"GET /get", "POST /post", "GET /json"})
        for block in s["per_name"].values():
            self.assertLessEqual(block["p50_ms"], block["p99_ms"])
            self.assertLessEqual(block["p99_ms"], block["max_ms"])
        # The three tasks run in sequence, so their counts differ by at most one per user.
        counts = [b["count"] for b in s["per_name"].values()]
        self.assertLessEqual(max(counts) - min(counts), 20)

    def test_summary_has_the_original_shape(self):
        r = self.run_doc(doc(["LD_start_target"],
                             start_test([{"method": "get", "request_url": "${target}/get"}],
                                        test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(set(s["totals"]) >= {"requests", "successes", "failures",
                                               "failure_rate"}, True)
        self.assertEqual(set(s["latency_overall"]) >= {"count", "p50_ms", "p90_ms", "p95_ms",
                                                        "p99_ms", "max_ms"}, True)
        (name, block), = s["per_name"].items()
        self.assertTrue(name.endswith("/get"))
        for k in ["count", "min_ms", "max_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"]:
            self.assertIn(k, block)
        self.assertEqual(s["totals"]["requests"], s["latency_overall"]["count"])
        self.assertGreater(s["totals"]["requests_per_second"], 0)
        self.assertGreater(s["totals"]["bytes_received"], 0)

    def test_status_500_and_timeouts_are_counted_failures(self):
        r = self.run_doc(doc(["LD_start_target"], start_test([
            {"method": "get", "request_url": "${target}/status/500", "name": "s500"},
            {"method": "get", "request_url": "${target}/delay/2", "name": "slow", "timeout": 0.3},
        ], users=2, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["per_name"]["s500"]["failures"], s["per_name"]["s500"]["requests"])
        self.assertGreater(s["per_name"]["slow"]["failures"], 0)
        self.assertEqual(s["per_name"]["slow"]["failures"], s["per_name"]["slow"]["requests"])
        self.assertGreater(s["errors_by_kind"]["http_status"], 0)
        self.assertGreater(s["errors_by_kind"]["timeout"], 0)
        kinds = {(e["name"], e["kind"]) for e in s["errors"]}
        self.assertIn(("s500", "http_status"), kinds)
        self.assertIn(("slow", "timeout"), kinds)
        # A timed-out request took about its timeout (sweeper granularity is 10 ms).
        slow_latency = s["latency_overall"]["max_ms"]
        self.assertGreaterEqual(slow_latency, 290)
        self.assertLess(slow_latency, 1500)

    def test_refused_port_is_counted_and_the_run_goes_on(self):
        import socket
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        r = self.run_doc(doc(start_test(
            [{"method": "get", "request_url": f"http://127.0.0.1:{port}/", "name": "down"}],
            users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertGreater(s["errors_by_kind"]["refused"], 0)
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertIn("Connection refused", s["errors"][0]["message"])

    def test_sigint_stops_the_test_and_still_writes_the_summary(self):
        p = self.start_doc(doc(["LD_start_target"], start_test(
            [{"method": "get", "request_url": "${target}/get"}], users=4, test_time=60)))
        time.sleep(2.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        with open(os.path.join(self.workdir, "summary.json")) as f:
            s = json.load(f)
        self.assertGreater(s["totals"]["requests"], 0)
        self.assertEqual(s["runs"][0]["stop_reason"], "interrupted")
        self.assertLess(s["runs"][0]["duration_s"], 30)

    def test_variables_host_and_legacy_task_dict(self):
        r = self.run_doc(doc(
            ["LD_start_target", {"variable": "base"}],
            ["LD_register_variables", {"variables": {"who": "me"}}],
            ["LD_start_test", {"user_detail_dict": {"user": "http_user"}, "user_count": 1,
                               "spawn_rate": 1, "test_time": 1, "host": "${var.base}",
                               "tasks": {"get": {"request_url": "/anything/${who}",
                                                 "name": "legacy"}}}]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(list(s["per_name"]), ["legacy"])
        self.assertEqual(s["totals"]["failures"], 0)

    def test_wait_time_paces_iterations(self):
        r = self.run_doc(doc(["LD_start_target"], start_test(
            [{"method": "get", "request_url": "${target}/get"}], users=2, test_time=2,
            user_detail_dict={"user": "fast_http_user", "wait_time": {"min": 0.2, "max": 0.2}})))
        self.assertEqual(r.code, 0, r.err)
        # 2 users x (2 s / ~0.2 s per iteration) ~ 20 requests; never thousands.
        n = r.summary()["totals"]["requests"]
        self.assertGreaterEqual(n, 8)
        self.assertLessEqual(n, 24)

    def test_weighted_mode_follows_weights(self):
        r = self.run_doc(doc(["LD_start_target"], start_test(
            {"mode": "weighted", "tasks": [
                {"method": "get", "request_url": "${target}/get", "name": "a", "weight": 1},
                {"method": "get", "request_url": "${target}/get", "name": "b", "weight": 3}]},
            users=4, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        ratio = per["b"]["requests"] / per["a"]["requests"]
        self.assertGreater(ratio, 2.5)
        self.assertLess(ratio, 3.5)

    def test_nested_execute_action_and_clear_records(self):
        r = self.run_doc(doc(
            ["LD_start_target"],
            ["LD_execute_action", {"action_list": [start_test(
                [{"method": "get", "request_url": "${target}/get", "name": "nested"}],
                test_time=1)]}],
            ["LD_generate_summary_report", {"report_name": "before"}],
            ["LD_clear_records"]))
        self.assertEqual(r.code, 0, r.err)
        self.assertGreater(r.summary("before")["totals"]["requests"], 0)
        self.assertEqual(r.summary()["totals"]["requests"], 0)

    def test_init_scaffold_runs(self):
        r = self.run_ld("init", "proj")
        self.assertEqual(r.code, 0, r.err)
        kw = os.path.join(self.workdir, "proj", "LoadDensity", "keyword", "keyword1.json")
        self.assertTrue(os.path.exists(kw))
        self.assertTrue(r.exists("proj/LoadDensity/README.md"))
        with open(kw) as f:
            d = json.load(f)
        d["load_density"][1][1]["test_time"] = 1
        with open(kw, "w") as f:
            json.dump(d, f)
        r = self.run_ld("run-dir", os.path.join(self.workdir, "proj", "LoadDensity", "keyword"))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary("loaddensity-summary")
        self.assertGreater(s["totals"]["requests"], 0)

    def test_run_str_and_legacy_flags(self):
        d = json.dumps([["LD_register_variable", {"name": "a", "value": 1}], ["LD_summary"]])
        self.assertEqual(self.run_ld("run-str", d).code, 0)
        self.assertEqual(self.run_ld("--execute_str", d).code, 0)
        path = os.path.join(self.workdir, "x.json")
        with open(path, "w") as f:
            f.write(d)
        r = self.run_ld("-e", path)
        self.assertEqual(r.code, 0, r.err)
        self.assertIn("LD_summary", r.out)
        r = self.run_ld("-c", "legacy_proj")
        self.assertEqual(r.code, 0, r.err)
        self.assertTrue(r.exists("legacy_proj/LoadDensity/keyword/keyword2.json"))

    def test_list_commands_and_version(self):
        r = self.run_ld("--list-commands")
        self.assertEqual(r.code, 0)
        for c in ["LD_start_test", "LD_register_variable", "LD_register_variables", "LD_summary",
                  "LD_generate_summary_report", "LD_clear_records", "LD_execute_action",
                  "LD_execute_files", "LD_start_target", "LD_stop_target", "LD_list_commands"]:
            self.assertIn(c, r.out)
        r = self.run_ld("--version")
        self.assertEqual(r.code, 0)
        self.assertIn("loaddensity", r.out)

    def test_describe_lists_engine_and_protocol_options(self):
        r = self.run_ld("describe", "LD_start_test")
        self.assertEqual(r.code, 0, r.err)
        lines = {line.split()[0]: line for line in r.out.splitlines()[1:]}
        self.assertIn("(object, required)", lines["user_detail_dict"])
        self.assertIn("default 50", lines["user_count"])
        # Declared by the HTTP/2 protocol, not by the engine's list.
        self.assertIn("(async_http_user, http2_user)", lines["max_streams"])
        self.assertIn("(boolean or null)", lines["http2"])
        r = self.run_ld("describe", "LD_strat_test")
        self.assertEqual(r.code, 2)
        self.assertIn("did you mean 'LD_start_test'", r.err)

    def test_describe_lists_a_user_types_task_fields(self):
        r = self.run_ld("describe", "sse_user")
        self.assertEqual(r.code, 0, r.err)
        lines = {line.split()[0]: line for line in r.out.splitlines()[1:]}
        self.assertIn("(integer, default 1)", lines["count"])
        self.assertIn("(list)", lines["extract"])
        self.assertIn("(string, default \"wait\")", lines["method"])
        r = self.run_ld("describe", "http_user")
        self.assertEqual(r.code, 0, r.err)
        self.assertIn("(string, required)", r.out)
        self.assertIn("files", r.out)
        r = self.run_ld("--list-commands")
        self.assertIn("  websocket_user  ", r.out)
        r = self.run_ld("describe", "socket_usr")
        self.assertEqual(r.code, 2)
        self.assertIn("did you mean 'socket_user'", r.err)


# What each example is meant to show: the failures it expects, by kind, per name (None: no
# failure at all), and how its test ends. A new example must say what it expects here.
EXAMPLE_OUTCOMES = {
    "auth_flow": (None, "test_time"),
    "csv_data": (None, "test_time"),
    "every_report": ({"/status/503": {"http_status"}, "/delay/1": {"timeout"}}, "test_time"),
    "http2_smoke": ({"h2 GET /status/404": {"http_status"}}, "test_time"),
    "http3_smoke": ({"h3 GET /status/404": {"http_status"}}, "test_time"),
    "kafka": (None, "test_time"),
    "mongo": (None, "test_time"),
    "mqtt": (None, "test_time"),
    "open_model": (None, "test_time"),
    "quick_smoke": (None, "test_time"),
    "redis": (None, "test_time"),
    "reliability": (None, "test_time"),
    "socket_echo": (None, "test_time"),
    "spike_shape": (None, "load_shape"),
    "sql_sqlite": (None, "test_time"),
    "sse_stream": (None, "test_time"),
    "grpc_streaming": (None, "test_time"),
    "grpc_unary": (None, "test_time"),
    "websocket_echo": (None, "test_time"),
    "weighted_mix": (None, "test_time"),
}


class ExamplesTest(Case):
    def test_every_example_runs_offline_with_its_expected_outcome(self):
        examples = os.path.join(SOURCE, "examples")
        names = sorted(n[:-5] for n in os.listdir(examples) if n.endswith(".json"))
        self.assertEqual(names, sorted(EXAMPLE_OUTCOMES), "every example states its outcome")
        for name in names:
            with self.subTest(example=name):
                r = self.run_ld("-q", "run", os.path.join(examples, name + ".json"), timeout=120)
                self.assertEqual(r.code, 0, f"{name}: {r.err}")
                s = r.summary(name + "-summary")
                expected, stop = EXAMPLE_OUTCOMES[name]
                self.assertGreater(s["totals"]["requests"], 0, name)
                self.assertEqual([run["stop_reason"] for run in s["runs"]], [stop], name)
                if expected is None:
                    self.assertEqual(s["totals"]["failures"], 0, (name, s["errors"]))
                    continue
                failing = {n: b["failures"] for n, b in s["per_name"].items() if b["failures"]}
                self.assertEqual(set(failing), set(expected), (name, s["errors"]))
                for e in s["errors"]:
                    self.assertIn(e["kind"], expected[e["name"]], (name, e))
                for n, b in s["per_name"].items():
                    if n in expected:
                        self.assertEqual(b["failures"], b["requests"], (name, n))
