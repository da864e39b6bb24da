"""`loaddensity mcp` driven by the official MCP TypeScript SDK client (StdioClientTransport,
Client.listTools / callTool) under node: the tools and their input schemas, a run against the
embedded target through tool calls, the summary read back, stored runs, reports, lint."""
import json
import os
import subprocess

from ldtest import BIN, Case
from npmcache import npm_dir

ORIGINAL_TOOLS = {
    "load_density.run_test", "load_density.run_action_json", "load_density.create_project",
    "load_density.list_executor_commands", "load_density.generate_reports",
    "load_density.summary", "load_density.persist_records", "load_density.list_runs",
    "load_density.fetch_run", "load_density.clear_records",
}

CLIENT = r"""
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [bin, workdir] = process.argv.slice(2);
const transport = new StdioClientTransport({ command: bin, args: ["mcp"], cwd: workdir, stderr: "ignore" });
const client = new Client({ name: "loaddensity-test", version: "1.0.0" });
await client.connect(transport);
const out = { server: client.getServerVersion(), tools: (await client.listTools()).tools, calls: {} };
async function call(key, name, args) {
  const r = await client.callTool({ name, arguments: args });
  const text = r.content.map((c) => c.text).join("");
  let value = text;
  try { value = JSON.parse(text); } catch (e) {}
  out.calls[key] = { isError: !!r.isError, value };
}
const db = workdir + "/runs.db";
await call("target", "load_density.run_action_json", { actions: [["LD_start_target"]] });
await call("run", "load_density.run_test", {
  user_detail_dict: { user: "fast_http_user" }, user_count: 2, spawn_rate: 100, test_time: 1,
  tasks: [{ method: "get", request_url: "${target}/get", name: "get" },
          { method: "post", request_url: "${target}/status/500", name: "fail" }] });
await call("summary", "load_density.summary", {});
await call("persist", "load_density.persist_records", { database_path: db, label: "mcp" });
await call("runs", "load_density.list_runs", { database_path: db });
await call("fetch", "load_density.fetch_run", { database_path: db, run_id: 1 });
await call("reports", "load_density.generate_reports", { base_name: workdir + "/rep", formats: ["summary", "junit", "html"] });
await call("doc", "load_density.run_action_json", { actions: JSON.stringify([["LD_register_variable", ["k", "v"]], ["LD_summary"]]) });
await call("bad", "load_density.run_action_json", { actions: [["LD_sumary"]] });
await call("lint", "load_density.lint", { actions: [["LD_sumary"]] });
await call("commands", "load_density.list_executor_commands", {});
await call("project", "load_density.create_project", { path: workdir + "/proj" });
await call("clear", "load_density.clear_records", {});
await call("after_clear", "load_density.summary", {});
await call("import_har", "load_density.import_har", { file_path: workdir + "/rec.har", user_count: 3 });
await call("curl", "load_density.curl_to_task", { command: "curl -X POST http://127.0.0.1:9/x -d a=1" });
await call("bad_run", "load_density.run_test", { user_detail_dict: { user: "fast_htp_user" }, tasks: [{ method: "get", request_url: "http://127.0.0.1:9/" }] });
await client.close();
console.log(JSON.stringify(out));
"""


class McpTest(Case):
    def test_sdk_client(self):
        d = npm_dir("mcp", ["@modelcontextprotocol/sdk@^1"])
        har = {"log": {"version": "1.2", "entries": [{"request": {
            "method": "GET", "url": "http://127.0.0.1:9/items?id=7", "headers": []},
            "response": {"status": 200}}]}}
        with open(os.path.join(self.workdir, "rec.har"), "w") as f:
            json.dump(har, f)
        script = os.path.join(d, "client-%d.mjs" % os.getpid())
        with open(script, "w") as f:
            f.write(CLIENT)
        try:
            p = subprocess.run(["node", script, BIN, self.workdir], capture_output=True, text=True,
                               timeout=300)
        finally:
            os.remove(script)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(out["server"]["name"], "loaddensity")

        tools = {t["name"]: t for t in out["tools"]}
        self.assertTrue(ORIGINAL_TOOLS <= set(tools), sorted(tools))
        self.assertIn("load_density.lint", tools)
        run_test = tools["load_density.run_test"]["inputSchema"]
        self.assertEqual(run_test["required"], ["user_detail_dict"])
        self.assertEqual(run_test["properties"]["user_count"]["default"], 50)
        self.assertEqual(run_test["properties"]["user_count"]["type"], "integer")
        self.assertEqual(run_test["properties"]["test_time"]["default"], 60)
        self.assertEqual(tools["load_density.list_runs"]["inputSchema"]["properties"]["limit"]["default"], 20)
        self.assertEqual(tools["load_density.run_action_json"]["inputSchema"]["required"], ["actions"])
        # Importer tools come from the importer commands of this build.
        har = "load_density.import_har" in tools
        self.assertEqual(har, "LD_har_to_action_json" in out["calls"]["commands"]["value"])

        calls = out["calls"]
        for key, c in calls.items():
            if key not in ("bad", "bad_run"):
                self.assertFalse(c["isError"], (key, c))
        self.assertGreater(calls["run"]["value"]["requests"], 0)
        totals = calls["summary"]["value"]["totals"]
        self.assertGreater(totals["requests"], 0)
        self.assertGreater(totals["failures"], 0)
        self.assertEqual(set(calls["summary"]["value"]["per_name"]), {"get", "fail"})
        self.assertEqual(calls["persist"]["value"]["run_id"], 1)
        self.assertEqual(len(calls["runs"]["value"]), 1)
        self.assertTrue(calls["fetch"]["value"])
        self.assertTrue(os.path.exists(os.path.join(self.workdir, "rep-summary.json")))
        self.assertTrue(os.path.exists(os.path.join(self.workdir, "rep-junit.xml")))
        self.assertTrue(os.path.exists(os.path.join(self.workdir, "rep.html")))
        self.assertEqual(len(calls["doc"]["value"]), 2)
        self.assertTrue(calls["bad"]["isError"])
        self.assertIn("LD_sumary", calls["bad"]["value"])
        self.assertEqual(calls["lint"]["value"]["errors"], 1)
        self.assertIn("LD_start_test", calls["commands"]["value"])
        self.assertTrue(os.path.exists(os.path.join(self.workdir, "proj", "LoadDensity", "keyword",
                                                    "keyword1.json")))
        self.assertEqual(calls["after_clear"]["value"]["totals"]["requests"], 0)
        self.assertTrue(calls["bad_run"]["isError"])
        # The importers through their tools (the original's import_har takes a file path).
        self.assertNotIn("load_density.load_plugin", tools)
        doc = calls["import_har"]["value"]
        start = [a for a in doc["load_density"] if a[0] == "LD_start_test"][0][1]
        self.assertEqual(start["user_count"], 3)
        self.assertEqual(start["tasks"]["tasks"][0]["request_url"], "http://127.0.0.1:9/items?id=7")
        self.assertEqual(calls["curl"]["value"]["method"].lower(), "post")
        self.assertIn("fast_htp_user", calls["bad_run"]["value"])
