"""Helpers for integration tests: run the built binary on an action document in a temp dir."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("LOADDENSITY_BIN", "")
SOURCE = os.environ.get("LD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
# LD_IO_BACKEND=io_uring|epoll runs every `run` with --io-backend (tests/CMakeLists.txt registers
# the HTTP/1.1 and socket suites once per backend).
IO_BACKEND = os.environ.get("LD_IO_BACKEND", "")


def with_backend(args):
    args = list(args)
    if IO_BACKEND and args and args[0] == "run":
        args += ["--io-backend", IO_BACKEND]
    return args


class Result:
    def __init__(self, code, out, err, workdir):
        self.code, self.out, self.err, self.workdir = code, out, err, workdir

    def summary(self, name="summary"):
        with open(os.path.join(self.workdir, name + ".json")) as f:
            return json.load(f)

    def exists(self, name):
        return os.path.exists(os.path.join(self.workdir, name))


class Case(unittest.TestCase):
    def setUp(self):
        if not BIN or not os.path.exists(BIN):
            self.fail("LOADDENSITY_BIN must name the built binary")
        self._tmp = tempfile.TemporaryDirectory(prefix="ld-it-")
        self.workdir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def run_ld(self, *args, timeout=120, env=None):
        p = subprocess.run([BIN, *with_backend(args)], cwd=self.workdir, capture_output=True, text=True,
                           timeout=timeout, env={**os.environ, **(env or {})})
        return Result(p.returncode, p.stdout, p.stderr, self.workdir)

    def run_doc(self, doc, *extra, timeout=120, name="doc.json"):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return self.run_ld("run", path, *extra, timeout=timeout)

    def start_doc(self, doc, *extra):
        path = os.path.join(self.workdir, "doc.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return subprocess.Popen([BIN, *with_backend(["run", path, *extra])], cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def need_env(self, name):
        value = os.environ.get(name)
        if not value:
            self.fail(f"{name} is not set: run the suite through scripts/test.sh, which starts "
                      "the servers")
        return value


def start_test(tasks, users=4, test_time=2, **kw):
    args = {"user_detail_dict": {"user": "fast_http_user"}, "user_count": users,
            "spawn_rate": 1000, "test_time": test_time, "tasks": tasks}
    args.update(kw)
    return ["LD_start_test", args]


def start_target(*args, listing):
    """Starts `loaddensity target ARGS` in the background and waits for its address listing.
    Returns (process, the first group of the regex `listing` in it); stop it with
    stop_target()."""
    proc = subprocess.Popen([BIN, "target", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for _ in range(5):  # the listing is the second line
        m = re.search(listing, proc.stdout.readline())
        if m:
            return proc, m.group(1)
    proc.kill()
    proc.wait(30)
    proc.stdout.close()
    raise RuntimeError(f"loaddensity target {' '.join(args)} printed nothing like {listing!r}")


def stop_target(proc):
    proc.terminate()
    proc.wait(30)
    proc.stdout.close()


def self_signed_cert(directory, subject="/CN=localhost", san=None, days=1):
    """Writes a self-signed RSA certificate and its key (PEM) into `directory`: (cert, key)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    extra = ["-addext", f"subjectAltName={san}"] if san else []
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
                    "-subj", subject, "-keyout", key, "-out", cert, *extra],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doc(*actions, summary="summary"):
    acts = list(actions)
    if summary:
        acts.append(["LD_generate_summary_report", {"report_name": summary}])
    return {"load_density": acts}


class LocalServer:
    """A small real HTTP server in the test process (127.0.0.1, free port) whose behaviour the
    test chooses: `handler(server, path) -> (status, body)`; may sleep to stall."""

    def __init__(self, handler):
        import http.server
        import threading

        outer = self
        self.count = 0
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every response.
                import socket
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                with outer.lock:
                    outer.count += 1
                    n = outer.count
                status, body = handler(n, self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
