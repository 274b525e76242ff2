"""One run of a job, start to finish: the order of the gates, the attempts, the record.

    paused? ─► jitter ─► lock ─► breaker ─► attempt (retries) ─► report ─► exit
       │                  │         │
       └─ skipped_paused  └─ skipped_locked  └─ skipped_breaker   (recorded, exit 0)

Anything that goes wrong with monitoring (state dir, spool, log) is a warning;
only the lock, the breaker and a pause ever stop the job from running.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import time
from typing import TYPE_CHECKING

from . import breaker as brk
from .console import is_terminal
from .control import Control, read_control
from .expect import expect_of
from .guardian import Guardian
from .limits import REASON_MAX
from .lock import JobLock
from .output import StreamCapture
from .passthrough import finish_passthrough, reserve_standard_fds
from .report import as_text, build_report, cut_to, new_run_id
from .retry import retry_delay, should_retry
from .runlog import append_delivery, append_run
from .running import RUN_ID_ENV, RunMarker, find_lost_runs, leftover_processes, lost_run_report
from .settings import Settings
from .signals import SignalBox
from .spawn import become_subreaper, spawn_job
from .spool import reject_report, spool_report
from .state import StateDir, Warnings, remove_file, set_aside
from .supervise import Attempt, Limits, supervise
from .trust import TRUST_FIX

if TYPE_CHECKING:
    from .deliver import Outcome

EXIT_TIMEOUT = 124
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127


class Result:
    """How the wrapper should end: an exit code, or the job's fatal signal re-raised."""

    def __init__(self, exit_code: int, reraise: int | None = None) -> None:
        self.exit_code = exit_code
        self.reraise = reraise


class RunContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = StateDir(settings.state_dir)
        self.warnings = Warnings()
        self.run_id = new_run_id()
        self.started_at = time.time()
        self.breaker_state = brk.CLOSED
        self.trigger = "manual" if is_terminal(0) else "cron"
        self.recording = True  # False: the state directory is not to be touched at all
        self.supervision_failed = False  # an attempt had to be seen through by lastresort
        self.lock_error: str | None = None  # why the run went without the lock it wanted
        # Held from the job's start to the wrapper's end: a signal that comes after the
        # job has ended must not kill the wrapper before the run is logged.
        self.signals: SignalBox | None = None
        self._recorded: list[tuple[dict[str, object], str | None]] = []

    def report(self, status: str, **fields: object) -> dict[str, object]:
        s = self.settings
        return build_report(
            run_id=self.run_id,
            job=s.name,
            command=s.command,
            schedule=s.schedule,
            timezone=s.timezone,
            expect=expect_of(s),
            priority=s.priority,
            tags=s.tags,
            status=status,
            started_at=fields.pop("started_at", self.started_at),  # type: ignore[arg-type]
            finished_at=fields.pop("finished_at", time.time()),  # type: ignore[arg-type]
            breaker_state=self.breaker_state,
            trigger=self.trigger,
            lock_error=self.lock_error,
            **fields,  # type: ignore[arg-type]
        )

    def state_trouble(self, what: str, error: OSError) -> None:
        """The state directory failed us: say so once, whatever else fails after."""
        self.warnings.once(
            "state",
            f"state directory {self.state.root} is not usable ({what}: {error}); "
            f"job {self.settings.name!r} runs anyway, but may be unlocked or unrecorded. "
            "Fix its permissions or free space, or pass --state-dir",
        )

    def lock_trouble(self, error: OSError) -> None:
        """No lock to be had (a read-only or full state directory where the job never
        ran): the job runs all the same, since monitoring never blocks it, but an
        overlap must not go unnoticed. One warning, and the report carries the reason."""
        self.lock_error = f"{error.strerror or error}: {error.filename or self.state.root}"
        self.warnings.once(
            "state",
            f"state directory {self.state.root} is not usable (taking the lock: {error}); "
            f"job {self.settings.name!r} runs without its lock, so a run of it that starts "
            "meanwhile may overlap this one, and this run may go unrecorded. Make the state "
            "directory writable (a read-only or full file system?), or pass --state-dir",
        )

    def supervision_trouble(self, error: Exception) -> None:
        """The supervision loop failed: the job is seen through without it (lastresort)."""
        self.supervision_failed = True
        self.warnings.once(
            "supervision",
            f"supervising job {self.settings.name!r} failed ({type(error).__name__}: {error}); "
            "it is seen through all the same (stopped at its --timeout, reported, no more "
            "retries), but its memory is no longer measured or capped. If the wrapper ran "
            "out of something (open files: ulimit -n), raise it; otherwise report a bug",
        )

    def output_trouble(self, error: OSError) -> None:
        """--quiet's temporary file failed us: the run goes on, a person frees the disk."""
        self.warnings.once(
            "quiet",
            f"--quiet cannot hold the job's output ({error}); what it could not hold will "
            "not be printed (the report keeps the newest 64 KiB). Free space in $TMPDIR",
        )

    def check_trust(self) -> None:
        """Refuse a state directory someone else could plant links in: the job then runs
        unlocked and unrecorded (a report still goes to the collector, if there is one)."""
        from .trust import prepare_state_dir

        try:
            problem = prepare_state_dir(self.state.root)
        except OSError as error:
            self.recording = False
            self.state_trouble("creating it", error)
            return
        if problem is not None:
            self.recording = False
            self.warnings.once(
                "state",
                f"state directory {self.state.root} is not safe to use ({problem}); "
                f"job {self.settings.name!r} runs anyway, unlocked and unrecorded. {TRUST_FIX}",
            )

    def set_aside_bad(self, path: str, problem: str) -> None:
        """A state file that is not valid: moved out of the way (NAME.corrupt) with one
        warning, and the run goes on as if the file had never been there."""
        try:
            where = f"set aside as {set_aside(path)}"
        except OSError as error:
            where = f"could not be set aside ({error.strerror})"
        self.warnings.once(
            f"corrupt:{os.path.dirname(path)}",
            f"{path} is not valid ({problem}); {where}, and job {self.settings.name!r} "
            "runs as if it were new. Look at it, then delete it",
        )

    def record(self, report: dict[str, object]) -> None:
        """Spool the report now (durable) and log it; deliver it in finish(). The log
        line comes before any delivery, so a slow collector never delays it."""
        spooled = None
        if self.recording:
            try:
                spooled = spool_report(self.state, report)
            except OSError as error:
                self.state_trouble("writing the run report", error)
            try:
                append_run(self.state, self.settings.name, report)
            except OSError as error:
                self.state_trouble("appending to the job's log", error)
        self._recorded.append((report, spooled))

    def hold_signals(self) -> SignalBox:
        """Record SIGTERM, SIGINT and SIGHUP from now on (the main loop acts on them)."""
        if self.signals is None:
            self.signals = SignalBox()
        return self.signals

    def finish(self) -> None:
        """After the lock is released: deliver each report within one deadline, and
        log what the collector answered (logs/delivery/NAME.jsonl). A report safely
        spooled but not delivered is no reason to print anything (the agent ships
        it). A signal to the wrapper meanwhile ends the delivery, never the logging."""
        if self.settings.collector and self._recorded:
            self.hold_signals()
        try:
            if self.settings.collector:
                self._deliver_all()
            self._recorded.clear()
        finally:
            if self.signals is not None:
                self.signals.restore()
                self.signals = None  # a signal that cut the delivery short is done with

    def _deliver_all(self) -> None:
        deadline = time.monotonic() + self.settings.delivery_timeout
        for report, spooled in self._recorded:
            outcome = self._deliver(report, spooled, deadline - time.monotonic())
            if not self.recording:
                continue
            try:
                run_id = str(report["run_id"])
                append_delivery(self.state, self.settings.name, run_id, outcome.as_log())
            except OSError as error:
                self.state_trouble("appending to the job's delivery log", error)

    def _deliver(self, report: dict[str, object], spooled: str | None, budget: float) -> Outcome:
        from .deliver import DELIVERED, KEPT, REJECTED, Outcome, cut_short_by, deliver_report

        assert self.settings.collector is not None
        if self.signals is not None and self.signals.pending:
            outcome = Outcome(KEPT, cut_short_by(self.signals.pending[0]))
        elif budget <= 0:
            outcome = Outcome(
                KEPT, f"no time left of the {self.settings.delivery_timeout:g}s delivery deadline"
            )
        else:
            outcome = deliver_report(
                self.settings.collector,
                self.settings.token,
                report,
                budget,
                self.settings.delivery_timeout,
                self.signals,
            )
        if outcome.result == DELIVERED and spooled:
            remove_file(spooled)
        elif outcome.result == REJECTED and spooled:
            try:
                reject_report(self.state, spooled, outcome.reason or "rejected")
            except OSError as error:
                self.state_trouble("moving a rejected report to spool/rejected", error)
        elif outcome.result != DELIVERED and not spooled:
            # Neither spooled nor delivered: this one a person must hear about.
            self.warnings.once("collector", f"report not delivered ({outcome.reason}); it is lost")
        return outcome


