"""`loaddensity import`: real-world files (the Swagger Petstore spec in YAML and JSON, a Postman
v2.1 collection, a k6 script, a JMeter plan, a cURL line, a HAR that headless Chromium records
here) are converted, and each imported document then runs: a recording server (or the embedded
target) checks that the requests it describes arrived."""
import asyncio
import base64
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

from ldtest import BIN, SOURCE, Case, start_target, stop_target

DATA = os.path.join(SOURCE, "tests", "data", "import")


class RecordingServer:
    """HTTP/1.1 on 127.0.0.1 that answers every request 200 with a small JSON body and keeps
    (method, path, headers, body) of each."""

    def __init__(self):
        outer = self
        self.requests = []
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    outer.requests.append((self.command, self.path,
                                           {k.lower(): v for k, v in self.headers.items()}, body))
                data = b'{"id": 5, "name": "croc", "ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

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

    def find(self, method, path):
        with self.lock:
            return [r for r in self.requests if r[0] == method and r[1] == path]


class ImportCase(Case):
    def imported(self, fmt, source, *args):
        out = os.path.join(self.workdir, f"{fmt}.json")
        r = self.run_ld("import", fmt, source, "-o", out, *args)
        self.assertEqual(r.code, 0, r.err)
        with open(out) as f:
            return json.load(f), r.err

    def run_imported(self, document, *extra, env=None):
        document["load_density"].append(["LD_generate_summary_report", {"report_name": "summary"}])
        path = os.path.join(self.workdir, "run.json")
        with open(path, "w") as f:
            json.dump(document, f)
        r = self.run_ld("run", path, "-q", *extra, env=env)
        self.assertEqual(r.code, 0, r.out + r.err)
        return r.summary()

    @staticmethod
    def start_args(document):
        return next(a[1] for a in document["load_density"] if a[0] == "LD_start_test")

    @staticmethod
    def variables(document):
        return next(a[1]["variables"] for a in document["load_density"]
                    if a[0] == "LD_register_variables")

    def assert_no_failures(self, summary):
        for name, s in summary["per_name"].items():
            self.assertEqual(s.get("failures", 0), 0, f"{name}: {s}")


class TestOpenAPI(ImportCase):
    def test_petstore_yaml_and_json_give_one_document_that_runs(self):
        yaml_doc, err = self.imported("openapi", os.path.join(DATA, "petstore-openapi.yaml"))
        json_doc, _ = self.imported("openapi", os.path.join(DATA, "petstore-openapi.json"))
        self.assertEqual(yaml_doc, json_doc)
        self.assertIn("relative", err)  # servers: [{url: /v3}] needs a base URL
        tasks = self.start_args(yaml_doc)["tasks"]["tasks"]
        self.assertEqual(len(tasks), 19)
        by_name = {t["name"]: t for t in tasks}
        self.assertEqual(by_name["getPetById"]["request_url"], "/v3/pet/${var.petId}")
        self.assertEqual(by_name["addPet"]["json"]["name"], "doggie")
        self.assertEqual(self.variables(yaml_doc)["petId"], "1")
        self.assertTrue(any("petstore_auth" in w for w in yaml_doc["warnings"]))
        self.assertTrue(any("octet-stream" in w for w in yaml_doc["warnings"]))

        with RecordingServer() as srv:
            doc, _ = self.imported("openapi", os.path.join(DATA, "petstore-openapi.yaml"),
                                   "--base-url", srv.url + "/v3", "--users", "2",
                                   "--test-time", "1")
            summary = self.run_imported(doc)
            self.assert_no_failures(summary)
            self.assertEqual(len(summary["per_name"]), 19)
            got = srv.find("GET", "/v3/pet/1")
            self.assertTrue(got)
            self.assertEqual(got[0][2].get("api_key"), "")  # the security variable, registered
            post = srv.find("POST", "/v3/pet")
            self.assertTrue(post)
            self.assertEqual(json.loads(post[0][3])["photoUrls"], ["string"])
            self.assertTrue(srv.find("DELETE", "/v3/store/order/1"))
            self.assertTrue(srv.find("PUT", "/v3/user/string"))


