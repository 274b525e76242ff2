"""The jobs of this host's crontabs, as plain data.

`discover_jobs` is what the heartbeat sends the collector (so it knows what to
expect, and when, before a job's first run reports) and what `smartcron-agent
discover --json` prints. A line behind smartcron-wrap is described by the
wrapper's own options on it (--name, --schedule, --timezone, and in `expect` the
alert options --grace, --min-duration, --max-duration and --alert-after it sets,
under the run report's keys), read the way the shell reads the line; a plain line
by what wrap-crontab would give it, and `wrapped` false, which the hosts page shows
as "not wrapped yet".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from .cronpercent import split_cron_command
from .crontab import Crontab, CrontabError, Line, parse_crontab
from .rewrite import plan_names
from .sources import SPOOL_DIRS, SourceError, Target, read_file, read_user_crontab, system_targets
from .wrapline import wrapper_words


class CronJob(BaseModel):
    """One job line of a crontab."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    schedule: str  # five fields, or a macro such as @hourly or @reboot
    timezone: str | None  # the zone the schedule is read in (--timezone, else CRON_TZ)
    command: str  # what the job runs (for a wrapped line: the wrapped command)
    user: str | None  # who it runs as, when the crontab says or we know
    source: str  # the file, or "crontab of USER"
    line: int
    wrapped: bool
    text: str  # the line as written
    # A wrapped line's --priority and --tags, when it has them (the collector registers
    # the job with them before its first report).
    priority: int | None = None
    tags: list[str] | None = None
    # The alert options the wrapped line sets, as the run report's `expect` holds them
    # (grace_s, min_duration_s, max_duration_s, alert_after); empty when it sets none.
    expect: dict[str, float | int] = Field(default_factory=dict)


@dataclass(frozen=True)
class Places:
    """Where discovery looks; the defaults are the system's, tests pass their own."""

    system_crontab: str = "/etc/crontab"
    cron_d: str = "/etc/cron.d"
    spool_dirs: tuple[str, ...] = SPOOL_DIRS


def discover_jobs(places: Places | None = None) -> tuple[list[CronJob], list[str]]:
    """Every job line this process may read, and a note for each crontab it could not."""
    places = places or Places()
    jobs: list[CronJob] = []
    notes: list[str] = []
    targets, skipped = system_targets(places.system_crontab, places.cron_d)
    notes.extend(skipped)
    for target in targets:
        _collect(target, None, jobs, notes)
    spool = _readable_spool(places.spool_dirs)
    if spool is not None:
        for name in sorted(os.listdir(spool)):
            path = os.path.join(spool, name)
            if not name.startswith(".") and os.path.isfile(path):
                _collect(Target("file", path=path, system=False), name, jobs, notes)
    else:
        _collect(Target("user", system=False), _me(), jobs, notes)
    return jobs, notes


def _collect(target: Target, owner: str | None, jobs: list[CronJob], notes: list[str]) -> None:
    try:
        data = read_file(target.path) if target.kind == "file" else read_user_crontab(target.user)
        crontab = parse_crontab(data, source=target.label, system=target.system)
    except (SourceError, CrontabError) as error:
        notes.append(f"skipped: {error}")
        return
    jobs.extend(jobs_of(crontab, owner))


def jobs_of(crontab: Crontab, owner: str | None = None) -> list[CronJob]:
    """The jobs of one parsed crontab; `owner` is the user of a user crontab."""
    names = plan_names(crontab, set())
    return [_job(line, crontab.source, owner, names) for line in crontab.jobs()]


def _job(line: Line, source: str, owner: str | None, names: dict[int, str]) -> CronJob:
    zone = line.env.get("CRON_TZ") or None
    words = wrapper_words(line)
    user = line.user or owner
    if words is None:
        return CronJob(
            name=names[line.number],
            schedule=line.schedule,
            timezone=zone,
            command=split_cron_command(line.command).shell_text,
            user=user,
            source=source,
            line=line.number,
            wrapped=False,
            text=line.text,
        )
    from smartcron.wrapper.options import parse_argv
    from smartcron.wrapper.validate import SettingError

    try:
        parsed = parse_argv(words[1:])
        values, command = parsed.values, parsed.command
    except SettingError:
        # An option this wrapper does not know (a newer wrapper's line): still read
        # what discovery needs, and the command after `--`.
        values, command = _read_options_leniently(words[1:])
    if len(command) == 3 and command[1] == "-c":
        shown = command[2]  # SHELL -c TEXT, as wrap-crontab writes it: the text is the job
    else:
        import shlex

        shown = shlex.join(command)
    name = values.get("name")
    schedule = values.get("schedule")
    timezone = values.get("timezone")
    return CronJob(
        name=name if isinstance(name, str) else names.get(line.number, "job"),
        schedule=schedule if isinstance(schedule, str) else line.schedule,
        timezone=timezone if isinstance(timezone, str) else zone,
        command=shown,
        user=user,
        source=source,
        line=line.number,
        wrapped=True,
        text=line.text,
        priority=_priority(values.get("priority")),
        tags=_tags(values.get("tags")),
        expect=_expect_of(values),
    )


def _priority(value: object) -> int | None:
    """--priority as the wrapper reads it; None when absent or not one it takes."""
    from smartcron.wrapper import limits

    text = str(value) if value is not None else ""
    if (
        text.isascii()
        and text.isdigit()
        and limits.PRIORITY_MIN <= int(text) <= limits.PRIORITY_MAX
    ):
        return int(text)
    return None


def _tags(value: object) -> list[str] | None:
    from smartcron.wrapper.validate import SettingError, parse_tags

    if value is None:
        return None
    try:
        return list(parse_tags(value)) or None
    except SettingError:
        return None


def _expect_of(values: dict[str, object]) -> dict[str, float | int]:
    """The alert options of the line, each read by the wrapper's own validator; one it
    refuses is left out (the wrapper refuses the line, and `--dry-run` says why)."""
    from smartcron.wrapper.expect import EXPECT_KEYS
    from smartcron.wrapper.options import BY_NAME
    from smartcron.wrapper.validate import SettingError

    expect: dict[str, float | int] = {}
    for name, key in EXPECT_KEYS.items():
        option = BY_NAME[name]
        if name not in values or option.parse is None:
            continue
        try:
            value = option.parse(values[name], option.flag)
        except SettingError:
            continue
        if isinstance(value, (int, float)):
            expect[key] = value
    return expect


_LENIENT = {"--name": "name", "--schedule": "schedule", "--timezone": "timezone",
            "--grace": "grace", "--min-duration": "min_duration",
            "--max-duration": "max_duration", "--alert-after": "alert_after"}  # fmt: skip


def _read_options_leniently(args: list[str]) -> tuple[dict[str, object], list[str]]:
    values: dict[str, object] = {}
    index = 0
    while index < len(args) and args[index] != "--":
        flag, has_value, value = args[index].partition("=")
        if flag in _LENIENT:
            if not has_value and index + 1 < len(args):
                index += 1
                value = args[index]
            values[_LENIENT[flag]] = value
        index += 1
    return values, args[index + 1 :]


def _readable_spool(spool_dirs: tuple[str, ...]) -> str | None:
    # The first spool that exists is cron's; if we may not list it (not root), each
    # user reads their own crontab through the crontab command instead.
    for path in spool_dirs:
        if os.path.isdir(path):
            return path if os.access(path, os.R_OK | os.X_OK) else None
    return None


def _me() -> str | None:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None
