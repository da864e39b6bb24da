"""`loaddensity lint`, LD_lint_action and LD_lint_action_file: the run's static checks without
running anything (every error of a file, with line and column), warnings, the three output
formats and the exit codes."""
import glob
import json
import os

from ldtest import SOURCE, Case

BAD = """{"load_density": [
  ["LD_register_variables", {"variables": {"token": "abc", "spare": 1}}],
  ["LD_start_tset", {}],
  ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": "ten",
     "tasks": [{"method": "get", "request_url": "http://127.0.0.1:9/${token}"}]}],
  ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"},
     "tasks": [{"method": "get", "request_url": "http://127.0.0.1:9/a", "name": "A"},
               {"method": "post", "request_url": "http://127.0.0.1:9/a", "name": "A", "bdy": 1}]}],
  "oops",
  ["LD_summary", {"x": 1}]
]}
"""


class LintTest(Case):
    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def lint_json(self, *paths):
        r = self.run_ld("lint", "--format", "json", *paths)
        return r.code, json.loads(r.out)

    def test_examples_have_no_errors(self):
        files = sorted(glob.glob(os.path.join(SOURCE, "examples", "*.json")))
        self.assertTrue(files)
        code, out = self.lint_json(*files)
        self.assertEqual(code, 0, out)
        self.assertEqual(out["errors"], 0)

    def test_every_error_of_a_file_with_its_place(self):
        path = self.write("bad.json", BAD)
        code, out = self.lint_json(path)
        self.assertEqual(code, 2)
        findings = out["files"][0]["findings"]
        errors = {(f["rule"], f["location"]): f for f in findings if f["severity"] == "error"}
        self.assertEqual(set(errors), {
            ("unknown-command", "/load_density/1/0"),
            ("invalid-action", "/load_density/2/1/user_count"),
            ("invalid-action", "/load_density/3/1/tasks/1/bdy"),
            ("invalid-shape", "/load_density/4"),
            ("invalid-action", "/load_density/5/1/x"),
        })
        self.assertIn("did you mean 'LD_start_test'", errors[("unknown-command", "/load_density/1/0")]["message"])
        # Lines and columns point at the value (1-based).
        typo = errors[("unknown-command", "/load_density/1/0")]
        self.assertEqual((typo["line"], typo["column"]), (3, 4))
        count = errors[("invalid-action", "/load_density/2/1/user_count")]
        self.assertEqual(count["line"], 4)
        self.assertEqual(BAD.splitlines()[3][count["column"] - 1:].split(",")[0], '"user_count": "ten"')
        warnings = {(f["rule"], f["location"]) for f in findings if f["severity"] == "warning"}
        self.assertIn(("unused-variable", "/load_density/0/1/variables/spare"), warnings)
        self.assertNotIn(("unused-variable", "/load_density/0/1/variables/token"), warnings)
        self.assertIn(("duplicate-task-name", "/load_density/3/1/tasks/1/name"), warnings)

    def test_the_run_agrees_and_nothing_ran(self):
        path = self.write("bad.json", BAD)
        r = self.run_ld("run", path)
        self.assertEqual(r.code, 2)
        self.assertIn("expected a list, got string", r.err)  # the first error the run finds

    def test_warnings_alone_exit_0_and_no_report(self):
        path = self.write("warn.json", json.dumps([
            ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "test_time": 1,
                               "tasks": [{"method": "get", "request_url": "http://127.0.0.1:9/"}]}]]))
        r = self.run_ld("lint", path)
        self.assertEqual(r.code, 0, r.out)
        self.assertIn("warning: the document runs a test but has no report action", r.out)
        self.assertIn("[no-report]", r.out)

    def test_text_and_github_formats(self):
        path = self.write("bad.json", BAD)
        r = self.run_ld("lint", path)
        self.assertEqual(r.code, 2)
        self.assertIn(path + ":3:4: error: unknown command 'LD_start_tset'", r.out)
        r = self.run_ld("lint", "--format", "github", path)
        self.assertEqual(r.code, 2)
        lines = r.out.splitlines()
        self.assertTrue(any(l.startswith("::error file=" + path + ",line=3,col=4,") and
                            "title=loaddensity lint (unknown-command)::unknown command" in l
                            for l in lines), r.out)
        self.assertTrue(any(l.startswith("::warning file=") for l in lines))

    def test_invalid_json_and_missing_file(self):
        path = self.write("broken.json", '[["LD_summary"],\n  ["LD_clear_records"\n')
        code, out = self.lint_json(path, os.path.join(self.workdir, "missing.json"))
        self.assertEqual(code, 2)
        broken, missing = out["files"]
        self.assertEqual(broken["findings"][0]["rule"], "invalid-json")
        self.assertEqual(broken["findings"][0]["line"], 3)
        self.assertEqual(missing["findings"][0]["rule"], "unreadable")

    def test_missing_csv_file_is_an_error(self):
        path = self.write("csv.json", json.dumps([
            ["LD_register_csv_source", {"name": "u", "file_path": "nope.csv"}],
            ["LD_summary"]]))
        code, out = self.lint_json(path)
        self.assertEqual(code, 2)
        self.assertIn("nope.csv", out["files"][0]["findings"][0]["message"])

    def test_lint_commands_in_a_document(self):
        bad = self.write("bad.json", BAD)
        r = self.run_ld("run-str", json.dumps([
            ["LD_lint_action", {"actions": [["LD_sumary"]]}],
            ["LD_lint_action", {"actions": '[["LD_summary"]]'}],
            ["LD_lint_action_file", {"file_path": bad}],
            ["LD_export_schema", {"path": "out/schema.json"}]]))
        self.assertEqual(r.code, 0, r.err)
        self.assertIn("unknown command 'LD_sumary'", r.out)
        with open(os.path.join(self.workdir, "out", "schema.json")) as f:
            schema = json.load(f)
        self.assertEqual(schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
