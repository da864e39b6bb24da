"""`loaddensity serve`: the control socket (CONTRACT.md §6, docs/serve.md).

Each test starts the server on a free port and talks to it with plain sockets, as the
original's clients do: legacy (one JSON text, the reply read until the server closes), framed
(4-byte big-endian length + body), TLS (a self-signed certificate made here with openssl) and
token envelopes. Documents that run tests use the embedded target (LD_start_target)."""
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest

from ldtest import BIN, Case, self_signed_cert

END = b"Return_Data_Over_JE\n"
TOKEN = "s3cret-token"


def frame(body):
    return struct.pack("!I", len(body)) + body


def unframe(data):
    """The bodies of the frames in `data` (every byte must belong to a whole frame)."""
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack("!I", data[i:i + 4])
        out.append(data[i + 4:i + 4 + n])
        assert len(out[-1]) == n, "truncated reply frame"
        i += 4 + n
    return out


def read_all(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def target_test(test_time=1, users=2):
    return ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"},
                              "user_count": users, "spawn_rate": 1000, "test_time": test_time,
                              "tasks": [{"method": "get", "request_url": "${target}/get"}]}]


class Server:
    """A `loaddensity serve` process; `port` is read from its first line."""

    def __init__(self, *args, env=None, cwd=None):
        self.proc = subprocess.Popen([BIN, "serve", "--port", "0", *args], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"serve did not start: {line!r} {out!r} {err!r}")
        self.port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        # stderr is read all along (a full pipe would block the server's logging).
        self.log, self.log_changed = [], threading.Condition()
        self.log_reader = threading.Thread(target=self._read_log, daemon=True)
        self.log_reader.start()

    def _read_log(self):
        for line in self.proc.stderr:
            with self.log_changed:
                self.log.append(line)
                self.log_changed.notify_all()

    def wait_for_log(self, text, timeout=60):
        with self.log_changed:
            found = self.log_changed.wait_for(lambda: any(text in l for l in self.log), timeout)
        assert found, f"{text!r} not logged: {self.log!r}"

    def connect(self, timeout=60):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def ask(self, payload, timeout=60):
        """Sends `payload` as is, returns every byte of the reply (the server closes)."""
        with self.connect(timeout) as s:
            s.sendall(payload)
            return read_all(s)

    def wait(self, timeout=60):
        out = self.proc.stdout.read()
        self.proc.wait(timeout)
        self.log_reader.join(timeout)
        return self.proc.returncode, out, "".join(self.log)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def legacy_lines(reply):
    assert reply.endswith(END), reply
    return [json.loads(line) for line in reply[:-len(END)].decode().splitlines()]


class ServeCase(Case):
    def serve(self, *args, **kw):
        server = Server(*args, cwd=self.workdir, **kw)
        self.addCleanup(server.kill)
        return server

    def assert_serving(self, server, framed=False, envelope=None):
        """A good request still gets its answer."""
        doc = [["LD_register_variable", {"name": "alive", "value": 1}]]
        body = json.dumps(envelope(doc) if envelope else doc).encode()
        if framed:
            frames = unframe(server.ask(frame(body)))
            self.assertEqual(frames, [b'{"registered":"alive"}\n', END])
        else:
            self.assertEqual(server.ask(body), b'{"registered":"alive"}\n' + END)

    def quit(self, server, body=b"quit_server", framed=False):
        reply = server.ask(frame(body) if framed else body)
        self.assertEqual(unframe(reply) if framed else [reply], [b"Server shutting down\n"])
        code, out, err = server.wait()
        self.assertEqual(code, 0, err)
        return out


