"""LD_start_test io_backend / --io-backend: the io_uring and epoll paths of fast_http_user and
socket_user give the same results, a bad value is refused before anything runs, and where
io_uring is unavailable `auto` falls back to epoll (saying so once) while `io_uring` is refused.
LD_IO_URING_UNAVAILABLE makes this process's io_uring probe fail, as an old kernel, a seccomp
profile or io_uring_disabled would."""
import json
import os

from ldtest import Case, doc, start_test

SOCKET_TASKS = [
    {"protocol": "tcp", "target": "${target_tcp}", "payload": "ping", "expect_bytes": 4,
     "name": "tcp"},
    {"protocol": "udp", "target": "${target_udp}", "payload": "pong", "expect_substring": "pong",
     "name": "udp"},
]


def http_tasks():
    return [{"method": "get", "request_url": "${target}/get", "name": "get"},
            {"method": "post", "request_url": "${target}/post", "data": "x" * 20000,
             "name": "post", "assertions": [{"type": "status_code", "value": 200}]}]


def both(backend, **kw):
    return doc(["LD_start_target"],
               start_test(http_tasks(), users=3, test_time=1, io_backend=backend, **kw),
               start_test(SOCKET_TASKS, users=2, test_time=1, io_backend=backend,
                          user_detail_dict={"user": "socket_user"}))


class IoBackendTest(Case):
    def test_every_backend_runs_http_and_socket_users_without_failures(self):
        for backend in ("auto", "io_uring", "epoll"):
            with self.subTest(backend=backend):
                r = self.run_ld("run", self._write(both(backend)))
                self.assertEqual(r.code, 0, r.err)
                totals = r.summary()["totals"]
                self.assertGreater(totals["requests"], 0)
                self.assertEqual(totals["failures"], 0, r.summary()["errors_by_kind"])

    def test_a_bad_value_is_refused_before_anything_runs(self):
        r = self.run_doc(doc(start_test([{"method": "get", "request_url": "http://127.0.0.1:1/"}],
                                        io_backend="kqueue")))
        self.assertEqual(r.code, 2)
        self.assertIn('io_backend must be "auto", "io_uring" or "epoll", got "kqueue"', r.err)
        self.assertIn("/io_backend", r.err)
        self.assertFalse(r.exists("summary.json"))
        r = self.run_ld("run", self._write(both("epoll")), "--io-backend", "kqueue")
        self.assertEqual(r.code, 2)

    def test_without_io_uring_auto_falls_back_once_and_io_uring_is_refused(self):
        off = {"LD_IO_URING_UNAVAILABLE": "1"}
        r = self.run_ld("run", self._write(both("auto")), env=off)
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(r.summary()["totals"]["failures"], 0)
        self.assertEqual(r.err.count("io_uring is not available (disabled by "
                                     "LD_IO_URING_UNAVAILABLE)"), 1, r.err)
        os.remove(os.path.join(self.workdir, "summary.json"))
        r = self.run_ld("run", self._write(both("io_uring")), env=off)
        self.assertEqual(r.code, 2)
        self.assertIn('io_backend "io_uring" is not available here', r.err)
        self.assertFalse(r.exists("summary.json"))
        r = self.run_ld("run", self._write(both("epoll")), env=off)
        self.assertEqual(r.code, 0, r.err)
        self.assertNotIn("io_uring", r.err)

    def _write(self, d):
        path = os.path.join(self.workdir, "doc.json")
        with open(path, "w") as f:
            json.dump(d, f)
        return path
