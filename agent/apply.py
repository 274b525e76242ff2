"""wrap-crontab and unwrap-crontab: read, show the diff, ask, back up, install.

The order is the safety: nothing is written before the diff was shown and
accepted, and nothing is installed before its backup is on disk. With several
crontabs (--system), each is backed up and installed on its own, so a failure
leaves every crontab either as it was or fully rewritten.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

import click

from .backup import BackupError, write_backup
from .crontab import Crontab, CrontabError, parse_crontab
from .linecheck import check_with_wrapper
from .rewrite import Rewrite, unified_diff, unwrap_crontab, wrap_crontab, wrapped_names
from .sources import SourceError, Target, install_target, read_target


class UsageProblem(click.ClickException):
    """Bad input: one line naming the problem and the fix, exit 2."""

    exit_code = 2


@dataclass
class Request:
    targets: list[Target]
    dry_run: bool
    yes: bool
    state_dir: str
    wrap_path: str = ""
    skip_reboot: bool = False
    notes: tuple[str, ...] = ()
    # --system: one unreadable file in /etc/cron.d is set aside, not a reason to stop
    skip_unreadable: bool = False


def run_rewrite(request: Request, *, unwrap: bool) -> int:
    """Exit status: 0 done (or nothing to do), 1 declined or failed, 2 bad input."""
    for note in request.notes:
        click.echo(note, err=True)
    plans: list[tuple[Target, Rewrite]] = []
    crontabs = _read_all(request.targets, request.skip_unreadable)
    # The system crontabs share the host's (root's) state directory, locks and
    # breakers: a name in use in one of them is taken for all.
    reserved: set[str] = set().union(*(wrapped_names(crontab) for _, crontab in crontabs))
    for target, crontab in crontabs:
        if unwrap:
            rewrite = unwrap_crontab(crontab)
        else:
            rewrite = wrap_crontab(
                crontab,
                request.wrap_path,
                skip_reboot=request.skip_reboot,
                reserved=reserved,
                check=check_with_wrapper,
            )
            reserved |= _names_in(rewrite, target)
        for note in rewrite.notes:
            click.echo(f"{target.label}: {note}", err=True)
        if not rewrite.changed:
            click.echo(f"{target.label}: nothing to change", err=True)
            continue
        click.echo(unified_diff(target.label, rewrite.old, rewrite.new), nl=False)
        plans.append((target, rewrite))
    if not plans or request.dry_run:
        if plans:
            click.echo("--dry-run: nothing was changed", err=True)
        return 0
    if not request.yes and not _confirm(len(plans)):
        click.echo("nothing was changed", err=True)
        return 1
    return _install_all(plans, request.state_dir)


def _read_all(targets: list[Target], skip_unreadable: bool) -> list[tuple[Target, Crontab]]:
    crontabs = []
    for target in targets:
        try:
            data = read_target(target)
            crontabs.append(
                (target, parse_crontab(data, source=target.label, system=target.system))
            )
        except (SourceError, CrontabError) as error:
            if not skip_unreadable:
                raise UsageProblem(str(error)) from None
            click.echo(f"skipped: {error}", err=True)
    return crontabs


def _names_in(rewrite: Rewrite, target: Target) -> set[str]:
    # The names just given in one crontab are taken for the next.
    return wrapped_names(parse_crontab(rewrite.new, source=target.label, system=target.system))


def _confirm(count: int) -> bool:
    if not sys.stdin.isatty():
        click.echo("not a terminal to ask on: pass --yes to apply, or --dry-run", err=True)
        return False
    what = "this crontab" if count == 1 else f"these {count} crontabs"
    return click.confirm(f"Apply the change to {what}?", default=False, err=True)


def _install_all(plans: list[tuple[Target, Rewrite]], state_dir: str) -> int:
    status = 0
    for target, rewrite in plans:
        try:
            backup = write_backup(state_dir, _backup_label(target), rewrite.old)
            install_target(target, rewrite.new, rewrite.old)
        except (BackupError, SourceError, OSError) as error:
            click.echo(f"{target.label}: not changed: {error}", err=True)
            status = 1
            continue
        click.echo(f"{target.label}: changed {len(rewrite.changed)} line(s); backup {backup}")
    return status


def _backup_label(target: Target) -> str:
    if target.kind == "file":
        return target.path.strip("/").replace("/", "_")
    return f"user-{target.user or _whoami()}"


def _whoami() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def default_wrap_path(find: Callable[[str], str | None] = shutil.which) -> str | None:
    """The installed smartcron-wrap beside this interpreter (cron's PATH is short:
    /usr/bin:/bin), else the one on PATH, as an absolute path."""
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "smartcron-wrap")
    if os.access(beside, os.X_OK):
        return beside
    found = find("smartcron-wrap")
    return os.path.abspath(found) if found else None