class Legacy(ServeCase):
    def test_document_runs_and_replies_one_line_per_action(self):
        server = self.serve()
        doc = [["LD_register_variable", {"name": "who", "value": "world"}],
               ["LD_register_variables", {"variables": {"a": 1, "b": 2}}],
               ["LD_list_commands"]]
        lines = legacy_lines(server.ask(json.dumps(doc).encode()))
        self.assertEqual(len(lines), 3)
        self.assertEqual(lines[0], {"registered": "who"})
        self.assertEqual(lines[1], {"registered": ["a", "b"]})
        self.assertIn("LD_start_socket_server", lines[2])
        # The wrapped form, and a request written in small pieces.
        with server.connect() as s:
            body = json.dumps({"load_density": [["LD_set_faker_seed", {"seed": 7}]]}).encode()
            for i in range(0, len(body), 5):
                s.sendall(body[i:i + 5])
            self.assertEqual(read_all(s), b'{"seed":7}\n' + END)
        out = self.quit(server)
        self.assertIn("LD_start_socket_server", out)

    def test_a_document_bigger_than_one_read(self):
        server = self.serve()
        doc = [["LD_register_variable", {"name": f"v{i}", "value": "x" * 100}] for i in range(300)]
        body = json.dumps(doc).encode()
        self.assertGreater(len(body), 8192)
        lines = legacy_lines(server.ask(body))
        self.assertEqual(len(lines), 300)
        self.assertEqual(lines[299], {"registered": "v299"})

    def test_failures_are_lines_and_bad_input_an_error(self):
        server = self.serve()
        # A failing action is its line; the rest still run.
        doc = [["LD_execute_files", {"execute_files_list": []}],
               ["LD_generate_summary_report", {"report_name": "/nonexistent/dir/x"}],
               ["LD_register_variable", {"name": "after", "value": 1}]]
        lines = legacy_lines(server.ask(json.dumps(doc).encode()))
        self.assertEqual(len(lines), 3)
        self.assertIn("error", lines[1])
        self.assertEqual(lines[2], {"registered": "after"})
        # Not JSON: the parse error, then the terminator.
        reply = server.ask(b"this is not json")
        self.assertTrue(reply.startswith(b"Error: "), reply)
        self.assertTrue(reply.endswith(b"\n" + END), reply)
        # An unknown command fails the static check: nothing runs.
        reply = server.ask(b'[["LD_register_variable", {"name": "x", "value": 1}], '
                           b'["no_such_command_xyz"]]')
        self.assertTrue(reply.startswith(b"Error: "), reply)
        self.assertIn(b"no_such_command_xyz", reply)
        self.assertTrue(reply.endswith(END))
        # Not a document.
        reply = server.ask(b"42")
        self.assertTrue(reply.startswith(b"Error: ") and reply.endswith(END), reply)
        # Garbage bytes.
        reply = server.ask(bytes(range(1, 200)))
        self.assertTrue(reply.startswith(b"Error: ") and reply.endswith(END), reply)
        # An empty request (the peer closes without sending) gets no reply.
        with server.connect() as s:
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(read_all(s), b"")
        self.assert_serving(server)
        self.quit(server)

    def test_each_connection_has_its_own_session(self):
        server = self.serve()
        doc = [["LD_start_target"], target_test(test_time=1), ["LD_summary"]]
        lines = legacy_lines(server.ask(json.dumps(doc).encode()))
        self.assertEqual(len(lines), 3)
        self.assertEqual(lines[1]["stop_reason"], "test_time")
        self.assertGreater(lines[1]["requests"], 0)
        self.assertEqual(lines[1]["failures"], 0)
        self.assertGreater(lines[2]["totals"]["requests"], 0)
        # Another connection starts from nothing: no results, no ${target}.
        lines = legacy_lines(server.ask(b'[["LD_summary"]]'))
        self.assertEqual(lines[0]["totals"]["requests"], 0)
        lines = legacy_lines(server.ask(json.dumps([target_test(test_time=0.2)]).encode()))
        self.assertIn("target", lines[0]["error"])
        self.quit(server)

    def test_a_second_test_fails_while_one_runs(self):
        server = self.serve("--log-level", "info")
        long_doc = [["LD_start_target"], target_test(test_time=60), ["LD_summary"]]
        first = server.connect()
        first.sendall(json.dumps(long_doc).encode())
        server.wait_for_log("started: fast_http_user")  # the first test runs
        lines = legacy_lines(server.ask(
            json.dumps([["LD_start_target"], target_test(test_time=1)]).encode()))
        self.assertIn("already running", lines[1]["error"])
        self.assertIn("fast_http_user", lines[1]["error"])
        # Quitting ends the running test; its reply still comes.
        reply = server.ask(b"quit_server")
        self.assertEqual(reply, b"Server shutting down\n")
        first_lines = legacy_lines(read_all(first))
        first.close()
        self.assertEqual(first_lines[1], {"error": "interrupted"})
        code, _, _ = server.wait()
        self.assertEqual(code, 0)

    def test_ctrl_c_stops_the_server_and_the_running_test(self):
        server = self.serve("--log-level", "info")
        running = server.connect()
        running.sendall(json.dumps([["LD_start_target"], target_test(test_time=60)]).encode())
        server.wait_for_log("started: fast_http_user")
        server.proc.send_signal(signal.SIGINT)
        self.assertEqual(legacy_lines(read_all(running))[1], {"error": "interrupted"})
        running.close()
        code, out, _ = server.wait()
        self.assertEqual(code, 130)
        self.assertIn('"stopped_by":"interrupt"', out)

    def test_quit_with_the_envelope_and_through_the_command(self):
        server = self.serve()
        self.quit(server, b'{"op": "quit"}')
        # LD_start_socket_server in a document does the same as `serve`.
        p = subprocess.Popen([BIN, "run-str", '[["LD_start_socket_server", {"port": 0, '
                              '"host": "127.0.0.1"}]]'], cwd=self.workdir,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        port = int(line.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"quit_server")
            self.assertEqual(read_all(s), b"Server shutting down\n")
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn('"stopped_by":"quit"', out)


class Framed(ServeCase):
    def test_framed_document_and_quit(self):
        server = self.serve("--framed")
        doc = [["LD_register_variable", {"name": "a", "value": 1}],
               ["LD_register_variable", {"name": "b", "value": 2}]]
        frames = unframe(server.ask(frame(json.dumps(doc).encode())))
        self.assertEqual(frames, [b'{"registered":"a"}\n', b'{"registered":"b"}\n', END])
        self.quit(server, framed=True)

    def test_bad_frames_are_closed_unanswered_and_others_still_served(self):
        server = self.serve("--framed", "--read-timeout", "2")
        # Zero length, too long (1 MiB + 1), a header of garbage bytes.
        for header in (struct.pack("!I", 0), struct.pack("!I", (1 << 20) + 1), b"\xff\xfe\xfd\xfc"):
            self.assertEqual(server.ask(header + b"[]"), b"", header)
            self.assert_serving(server, framed=True)
        # Truncated: the header promises 100 bytes, 10 come, then the client stops sending.
        with server.connect() as s:
            s.sendall(struct.pack("!I", 100) + b"[[\"LD_sum")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(read_all(s), b"")
        # Truncated and left open: the read timeout closes it.
        with server.connect() as s:
            s.sendall(struct.pack("!I", 100) + b"[[")
            self.assertEqual(read_all(s), b"")
        # A whole frame of garbage: the parse error, then the terminator, each a frame.
        frames = unframe(server.ask(frame(b"\x00garbage\xff")))
        self.assertEqual(len(frames), 2)
        self.assertTrue(frames[0].startswith(b"Error: "), frames)
        self.assertEqual(frames[1], END)
        # Exactly 1 MiB is accepted (and is not JSON).
        frames = unframe(server.ask(frame(b" " * ((1 << 20) - 2) + b"[]")))
        self.assertEqual(frames, [END])
        self.assert_serving(server, framed=True)
        self.quit(server, framed=True)

    def test_a_silent_client_does_not_block_the_others(self):
        server = self.serve("--framed", "--read-timeout", "1")
        silent = server.connect()
        for _ in range(5):
            self.assert_serving(server, framed=True)
        # The silent connection is closed at its read timeout, unanswered.
        self.assertEqual(read_all(silent), b"")
        silent.close()
        self.assert_serving(server, framed=True)
        # Quitting does not wait for a client that is still silent: it is closed.
        silent = server.connect()
        self.quit(server, framed=True)
        self.assertEqual(read_all(silent), b"")
        silent.close()

    def test_connections_past_the_limit_are_closed_at_once(self):
        server = self.serve("--framed", "--max-connections", "2")
        a, b = server.connect(), server.connect()
        with server.connect() as c:
            self.assertEqual(read_all(c), b"")  # refused while two are open
        server.wait_for_log("refusing connections: 2 are open")
        a.close()
        b.close()
        # Once the two are gone, a client is served again (the server notices the closes).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with server.connect() as s:
                body = json.dumps([["LD_register_variable", {"name": "n", "value": 1}]]).encode()
                try:
                    s.sendall(frame(body))
                    reply = read_all(s)
                except (ConnectionResetError, BrokenPipeError):
                    # Still refused: closed with our request unread, which resets.
                    reply = b""
            if reply:
                break
        self.assertEqual(unframe(reply), [b'{"registered":"n"}\n', END])
        self.quit(server, framed=True)

    def test_hundred_concurrent_clients(self):
        server = self.serve("--framed")
        results, errors = {}, []

        def client(i):
            try:
                doc = [["LD_register_variable", {"name": f"c{i}", "value": i}],
                       ["LD_summary"]]
                frames = unframe(server.ask(frame(json.dumps(doc).encode())))
                results[i] = frames
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{i}: {e!r}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 100)
        for i, frames in results.items():
            self.assertEqual(len(frames), 3, frames)
            self.assertEqual(json.loads(frames[0]), {"registered": f"c{i}"})
            self.assertEqual(json.loads(frames[1])["totals"]["requests"], 0)
            self.assertEqual(frames[2], END)
        self.assert_serving(server, framed=True)
        self.quit(server, framed=True)


