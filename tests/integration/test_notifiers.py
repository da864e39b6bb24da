"""LD_post_slack_summary and LD_post_teams_summary against webhook receivers run by the test:
plain HTTP, HTTPS with a self-signed certificate, one answering 500, one that stalls and one
that is down."""
import http.server
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time

from ldtest import Case, doc, free_port, start_test


class Receiver:
    """A webhook on 127.0.0.1 that keeps every POST (path, headers, JSON body) and answers
    `status` (after `stall` seconds); TLS when given a certificate and key."""

    def __init__(self, status=200, stall=0.0, cert=None):
        self.posts = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((self.path, dict(self.headers), json.loads(body)))
                if stall:
                    time.sleep(stall)
                answer = b"ok" if status < 300 else b"invalid_payload"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if cert else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def mixed(test_time=2):
    return start_test([
        {"method": "get", "request_url": "${target}/get", "name": "ok"},
        {"method": "get", "request_url": "${target}/status/503", "name": "s503"},
    ], users=3, test_time=test_time)


def ms_text(ms):
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


BLOCK_TYPES = {"header", "section", "context", "divider"}


class NotifierTest(Case):
    def receiver(self, **kw):
        r = Receiver(**kw)
        self.addCleanup(r.close)
        return r

    def check_block_kit(self, payload):
        """The Block Kit rules Slack enforces on an incoming-webhook message."""
        self.assertIsInstance(payload["text"], str)
        blocks = payload["blocks"]
        self.assertLessEqual(len(blocks), 50)
        for b in blocks:
            self.assertIn(b["type"], BLOCK_TYPES)
            if b["type"] == "header":
                self.assertEqual(b["text"]["type"], "plain_text")
                self.assertLessEqual(len(b["text"]["text"]), 150)
            elif b["type"] == "section":
                self.assertTrue("text" in b or "fields" in b, b)
                if "text" in b:
                    self.assertIn(b["text"]["type"], {"mrkdwn", "plain_text"})
                    self.assertLessEqual(len(b["text"]["text"]), 3000)
                for f in b.get("fields", []):
                    self.assertIn(f["type"], {"mrkdwn", "plain_text"})
                    self.assertLessEqual(len(f["text"]), 2000)
                self.assertLessEqual(len(b.get("fields", [])), 10)
            elif b["type"] == "context":
                self.assertLessEqual(len(b["elements"]), 10)
                for e in b["elements"]:
                    self.assertIn(e["type"], {"mrkdwn", "plain_text"})

    def check_adaptive_card(self, payload):
        self.assertEqual(payload["type"], "message")
        [att] = payload["attachments"]
        self.assertEqual(att["contentType"], "application/vnd.microsoft.card.adaptive")
        card = att["content"]
        self.assertEqual(card["type"], "AdaptiveCard")
        self.assertEqual(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json")
        self.assertRegex(card["version"], r"^1\.[0-5]$")
        for el in card["body"]:
            self.assertIn(el["type"], {"TextBlock", "FactSet"})
            if el["type"] == "TextBlock":
                self.assertIsInstance(el["text"], str)
            else:
                for f in el["facts"]:
                    self.assertEqual(set(f), {"title", "value"})
                    self.assertIsInstance(f["title"], str)
                    self.assertIsInstance(f["value"], str)
        return card

    def test_slack_and_teams_payloads_carry_the_summary_and_sla(self):
        hook = self.receiver()
        r = self.run_doc(doc(
            ["LD_start_target"], mixed(),
            ["LD_assert_sla", {"rules": [{"type": "requests", "op": "gte", "value": 1},
                                         {"type": "failure_rate", "value": 0.01}]}],
            ["LD_post_slack_summary", {"webhook_url": hook.url + "/slack", "title": "Nightly"}],
            ["LD_post_teams_summary", {"webhook_url": hook.url + "/teams"}]))
        self.assertEqual(r.code, 3, r.err)  # the gate failed; the posts still ran and passed
        self.assertNotIn("FAIL [3]", r.err)
        self.assertNotIn("FAIL [4]", r.err)
        s = r.summary()
        t, lat = s["totals"], s["latency_overall"]
        self.assertEqual([p[0] for p in hook.posts], ["/slack", "/teams"])
        for _, headers, _ in hook.posts:
            self.assertEqual(headers["Content-Type"], "application/json")
        requests, failures = f"{t['requests']:,}", f"{t['failures']:,}"
        rate = f"{100 * t['failures'] / t['requests']:.2f}%"

        slack = hook.posts[0][2]
        self.check_block_kit(slack)
        self.assertEqual(slack["blocks"][0]["text"]["text"], "Nightly")
        fields = [f["text"] for f in slack["blocks"][1]["fields"]]
        self.assertEqual(fields[:5], [f"*Requests*\n{requests}", f"*Failures*\n{failures}",
                                      f"*Failure rate*\n{rate}",
                                      f"*P95 latency*\n{ms_text(lat['p95_ms'])}",
                                      f"*P99 latency*\n{ms_text(lat['p99_ms'])}"])
        self.assertIn(f"{requests} requests, {failures} failed ({rate})", slack["text"])
        texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section" and "text" in b]
        sla = next(x for x in texts if x.startswith("*SLA"))
        self.assertTrue(sla.startswith("*SLA: 1 of 2 rules passed*"), sla)
        self.assertIn(":white_check_mark: `requests(overall) gte 1: ", sla)
        self.assertIn(":x: `failure_rate(overall) lte 0.01: ", sla)
        errors = next(x for x in texts if x.startswith("*Top errors*"))
        s503 = s["per_name"]["s503"]["failures"]
        self.assertIn(f"• `GET s503` http_status: HTTP 503 ({s503:,})", errors)

        card = self.check_adaptive_card(hook.posts[1][2])
        body = card["body"]
        self.assertEqual(body[0]["text"], "LoadDensity run")
        facts = {f["title"]: f["value"] for f in body[2]["facts"]}
        self.assertEqual(facts["Requests"], requests)
        self.assertEqual(facts["Failures"], failures)
        self.assertEqual(facts["Failure rate"], rate)
        self.assertEqual(facts["P95 latency"], ms_text(lat["p95_ms"]))
        self.assertEqual(facts["P99 latency"], ms_text(lat["p99_ms"]))
        sla_head = next(b for b in body if b["type"] == "TextBlock" and b["text"].startswith("SLA"))
        self.assertEqual(sla_head["text"], "SLA: 1 of 2 rules passed")
        self.assertEqual(sla_head["color"], "Attention")
        all_facts = [f for b in body if b["type"] == "FactSet" for f in b["facts"]]
        self.assertIn({"title": "GET s503", "value": f"http_status: HTTP 503 ({s503:,})"},
                      all_facts)

    def test_a_given_summary_and_no_sla(self):
        hook = self.receiver()
        summary = {"totals": {"requests": 1234567, "failures": 0, "duration_s": 10,
                              "requests_per_second": 123456.7},
                   "latency_overall": {"p95_ms": 12.345, "p99_ms": 250.0}, "errors": []}
        r = self.run_doc(doc(["LD_post_slack_summary", {"webhook_url": hook.url,
                                                         "summary": summary}], summary=None))
        self.assertEqual(r.code, 0, r.err)
        slack = hook.posts[0][2]
        self.check_block_kit(slack)
        self.assertEqual([b["type"] for b in slack["blocks"]], ["header", "section", "context"])
        self.assertEqual(slack["blocks"][1]["fields"][0]["text"], "*Requests*\n1,234,567")
        self.assertEqual(slack["blocks"][1]["fields"][3]["text"], "*P95 latency*\n12.3 ms")
        self.assertEqual(slack["blocks"][1]["fields"][4]["text"], "*P99 latency*\n250 ms")

    def test_a_failed_post_fails_the_action_not_the_process(self):
        bad = self.receiver(status=500)
        down = f"http://127.0.0.1:{free_port()}/hook"
        r = self.run_doc(doc(["LD_start_target"], mixed(test_time=1),
                             ["LD_post_slack_summary", {"webhook_url": bad.url}],
                             ["LD_post_teams_summary", {"webhook_url": down, "timeout": 2}]))
        self.assertEqual(r.code, 1, r.err)
        self.assertRegex(r.err, r"FAIL \[2\] LD_post_slack_summary: webhook answered HTTP 500: "
                                r"invalid_payload")
        self.assertRegex(r.err, r"FAIL \[3\] LD_post_teams_summary: webhook: cannot connect to "
                                r"127\.0\.0\.1:\d+: Connection refused")
        self.assertTrue(r.exists("summary.json"))  # the next action ran
        self.assertEqual(len(bad.posts), 1)

    def test_timeout_bounds_the_whole_exchange(self):
        slow = self.receiver(stall=10)
        start = time.monotonic()
        r = self.run_doc(doc(["LD_post_teams_summary", {"webhook_url": slow.url, "timeout": 0.5,
                                                         "summary": {}}], summary=None))
        self.assertEqual(r.code, 1, r.err)
        self.assertIn("did not answer within 0.5 s", r.err)
        self.assertLess(time.monotonic() - start, 9)  # not the receiver's 10 s

    def test_https_verifies_the_certificate(self):
        tmp = tempfile.mkdtemp(prefix="ld-hook-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        hook = self.receiver(cert=(cert, key))
        r = self.run_doc(doc(
            ["LD_post_slack_summary", {"webhook_url": hook.url + "/a", "summary": {},
                                       "verify": cert}],
            ["LD_post_slack_summary", {"webhook_url": hook.url + "/b", "summary": {}}],
            summary=None))
        self.assertEqual(r.code, 1, r.err)
        self.assertEqual([p[0] for p in hook.posts], ["/a"])  # verified against the given CA
        self.assertRegex(r.err, r"FAIL \[1\] LD_post_slack_summary: webhook: TLS handshake with "
                                r"127\.0\.0\.1:\d+ failed: TLS certificate verification failed")

    def test_bad_input_is_refused_before_anything_runs(self):
        r = self.run_doc(doc(["LD_start_target"],
                             ["LD_post_slack_summary", {"webhook_url": "ftp://example/x"}],
                             summary=None))
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("unsupported webhook scheme: 'ftp'", r.err)
        self.assertIn("/webhook_url", r.err)
        r = self.run_doc(doc(["LD_post_teams_summary", {"webhook_url": "http://127.0.0.1:1/",
                                                         "timeout": 0}], summary=None))
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("/timeout", r.err)
