"""loaddensity as a Locust-protocol master over loopback, against the embedded target
(`loaddensity target`): two loaddensity workers (the master's per-name totals are the sums of
the workers', with their own histograms), a worker killed mid-run (the master finishes and
reports it missing), and a Locust worker (Debian's python3-locust) under our master. The
docker/k8s recipes are checked with yamllint."""
import glob
import json
import os
import signal
import subprocess
import time

from ldtest import BIN, SOURCE, Case, free_port, start_target, stop_target

PYTHON = "/usr/bin/python3"  # Debian's Python sees python3-locust

LOCUSTFILE = """
from locust import HttpUser, constant, task


class WebsiteUser(HttpUser):
    wait_time = constant(0.05)

    @task
    def get(self):
        self.client.get("/get", name="/get")
        self.client.get("/status/500", name="/fails")
"""


def test_args(target, users=10, **kw):
    args = {"user_detail_dict": {"user": "fast_http_user", "locust_class": "WebsiteUser"},
            "user_count": users, "spawn_rate": 100, "test_time": 3,
            "tasks": [
                {"method": "get", "request_url": target + "/get", "name": "/get",
                 "think_time": 0.02},
                {"method": "get", "request_url": target + "/status/500", "name": "/fails",
                 "think_time": 0.02},
            ]}
    args.update(kw)
    return args


