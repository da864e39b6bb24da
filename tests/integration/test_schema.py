"""`loaddensity schema`: the JSON Schema (2020-12) generated from the registry and the
protocols' task fields, checked with python3-jsonschema; and docs/commands.md, generated from
the same registry, must be current."""
import copy
import glob
import json
import os

import jsonschema

from ldtest import SOURCE, Case

BASE = {"load_density": [
    ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"},
                       "tasks": [{"method": "get", "request_url": "http://127.0.0.1:9/"}]}],
    ["LD_generate_summary_report", {"report_name": "s"}]]}


class SchemaTest(Case):
    @classmethod
    def setUpClass(cls):
        import subprocess
        from ldtest import BIN
        out = subprocess.run([BIN, "schema"], capture_output=True, text=True, check=True).stdout
        cls.schema = json.loads(out)
        jsonschema.Draft202012Validator.check_schema(cls.schema)
        cls.validator = jsonschema.Draft202012Validator(cls.schema)

    def errors(self, doc):
        return list(self.validator.iter_errors(doc))

    def test_header(self):
        self.assertEqual(self.schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
        self.assertEqual(self.schema["title"], "LoadDensity action JSON")

    def test_every_example_validates(self):
        files = sorted(glob.glob(os.path.join(SOURCE, "examples", "*.json")))
        self.assertTrue(files)
        for f in files:
            with open(f) as fh:
                doc = json.load(fh)
            with self.subTest(example=os.path.basename(f)):
                self.assertEqual([e.message for e in self.errors(doc)], [])

    def check_rejected(self, change):
        doc = copy.deepcopy(BASE)
        change(doc)
        self.assertTrue(self.errors(doc), json.dumps(doc))
        # The run refuses it too, before anything runs.
        r = self.run_doc(doc)
        self.assertEqual(r.code, 2, r.err)

    def test_forms_that_run_validate(self):
        for tasks in ([{"method": "get", "request_url": "http://127.0.0.1:9/"}],
                      {"mode": "weighted", "tasks": [{"method": "get", "request_url": "x",
                                                      "weight": 2, "think_time": 0.1}]},
                      {"get": {"request_url": "http://127.0.0.1:9/"}}):
            doc = copy.deepcopy(BASE)
            doc["load_density"][0][1]["tasks"] = tasks
            self.assertEqual([e.message for e in self.errors(doc)], [])
        self.assertEqual(self.errors([["LD_summary"], ["LD_register_variable", ["k", "v"]],
                                      ["LD_execute_action", {"action_list": [["LD_summary"]]}]]), [])

    def test_typo_in_a_command(self):
        self.check_rejected(lambda d: d["load_density"][1].__setitem__(0, "LD_generate_sumary_report"))

    def test_typo_in_a_nested_command(self):
        self.check_rejected(lambda d: d["load_density"].append(
            ["LD_execute_action", {"action_list": [["LD_sumary"]]}]))

    def test_typo_in_an_argument(self):
        self.check_rejected(lambda d: d["load_density"][0][1].__setitem__("user_cont", 3))

    def test_wrong_argument_type(self):
        self.check_rejected(lambda d: d["load_density"][0][1].__setitem__("user_count", "3"))

    def test_typo_in_a_task_field(self):
        self.check_rejected(lambda d: d["load_density"][0][1]["tasks"][0].__setitem__("request_ur", "x"))

    def test_field_of_another_user_type(self):
        # payload is a websocket_user field, not an HTTP one.
        self.check_rejected(lambda d: d["load_density"][0][1]["tasks"][0].__setitem__("payload", "x"))

    def test_unknown_user_type(self):
        self.check_rejected(lambda d: d["load_density"][0][1]["user_detail_dict"].__setitem__("user", "fast_htp_user"))

    def test_websocket_fields_are_accepted_for_websocket_user(self):
        doc = [["LD_start_test", {"user_detail_dict": {"user": "websocket_user"},
                                  "tasks": [{"method": "send", "url": "ws://127.0.0.1:9/ws",
                                             "payload": "x"}]}]]
        self.assertEqual([e.message for e in self.errors(doc)], [])

    def test_commands_md_is_current(self):
        r = self.run_ld("commands", "--markdown")
        self.assertEqual(r.code, 0)
        with open(os.path.join(SOURCE, "docs", "commands.md")) as f:
            committed = f.read()
        self.assertEqual(committed, r.out,
                         "docs/commands.md is stale: regenerate it with "
                         "`loaddensity commands --markdown > docs/commands.md`")
        for name in ("LD_start_test", "LD_lint_action", "websocket_user"):
            self.assertIn("### " + name, committed)
