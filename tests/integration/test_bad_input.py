"""Bad input: exit 2, a message naming what and where, and nothing written."""
import os

from ldtest import Case, doc, start_test

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
