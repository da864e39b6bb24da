"""loaddensity as a worker of Debian's Locust 2.12 master (python3-locust): the master drives our
users over its ZeroMQ protocol, its CSV files show our requests per name and our failures, its
quit ends our test, and a master that disappears ends the worker with an error. A scripted
master (pyzmq ROUTER + msgpack, as locust/rpc does) checks the messages one by one: stop, ready
again, a second spawn, a stale spawn, class mapping, heartbeats and quit."""
import csv
import json
import os
import signal
import subprocess
import time

import msgpack
import zmq

from ldtest import BIN, Case, free_port

PYTHON = "/usr/bin/python3"  # Debian's Python sees python3-locust (see DEPENDENCIES.md trap 5)

# The master only needs the user class: our worker runs the document's tasks under its name.
# Debian's Locust reports an empty version string; a real one keeps the master's version
# checks and messages meaningful (our worker sends -1, which skips the check either way).
LOCUSTFILE = """
import locust
import locust.runners
from locust import User, constant, task

if not locust.__version__:
    locust.__version__ = locust.runners.__version__ = "2.12.1"


class WebsiteUser(User):
    wait_time = constant(1)

    @task
    def nothing(self):
        pass
"""


def worker_doc(users=10):
    return [
        ["LD_start_target"],
        ["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user", "locust_class": "WebsiteUser"},
            "user_count": users,
            "tasks": [
                {"method": "get", "request_url": "${target}/get", "name": "/get",
                 "think_time": 0.05},
                {"method": "get", "request_url": "${target}/status/500", "name": "/fails",
                 "think_time": 0.05},
            ]}],
        ["LD_generate_summary_report", {"report_name": "worker-summary"}],
    ]


