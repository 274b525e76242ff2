"""Reading jobs rows by their key, (job, host) IN (...), so that MySQL uses the key.

MariaDB 10.11 plans `(job, host) IN ((...), ...)` on smartcron_jobs as a range of
ix_jobs_host_state on `host` alone (its key_len is host's), which reads every job of
every host named: with 200 hosts, the whole table for 400 keys (2.1 s against 0.2 s by
the primary key, 30,000 jobs, as measured for bench/alerts.py). The hint names the key.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

from . import tables

S = TypeVar("S", bound=Select[Any])
HINT = "FORCE INDEX (PRIMARY)"


def by_job_key(query: S) -> S:
    """`query` (reading smartcron_jobs by (job, host) IN ...) told to use the primary key."""
    return query.with_hint(tables.jobs, HINT, "mysql").with_hint(tables.jobs, HINT, "mariadb")
