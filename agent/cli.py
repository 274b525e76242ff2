"""smartcron-agent: a thin click group; each command's work lives in its own module."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from smartcron.wrapper.settings import default_state_dir

from .apply import Request, UsageProblem, default_wrap_path, run_rewrite
from .discover import Places, discover_jobs
from .settings import AgentSettings
from .sources import CRON_D, SYSTEM_CRONTAB, SourceError, Target, system_targets

EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """smartcron-agent: the host side of smartcron. The daemon (run, once, status)
    ships the spool, reports lost runs, sends heartbeats and pulls pauses; the crontab
    commands find and wrap jobs."""


def _places_options(function: click.decorators.FC) -> click.decorators.FC:
    function = click.option(
        "--cron-dir",
        default=CRON_D,
        show_default=True,
        help="Directory of system crontab files (for chroots and tests).",
    )(function)
    function = click.option(
        "--system-crontab",
        default=SYSTEM_CRONTAB,
        show_default=True,
        help="The system crontab (for chroots and tests).",
    )(function)
    return function


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as a JSON list.")
@_places_options
@click.option(
    "--spool-dir",
    multiple=True,
    help="Directory of the users' crontabs (default: /var/spool/cron/crontabs, "
    "else /var/spool/cron); if it cannot be read, your own crontab is read with crontab -l.",
)
def discover(as_json: bool, system_crontab: str, cron_dir: str, spool_dir: tuple[str, ...]) -> None:
    """List the jobs found in this host's crontabs."""
    places = Places(system_crontab=system_crontab, cron_d=cron_dir)
    if spool_dir:
        places = Places(system_crontab=system_crontab, cron_d=cron_dir, spool_dirs=spool_dir)
    jobs, notes = discover_jobs(places)
    for note in notes:
        click.echo(f"smartcron-agent: {note}", err=True)
    if as_json:
        click.echo(json.dumps([job.model_dump() for job in jobs], indent=2, ensure_ascii=False))
        return
    for job in jobs:
        state = "wrapped" if job.wrapped else "not wrapped yet"
        zone = f" {job.timezone}" if job.timezone else ""
        click.echo(
            f"{job.name:<30} {job.schedule}{zone}  [{state}]  {job.source}:{job.line}"
            f"{'  as ' + job.user if job.user else ''}"
        )


def _rewrite_options(function: click.decorators.FC) -> click.decorators.FC:
    for decorator in reversed(
        [
            click.option("--user", "-u", "user", help="The crontab of USER (as root)."),
            click.option(
                "--file",
                "-f",
                "file",
                metavar="FILE",
                help="A crontab file, e.g. /etc/cron.d/backup.",
            ),
            click.option(
                "--system", is_flag=True, help="/etc/crontab and the files in /etc/cron.d."
            ),
            click.option(
                "--format",
                "file_format",
                type=click.Choice(["system", "user"]),
                default="system",
                show_default=True,
                help="For --file: system format has a user field after the schedule.",
            ),
            click.option("--dry-run", is_flag=True, help="Print the diff, change nothing."),
            click.option("--yes", "-y", is_flag=True, help="Apply without asking."),
            click.option(
                "--state-dir",
                envvar="SMARTCRON_STATE_DIR",
                help="Where backups go (as smartcron-wrap's --state-dir).",
            ),
            _places_options,
        ]
    ):
        function = decorator(function)
    return function


@main.command("wrap-crontab")
@_rewrite_options
@click.option(
    "--wrap-path",
    help="Absolute path of smartcron-wrap to write into the lines "
    "(default: the one installed beside this agent).",
)
@click.option("--skip-reboot", is_flag=True, help="Leave @reboot lines as they are.")
def wrap_crontab_command(wrap_path: str | None, skip_reboot: bool, **options: object) -> None:
    """Put every job line of a crontab behind smartcron-wrap."""
    path = wrap_path or default_wrap_path()
    if not path:
        raise UsageProblem("smartcron-wrap not found; install smartcron or pass --wrap-path")
    if not os.path.isabs(path):
        raise UsageProblem(f"--wrap-path {path!r} is not absolute; cron's PATH may not find it")
    request = _request(options)
    request.wrap_path = path
    request.skip_reboot = skip_reboot
    sys.exit(run_rewrite(request, unwrap=False))