class Token(ServeCase):
    def envelope(self, doc, token=TOKEN):
        return {"token": token, "command": doc}

    def test_token_envelopes(self):
        server = self.serve("--framed", "--token", TOKEN)
        doc = [["LD_register_variable", {"name": "t", "value": 1}]]
        ask = lambda body: unframe(server.ask(frame(json.dumps(body).encode())))  # noqa: E731
        self.assertEqual(ask(self.envelope(doc)), [b'{"registered":"t"}\n', END])
        self.assertEqual(ask(doc), [b"Error: token required\n"])
        self.assertEqual(ask(self.envelope(doc, "wrong")), [b"Error: unauthorised\n"])
        self.assertEqual(ask(self.envelope(doc, TOKEN + "x")), [b"Error: unauthorised\n"])
        self.assertEqual(ask({"command": doc}), [b"Error: unauthorised\n"])
        self.assertEqual(ask({"token": TOKEN}), [END])
        self.assertEqual(unframe(server.ask(frame(b"quit_server"))), [b"Error: token required\n"])
        self.assertEqual(ask({"token": "wrong", "op": "quit"}), [b"Error: unauthorised\n"])
        self.assert_serving(server, framed=True, envelope=self.envelope)
        self.quit(server, json.dumps({"token": TOKEN, "op": "quit"}).encode(), framed=True)

    def test_token_from_the_environment_in_legacy_mode(self):
        server = self.serve(env={"LOAD_DENSITY_SOCKET_TOKEN": TOKEN})
        doc = [["LD_register_variable", {"name": "e", "value": 1}]]
        self.assertEqual(server.ask(json.dumps(doc).encode()), b"Error: token required\n")
        self.assertEqual(server.ask(json.dumps(self.envelope(doc)).encode()),
                         b'{"registered":"e"}\n' + END)
        self.assertEqual(server.ask(b"quit_server"), b"Error: token required\n")
        self.quit(server, json.dumps({"token": TOKEN, "op": "quit"}).encode())

    def test_non_loopback_needs_a_token_or_tls(self):
        r = self.run_ld("serve", "--host", "0.0.0.0", "--port", "0", timeout=60)
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("not a loopback address", r.err)
        # With a token it starts (reached here through 127.0.0.1).
        server = self.serve("--host", "0.0.0.0", "--token", TOKEN)
        self.quit(server, json.dumps({"token": TOKEN, "op": "quit"}).encode())