class TestPostman(ImportCase):
    def test_collection_with_folders_auth_and_variables_runs(self):
        doc, err = self.imported("postman",
                                 os.path.join(DATA, "collection.postman_collection.json"),
                                 "--users", "1", "--test-time", "1")
        self.assertIn("adminPassword", err)
        self.assertEqual(self.variables(doc)["userId"], "42")
        with RecordingServer() as srv:
            variables = self.variables(doc)
            variables["baseUrl"] = srv.url + "/api"
            variables["adminPassword"] = "pw"
            summary = self.run_imported(doc)
            self.assert_no_failures(summary)
            get = srv.find("GET", "/api/users/42?expand=orders")
            self.assertTrue(get)
            self.assertEqual(get[0][2]["authorization"], "Bearer secret-token")
            self.assertNotIn("x-debug", get[0][2])  # disabled header
            create = srv.find("POST", "/api/users")
            body = json.loads(create[0][3])
            self.assertEqual(body["name"], "Ada")
            self.assertEqual(len(body["request_id"]), 36)  # {{$guid}}: a UUID per request
            login = srv.find("POST", "/api/admin/login")
            self.assertEqual(login[0][2]["authorization"],
                             "Basic " + base64.b64encode(b"admin:pw").decode())
            self.assertEqual(urllib.parse.parse_qs(login[0][3].decode()),
                             {"user": ["admin"], "remember": ["yes"]})
            health = srv.find("GET", "/api/health")
            self.assertNotIn("authorization", health[0][2])  # noauth


class TestK6(ImportCase):
    def test_script_with_options_checks_and_constants_runs(self):
        with RecordingServer() as srv:
            with open(os.path.join(DATA, "crocodiles.js")) as f:
                script = f.read().replace("https://test-api.k6.io", srv.url)
            path = os.path.join(self.workdir, "script.js")
            with open(path, "w") as f:
                f.write(script)
            doc, err = self.imported("k6", path)
            self.assertIn("http.batch", err)
            self.assertIn("threshold", err)
            args = self.start_args(doc)
            self.assertEqual(args["load_shape"], "stages")
            self.assertEqual([s["users"] for s in args["shape_config"]["stages"]], [3, 3, 0])
            self.assertNotIn("test_time", args)
            tasks = args["tasks"]["tasks"]
            self.assertEqual([t["method"] for t in tasks], ["post", "get", "post", "delete"])
            self.assertEqual(tasks[0]["name"], "login")
            self.assertEqual(tasks[1]["assertions"][0], {"type": "status_code", "value": 200})
            summary = self.run_imported(doc, env={"TOKEN": "tok-1"})
            self.assert_no_failures(summary)
            login = srv.find("POST", "/auth/token/login/")
            self.assertEqual(json.loads(login[0][3])["note"], "a (parenthesis)")
            form = srv.find("POST", "/my/crocodiles/")
            self.assertEqual(urllib.parse.parse_qs(form[0][3].decode())["name"], ["Lazy Croc"])
            delete = srv.find("DELETE", "/my/crocodiles/1/")
            self.assertEqual(delete[0][2]["authorization"], "Bearer tok-1")
            self.assertTrue(srv.find("GET", "/public/crocodiles/"))
            self.assertFalse(srv.find("GET", "/not-a-request"))


class TestJMeter(ImportCase):
    def test_plan_with_thread_group_headers_and_post_body_runs(self):
        doc, err = self.imported("jmeter", os.path.join(DATA, "plan.jmx"))
        self.assertIn("ResultCollector", err)
        args = self.start_args(doc)
        self.assertEqual((args["user_count"], args["test_time"]), (3, 3))
        with RecordingServer() as srv:
            port = srv.url.rsplit(":", 1)[1]
            self.variables(doc).update({"host": "127.0.0.1", "port": port})
            args["test_time"] = 1
            summary = self.run_imported(doc)
            self.assert_no_failures(summary)
            get = srv.find("GET", "/products?page=1")
            self.assertTrue(get)
            self.assertEqual(get[0][2]["accept"], "application/json")
            self.assertRegex(get[0][2]["x-client"], r"^jmeter-[0-9a-f-]{36}$")
            post = srv.find("POST", "/orders")
            self.assertEqual(json.loads(post[0][3]), {"product": 7, "quantity": 2,
                                                      "host": "127.0.0.1"})
            self.assertEqual(post[0][2]["content-type"], "application/json")


