"""What smartcron-wrap costs a job, against the peers it replaces, measured in one run.

    .venv/bin/python bench/wrap_overhead.py [--rounds N] [--sleep-seconds S] [--wrap-cmd CMD]

Prints figures and a PASS/MISS per target for people to read; it never asserts.
Only the standard library and psutil (a dependency of smartcron itself) are used.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.table import BenchError, Row, print_table

MIB = 1024 * 1024
POLL_S = 0.010
PR_SET_CHILD_SUBREAPER = 36
TREE_ENV = "SMARTCRON_BENCH_TREE"

# A job tree that makes teardown hard: every process ignores SIGTERM (the ignored
# disposition survives fork and exec), one subtree nests a shell, and one process
# double-forks into a session of its own so that killing the process group misses it.
TREE_SCRIPT = f"""\
export {TREE_ENV}="$1"
trap '' TERM
sleep 300 &
sh -c 'sleep 300 & sleep 300' &
(setsid sh -c 'sleep 300 & exec sleep 300' &)
wait
"""


@dataclass(frozen=True)
class Reaped:
    """What os.wait4 said about a process, and when it was reaped."""

    exit_code: int  # negative: killed by that signal
    wall_s: float
    maxrss_kib: int
    cpu_s: float


@dataclass
class Bench:
    wrap: list[str]
    tmp: Path
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def state_dir(self) -> Path:
        """A fresh state directory: every wrapper run starts from nothing."""
        return Path(tempfile.mkdtemp(prefix="state-", dir=self.tmp))

    def wrap_argv(
        self, name: str, command: Sequence[str], *options: str, state: Path | None = None
    ) -> list[str]:
        state = state or self.state_dir()
        return [*self.wrap, "--name", name, "--state-dir", str(state), *options, "--", *command]

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


# -- processes ---------------------------------------------------------------------------------


def spawn(argv: Sequence[str], env: dict[str, str], stderr_path: Path) -> int:
    """Start argv with no input, output discarded and stderr kept in a file; return its pid."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, str(stderr_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    return os.posix_spawnp(argv[0], list(argv), env, file_actions=actions)


def try_reap(pid: int, started: float) -> Reaped | None:
    """Reap pid if it has ended. wait4's rusage covers the process and the children it reaped."""
    got, status, usage = os.wait4(pid, os.WNOHANG)
    if got == 0:
        return None
    return Reaped(
        exit_code=os.waitstatus_to_exitcode(status),
        wall_s=time.perf_counter() - started,
        maxrss_kib=usage.ru_maxrss,
        cpu_s=usage.ru_utime + usage.ru_stime,
    )


def reap(pid: int, started: float, limit_s: float) -> Reaped:
    """Wait for pid, killing it past limit_s so that a hung command cannot hang the benchmark."""
    while True:
        done = try_reap(pid, started)
        if done is not None:
            return done
        if time.perf_counter() - started > limit_s:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise BenchError(f"pid {pid} still running after {limit_s:.0f} s; killed it")
        time.sleep(0.005)


def run_reaped(bench: Bench, argv: Sequence[str], limit_s: float, expect: int = 0) -> Reaped:
    stderr_path = bench.tmp / "stderr.txt"
    started = time.perf_counter()
    pid = spawn_from_small_parent(argv, bench.env, stderr_path)
    done = reap(pid, started, limit_s)
    check_exit(bench, argv, done.exit_code, expect, stderr_path.read_text(errors="replace"))
    return done