class Tls(ServeCase):
    def setUp(self):
        super().setUp()
        self.cert, self.key = self_signed_cert(self.workdir,
                                               san="DNS:localhost,IP:127.0.0.1")
        self.ctx = ssl.create_default_context(cafile=self.cert)

    def tls_ask(self, server, payload):
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as raw:
            with self.ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(payload)
                chunks = []
                while True:
                    try:
                        chunk = s.recv(65536)
                    except ssl.SSLEOFError:
                        break
                    if not chunk:
                        break
                    chunks.append(chunk)
                return b"".join(chunks)

    def test_tls_framed_and_legacy(self):
        for framed in (True, False):
            args = ["--tls-cert", self.cert, "--tls-key", self.key] + (["--framed"] if framed else [])
            server = self.serve(*args)
            doc = json.dumps([["LD_register_variable", {"name": "s", "value": 1},
                               ]]).encode()
            reply = self.tls_ask(server, frame(doc) if framed else doc)
            expected = [b'{"registered":"s"}\n', END]
            self.assertEqual(unframe(reply) if framed else reply, expected if framed else b"".join(expected))
            # A plain-text client gets nothing (the handshake fails) and the server goes on.
            with server.connect() as s:
                s.sendall(frame(doc) if framed else doc)
                try:
                    data = read_all(s)
                except ConnectionResetError:
                    data = b""
                self.assertNotIn(b"registered", data)
            reply = self.tls_ask(server, frame(b"quit_server") if framed else b"quit_server")
            self.assertEqual(unframe(reply) if framed else reply,
                             [b"Server shutting down\n"] if framed else b"Server shutting down\n")
            code, _, err = server.wait()
            self.assertEqual(code, 0, err)

    def test_tls_with_a_test_run_and_bad_key(self):
        server = self.serve("--framed", "--tls-cert", self.cert, "--tls-key", self.key,
                            "--host", "0.0.0.0")  # TLS alone allows a non-loopback address
        doc = [["LD_start_target"], target_test(test_time=1)]
        frames = unframe(self.tls_ask(server, frame(json.dumps(doc).encode())))
        self.assertEqual(len(frames), 3, frames)
        self.assertGreater(json.loads(frames[1])["requests"], 0)
        self.tls_ask(server, frame(b"quit_server"))
        self.assertEqual(server.wait()[0], 0)
        r = self.run_ld("serve", "--port", "0", "--tls-cert", self.cert, "--tls-key", self.cert,
                        timeout=60)
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("TLS key", r.err)


if __name__ == "__main__":
    unittest.main()
