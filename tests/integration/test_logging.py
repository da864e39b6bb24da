"""Logging: --log-level, --log-file and --log-format json for the long-running parts."""
import json
import os
import unittest

from ldtest import Case

DOC = json.dumps([
    ["LD_start_target"],
    ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": 2,
                       "test_time": 1, "tasks": [{"method": "get",
                                                  "request_url": "${target}/get"}]}],
    ["LD_stop_target"]])


class LoggingTest(Case):
    def test_json_lines_in_a_file(self):
        log = os.path.join(self.workdir, "ld.log")
        r = self.run_ld("-q", "--log-level", "info", "--log-file", log, "--log-format", "json",
                        "run-str", DOC)
        self.assertEqual(r.code, 0, r.err)
        with open(log) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual({"ts", "level", "component", "msg"}, set(lines[0]))
        msgs = [(x["component"], x["msg"]) for x in lines]
        self.assertTrue(any(c == "target" and m.startswith("listening on http://127.0.0.1:")
                            for c, m in msgs), msgs)
        self.assertTrue(any(c == "test" and m.startswith("ended (test_time)") for c, m in msgs))
        self.assertEqual(msgs[-1], ("target", "stopped"))
        # With a log file the terminal shows errors only.
        self.assertNotIn("listening on", r.err)

    def test_default_level_is_quiet_and_debug_shows_connections(self):
        r = self.run_ld("-q", "run-str", DOC)
        self.assertEqual(r.code, 0, r.err)
        self.assertNotIn("[target]", r.err)
        r = self.run_ld("-q", "--log-level", "debug", "run-str", DOC)
        self.assertEqual(r.code, 0, r.err)
        self.assertIn(" info [target] listening on", r.err)
        self.assertIn(" debug [target] connection from 127.0.0.1:", r.err)

    def test_bad_options_are_bad_input(self):
        r = self.run_ld("--log-level", "loud", "run-str", "[]")
        self.assertEqual(r.code, 2)
        self.assertIn("--log-level", r.err)
        blocker = os.path.join(self.workdir, "a-file")
        open(blocker, "w").close()
        r = self.run_ld("--log-file", os.path.join(blocker, "x.log"), "run-str", "[]")
        self.assertEqual(r.code, 2)
        self.assertIn("cannot open log file", r.err)


if __name__ == "__main__":
    unittest.main()