def run(settings: Settings) -> Result:
    reserve_standard_fds()  # before the lock or any pipe can take fd 1 or 2
    ctx = RunContext(settings)
    ctx.check_trust()
    try:
        return _run_gated(ctx)
    finally:
        ctx.finish()  # the lock is free by now: a slow collector never holds it


def _run_gated(ctx: RunContext) -> Result:
    settings = ctx.settings
    if _control(ctx).is_paused(settings.name):
        return _skip(ctx, "skipped_paused")

    if settings.jitter > 0:
        import random

        time.sleep(random.uniform(0, settings.jitter))

    lock = _take_lock(ctx)
    if lock is False:
        return _skip(ctx, "skipped_locked")
    try:
        _recover_lost_runs(ctx)
        store, trial = _breaker_gate(ctx)
        if trial is None:
            return _skip(ctx, "skipped_breaker")
        return _run_attempts(ctx, store)
    finally:
        if isinstance(lock, JobLock):
            lock.release()


def _skip(ctx: RunContext, status: str) -> Result:
    """A run stopped by a gate: recorded, silent, exit 0 (cron mails nothing)."""
    if status != "skipped_breaker" and ctx.settings.breaker and ctx.recording:
        # Read without the breaker's lock: the report only describes the state.
        with contextlib.suppress(OSError):
            store = brk.BreakerStore(ctx.state.job_path(ctx.settings.name), ctx.set_aside_bad)
            ctx.breaker_state = store.load()["state"]
    ctx.record(ctx.report(status, exit_code=0))
    return Result(0)


def _control(ctx: RunContext) -> Control:
    if ctx.recording:
        try:
            return read_control(ctx.state.control_path(), ctx.set_aside_bad)
        except OSError as error:
            ctx.state_trouble("reading control.json", error)
    return Control(frozenset(), {})


def _take_lock(ctx: RunContext) -> JobLock | bool | None:
    """The held lock; False when another run holds it; None when locking is off
    or impossible (an unusable state dir must not stop the job)."""
    if not ctx.settings.lock:
        return None
    if not ctx.recording:  # refused or unusable: check_trust has said why, once
        ctx.lock_error = f"state directory {ctx.state.root} is not used"
        return None
    try:
        ctx.state.ensure("locks")
        lock = JobLock(ctx.state.lock_path(ctx.settings.name))
        return lock if lock.acquire(ctx.settings.lock_wait) else False
    except OSError as error:
        ctx.lock_trouble(error)
        return None


