"""websocket_user, sse_user and socket_user against the embedded target, a real WebSocket server
(python3-websockets, started by tests/servers.sh) and misbehaving servers (faultservers.py)."""
import os
import socket
import subprocess
import time

import faultservers
from ldtest import Case, SOURCE, doc


def test_with(user, tasks, users=2, test_time=2, **kw):
    args = {"user_detail_dict": {"user": user}, "user_count": users, "spawn_rate": 1000,
            "test_time": test_time, "tasks": tasks}
    args.update(kw)
    return ["LD_start_test", args]


def kinds(summary):
    return {k: v for k, v in summary["errors_by_kind"].items() if v}


class WebSocketTest(Case):
    def test_echo_against_the_embedded_target(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("websocket_user", [
            {"method": "connect", "request_url": "${target_ws}"},
            {"method": "sendrecv", "payload": "hello", "expect": "hello", "name": "text"},
            {"method": "sendrecv", "payload": "hex:00ff10", "expect": "hex:ff10", "name": "binary"},
            {"method": "send", "payload": "{\"n\": 1}", "name": "send"},
            {"method": "recv", "expect": "\"n\"", "name": "recv"},
            {"method": "close", "name": "close"},
        ])))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        per = s["per_name"]
        for name in ["text", "binary", "send", "recv", "close"]:
            self.assertGreater(per[name]["requests"], 10, name)
        connects = [n for n in per if n.startswith("connect ws://")]
        self.assertEqual(len(connects), 1)
        # One connect per iteration (close ends each one), so the counts match within a user each.
        self.assertLessEqual(abs(per[connects[0]]["requests"] - per["close"]["requests"]), 2)
        self.assertGreater(s["totals"]["bytes_received"], 0)

    def test_connection_is_held_across_iterations(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("websocket_user", [
            {"method": "connect", "request_url": "${target_ws}", "name": "connect"},
            {"method": "sendrecv", "payload": "x", "expect": "x", "name": "echo"},
        ])))
        self.assertEqual(r.code, 0, r.err)
        per = r.summary()["per_name"]
        self.assertEqual(per["connect"]["requests"], 2)  # one per user
        self.assertGreater(per["echo"]["requests"], 100)

    def test_python_websockets_server_ws_and_wss(self):
        ws_url = self.need_env("LD_WS_URL")
        wss_url = self.need_env("LD_WSS_URL")
        ca = self.need_env("LD_NGINX_TLS_CA")
        payload = "p" * 3000  # larger than a TCP frame of Beast's read buffer
        r = self.run_doc(doc(
            test_with("websocket_user", [
                {"method": "sendrecv", "request_url": ws_url, "payload": payload,
                 "expect": "ppp", "name": "ws"},
                {"method": "sendrecv", "request_url": wss_url, "verify": ca,
                 "payload": "hex:DEADBEEF", "expect": "hex:BEEF", "name": "wss"},
            ], users=2, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(s["per_name"]["ws"]["requests"], 20)
        self.assertGreater(s["per_name"]["wss"]["requests"], 20)

    def test_wss_with_an_untrusted_certificate_is_a_tls_failure(self):
        wss_url = self.need_env("LD_WSS_URL")
        r = self.run_doc(doc(test_with("websocket_user", [
            {"method": "sendrecv", "request_url": wss_url, "payload": "x"}], users=1,
            test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(kinds(s), {"tls": s["totals"]["failures"]})
        self.assertIn("certificate verification failed", s["errors"][0]["message"])

    def test_expect_mismatch_is_an_assertion_failure(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("websocket_user", [
            {"method": "sendrecv", "request_url": "${target_ws}", "payload": "abc",
             "expect": "xyz", "name": "echo"}], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["per_name"]["echo"]["failures"], s["per_name"]["echo"]["requests"])
        self.assertEqual(set(kinds(s)), {"assertion"})

    def test_payload_placeholders_render_per_message_and_replies_are_checked(self):
        # Each message carries a fresh uuid: the echo of the first is extracted, and the second
        # (sent after it) must not contain it. A check that cannot hold fails every message.
        uid = {"id": "${uuid()}", "user": "${faker.name}"}
        r = self.run_doc(doc(["LD_start_target"], test_with("websocket_user", [
            {"method": "connect", "request_url": "${target_ws}?c=${uuid()}"},
            {"method": "sendrecv", "payload": uid, "name": "first",
             "extract": [{"var": "prev", "from": "json_path", "path": "id"}],
             "assertions": [{"type": "contains", "value": "\"id\""}]},
            {"method": "sendrecv", "payload": uid, "name": "differs",
             "assertions": [{"type": "not_contains", "value": "${prev}"},
                            {"type": "contains", "value": "\"user\""}]},
            {"method": "sendrecv", "payload": "abc", "name": "fails",
             "assertions": [{"type": "contains", "value": "nope"}]},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        self.assertGreater(per["first"]["requests"], 10)
        self.assertEqual(per["first"]["failures"], 0, s["errors"])
        self.assertGreater(per["differs"]["requests"], 10)
        self.assertEqual(per["differs"]["failures"], 0, s["errors"])
        self.assertEqual(per["fails"]["failures"], per["fails"]["requests"])
        self.assertEqual(kinds(s), {"assertion": per["fails"]["failures"]})
        self.assertIn(("fails", "assertion", "assertion failed: body contains 'nope'"),
                      {(e["name"], e["kind"], e["message"]) for e in s["errors"]})

    def test_checks_on_the_python_websockets_echo(self):
        ws_url = self.need_env("LD_WS_URL")
        r = self.run_doc(doc(test_with("websocket_user", [
            {"method": "sendrecv", "request_url": ws_url, "payload": {"n": "${randint(1,9)}"},
             "name": "echo", "extract": [{"var": "n", "path": "n"}],
             "assertions": [{"type": "contains", "value": "\"n\":\""}]},
            {"method": "sendrecv", "payload": "got ${n}", "name": "uses",
             "assertions": [{"type": "contains", "value": "got ${n}"},
                            {"type": "not_contains", "value": "${"}]},
            {"method": "sendrecv", "payload": "x", "name": "fails",
             "assertions": [{"type": "json_path", "path": "a", "value": 1}]},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        self.assertEqual(per["echo"]["failures"], 0, s["errors"])
        self.assertEqual(per["uses"]["failures"], 0, s["errors"])
        self.assertGreater(per["uses"]["requests"], 10)
        self.assertEqual(per["fails"]["failures"], per["fails"]["requests"])
        self.assertEqual(kinds(s), {"assertion": per["fails"]["failures"]})

    def test_upgrade_declined_and_recv_timeout(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("websocket_user", [
            {"method": "connect", "request_url": "${target_ws}", "name": "ok"},
            {"method": "recv", "timeout": 0.3, "name": "silent"},
            {"method": "connect", "request_url": "${target_ws}/../get?x=1", "name": "declined"},
        ], users=1, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        self.assertEqual(per["silent"]["failures"], per["silent"]["requests"])
        self.assertGreaterEqual(s["latency_overall"]["max_ms"], 290)  # a timed-out recv
        self.assertEqual(per["declined"]["failures"], per["declined"]["requests"])
        messages = {(e["name"], e["kind"], e["message"]) for e in s["errors"]}
        self.assertIn(("declined", "http_status", "WebSocket upgrade declined: HTTP 404"), messages)
        self.assertIn(("silent", "timeout", "timed out"), messages)

    def test_garbage_reset_and_close_frames_are_counted_and_the_run_goes_on(self):
        for mode, kind in [("garbage", "protocol"), ("reset", "reset"), ("close", "reset")]:
            with faultservers.TcpServer(faultservers.ws_fault_handler(mode)) as server:
                r = self.run_doc(doc(test_with("websocket_user", [
                    {"method": "connect", "request_url": f"ws://127.0.0.1:{server.port}/",
                     "name": "connect"},
                    {"method": "sendrecv", "payload": "hi", "name": "echo"},
                ], users=2, test_time=1)))
                self.assertEqual(r.code, 0, r.err)
                s = r.summary()
                per = s["per_name"]
                self.assertGreater(per["echo"]["requests"], 2, mode)
                self.assertEqual(per["echo"]["failures"], per["echo"]["requests"], mode)
                self.assertEqual(kinds(s), {kind: per["echo"]["failures"]}, mode)
                if mode == "close":
                    self.assertEqual([e["message"] for e in s["errors"]],
                                     ["closed by the server (close frame) 1011"])
                # Every failure dropped the connection: the next iteration reconnected.
                self.assertGreaterEqual(per["connect"]["requests"], per["echo"]["requests"], mode)
                self.assertGreaterEqual(server.accepted, per["echo"]["requests"], mode)

    def test_server_killed_mid_run(self):
        target = subprocess.Popen([os.environ["LOADDENSITY_BIN"], "target", "--port", "0"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            line = target.stdout.readline()
            url = line.split()[4].replace("http://", "ws://") + "/ws"
            p = self.start_doc(doc(test_with("websocket_user", [
                {"method": "connect", "request_url": url, "name": "connect"},
                {"method": "sendrecv", "payload": "x", "expect": "x", "name": "echo"},
            ], users=2, test_time=3)))
            time.sleep(1.5)
            target.kill()
            out, err = p.communicate(timeout=60)
        finally:
            target.kill()
            target.wait()
            target.stdout.close()
        self.assertEqual(p.returncode, 0, err)
        s = self.read_summary()
        per = s["per_name"]
        self.assertGreater(per["echo"]["requests"] - per["echo"]["failures"], 10)
        self.assertGreater(s["totals"]["failures"], 0)
        self.assertTrue(set(kinds(s)) <= {"reset", "refused"}, kinds(s))
        self.assertGreater(s["errors_by_kind"]["refused"], 0)

    def read_summary(self):
        import json
        with open(os.path.join(self.workdir, "summary.json")) as f:
            return json.load(f)


class SseTest(Case):
    def test_open_first_event_and_per_event_records(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("sse_user", [
            {"method": "open", "request_url": "${target}/sse?rate=200", "name": "stream"},
            {"method": "wait", "count": 5, "name": "event"},
            {"method": "close"},
        ])))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        per = s["per_name"]
        self.assertGreater(per["stream"]["requests"], 1)
        # A user stops between tasks at test_time, so each of the 2 users' last stream may have
        # been opened with no wait after it; every wait that ran got its first event and 5.
        opened, first = per["stream"]["requests"], per["stream first event"]["requests"]
        self.assertIn(opened - first, (0, 1, 2))
        self.assertEqual(per["event"]["requests"], 5 * first)
        # The first event follows the response head.
        self.assertGreaterEqual(per["stream first event"]["max_ms"], per["stream"]["min_ms"])

    def test_multiline_crlf_comments_and_event_types_parse(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("sse_user", [
            {"method": "open",
             "request_url": "${target}/sse?rate=500&lines=3&crlf=1&comment=1&event=tick"},
            {"method": "wait", "expect": "line 2\nhi", "timeout": 2, "name": "joined"},
        ], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        # With data "event N\nevent N line 2\nevent N line 3" no event contains "line 2\nhi":
        # every wait must time out as an assertion (events came, none matched).
        s = r.summary()
        self.assertEqual(kinds(s), {"assertion": s["per_name"]["joined"]["requests"]})
        r = self.run_doc(doc(["LD_start_target"], test_with("sse_user", [
            {"method": "open",
             "request_url": "${target}/sse?rate=500&lines=3&crlf=1&comment=1&event=tick"},
            {"method": "wait", "expect": " line 2\nevent ", "name": "joined"},
        ], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(s["per_name"]["joined"]["requests"], 50)

    def test_ended_stream_resumes_with_last_event_id(self):
        # Each connection carries two events. "event 3" can only arrive if the reopen sends
        # Last-Event-ID: 2 (the target continues the numbering from it).
        r = self.run_doc(doc(["LD_start_target"], test_with("sse_user", [
            {"method": "open", "request_url": "${target}/sse?rate=1000&count=2", "name": "open"},
            {"method": "wait", "expect": "event 3", "name": "third", "timeout": 2},
        ], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        self.assertGreater(per["third"]["requests"] - per["third"]["failures"], 0)
        self.assertGreater(per["third"]["failures"], 0)
        self.assertEqual(set(kinds(s)), {"reset"})

    def test_retry_field_delays_reconnects(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("sse_user", [
            {"method": "open", "request_url": "${target}/sse?rate=1000&count=1&retry=300",
             "name": "open"},
            {"method": "wait", "name": "event", "timeout": 2},
        ], users=1, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        opens = r.summary()["per_name"]["open"]["requests"]
        self.assertGreaterEqual(opens, 2)
        self.assertLessEqual(opens, 2 / 0.3 + 2)  # without the delay: hundreds

    def test_faults_are_counted(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("sse_user", [
            {"method": "open", "request_url": "${target}/sse?rate=1000&count=2&abort=1",
             "name": "aborting"},
            {"method": "wait", "count": 3, "name": "aborted"},
            {"method": "open", "request_url": "${target}/get", "name": "not sse"},
            {"method": "open", "request_url": "${target}/status/503", "name": "503"},
            {"method": "open", "request_url": "${target}/sse?rate=0.2", "name": "slow"},
            {"method": "wait", "count": 2, "timeout": 0.3, "name": "slow wait"},
            {"method": "close"},
        ], users=1, test_time=2)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        by = {(e["name"], e["kind"]) for e in s["errors"]}
        self.assertIn(("aborted", "reset"), by)
        self.assertIn(("not sse", "protocol"), by)
        self.assertIn(("503", "http_status"), by)
        # The slow stream's first event comes at once (a success); the next is 5 s away.
        self.assertIn(("slow wait", "timeout"), by)
        per = s["per_name"]
        self.assertEqual(per["slow wait"]["failures"] * 2, per["slow wait"]["requests"])
        # Two events of the aborted stream arrived before the connection dropped.
        self.assertEqual(per["aborted"]["failures"] * 3, per["aborted"]["requests"])


    def test_close_delimited_stream_with_split_line_ends(self):
        with faultservers.TcpServer(faultservers.sse_close_delimited) as server:
            r = self.run_doc(doc(test_with("sse_user", [
                {"method": "open", "request_url": f"http://127.0.0.1:{server.port}/"},
                {"method": "wait", "expect": "first", "name": "first"},
                {"method": "wait", "expect": "second", "name": "second"},
                {"method": "wait", "name": "after the end"},
            ], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        self.assertEqual(per["first"]["failures"], 0, s["errors"])
        self.assertEqual(per["second"]["failures"], 0, s["errors"])
        self.assertGreater(per["first"]["requests"], 5)
        self.assertEqual(per["after the end"]["failures"], per["after the end"]["requests"])
        self.assertEqual(kinds(s), {"reset": per["after the end"]["failures"]})

    def test_extract_from_an_event_feeds_a_later_open(self):
        # The server's events name the request target and a token per connection: the first
        # open's URL carries a fresh uuid each time; the token extracted from its event goes into
        # the second open's URL, whose events must then name it.
        echo = faultservers.SseEcho()
        with faultservers.TcpServer(echo) as server:
            base = f"http://127.0.0.1:{server.port}"
            r = self.run_doc(doc(test_with("sse_user", [
                {"method": "open", "request_url": base + "/first?u=${uuid()}", "name": "first"},
                {"method": "wait", "name": "token",
                 "extract": [{"var": "token", "from": "json_path", "path": "token"}],
                 "assertions": [{"type": "contains", "value": "/first?u="}]},
                {"method": "open", "request_url": base + "/second?t=${token}", "name": "second"},
                {"method": "wait", "name": "echoed",
                 "assertions": [{"type": "json_path", "path": "path",
                                 "value": "/second?t=${token}"}]},
                {"method": "wait", "name": "fails",
                 "assertions": [{"type": "contains", "value": "nope"}]},
                {"method": "close"},
            ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        for name in ["token", "echoed"]:
            self.assertGreater(per[name]["requests"], 3, name)
            self.assertEqual(per[name]["failures"], 0, s["errors"])
        self.assertEqual(per["fails"]["failures"], per["fails"]["requests"])
        self.assertEqual(kinds(s), {"assertion": per["fails"]["failures"]})
        firsts = [p for p in echo.paths if p.startswith("/first?u=")]
        self.assertGreater(len(firsts), 3)
        self.assertEqual(len(set(firsts)), len(firsts), "a uuid per open")
        self.assertNotIn("${", " ".join(echo.paths))

    def test_https_stream_from_nginx(self):
        base = self.need_env("LD_NGINX_TLS_URL")
        ca = self.need_env("LD_NGINX_TLS_CA")
        r = self.run_doc(doc(test_with("sse_user", [
            {"method": "open", "request_url": base + "/events", "verify": ca, "name": "open"},
            {"method": "wait", "expect": "tls event", "name": "event"},
            {"method": "close"},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        self.assertGreater(s["per_name"]["event"]["requests"], 10)


class SocketTest(Case):
    def test_tcp_and_udp_echo_against_the_embedded_target(self):
        r = self.run_doc(doc(["LD_start_target"], test_with("socket_user", [
            {"target": "${target_tcp}", "payload": "PING\n", "expect_substring": "PING",
             "name": "tcp"},
            {"target": "${target_tcp}", "payload": "hex:DEADBEEF", "expect_bytes": 4,
             "expect_substring": "hex:BEEF", "name": "tcp hex"},
            {"protocol": "udp", "target": "${target_udp}", "payload": "hello",
             "expect_bytes": 5, "name": "udp"},
        ])))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        self.assertEqual(s["totals"]["failures"], 0, s["errors"])
        for name in ["tcp", "tcp hex", "udp"]:
            self.assertGreater(s["per_name"][name]["requests"], 100, name)

    def test_payload_placeholders_and_checks_on_replies(self):
        # 45 bytes: {"id":"<36-character uuid>"}
        payload = {"id": "${uuid()}"}
        r = self.run_doc(doc(["LD_start_target"], test_with("socket_user", [
            {"target": "${target_tcp}", "payload": payload, "expect_bytes": 45, "name": "first",
             "extract": [{"var": "prev", "path": "id"}]},
            {"target": "${target_tcp}", "payload": payload, "expect_bytes": 45, "name": "differs",
             "assertions": [{"type": "not_contains", "value": "${prev}"},
                            {"type": "contains", "value": "{\"id\":\""}]},
            {"protocol": "udp", "target": "${target_udp}", "payload": "udp ${prev}",
             "name": "udp", "assertions": [{"type": "contains", "value": "udp ${prev}"}]},
            {"target": "${target_tcp}", "payload": "PING", "expect_bytes": 4, "name": "fails",
             "assertions": [{"type": "contains", "value": "PONG"}]},
        ], users=2, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        for name in ["first", "differs", "udp"]:
            self.assertGreater(per[name]["requests"], 10, name)
            self.assertEqual(per[name]["failures"], 0, (name, s["errors"]))
        self.assertEqual(per["fails"]["failures"], per["fails"]["requests"])
        self.assertEqual(kinds(s), {"assertion": per["fails"]["failures"]})

    def test_tcp_connections_are_reused(self):
        with faultservers.TcpServer(faultservers.tcp_echo) as server:
            r = self.run_doc(doc(test_with("socket_user", [
                {"target": f"127.0.0.1:{server.port}", "payload": "abc", "expect_bytes": 3}],
                users=2, test_time=1)))
            self.assertEqual(r.code, 0, r.err)
            s = r.summary()
            self.assertEqual(s["totals"]["failures"], 0, s["errors"])
            self.assertGreater(s["totals"]["requests"], 100)
            self.assertEqual(server.accepted, 2)

    def test_server_closing_an_idle_connection_is_retried_once(self):
        with faultservers.TcpServer(faultservers.tcp_echo_once) as server:
            r = self.run_doc(doc(test_with("socket_user", [
                {"target": f"127.0.0.1:{server.port}", "payload": "abc",
                 "expect_substring": "abc"}], users=1, test_time=1)))
            self.assertEqual(r.code, 0, r.err)
            s = r.summary()
            self.assertEqual(s["totals"]["failures"], 0, s["errors"])
            self.assertGreater(s["totals"]["requests"], 10)
            self.assertEqual(server.accepted, s["totals"]["requests"])

    def test_udp_timeouts_are_failures(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            port = silent.getsockname()[1]
            r = self.run_doc(doc(test_with("socket_user", [
                {"protocol": "udp", "target": f"127.0.0.1:{port}", "payload": "x",
                 "expect_bytes": 1, "timeout": 0.2, "name": "lost"}], users=2, test_time=1)))
        finally:
            silent.close()
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]["lost"]
        self.assertGreater(per["requests"], 2)
        self.assertEqual(per["failures"], per["requests"])
        self.assertEqual(kinds(s), {"timeout": per["requests"]})
        self.assertGreater(s["latency_overall"]["min_ms"], 190)  # each waited its timeout

    def test_refused_short_reply_and_missing_substring(self):
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        with faultservers.TcpServer(faultservers.tcp_reply_and_close(b"HELLO")) as server:
            r = self.run_doc(doc(test_with("socket_user", [
                {"target": f"127.0.0.1:{port}", "payload": "x", "name": "refused"},
                {"target": f"127.0.0.1:{server.port}", "payload": "x", "expect_bytes": 10,
                 "name": "short"},
                {"target": f"127.0.0.1:{server.port}", "payload": "x",
                 "expect_substring": "BYE", "name": "missing"},
            ], users=1, test_time=1)))
        self.assertEqual(r.code, 0, r.err)
        s = r.summary()
        per = s["per_name"]
        for name in ["refused", "short", "missing"]:
            self.assertEqual(per[name]["failures"], per[name]["requests"], name)
        by = {(e["name"], e["kind"]) for e in s["errors"]}
        self.assertEqual(by, {("refused", "refused"), ("short", "reset"),
                              ("missing", "assertion")})


class ConfigErrorTest(Case):
    def assert_rejected(self, document, *needles):
        r = self.run_doc(document)
        self.assertEqual(r.code, 2, r.out + r.err)
        for n in needles:
            self.assertIn(n, r.err)
        self.assertFalse(r.exists("summary.json"), "nothing may run when the input is bad")

    def test_bad_tasks_name_the_task_and_field(self):
        self.assert_rejected(doc(test_with("websocket_user", [
            {"method": "connect", "url": "ws://127.0.0.1:9/"}, {"method": "sned"}])),
            "task 1", "unknown websocket_user method 'sned'", "/load_density/0/1/tasks/1/method")
        self.assert_rejected(doc(test_with("socket_user", [
            {"target": "127.0.0.1:9", "payload": "hex:XY"}])),
            "task 0", "bad hex digit 'X'", "/load_density/0/1/tasks/0/payload")
        self.assert_rejected(doc(test_with("sse_user", [{"method": "open"}])),
                             "task 0", "needs 'request_url'")
        self.assert_rejected(doc(test_with("websocket_user", [{"method": "send", "payload": "x"}])),
                             "task 0", "no WebSocket URL")
        self.assert_rejected(doc(test_with("socket_user", [{"payload": "x"}])),
                             "task 0", "needs 'target'")


class ExamplesTest(Case):
    def test_protocol_examples_run_offline(self):
        for name in ["websocket_echo", "sse_stream", "socket_echo"]:
            r = self.run_ld("run", os.path.join(SOURCE, "examples", name + ".json"))
            self.assertEqual(r.code, 0, name + ": " + r.err)
            s = r.summary(name + "-summary")
            self.assertGreater(s["totals"]["requests"], 50, name)
            self.assertEqual(s["totals"]["failures"], 0, (name, s["errors"]))
