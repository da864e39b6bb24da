"""npm packages the editor and assistant tests need, installed once under the build tree
(next to the binary) and reused by later runs."""
import json
import os
import subprocess

from ldtest import BIN


def npm_dir(name, packages):
    """Returns a directory whose node_modules holds `packages` (npm specs), installing them the
    first time. Scripts that import them must live in that directory (ES modules resolve from
    the importing file)."""
    d = os.path.join(os.path.dirname(os.path.abspath(BIN)), "npm", name)
    stamp = os.path.join(d, ".installed")
    want = " ".join(packages)
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == want:
                return d
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "package.json"), "w") as f:
        json.dump({"name": "loaddensity-test-" + name, "private": True, "type": "module"}, f)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *packages],
                   cwd=d, check=True, capture_output=True, text=True, timeout=600)
    with open(stamp, "w") as f:
        f.write(want)
    return d
