"""Bad input: exit 2, a message naming what and where, and nothing written."""
import os

from ldtest import Case, LocalServer, doc, start_test

GET = {"method": "get", "request_url": "http://127.0.0.1:9/"}


class BadInputTest(Case):
    def assert_rejected(self, document, *needles):
        r = self.run_doc(document)
        self.assertEqual(r.code, 2, r.out + r.err)
        for n in needles:
            self.assertIn(n, r.err)
        self.assertFalse(r.exists("summary.json"), "nothing may run when the input is bad")
        return r

    def test_invalid_json_names_line_and_column(self):
        self.assert_rejected('{"load_density": [\n  ["LD_summary"],\n  ["LD_summary" {}]\n  ]}\n',
                             "doc.json:3:", "not valid JSON")
        self.assert_rejected('[["LD_summary"],\n ["LD_generate_summary_report", {"report_name": '
                             '"summary"}], ]', "doc.json:2:", "not valid JSON")

    def test_wrong_document_shape(self):
        self.assert_rejected({"actions": []}, "no \"load_density\" key")
        self.assert_rejected({"load_density": [["LD_summary"], "LD_summary"]},
                             "/load_density/1", "expected a list")

    def test_unknown_command_suggests_the_closest(self):
        self.assert_rejected(doc(["LD_start_tset", {}]), "unknown command 'LD_start_tset'",
                             "did you mean 'LD_start_test'")

    def test_unknown_and_mistyped_arguments(self):
        self.assert_rejected(doc(start_test([GET], usr_count=3)),
                             "unknown argument 'usr_count'", "did you mean 'user_count'",
                             "/load_density/0/1/usr_count")
        self.assert_rejected(doc(start_test([GET], users="many")),
                             "argument 'user_count' of LD_start_test must be integer, got string",
                             "/load_density/0/1/user_count")

    def test_bad_task_fields_name_the_task(self):
        self.assert_rejected(doc(start_test([GET, {"method": "fetch", "url": "http://x/"}])),
                             "unknown HTTP method 'fetch'", "/load_density/0/1/tasks/1/method")
        self.assert_rejected(doc(start_test([{"method": "get", "reqest_url": "http://x/"}])),
                             "unknown task field 'reqest_url'", "did you mean 'request_url'")
        self.assert_rejected(doc(start_test([GET], user_detail_dict={"user": "ftp_user"})),
                             "unsupported user type 'ftp_user'", "fast_http_user")

    def test_relative_url_without_host_fails_at_run_time_with_exit_2(self):
        # Placeholders resolve only when the test starts; the error still names the field.
        r = self.run_doc(doc(start_test([{"method": "get", "request_url": "${nothing}/get"}])))
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("not an absolute URL", r.err)
        self.assertIn("/tasks/0/request_url", r.err)

    def test_missing_file_and_usage_errors(self):
        r = self.run_ld("run", os.path.join(self.workdir, "missing.json"))
        self.assertEqual(r.code, 2)
        r = self.run_ld("frobnicate")
        self.assertEqual(r.code, 2)


DEEP = 100_000


def deep_array(n=DEEP):
    return "[" * n + "]" * n


