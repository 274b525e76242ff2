"""What `pip install smartcron` gives a cron host, and what scripts/venv does with it.

A copy of the tree gets a virtualenv of its own from scripts/venv with no extra, exactly
as a new user's first command makes one: the wrapper and the agent work there, the
collector's server stack is absent and smartcron-collector says how to add it, the
install prints no build warnings, and a second scripts/venv on the same tree does nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
# Not in a plain install: the collector extra, and what only the tests use.
SERVER_STACK = ("fastapi", "uvicorn", "sqlalchemy", "pymysql", "jinja2", "prometheus-client")
TEST_ONLY = ("psutil", "filelock", "pytest")
STALE = "build/lib/smartcron/wrapper/zz_deleted.py"


@dataclass
class Tree:
    root: Path
    first_output: str = ""  # what the first scripts/venv printed

    @property
    def bin(self) -> Path:
        return self.root / ".venv" / "bin"

    def venv(self, *extras: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.root / "scripts" / "venv"), *extras], cwd=self.root,
                              capture_output=True, text=True, timeout=300, check=False,
                              env=_clean_env())  # fmt: skip

    def run(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / name), *args], capture_output=True, text=True,
                              timeout=60, check=False, env=_clean_env())  # fmt: skip

    def installed(self, relative: str) -> Path:
        (site,) = (self.root / ".venv" / "lib").glob("python3*/site-packages")
        return site / "smartcron" / relative


def _clean_env() -> dict[str, str]:
    # Nothing of the test run's own venv or settings leaks into the copy's.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMARTCRON_", "VIRTUAL_ENV", "PYTHON"))
    }


def copy_tree(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tree]:
    """A copy of the tree (no .git: scripts/venv then walks it), installed without extras."""
    root = tmp_path_factory.mktemp("clone")
    copy_tree(root)
    # What an earlier build leaves of a module since deleted: setuptools copies its build
    # folder into the wheel, so this must not be installed.
    (root / STALE).parent.mkdir(parents=True)
    (root / STALE).write_text('"""Deleted from the tree since the last build."""\n')
    installed = Tree(root)
    first = installed.venv()
    assert first.returncode == 0, first.stdout + first.stderr
    installed.first_output = first.stdout + first.stderr
    yield installed


def test_the_install_prints_no_build_warnings(tree: Tree) -> None:
    output = tree.first_output
    assert "scripts/venv: installing smartcron into .venv" in output, output
    # What setuptools printed about pyproject.toml: warning classes, and its banners.
    # (pip's own "WARNING: Location ... is ignored" lines come from this machine's pip
    # configuration, not from the project.)
    assert not re.search(r"[A-Za-z]+Warning\b|setuptools|\*{10}", output), output
    # The data folders are in the package (each is listed as a package of its own)...
    for data in ("collector/templates/index.html", "collector/static/style.css",
                 "sql/0001_tables.sql", "collector/db/migrations/versions/v0001_tables.py",
                 "collector/db/migrations/sql/sqlite/0001_views.sql",
                 "collector/db/migrations/script.py.mako"):  # fmt: skip
        assert tree.installed(data).is_file(), data
    # ... and what the build folder held of a deleted module is not.
    assert not tree.installed("wrapper/zz_deleted.py").exists()


def test_a_plain_install_has_no_server_stack_and_nothing_unused(tree: Tree) -> None:
    check = (
        "import importlib.metadata as m, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        m.version(name)\n"
        "        print(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
    )
    present = tree.run("python", "-c", check, *SERVER_STACK, *TEST_ONLY, "click", "croniter",
                       "pydantic", "requests")  # fmt: skip
    assert present.returncode == 0, present.stderr
    # requests: smartcron-agent ships the spool with it.
    assert present.stdout.split() == ["click", "croniter", "pydantic", "requests"]
    assert tree.run("python", "-m", "pip", "check").returncode == 0


def test_the_wrapper_and_the_agent_work_in_a_plain_install(tree: Tree, tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = tree.run("smartcron-wrap", "--state-dir", str(state), "--name", "plain", "--schedule",
                    "*/5 * * * *", "--", "sh", "-c", "echo hi; exit 3")  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "hi" in done.stdout and done.stderr == ""
    assert len(list((state / "spool").glob("*.json"))) == 1
    dry = tree.run("smartcron-wrap", "--state-dir", str(state), "--name", "plain", "--schedule",
                   "*/5 * * * *", "--dry-run", "--", "true")  # fmt: skip
    assert dry.returncode == 0 and "next runs" in dry.stdout, dry.stdout + dry.stderr  # croniter
    agent = tree.run("smartcron-agent", "--help")
    assert agent.returncode == 0 and "usage" in agent.stdout.lower(), agent.stderr
    # A pass without a collector reports lost runs only: it needs nothing of the server.
    once = tree.run("smartcron-agent", "once", "--state-dir", str(state))
    assert once.returncode == 0 and once.stderr == "", once.stderr
    status = tree.run("smartcron-agent", "status", "--state-dir", str(state))
    assert status.returncode == 0 and "1 report(s) waiting" in status.stdout, status.stderr


@pytest.mark.parametrize(
    "command", [["serve"], ["migrate"], ["init-db"], ["create-token", "--name", "x"]]
)
def test_the_collector_without_its_extra_says_what_to_install(
    tree: Tree, command: list[str]
) -> None:
    done = tree.run("smartcron-collector", *command)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    # With the pip of the Python that has smartcron, so the extra lands beside it.
    assert f"{tree.bin / 'python'} -m pip install 'smartcron[collector]'" in lines[0], lines
    assert "fastapi" in lines[0]  # names what is missing
    # Its help still answers: it needs nothing of the extra.
    assert tree.run("smartcron-collector", "--help").returncode == 0


def test_scripts_venv_installs_again_only_when_the_tree_changed(tree: Tree) -> None:
    marker = tree.installed("wrapper/__init__.py")
    before = marker.stat().st_mtime_ns
    again = tree.venv()
    # pip was not run: it would have said "installing", and rewritten the module.
    assert again.returncode == 0 and again.stdout + again.stderr == "", again.stderr
    assert marker.stat().st_mtime_ns == before

    # A docs or tests change is not in the package: still nothing to do.
    (tree.root / "docs" / "install.md").write_text("changed\n")
    assert tree.venv().stderr == ""

    # A change in the package's sources installs again, once.
    module = tree.root / "wrapper" / "clock.py"
    module.write_text(module.read_text() + "# changed by the test\n")
    changed = tree.venv()
    assert "installing" in changed.stderr, changed.stderr
    assert tree.installed("wrapper/clock.py").read_text().endswith("# changed by the test\n")
    assert tree.venv().stderr == ""  # and settled again
