"""Reports, run history and gates, end to end: the built binary against its embedded target."""
import csv
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from ldtest import Case, SOURCE, doc, start_test

WEIRD = 'we<ird "name", & x'

# What Debian's python3-locust 2.12 writes with --csv (checked against a live run below when
# Locust is installed).
LOCUST_HEADERS = {
    "stats": "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
             "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
             "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%",
    "stats_history": "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,"
                     "95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,"
                     "Total Median Response Time,Total Average Response Time,"
                     "Total Min Response Time,Total Max Response Time,Total Average Content Size",
    "failures": "Method,Name,Error,Occurrences",
    "exceptions": "Count,Message,Traceback,Nodes",
}


def mixed_run(test_time=2, users=3, **kw):
    return start_test([
        {"method": "get", "request_url": "${target}/get", "name": WEIRD},
        {"method": "get", "request_url": "${target}/status/503", "name": "s503"},
    ], users=users, test_time=test_time, **kw)


def have_locust():
    return subprocess.run(["/usr/bin/python3", "-c", "import locust"],
                          capture_output=True).returncode == 0


class ReportFormatsTest(Case):
    def test_every_format_from_one_run(self):
        r = self.run_doc(doc(
            ["LD_start_target"], mixed_run(),
            ["LD_generate_html_report", {"html_name": "rep"}],
            ["LD_generate_json_report", {"json_file_name": "rep"}],
            ["LD_generate_xml_report", {"xml_file_name": "rep"}],
            ["LD_generate_csv_report", {"csv_name": "rep"}],
            ["LD_generate_junit_report", {"report_name": "rep-junit"}],
            ["LD_generate_chart_report", {"report_name": "rep"}],
            ["LD_generate_locust_csv", {"prefix": "loc"}]))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        total, failures = s["totals"]["requests"], s["totals"]["failures"]
        self.assertGreater(failures, 0)
        # Per-request CSV: the seed's columns, one row per request, successes first.
        with open(os.path.join(self.workdir, "rep.csv"), newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0], ["outcome", "Method", "test_url", "name", "status_code",
                                   "response_time_ms", "response_length", "error"])
        self.assertEqual(len(rows) - 1, total)
        outcomes = [row[0] for row in rows[1:]]
        self.assertEqual(outcomes, sorted(outcomes, key=lambda o: o != "success"))
        self.assertEqual(outcomes.count("failure"), failures)
        self.assertIn(WEIRD, {row[3] for row in rows[1:]})
        self.assertEqual({row[7] for row in rows[1:] if row[0] == "failure"}, {"HTTP 503"})
        # JSON: numbered entries, the seed's fields.
        with open(os.path.join(self.workdir, "rep_success.json")) as f:
            ok = json.load(f)
        with open(os.path.join(self.workdir, "rep_failure.json")) as f:
            bad = json.load(f)
        self.assertEqual(len(ok), total - failures)
        self.assertEqual(len(bad), failures)
        self.assertEqual(set(ok["Success_Test1"]), {"Method", "test_url", "name", "status_code",
                                                    "text", "content", "headers"})
        self.assertEqual(bad["Failure_Test1"]["status_code"], "503")
        # XML (both), JUnit (schema) and SVG are well-formed.
        xsd = os.path.join(SOURCE, "tests", "data", "junit-10.xsd")
        files = ["rep_success.xml", "rep_failure.xml", "rep-rps.svg", "rep-latency.svg",
                 "rep-users.svg", "rep-distribution.svg"]
        p = subprocess.run(["xmllint", "--noout", *files], cwd=self.workdir, capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(["xmllint", "--noout", "--schema", xsd, "rep-junit.xml"],
                           cwd=self.workdir, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.workdir, "rep-junit.xml")) as f:
            junit = f.read()
        self.assertIn('name="s503"', junit)
        self.assertIn("<failure", junit)
        self.assertIn("we&lt;ird &quot;name&quot;, &amp; x", junit)
        # Locust CSVs: the stats total matches the summary.
        with open(os.path.join(self.workdir, "loc_stats.csv"), newline="") as f:
            stats = list(csv.DictReader(f))
        agg = stats[-1]
        self.assertEqual(agg["Name"], "Aggregated")
        self.assertEqual(int(agg["Request Count"]), total)
        self.assertEqual(int(agg["Failure Count"]), failures)
        self.assertIn(WEIRD, [row["Name"] for row in stats])

    def test_locust_headers_match_locust(self):
        headers = dict(LOCUST_HEADERS)
        if have_locust():
            headers = self.live_locust_headers()
        r = self.run_doc(doc(["LD_start_target"], mixed_run(test_time=1)), "--csv", "ci")
        self.assertEqual(r.code, 0, r.err)
        for kind, header in headers.items():
            with open(os.path.join(self.workdir, f"ci_{kind}.csv"), newline="") as f:
                self.assertEqual(f.readline().rstrip("\r\n"), header, kind)
        with open(os.path.join(self.workdir, "ci_stats_history.csv"), newline="") as f:
            hist = list(csv.DictReader(f))
        self.assertGreaterEqual(len(hist), 1)
        self.assertTrue(all(row["Name"] == "Aggregated" for row in hist))
        self.assertNotIn("N/A", hist[-1]["50%"])  # exact, from the record log

    def live_locust_headers(self):
        """Runs Locust headless for 2 s against a local http.server and reads its CSV headers."""
        tmp = tempfile.mkdtemp(prefix="ld-locust-")
        try:
            srv = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "0", "--bind",
                                    "127.0.0.1"], cwd=tmp, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
            try:
                line = srv.stdout.readline()
                port = int(re.search(r"port (\d+)", line).group(1))
                with open(os.path.join(tmp, "lf.py"), "w") as f:
                    f.write("from locust import HttpUser, task, constant\n"
                            "class U(HttpUser):\n    wait_time = constant(0.1)\n"
                            "    @task\n    def t(self):\n        self.client.get('/')\n")
                subprocess.run(["/usr/bin/python3", "-m", "locust", "-f", "lf.py", "--headless",
                                "-u", "1", "-r", "1", "-t", "2s", "--host",
                                f"http://127.0.0.1:{port}", "--csv", "lc", "--only-summary"],
                               cwd=tmp, capture_output=True, timeout=60)
            finally:
                srv.kill()
                srv.wait()
                srv.stdout.close()
            out = {}
            for kind in LOCUST_HEADERS:
                with open(os.path.join(tmp, f"lc_{kind}.csv"), newline="") as f:
                    out[kind] = f.readline().rstrip("\r\n")
            self.assertEqual(out, LOCUST_HEADERS)  # the pinned copy is current
            return out
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_html_report_renders_in_chromium(self):
        chromium = shutil.which("chromium")
        if not chromium:
            self.fail("chromium is not installed (scripts/setup.sh installs it)")
        r = self.run_doc(doc(["LD_start_target"], mixed_run(test_time=3),
                             ["LD_evaluate_sla", {"rules": [{"type": "failure_rate",
                                                             "value": 0.01}]}],
                             ["LD_generate_html_report", {"html_name": "rep"}]))
        self.assertEqual(r.code, 0, r.err)
        html = os.path.join(self.workdir, "rep.html")
        profile = tempfile.mkdtemp(prefix="ld-chromium-")
        try:
            base = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--enable-logging=stderr", "--v=0"]
            p = subprocess.run(base + ["--dump-dom", "file://" + html], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            dom = p.stdout
            console = [l for l in p.stderr.splitlines() if "CONSOLE" in l]
            self.assertEqual(console, [])
            self.assertIn("<h1>Test Report</h1>", dom)
            self.assertEqual(len(re.findall(r"<svg[^>]*class=\"chart\"", dom)), 4)
            points = [int(n) for n in re.findall(r'class="series"[^>]*data-points="(\d+)"', dom)]
            self.assertGreaterEqual(len(points), 6)
            self.assertTrue(all(n >= 2 for n in points), points)
            self.assertGreater(len(re.findall(r'<rect class="bar"', dom)), 0)
            self.assertIn("we&lt;ird \"name\", &amp; x", dom)
            self.assertIn("failure_rate(overall)=", dom)
            shot = os.path.join(self.workdir, "shot.png")
            p = subprocess.run(base + ["--window-size=1280,2000", f"--screenshot={shot}",
                                       "file://" + html], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            with open(shot, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    def test_every_report_example_runs_offline(self):
        r = self.run_ld("-q", "run", os.path.join(SOURCE, "examples", "every_report.json"))
        self.assertEqual(r.code, 0, r.err)
        for name in ["every_report.html", "every_report_success.json", "every_report_failure.xml",
                     "every_report.csv", "every_report-junit.xml", "every_report-summary.json",
                     "every_report-rps.svg", "every_report_stats.csv", "every_report.db"]:
            self.assertTrue(r.exists(name), name)
        self.assertRegex(r.out, r"(?m)^::error title=every_report::GET /status/503: HTTP 503")

    def test_per_request_reports_say_when_nothing_was_recorded(self):
        r = self.run_doc(doc(["LD_generate_json_report", {"json_file_name": "x"}], summary=None))
        self.assertEqual(r.code, 1)
        self.assertIn("no records to report", r.err)
        self.assertFalse(r.exists("x_success.json"))


class GatesTest(Case):
    def test_failed_assert_exits_3_after_the_remaining_reports(self):
        r = self.run_doc(doc(
            ["LD_start_target"], mixed_run(test_time=1),
            ["LD_assert_sla", {"rules": [{"type": "failure_rate", "value": 0.01},
                                         {"type": "requests", "op": "gte", "value": 1}]}],
            ["LD_emit_github_annotations", {"title": "CI"}],
            ["LD_generate_junit_report", {"report_name": "junit"}]))
        self.assertEqual(r.code, 3, r.err)
        self.assertRegex(r.err, r"SLA gates failed: failure_rate\(overall\)=[0-9.]+ not lte 0\.01")
        self.assertRegex(r.out, r"(?m)^::error title=CI SLA::SLA rule failed: failure_rate")
        self.assertRegex(r.out, r"(?m)^::error title=CI::GET s503: HTTP 503 \(\d+ failures")
        self.assertTrue(r.exists("summary.json"))  # the later actions ran
        with open(os.path.join(self.workdir, "junit.xml")) as f:
            junit = f.read()
        self.assertIn('testsuite name="loaddensity.sla" tests="2" failures="1"', junit)

    def test_passing_assert_exits_0(self):
        r = self.run_doc(doc(["LD_start_target"], start_test(
            [{"method": "get", "request_url": "${target}/get", "name": "ok"}], test_time=1),
            ["LD_assert_sla", {"rules": [{"type": "failure_rate", "value": 0},
                                         {"type": "latency_p99", "name": "ok", "value": 5000}]}]))
        self.assertEqual(r.code, 0, r.err)

    def test_bad_rule_is_rejected_before_anything_runs(self):
        r = self.run_doc(doc(["LD_start_target"], mixed_run(test_time=1),
                             ["LD_assert_sla", {"rules": [{"type": "latency_p95", "value": 1},
                                                          {"type": "latency_p59", "value": 1}]}]))
        self.assertEqual(r.code, 2)
        self.assertIn("/load_density/2/1/rules/1/type", r.err)
        self.assertIn("did you mean 'latency_p50'", r.err)
        self.assertFalse(r.exists("summary.json"))


class RunHistoryTest(Case):
    def persist_doc(self, path, label, tasks, test_time=1):
        return doc(["LD_start_target"], start_test(tasks, users=2, test_time=test_time),
                   ["LD_persist_records", {"database_path": path, "label": label,
                                           "metadata": {"branch": "dev"}}],
                   summary=None)

    def test_persist_list_fetch_diff_round_trip(self):
        db = os.path.join(self.workdir, "runs.db")
        open(db, "w").close()  # an empty file is a fine database
        fast = [{"method": "get", "request_url": "${target}/get", "name": "api"}]
        slow = [{"method": "get", "request_url": "${target}/delay/0.2", "name": "api"}]
        r = self.run_doc(self.persist_doc(db, "baseline", fast))
        self.assertEqual(r.code, 0, r.err)
        r = self.run_doc(self.persist_doc(db, "current", slow))
        self.assertEqual(r.code, 0, r.err)
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        runs = con.execute("SELECT id, label, metadata_json FROM load_density_runs").fetchall()
        self.assertEqual(runs, [(1, "baseline", '{"branch": "dev"}'),
                                (2, "current", '{"branch": "dev"}')])
        stored = con.execute("SELECT requests, records, complete FROM load_density_run_stats "
                             "WHERE run_id = 1").fetchone()
        self.assertEqual(stored[0], stored[1])
        self.assertEqual(stored[2], 1)
        n1 = con.execute("SELECT count(*) FROM load_density_records WHERE run_id = 1").fetchone()
        self.assertEqual(n1[0], stored[0])
        con.close()
        r = self.run_doc(doc(["LD_list_runs", {"database_path": db, "limit": 1}],
                             ["LD_fetch_run_records", {"database_path": db, "run_id": 1,
                                                       "limit": 3}],
                             ["LD_diff_runs", {"database_path": db, "baseline_run_id": 1,
                                               "current_run_id": 2, "tolerance": 0.5}],
                             summary=None))
        self.assertEqual(r.code, 0, r.err)
        # The CLI diff: a table and exit 3 (regression); the same run against itself is clean.
        p = self.run_ld("diff", db, "1", "2", "--tolerance", "0.5")
        self.assertEqual(p.code, 3, p.err)
        self.assertIn("REGRESSION", p.out)
        self.assertIn("api", p.out)
        p = self.run_ld("diff", db, "1", "1")
        self.assertEqual(p.code, 0, p.err)
        self.assertIn("no regressions", p.out)
        p = self.run_ld("diff", db, "1", "2", "--json")
        d = json.loads(p.out)
        self.assertEqual(d["regressions"][0]["name"], "api")
        self.assertIn("p50_ms", d["regressions"][0]["metrics"])
        self.assertGreater(d["per_name"]["api"]["deltas"]["p50_ms"]["current"], 150)
        self.assertEqual(set(d["per_name"]["api"]["deltas"]["mean_ms"]),
                         {"baseline", "current", "abs", "pct"})
        p = self.run_ld("diff", db, "1", "9")
        self.assertEqual(p.code, 2)
        self.assertIn("current run 9 is not in", p.err)

    def test_diff_reads_runs_stored_by_the_original(self):
        db = os.path.join(self.workdir, "seed.db")
        con = sqlite3.connect(db)
        con.executescript("""
CREATE TABLE load_density_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, label TEXT, metadata_json TEXT);
CREATE TABLE load_density_records (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, outcome TEXT NOT NULL, method TEXT, test_url TEXT, name TEXT, status_code TEXT, response_time_ms REAL, response_length INTEGER, error TEXT);
INSERT INTO load_density_runs (started_at) VALUES ('a'), ('b');
""")
        for run, values in ((1, [10, 20, 30, 40]), (2, [10, 20, 30, 100])):
            for v in values:
                con.execute("INSERT INTO load_density_records (run_id, outcome, name, "
                            "response_time_ms) VALUES (?, 'success', '/x', ?)", (run, v))
        con.commit()
        con.close()
        p = self.run_ld("diff", db, "1", "2", "--json")
        self.assertEqual(p.code, 3, p.err)
        d = json.loads(p.out)["per_name"]["/x"]["deltas"]
        self.assertAlmostEqual(d["p95_ms"]["baseline"], 38.5)  # linear interpolation
        self.assertAlmostEqual(d["p95_ms"]["current"], 89.5)
        self.assertAlmostEqual(d["p50_ms"]["pct"], 0.0)

    def test_not_a_database_and_bad_paths_are_clear_errors(self):
        bad = os.path.join(self.workdir, "notes.txt")
        with open(bad, "w") as f:
            f.write("this is not a database, just text " * 200)
        r = self.run_doc(doc(["LD_list_runs", {"database_path": bad}], summary=None))
        self.assertEqual(r.code, 2)
        self.assertIn("is not a SQLite database", r.err)
        self.assertIn("/database_path", r.err)
        r = self.run_doc(doc(["LD_list_runs", {"database_path": "/nonexistent/dir/x.db"}],
                             summary=None))
        self.assertEqual(r.code, 2)
        self.assertIn("cannot open SQLite database '/nonexistent/dir/x.db'", r.err)
        p = self.run_ld("diff", bad, "1", "2")
        self.assertEqual(p.code, 2)
        self.assertIn("is not a SQLite database", p.err)

    def test_kill_9_mid_write_leaves_a_consistent_store(self):
        db = os.path.join(self.workdir, "crash.db")
        r = self.run_doc(self.persist_doc(db, "before", [
            {"method": "get", "request_url": "${target}/get", "name": "a"}]), name="one.json")
        self.assertEqual(r.code, 0, r.err)
        with sqlite3.connect(db) as con:
            before = con.execute("SELECT count(*) FROM load_density_records").fetchone()[0]
        # A big run (many records), killed as soon as its records start landing.
        big = {"load_density": [["LD_start_target", {"threads": 1}],
                                start_test([{"method": "get", "request_url": "${target}/get",
                                             "name": "a"}], users=32, test_time=3, threads=1),
                                ["LD_persist_records", {"database_path": db, "label": "big"}]]}
        path = os.path.join(self.workdir, "big.json")
        with open(path, "w") as f:
            json.dump(big, f)
        proc = subprocess.Popen([os.environ["LOADDENSITY_BIN"], "-q", "run", path],
                                cwd=self.workdir, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                # its record log dir outlives the killed process: keep it here
                                env={**os.environ, "TMPDIR": self.workdir})
        killed_mid_write = False
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            try:
                con = sqlite3.connect(db, timeout=0.1)
                row = con.execute("SELECT s.complete, (SELECT count(*) FROM load_density_records"
                                  " WHERE run_id = 2) FROM load_density_run_stats s "
                                  "WHERE run_id = 2").fetchone()
                con.close()
            except sqlite3.OperationalError:
                row = None
            if row and row[0] == 0 and row[1] > 0:
                proc.send_signal(signal.SIGKILL)
                killed_mid_write = True
                break
            time.sleep(0.002)
        proc.wait(timeout=30)
        self.assertTrue(killed_mid_write, "the persist finished before it could be killed")
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        self.assertEqual(con.execute("SELECT complete FROM load_density_run_stats "
                                     "WHERE run_id = 1").fetchone()[0], 1)
        self.assertEqual(con.execute("SELECT count(*) FROM load_density_records WHERE run_id = 1"
                                     ).fetchone()[0], before)
        self.assertEqual(con.execute("SELECT complete FROM load_density_run_stats "
                                     "WHERE run_id = 2").fetchone()[0], 0)
        # The interrupted run kept its aggregates: it can still be compared.
        self.assertGreater(con.execute("SELECT requests FROM load_density_name_stats "
                                       "WHERE run_id = 2").fetchone()[0], 0)
        con.close()
        r = self.run_doc(doc(["LD_list_runs", {"database_path": db}], summary=None),
                         name="list.json")
        self.assertEqual(r.code, 0, r.err)
        p = self.run_ld("diff", db, "1", "2")
        self.assertIn(p.code, (0, 3), p.err)
        # The store takes new runs after the crash.
        r = self.run_doc(self.persist_doc(db, "after", [
            {"method": "get", "request_url": "${target}/get", "name": "a"}]), name="three.json")
        self.assertEqual(r.code, 0, r.err)
        with sqlite3.connect(db) as con:
            self.assertEqual(con.execute("SELECT max(id) FROM load_density_runs").fetchone()[0],
                             3)


if __name__ == "__main__":
    unittest.main()