class TestCurl(ImportCase):
    def test_command_line_runs(self):
        with RecordingServer() as srv:
            cmd = (f"curl -sS -X PUT '{srv.url}/items/3' -H 'Content-Type: application/json' "
                   f"-H 'X-Trace: a b' --data-raw $'{{\"name\": \"it\\'s\"}}' -u bob:pw --compressed")
            doc, _ = self.imported("curl", cmd, "--users", "1", "--test-time", "0.5")
            summary = self.run_imported(doc)
            self.assertGreater(summary["totals"]["requests"], 0)
            put = srv.find("PUT", "/items/3")
            self.assertEqual(json.loads(put[0][3]), {"name": "it's"})
            self.assertEqual(put[0][2]["x-trace"], "a b")
            self.assertEqual(put[0][2]["authorization"],
                             "Basic " + base64.b64encode(b"bob:pw").decode())


class TestBadInput(ImportCase):
    def test_errors_name_the_place_and_exit_2(self):
        cases = [
            ("har", {"log": {"entries": [{"request": {"method": "GET", "url": "http://a/"}},
                                         {"request": {"method": 7, "url": "http://a/"}}]}},
             "HAR entry 1"),
            ("postman", {"item": [{"name": "F", "item": [{"name": "R", "request": {"method": "GET"}}]}]},
             "Postman item 'F/R'"),
            ("openapi", {"openapi": "3.1.0", "paths": {"/a/{id}": {"get": {}}}},
             "OpenAPI operation GET /a/{id}"),
        ]
        for fmt, content, place in cases:
            path = os.path.join(self.workdir, f"bad-{fmt}.json")
            with open(path, "w") as f:
                json.dump(content, f)
            out = os.path.join(self.workdir, "never.json")
            r = self.run_ld("import", fmt, path, "-o", out)
            self.assertEqual(r.code, 2, r.err)
            self.assertIn(place, r.err)
            self.assertFalse(os.path.exists(out))
        k6 = os.path.join(self.workdir, "bad.js")
        with open(k6, "w") as f:
            f.write("import http from 'k6/http';\n\nexport default function () {\n"
                    "  http.get('http://a/\n}\n")
        r = self.run_ld("import", "k6", k6)
        self.assertEqual(r.code, 2)
        self.assertIn("k6 line 4: unterminated string", r.err)
        jmx = os.path.join(self.workdir, "bad.jmx")
        with open(jmx, "w") as f:
            f.write('<jmeterTestPlan><hashTree><TestPlan testname="P"/><hashTree>'
                    '<ThreadGroup testname="T"><intProp name="ThreadGroup.num_threads">x'
                    '</intProp></ThreadGroup><hashTree/></hashTree></hashTree></jmeterTestPlan>')
        r = self.run_ld("import", "jmeter", jmx)
        self.assertEqual(r.code, 2)
        self.assertIn("TestPlan[P]/ThreadGroup[T]", r.err)


