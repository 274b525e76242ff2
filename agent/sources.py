"""Where crontabs live, and reading and replacing them without surprises.

- a file is opened without following a link (O_NOFOLLOW) and must be a regular
  file: the agent often runs as root, and a link planted in /etc/cron.d must not
  make it read (or, on wrap, replace) a file somewhere else;
- a user's crontab goes through the crontab command, as cron wants (`crontab -l`,
  `crontab -`); which command is a setting (SMARTCRON_CRONTAB_COMMAND), so tests
  and chroots can point it elsewhere;
- a file is replaced atomically: a new file in the same directory, written,
  fsynced, given the old one's mode and owner, then renamed over it. An
  interrupted run leaves the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import stat
import subprocess
from dataclasses import dataclass

from .crontab import MAX_CRONTAB_BYTES

SYSTEM_CRONTAB = "/etc/crontab"
CRON_D = "/etc/cron.d"
# Debian's spool first, then cronie's.
SPOOL_DIRS = ("/var/spool/cron/crontabs", "/var/spool/cron")
CRONTAB_COMMAND_ENV = "SMARTCRON_CRONTAB_COMMAND"
_COMMAND_TIMEOUT_S = 60
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


class SourceError(OSError):
    """A crontab that cannot be read or written; the message names it and the fix."""


@dataclass(frozen=True)
class Target:
    """One crontab: a file, or a user's crontab behind the crontab command."""

    kind: str  # "file" or "user"
    path: str = ""  # for files
    user: str | None = None  # for "user": None is the invoking user
    system: bool = True  # six fields (a user field) or five

    @property
    def label(self) -> str:
        if self.kind == "file":
            return self.path
        return f"crontab of {self.user}" if self.user else "your crontab"


def read_target(target: Target) -> bytes:
    if target.kind == "file":
        return read_file(target.path)
    return read_user_crontab(target.user)


def read_file(path: str) -> bytes:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SourceError(
                f"{path} is a symbolic link; pass the file it points to "
                f"({os.path.realpath(path)}) if that is the crontab you mean"
            ) from None
        raise SourceError(f"cannot read {path} ({error.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(f"{path} is not a regular file, so it is not a crontab")
        chunks: list[bytes] = []
        size = 0
        # One byte past the limit is enough for the parser to refuse the file.
        while size <= MAX_CRONTAB_BYTES and (chunk := os.read(fd, 1024 * 1024)):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def crontab_command() -> list[str]:
    configured = os.environ.get(CRONTAB_COMMAND_ENV, "").strip()
    return shlex.split(configured) if configured else ["crontab"]


def read_user_crontab(user: str | None) -> bytes:
    """`crontab -l [-u USER]`; a user without a crontab has an empty one."""
    argv = [*crontab_command(), *(["-u", user] if user else []), "-l"]
    result = _run(argv, b"")
    if result.returncode != 0:
        message = "; ".join(result.stderr.decode(errors="replace").split("\n")).strip("; ")
        if "no crontab for" in message:
            return b""
        raise SourceError(f"{shlex.join(argv)} failed: {message or f'exit {result.returncode}'}")
    return result.stdout


def install_user_crontab(user: str | None, data: bytes) -> None:
    """`crontab [-u USER] -`: cron's own tool checks and installs it in one step."""
    argv = [*crontab_command(), *(["-u", user] if user else []), "-"]
    result = _run(argv, data)
    if result.returncode != 0:
        message = "; ".join(result.stderr.decode(errors="replace").split("\n")).strip("; ")
        raise SourceError(
            f"{shlex.join(argv)} refused the new crontab "
            f"({message or f'exit {result.returncode}'}); nothing was changed"
        )


def _run(argv: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, timeout=_COMMAND_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise SourceError(
            f"{argv[0]} not found; install cron, or set {CRONTAB_COMMAND_ENV}"
        ) from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{shlex.join(argv)} did not finish in {_COMMAND_TIMEOUT_S}s") from None


def replace_file(path: str, data: bytes) -> None:
    """Replace the file at `path` with `data` atomically, keeping its mode and owner."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{path} is no longer a regular file; nothing was changed")
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.smartcron-{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def install_target(target: Target, data: bytes, expected_old: bytes) -> None:
    """Install `data`, unless the crontab changed since it was read (someone ran
    crontab -e meanwhile): their edit must not be lost under ours."""
    if read_target(target) != expected_old:
        raise SourceError(
            f"{target.label} changed while this ran; nothing was changed, run it again"
        )
    if target.kind == "file":
        replace_file(target.path, data)
    else:
        install_user_crontab(target.user, data)


def system_targets(system_crontab: str, cron_d: str) -> tuple[list[Target], list[str]]:
    """/etc/crontab and the files of /etc/cron.d that cron reads, and the notes on
    those it skips (as cron does: names with a dot or `~`, links are not ours)."""
    targets = []
    notes: list[str] = []
    if os.path.lexists(system_crontab):
        targets.append(Target("file", path=system_crontab))
    try:
        names = sorted(os.listdir(cron_d))
    except FileNotFoundError:
        names = []
    except OSError as error:
        raise SourceError(f"cannot list {cron_d} ({error.strerror})") from None
    for name in names:
        path = os.path.join(cron_d, name)
        if not all(ch.isalnum() or ch in "-_" for ch in name):
            notes.append(f"{path}: skipped: cron ignores files whose names hold '.' or '~'")
            continue
        targets.append(Target("file", path=path))
    return targets, notes
