"""Safe builtins and plugins through the CLI (docs/builtins.md, docs/plugins.md).

The plugins are built by CMake next to the binary (build/<preset>/plugins): the example of
examples/plugins and the C test plugins of tests/plugins (one per bad case)."""
import json
import os
import re
import shutil

from ldtest import BIN, Case
from test_serve import END, Server

PLUGIN_DIR = os.path.join(os.path.dirname(BIN), "plugins")
EXAMPLE = os.path.join(PLUGIN_DIR, "libld_example_plugin.so")


def test_plugin(variant):
    return os.path.join(PLUGIN_DIR, f"libld_tp_{variant}.so")


def result_of(out, command):
    """The result the executor echoed for the first action running `command`."""
    m = re.search(r"^ok +\[\d+\] " + re.escape(command) + r"(?: -> (.*))?$", out, re.M)
    assert m, f"{command} did not run: {out}"
    return json.loads(m.group(1)) if m.group(1) else None


class PluginCase(Case):
    def setUp(self):
        super().setUp()
        for path in (EXAMPLE, test_plugin("good")):
            if not os.path.exists(path):
                self.fail(f"{path} is missing: build the default targets (the plugins are "
                          "built with the binary)")


class Builtins(PluginCase):
    def test_a_document_uses_the_builtins(self):
        doc = {"load_density": [
            ["print", ["hello", 1, None, True, [1, "x"], {"k": 2.5}]],
            ["print", {"values": ["a", "b"], "sep": "-", "end": "!\n"}],
            ["len", [[1, 2, 3]]],
            ["max", [3, 9, 2]],
            ["min", [[4, 2, 8]]],
            ["sorted", {"iterable": [3, 1, 2], "reverse": True}],
            ["round", [2.675, 2]],
            ["format", [1234567.891, ",.2f"]],
            ["sum", [[1, 2, 3.5]]],
            ["repr", ["it's"]],
            ["hex", [255]],
            ["int", ["ff", 16]],
        ]}
        r = self.run_doc(doc)
        self.assertEqual(r.code, 0, r.err)
        lines = r.out.splitlines()
        self.assertIn("hello 1 None True [1, 'x'] {'k': 2.5}", lines)
        self.assertIn("a-b!", lines)
        self.assertEqual(result_of(r.out, "len"), 3)
        self.assertEqual(result_of(r.out, "max"), 9)
        self.assertEqual(result_of(r.out, "min"), 2)
        self.assertEqual(result_of(r.out, "sorted"), [3, 2, 1])
        self.assertEqual(result_of(r.out, "round"), 2.67)
        self.assertEqual(result_of(r.out, "format"), "1,234,567.89")
        self.assertEqual(result_of(r.out, "sum"), 6.5)
        self.assertEqual(result_of(r.out, "repr"), "\"it's\"")
        self.assertEqual(result_of(r.out, "hex"), "0xff")
        self.assertEqual(result_of(r.out, "int"), 255)

    def test_print_alone_writes_only_its_text_with_quiet(self):
        r = self.run_doc([["print", ["quiet", "line"]]], "--quiet")
        self.assertEqual((r.code, r.out), (0, "quiet line\n"), r.err)

    def test_a_python_error_is_bad_input_before_anything_runs(self):
        r = self.run_doc([["print", ["before"]], ["len", [5]]])
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("TypeError: object of type 'int' has no len()", r.err)
        self.assertIn("[at /1/1", r.err)
        self.assertNotIn("before", r.out)

    def test_refused_builtins_say_why(self):
        for name, why in [("eval", "cannot run code"), ("exec", "cannot run code"),
                          ("open", "opens files"), ("__import__", "loads no code"),
                          ("compile", "cannot make or run code"), ("input", "unattended"),
                          ("id", "cannot read memory"), ("getattr", "attributes")]:
            r = self.run_doc([["print", ["before"]], [name, ["x"]]])
            self.assertEqual(r.code, 2, name)
            self.assertIn(f"'{name}' is refused: Python's {name}: ", r.err)
            self.assertIn(why, r.err)
            self.assertNotIn("before", r.out)

    def test_the_original_ways_of_adding_python_explain_what_to_use(self):
        for name in ("LD_add_package_to_executor", "add_command_to_executor"):
            r = self.run_doc([[name, ["os"]]])
            self.assertEqual(r.code, 2, name)
            self.assertIn(f"'{name}' is refused", r.err)
            self.assertIn("LD_load_plugin", r.err)
            self.assertIn("--plugin", r.err)
            self.assertIn("docs/plugins.md", r.err)


