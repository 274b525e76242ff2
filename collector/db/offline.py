"""sql/: the MySQL DDL the migrations produce, one file per revision, written by
Alembic's offline mode (scripts/generate-sql); tests/collector/test_migrations.py fails
when the files and the migrations differ."""

from __future__ import annotations

import os
from pathlib import Path

from alembic.script import ScriptDirectory

from .migrate import alembic_config, offline_sql


def revision_sql_files() -> dict[str, str]:
    """{file name: text} for sql/: NNNN_NAME.sql for the revision in versions/vNNNN_NAME.py,
    the DDL that takes a database from the revision before it to this one."""
    scripts = ScriptDirectory.from_config(alembic_config())
    files = {}
    for script in reversed(list(scripts.walk_revisions())):
        stem = Path(script.path).stem.removeprefix("v")
        down = script.down_revision
        assert down is None or isinstance(down, str), "the history is one line"
        about = (script.doc or "").strip().splitlines()[0]
        header = (
            f"-- smartcron revision {script.revision}: {about}\n"
            "-- Generated from collector/db/migrations/ by scripts/generate-sql (Alembic's\n"
            "-- offline mode); do not edit. Apply in order at the mysql client, e.g.\n"
            f"--   mysql smartcron < sql/{stem}.sql\n"
            "-- or let `smartcron-collector migrate` do it all, rollup rebuild included.\n\n"
        )
        files[f"{stem}.sql"] = header + offline_sql(down, script.revision)
    return files


def write_sql_files(directory: str) -> list[str]:
    """Write sql/ afresh: every revision's file, and no other .sql file."""
    wanted = revision_sql_files()
    for name in os.listdir(directory):
        if name.endswith(".sql") and name not in wanted:
            os.unlink(os.path.join(directory, name))
    for name, sql in wanted.items():
        Path(directory, name).write_text(sql, encoding="utf-8")
    return sorted(wanted)
