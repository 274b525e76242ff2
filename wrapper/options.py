"""The wrapper's options: one table drives the command line, the environment,
the config file, `--help` and the sources shown by `--dry-run`.

Parsing is done here by hand rather than with click: the wrapper runs on every
cron tick, and click's import alone costs more than twice Python's own start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import limits
from . import validate as v
from .expect import ALERT_AFTER_DEFAULT
from .zone import parse_timezone

if TYPE_CHECKING:
    from collections.abc import Callable

VALUE, FLAG, TOGGLE = "value", "flag", "toggle"


class Option:
    __slots__ = ("config", "default", "env", "help", "kind", "metavar", "name", "parse")

    def __init__(
        self,
        name: str,
        kind: str,
        parse: Callable[[object, str], object] | None,
        default: object,
        help: str,
        *,
        metavar: str = "",
        env: str | None = None,
        config: bool = True,
    ) -> None:
        self.name = name  # attribute name; the flag is --name-with-dashes
        self.kind = kind
        self.parse = parse
        self.default = default
        self.help = help
        self.metavar = metavar
        self.env = env
        self.config = config  # may be set in the config file

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _count(low: int, high: int) -> Callable[[object, str], object]:
    return lambda value, option: v.parse_int(value, option, low, high)


OPTIONS: tuple[Option, ...] = (
    Option(
        "name",
        VALUE,
        v.parse_name,
        None,
        "job name (default: derived from the command)",
        metavar="NAME",
        config=False,
    ),
    Option("timeout", VALUE, v.parse_duration, None, "hard limit for one attempt", metavar="DUR"),
    Option(
        "kill_after",
        VALUE,
        v.parse_duration,
        10.0,
        "grace between SIGTERM to the job's group and SIGKILL",
        metavar="DUR",
    ),
    Option(
        "retries",
        VALUE,
        _count(0, limits.RETRIES_MAX),
        0,
        "extra attempts after a failed one",
        metavar="N",
    ),
    Option(
        "retry_delay",
        VALUE,
        v.parse_duration,
        10.0,
        "first delay between attempts; doubles each time, with jitter",
        metavar="DUR",
    ),
    Option(
        "retry_max_delay",
        VALUE,
        v.parse_duration,
        600.0,
        "cap on the delay between attempts",
        metavar="DUR",
    ),
    Option("retry_timeouts", FLAG, v.parse_bool, False, "retry attempts that timed out too"),
    Option("lock", TOGGLE, v.parse_bool, True, "one run of NAME at a time on this host"),
    Option(
        "lock_wait",
        VALUE,
        v.parse_duration,
        0.0,
        "wait this long for the lock, then skip",
        metavar="DUR",
    ),
    Option(
        "max_memory",
        VALUE,
        v.parse_size,
        None,
        "kill the run when the whole tree's RSS exceeds this",
        metavar="SIZE",
    ),
    Option("breaker", TOGGLE, v.parse_bool, True, "skip runs after repeated failures"),
    Option(
        "breaker_threshold",
        VALUE,
        _count(1, limits.BREAKER_THRESHOLD_MAX),
        5,
        "failed runs within the window that open the breaker",
        metavar="N",
    ),
    Option(
        "breaker_window",
        VALUE,
        v.parse_duration,
        3600.0,
        "window in which failures are counted",
        metavar="DUR",
    ),
    Option(
        "breaker_cooldown",
        VALUE,
        v.parse_duration,
        3600.0,
        "time an open breaker waits before a trial run",
        metavar="DUR",
    ),
    Option(
        "schedule",
        VALUE,
        v.parse_schedule,
        None,
        "the line's cron schedule, for missed-run detection and --dry-run",
        metavar="CRON",
    ),
    Option(
        "timezone",
        VALUE,
        parse_timezone,
        None,
        "IANA zone the schedule is read in (default: CRON_TZ, TZ, /etc/localtime, UTC)",
        metavar="ZONE",
    ),
    Option(
        "priority",
        VALUE,
        _count(limits.PRIORITY_MIN, limits.PRIORITY_MAX),
        5,
        "1 (critical) to 10 (lowest)",
        metavar="N",
    ),
    Option(
        "grace",
        VALUE,
        v.parse_duration,
        None,
        "how late a run may start before it counts as missed "
        "(default: the larger of 5m and 10 % of the interval)",
        metavar="DUR",
        env="SMARTCRON_GRACE",
    ),
    Option(
        "min_duration",
        VALUE,
        v.parse_duration,
        None,
        "a successful run shorter than this raises too_fast",
        metavar="DUR",
        env="SMARTCRON_MIN_DURATION",
    ),
    Option(
        "max_duration",
        VALUE,
        v.parse_duration,
        None,
        "a successful run longer than this raises too_slow",
        metavar="DUR",
        env="SMARTCRON_MAX_DURATION",
    ),
    Option(
        "alert_after",
        VALUE,
        _count(1, limits.ALERT_AFTER_MAX),
        ALERT_AFTER_DEFAULT,
        "consecutive failures that raise consecutive_failures",
        metavar="N",
        env="SMARTCRON_ALERT_AFTER",
    ),
    Option("tags", VALUE, v.parse_tags, (), "comma-separated tags for the report", metavar="A,B"),
    Option(
        "jitter",
        VALUE,
        v.parse_duration,
        0.0,
        "random delay before the first attempt",
        metavar="DUR",
    ),
    Option("quiet", FLAG, v.parse_bool, False, "print the job's output only when the run fails"),
    Option(
        "output_stall",
        VALUE,
        v.parse_duration,
        2.0,
        "a reader of the output that takes nothing this long has stalled: the output "
        "is dropped (counted, kept in the report) until it reads again",
        metavar="DUR",
        env="SMARTCRON_OUTPUT_STALL",
    ),
    Option(
        "collector",
        VALUE,
        v.parse_url,
        None,
        "where reports go",
        metavar="URL",
        env="SMARTCRON_COLLECTOR_URL",
    ),
    Option(
        "token",
        VALUE,
        v.parse_token,
        None,
        "ingest token, or file:PATH",
        metavar="TOKEN",
        env="SMARTCRON_TOKEN",
    ),
    Option(
        "delivery_timeout",
        VALUE,
        v.parse_duration,
        5.0,
        "deadline for the whole POST to the collector; then the report stays spooled",
        metavar="DUR",
        env="SMARTCRON_DELIVERY_TIMEOUT",
    ),
    Option(
        "state_dir",
        VALUE,
        v.parse_text,
        None,
        "state directory",
        metavar="DIR",
        env="SMARTCRON_STATE_DIR",
    ),
    Option(
        "config",
        VALUE,
        v.parse_text,
        None,
        "config file with [defaults] and [jobs.NAME]",
        metavar="FILE",
        env="SMARTCRON_CONFIG",
        config=False,
    ),
    Option(
        "dry_run", FLAG, v.parse_bool, False, "validate, print the plan, run nothing", config=False
    ),
    Option(
        "reset_breaker",
        FLAG,
        v.parse_bool,
        False,
        "close the breaker of --name by hand and exit",
        config=False,
    ),
)

BY_NAME = {option.name: option for option in OPTIONS}
_BY_FLAG: dict[str, tuple[Option, bool]] = {}
for _option in OPTIONS:
    _BY_FLAG[_option.flag] = (_option, True)
    if _option.kind == TOGGLE:
        _BY_FLAG["--no-" + _option.flag[2:]] = (_option, False)


class ParsedArgs:
    """What the command line said: raw option values (not yet validated) and the command."""

    __slots__ = ("command", "help", "values", "version")

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.command: list[str] = []
        self.help = False
        self.version = False


def parse_argv(argv: list[str]) -> ParsedArgs:
    """Split `[OPTIONS] -- COMMAND [ARG...]`. The command may also start at the
    first word that is not an option, as with timeout(1) and nice(1)."""
    parsed = ParsedArgs()
    args = iter(argv)
    for arg in args:
        if arg == "--":
            parsed.command = list(args)
            break
        if arg in ("-h", "--help"):
            parsed.help = True
            continue
        if arg == "--version":
            parsed.version = True
            continue
        if not arg.startswith("-") or arg == "-":
            parsed.command = [arg, *args]
            break
        flag, has_value, value = arg.partition("=")
        if flag not in _BY_FLAG:
            raise v.SettingError(_unknown_flag(flag))
        option, positive = _BY_FLAG[flag]
        if option.kind == VALUE:
            if not has_value:
                following = next(args, None)
                if following is None:
                    raise v.SettingError(f"{flag} needs a value, e.g. {flag} {option.metavar}")
                value = following
            parsed.values[option.name] = value
        elif has_value:
            raise v.SettingError(f"{flag} takes no value; write {flag} alone")
        else:
            parsed.values[option.name] = positive
    return parsed


def _unknown_flag(flag: str) -> str:
    import difflib  # only on the error path

    close = difflib.get_close_matches(flag, _BY_FLAG, n=1)
    hint = f"did you mean {close[0]}?" if close else "see smartcron-wrap --help"
    return f"no such option {flag} ({hint})"


def unknown_config_key(key: str) -> str:
    import difflib  # only on the error path

    known = [o.name for o in OPTIONS if o.config]
    close = difflib.get_close_matches(key.replace("-", "_"), known, n=1)
    return f"did you mean {close[0]!r}?" if close else "see smartcron-wrap --help for the options"


def help_text() -> str:
    lines = [
        "usage: smartcron-wrap [OPTIONS] -- COMMAND [ARG...]",
        "",
        "Run COMMAND under a lock, a timeout, retries, a circuit breaker and a memory cap,",
        "and record the run. Exit status: the job's own; 124 timeout; 126/127 cannot run /",
        "not found; 0 for a run skipped by the lock, the breaker or a pause; 2 bad usage.",
        "",
        "COMMAND is executed directly, without a shell: a line with &&, |, ;, > or $(...)",
        "is written as  -- /bin/sh -c 'TEXT'  (as cron itself runs the text of a line).",
        "",
        "options:",
    ]
    for option in OPTIONS:
        flag = option.flag
        if option.kind == TOGGLE:
            flag = f"{flag} / --no-{flag[2:]}"
        elif option.kind == VALUE:
            flag = f"{flag} {option.metavar}"
        extra = f" [env {option.env}]" if option.env else ""
        lines.append(f"  {flag:28s} {option.help}{extra}")
    lines.append(f"  {'--version':28s} print the version and exit")
    lines.append("\nDurations: 90, 90s, 10m, 1h30m. Sizes: 512M, 2G. Docs: docs/wrapper.md")
    return "\n".join(lines)