class Plugins(PluginCase):
    def test_a_document_loads_the_example_and_calls_its_commands(self):
        doc = [["LD_load_plugin", {"path": EXAMPLE}],
               ["example_slugify", {"text": "Hello, World! 2026"}],
               ["example_slugify", ["a  b", "_"]],
               ["example_word_stats", ["one two\nthree"]]]
        r = self.run_doc(doc)
        self.assertEqual(r.code, 0, r.err)
        loaded = result_of(r.out, "LD_load_plugin")
        self.assertEqual(loaded["path"], os.path.realpath(EXAMPLE))
        self.assertEqual(loaded["commands"], ["example_slugify", "example_word_stats"])
        self.assertIn('example_slugify -> "hello-world-2026"', r.out)
        self.assertIn('example_slugify -> "a_b"', r.out)
        self.assertEqual(result_of(r.out, "example_word_stats"),
                         {"words": 3, "lines": 2, "longest": "three"})

    def test_a_relative_path_is_found_next_to_the_document(self):
        sub = os.path.join(self.workdir, "project")
        os.mkdir(sub)
        shutil.copy(EXAMPLE, os.path.join(sub, "libexample.so"))
        with open(os.path.join(sub, "doc.json"), "w") as f:
            json.dump([["LD_load_plugin", ["libexample.so"]],
                       ["example_slugify", ["Relative Path"]]], f)
        r = self.run_ld("run", "project/doc.json")
        self.assertEqual(r.code, 0, r.err)
        self.assertIn('example_slugify -> "relative-path"', r.out)

    def test_plugin_options_load_libraries_for_every_subcommand(self):
        r = self.run_ld("--plugin", EXAMPLE, "--plugin", test_plugin("good"), "run-str",
                        json.dumps([["example_slugify", ["A B"]], ["tp_echo", ["x"]]]))
        self.assertEqual(r.code, 0, r.err)
        self.assertIn('example_slugify -> "a-b"', r.out)
        self.assertEqual(result_of(r.out, "tp_echo"), {"text": "x", "times": 1, "extra": None})
        r = self.run_ld("--plugin", EXAMPLE, "--list-commands")
        self.assertRegex(r.out, r"(?m)^example_word_stats  Words, lines")
        r = self.run_ld("--plugin", EXAMPLE, "describe", "example_slugify")
        self.assertEqual(r.code, 0, r.err)
        self.assertIn("text  (string, required)", r.out)
        self.assertIn('separator  (string, default "-")', r.out)

    def test_plugin_arguments_are_checked_before_anything_runs(self):
        r = self.run_doc([["LD_load_plugin", [EXAMPLE]], ["print", ["before"]],
                          ["example_slugify", {"txet": "x"}]])
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("unknown argument 'txet' for example_slugify (did you mean 'text'?)", r.err)
        self.assertNotIn("before", r.out)

    def test_a_failing_call_fails_its_action_only(self):
        r = self.run_doc([["LD_load_plugin", [test_plugin("good")]], ["tp_fail"],
                          ["print", ["after"]]])
        self.assertEqual(r.code, 1, r.err)
        self.assertIn("tp_fail: asked to fail", r.err)
        self.assertIn("after", r.out)

    def assert_bad_plugin(self, path, problem):
        r = self.run_doc([["print", ["before"]], ["LD_load_plugin", {"path": path}]])
        self.assertEqual(r.code, 2, r.err)
        self.assertIn(f"plugin '{path}': {problem}", r.err)
        self.assertIn("[at /1/1/path]", r.err)
        self.assertNotIn("before", r.out)
        r = self.run_ld("--plugin", path, "run-str", '[["print", ["before"]]]')
        self.assertEqual(r.code, 2, r.err)
        self.assertIn(f"error: --plugin: plugin '{path}': {problem}", r.err)
        self.assertNotIn("before", r.out)

    def test_bad_plugins_are_bad_input_naming_the_path_and_the_problem(self):
        self.assert_bad_plugin(os.path.join(self.workdir, "libmissing.so"), "no such file")
        fake = os.path.join(self.workdir, "libfake.so")
        with open(fake, "w") as f:
            f.write("not a shared library\n")
        self.assert_bad_plugin(fake, "cannot be loaded: ")
        self.assert_bad_plugin(test_plugin("no_init"), "no symbol 'ld_plugin_init'")
        self.assert_bad_plugin(test_plugin("bad_abi"),
                               "built for plugin ABI version 999, this loaddensity speaks "
                               "version 1")
        self.assert_bad_plugin(test_plugin("init_fails"),
                               "ld_plugin_init failed (returned 7): no licence key found")
        self.assert_bad_plugin(test_plugin("malformed"), "ld_plugin_init failed (returned 1): "
                               "command name 'bad name' is not a name")
        self.assert_bad_plugin(test_plugin("duplicate"),
                               "command 'len' is already a loaddensity command or builtin")

    def test_two_plugins_with_one_name_are_refused(self):
        r = self.run_ld("--plugin", test_plugin("good"), "--plugin", test_plugin("duplicate"),
                        "--list-commands")
        self.assertEqual(r.code, 2, r.err)
        self.assertIn(f"command 'tp_echo' is already a command of plugin "
                      f"{os.path.realpath(test_plugin('good'))}", r.err)

    def test_serve_sessions_get_the_server_plugins_but_cannot_load_any(self):
        server = Server("--plugin", EXAMPLE, cwd=self.workdir)
        self.addCleanup(server.kill)
        reply = server.ask(json.dumps([["example_slugify", ["Served Here"]]]).encode())
        self.assertEqual(reply, b'"served-here"\n' + END)
        reply = server.ask(json.dumps([["LD_load_plugin", [test_plugin("good")]]]).encode())
        self.assertIn(b"LD_load_plugin is refused here", reply)
        self.assertEqual(server.ask(b"quit_server"), b"Server shutting down\n")
        code, _, err = server.wait()
        server.proc.stdout.close()
        server.proc.stderr.close()
        self.assertEqual(code, 0, err)