class InputLimitsTest(Case):
    """Limits on what is read (docs/limits.md): nesting, size, file kinds, number ranges."""

    def assert_rejected(self, document, *needles, name="doc.json"):
        r = self.run_doc(document, name=name, timeout=60)
        ran = r.exists("summary.json")
        if ran:
            os.remove(os.path.join(self.workdir, "summary.json"))  # keep subtests independent
        self.assertEqual(r.code, 2, r.out + r.err)
        for n in needles:
            self.assertIn(n, r.err)
        self.assertFalse(ran, "nothing may run when the input is bad")
        self.assertNotIn("ok   [", r.out, "no action may run")
        return r

    # ---- 1. nesting
    def test_deeply_nested_document_is_refused_with_position(self):
        self.assert_rejected(deep_array(), "doc.json:1:129:", "nested more than 128 levels")

    def test_deep_values_in_arguments_are_refused_before_anything_runs(self):
        summary = '["LD_generate_summary_report", {"report_name": "summary"}]'
        first = '["LD_register_variable", {"name": "x", "value": 1}], '
        for label, action in [
            ("user_count", '["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, '
                           '"user_count": %s, "tasks": [{"method": "get", '
                           '"request_url": "http://127.0.0.1:9/"}]}]'),
            ("json body", '["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, '
                          '"tasks": [{"method": "post", "request_url": "http://127.0.0.1:9/", '
                          '"json": %s}]}]'),
            ("unknown argument", '["LD_summary", {"nope": %s}]'),
            ("variables", '["LD_register_variables", {"variables": {"a": %s}}]'),
        ]:
            with self.subTest(label):
                text = "[" + first + (action % deep_array()) + ", " + summary + "]"
                r = self.assert_rejected(text, "nested more than 128 levels", "doc.json:1:")

    def test_execute_action_nested_100k_deep_is_refused(self):
        text = '[["LD_execute_action", {"action_list": ' * 20000 + "[]" + "}]]" * 20000
        self.assert_rejected(text, "nested more than 128 levels")

    def test_execute_action_deeper_than_16_levels_is_found_before_anything_runs(self):
        inner = [["LD_summary"]]
        for _ in range(20):
            inner = [["LD_execute_action", {"action_list": inner}]]
        r = self.assert_rejected(doc(["LD_register_variable", {"name": "x", "value": 1}], *inner),
                                 "nested more than 16 levels deep")
        self.assertIn("/action_list/0/1/action_list", r.err)

    def test_nested_actions_are_checked_statically(self):
        self.assert_rejected(doc(["LD_register_variable", {"name": "x", "value": 1}],
                                 ["LD_execute_action", {"action_list": [["LD_summary"],
                                                                        ["LD_sumary"]]}]),
                             "unknown command 'LD_sumary'",
                             "/load_density/1/1/action_list/1/0")

    def test_deep_strings_for_run_str_and_execute_str(self):
        for args in (["run-str", deep_array(50_000)], ["--execute_str", deep_array(50_000)]):
            with self.subTest(args[0]):
                r = self.run_ld(*args, timeout=60)
                self.assertEqual(r.code, 2, r.err[-500:])
                self.assertIn("<string>:1:129: JSON nested more than 128 levels", r.err)

    # ---- 2. what is read
    def test_non_regular_files_are_refused(self):
        r = self.run_ld("run", "/dev/zero", timeout=20)
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("not a regular file", r.err)
        os.mkdir(os.path.join(self.workdir, "adir"))
        for path, needle in (("/dev/zero", "not a regular file"),
                             (os.path.join(self.workdir, "adir"), "is a directory")):
            with self.subTest(path):
                self.assert_rejected(doc(["LD_register_variable", {"name": "x", "value": 1}],
                                         ["LD_execute_files", {"execute_files_list": [path]}]),
                                     needle, "/load_density/1/1/execute_files_list/0")
                self.assert_rejected(doc(["LD_register_csv_source",
                                          {"name": "s", "file_path": path}]), needle)

    def test_oversized_document_is_refused_by_size(self):
        path = os.path.join(self.workdir, "big.json")
        with open(path, "w") as f:
            f.truncate((64 << 20) + 1)  # sparse: nothing is written to disk
        r = self.run_ld("run", path, timeout=20)
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("over the 64 MiB limit", r.err)

    def test_bad_files_run_through_execute_files_are_found_statically(self):
        bad = os.path.join(self.workdir, "bad.json")
        with open(bad, "w") as f:
            f.write('[["LD_summary"],\n ["LD_summary" {}]]')
        self.assert_rejected(doc(["LD_register_variable", {"name": "x", "value": 1}],
                                 ["LD_execute_files", {"execute_files_list": [bad]}]),
                             "bad.json:2:", "not valid JSON")

    # ---- 3. data sources
    def test_missing_or_ragged_csv_is_found_before_anything_runs(self):
        ragged = os.path.join(self.workdir, "ragged.csv")
        with open(ragged, "w") as f:
            f.write("a,b\n1,2\n3\n")
        use = start_test([{"method": "get", "request_url": "http://127.0.0.1:9/?a=${csv.s.a}"}])
        for path, needle in ((os.path.join(self.workdir, "missing.csv"), "cannot open"),
                             (ragged, "ragged.csv:3: 1 fields, the header has 2")):
            with self.subTest(path):
                self.assert_rejected(doc(["LD_register_variable", {"name": "x", "value": 1}],
                                         ["LD_register_csv_source", {"name": "s", "file_path": path}],
                                         use), needle, "/load_density/1/1/file_path")
                self.assert_rejected(doc(["LD_register_csv_sources",
                                          {"sources": [{"name": "s", "file_path": path}]}], use),
                                     needle, "/load_density/0/1/sources/0/file_path")
                self.assert_rejected(doc(start_test(
                    [{"method": "get", "request_url": "http://127.0.0.1:9/?a=${csv.s.a}"}],
                    csv_sources=[{"name": "s", "file_path": path}])), needle,
                    "/load_density/0/1/csv_sources/0/file_path")

    def test_csv_source_failing_at_run_time_stops_the_test_that_uses_it(self):
        with LocalServer(lambda n, path: (200, "ok")) as srv:
            r = self.run_doc(doc(
                ["LD_register_variable", {"name": "dir", "value": self.workdir}],
                ["LD_register_csv_source", {"name": "s", "file_path": "${dir}/missing.csv"}],
                start_test([{"method": "get", "request_url": srv.url + "/?a=${csv.s.a}"}],
                           test_time=1)))
            self.assertEqual(srv.count, 0, "no request may be sent with ${csv.s.a} unresolved")
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("${csv.s.a}: csv source 's' could not be registered", r.err)

    def test_db_source_failing_at_run_time_stops_the_test_that_uses_it(self):
        with LocalServer(lambda n, path: (200, "ok")) as srv:
            r = self.run_doc(doc(
                ["LD_register_db_source", {"name": "p", "query": "SELECT 1 AS name",
                                           "connection_string": "sqlite:////nonexistent/x.db"}],
                start_test([{"method": "get", "request_url": srv.url + "/?n=${db.p.name}"}],
                           test_time=1)))
            self.assertEqual(srv.count, 0, "no request may be sent with ${db.p.name} unresolved")
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("${db.p.name}: db source 'p' could not be registered", r.err)

    def test_unknown_csv_column_is_bad_input(self):
        path = os.path.join(self.workdir, "u.csv")
        with open(path, "w") as f:
            f.write("name\nann\n")
        get = {"method": "get", "request_url": "http://127.0.0.1:9/?p=${csv.u.pass}"}
        # A literal path: found by the static check.
        self.assert_rejected(doc(["LD_register_variable", {"name": "x", "value": 1}],
                                 ["LD_register_csv_source", {"name": "u", "file_path": path}],
                                 start_test([get])),
                             "${csv.u.pass}: CSV source 'u' has no column 'pass' (columns: name)",
                             "/load_density/2/1/tasks/0/request_url")
        self.assert_rejected(doc(start_test([get], csv_sources=[{"name": "u", "file_path": path}])),
                             "has no column 'pass'", "/load_density/0/1/tasks/0/request_url")
        # Registered again without the column later: only the later test is wrong.
        other = os.path.join(self.workdir, "o.csv")
        with open(other, "w") as f:
            f.write("pass\nx\n")
        self.assert_rejected(doc(["LD_register_csv_source", {"name": "u", "file_path": other}],
                                 start_test([get], test_time=0.2),
                                 ["LD_register_csv_source", {"name": "u", "file_path": path}],
                                 start_test([get])),
                             "has no column 'pass'", "/load_density/3/1/tasks/0/request_url")
        # A path known only at run time: the test that uses it does not start.
        with LocalServer(lambda n, p: (200, "ok")) as srv:
            r = self.run_doc(doc(
                ["LD_register_variable", {"name": "dir", "value": self.workdir}],
                ["LD_register_csv_source", {"name": "u", "file_path": "${dir}/u.csv"}],
                start_test([{"method": "get", "request_url": srv.url + "/?p=${csv.u.pass}"}],
                           test_time=1)))
            self.assertEqual(srv.count, 0)
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("has no column 'pass' (columns: name)", r.err)

    # ---- 4. numbers
    def test_numbers_out_of_range_are_refused_with_the_range(self):
        cases = [
            (start_test([GET], test_time=1e10), "test_time must be a number between 0 and "
                                                "315360000 seconds", "/test_time"),
            (start_test([GET], hard_timeout=1e300), "hard_timeout must be a number > 0 and <= "
                                                    "315360000 seconds", "/hard_timeout"),
            (start_test([GET], users=20_000_000), "user_count must be a number between 1 and "
                                                  "10000000 users", "/user_count"),
            (start_test([GET], users=0), "between 1 and 10000000", "/user_count"),
            (start_test([GET], spawn_rate=1e300), "spawn_rate must be", "/spawn_rate"),
            (start_test([GET], user_detail_dict={"user": "fast_http_user", "wait_time": 1e12}),
             "wait_time must be", "/user_detail_dict/wait_time"),
            (start_test([dict(GET, think_time=1e12)]), "think_time must be", "/tasks/0/think_time"),
            (start_test([dict(GET, timeout=[1, 1e300])]), "timeout' (read) must be",
             "/tasks/0/timeout/1"),
            (start_test([dict(GET, timeout=-1)]), "task field 'timeout' must be",
             "/tasks/0/timeout"),
            (start_test([dict(GET, throttle={"rps": 1e-300})]), "throttle.rps must be",
             "/tasks/0/throttle/rps"),
            (start_test([dict(GET, retry={"base_delay": 1e300})]), "retry.base_delay must be",
             "/tasks/0/retry/base_delay"),
            (start_test([GET], load_shape="stages",
                        shape_config={"stages": [{"duration": 1e300, "users": 1}]}),
             "duration must be", "/shape_config/stages/0/duration"),
            (start_test([GET], load_shape="constant_arrival_rate",
                        shape_config={"rate": 1e300, "duration": 1}), "rate must be",
             "/shape_config/rate"),
            (["LD_install_failure_budget", {"min_samples": -1}], "min_samples must be",
             "/min_samples"),
            (["LD_install_network_conditioner", {"latency_ms": 1e300}], "latency_ms must be",
             "/latency_ms"),
            (["LD_start_target", {"port": 70000}], "port must be a number between 0 and 65535",
             "/port"),
        ]
        for action, needle, ptr in cases:
            with self.subTest(needle):
                self.assert_rejected(doc(["LD_register_variable", {"name": "x", "value": 1}],
                                         action), needle, ptr)

    def test_number_literal_too_large_for_a_double(self):
        self.assert_rejected('[["LD_register_variable",\n {"name": "x", "value": 1e400}]]',
                             "doc.json:2:25:", "out of range")

    # ---- 5. command line
    def test_options_may_follow_the_files(self):
        path = os.path.join(self.workdir, "d.json")
        with open(path, "w") as f:
            f.write('[["LD_summary"]]')
        r = self.run_ld("run", path, "--hard-timeout", "4", "-q")
        self.assertEqual(r.code, 0, r.err)
        r = self.run_ld("run", path, "--hard-timeout", "1e300")
        self.assertEqual(r.code, 2, r.err)

    def test_help_states_the_signal_exit_codes(self):
        r = self.run_ld("--help")
        self.assertEqual(r.code, 0)
        self.assertIn("143 by SIGTERM", r.out)