class MasterCase(Case):
    @classmethod
    def setUpClass(cls):
        cls.target_proc, cls.target = start_target(listing=r"listening on (http://\S+)")

    @classmethod
    def tearDownClass(cls):
        stop_target(cls.target_proc)

    def write(self, name, doc):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def start_master(self, port, *args, **kw):
        doc = [["LD_start_test", test_args(self.target, **kw)],
               ["LD_generate_summary_report", {"report_name": "master"}],
               ["LD_generate_html_report", {"html_name": "master"}]]
        path = self.write("master.json", doc)
        return subprocess.Popen(
            [BIN, "master", "--bind-host", "127.0.0.1", "--bind-port", str(port), "-q",
             *args, path],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start_worker(self, port, n, *args):
        doc = [["LD_start_test", test_args(self.target)],
               ["LD_generate_summary_report", {"report_name": f"worker{n}"}]]
        path = self.write(f"worker{n}.json", doc)
        return subprocess.Popen(
            [BIN, "worker", "--master-host", "127.0.0.1", "--master-port", str(port), "-q",
             "--heartbeat-timeout", "30", *args, path],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, p, timeout=120):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail(f"process did not end within {timeout} s\n{err[-3000:]}")
        return p.returncode, out, err

    def summary(self, name):
        with open(os.path.join(self.workdir, name + ".json")) as f:
            return json.load(f)

    def tearDown(self):
        for p in getattr(self, "procs", []):
            if p.poll() is None:
                p.kill()
                p.communicate()
        super().tearDown()


class LoaddensityWorkersTest(MasterCase):
    def test_master_totals_are_the_sums_of_the_workers(self):
        port = free_port()
        master = self.start_master(port, "--expected-workers", "2", users=6,
                                   worker_lost_timeout=30)
        w1, w2 = self.start_worker(port, 1), self.start_worker(port, 2)
        self.procs = [master, w1, w2]
        m_code, _, m_err = self.finish(master)
        c1, _, e1 = self.finish(w1)
        c2, _, e2 = self.finish(w2)
        self.assertEqual(m_code, 0, m_err)
        self.assertEqual((c1, c2), (0, 0), e1 + e2)
        self.assertIn("all 6 users spawned over 2 workers", m_err)
        ours = self.summary("master")["per_name"]
        workers = [self.summary("worker1")["per_name"], self.summary("worker2")["per_name"]]
        for name in ("/get", "/fails"):
            for field in ("requests", "failures", "bytes_received"):
                self.assertEqual(ours[name][field], sum(w[name][field] for w in workers),
                                 (name, field))
            self.assertGreater(ours[name]["requests"], 0)
            # The workers' own histograms arrived: the maximum is exact, not a Locust bucket.
            self.assertEqual(ours[name]["max_ms"], max(w[name]["max_ms"] for w in workers))
        self.assertEqual(ours["/fails"]["failures"], ours["/fails"]["requests"])
        # Both workers ran users: 6 users split 3 and 3.
        for w in workers:
            self.assertGreater(w["/get"]["requests"], 0)
        run = self.summary("master")["runs"][0]
        self.assertEqual(run["load_model"], "closed:distributed")
        self.assertEqual(run["stop_reason"], "test_time")
        self.assertNotIn("notes", run)

    def test_a_worker_killed_mid_run_is_reported_missing(self):
        port = free_port()
        master = self.start_master(port, "--expected-workers", "2", users=4, test_time=8,
                                   worker_lost_timeout=2)
        w1, w2 = self.start_worker(port, 1), self.start_worker(port, 2)
        self.procs = [master, w1, w2]
        node = w2.stderr.readline().split()[1].rstrip(":")  # "worker <id>: connecting ..."
        seen = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "users spawned" not in seen:
            line = master.stderr.readline()
            if not line:
                break
            seen += line
        self.assertIn("users spawned", seen)
        # Let the worker report once (every 3 s), then kill it without a word.
        time.sleep(3.5)
        w2.send_signal(signal.SIGKILL)
        w2.communicate()
        m_code, _, m_err = self.finish(master)
        c1, _, e1 = self.finish(w1)
        m_err = seen + m_err
        self.assertEqual(m_code, 0, m_err)
        self.assertEqual(c1, 0, e1)
        self.assertIn(f"worker {node} went missing at", m_err)
        self.assertIn("its 2 users moved to the 1 other workers", m_err)
        run = self.summary("master")["runs"][0]
        self.assertEqual(run["stop_reason"], "test_time")
        self.assertEqual(len(run["notes"]), 1)
        self.assertIn(f"worker {node} went missing at", run["notes"][0])
        with open(os.path.join(self.workdir, "master.html")) as f:
            self.assertIn(f"worker {node} went missing at", f.read())
        # The master counts what the survivor did and what the killed one reported before.
        ours = self.summary("master")["per_name"]["/get"]["requests"]
        w1_total = self.summary("worker1")["per_name"]["/get"]["requests"]
        self.assertGreater(ours, w1_total)


class LocustWorkerTest(MasterCase):
    def test_locust_worker_under_our_master(self):
        with open(os.path.join(self.workdir, "locustfile.py"), "w") as f:
            f.write(LOCUSTFILE)
        port = free_port()
        # Like Locust's master -H, the document's host reaches the Locust worker's users.
        master = self.start_master(port, "--expected-workers", "1", users=2, test_time=4,
                                   host=self.target)
        worker = subprocess.Popen(
            [PYTHON, "-m", "locust", "-f", "locustfile.py", "--worker", "--master-host",
             "127.0.0.1", "--master-port", str(port), "-H", self.target],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs = [master, worker]
        m_code, _, m_err = self.finish(master)
        w_code, _, w_err = self.finish(worker, 60)
        self.assertEqual(m_code, 0, m_err + w_err[-3000:])
        ours = self.summary("master")
        get, fails = ours["per_name"]["/get"], ours["per_name"]["/fails"]
        self.assertGreater(get["requests"], 10)
        self.assertEqual(get["failures"], 0)
        self.assertEqual(fails["failures"], fails["requests"])
        self.assertGreater(fails["requests"], 10)
        # Locust's rounded buckets: the embedded target answers within milliseconds.
        self.assertLess(get["p50_ms"], 100)
        self.assertGreater(get["bytes_received"], 100 * get["requests"])
        # Locust reports its failure text: the master itemises it under the name.
        self.assertTrue(any(e["name"] == "/fails" and "500" in e["message"]
                            for e in ours["errors"]), ours["errors"])
        self.assertIn("users spawned over 1 workers", m_err)


class DeploymentFilesTest(Case):
    def test_compose_and_k8s_files_pass_yamllint(self):
        files = [os.path.join(SOURCE, "docker", "compose.yml")] + sorted(
            glob.glob(os.path.join(SOURCE, "docker", "k8s", "*.yaml")))
        self.assertGreaterEqual(len(files), 3, files)
        p = subprocess.run(["yamllint", "-s", "-d",
                            "{extends: default, rules: {line-length: {max: 120}, "
                            "document-start: disable}}", *files],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class MasterInputTest(Case):
    def master_doc(self, **kw):
        args = {"user_detail_dict": {"user": "fast_http_user"}, "runner_mode": "master",
                "master_bind_host": "127.0.0.1", "master_bind_port": free_port(),
                "tasks": [{"method": "get", "request_url": "http://127.0.0.1:1/", "name": "/"}]}
        args.update(kw)
        return [["LD_start_test", args]]

    def test_bad_master_arguments_stop_with_exit_2(self):
        for kw, field in (({"expected_workers": -1}, "/expected_workers"),
                          ({"worker_startup_timeout": 0}, "/worker_startup_timeout"),
                          ({"master_bind_port": 70000}, "/master_bind_port")):
            r = self.run_doc(self.master_doc(**kw), timeout=60)
            self.assertEqual(r.code, 2, (kw, r.err))
            self.assertIn(field, r.err)

    def test_no_worker_within_the_startup_timeout_fails_the_test(self):
        r = self.run_doc(self.master_doc(worker_startup_timeout=0.5), timeout=60)
        self.assertEqual(r.code, 1, r.err)
        self.assertIn("no worker connected to the master", r.err)