def _recover_lost_runs(ctx: RunContext) -> None:
    """Report earlier runs of this job whose wrapper died, and kill their leftovers."""
    if not ctx.recording:
        return
    try:
        lost = find_lost_runs(ctx.state, ctx.settings.name, ctx.set_aside_bad)
    except OSError:
        return
    for path, marker in lost:
        leftovers = leftover_processes(marker)
        if leftovers:
            from .proctree import kill_pids

            kill_pids(leftovers)
        ctx.record(lost_run_report(marker))
        try:
            remove_file(path)
        except OSError as error:
            ctx.state_trouble("removing a lost run's marker", error)


def _breaker_gate(ctx: RunContext) -> tuple[brk.BreakerStore | None, bool | None]:
    """(store, is_trial); is_trial None means skip. store None: no breaker this run."""
    s = ctx.settings
    if not s.breaker or not ctx.recording:
        return None, False
    try:
        ctx.state.ensure("jobs")
        store = brk.BreakerStore(ctx.state.job_path(s.name), ctx.set_aside_bad)
        reset_at = _control(ctx).reset_requested_at(s.name)
        with store.update() as box:
            box[0] = brk.apply_remote_reset(box[0], reset_at)
            decision = brk.decide(box[0], time.time(), s.breaker_cooldown)
            if decision == brk.TRIAL:
                box[0] = brk.start_trial(box[0], time.time())
            ctx.breaker_state = box[0]["state"]
    except OSError as error:
        ctx.state_trouble("reading the breaker", error)
        return None, False
    if decision == brk.SKIP:
        return store, None
    return store, decision == brk.TRIAL


def _run_attempts(ctx: RunContext, store: brk.BreakerStore | None) -> Result:
    s = ctx.settings
    ctx.started_at = time.time()  # the run's time excludes jitter and waiting for the lock
    marker = _create_marker(ctx)
    out = StreamCapture(1, quiet=s.quiet, on_trouble=ctx.output_trouble, stall_s=s.output_stall)
    err = StreamCapture(2, quiet=s.quiet, on_trouble=ctx.output_trouble, stall_s=s.output_stall)
    limits = Limits(s.timeout, s.kill_after, s.max_memory)
    guardian = Guardian()
    guardian.start()
    signals = ctx.hold_signals()  # restored by ctx.finish(), after the delivery
    become_subreaper()
    attempts: list[Attempt] = []
    # Every process of the job carries the run's id: what proves, after a crash, that a
    # process is a leftover of this run (running.leftover_processes).
    env = {**os.environ, RUN_ID_ENV: ctx.run_id}
    try:
        while True:
            tried_at = time.time()
            try:
                job = spawn_job(s.command, env)
            except OSError as error:
                # An attempt too (a retry's command may vanish, or fork meet EAGAIN):
                # the attempts before it keep their own outcomes, and this one says why.
                attempts.append(_failed_spawn(s.command[0], error, tried_at))
                break
            guardian.watch(job.pid)
            if marker is not None:
                try:
                    marker.set_child(job.pid)
                except OSError as error:
                    ctx.state_trouble("recording the run in flight", error)
            attempt = supervise(job, limits, signals, out, err, ctx.supervision_trouble)
            guardian.idle()
            attempts.append(attempt)
            if (
                ctx.supervision_failed
                or attempt.interrupted_by
                or not should_retry(attempt.status, len(attempts), s.retries, s.retry_timeouts)
            ):
                break
            delay = retry_delay(len(attempts), s.retry_delay, s.retry_max_delay)
            if not _pause(signals, delay):
                break
    finally:
        signals.take()  # acted on by the attempts; only later ones cut the delivery short
        guardian.stop()

    finished = time.time()
    last_attempt = attempts[-1]
    status, code = last_attempt.status, _exit_code(last_attempt)
    if last_attempt.error is not None:
        _say(last_attempt.error)
    ran = [a for a in attempts if a.error is None]  # the attempts that measured a job
    failed = status != "success"
    if s.quiet:
        for capture in (out, err):
            capture.release() if failed else capture.discard()
    finish_passthrough([out.passthrough, err.passthrough])
    out.passthrough.close()
    err.passthrough.close()

    if store is not None:
        _record_breaker(ctx, store, status)
    report = ctx.report(
        status,
        finished_at=finished,
        attempts=[a.as_report() for a in attempts],
        exit_code=last_attempt.exit_code,
        signal=last_attempt.signal,
        peak_rss_bytes=max((a.peak_rss for a in ran), default=0) or None,
        cpu_user_s=sum(a.cpu_user for a in ran) if ran else None,
        cpu_system_s=sum(a.cpu_system for a in ran) if ran else None,
        stdout_tail=out.tail_text(),
        stderr_tail=err.tail_text(),
        output_bytes=out.total + err.total,
        output_truncated=out.truncated or err.truncated,
        output_dropped_bytes=out.dropped + err.dropped,
        signal_denied=any(a.signal_denied for a in attempts),
    )
    ctx.record(report)
    if marker is not None:
        marker.remove()

    if last_attempt.interrupted_by and last_attempt.signal:
        return Result(code, reraise=last_attempt.signal)
    return Result(code)