class Processes(Case):
    def start_master(self, port, *args):
        with open(os.path.join(self.workdir, "locustfile.py"), "w") as f:
            f.write(LOCUSTFILE)
        return subprocess.Popen(
            [PYTHON, "-m", "locust", "-f", "locustfile.py", "--master", "--headless",
             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", "1", *args],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start_worker(self, port, *args, users=10, doc=None):
        path = os.path.join(self.workdir, "worker_doc.json")
        with open(path, "w") as f:
            json.dump(doc or worker_doc(users), f)
        return subprocess.Popen(
            [BIN, "worker", "--master-host", "127.0.0.1", "--master-port", str(port), "-q",
             path, *args],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, p, timeout):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail(f"process did not end within {timeout} s\n{err[-3000:]}")
        return p.returncode, out, err


class LocustWorkerTest(Processes):
    def test_locust_master_drives_our_worker_and_reports_our_requests(self):
        port = free_port()
        master = self.start_master(port, "-u", "4", "-r", "100", "--run-time", "6s",
                                   "--csv", os.path.join(self.workdir, "master"))
        worker = self.start_worker(port)
        m_code, _, m_err = self.finish(master, 120)
        w_code, w_out, w_err = self.finish(worker, 60)
        # The master's quit ended our test and the worker left cleanly.
        self.assertEqual(w_code, 0, w_err + w_out)
        self.assertIn("All users spawned", m_err)
        self.assertIn('"WebsiteUser": 4', m_err)
        # Locust exits 1 when requests failed (--exit-code-on-error), which ours did on purpose.
        self.assertEqual(m_code, 1, m_err[-3000:])

        with open(os.path.join(self.workdir, "master_stats.csv")) as f:
            rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
        ok, bad, agg = rows[("GET", "/get")], rows[("GET", "/fails")], rows[("", "Aggregated")]
        self.assertGreater(int(ok["Request Count"]), 10)
        self.assertEqual(int(ok["Failure Count"]), 0)
        self.assertGreater(int(bad["Request Count"]), 10)
        self.assertEqual(int(bad["Failure Count"]), int(bad["Request Count"]))
        self.assertEqual(int(agg["Request Count"]),
                         int(ok["Request Count"]) + int(bad["Request Count"]))
        self.assertEqual(int(agg["Failure Count"]), int(bad["Failure Count"]))
        # Response times arrive in Locust's buckets: the embedded target answers in milliseconds.
        self.assertLess(float(ok["Median Response Time"]), 1000)
        self.assertGreater(float(ok["Average Content Size"]), 100)  # /get echoes a JSON body

        with open(os.path.join(self.workdir, "master_failures.csv")) as f:
            failures = list(csv.DictReader(f))
        # The error text is the failure kind; the master's CSV writer adds repr()'s quotes.
        self.assertEqual([(r["Method"], r["Name"], r["Error"]) for r in failures],
                         [("GET", "/fails", "'http_status'")])
        self.assertEqual(int(failures[0]["Occurrences"]), int(bad["Failure Count"]))

        # Our own report counts at least what the master saw (the master stops listening half a
        # second after its quit; requests of that last moment may reach only our report).
        with open(os.path.join(self.workdir, "worker-summary.json")) as f:
            ours = json.load(f)["per_name"]
        for name, row in (("/get", ok), ("/fails", bad)):
            self.assertLessEqual(int(row["Request Count"]), ours[name]["requests"])
            self.assertGreaterEqual(int(row["Request Count"]), ours[name]["requests"] // 2)

    def test_master_that_disappears_ends_the_worker_with_an_error(self):
        port = free_port()
        master = self.start_master(port, "-u", "2", "-r", "100")
        worker = self.start_worker(port, "--heartbeat-timeout", "2")
        try:
            # Wait until the master has spawned our users.
            deadline = time.monotonic() + 60
            seen = ""
            while time.monotonic() < deadline and "All users spawned" not in seen:
                line = master.stderr.readline()
                if not line:
                    break
                seen += line
            self.assertIn("All users spawned", seen)
        finally:
            master.send_signal(signal.SIGKILL)
            master.communicate()
        started = time.monotonic()
        w_code, w_out, w_err = self.finish(worker, 60)
        self.assertNotEqual(w_code, 0, w_err)
        self.assertIn("lost the master", w_err)
        self.assertIn("unreachable for 2 s", w_err)
        # It noticed within the timeout plus the stop, not after Locust's 60 s.
        self.assertLess(time.monotonic() - started, 40)


class ScriptedMaster:
    """A ROUTER socket speaking Locust's messages: [type, data, node_id] in msgpack."""

    def __init__(self):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnecting worker keeps its identity
        self.accepted = self.sock.get_monitor_socket(zmq.EVENT_ACCEPTED)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.node = None
        self.heartbeats = []
        self.stats = []  # every stats message, in order

    def connections(self):
        """Connections accepted so far."""
        n = 0
        while self.accepted.poll(0):
            self.accepted.recv_multipart()
            n += 1
        self.accepted_count = getattr(self, "accepted_count", 0) + n
        return self.accepted_count

    def close(self):
        self.sock.disable_monitor()
        self.accepted.close(linger=0)
        self.sock.close(linger=0)
        self.ctx.term()

    def recv(self, timeout=20):
        """The next message that is not a heartbeat (heartbeats are kept)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.sock.poll(100):
                continue
            ident, raw = self.sock.recv_multipart()
            mtype, data, node = msgpack.loads(raw, raw=False, strict_map_key=False)
            assert node == ident.decode(), (node, ident)
            self.node = node
            if mtype == "heartbeat":
                self.heartbeats.append(data)
                continue
            if mtype == "stats":
                self.stats.append(data)
            return mtype, data
        raise AssertionError("no message from the worker")

    def expect(self, *types, timeout=20):
        """Messages until each of `types` was seen in order; returns {type: data} (stats
        messages in between are collected under "stats*")."""
        got = {"stats*": []}
        for t in types:
            while True:
                mtype, data = self.recv(timeout)
                if mtype == "stats":
                    got["stats*"].append(data)
                    if t == "stats":
                        got[t] = data
                        break
                    continue
                assert mtype == t, f"expected {t}, got {mtype} {data}"
                got[t] = data
                break
        return got

    def send(self, mtype, data):
        self.sock.send_multipart([self.node.encode(),
                                  msgpack.dumps((mtype, data, self.node))])


def requests_in(stats_messages, name):
    return sum(e["num_requests"] for m in stats_messages for e in m["stats"] if e["name"] == name)


class ScriptedMasterTest(Processes):
    def test_messages_stop_ready_again_respawn_and_quit(self):
        master = ScriptedMaster()
        worker = self.start_worker(master.port, "--heartbeat-timeout", "30", users=3)
        try:
            _, version = master.recv()
            self.assertEqual(version, -1)  # skips the master's version check
            master.send("ack", {"index": 0})
            ts = time.time()
            master.send("spawn", {"timestamp": ts, "host": "", "stop_timeout": None,
                                  "parsed_options": {},
                                  "user_classes_count": {"WebsiteUser": 5, "Other": 2}})
            got = master.expect("spawning", "spawning_complete")
            # Only WebsiteUser maps to this test, and user_count 3 caps it.
            self.assertEqual(got["spawning_complete"],
                             {"user_classes_count": {"WebsiteUser": 5, "Other": 0},
                              "user_count": 3})
            got = master.expect("stats", "stats")
            last = got["stats*"][-1]
            self.assertEqual(last["user_count"], 3)
            entry = next(e for e in last["stats"] if e["name"] == "/get")
            self.assertEqual(entry["method"], "GET")
            self.assertTrue(all(isinstance(k, int) for k in entry["response_times"]))
            self.assertTrue(all(isinstance(k, int) for k in entry["num_reqs_per_sec"]))
            self.assertEqual(sum(entry["response_times"].values()), entry["num_requests"])
            self.assertEqual(sum(entry["num_reqs_per_sec"].values()), entry["num_requests"])
            self.assertIn("running", [h["state"] for h in master.heartbeats])
            self.assertTrue(all(h["current_memory_usage"] > 1 << 20 for h in master.heartbeats))
            self.assertTrue(all(h["current_cpu_usage"] >= 0 for h in master.heartbeats))
            master.send("stop", None)
            got = master.expect("client_stopped", "client_ready")
            self.assertEqual(got["client_ready"], -1)
            first = requests_in(master.stats, "/get")
            self.assertGreater(first, 0)
            # Ready again: a second spawn starts a second run; a stale one is ignored.
            master.send("spawn", {"timestamp": ts + 10, "host": "", "stop_timeout": None,
                                  "parsed_options": {}, "user_classes_count": {"WebsiteUser": 1}})
            got = master.expect("spawning", "spawning_complete", "stats")
            self.assertEqual(got["spawning_complete"]["user_count"], 1)
            master.send("spawn", {"timestamp": ts + 5, "host": "", "stop_timeout": None,
                                  "parsed_options": {}, "user_classes_count": {"WebsiteUser": 3}})
            got = master.expect("spawning", "stats")
            self.assertEqual(got["stats"]["user_count"], 1)
            master.send("quit", None)
            master.expect("quit")
            both = requests_in(master.stats, "/get")
            code, out, err = self.finish(worker, 60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
            master.close()
        self.assertEqual(code, 0, err)
        with open(os.path.join(self.workdir, "worker-summary.json")) as f:
            ours = json.load(f)["per_name"]
        # Every request of both runs reached the master, each once.
        self.assertGreater(both, first)
        self.assertEqual(ours["/get"]["requests"], both)

    def test_reconnect_reopens_the_connection_and_keeps_the_worker(self):
        master = ScriptedMaster()
        worker = self.start_worker(master.port, "--heartbeat-timeout", "30", users=2)
        try:
            master.recv()  # client_ready
            master.send("ack", {"index": 0})
            self.assertEqual(master.connections(), 1)
            master.send("reconnect", None)
            # The worker closes its socket and connects again with the same identity; its
            # heartbeats go on over the new connection.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and master.connections() < 2:
                master.sock.poll(100)
                while master.sock.poll(0):
                    master.sock.recv_multipart()
            self.assertEqual(master.connections(), 2)
            # A ROUTER drops what it sends to a peer whose new connection has not finished its
            # handshake: send the spawn once the worker has been heard on the new connection.
            heard = len(master.heartbeats)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(master.heartbeats) < heard + 2:
                try:
                    master.recv(timeout=0.5)
                except AssertionError:
                    pass
            before = len(master.heartbeats)
            master.send("spawn", {"timestamp": time.time(), "host": "", "stop_timeout": None,
                                  "parsed_options": {}, "user_classes_count": {"WebsiteUser": 1}})
            got = master.expect("spawning", "spawning_complete", "stats")
            self.assertEqual(got["spawning_complete"]["user_count"], 1)
            self.assertGreater(len(master.heartbeats), before)
            deadline = time.monotonic() + 20  # the first stats may precede the first request
            while requests_in(master.stats, "/get") == 0 and time.monotonic() < deadline:
                master.recv()
            self.assertGreater(requests_in(master.stats, "/get"), 0)
            master.send("quit", None)
            master.expect("quit")
            code, out, err = self.finish(worker, 60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
            master.close()
        self.assertEqual(code, 0, err)
        self.assertIn("reconnect", err)

    def test_a_run_that_cannot_start_is_sent_as_an_exception(self):
        # ${target} is never set (no LD_start_target): the run fails when its URL resolves.
        doc = [["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user"}, "user_count": 2,
            "tasks": [{"method": "get", "request_url": "${target}/get", "name": "/get"}]}]]
        master = ScriptedMaster()
        worker = self.start_worker(master.port, "--heartbeat-timeout", "30", doc=doc)
        try:
            master.recv()  # client_ready
            master.send("ack", {"index": 0})
            master.send("spawn", {"timestamp": time.time(), "host": "", "stop_timeout": None,
                                  "parsed_options": {}, "user_classes_count": {"WebsiteUser": 1}})
            got = master.expect("spawning", "spawning_complete", "exception", "quit")
            code, out, err = self.finish(worker, 60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
            master.close()
        self.assertIn("target", got["exception"]["msg"])
        self.assertIn("traceback", got["exception"])
        self.assertNotEqual(code, 0)
        self.assertIn("target", err)
