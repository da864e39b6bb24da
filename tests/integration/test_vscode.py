"""editors/vscode: the extension's bundled schema is the one the binary generates, its script
loads, and it packages with @vscode/vsce (installed from npm at test time, cached under the
build tree) into a .vsix holding the schema, the script and the language client."""
import json
import os
import shutil
import subprocess
import zipfile

from ldtest import BIN, SOURCE, Case
from npmcache import npm_dir

EXT = os.path.join(SOURCE, "editors", "vscode")


class VscodeTest(Case):
    def test_bundled_schema_is_current(self):
        with open(os.path.join(EXT, "schemas", "loaddensity-action-schema.json")) as f:
            bundled = json.load(f)
        generated = json.loads(self.run_ld("schema").out)
        self.assertEqual(bundled, generated,
                         "editors/vscode/schemas/loaddensity-action-schema.json is stale: "
                         "regenerate it with `loaddensity schema -o ...`")

    def test_package(self):
        with open(os.path.join(EXT, "package.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["contributes"]["jsonValidation"][0]["url"],
                         "./schemas/loaddensity-action-schema.json")
        vsce = os.path.join(npm_dir("vsce", ["@vscode/vsce@^3"]), "node_modules", ".bin", "vsce")
        # The extension with its runtime dependencies, in a cached directory of the build tree.
        ext = os.path.join(os.path.dirname(os.path.abspath(BIN)), "npm", "vscode-extension")
        os.makedirs(ext, exist_ok=True)
        for name in ("package.json", "extension.js", "README.md", ".vscodeignore"):
            shutil.copy(os.path.join(EXT, name), ext)
        shutil.copytree(os.path.join(EXT, "schemas"), os.path.join(ext, "schemas"), dirs_exist_ok=True)
        if not os.path.isdir(os.path.join(ext, "node_modules", "vscode-languageclient")):
            subprocess.run(["npm", "install", "--omit=dev", "--no-audit", "--no-fund",
                            "--loglevel=error"], cwd=ext, check=True, capture_output=True,
                           timeout=600)
        p = subprocess.run(["node", "--check", "extension.js"], cwd=ext, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        vsix = os.path.join(self.workdir, "loaddensity.vsix")
        p = subprocess.run([vsce, "package", "--skip-license", "--out", vsix], cwd=ext,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with zipfile.ZipFile(vsix) as z:
            names = set(z.namelist())
        for name in ("extension/package.json", "extension/extension.js",
                     "extension/schemas/loaddensity-action-schema.json",
                     "extension/node_modules/vscode-languageclient/package.json"):
            self.assertIn(name, names)
