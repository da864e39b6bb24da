"""Per-request records keep the URL requested and a failure's text, end to end: the built
binary against its embedded target."""
import csv
import json
import os
import re
import unittest
import xml.etree.ElementTree as ET

from ldtest import Case, doc, start_test

RENDERED = re.compile(r"^http://127\.0\.0\.1:\d+/anything/item/([1-5])$")
MISSING = re.compile(r"^http://127\.0\.0\.1:\d+/missing/([1-5])$")
FIXED = re.compile(r"^http://127\.0\.0\.1:\d+/status/500$")


def records_run():
    return start_test([
        # A URL rendered per request: each record names the item it asked for.
        {"method": "get", "request_url": "${target}/anything/item/${randint(1,5)}",
         "name": "item"},
        # A fixed URL that fails with an empty body: the text is the error message.
        {"method": "get", "request_url": "${target}/status/500", "name": "s500"},
        # A failing check reads the body (404 JSON), so the failure keeps it as its text.
        {"method": "get", "request_url": "${target}/missing/${randint(1,5)}", "name": "missing",
         "assertions": [{"type": "contains", "value": "never-in-the-body"}]},
        # A redirect: the record names where the request ended.
        {"method": "get", "request_url": "${target}/redirect/1", "name": "redir"},
    ], users=2, test_time=1)