async def _record_with_chromium(base, har_path, profile):
    """Drives headless Chromium over the DevTools protocol: opens BASE/get, makes two fetches
    from the page, and writes what the Network domain reported as a HAR."""
    import websockets

    proc = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                             "--remote-debugging-port=0", f"--user-data-dir={profile}",
                             "--no-first-run", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")

        def read_port_file():
            try:
                with open(port_file) as f:
                    return f.read()
            except FileNotFoundError:
                return ""

        for _ in range(300):
            if read_port_file().count("\n") >= 1:
                break
            await asyncio.sleep(0.1)
        port = read_port_file().split("\n")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            ids = iter(range(1, 1000))
            events = []

            async def call(method, **params):
                i = next(ids)
                await ws.send(json.dumps({"id": i, "method": method, "params": params}))
                while True:
                    m = json.loads(await ws.recv())
                    if m.get("id") == i:
                        return m.get("result")
                    events.append(m)

            await call("Network.enable")
            await call("Page.enable")
            await call("Page.navigate", url=base + "/get")
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                events.append(json.loads(await ws.recv()))
            script = """Promise.all([
              fetch('/post', {method: 'POST', headers: {'Content-Type': 'application/json',
                                                        'X-Recorded': 'yes'},
                              body: JSON.stringify({item: 7, note: 'from chromium'})}),
              fetch('/anything/search?q=load', {method: 'PUT', body: 'a=1&b=2',
                    headers: {'Content-Type': 'application/x-www-form-urlencoded'}})
            ]).then(rs => rs.map(r => r.status).join(','))"""
            result = await call("Runtime.evaluate", expression=script, awaitPromise=True)
            assert result["result"]["value"] == "200,200", result
            # Every request's response arrives before its fetch resolves; finish the queue.
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    events.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
                except asyncio.TimeoutError:
                    break
        requests, statuses = {}, {}
        for e in events:
            if e.get("method") == "Network.requestWillBeSent":
                requests[e["params"]["requestId"]] = e["params"]["request"]
            elif e.get("method") == "Network.responseReceived":
                statuses[e["params"]["requestId"]] = e["params"]["response"]["status"]
        entries = []
        for rid, req in requests.items():
            headers = [{"name": k, "value": v} for k, v in req["headers"].items()]
            entry = {"startedDateTime": "2024-01-01T00:00:00.000Z", "time": 0,
                     "request": {"method": req["method"], "url": req["url"],
                                 "httpVersion": "HTTP/1.1", "headers": headers,
                                 "queryString": [], "cookies": [], "headersSize": -1,
                                 "bodySize": len(req.get("postData", ""))},
                     "response": {"status": statuses.get(rid, 0), "statusText": "",
                                  "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                                  "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
                                  "headersSize": -1, "bodySize": -1},
                     "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}
            if "postData" in req:
                entry["request"]["postData"] = {"mimeType": req["headers"].get("Content-Type", ""),
                                                "text": req["postData"]}
            entries.append(entry)
        with open(har_path, "w") as f:
            json.dump({"log": {"version": "1.2", "creator": {"name": "test_import", "version": "1"},
                               "entries": entries}}, f)
    finally:
        proc.terminate()
        proc.wait(30)


class TestHar(ImportCase):
    def test_har_recorded_by_chromium_runs_against_the_target(self):
        if not shutil.which("chromium"):
            self.fail("chromium is not installed (scripts/setup.sh installs it)")
        target, base = start_target(listing=r"listening on (http://\S+)")
        try:
            har = os.path.join(self.workdir, "recording.har")
            with tempfile.TemporaryDirectory(prefix="ld-chromium-") as profile:
                asyncio.run(_record_with_chromium(base, har, profile))
            doc, _ = self.imported("har", har, "--exclude", "favicon", "--users", "2",
                                   "--test-time", "1")
            tasks = self.start_args(doc)["tasks"]["tasks"]
            names = [t["name"] for t in tasks]
            self.assertEqual(sorted(names), ["GET /get", "POST /post", "PUT /anything/search?q=load"])
            post = next(t for t in tasks if t["name"] == "POST /post")
            self.assertEqual(post["json"], {"item": 7, "note": "from chromium"})
            self.assertEqual(post["headers"]["X-Recorded"], "yes")
            put = next(t for t in tasks if t["method"] == "put")
            self.assertEqual(put["data"], "a=1&b=2")
            summary = self.run_imported(doc)
            self.assert_no_failures(summary)
            for n in names:  # each recorded request reached the target and got its status
                self.assertGreater(summary["per_name"][n]["requests"], 0)
        finally:
            stop_target(target)


if __name__ == "__main__":
    unittest.main()
