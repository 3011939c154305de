"""npm packages the tests need, installed by the tests themselves: each from a package.json and
package-lock.json of ours (exact versions) with `npm ci` into build/npm/<name>, again only when the
lock changed. npm's cache is build/npm/cache. Needs node and npm (scripts/deps.sh)."""
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NPM_DIR = REPO / "build" / "npm"


def installed(name, source):
    """The folder of `source` (a folder with package.json and package-lock.json, and whatever
    else the package needs) copied to build/npm/<name> with its node_modules installed."""
    source = Path(source)
    digest = hashlib.sha256()
    for f in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(str(f.relative_to(source)).encode() + b"\0" + f.read_bytes())
    dest = NPM_DIR / name
    stamp = dest / ".cloudcode-installed"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest)
    env = {**os.environ, "npm_config_cache": str(NPM_DIR / "cache"), "npm_config_update_notifier": "false"}
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=dest,
                   env=env, check=True, timeout=600, stdin=subprocess.DEVNULL)
    stamp.write_text(digest.hexdigest())
    return dest
