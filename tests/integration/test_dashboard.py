"""The live dashboard end to end: a real run served by the binary, read by an SSE client and
rendered by headless Chromium (the screenshot is kept when LD_DASHBOARD_SHOT names a file)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from ldtest import Case, doc, free_port, start_test


def run_with_failures(test_time, users=4):
    return start_test([
        {"method": "get", "request_url": "${target}/get", "name": "ok"},
        {"method": "get", "request_url": "${target}/status/503", "name": "s503"},
    ], users=users, test_time=test_time)


def wait_for_port(port, proc, deadline_s=30):
    """Connects until the dashboard listens (the process starts it as its first action)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError("loaddensity ended early: " + proc.stderr.read())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def read_events(port, final_of_run=None, timeout=60):
    """GET /events; returns (history events, update events) parsed, reading until a final
    update (of run `final_of_run` when given) or the end of the stream."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    buf = b""
    history, updates = [], []
    head_done = False
    with s:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if not head_done:
                if b"\r\n\r\n" not in buf:
                    continue
                head, buf = buf.split(b"\r\n\r\n", 1)
                assert head.startswith(b"HTTP/1.1 200"), head
                assert b"content-type: text/event-stream" in head.lower(), head
                head_done = True
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                kind, data = "message", []
                for line in event.decode().split("\n"):
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                if not data:
                    continue
                value = json.loads("\n".join(data))
                (history if kind == "history" else updates).append(value)
                if kind == "message" and value["final"] and final_of_run in (None, value["run"]):
                    return history, updates
    return history, updates


def end(proc):
    """Cleanup: a process still running (a failed test) is killed; pipes are closed."""
    if proc.poll() is None:
        proc.kill()
    if not proc.stdout.closed:
        proc.communicate()


def close_to(a, b, rel=0.07, abs_ms=0.05):
    return abs(a - b) <= rel * max(a, b) + abs_ms


class DashboardTest(Case):
    def start(self, *actions, extra=()):
        port = free_port()
        proc = self.start_doc(doc(["LD_start_target"],
                                  ["LD_start_dashboard", {"port": port}], *actions), *extra)
        self.addCleanup(end, proc)
        wait_for_port(port, proc)
        return port, proc

    def finish(self, proc):
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.last_err = err
        with open(os.path.join(self.workdir, "summary.json")) as f:
            return json.load(f)

    def test_event_stream_numbers_match_the_summary(self):
        port, proc = self.start(run_with_failures(test_time=5))
        history, updates = read_events(port)
        s = self.finish(proc)
        self.assertGreaterEqual(len(updates), 3, updates)
        self.assertTrue(updates[-1]["final"])
        self.assertFalse(any(u["final"] for u in updates[:-1]))
        self.assertEqual(len({u["run"] for u in updates}), 1)
        seqs = [u["seq"] for u in updates]
        self.assertEqual(seqs, sorted(set(seqs)))
        totals = [u["totals"]["requests"] for u in updates]
        self.assertEqual(totals, sorted(totals))  # running totals only grow
        self.assertGreater(totals[0], 0)
        self.assertTrue(any(u["users"] == 4 for u in updates), [u["users"] for u in updates])
        # Every interval's point arrives once (history, then the updates): they add up to the run.
        points = {}
        for h in history:
            for p in h["points"]:
                points[p["t"]] = p
        for u in updates:
            for p in u["points"]:
                points[p["t"]] = p
        final = updates[-1]
        self.assertEqual(sum(p["requests"] for p in points.values()), s["totals"]["requests"])
        self.assertEqual(sum(p["failures"] for p in points.values()), s["totals"]["failures"])
        self.assertEqual(final["totals"]["requests"], s["totals"]["requests"])
        self.assertEqual(final["totals"]["failures"], s["totals"]["failures"])
        self.assertAlmostEqual(final["totals"]["failure_rate"], s["totals"]["failure_rate"], 3)
        # Each update's totals are the sum of the intervals so far.
        running = 0
        for u in updates:
            running_points = sum(p["requests"] for t, p in points.items() if t <= u["t"])
            self.assertEqual(u["totals"]["requests"], running_points)
            running = u["totals"]["requests"]
        self.assertEqual(running, s["totals"]["requests"])
        # Per name and errors by kind.
        by_name = {n["name"]: n for n in final["names"]}
        self.assertEqual(set(by_name), {"ok", "s503"})
        for name in ("ok", "s503"):
            self.assertEqual(by_name[name]["requests"], s["per_name"][name]["requests"])
            self.assertEqual(by_name[name]["failures"], s["per_name"][name]["failures"])
        self.assertEqual(final["errors"], [{"type": "GET", "name": "s503", "kind": "http_status",
                                            "count": s["per_name"]["s503"]["failures"]}])
        # Live percentiles come from 3% histograms: close to the summary's, not equal.
        for p in ("p50_ms", "p95_ms", "p99_ms"):
            self.assertTrue(close_to(final["totals"][p], s["latency_overall"][p]),
                            (p, final["totals"][p], s["latency_overall"][p]))
        # After the run the latest update is the final one, as JSON too.
        self.assertEqual(final["t"], max(points))

    def test_snapshot_routes_and_a_late_client_gets_the_history(self):
        port, proc = self.start(run_with_failures(test_time=3), start_test(
            [{"method": "get", "request_url": "${target}/get", "name": "second"}], users=1,
            test_time=2))
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/") as r:
            page = r.read().decode()
            self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn("<title>loaddensity live dashboard</title>", page)
        self.assertNotRegex(page, r"(src|href)=\"?(https?:)?//")  # nothing fetched elsewhere
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/nope")
        self.assertEqual(e.exception.code, 404)
        req = urllib.request.Request(base + "/", data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        self.assertEqual(e.exception.code, 405)
        # Once the first run reported twice, one stream follows it to its end, then the second
        # (run 2) to its end.
        _wait_updates(port, 2)
        history, updates = read_events(port, final_of_run=2)
        self.assertEqual([u["run"] for u in updates], sorted(u["run"] for u in updates))
        self.assertEqual(updates[-1]["run"], 2)
        self.assertEqual(updates[-1]["totals"]["requests"],
                         sum(p["requests"] for u in updates if u["run"] == 2 for p in u["points"]))
        self.assertEqual([n["name"] for n in updates[-1]["names"]], ["second"])
        # The client arrived during the first run: the history it got and the updates' points
        # together are every interval of that run.
        self.assertEqual([h["run"] for h in history], [1])
        self.assertGreaterEqual(len(history[0]["points"]), 2)
        first = {p["t"]: p for p in history[0]["points"]}
        first.update({p["t"]: p for u in updates if u["run"] == 1 for p in u["points"]})
        final_1 = [u for u in updates if u["run"] == 1][-1]
        self.assertTrue(final_1["final"])
        self.assertEqual(sum(p["requests"] for p in first.values()), final_1["totals"]["requests"])
        with urllib.request.urlopen(base + "/snapshot") as r:
            snap = json.loads(r.read())
        self.assertEqual(snap["run"], 2)
        self.finish(proc)

    def test_cli_option_and_a_busy_port(self):
        port = free_port()
        path = os.path.join(self.workdir, "doc.json")
        with open(path, "w") as f:
            json.dump(doc(["LD_start_target"], run_with_failures(test_time=2)), f)
        proc = subprocess.Popen([os.environ["LOADDENSITY_BIN"], "run", path, "--dashboard",
                                 f"127.0.0.1:{port}"], cwd=self.workdir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(end, proc)
        wait_for_port(port, proc)
        _, updates = read_events(port)
        s = self.finish(proc)
        self.assertEqual(updates[-1]["totals"]["requests"], s["totals"]["requests"])
        self.assertIn(f"dashboard: http://127.0.0.1:{port}/", self.last_err)
        r = self.run_doc(doc(["LD_start_dashboard", {"port": 0}], summary=None), "--dashboard",
                         "nope:x")
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("--dashboard", r.err)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            taken = busy.getsockname()[1]
            r = self.run_doc(doc(["LD_start_dashboard", {"port": taken}], summary=None))
            self.assertEqual(r.code, 1, r.err)
            self.assertIn(f"cannot listen for the dashboard on port {taken}", r.err)
        r = self.run_doc(doc(["LD_start_dashboard", {"port": 70000}], summary=None))
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("/port", r.err)

    def test_page_renders_live_in_chromium(self):
        chromium = shutil.which("chromium")
        if not chromium:
            self.fail("chromium is not installed (scripts/setup.sh installs it)")
        port, proc = self.start(run_with_failures(test_time=20))
        _wait_updates(port, 3)  # a few intervals, so that the charts have points
        profile = tempfile.mkdtemp(prefix="ld-chromium-")
        shot = os.environ.get("LD_DASHBOARD_SHOT") or os.path.join(self.workdir, "dashboard.png")
        try:
            base = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
                    "--timeout=3000"]  # then the page as the event stream left it
            url = f"http://127.0.0.1:{port}/"
            # On a loaded machine Chromium may dump the page before its event stream opened
            # ("Connecting"): dump again, a bounded number of times, while the test still runs.
            for _ in range(3):
                p = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True,
                                   timeout=120)
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                dom = p.stdout
                if re.search(r'id="status-text">(Running|Finished)<', dom):
                    break
            console = [l for l in p.stderr.splitlines() if "CONSOLE" in l]
            self.assertEqual(console, [])
            self.assertRegex(dom, r'id="status-text">(Running|Finished)<')
            m = re.search(r'id="requests">([0-9,]+)<', dom)
            self.assertIsNotNone(m, dom[:3000])
            self.assertGreater(int(m.group(1).replace(",", "")), 0)
            self.assertIn('<td class="name">ok</td>', dom)
            self.assertIn('<td class="kind">http_status</td>', dom)
            p = subprocess.run(base + ["--window-size=1400,1500", f"--screenshot={shot}", url],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            with open(shot, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        self.finish(proc)


def _wait_updates(port, n):
    """Reads the event stream until `n` updates arrived."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    seen, buf = 0, b""
    with s:
        while seen < n:
            chunk = s.recv(65536)
            if not chunk:
                return
            buf += chunk
            seen = buf.count(b"\ndata: ") - buf.count(b"event: history\ndata: ")