@contextmanager
def subreaper() -> Iterator[None]:
    """Adopt orphaned descendants for the duration, so that wait4 can reap them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise BenchError(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def spawn_from_small_parent(argv: Sequence[str], env: dict[str, str], stderr_path: Path) -> int:
    """Start argv as a fork of `setsid -f` rather than of this process; return its pid.

    Linux carries the pre-exec memory's high-water mark into ru_maxrss, so a command
    forked from this benchmark would report at least the benchmark's own RSS. `setsid -f`
    (small, C) forks, execs argv and exits; the orphan is reparented to us, the subreaper.
    Call inside subreaper().
    """
    known = {child.pid for child in psutil.Process().children()}
    trampoline = spawn(["setsid", "-f", *argv], env, stderr_path)
    _, status = os.waitpid(trampoline, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"setsid -f {shlex.join(argv)} failed: {stderr_path.read_text()}")
    adopted = [child.pid for child in psutil.Process().children() if child.pid not in known]
    if len(adopted) != 1:
        raise BenchError(f"expected one adopted child of setsid -f, found {adopted}")
    return adopted[0]


def check_exit(
    bench: Bench, argv: Sequence[str], code: int, expect: int | None, stderr: str
) -> None:
    """Keep the first stderr line as a note; stop unless the exit code is expect (None: any)."""
    if stderr.strip():
        first = stderr.strip().splitlines()[0]
        bench.note(f"stderr of {shlex.join(argv[:1])}: {first[:160]}")
    if expect is not None and code != expect:
        raise BenchError(
            f"{shlex.join(argv)} exited {code}, expected {expect}; stderr: {stderr.strip()[:400]}"
        )


def run_timed(bench: Bench, argv: Sequence[str]) -> float:
    """Wall seconds of one run of argv, output discarded; a failing run stops the benchmark."""
    started = time.perf_counter()
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=bench.env,
        timeout=60,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise BenchError(f"{shlex.join(argv)} exited {proc.returncode}")
    return elapsed


# -- 1. wall time ------------------------------------------------------------------------------


def check_commands(bench: Bench, commands: dict[str, Callable[[], list[str]]]) -> None:
    """Run each command once with stderr kept, so that a broken one fails loudly, not fast."""
    for make in commands.values():
        argv = make()
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, env=bench.env, check=False
        )
        check_exit(bench, argv, proc.returncode, 0, proc.stderr.decode(errors="replace"))
    state = bench.state_dir()
    run_timed(bench, bench.wrap_argv("t", ["true"], state=state))
    if not any(state.glob("spool/*.json")) and not any(state.glob("logs/*.jsonl")):
        bench.note(f"the wrapper left no report in spool/ or logs/ of {state}")


def measure_wall(bench: Bench, rounds: int, warmups: int) -> list[Row]:
    lock = bench.tmp / "peer.lock"
    commands: dict[str, Callable[[], list[str]]] = {
        "wrap": lambda: bench.wrap_argv("t", ["true"]),
        "python": lambda: [sys.executable, "-c", "pass"],
        "shell": lambda: ["flock", "-n", str(lock), "timeout", "60", "true"],
    }
    check_commands(bench, commands)
    times: dict[str, list[float]] = {key: [] for key in commands}
    for index in range(warmups + rounds):
        # Alternate the commands inside each round so that drift hits all three alike.
        for key, make in commands.items():
            argv = make()  # state dir made outside the timed span
            elapsed = run_timed(bench, argv)
            if index >= warmups:
                times[key].append(elapsed)
    wrap, python, shell = (statistics.median(times[k]) * 1000 for k in commands)
    vs_python = statistics.median(
        w / p for w, p in zip(times["wrap"], times["python"], strict=True)
    )
    vs_shell = statistics.median(w / s for w, s in zip(times["wrap"], times["shell"], strict=True))
    return [
        Row(
            "wall: wrap true / python -c pass",
            f"{wrap:.1f} ms",
            f"{python:.1f} ms",
            f"{vs_python:.2f}x",
            "<= 5x",
            vs_python <= 5,
        ),
        Row(
            "wall: wrap true / flock+timeout true",
            f"{wrap:.1f} ms",
            f"{shell:.1f} ms",
            f"{vs_shell:.2f}x",
            "-",
            None,
        ),
    ]


# -- 2. peak RSS -------------------------------------------------------------------------------


def measure_rss(bench: Bench) -> list[Row]:
    with subreaper():
        return rss_rows(bench)


def rss_rows(bench: Bench) -> list[Row]:
    python = statistics.median(
        run_reaped(bench, [sys.executable, "-c", "pass"], 30).maxrss_kib for _ in range(3)
    )
    true_kib = statistics.median(
        run_reaped(bench, bench.wrap_argv("r", ["true"]), 30).maxrss_kib for _ in range(3)
    )
    sleep_kib = run_reaped(bench, bench.wrap_argv("r", ["sleep", "2"]), 30).maxrss_kib
    rows = []
    for label, kib in (("true", true_kib), ("sleep 2", sleep_kib)):
        rows.append(
            Row(
                f"peak RSS: wrap {label} / python -c pass",
                f"{kib / 1024:.1f} MiB",
                f"{python / 1024:.1f} MiB",
                f"{kib / python:.2f}x",
                "<= 30 MiB",
                kib <= 30 * 1024,
            )
        )
    return rows


# -- 3. CPU while supervising ------------------------------------------------------------------


def measure_cpu(bench: Bench, sleep_s: float) -> list[Row]:
    """Wrapper and peer supervise the same sleep side by side, so the peer costs no extra time."""
    duration = f"{sleep_s:g}"
    wrap_argv = bench.wrap_argv("s", ["sleep", duration])
    peer_argv = ["flock", "-n", str(bench.tmp / "cpu.lock"), "timeout", "60", "sleep", duration]
    started = time.perf_counter()
    wrap_pid = spawn(wrap_argv, bench.env, bench.tmp / "cpu-wrap.err")
    peer_pid = spawn(peer_argv, bench.env, bench.tmp / "cpu-peer.err")
    # Steady state: the wrapper's own CPU between two samples taken once it has started
    # up, so that interpreter start-up, which the total includes, is left out.
    samples: list[tuple[float, float]] = []
    wrap: Reaped | None = None
    peer: Reaped | None = None
    limit = sleep_s + 60
    while wrap is None or peer is None:
        now = time.perf_counter() - started
        if now > limit:
            for pid in (wrap_pid, peer_pid):
                kill_quietly(pid)
            raise BenchError(f"cpu run still going after {limit:.0f} s; killed it")
        if wrap is None:
            wrap = try_reap(wrap_pid, started)
            if wrap is None and min(1.0, sleep_s / 4) <= now <= sleep_s - 0.2:
                sample = cpu_of(wrap_pid)
                if sample is not None and (not samples or now - samples[-1][0] >= 0.5):
                    samples.append((now, sample))
        if peer is None:
            peer = try_reap(peer_pid, started)
        time.sleep(POLL_S)
    check_exit(bench, wrap_argv, wrap.exit_code, 0, (bench.tmp / "cpu-wrap.err").read_text())
    check_exit(bench, peer_argv, peer.exit_code, 0, (bench.tmp / "cpu-peer.err").read_text())
    ours = 100 * wrap.cpu_s / wrap.wall_s
    theirs = 100 * peer.cpu_s / peer.wall_s
    if len(samples) >= 2:
        (t1, c1), (t2, c2) = samples[0], samples[-1]
        bench.note(
            f"cpu: the wrapper alone, after start-up ({t1:.1f}-{t2:.1f} s): "
            f"{100 * (c2 - c1) / (t2 - t1):.3f} % of a core; the total also counts "
            f"interpreter start-up and the reaped sleep"
        )
    return [
        Row(
            f"cpu: wrap sleep {duration} / flock+timeout",
            f"{ours:.3f} %",
            f"{theirs:.3f} %",
            f"{ours / theirs:.0f}x" if theirs > 0 else "-",
            "<= 1 %",
            ours <= 1,
        )
    ]


def cpu_of(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# -- 4. tree teardown after a timeout ----------------------------------------------------------


@dataclass(frozen=True)
class Teardown:
    late_s: float | None  # last process gone, after timeout + kill-after; None: never
    survivors: int
    most_seen: int
    exit_code: int


def find_tree(marker: str, exclude: int) -> dict[int, psutil.Process]:
    """Live (non-zombie) processes carrying marker in argv or in their environment.

    A full scan costs about 10 ms here, so it runs only until the deadline and to
    confirm an empty tree; in between, the processes already found are polled.
    """
    found = {}
    for proc in psutil.process_iter():
        if proc.pid in (exclude, os.getpid()):
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if marker in proc.cmdline() or proc.environ().get(TREE_ENV) == marker:
                found[proc.pid] = proc
        except psutil.Error:
            continue
    return found


def still_alive(procs: dict[int, psutil.Process]) -> dict[int, psutil.Process]:
    alive = {}
    for pid, proc in procs.items():
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive[pid] = proc
        except psutil.Error:
            continue
    return alive


def run_teardown(
    bench: Bench, argv_for: Callable[[list[str]], list[str]], cap_s: float, expect: int | None
) -> Teardown:
    """Start a tree under a supervisor; poll until the tree is gone, or give up after cap_s."""
    marker = uuid.uuid4().hex
    argv = argv_for(["sh", "-c", TREE_SCRIPT, "sh", marker])
    timeout, deadline = 1.0, 2.0  # --timeout 1s, then --kill-after 1s
    stderr_path = bench.tmp / "teardown.err"
    started = time.perf_counter()
    pid = spawn(argv, bench.env, stderr_path)
    supervisor: Reaped | None = None
    most_seen = 0
    late: float | None = None
    tree: dict[int, psutil.Process] = {}
    while True:
        now = time.perf_counter() - started
        if supervisor is None:
            supervisor = try_reap(pid, started)
        if now < deadline:
            tree.update(find_tree(marker, exclude=pid))
        tree = still_alive(tree)
        most_seen = max(most_seen, len(tree))
        if not tree and most_seen and now >= timeout:
            tree = find_tree(marker, exclude=pid)  # none missed by the cheap poll?
            if not tree:
                late = now - deadline
                break
        if now > deadline + cap_s:
            break
        time.sleep(POLL_S)
    for proc in tree.values():  # left behind by the supervisor: we started them, we end them
        try:
            proc.kill()
        except psutil.Error:
            continue
    if supervisor is None:
        supervisor = reap(pid, started, deadline + cap_s + 30)
    if most_seen == 0:
        raise BenchError(f"no process of the tree was ever seen: {shlex.join(argv)}")
    check_exit(bench, argv, supervisor.exit_code, expect, stderr_path.read_text(errors="replace"))
    return Teardown(late, len(tree), most_seen, supervisor.exit_code)


def measure_teardown(bench: Bench, repeats: int, cap_s: float) -> list[Row]:
    ours: list[Teardown] = []
    peers: list[Teardown] = []
    for _ in range(repeats):
        ours.append(
            run_teardown(
                bench,
                lambda cmd: bench.wrap_argv("k", cmd, "--timeout", "1s", "--kill-after", "1s"),
                cap_s,
                expect=124,
            )
        )
        peer = run_teardown(bench, lambda cmd: ["timeout", "-k", "1s", "1s", *cmd], cap_s, None)
        peers.append(peer)
    bench.note(
        f"teardown: tree of up to {max(t.most_seen for t in ours)} processes; processes "
        f"left after {cap_s:g} s past the deadline: wrap {[t.survivors for t in ours]}, "
        f"timeout(1) {[t.survivors for t in peers]}"
    )
    our_late = median_late(ours)
    peer_late = median_late(peers)
    ratio = "-"
    if our_late is not None and peer_late is not None and peer_late > 0:
        ratio = f"{our_late / peer_late:.2f}x"
    return [
        Row(
            "teardown: last of tree gone after timeout+kill-after (wrap / timeout -k)",
            format_late(our_late, cap_s),
            format_late(peer_late, cap_s),
            ratio,
            "<= 0.5 s",
            our_late is not None and our_late <= 0.5,
        )
    ]


def median_late(runs: list[Teardown]) -> float | None:
    """Median lateness; a run whose tree outlived the cap counts as infinitely late."""
    values = [t.late_s if t.late_s is not None else float("inf") for t in runs]
    middle = statistics.median_high(values)
    return None if middle == float("inf") else middle


def format_late(late: float | None, cap_s: float) -> str:
    return f"> {cap_s:g} s (escaped)" if late is None else f"{late:+.3f} s"


# -- report ------------------------------------------------------------------------------------


def default_wrap_cmd() -> str:
    # The console script sits beside the interpreter of the venv it was installed into.
    return str(Path(sys.executable).parent / "smartcron-wrap")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--warmups", type=int, default=3, help="untimed rounds first (3)")
    parser.add_argument(
        "--sleep-seconds", type=float, default=30, help="length of the CPU run (default 30)"
    )
    parser.add_argument("--teardown-repeats", type=int, default=5, help="default 5")
    parser.add_argument(
        "--teardown-cap",
        type=float,
        default=3,
        help="give up on a tree this many seconds after timeout+kill-after (default 3)",
    )
    parser.add_argument(
        "--wrap-cmd",
        default=default_wrap_cmd(),
        help="the wrapper command, shell-quoted (default: smartcron-wrap beside sys.executable)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmups < 0 or args.sleep_seconds <= 0:
        parser.error("--rounds must be >= 1, --warmups >= 0 and --sleep-seconds > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wrap = shlex.split(args.wrap_cmd)
    missing = [
        tool for tool in (wrap[0], "flock", "timeout", "setsid", "sh") if not shutil.which(tool)
    ]
    if missing:
        print(f"wrap_overhead: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    # No collector, no config and no state dir from the caller's environment: the wrapper
    # runs with what the command line gives it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCRON_")}
    with tempfile.TemporaryDirectory(prefix="smartcron-bench-") as tmp:
        bench = Bench(wrap=wrap, tmp=Path(tmp), env=env)
        print(f"wrapper: {shlex.join(wrap)}")
        print(f"python:  {sys.executable} ({sys.version.split()[0]}), {os.cpu_count()} cpus")
        try:
            rows = measure_wall(bench, args.rounds, args.warmups)
            rows += measure_rss(bench)
            rows += measure_cpu(bench, args.sleep_seconds)
            rows += measure_teardown(bench, args.teardown_repeats, args.teardown_cap)
        except (BenchError, OSError) as error:
            print(f"wrap_overhead: {error}", file=sys.stderr)
            return 1
    print(
        f"\n{args.rounds} rounds after {args.warmups} warm-ups; medians; ratio = median of ratios"
    )
    print_table(rows)
    for text in bench.notes:
        print(f"note: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
