"""`--dry-run`: check a crontab line and print what would happen, running nothing."""

from __future__ import annotations

import os
import shutil
import time

from . import breaker as brk
from .console import show
from .lock import lock_holder, lock_is_free
from .options import OPTIONS
from .settings import Settings, describe
from .shellline import operator_notes, pipeline_notes, script_of, script_problems, shell_problems
from .state import StateDir

NEXT_RUNS = 5


def print_plan(settings: Settings) -> int:
    """Print the resolved plan. 0 when the line is good, 2 when something would stop it."""
    import shlex

    problems: list[str] = []
    state = StateDir(settings.state_dir)
    lines = [f"smartcron-wrap dry run: job {settings.name!r} (nothing is run)", ""]

    executable = _resolve(settings.command[0])
    problems.extend(shell_problems(settings.command, executable is not None))
    if executable is None and not problems:
        problems.append(f"command {settings.command[0]!r} is not an executable found on PATH")
    notes = _script_checks(settings.command, executable, problems)
    lines.append(f"  {'command':18s} {shlex.join(settings.command)}")
    lines.append(f"  {'resolves to':18s} {executable or 'NOT FOUND'}")
    lines.append("")
    lines.append(f"  {'setting':18s} {'value':24s} from")
    lines.append(f"  {'name':18s} {settings.name:24s} {settings.sources['name']}")
    for option in OPTIONS:
        if option.name in ("name", "dry_run", "reset_breaker"):
            continue
        source = settings.sources[option.name]
        if option.name == "config":
            value = settings.config or "-"
        elif option.name == "grace" and source == "default":
            value = _default_grace(settings, notes)
        else:
            value = describe(settings, option.name)
        lines.append(f"  {option.name.replace('_', '-'):18s} {value:24s} {source}")
    if settings.config:
        from .config import check_file

        for problem in check_file(settings.config):
            problems.append(problem)

    lines.append("")
    lock_path = state.lock_path(settings.name)
    if settings.lock:
        free = _lock_state(lock_path)
        lines.append(f"  {'lock':18s} {lock_path} ({free})")
    else:
        lines.append(f"  {'lock':18s} off (--no-lock): runs may overlap")
    lines.append(f"  {'breaker':18s} {_breaker_state(settings, state)}")
    lines.append(f"  {'paused':18s} {_paused(state, settings.name)}")
    lines.append(f"  {'state dir':18s} {settings.state_dir} ({_writable(settings.state_dir)})")
    if settings.schedule:
        label = "next runs"
        for moment in _next_runs(settings.schedule, settings.timezone):
            lines.append(f"  {label:18s} {moment}")
            label = ""
    else:
        lines.append(f"  {'next runs':18s} - (give --schedule to check the cron expression)")
    if settings.sources["grace"] == "default":
        lines.append(f"  {'default grace':18s} {GRACE_RULE}")
    else:
        notes.extend(_long_grace(settings))

    lines.append("")
    lines.extend(f"NOTE: {note}" for note in notes)
    if problems:
        lines.extend(f"PROBLEM: {problem}" for problem in problems)
        lines.append("verdict: this line would not run as intended")
    else:
        lines.append("verdict: OK, this line is good")
    show("\n".join(lines))
    return 2 if problems else 0


def _script_checks(command: list[str], executable: str | None, problems: list[str]) -> list[str]:
    """For `sh -c TEXT`: the shell's syntax check (a problem) and pipeline advice (a note)."""
    found = script_of(command)
    if found is None:
        return operator_notes(command)
    shell, text, pipefail = found
    if executable is not None:
        problems.extend(script_problems(executable, shell, text))
    return pipeline_notes(shell, text, pipefail)


def _resolve(program: str) -> str | None:
    if os.sep in program:
        return program if os.path.isfile(program) and os.access(program, os.X_OK) else None
    return shutil.which(program)


def _lock_state(path: str) -> str:
    try:
        if lock_is_free(path):
            return "free now"
        return f"HELD now by pid {lock_holder(path)}: this run would be skipped"
    except OSError as error:
        return f"cannot check: {error.strerror}"


