"""`loaddensity lsp`: a scripted LSP client over stdio (Content-Length framing) checks the
diagnostics (the lint, with ranges), completion of command names, arguments and task fields
per user type, hover docs, and the error for an unknown request."""
import json
import subprocess

from ldtest import BIN, Case

DOC = """{"load_density": [
  ["LD_start_tset", {}],
  ["LD_start_test", {"user_detail_dict": {"user": "websocket_user"}, "user_count": 2,
     "tasks": [{"method": "send", "url": "ws://127.0.0.1:9/ws", "paylod": "x"}]}],
  ["LD_summary"]
]}
"""


class Client:
    def __init__(self):
        self.proc = subprocess.Popen([BIN, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.next_id = 0

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self):
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise EOFError("the server closed its output")
            line = line.strip()
            if not line:
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(self.proc.stdout.read(length))

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            msg = self.read()
            if msg.get("id") == self.next_id:
                return msg

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def close(self):
        self.request("shutdown", None)
        self.notify("exit", None)
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def position_of(text, needle, delta=0):
    i = text.index(needle) + delta
    line = text.count("\n", 0, i)
    return {"line": line, "character": i - (text.rfind("\n", 0, i) + 1)}


class LspTest(Case):
    def setUp(self):
        super().setUp()
        self.c = Client()
        init = self.c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        caps = init["result"]["capabilities"]
        self.assertEqual(caps["textDocumentSync"], 1)
        self.assertTrue(caps["hoverProvider"])
        self.assertEqual(init["result"]["serverInfo"]["name"], "loaddensity")
        self.c.notify("initialized", {})

    def tearDown(self):
        self.c.close()
        self.assertEqual(self.c.proc.returncode, 0)
        super().tearDown()

    def open(self, text, uri="file:///tmp/doc.action.json"):
        self.c.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "json", "version": 1, "text": text}})
        msg = self.c.read()
        self.assertEqual(msg["method"], "textDocument/publishDiagnostics")
        self.assertEqual(msg["params"]["uri"], uri)
        return msg["params"]["diagnostics"]

    def complete(self, text, pos):
        self.open(text)
        r = self.c.request("textDocument/completion", {
            "textDocument": {"uri": "file:///tmp/doc.action.json"}, "position": pos})
        return [i["label"] for i in r["result"]["items"]]

    def test_diagnostics_have_ranges(self):
        diags = self.open(DOC)
        by_code = {d["code"]: d for d in diags}
        unknown = by_code["unknown-command"]
        self.assertEqual(unknown["severity"], 1)
        self.assertEqual(unknown["source"], "loaddensity")
        self.assertEqual(unknown["range"]["start"], position_of(DOC, '"LD_start_tset"'))
        self.assertEqual(unknown["range"]["end"], position_of(DOC, '"LD_start_tset"', len('"LD_start_tset"')))
        field = by_code["invalid-action"]
        self.assertIn("paylod", field["message"])
        self.assertIn("did you mean 'payload'", field["message"])
        self.assertEqual(field["range"]["start"], position_of(DOC, '"paylod"'))
        # A fixed document clears them.
        self.c.notify("textDocument/didChange", {
            "textDocument": {"uri": "file:///tmp/doc.action.json", "version": 2},
            "contentChanges": [{"text": '[["LD_summary"]]'}]})
        msg = self.c.read()
        self.assertEqual(msg["params"]["diagnostics"], [])

    def test_invalid_json_is_a_diagnostic(self):
        diags = self.open('[["LD_summary"],\n  ["LD_clear_records"\n')
        self.assertEqual(len(diags), 1)
        self.assertEqual(diags[0]["code"], "invalid-json")
        self.assertEqual(diags[0]["range"]["start"]["line"], 2)

    def test_completes_command_names(self):
        text = '[["LD_st'
        labels = self.complete(text, position_of(text, "LD_st", 5))
        self.assertIn("LD_start_test", labels)
        self.assertIn("LD_summary", labels)

    def test_completes_arguments_of_the_command(self):
        text = '[["LD_generate_html_report", {"'
        labels = self.complete(text, position_of(text, '{"', 2))
        self.assertEqual(labels, ["html_name"])
        text = '[["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, '
        labels = self.complete(text, {"line": 0, "character": len(text)})
        self.assertIn("user_count", labels)
        self.assertIn("tasks", labels)

    def test_completes_task_fields_per_user_type(self):
        text = ('{"load_density": [["LD_start_test", {"user_detail_dict": {"user": "websocket_user"},'
                ' "tasks": [{"method": "send", "'
                )
        labels = self.complete(text, {"line": 0, "character": len(text)})
        self.assertIn("payload", labels)
        self.assertIn("run_if", labels)
        self.assertNotIn("json", labels)  # an HTTP body field
        text = ('[["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"},'
                ' "tasks": {"mode": "sequence", "tasks": [{"'
                )
        labels = self.complete(text, {"line": 0, "character": len(text)})
        self.assertIn("request_url", labels)
        self.assertNotIn("payload", labels)

    def test_completes_user_types(self):
        text = '[["LD_start_test", {"user_detail_dict": {"user": "'
        labels = self.complete(text, {"line": 0, "character": len(text)})
        self.assertIn("fast_http_user", labels)
        self.assertIn("websocket_user", labels)

    def test_hover(self):
        self.open(DOC)
        r = self.c.request("textDocument/hover", {
            "textDocument": {"uri": "file:///tmp/doc.action.json"},
            "position": position_of(DOC, '"LD_summary"', 3)})
        self.assertIn("Return the summary", r["result"]["contents"]["value"])
        r = self.c.request("textDocument/hover", {
            "textDocument": {"uri": "file:///tmp/doc.action.json"},
            "position": position_of(DOC, '"user_count"', 3)})
        self.assertIn("number of virtual users", r["result"]["contents"]["value"])
        r = self.c.request("textDocument/hover", {
            "textDocument": {"uri": "file:///tmp/doc.action.json"},
            "position": position_of(DOC, '"url"', 2)})
        self.assertIn("websocket_user", r["result"]["contents"]["value"])

    def test_unknown_request(self):
        r = self.c.request("workspace/nothing", {})
        self.assertEqual(r["error"]["code"], -32601)