@main.command("unwrap-crontab")
@_rewrite_options
def unwrap_crontab_command(**options: object) -> None:
    """Give a wrapped crontab back its original lines, byte for byte."""
    sys.exit(run_rewrite(_request(options), unwrap=True))


def _request(options: dict[str, object]) -> Request:
    user, file, system = options["user"], options["file"], options["system"]
    if sum(bool(x) for x in (user, file, system)) > 1:
        raise UsageProblem("give one of --user, --file and --system")
    notes: list[str] = []
    if system:
        try:
            targets, notes = system_targets(
                str(options["system_crontab"]), str(options["cron_dir"])
            )
        except SourceError as error:
            raise UsageProblem(str(error)) from None
    elif file:
        targets = [Target("file", path=str(file), system=options["file_format"] == "system")]
    else:
        targets = [Target("user", user=str(user) if user else None, system=False)]
    state_dir = options["state_dir"] or default_state_dir(os.environ)
    return Request(
        targets=targets,
        dry_run=bool(options["dry_run"]),
        yes=bool(options["yes"]),
        state_dir=os.path.abspath(str(state_dir)),
        notes=tuple(notes),
        skip_unreadable=bool(system),
    )


# -- the daemon: run, once, status ---------------------------------------------------------


def _settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--config", metavar="FILE", help="TOML file with an [agent] table"),
        click.option("--collector", metavar="URL", help="the collector's base URL"),
        click.option("--token", metavar="TOKEN", help="ingest token, or file:PATH"),
        click.option("--state-dir", metavar="DIR", help="the wrappers' state directory"),
        click.option("--interval", metavar="DUR", help="time between passes (run), default 30s"),
        click.option("--batch-size", metavar="N", help="reports per POST, default 500"),
        click.option("--connect-timeout", metavar="DUR", help="default 5s"),
        click.option("--read-timeout", metavar="DUR", help="default 30s"),
        click.option("--backoff-min", metavar="DUR", help="first wait while the collector is down"),
        click.option("--backoff-max", metavar="DUR", help="longest wait, default 5m"),
        click.option("--host", metavar="NAME", help="this host's name, default the node name"),
        click.option("--system-crontab", metavar="FILE", help="for the heartbeat's crontab scan"),
        click.option("--cron-dir", metavar="DIR", help="for the heartbeat's crontab scan"),
        click.option("--spool-dir", metavar="DIR", help="users' crontabs, for the scan"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _load(flags: dict[str, Any]) -> AgentSettings:
    from smartcron.wrapper.validate import SettingError

    from .settings import resolve_settings

    config = flags.pop("config", None)
    try:
        return resolve_settings(flags, os.environ, config)
    except SettingError as error:
        click.echo(f"smartcron-agent: error: {error}", err=True)
        sys.exit(EXIT_USAGE)


def _state(settings: AgentSettings) -> Any:
    from .onepass import UnsafeStateDir, open_state

    try:
        return open_state(settings)
    except UnsafeStateDir as error:
        click.echo(f"smartcron-agent: error: {error}", err=True)
        sys.exit(1)


@main.command()
@_settings_options
def run(**flags: Any) -> None:
    """The daemon (for systemd): a pass every --interval until SIGTERM."""
    settings = _load(flags)
    _state(settings)
    from .daemon import run_daemon

    sys.exit(run_daemon(settings))


@main.command()
@_settings_options
def once(**flags: Any) -> None:
    """One pass and exit (for a `* * * * *` crontab line)."""
    settings = _load(flags)
    _state(settings)
    from .onepass import run_pass

    if not run_pass(settings):
        click.echo("smartcron-agent: another agent is in a pass; nothing to do", err=True)


@main.command()
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def status(as_json: bool, **flags: Any) -> None:
    """Spool depth, last delivery, collector reachable, runs in flight, lost runs."""
    settings = _load(flags)
    state = _state(settings)
    from .status import format_status, gather_status

    found = gather_status(settings, state)
    click.echo(json.dumps(found, indent=2) if as_json else format_status(found))
