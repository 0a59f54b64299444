"""Locked node modules for the tests that run node tools (hls.js in
Chromium, s3rver and azurite): /usr/bin/node and /usr/bin/npm from Debian,
whatever `node` PATH finds, so the tests behave as on a fresh machine."""
import json
import os
import subprocess

import pytest

NODE = "/usr/bin/node"
NPM = "/usr/bin/npm"


def node_env(**extra):
    """The environment for node and npm: npm starts node for its own scripts
    through PATH, so /usr/bin comes first."""
    env = dict(os.environ)
    env["PATH"] = "/usr/bin:/bin:" + env.get("PATH", "")
    env.update(extra)
    return env


def locked_versions(pkg_dir):
    """{module: version} of the top-level, non-optional modules of
    pkg_dir/package-lock.json."""
    lock = json.loads((pkg_dir / "package-lock.json").read_text())
    return {name.split("node_modules/", 1)[1]: meta["version"]
            for name, meta in lock["packages"].items()
            if name.startswith("node_modules/") and name.count("node_modules/") == 1
            and not meta.get("optional")}


def installed_ok(pkg_dir):
    for name, version in locked_versions(pkg_dir).items():
        pj = pkg_dir / "node_modules" / name / "package.json"
        try:
            if json.loads(pj.read_text()).get("version") != version:
                return False
        except (OSError, ValueError):
            return False
    return True


def ensure_modules(pkg_dir, tools=(), timeout=600):
    """Fails the test when node, npm or one of tools ((path, Debian package),
    ...) is missing; runs `npm ci` in pkg_dir when its node_modules are not
    the locked versions. Returns pkg_dir/node_modules."""
    for tool, pkg in ((NODE, "nodejs"), (NPM, "npm (nodejs on NodeSource builds)"), *tools):
        if not os.access(tool, os.X_OK):
            pytest.fail(f"{tool} is missing: the Debian package {pkg} is needed "
                        f"(run scripts/install-deps.sh)")
    if not installed_ok(pkg_dir):
        # npm's entry point is a JS file with `#!/usr/bin/env node`: run it
        # with /usr/bin/node so another node on PATH cannot step in.
        argv = [NODE, os.path.realpath(NPM), "ci", "--no-audit", "--no-fund",
                "--prefix", str(pkg_dir)]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=node_env(),
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (f"{' '.join(argv)} exited {p.returncode}\n"
                                   f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}")
        assert installed_ok(pkg_dir), f"npm ci did not install {locked_versions(pkg_dir)}"
    return pkg_dir / "node_modules"