class RecordFidelityTest(Case):
    def path(self, name):
        return os.path.join(self.workdir, name)

    def test_reports_carry_requested_urls_and_failure_text(self):
        r = self.run_doc(doc(
            ["LD_start_target"], records_run(),
            ["LD_generate_json_report", {"json_file_name": "rec"}],
            ["LD_generate_xml_report", {"xml_file_name": "rec"}],
            ["LD_generate_csv_report", {"csv_name": "rec"}],
            ["LD_generate_html_report", {"html_name": "rec"}]))
        self.assertEqual(r.code, 0, r.err)

        with open(self.path("rec.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertTrue(rows)
        by_name = {}
        for row in rows:
            by_name.setdefault(row["name"], []).append(row)
        self.assertEqual(set(by_name), {"item", "s500", "missing", "redir"})
        for row in by_name["redir"]:
            self.assertRegex(row["test_url"], r"^http://127\.0\.0\.1:\d+/get$")
        items = {RENDERED.match(row["test_url"]).group(1) for row in by_name["item"]}
        self.assertTrue(items, "rendered URLs")
        if len(by_name["item"]) >= 20:  # 5 values: two or more show up in practice
            self.assertGreater(len(items), 1, items)
        for row in by_name["s500"]:
            self.assertRegex(row["test_url"], FIXED)
            self.assertEqual(row["outcome"], "failure")
        for row in by_name["missing"]:
            self.assertRegex(row["test_url"], MISSING)
            self.assertEqual(row["outcome"], "failure")

        with open(self.path("rec_failure.json")) as f:
            failures = list(json.load(f).values())
        with open(self.path("rec_success.json")) as f:
            successes = list(json.load(f).values())
        for e in successes:
            self.assertRegex(e["test_url"], RENDERED if e["name"] == "item" else r"/get$")
        s500 = [e for e in failures if e["name"] == "s500"]
        missing = [e for e in failures if e["name"] == "missing"]
        self.assertTrue(s500 and missing)
        for e in s500:
            self.assertRegex(e["test_url"], FIXED)
            self.assertEqual(e["text"], e["error"])  # no body: the message
            self.assertIn("500", e["text"])
        for e in missing:
            self.assertRegex(e["test_url"], MISSING)
            body = json.loads(e["text"])  # the captured 404 body
            self.assertEqual(body["error"], "not found")
            self.assertEqual(body["path"], e["test_url"][e["test_url"].index("/missing"):])

        root = ET.parse(self.path("rec_failure.xml")).getroot()
        xml_missing = [el for el in root if el.findtext("name") == "missing"]
        self.assertTrue(xml_missing)
        for el in xml_missing:
            self.assertRegex(el.findtext("test_url"), MISSING)
            self.assertIn('"not found"', el.findtext("text"))
        root = ET.parse(self.path("rec_success.xml")).getroot()
        for el in root:
            if el.findtext("name") == "item":
                self.assertRegex(el.findtext("test_url"), RENDERED)

        with open(self.path("rec.html")) as f:
            html = f.read()
        self.assertIn("&quot;not found&quot;", html)
        self.assertRegex(html, r'<td class="url">http://127\.0\.0\.1:\d+/missing/[1-5]</td>')

    def test_http2_records_carry_urls_and_captured_bodies(self):
        r = self.run_doc(doc(
            ["LD_start_target"],
            start_test([
                {"method": "get", "request_url": "${target}/missing/h2", "name": "missing",
                 "assertions": [{"type": "contains", "value": "never-in-the-body"}]},
                {"method": "get", "request_url": "${target}/redirect/1", "name": "redir"},
            ], users=2, test_time=1, user_detail_dict={"user": "async_http_user"}),
            ["LD_generate_json_report", {"json_file_name": "h2"}]))
        self.assertEqual(r.code, 0, r.err)
        with open(self.path("h2_failure.json")) as f:
            failures = list(json.load(f).values())
        with open(self.path("h2_success.json")) as f:
            successes = list(json.load(f).values())
        self.assertTrue(failures and successes)
        for e in failures:
            self.assertRegex(e["test_url"], r"^http://127\.0\.0\.1:\d+/missing/h2$")
            self.assertEqual(json.loads(e["text"])["path"], "/missing/h2")
        for e in successes:
            self.assertRegex(e["test_url"], r"^http://127\.0\.0\.1:\d+/get$")

    def test_websocket_failure_keeps_the_message(self):
        r = self.run_doc(doc(
            ["LD_start_target"],
            start_test([
                {"method": "connect", "request_url": "${target_ws}"},
                {"method": "sendrecv", "payload": "echoed <text>", "expect": "never",
                 "name": "bad"},
            ], users=1, test_time=1, user_detail_dict={"user": "websocket_user"}),
            ["LD_generate_xml_report", {"xml_file_name": "ws"}]))
        self.assertEqual(r.code, 0, r.err)
        root = ET.parse(self.path("ws_failure.xml")).getroot()
        bad = [el for el in root if el.findtext("name") == "bad"]
        self.assertTrue(bad)
        for el in bad:
            self.assertEqual(el.findtext("text"), "echoed <text>")
            self.assertRegex(el.findtext("test_url"), r"^ws://127\.0\.0\.1:\d+/ws$")

    def test_disk_cap_samples_the_records_and_says_so(self):
        # Long rendered URLs fill a 1 MiB cap after a few hundred requests.
        long_path = "/anything/" + "p" * 3000 + "/${randint(1,5)}"
        r = self.run_doc(doc(
            ["LD_start_target"],
            start_test([{"method": "get", "request_url": "${target}" + long_path,
                         "name": "long"}], users=2, test_time=2, record_log_max_mb=1),
            ["LD_generate_csv_report", {"csv_name": "cap"}],
            ["LD_generate_html_report", {"html_name": "cap"}],
            ["LD_generate_locust_csv", {"prefix": "loc"}]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        requests = s["totals"]["requests"]
        if requests < 2000:
            self.skipTest(f"only {requests} requests: too few to reach the cap")
        self.assertIs(s.get("records_sampled"), True)
        self.assertGreater(s["runs"][0]["records_sample_every"], 1)
        with open(self.path("cap.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertGreater(len(rows), 100)
        self.assertLess(len(rows), requests)
        self.assertIn("record_log_max_mb", r.err)
        with open(self.path("cap.html")) as f:
            self.assertIn('class="note sampled"', f.read())
        # Locust's cumulative history columns cannot come from a sample: N/A, counts from the
        # exact intervals.
        with open(self.path("loc_stats_history.csv"), newline="") as f:
            history = list(csv.DictReader(f))
        self.assertTrue(history)
        self.assertEqual(history[-1]["Total Median Response Time"], "N/A")
        self.assertGreater(int(history[-1]["Total Request Count"]), len(rows))

    def test_without_a_cap_every_request_is_listed(self):
        r = self.run_doc(doc(
            ["LD_start_target"],
            start_test([{"method": "get", "request_url": "${target}/get"}], users=2,
                       test_time=1, record_log_max_mb=0),
            ["LD_generate_csv_report", {"csv_name": "all"}]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertNotIn("records_sampled", s)
        with open(self.path("all.csv"), newline="") as f:
            self.assertEqual(len(list(csv.DictReader(f))), s["totals"]["requests"])

    def test_record_bodies_keeps_success_bodies_and_headers(self):
        # /anything echoes the request as JSON: the kept body names the path requested.
        r = self.run_doc(doc(
            ["LD_start_target"],
            start_test([{"method": "get", "request_url": "${target}/anything/kept",
                         "name": "kept"},
                        {"method": "get", "request_url": "${target}/missing/kept",
                         "name": "missing"}], users=1, test_time=1, record_bodies=64),
            start_test([{"method": "get", "request_url": "${target}/anything/h2",
                         "name": "h2"}], users=1, test_time=1, record_bodies=True,
                       user_detail_dict={"user": "async_http_user"}),
            start_test([{"method": "connect", "request_url": "${target_ws}", "name": "open"},
                        {"method": "sendrecv", "payload": "hello ${uuid()}", "name": "echo"}],
                       users=1, test_time=1, record_bodies=True,
                       user_detail_dict={"user": "websocket_user"}),
            start_test([{"method": "get", "request_url": "${target}/anything/plain",
                         "name": "plain"}], users=1, test_time=1),
            ["LD_generate_json_report", {"json_file_name": "bodies"}],
            ["LD_generate_xml_report", {"xml_file_name": "bodies"}]))
        self.assertEqual(r.code, 0, r.err)
        with open(self.path("bodies_success.json")) as f:
            successes = list(json.load(f).values())
        by_name = {}
        for e in successes:
            by_name.setdefault(e["name"], []).append(e)
        self.assertEqual(set(by_name), {"kept", "h2", "open", "echo", "plain"}, set(by_name))
        for e in by_name["kept"]:
            self.assertEqual(len(e["text"]), 64, e["text"])  # capped at the number given
            self.assertEqual(e["content"], e["text"])
            self.assertTrue(e["headers"].startswith("HTTP/1.1 200"), e["headers"])
        for e in by_name["h2"]:
            self.assertEqual(json.loads(e["text"])["url"].split("/")[-1], "h2")
            self.assertIn("content-type", e["headers"].lower())
        texts = {e["text"] for e in by_name["echo"]}
        self.assertTrue(all(t.startswith("hello ") for t in texts), texts)
        self.assertEqual(len(texts), len(by_name["echo"]))  # a fresh uuid each message
        with open(self.path("bodies_failure.json")) as f:
            missing = [e for e in json.load(f).values() if e["name"] == "missing"]
        self.assertTrue(missing)
        for e in missing:  # a status failure shows the body it captured (a 404 JSON)
            self.assertEqual(json.loads(e["text"])["path"], "/missing/kept")
        for e in by_name["plain"]:  # without record_bodies nothing is kept
            self.assertEqual((e["text"], e["content"], e["headers"]), ("", "", ""))
        root = ET.parse(self.path("bodies_success.xml")).getroot()
        kept = [el for el in root if el.findtext("name") == "kept"]
        self.assertTrue(kept)
        self.assertEqual(len(kept[0].findtext("content")), 64)

    def test_record_bodies_out_of_range_is_bad_input(self):
        for bad in (0, 20000, "yes"):
            r = self.run_doc(doc(start_test(
                [{"method": "get", "request_url": "http://127.0.0.1:9/"}], record_bodies=bad)))
            self.assertEqual(r.code, 2, (bad, r.err))
            self.assertIn("record_bodies", r.err)

    def test_a_negative_cap_is_bad_input(self):
        r = self.run_doc(doc(start_test([{"method": "get", "request_url": "http://127.0.0.1:9/"}],
                                        record_log_max_mb=-1)))
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("record_log_max_mb", r.err)


if __name__ == "__main__":
    unittest.main()
