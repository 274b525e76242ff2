"""Print one hash of what `pip install SPEC` would install from this tree, for scripts/venv.

The same sources and the same SPEC (extras) give the same hash, so scripts/venv can skip
an install that would change nothing. It hashes every file of the tree but those that
never go into the package (tests, docs, benchmarks, scripts): a file it should not have
counted costs a needless reinstall, one it missed would leave an old install in place.
Files come from git (tracked and untracked, not ignored) or, outside a checkout, from a
walk of the tree that skips what git would ignore here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PACKAGED = ("tests", "docs", "bench", "scripts")
NEVER = {".git", ".venv", ".demo", "build", "dist", "__pycache__", "test-artifacts"}


def list_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode("utf-8", "surrogateescape")  # fmt: skip
        return sorted({name for name in listed.split("\0") if name})
    except (OSError, subprocess.CalledProcessError):
        return walk_tree()


def walk_tree() -> list[str]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NEVER and not d.endswith((".egg-info", "_cache"))]
        found += [os.path.relpath(os.path.join(folder, name), ROOT) for name in files]
    return sorted(found)


def hash_sources(spec: str) -> str:
    digest = hashlib.sha256(f"{spec}\0{sys.version}\0".encode())
    for name in list_files():
        if name.split("/", 1)[0] in NOT_PACKAGED:
            continue
        path = ROOT / name
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:  # tracked but deleted, or unreadable: its absence is what counts
            digest.update(b"\0missing\0")
    return digest.hexdigest()


if __name__ == "__main__":
    print(hash_sources(sys.argv[1] if len(sys.argv) > 1 else "."))
