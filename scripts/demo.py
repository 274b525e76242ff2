"""The README's first command: wrap a few typical cron jobs and show what smartcron saw.

Everything lands in .demo/state (a state directory of its own); nothing is
installed in crontab and no collector is needed yet: reports stay in the spool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".demo" / "state"
WRAP = str(Path(sys.executable).parent / "smartcron-wrap")


def wrap(*args: str) -> subprocess.CompletedProcess[str]:
    command = [WRAP, "--state-dir", str(STATE), *args]
    print("$ smartcron-wrap " + " ".join(args))
    done = subprocess.run(command, text=True, capture_output=True, check=False)
    for line in (done.stdout + done.stderr).splitlines():
        print(f"    | {line}")
    print(f"    exit {done.returncode}\n")
    return done


def main() -> int:
    shutil.rmtree(STATE, ignore_errors=True)
    print(f"smartcron demo: state directory {STATE}\n")

    wrap(
        "--name",
        "nightly_backup",
        "--timeout",
        "1m",
        "--",
        "sh",
        "-c",
        "echo 'dumping 3 databases'; sleep 0.3; echo done",
    )
    wrap(
        "--name",
        "vend_sync",
        "--retries",
        "2",
        "--retry-delay",
        "0.2s",
        "--",
        "sh",
        "-c",
        "echo 'connecting to https://api:s3cret@vend.example' >&2; exit 3",
    )
    wrap(
        "--name",
        "report_mail",
        "--timeout",
        "1s",
        "--kill-after",
        "0.5s",
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo 'rendering...'; sleep 30",
    )

    # A run still going when cron starts the next one: the second is skipped by the lock.
    holder = subprocess.Popen(
        [WRAP, "--state-dir", str(STATE), "--name", "log_rotate", "--", "sleep", "2"]
    )
    time.sleep(0.5)
    wrap("--name", "log_rotate", "--", "sleep", "2")
    holder.wait()

    wrap(
        "--name", "vend_sync", "--schedule", "*/5 * * * *", "--dry-run", "--", "sh", "-c", "exit 3"
    )

    print("Run reports in the spool (what the collector will receive):")
    reports = [json.loads(p.read_text()) for p in sorted((STATE / "spool").glob("*.json"))]
    reports.sort(key=lambda r: r["started_at"])
    row = "  {:16s} {:16s} {:>4} {:>8} {:>9} {:>9}"
    print(row.format("job", "status", "exit", "attempts", "duration", "peak RSS"))
    for r in reports:
        rss = f"{r['peak_rss_bytes'] / 2**20:.1f}M" if r["peak_rss_bytes"] else "-"
        code = "-" if r["exit_code"] is None else r["exit_code"]
        duration = f"{r['duration_s']:.2f}s"
        print(row.format(r["job"], r["status"], code, len(r["attempts"]), duration, rss))
    log = STATE / "logs" / "vend_sync.jsonl"
    print(f"\nThe per-job log {log.relative_to(ROOT)}, last line (secrets redacted):")
    last = json.loads(log.read_text().splitlines()[-1])
    print(
        json.dumps(
            {k: last[k] for k in ("status", "exit_code", "attempts", "stderr_tail")}, indent=2
        )
    )
    print(f"\nAll state: {STATE}  (try: ls -R {STATE.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