def _create_marker(ctx: RunContext) -> RunMarker | None:
    from .clock import iso

    if not ctx.recording:
        return None
    try:
        s = ctx.settings
        about: dict[str, object] = {"job": s.name, "command": s.command, "schedule": s.schedule,
                                    "timezone": s.timezone, "priority": s.priority,
                                    "tags": list(s.tags), "timeout_s": s.timeout}  # fmt: skip
        return RunMarker.create(ctx.state, ctx.run_id, iso(ctx.started_at), about)
    except OSError as error:
        ctx.state_trouble("recording the run in flight", error)
        return None


def _record_breaker(ctx: RunContext, store: brk.BreakerStore, status: str) -> None:
    s = ctx.settings
    try:
        with store.update() as box:
            box[0] = brk.record(box[0], time.time(), status, s.breaker_threshold, s.breaker_window)
            ctx.breaker_state = box[0]["state"]
    except OSError as error:
        ctx.state_trouble("updating the breaker", error)


def _pause(signals: SignalBox, seconds: float) -> bool:
    """Sleep between attempts; False if a signal to the wrapper cut it short."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        select.select([signals.wake_fd], [], [], remaining)
        signals.drain()
        if signals.pending:
            return False
    return True


def _exit_code(attempt: Attempt) -> int:
    if attempt.status == "timeout":
        return EXIT_TIMEOUT
    if attempt.signal is not None:
        return 128 + attempt.signal
    if attempt.status == "killed_memory" and not attempt.exit_code:
        return 128 + 9
    return attempt.exit_code or 0


def _failed_spawn(program: str, error: OSError, tried_at: float) -> Attempt:
    """The attempt whose command could not be started: status error, the exit code the
    wrapper gives for it (127 not found, 126 not runnable), and why in words."""
    attempt = Attempt(tried_at)
    attempt.finished_at = time.time()
    attempt.exit_code = _exec_exit_code(error)
    message = f"cannot run {program!r}: {_exec_problem(error)}"
    attempt.error = cut_to(as_text(message), REASON_MAX)
    return attempt


def _exec_exit_code(error: OSError) -> int:
    return EXIT_NOT_FOUND if error.errno == errno.ENOENT else EXIT_CANNOT_EXECUTE


def _exec_problem(error: OSError) -> str:
    if error.errno == errno.ENOENT:
        return "command not found; check the path, or PATH in the crontab"
    if error.errno == errno.EACCES:
        return "permission denied; make it executable (chmod +x) or run it via its interpreter"
    if error.errno == errno.ENOEXEC:
        return "not an executable format; add a #! line or run it via its interpreter"
    return error.strerror or "exec failed"


def _say(message: str) -> None:
    from .passthrough import write_without_waiting

    # Never sys.stderr here: its write would block on a stalled reader.
    write_without_waiting(2, f"smartcron-wrap: error: {message}\n".encode())
