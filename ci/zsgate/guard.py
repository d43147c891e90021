# SPDX-License-Identifier: GPL-2.0
"""End every process a gate started when the gate ends, however it ends.

The gate (ci/zsgate/gate.py) re-executes itself under `python3 -I ci/zsgate/guard.py run --
python3 -m zsgate.gate ARGS` (any program: `run -- PROGRAM ARGS`). The
guard keeps the gate's pid and parent (make) and runs the gate as its child, with a tag in
the environment, ZSGATE_GUARD_<pid>_<random>=<pid>. Every process the gate starts inherits
the tag, also the ones that leave its process group or session (ci/vm starts QEMU with
setsid) and the orphans of a killed parent, which init adopts:
/proc/<pid>/environ is the environment a process was started with, so the tag finds them
all, and nothing else (another gate has another tag; the guard's own environment has none).

Sweep (sweep()): SIGSTOP every tagged process, again until no new one appears (a stopped
ci/ab boots no further VM, a stopped make starts no compiler), then SIGTERM and SIGCONT to
each, so each can clean up (kbuild's recipes delete their half-written target, ci/vm removes
its scratch dirs, QEMU exits), and SIGKILL to what is left after the grace period
(ZSGATE_GUARD_GRACE, 5 s). The selftests' own restore guardian (zsgate-guard, see
selftests/zsfree_common/swapfree.h) is left alone: it ends by itself once its test is gone.

When the guard sweeps:
- SIGTERM, SIGINT or SIGHUP to the guard (make forwards SIGTERM to it; Ctrl-C reaches it
  through the terminal's process group; the gate runs in a process group of its own):
  the run is marked interrupted (RUN_DIR/gate.interrupted), everything is swept, the guard
  dies of the same signal (so a calling shell, e.g. ci/check, stops too).
- its parent dies (kill -9 of make): under make (MAKELEVEL is set) or with
  ZSGATE_FOLLOW_PARENT=1 the guard asks PR_SET_PDEATHSIG for SIGTERM, so that is the case
  above. Started by hand from a shell (nohup ci/gate &) it outlives the shell.
- the gate ends (normally or killed): whatever it left running is swept and named.
- the guard itself is killed with SIGKILL: a watcher process it forked first (no tag, deaf
  to SIGINT/SIGTERM/SIGHUP) sees it go (pidfd) and sweeps.
The gate tells the guard its run directory and its last log line through the state
file named by ZSGATE_GUARD_STATE (zsgate/gate.py; zsgate/log.py writes the
line); a run that did not finish keeps RUN_DIR/gate.running, and ci/summary fails a run
dir holding either marker.
"""

import ctypes
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from types import FrameType
from typing import Dict, Iterable, List, Optional, Set

if not __package__:  # run as a file: python3 -I ci/zsgate/guard.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zsgate import rundir  # noqa: E402
from zsgate.log import log, set_step  # noqa: E402

PR_SET_PDEATHSIG = 1
SPARE = {"zsgate-guard"}  # the selftests' restore guardian: it must finish its restore
GRACE = float(os.environ.get("ZSGATE_GUARD_GRACE", "5"))


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _comm(pid: int) -> str:
    b = _read(f"/proc/{pid}/comm")
    return b.decode(errors="replace").strip() if b else "?"


def tagged(tag: str, exclude: Iterable[int] = ()) -> List[int]:
    """Live processes started with `tag` in their environment (not zombies, not us)."""
    needle = tag.encode() + b"="
    skip = set(exclude) | {os.getpid()}
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in skip:
            continue
        env = _read(f"/proc/{d}/environ")
        if env and any(e.startswith(needle) for e in env.split(b"\0")):
            found.append(int(d))
    return found


def targets(tag: str, exclude: Iterable[int] = ()) -> List[int]:
    """The tagged processes a sweep ends (all but the selftests' restore guardian)."""
    return [p for p in tagged(tag, exclude) if _comm(p) not in SPARE]