def _breaker_state(settings: Settings, state: StateDir) -> str:
    if not settings.breaker:
        return "off (--no-breaker)"
    bad: list[str] = []  # a dry run sets nothing aside: it only says what a run would do
    try:
        current = brk.BreakerStore(state.job_path(settings.name), lambda _, p: bad.append(p)).load()
    except OSError as error:
        return f"unknown: cannot read {state.job_path(settings.name)} ({error.strerror})"
    if bad:
        return (
            f"{state.job_path(settings.name)} is not valid ({bad[0]}): a run sets it aside, closed"
        )
    now = time.time()
    decision = brk.decide(current, now, settings.breaker_cooldown)
    failures = len(current["failures"])
    text = (
        f"{current['state']} ({failures} recent failure(s); opens at "
        f"{settings.breaker_threshold} within {describe(settings, 'breaker_window')})"
    )
    if decision == brk.SKIP:
        text += ": this run would be SKIPPED"
    elif decision == brk.TRIAL:
        text += ": this run would be the trial"
    return text


def _paused(state: StateDir, job: str) -> str:
    from .control import read_control

    bad: list[str] = []
    try:
        control = read_control(state.control_path(), lambda _, p: bad.append(p))
    except OSError as error:
        return f"unknown ({error})"
    if bad:
        return f"no: {state.control_path()} is not valid ({bad[0]}), and a run sets it aside"
    return "YES: this run would be skipped" if control.is_paused(job) else "no"


def _writable(path: str) -> str:
    from .trust import untrusted_reason

    problem = untrusted_reason(path)
    if problem is not None:
        return f"NOT safe to use ({problem}): runs will not be locked or recorded"
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return "writable" if os.access(probe, os.W_OK) else "NOT writable: runs will not be recorded"


GRACE_RULE = (
    "the larger of 5m and 10 % of the interval (from a run to the next), "
    "applied by the collector; shown: the next run's"
)


def _default_grace(settings: Settings, notes: list[str]) -> str:
    """The grace the collector gives the next run when the line sets none: the larger
    of 5m and 10 % of the time from that run to the one after it."""
    import datetime

    from .expect import default_grace_s
    from .slots import ScheduleError, load_zone, next_slots
    from .validate import format_duration

    if not settings.schedule:
        return "-"  # no schedule: missed runs are not checked
    try:
        zone = load_zone(settings.timezone)
        now = datetime.datetime.now(datetime.timezone.utc)
        first, second = next_slots(settings.schedule, zone, now, 2)
    except (ScheduleError, ValueError):
        return "-"
    grace = default_grace_s((second - first).total_seconds())
    if settings.jitter >= grace:
        notes.append(
            f"--jitter ({format_duration(settings.jitter)}) is not shorter than the default grace "
            f"({format_duration(grace)}): a run delayed by its jitter may count as missed; "
            "give --grace longer than the jitter"
        )
    return format_duration(grace)


def _long_grace(settings: Settings) -> list[str]:
    import datetime

    from .grace_check import long_grace_warning

    now = datetime.datetime.now(datetime.timezone.utc)
    found = long_grace_warning(settings.schedule, settings.timezone, settings.grace, now)
    return [found] if found else []


def _next_runs(schedule: str, zone_name: str) -> list[str]:
    """Read in the job's zone, with cron's rules at clock changes (slots.py); each in
    that zone and in UTC, as the collector shows them."""
    import datetime

    from .slots import load_zone, next_slots

    zone = load_zone(zone_name)
    now = datetime.datetime.now(datetime.timezone.utc)
    shown = []
    for moment in next_slots(schedule, zone, now, NEXT_RUNS):
        local = moment.astimezone(zone)
        text = f"{local:%Y-%m-%d %H:%M %Z}"
        if local.tzname() != "UTC":
            utc = "%H:%M" if local.date() == moment.date() else "%Y-%m-%d %H:%M"
            text += f" ({moment.strftime(utc)} UTC)"
        shown.append(text)
    return shown
