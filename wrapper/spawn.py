"""Start the job in a session of its own, tied to the wrapper's life.

- setsid(): the job and everything it starts share one process group, so a
  single killpg() reaches the whole tree (and a terminal's ^C reaches only us).
- PR_SET_PDEATHSIG: if the wrapper is SIGKILLed, the kernel kills the job's
  first process too, so no job runs on unsupervised.
- PR_SET_CHILD_SUBREAPER (on the wrapper): processes that leave the group by
  double-forking or setsid() re-parent to the wrapper instead of init, so they
  stay findable and killable.

fork/exec is written out here rather than using subprocess: the wrapper needs
the child-side prctl and full control of reaping, and subprocess's import is a
visible share of the wrapper's start-up.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Signals whose disposition Python changes at start-up or the wrapper handles:
# the job must start with the defaults, as it would under cron.
_RESTORE = ("SIGPIPE", "SIGXFSZ", "SIGTERM", "SIGINT", "SIGHUP", "SIGCHLD", "SIGQUIT")

_libc: list[ctypes.CDLL] = []  # loaded once, on first use


def _load_libc() -> ctypes.CDLL:
    if not _libc:
        _libc.append(ctypes.CDLL(None, use_errno=True))
    return _libc[0]


def _prctl(option: int, value: int) -> bool:
    return bool(_load_libc().prctl(option, value, 0, 0, 0) == 0)


def die_with_parent(signum: int) -> bool:
    """Have the kernel send `signum` to this process when its parent dies (Linux).
    The caller checks os.getppid() afterwards: the parent may have died already."""
    return _prctl(PR_SET_PDEATHSIG, signum)


def become_subreaper() -> bool:
    """Adopt the job's orphans (Linux 3.4+). False where the kernel refuses."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


class Spawned:
    __slots__ = ("pid", "stderr_fd", "stdout_fd")

    def __init__(self, pid: int, stdout_fd: int, stderr_fd: int) -> None:
        self.pid = pid  # also the job's process group id and session id
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd


def spawn_job(argv: list[str], env: dict[str, str] | None = None) -> Spawned:
    """Fork and exec argv with its stdout and stderr on pipes to the wrapper, in the
    environment `env` (the wrapper's own when None).

    Raises OSError (errno ENOENT, EACCES, ENOEXEC ...) when the command cannot be
    executed, as subprocess does: the child reports exec's errno over a pipe that
    closes by itself on a successful exec.
    """
    _load_libc()  # before fork: the child should only exec
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    report_r, report_w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; covered by every test that runs a job
        _exec_child(argv, env, parent, out_w, err_w, report_w)
    for fd in (out_w, err_w, report_w):
        os.close(fd)
    with os.fdopen(report_r, "rb") as reader:
        failure = reader.read()
    if failure:
        os.waitpid(pid, 0)
        os.close(out_r)
        os.close(err_r)
        number = int(failure) if failure.isdigit() else 0
        raise OSError(number, os.strerror(number) if number else "exec failed", argv[0])
    return Spawned(pid, out_r, err_r)


def _exec_child(
    argv: list[str], env: dict[str, str] | None, parent: int, out_w: int, err_w: int, report_w: int
) -> None:
    code = b"0"
    try:
        os.setsid()
        die_with_parent(signal.SIGKILL)
        if os.getppid() != parent:  # the wrapper died before prctl took hold
            os._exit(1)
        for name in _RESTORE:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        if env is None:
            os.execvp(argv[0], argv)
        else:
            os.execvpe(argv[0], argv, env)
    except OSError as error:
        code = str(error.errno or 0).encode()
    finally:
        try:
            os.write(report_w, code)
        finally:
            os._exit(127)
