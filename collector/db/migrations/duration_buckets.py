"""The duration histogram of smartcron_perf_daily (revision 0014), as SQL fragments that
sql/*/0014_*.sql take in: 89 columns are written by this module, not by hand.

Column dNN counts the day's timed runs that lasted at most EDGES[NN] = 2^(NN/4 - 6)
seconds: quarter octaves from 1/64 s to 65,536 s (18 h), cumulative, so that the sums over
days are cumulative too and the view finds the p95 with one CASE, reading the columns
in order. A p95 in (EDGES[k-1], EDGES[k]] is shown as the bucket's midpoint
2 * EDGES[k] / (1 + 2^(1/4)), which is within 8.6 % (RELATIVE_ERROR) of every value in
the bucket, then held between the window's shortest and longest run (both exact): a
p95 below 1/64 s is at most 1/64 s, one above 18 h is the longest run.

Frozen with the revision: a later change of buckets is a revision of its own.
"""

from __future__ import annotations

BUCKETS = 89
GAMMA = 2 ** (1 / 4)  # the ratio of one edge to the one before
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)  # 0.0864
EDGES = [2 ** (k / 4 - 6) for k in range(BUCKETS)]
COLUMNS = [f"d{k:02d}" for k in range(BUCKETS)]


def _number(value: float, dialect: str) -> str:
    # e0: a DOUBLE on MySQL, where 0.5 would be a DECIMAL.
    text = repr(value)
    return text + "e0" if dialect == "mysql" and "e" not in text else text


def midpoint(k: int) -> float:
    """What a p95 in bucket k is shown as."""
    return 2 * EDGES[k] / (1 + GAMMA)


def fragments(dialect: str) -> dict[str, str]:
    """{placeholder: SQL} for the 0014 files of `dialect` (mysql or sqlite)."""
    joined = ",\n       ".join
    at_most = [_number(edge, dialect) for edge in EDGES]
    # A lost run has no duration: NULL <= x is NULL, counted as 0.
    one_run = [f"COALESCE(NEW.duration_s <= {edge}, 0)" for edge in at_most]
    # One assignment a line, as indented in the files (SQLite's inside the trigger's body).
    if dialect == "mysql":
        updates = ",\n    ".join(
            f"{c} = {c} + {value}" for c, value in zip(COLUMNS, one_run, strict=True)
        )
    else:
        updates = ",\n        ".join(f"{c} = {c} + excluded.{c}" for c in COLUMNS)
    cases = [
        f"WHEN {c} >= p95_rank THEN {_number(midpoint(k), dialect)}" for k, c in enumerate(COLUMNS)
    ]
    return {
        "columns": ", ".join(COLUMNS),
        "new_run": joined(one_run),
        "add_new_run": updates,
        "count_runs": joined(f"COALESCE(SUM(duration_s <= {edge}), 0)" for edge in at_most),
        "sum_days": joined(f"SUM({c}) AS {c}" for c in COLUMNS),
        "p95_cases": "\n                ".join(cases),
    }
