"""What a pass of the agent loads: never the collector's server stack. The agent runs
on every cron host, where only smartcron's base dependencies are installed, and each
module it loads is memory it holds for as long as the daemon runs."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.agent.conftest import Agent, spool_names
from tests.conftest import StateDir, Wrap
from tests.support.service import Service

SERVER_STACK = {"smartcron.collector", "sqlalchemy", "fastapi", "starlette", "uvicorn",
                "pymysql", "alembic", "jinja2", "apprise", "prometheus_client"}  # fmt: skip

# The installed entry point's main, in a process that then lists what it loaded.
PROBE = """
import json, sys
from smartcron.agent.cli import main
sys.argv = ["smartcron-agent", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as end:
    code = end.code
print(json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def test_a_pass_that_ships_loads_nothing_of_the_collector(
    wrap: Wrap, agent: Agent, state: StateDir, sqlite_collector: Service
) -> None:
    assert wrap("--name", "light", "--", "true").returncode == 0
    state.reports()
    agent.collector = sqlite_collector
    argv = agent.argv("once")[1:]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], env=agent.env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["exit"] in (0, None), done.stderr
    assert spool_names(state) == set(), "the premise: the pass shipped the report"
    loaded = {
        name for name in found["modules"]
        if any(name == top or name.startswith(top + ".") for top in SERVER_STACK)
    }  # fmt: skip
    assert loaded == set()
