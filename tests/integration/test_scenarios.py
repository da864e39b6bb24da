"""Scenario language and workload models, end to end through the binary."""
import json
import os
import sqlite3
import time

from ldtest import Case, LocalServer, doc, start_test


def target(*actions):
    return doc(["LD_start_target"], *actions)


class ResolverAndChecksTest(Case):
    def test_auth_flow_extracts_a_token_per_user(self):
        r = self.run_doc(target(start_test([
            {"method": "post", "request_url": "${target}/post", "name": "login",
             "json": {"token": "tok-${randint(1,1000000)}"},
             "assertions": [{"type": "status_code", "value": 200}],
             "extract": [{"var": "token", "from": "json_path", "path": "json.token"}]},
            {"method": "get", "request_url": "${target}/bearer", "name": "profile",
             "headers": {"Authorization": "Bearer ${var.token}"},
             "assertions": [{"type": "json_path", "path": "$.authenticated", "value": True},
                            {"type": "json_path", "path": "token", "value": "${token}"}]},
        ], users=8, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertGreater(per["profile"]["requests"], 50)
        self.assertEqual(per["login"]["failures"], 0)
        self.assertEqual(per["profile"]["failures"], 0, r.summary()["errors"])

    def test_failed_assertion_names_the_rule(self):
        r = self.run_doc(target(start_test([
            {"method": "get", "request_url": "${target}/get", "name": "wrong",
             "assertions": [{"type": "contains", "value": "no such text"}]},
            {"method": "get", "request_url": "${target}/status/404", "name": "expected404",
             "assertions": [{"type": "status_code", "value": 404}]},
        ], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["per_name"]["wrong"]["failures"], s["per_name"]["wrong"]["requests"])
        self.assertEqual(s["per_name"]["expected404"]["failures"], 0,
                         "with assertions, a 404 that was asserted is a success")
        msgs = {e["message"] for e in s["errors"]}
        self.assertIn("assertion failed: body contains 'no such text' 200", msgs)

    def test_csv_columns_of_one_task_come_from_one_row(self):
        path = os.path.join(self.workdir, "users.csv")
        with open(path, "w") as f:
            f.write("name,pass\n")
            for i in range(50):
                f.write(f"user{i},user{i}-pw\n")
        r = self.run_doc(target(
            ["LD_register_csv_source", {"name": "users", "file_path": path}],
            start_test([{"method": "get", "name": "login",
                         "request_url": "${target}/anything?u=${csv.users.name}&p=${csv.users.pass}",
                         "assertions": [{"type": "json_path", "path": "args.p",
                                         "value": "${csv.users.name}-pw"}]}],
                       users=4, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]["login"]
        self.assertGreater(per["requests"], 100)
        self.assertEqual(per["failures"], 0, r.summary()["errors"])

    def test_missing_csv_file_is_bad_input(self):
        r = self.run_doc(doc(["LD_register_csv_source", {"name": "u", "file_path": "/nonexistent.csv"}]))
        self.assertEqual(r.code, 2)
        self.assertIn("cannot open '/nonexistent.csv'", r.err)

    def test_sqlite_db_source_and_faker(self):
        db = os.path.join(self.workdir, "people.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE people (name TEXT)")
        con.executemany("INSERT INTO people VALUES (?)", [("ann",), ("bob",)])
        con.commit()
        con.close()
        r = self.run_doc(target(
            ["LD_register_db_source", {"name": "people", "connection_string": f"sqlite:///{db}",
                                       "query": "SELECT name FROM people"}],
            ["LD_set_faker_seed", {"seed": 1}],
            start_test([{"method": "get", "name": "who",
                         "request_url": "${target}/anything/${db.people.name}",
                         "params": {"email": "${faker.email}"},
                         "assertions": [{"type": "contains", "value": "@"},
                                        {"type": "json_path", "path": "url",
                                         "value": "${target}/anything/${db.people.name}?email=${faker.email}"}]}],
                       users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]["who"]
        self.assertGreater(per["requests"], 10)
        # The url assertion renders a second, different email: it must fail while "@" passes.
        self.assertEqual(per["failures"], per["requests"])
        self.assertIn("json_path url", r.summary()["errors"][0]["message"])

    def test_postgresql_db_source(self):
        url = self.need_env("LD_PG_URL")
        r = self.run_doc(target(
            ["LD_register_db_source", {"name": "p", "connection_string": url,
                                       "query": "SELECT name, age FROM people ORDER BY name"}],
            start_test([{"method": "get", "name": "pg",
                         "request_url": "${target}/anything?n=${db.p.name}&a=${db.p.age}",
                         "assertions": [{"type": "json_path", "path": "args.n", "value": "ann"}]}],
                       users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]["pg"]
        # Rows alternate ann, bob: about half the requests see "ann".
        self.assertGreater(per["failures"], 0)
        self.assertLess(abs(per["failures"] * 2 - per["requests"]), 3)
        r = self.run_doc(doc(["LD_register_db_source", {"name": "p", "connection_string": url,
                                                        "query": "SELECT * FROM no_table"}]))
        self.assertEqual(r.code, 2)
        self.assertIn("no_table", r.err)


class FlowTest(Case):
    def test_conditions_run_and_skip_tasks(self):
        r = self.run_doc(target(start_test({"mode": "conditional", "tasks": [
            {"method": "post", "request_url": "${target}/post", "name": "whoami",
             "json": {"role": "admin"},
             "extract": [{"var": "role", "path": "json.role"}]},
            {"method": "get", "request_url": "${target}/get", "name": "admin_only",
             "run_if": {"equals": ["${role}", "admin"]}},
            {"method": "get", "request_url": "${target}/get", "name": "never",
             "skip_if": {"in": ["${role}", ["admin", "root"]]}},
            {"method": "get", "request_url": "${target}/get", "name": "off", "run_if": False},
        ]}, users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertGreater(per["admin_only"]["requests"], 10)
        self.assertNotIn("never", per)
        self.assertNotIn("off", per)

    def test_think_time_paces_a_task(self):
        r = self.run_doc(target(start_test([
            {"method": "get", "request_url": "${target}/get", "think_time": 0.25}],
            users=1, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        n = r.summary()["totals"]["requests"]
        self.assertGreaterEqual(n, 6)
        self.assertLessEqual(n, 9)

    def test_throttle_holds_the_rate_across_four_threads(self):
        r = self.run_doc(target(start_test([
            {"method": "get", "request_url": "${target}/get",
             "throttle": {"key": "api", "rps": 200}}],
            users=20, test_time=5, threads=4)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        duration = s["runs"][0]["duration_s"]
        expected = 200 * duration + 1
        self.assertLess(abs(s["totals"]["requests"] - expected) / expected, 0.05,
                        f"{s['totals']['requests']} requests in {duration} s")

    def test_retry_budgets_against_a_flaky_endpoint(self):
        # Two of every three requests fail; the flaky budget (2) lets every execution succeed.
        with LocalServer(lambda n, path: (200, "ok") if n % 3 == 0 else (500, "flaky")) as srv:
            r = self.run_doc(doc(start_test([
                {"method": "get", "request_url": srv.url + "/x", "name": "flaky",
                 "assertions": [{"type": "status_code", "value": 200}],
                 "retry": {"flaky": 2, "base_delay": 0.001, "max_delay": 0.01}}],
                users=1, test_time=1.5)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]["flaky"]
        ok = per["requests"] - per["failures"]
        self.assertGreater(ok, 5)
        # Every failed attempt was retried, except perhaps one cut short by the end of the test.
        self.assertLessEqual(per["failures"] - per["retries"], 1)
        self.assertLessEqual(abs(per["retries"] - 2 * ok), 2)
        self.assertEqual(s["totals"]["retries"], per["retries"])

    def test_failure_budget_stops_the_run(self):
        r = self.run_doc(target(
            ["LD_install_failure_budget", {"threshold": 0.5, "window_seconds": 2,
                                           "min_samples": 20}],
            start_test([{"method": "get", "request_url": "${target}/status/500"}],
                       users=2, test_time=60)), timeout=60)
        self.assertEqual(r.code, 0, r.err)
        run = r.summary()["runs"][0]
        self.assertTrue(run["stop_reason"].startswith("failure_budget"), run["stop_reason"])
        self.assertLess(run["duration_s"], 10)

    def test_network_conditioner_delays_and_drops(self):
        r = self.run_doc(target(
            ["LD_install_network_conditioner", {"latency_ms": 60, "name_filter": "slow"}],
            start_test([
                {"method": "get", "request_url": "${target}/get", "name": "slow"},
                {"method": "get", "request_url": "${target}/get", "name": "fast"}],
                users=2, test_time=1),
            ["LD_install_network_conditioner", {"loss_rate": 1.0, "name_filter": "lost"}],
            start_test([{"method": "get", "request_url": "${target}/get", "name": "lost"}],
                       users=1, test_time=0.5),
            ["LD_uninstall_network_conditioner"]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertGreaterEqual(s["per_name"]["slow"]["p50_ms"], 59)
        self.assertLess(s["per_name"]["fast"]["p50_ms"], 50)
        lost = s["per_name"]["lost"]
        self.assertEqual(lost["failures"], lost["requests"])
        self.assertEqual(s["errors_by_kind"]["dropped"], lost["requests"])
        self.assertEqual(s["network_conditioner"]["dropped"], lost["requests"])

    def test_hard_timeout_ends_a_hung_run_and_keeps_reports(self):
        started = time.monotonic()
        r = self.run_doc(target(start_test(
            [{"method": "get", "request_url": "${target}/delay/10", "timeout": 30}],
            users=2, test_time=60, hard_timeout=2)), timeout=60)
        self.assertLess(time.monotonic() - started, 20)
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(r.summary()["runs"][0]["stop_reason"], "hard_timeout")
        # The same through the CLI flag.
        path = os.path.join(self.workdir, "doc.json")
        r = self.run_ld("--hard-timeout", "1.5", "run", path, timeout=60)
        self.assertEqual(r.summary()["runs"][0]["stop_reason"], "hard_timeout")


class LoadModelTest(Case):
    def test_stages_shape_ramps_users_and_stops(self):
        r = self.run_doc(target(["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user"},
            "load_shape": "stages",
            "shape_config": {"stages": [{"duration": 1, "users": 2, "spawn_rate": 100},
                                        {"duration": 2.5, "users": 5, "spawn_rate": 100}]},
            "tasks": [{"method": "get", "request_url": "${target}/get"}]}]))
        self.assertEqual(r.code, 0, r.err)
        run = r.summary()["runs"][0]
        self.assertEqual(run["stop_reason"], "load_shape")
        self.assertEqual(run["users"], 5)
        self.assertLess(abs(run["duration_s"] - 2.5), 0.5)

    def test_constant_arrival_rate_keeps_the_plan(self):
        r = self.run_doc(target(["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user"},
            "load_shape": "constant_arrival_rate",
            "shape_config": {"rate": 50, "duration": 2, "max_users": 10},
            "tasks": [{"method": "get", "request_url": "${target}/get"}]}]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        om = s["open_model"]
        self.assertEqual(om["planned_iterations"], 100)
        self.assertEqual(om["started_iterations"], 100)
        self.assertEqual(om["dropped_iterations"], 0)
        self.assertEqual(s["totals"]["requests"], 100)
        self.assertEqual(s["runs"][0]["load_model"], "open:constant_arrival_rate")

    def test_ramping_arrival_rate(self):
        r = self.run_doc(target(["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user"},
            "load_shape": "ramping_arrival_rate",
            "shape_config": {"stages": [{"duration": 1, "rate": 100}, {"duration": 1, "rate": 100}],
                             "max_users": 10},
            "tasks": [{"method": "get", "request_url": "${target}/get"}]}]))
        self.assertEqual(r.code, 0, r.err)
        om = r.summary()["open_model"]
        self.assertLessEqual(abs(om["planned_iterations"] - 150), 2)

    def test_stall_is_not_hidden_by_the_generator(self):
        """100 iterations/s, one user, a server that holds one request for 1 s: the iterations
        planned during the stall start late, so the latency measured from the planned start
        shows the stall while service time does not (coordinated omission)."""
        rate, seconds, stall_at, stall_s = 100, 10, 300, 1.0

        def handler(n, path):
            if n == stall_at:
                time.sleep(stall_s)
            return 200, "ok"

        with LocalServer(handler) as srv:
            r = self.run_doc(doc(["LD_start_test", {
                "user_detail_dict": {"user": "fast_http_user"}, "threads": 1,
                "load_shape": "constant_arrival_rate",
                "shape_config": {"rate": rate, "duration": seconds, "max_users": 1},
                "tasks": [{"method": "get", "request_url": srv.url + "/", "name": "t"}]}]),
                timeout=120)
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        # Expected latencies from the plan: iteration i is planned at i/rate; the stalled one
        # takes stall_s, the others ~0, and a single user runs them back to back.
        interval = 1.0 / rate
        free_at, lat = 0.0, []
        for i in range(rate * seconds):
            planned = i * interval
            start = max(planned, free_at)
            end = start + (stall_s if i == stall_at - 1 else 0.0)
            free_at = end
            lat.append(end - planned)
        lat.sort()
        expected_p99_ms = lat[int(0.99 * len(lat)) - 1] * 1000  # nearest rank
        got = s["latency_overall"]["p99_ms"]
        self.assertGreater(expected_p99_ms, 800)
        self.assertLess(abs(got - expected_p99_ms), 150, f"p99 {got} vs plan {expected_p99_ms}")
        self.assertLess(s["latency_overall"]["service_p99_ms"], 100)
        om = s["open_model"]
        self.assertGreater(om["blocked_iterations"], 80)
        self.assertGreater(om["blocked_p99_ms"], 800)
        self.assertEqual(om["dropped_iterations"], 0)

    def test_open_model_drops_beyond_the_backlog(self):
        r = self.run_doc(target(["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user"},
            "load_shape": "constant_arrival_rate",
            "shape_config": {"rate": 50, "duration": 2, "max_users": 1, "max_backlog": 2},
            "tasks": [{"method": "get", "request_url": "${target}/delay/0.2"}]}]))
        self.assertEqual(r.code, 0, r.err)
        om = r.summary()["open_model"]
        self.assertEqual(om["planned_iterations"], 100)
        self.assertGreater(om["dropped_iterations"], 70)
        self.assertEqual(om["started_iterations"] + om["dropped_iterations"], 100)

    def test_bad_shape_config_is_bad_input(self):
        r = self.run_doc(target(["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user"}, "load_shape": "constant_arrival_rate",
            "shape_config": {"rate": 10, "duration": 1, "max_user": 3},
            "tasks": [{"method": "get", "request_url": "${target}/get"}]}]))
        self.assertEqual(r.code, 2)
        self.assertIn("unknown key 'max_user'", r.err)
        self.assertIn("/shape_config/max_user", r.err)
