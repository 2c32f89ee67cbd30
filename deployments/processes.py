"""Knowing which processes are ours: a process's children and the flow runs among them.

The worker starts each flow run as a child, and a run starts its ffmpeg in a process group of
its own (reelflow/ffmpeg_tool.py). Such a group escapes a signal sent to the worker's group,
and a killed worker leaves it behind, reparented to init (and a run too, if a runner starts
runs in groups of their own). So whoever starts a worker watches its children and what they
start while it can still see them (`ChildWatch`), and stops exactly those later, matched by
pid and start time, never by looking for processes that merely resemble ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

RUN_ID_VARIABLE = b"PREFECT__FLOW_RUN_ID="


def children(pid: int) -> list[int]:
    """The direct children of `pid` (all its threads'), from /proc."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def start_time(pid: int) -> int | None:
    """Clock ticks after boot when `pid` started: with the pid, it names one process."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def state(pid: int) -> str:
    """`pid`'s state letter (R running, S sleeping, Z zombie: ended, not yet collected by its
    parent or init); "X" when there is no such process."""
    fields = _stat(pid)
    return fields[0] if fields else "X"


def living(pid: int, started: int | None) -> bool:
    """Whether the process `pid` that started at `started` still runs: a zombie has ended and
    only waits for its parent (or init, slow to collect here) to take its exit status."""
    return started is not None and start_time(pid) == started and state(pid) not in ("Z", "X")


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def flow_run_of(pid: int) -> str | None:
    """The flow run a child of ours is running: the runner puts it in the child's environment."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(RUN_ID_VARIABLE):
            return entry[len(RUN_ID_VARIABLE) :].decode()
    return None


def kill_group(pid: int, started: int | None, sig: int = signal.SIGKILL) -> bool:
    """Kill the process `pid` that started at `started`, its process group and everything
    below it with theirs; False when it is gone (or the pid now names another process).

    A flow run's ffmpeg runs in a process group of its own (reelflow/ffmpeg_tool.py, so that a
    timeout stops the tool with its children), which a signal to the run's group misses: left
    alone it went on encoding, orphaned, after its job was handed back. The run is stopped
    first (no new children while they are listed), then its descendants are listed while they
    are still its own, then all are killed."""
    if not living(pid, started):
        return False
    if sig == signal.SIGKILL:
        _signal(pid, signal.SIGSTOP)
    below = [(child, start_time(child)) for child in descendants(pid)]
    killed = _signal(pid, sig)
    for child, child_started in below:
        if child_started is not None and start_time(child) == child_started:
            _signal(child, sig)
    return killed


def descendants(pid: int) -> list[int]:
    """Children, their children and so on, from /proc."""
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


def give_up_cpu(nice: int) -> None:
    """Lower this process's CPU priority by `nice`, and its session's when it leads one.

    Linux's scheduler, with autogroups on (`/proc/sys/kernel/sched_autogroup_enabled`, the
    default of most distributions), first shares the CPU equally between sessions and only
    then by nice within each. A worker niced alone, in a session of its own as `make up`
    starts it, still took a full share from the API in another session, and 50 POSTs at once
    waited together for up to 1.3 s while two jobs ran (README, "Under load"). Its flow runs
    and their ffmpeg inherit both. A session the worker does not lead (a user's terminal) is
    left as it is."""
    niced = os.nice(nice)
    if os.getsid(0) != os.getpid():
        return
    with contextlib.suppress(OSError):  # no autogroups in this kernel, or not allowed
        Path("/proc/self/autogroup").write_text(str(niced))


def autogroup_nice(pid: int) -> int | None:
    """The nice of `pid`'s session's autogroup; None without autogroups."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _signal(pid: int, sig: int) -> bool:
    """`sig` to the process, to its whole group when it leads one."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


class ChildWatch:
    """Remembers every child a process starts, by pid and start time, with its flow run id,
    and what each run has started below it (its ffmpeg, in a process group of its own).

    Prefect's runner starts a run in the worker's own process group, so a worker killed with
    its group takes its runs with it, but not their ffmpeg, which went on encoding, orphaned,
    out of reach of a list of the worker's children. Hence the runs' descendants are kept too.
    A thread looks every quarter second; a flow run lives for seconds to hours, and `scan()`
    runs once more just before the parent is stopped."""

    def __init__(self, pid: int, every_s: float = 0.25):
        self.pid = pid
        self.seen: dict[int, tuple[int, str | None]] = {}
        self.below: dict[int, set[tuple[int, int]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(every_s,), daemon=True)
        self._thread.start()

    def scan(self) -> None:
        for child in children(self.pid):
            started = start_time(child)
            with self._lock:
                known = self.seen.get(child)
            # A child seen between fork and exec has no run id yet: look again next time.
            if started is None or (known and known[0] == started and known[1] is not None):
                continue
            with self._lock:
                self.seen[child] = (started, flow_run_of(child))
        self._scan_below()

    def _scan_below(self) -> None:
        """Add what each live run has started below it; forget what has ended."""
        with self._lock:
            runs = [(pid, started) for pid, (started, run_id) in self.seen.items() if run_id]
        for pid, started in runs:
            if start_time(pid) != started:
                continue
            now = {(d, s) for d in descendants(pid) if (s := start_time(d)) is not None}
            with self._lock:
                kept = {(d, s) for d, s in self.below.get(pid, set()) if start_time(d) == s}
                self.below[pid] = kept | now

    def kill_children(self, flow_run_id: str | None = None) -> int:
        """SIGKILL the flow-run children seen (or the one running `flow_run_id`), with their
        process groups and whatever they started that still lives; how many runs had anything
        left to kill."""
        with self._lock:
            seen = list(self.seen.items())
            below = {pid: set(found) for pid, found in self.below.items()}
        killed = 0
        for pid, (started, run_id) in seen:
            if run_id is None or (flow_run_id is not None and run_id != flow_run_id):
                continue
            hit = kill_group(pid, started)
            for child, child_started in below.get(pid, ()):
                if living(child, child_started):
                    hit = _signal(child, signal.SIGKILL) or hit
            killed += hit
        return killed

    def alive(self, flow_run_id: str) -> list[int]:
        """The processes of that run, and below it, that still live (a zombie has ended)."""
        with self._lock:
            runs = [(pid, s) for pid, (s, run_id) in self.seen.items() if run_id == flow_run_id]
            found = runs + [entry for pid, _ in runs for entry in self.below.get(pid, ())]
        return [pid for pid, started in found if living(pid, started)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _watch(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.scan()
            if start_time(self.pid) is None:  # the parent is gone: nothing new will come
                return
