"""action.yml, the composite GitHub Action: its steps' `run:` scripts are taken from the file and
run locally with the GITHUB_* variables a runner sets (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
RUNNER_TEMP), the `${{ }}` expressions of their `env:` and `if:` filled in as a runner would;
the job summary, the annotations, the outputs and the failing exit code are checked."""
import json
import os
import re
import subprocess

import yaml

from ldtest import BIN, SOURCE, Case, start_test


class ActionRun:
    def __init__(self, workdir, inputs):
        with open(os.path.join(SOURCE, "action.yml")) as f:
            self.action = yaml.safe_load(f)
        self.workdir = workdir
        self.inputs = {k: str(v.get("default", "")) for k, v in self.action["inputs"].items()}
        self.inputs.update(inputs)
        self.outputs = {}  # step id -> {name: value}
        self.summary = os.path.join(workdir, "step_summary.md")
        self.temp = os.path.join(workdir, "runner_temp")
        os.makedirs(self.temp, exist_ok=True)
        self.steps = []  # (name, exit code, stdout)

    def expr(self, e):
        e = e.strip()
        if e == "always()":
            return True
        m = re.fullmatch(r"inputs\.([\w-]+) == '([^']*)'", e)
        if m:
            return self.inputs[m.group(1)] == m.group(2)
        m = re.fullmatch(r"inputs\.([\w-]+)", e)
        if m:
            return self.inputs[m.group(1)]
        if e == "github.action_path":
            return SOURCE
        m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", e)
        if m:
            return self.outputs.get(m.group(1), {}).get(m.group(2), "")
        raise AssertionError("expression the test does not know: " + e)

    def render(self, s):
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(self.expr(m.group(1))), str(s))

    def run(self):
        failed = False
        for step in self.action["runs"]["steps"]:
            cond = step.get("if")
            if cond is not None and not self.expr(cond):
                continue
            if failed and cond != "always()":
                continue
            out_file = os.path.join(self.temp, "output-%d" % len(self.steps))
            open(out_file, "w").close()
            env = {**os.environ, "GITHUB_OUTPUT": out_file, "GITHUB_STEP_SUMMARY": self.summary,
                   "RUNNER_TEMP": self.temp, "GITHUB_ACTIONS": "true",
                   "GITHUB_WORKSPACE": self.workdir, "GITHUB_ACTION_PATH": SOURCE}
            env.update({k: self.render(v) for k, v in step.get("env", {}).items()})
            cwd = os.path.join(self.workdir, self.render(step.get("working-directory", ".")))
            p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=300)
            self.steps.append((step["name"], p.returncode, p.stdout + p.stderr))
            if "id" in step:
                self.outputs[step["id"]] = parse_outputs(out_file)
            failed = failed or p.returncode != 0
        return self

    def step(self, name):
        return next(s for s in self.steps if s[0] == name)

    def summary_text(self):
        with open(self.summary) as f:
            return f.read()


def parse_outputs(path):
    out = {}
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.fullmatch(r"([\w-]+)<<(\S+)", line)
        if m:
            value = []
            i += 1
            while lines[i] != m.group(2):
                value.append(lines[i])
                i += 1
            out[m.group(1)] = "\n".join(value)
        elif "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
        i += 1
    return out


class ActionTest(Case):
    def write(self, name, doc):
        with open(os.path.join(self.workdir, name), "w") as f:
            json.dump(doc, f)

    def test_a_passing_run(self):
        self.write("load.json", [
            ["LD_start_target"],
            start_test([{"method": "get", "request_url": "${target}/get", "name": "home"}],
                       users=2, test_time=1),
            ["LD_generate_html_report", {"html_name": "report"}]])
        a = ActionRun(self.workdir, {"documents": "load.json", "binary": BIN}).run()
        self.assertEqual([s[1] for s in a.steps], [0] * len(a.steps), a.steps)
        run = a.outputs["run"]
        self.assertEqual(run["exit-code"], "0")
        self.assertTrue(os.path.exists(run["summary"]))
        self.assertIn("report.html", run["reports"].splitlines())
        text = a.summary_text()
        self.assertIn("## LoadDensity: passed", text)
        self.assertIn("| Requests | Failures |", text)
        self.assertRegex(text, r"\| home \| [1-9]\d* \| 0 \|")
        self.assertIn("`report.html`", text)

    def test_a_failed_gate_fails_the_job_with_annotations(self):
        self.write("gate.json", [
            ["LD_start_target"],
            start_test([{"method": "get", "request_url": "${target}/status/500", "name": "broken"}],
                       users=1, test_time=1),
            ["LD_assert_sla", {"rules": [{"type": "failure_rate", "value": 0.01}]}]])
        a = ActionRun(self.workdir, {"documents": "gate.json", "binary": BIN}).run()
        self.assertEqual(a.outputs["run"]["exit-code"], "3")
        name, code, out = a.step("Run the documents")
        self.assertEqual(code, 0)
        self.assertIn("::error title=LoadDensity::GET broken: HTTP 500", out)
        name, code, out = a.step("Fail on a failed run")
        self.assertEqual(code, 3)
        self.assertIn("::error title=LoadDensity::a gate failed (exit code 3)", out)
        text = a.summary_text()
        self.assertIn("## LoadDensity: a gate failed", text)
        self.assertIn("HTTP 500", text)

    def test_bad_input_is_annotated_and_fails(self):
        self.write("typo.json", [["LD_summary"], ["LD_sumary"]])
        a = ActionRun(self.workdir, {"documents": "typo.json", "binary": BIN}).run()
        name, code, out = a.step("Lint the documents")
        self.assertIn("::error file=typo.json,line=1,col=19,", out)
        self.assertIn("unknown command 'LD_sumary'", out)
        self.assertEqual(a.outputs["run"]["exit-code"], "2")
        self.assertIn("## LoadDensity: bad input: nothing ran", a.summary_text())
        self.assertEqual(a.step("Fail on a failed run")[1], 2)

    def test_fail_on_error_false_keeps_the_job_green(self):
        self.write("typo.json", [["LD_sumary"]])
        a = ActionRun(self.workdir, {"documents": "typo.json", "binary": BIN,
                                     "fail-on-error": "false", "lint": "false"}).run()
        self.assertEqual([s[0] for s in a.steps],
                         ["Install or build loaddensity", "Run the documents", "Write the job summary"])
        self.assertTrue(all(s[1] == 0 for s in a.steps))
        self.assertEqual(a.outputs["run"]["exit-code"], "2")


class PreCommitHookTest(Case):
    def test_hook_definition(self):
        with open(os.path.join(SOURCE, ".pre-commit-hooks.yaml")) as f:
            hooks = yaml.safe_load(f)
        hook = next(h for h in hooks if h["id"] == "loaddensity-lint")
        self.assertTrue(re.search(hook["files"], "load/smoke.json"))
        self.assertFalse(re.search(hook["files"], "README.md"))
        # The entry lints the files it is given and fails on errors.
        self.write_doc = os.path.join(self.workdir, "bad.json")
        with open(self.write_doc, "w") as f:
            json.dump([["LD_sumary"]], f)
        entry = hook["entry"].split()
        self.assertEqual(entry[0], "loaddensity")
        p = subprocess.run([BIN, *entry[1:], *hook.get("args", []), self.write_doc],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command", p.stdout)