def _signal(pids: Iterable[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def sweep(tag: str, exclude: Iterable[int] = (), grace: float = GRACE) -> Dict[str, int]:
    """Stop, terminate, and finally kill every tagged process. Returns {comm: count} of
    what was found (empty: nothing was left)."""
    exclude = set(exclude)
    stopped: Set[int] = set()
    names: Dict[str, int] = {}
    for _ in range(100):
        new = [p for p in targets(tag, exclude) if p not in stopped]
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        for p in new:
            names[_comm(p)] = names.get(_comm(p), 0) + 1
        stopped.update(new)
        time.sleep(0.02)  # a fork in flight shows up in the next scan
    if not stopped:
        return names
    _signal(stopped, signal.SIGTERM)
    # continue the deepest first, their parents when they are gone (or after 0.5 s): a child
    # cleans up (ci/vm removes its scratch dirs) before its parent can SIGKILL it on its own
    # way out (a Python step's subprocess.run does)
    deadline = time.time() + grace
    for level in _levels(stopped):
        _signal(level, signal.SIGCONT)
        end = min(deadline, time.time() + 0.5)
        while time.time() < end and any(_alive(p) for p in level):
            time.sleep(0.02)
    while time.time() < deadline:
        left = targets(tag, exclude)
        if not left:
            return names
        _signal([p for p in left if p not in stopped], signal.SIGTERM)  # started meanwhile
        stopped.update(left)
        time.sleep(0.05)
    for _ in range(20):
        left = targets(tag, exclude)
        if not left:
            break
        _signal(left, signal.SIGKILL)
        time.sleep(0.05)
    return names


def _ppid(pid: int) -> Optional[int]:
    st = _read(f"/proc/{pid}/stat")
    try:
        return int(st[st.rindex(b")") + 2:].split()[1]) if st else None
    except (ValueError, IndexError):
        return None


def _levels(pids: Set[int]) -> List[List[int]]:
    """`pids` by depth in their own process tree, the deepest first."""
    parent = {p: _ppid(p) for p in pids}
    depth: Dict[int, int] = {}

    def d(p: int, seen: int = 0) -> int:
        if p not in depth:
            q = parent.get(p)
            depth[p] = d(q, seen + 1) + 1 if q in parent and seen < 64 else 0
        return depth[p]
    by: Dict[int, List[int]] = {}
    for p in pids:
        by.setdefault(d(p), []).append(p)
    return [by[k] for k in sorted(by, reverse=True)]


def describe(names: Dict[str, int]) -> str:
    n = sum(names.values())
    what = ", ".join(f"{c} x{k}" if k > 1 else c for c, k in sorted(names.items()))
    return f"{n} process{'es' if n != 1 else ''} ({what})"


def _pidfd(pid: int) -> Optional[int]:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None


def _alive(pid: int) -> bool:
    st = _read(f"/proc/{pid}/stat")
    if not st:
        return False
    return st[st.rindex(b")") + 2:st.rindex(b")") + 3] not in (b"Z", b"X")


def _wait_gone(pid: int, timeout: Optional[float]) -> bool:
    """Wait until `pid` (not our child) is gone; False on timeout."""
    fd = _pidfd(pid)
    if fd is None:  # no pidfd (Linux < 5.3): poll
        end = None if timeout is None else time.time() + timeout
        while _alive(pid):
            if end is not None and time.time() > end:
                return False
            time.sleep(0.2)
        return True
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        while True:
            try:
                return bool(p.poll(None if timeout is None else int(timeout * 1000)))
            except InterruptedError:
                continue
    finally:
        os.close(fd)


class State:
    """What the gate tells the guard: `run DIR` when it has a run directory, `last
    LINE` (zsgate.log's log()) for what it was doing, `done` right before it exits."""

    def __init__(self, path: str):
        self.path = path

    def read(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        b = _read(self.path)
        for line in (b or b"").decode(errors="replace").splitlines():
            k, _, v = line.partition(" ")
            out[k] = v
        b = _read(self.path + ".last")
        if b:
            out["last"] = b.decode(errors="replace").strip()
        return out

    def mark(self, why: str) -> Optional[str]:
        """Write RUN_DIR/gate.interrupted (when the gate has a run dir yet)."""
        st = self.read()
        run = st.get("run")
        if not run or not os.path.isdir(run):
            return None
        with open(rundir.path(run, rundir.INTERRUPTED), "w", encoding="utf-8") as f:
            f.write(f"{why}; last step: {st.get('last', '?')}; "
                    f"at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        return run


def _watcher(guard: int, tag: str, state: State) -> None:
    """Forked first by the guard: sweeps when the guard is gone, however it went."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    os.setsid()  # a kill of the gate's process group or session does not reach it
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        _wait_gone(guard, None)
        if "done" in state.read():
            return
        names = sweep(tag)
        run = state.mark("the gate was killed (SIGKILL?)")
        log(f"the gate (pid {guard}) was killed: ended {describe(names)} it had started"
            + (f"; {run} is marked interrupted" if run else ""))
        if run:
            _summary(run)
    finally:
        for p in (state.path, state.path + ".last"):
            try:
                os.unlink(p)
            except OSError:
                pass
        os._exit(0)


def _summary(run_dir: str) -> None:
    """ci/summary of an interrupted run: summary.json and the verdict line say FAIL and why."""
    summary = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "summary")
    try:
        subprocess.run([summary, run_dir], stdin=subprocess.DEVNULL, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        log(f"ci/summary of {run_dir} failed: {e}")


def run(cmd: List[str]) -> int:
    """The guard: run `cmd` (the gate) tagged, sweep when it or the guard ends."""
    me = os.getpid()
    tag = f"ZSGATE_GUARD_{me}_{os.urandom(4).hex()}"
    fd, spath = tempfile.mkstemp(prefix="zsgate-guard-", suffix=".state")
    os.close(fd)
    state = State(spath)
    sys.stdout.flush()
    sys.stderr.flush()
    w = os.fork()
    if w == 0:
        _watcher(me, tag, state)
    follow = os.environ.get("ZSGATE_FOLLOW_PARENT", "1" if os.environ.get("MAKELEVEL") else "0")
    parent = os.getppid()
    got: List[int] = []

    def on_signal(sig: int, _frame: Optional[FrameType]) -> None:
        if not got:
            got.append(sig)
            raise KeyboardInterrupt
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    if follow not in ("", "0") and parent > 1:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # it died before the prctl
            os.kill(me, signal.SIGTERM)
    env = dict(os.environ, ZSGATE_GUARDED=str(me), ZSGATE_GUARD_STATE=spath, **{tag: str(me)})
    p = None
    rc = 1
    try:
        # its own process group: Ctrl-C reaches the guard (in the terminal's group), which
        # ends everything in order, instead of each step dying of SIGINT on its own
        # (stdin: nothing in a gate asks; a background group reading the terminal would stop)
        p = subprocess.Popen(cmd, env=env, preexec_fn=os.setpgrp, stdin=subprocess.DEVNULL)
        rc = p.wait()
    except KeyboardInterrupt:
        pass
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    if got:
        name = signal.Signals(got[0]).name
        st = state.read()
        log(f"interrupted by {name} (last: {st.get('last', '?')}): ending everything the gate started")
        t0 = time.time()
        run_dir = state.mark(f"interrupted by {name}")
        names = sweep(tag, exclude=[w])
        log(f"ended {describe(names)} in {time.time() - t0:.1f} s"
            + (f"; {run_dir} is marked interrupted (its results are not a verdict)" if run_dir else ""))
        if run_dir:
            _summary(run_dir)
        rc = 128 + got[0]
    else:
        run_dir = None
        if rc < 0:  # the gate itself was killed
            run_dir = state.mark(f"the gate script was killed by {signal.Signals(-rc).name}")
            log(f"the gate script was killed by {signal.Signals(-rc).name}"
                + (f"; {run_dir} is marked interrupted" if run_dir else ""))
            rc = 128 - rc
        names = sweep(tag, exclude=[w])
        if names:
            log(f"the gate left {describe(names)} running: ended them")
        if run_dir:
            _summary(run_dir)
    with open(spath, "a", encoding="utf-8") as f:
        f.write("done\n")
    if got:  # die of the signal, as a shell expects of its child (bash ci/check stops too)
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(got[0], signal.SIG_DFL)
        os.kill(me, got[0])
    return rc


def main(argv: Optional[List[str]] = None) -> int:
    set_step("gate")
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "run" and argv[1] == "--":
        return run(argv[2:])
    if len(argv) == 2 and argv[0] == "sweep":
        names = sweep(argv[1])
        print(describe(names))
        return 0
    print("usage: python3 -m zsgate.guard run -- CMD... | sweep TAG", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
