"""How a test ends: requests still in flight are failures (not forgotten), the stop reason says
what really stopped the test, graceful_stop bounds the wait, gates over nothing fail, bytes are
counted only when written, a dead server is not hammered, and a second Ctrl-C leaves no
temporary files behind."""
import json
import os
import signal
import socket
import subprocess
import time
import unittest

from faultservers import TcpServer
from ldtest import BIN, Case, doc, start_test


def silent(conn):
    """Accepts a request and never answers (until the client goes away)."""
    while conn.recv(4096):
        pass


class ClosedPort:
    """A 127.0.0.1 port that refuses connections: bound, never listening, held for the test."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()


class StoppingTest(Case):
    def test_gate_fails_against_a_server_that_never_answers(self):
        with TcpServer(silent) as srv:
            url = f"http://127.0.0.1:{srv.port}/get"
            r = self.run_doc(doc(
                start_test([{"method": "get", "request_url": url}], users=3, test_time=2,
                           hard_timeout=4),
                ["LD_generate_summary_report", {"report_name": "summary"}],
                ["LD_assert_sla", {"rules": [{"type": "failure_rate", "value": 0.01},
                                             {"type": "latency_p99", "value": 500}]}],
                summary=None), timeout=60)
        self.assertEqual(r.code, 3, r.err)
        s = r.summary()
        run = s["runs"][0]
        # The watchdog ended the graceful stop, so it is what stopped the test.
        self.assertEqual(run["stop_reason"], "hard_timeout")
        self.assertEqual(s["totals"]["requests"], 3)
        self.assertEqual(s["totals"]["failures"], 3)
        self.assertEqual(s["errors_by_kind"], {"aborted": 3})
        self.assertEqual(run["aborted"], 3)
        # Each abandoned request carries its elapsed time (about the 4 s watchdog).
        self.assertGreater(s["latency_overall"]["p50_ms"], 3000)
        self.assertGreater(run["wall_s"], run["duration_s"])
        self.assertIn("failure_rate(overall)=1.0 not lte 0.01", r.err)

    def test_graceful_stop_bounds_the_wait_for_in_flight_requests(self):
        with TcpServer(silent) as srv:
            url = f"http://127.0.0.1:{srv.port}/get"
            begun = time.monotonic()
            r = self.run_doc(doc(start_test(
                [{"method": "get", "request_url": url, "timeout": 60}], users=2, test_time=1,
                graceful_stop=1)), timeout=60)
            elapsed = time.monotonic() - begun
        self.assertEqual(r.code, 0, r.err)
        # Without graceful_stop the stop waits for the 60 s task timeout.
        self.assertLess(elapsed, 30)
        s = r.summary()
        run = s["runs"][0]
        self.assertEqual(run["stop_reason"], "test_time")
        self.assertEqual(run["graceful_stop_s"], 1)
        self.assertEqual(s["errors_by_kind"], {"aborted": 2})
        self.assertGreaterEqual(run["wall_s"], run["duration_s"] + 0.9)
        self.assertIn("in flight at the end recorded as aborted", r.out)

    def test_interrupt_records_in_flight_requests_as_aborted(self):
        with TcpServer(silent) as srv:
            url = f"http://127.0.0.1:{srv.port}/get"
            p = self.start_doc(doc(start_test([{"method": "get", "request_url": url}], users=2,
                                              test_time=60)))
            deadline = time.monotonic() + 20
            while srv.accepted < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        s = self.summary_in_workdir()
        self.assertEqual(s["runs"][0]["stop_reason"], "interrupted")
        self.assertEqual(s["errors_by_kind"], {"aborted": 2})

    def summary_in_workdir(self):
        with open(os.path.join(self.workdir, "summary.json")) as f:
            return json.load(f)

    def test_refused_connections_send_no_bytes_and_back_off(self):
        with ClosedPort() as closed:
            url = f"http://127.0.0.1:{closed.port}/get"
            r = self.run_doc(doc(start_test([{"method": "get", "request_url": url}], users=2,
                                            test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertGreater(s["totals"]["requests"], 0)
        self.assertEqual(s["totals"]["failures"], s["totals"]["requests"])
        self.assertEqual(s["errors_by_kind"], {"refused": s["totals"]["requests"]})
        self.assertEqual(s["totals"]["bytes_sent"], 0)
        # Backing off (10 ms doubling to 1 s) a user makes about 9 attempts in 2 s; without it
        # two users made over 100,000.
        self.assertLess(s["totals"]["requests"], 100)

    def test_second_interrupt_removes_temporary_files(self):
        tmp = os.path.join(self.workdir, "tmp")
        os.mkdir(tmp)
        path = os.path.join(self.workdir, "doc.json")
        with open(path, "w") as f:
            json.dump(doc(["LD_start_target"],
                          start_test([{"method": "get", "request_url": "${target}/get"}],
                                     users=4, test_time=60),
                          ["LD_generate_csv_report", {"csv_name": "records"}]), f)
        p = subprocess.Popen([BIN, "run", path], cwd=self.workdir, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": tmp})
        deadline = time.monotonic() + 20
        while not os.listdir(tmp) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.listdir(tmp), "the record log directory never appeared")
        time.sleep(2)  # enough records that writing the CSV report takes a while
        p.send_signal(signal.SIGINT)
        # Two signals sent back to back may merge into one pending signal: let the first land.
        time.sleep(0.03)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, -signal.SIGINT)
        self.assertEqual(os.listdir(tmp), [])
        leftovers = [n for n in os.listdir(self.workdir) if ".tmp-" in n]
        self.assertEqual(leftovers, [])


if __name__ == "__main__":
    unittest.main()
