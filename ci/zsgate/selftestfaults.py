# SPDX-License-Identifier: GPL-2.0
"""The host kselftests killed at each phase (ci/selftests-faults, `./zsgate selftests-faults`,
stage 4b of make check): check that the host is put back (issue 16). Root, on the running
kernel; changes swap, zram and zswap like the tests do, and checks at the end that all of it
is as it was before (repairing if not).

Usage: ci/selftests-faults      (no options)

For zram_free and zswap_free, the case munmap.mb64.latency (ZSGATE_QUICK=1) dies by SIGKILL
(ZSGATE_FAULT, selftests/zsfree_common/swapfree.h zsf_fault()) at each phase: setup (every
change made), pageout (pages in the pool), verify (half of them read back), release (about
to munmap), drain (after it, waiting for the pool). Twice each:
  test      only the test process dies: its guardian must restore the host by itself;
  guardian  the guardian is killed first: the host stays changed (checked), and the next
            run (the same case, no fault) must repair it from the state file and pass.
The host state compared (host_state()): /proc/swaps (device, type, priority), the zram
devices and their disksize, every zswap parameter, zsgate loop devices, swap files and
state files.

  KSRC  kernel tree whose kselftest framework builds the tests (default: ci/source's)
  OUT   results (default <repo>/out/selftests-faults): faults.tap, build.out (the build:
        zsgate.selftests --build-only, its build.log and build/ beside), one log per run
        (<collection>-<phase>-<who>.log, and .log.next for the repairing run)

Prints TAP on stdout (and into OUT/faults.tap), then "# selftests-faults: N passed, M
failed"; at the end, whatever happened (a failure, an exception, SIGINT, SIGTERM, SIGHUP),
restore_all() runs every binary with ZSGATE_REPAIR=1 and says on stderr whether the host is
as it was before ("# the host is as it was before", else the differences). On a signal the
running test is stopped first (SIGTERM; its guardian restores what it changed).
Not root: "1..0 # SKIP needs root (swapon, zram, zswap)", exit 0.
Exit: 0 every case passed or skipped and the host is as it was; 1 a case failed, the build
failed or the host is not as it was at the end; 2 no kernel source; 128+N a signal N (1 when
the host could not be put back).
"""

import argparse
import difflib
import glob
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import IO, Any, List, Optional, Sequence

from . import config, selftests

ROOT = selftests.ROOT
PROG = "ci/selftests-faults"
PHASES = ("setup", "pageout", "verify", "release", "drain")
WHO = ("test", "guardian")
CASE = "munmap.mb64.latency"
CASE_TIMEOUT = 300   # seconds, each run of the case (timeout(1) in the bash version)
RESTORE_WAIT = 60    # seconds for a guardian to restore the host after its test died


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived (SIGINT: KeyboardInterrupt)."""

    def __init__(self, sig: int) -> None:
        super().__init__(sig)
        self.sig = sig


def _read(path: str) -> str:
    """$(cat path): its text without trailing newlines, "" when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().rstrip("\n")
    except OSError:
        return ""


def host_state() -> str:
    """Six lines: swaps, zram, zswap, loop, files, state (as the bash version's host_state)."""
    swaps: List[str] = []
    try:
        with open("/proc/swaps", encoding="utf-8") as f:
            for ln in f.read().splitlines()[1:]:
                w = ln.split()
                swaps.append(" ".join(w[i] if i < len(w) else "" for i in (0, 1, 4)))
    except OSError:
        pass
    zram = [f"{os.path.basename(d)}={_read(os.path.join(d, 'disksize'))}"
            for d in sorted(glob.glob("/sys/block/zram*"))]
    params = sorted(glob.glob("/sys/module/zswap/parameters/*")) or ["*"]  # bash: the pattern itself
    zswap = [f"{os.path.basename(p)}={_read(p)}" for p in params]
    try:
        r = subprocess.run(["losetup", "-a"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        loop = [ln for ln in r.stdout.splitlines() if "zsgate" in ln]
    except OSError:
        loop = []
    # ls sorts its arguments together
    files = sorted(glob.glob("/var/tmp/zsgate-swap.*") + glob.glob("/tmp/zsgate-swap.*"))
    state = sorted(glob.glob("/run/zsgate/*.state") + glob.glob("/tmp/zsgate/*.state"))
    return "\n".join([f"swaps: {';'.join(sorted(swaps))}", f"zram: {' '.join(zram)}",
                      f"zswap: {' '.join(zswap)}", f"loop: {' '.join(loop)}",
                      f"files: {' '.join(files)}", f"state: {' '.join(state)}"])


def _range(a: int, b: int) -> str:
    return f"{a + 1}" if b - a == 1 else f"{a + 1},{b}"


def diff(before: str, after: str) -> List[str]:
    """diff(1)'s normal output of two host states."""
    a, b = before.split("\n"), after.split("\n")
    out: List[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if op == "replace":
            out.append(f"{_range(i1, i2)}c{_range(j1, j2)}")
        elif op == "delete":
            out.append(f"{_range(i1, i2)}d{j1}")
        else:
            out.append(f"{i1}a{_range(j1, j2)}")
        out += ["< " + ln for ln in a[i1:i2]]
        if op == "replace":
            out.append("---")
        out += ["> " + ln for ln in b[j1:j2]]
    return out


def indented(lines: List[str]) -> str:
    return "".join(f"#   {ln}\n" for ln in lines)


def _stop(p: "subprocess.Popen[bytes]") -> None:
    """SIGTERM, then SIGKILL after 10 s: @p has ended when this returns."""
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def run_case(argv: Sequence[str], env: Any, log: str, timeout: int = CASE_TIMEOUT) -> int:
    """timeout 300 argv >log 2>&1: its exit code (124 on the timeout, 128+N for signal N).
    An exception (a signal) stops it first: SIGTERM, then SIGKILL after 10 s."""
    with open(log, "wb") as f:
        p = subprocess.Popen(list(argv), env=env, stdout=f, stderr=subprocess.STDOUT)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(p)
            return 124
        except BaseException:
            _stop(p)
            raise
    return 128 - rc if rc < 0 else rc


class Faults:
    """One ci/selftests-faults run: the binaries in @bin, the host state at the start."""

    def __init__(self, out: str, bin_dir: str, initial: str, stdout: IO[Any]) -> None:
        self.out = out
        self.bin = bin_dir
        self.initial = initial
        self.stdout = stdout
        self.tap: Optional[IO[str]] = None

    def restore_all(self, stream: Optional[IO[Any]]) -> bool:
        """Whatever happened: repair, and say (on @stream, None: nowhere) whether the host is
        as it was."""
        for c in config.COLLECTIONS:
            b = os.path.join(self.bin, c)
            if os.access(b, os.X_OK):
                subprocess.run([b], env=dict(os.environ, ZSGATE_REPAIR="1"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        now = host_state()
        if now != self.initial:
            if stream is not None:
                stream.write("# the host is NOT as it was before:\n" + indented(diff(self.initial, now)))
                stream.flush()
            return False
        if stream is not None:
            print("# the host is as it was before", file=stream, flush=True)
        return True

    def wait_state(self, want: str, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while host_state() != want:
            if time.monotonic() >= end:
                return False
            time.sleep(0.1)
        return True

    def say(self, text: str) -> None:
        """TAP to stdout and faults.tap (tee)."""
        self.stdout.write(text)
        self.stdout.flush()
        if self.tap is not None:
            self.tap.write(text)
            self.tap.flush()

    def case(self, n: int, c: str, ph: str, who: str) -> None:
        name = f"{c} killed at {ph} ({who})"
        log = os.path.join(self.out, f"{c}-{ph}-{who}.log")
        before = host_state()
        fault = ph if who == "test" else f"{ph},guardian"
        b = os.path.join(self.bin, c)
        t0 = time.time()
        run_case([b, "-r", CASE], dict(os.environ, ZSGATE_QUICK="1", ZSGATE_FAULT=fault), log)
        text = _read(log) + "\n"
        lines = text.splitlines()
        if any(ln.startswith("ok ") and "# SKIP" in ln[3:] for ln in lines):
            why = next(ln for ln in lines if "# SKIP" in ln)
            why = why[why.rindex("# SKIP") + len("# SKIP"):].lstrip(" ")
            self.say(f"ok {n} - {name} # SKIP {why}\n")
            return
        if f"zsgate: fault {fault}: SIGKILL" not in text:
            self.say(f"not ok {n} - {name}: the fault point was never reached (see {log})\n")
            self.restore_all(None)
            return
        if who == "test":
            if self.wait_state(before, RESTORE_WAIT):
                self.say(f"ok {n} - {name}: the guardian restored the host in {time.time() - t0:.1f} s\n")
            else:
                self.say(f"not ok {n} - {name}: host not restored within {RESTORE_WAIT} s:\n"
                         + indented(diff(before, host_state())))
                self.restore_all(None)
            return
        left = "|".join(ln[2:] for ln in diff(before, host_state()) if ln.startswith(">"))
        t1 = time.time()
        nxt = run_case([b, "-r", CASE], dict(os.environ, ZSGATE_QUICK="1"), log + ".next")
        if not left:
            self.say(f"not ok {n} - {name}: the host was left as it was: this case tested no repair\n")
        elif host_state() == before and nxt == 0 and any(ln.startswith("ok 1 ")
                                                         for ln in _read(log + ".next").splitlines()):
            self.say(f"ok {n} - {name}: left {left or 'nothing'}; the next run repaired it and passed "
                     f"({time.time() - t1:.1f} s)\n")
        else:
            self.say(f"not ok {n} - {name}: left {left or 'nothing'}; next run exit {nxt} (see {log}.next):\n"
                     + indented(diff(before, host_state())))
            self.restore_all(None)

    def cases(self) -> None:
        with open(os.path.join(self.out, "faults.tap"), "w", encoding="utf-8") as self.tap:
            self.say("TAP version 13\n")
            self.say(f"1..{len(config.COLLECTIONS) * len(PHASES) * len(WHO)}\n")
            n = 0
            for c in config.COLLECTIONS:
                for ph in PHASES:
                    for who in WHO:
                        n += 1
                        self.case(n, c, ph, who)
        self.tap = None


_stopping = False


def on_signal(sig: int, _frame: Optional[FrameType]) -> None:
    """The first SIGTERM/SIGHUP/SIGINT ends the cases; one during the final restore_all()
    is not let cut it short."""
    if not _stopping:
        raise Interrupted(sig)


def run(stdout: Optional[IO[Any]] = None) -> int:
    """The whole run, TAP on @stdout (default sys.stdout); the exit code (module docstring).
    Install on_signal for SIGTERM/SIGHUP around it to have them restore the host too (main()
    does)."""
    so = sys.stdout if stdout is None else stdout
    if os.geteuid() != 0:  # as the tests themselves: a SKIP with the reason
        so.write("TAP version 13\n1..0 # SKIP needs root (swapon, zram, zswap)\n")
        so.flush()
        return 0
    ksrc = selftests.find_ksrc(PROG)
    if not ksrc:
        return 2
    out = os.path.abspath(os.environ.get("OUT") or os.path.join(ROOT, "out", "selftests-faults"))
    os.makedirs(out, exist_ok=True)
    f = Faults(out, os.path.join(out, "build"), host_state(), so)
    global _stopping
    _stopping = False
    rc = 1
    try:
        rc = _run(f, ksrc, out, so)
    except Interrupted as e:
        rc = 128 + e.sig
    except KeyboardInterrupt:
        rc = 128 + signal.SIGINT
    finally:
        # the EXIT trap of the bash version: `restore_all >&2 || exit 1`
        _stopping = True
        try:
            if not f.restore_all(sys.stderr):
                rc = 1
        finally:
            _stopping = False
    return rc


def _run(f: Faults, ksrc: str, out: str, so: IO[Any]) -> int:
    build_out = os.path.join(out, "build.out")
    with open(build_out, "w", encoding="utf-8") as b:
        brc = selftests.run(selftests.Request(ksrc=ksrc, out=out, build_only=True), stdout=b, stderr=b)
    if brc != 0:
        selftests.cat(build_out, so)
        print(f"{PROG}: build failed", file=sys.stderr, flush=True)
        return 1
    f.cases()
    with open(os.path.join(out, "faults.tap"), encoding="utf-8") as t:
        tap = t.read().splitlines()
    bad = sum(1 for ln in tap if ln.startswith("not ok"))
    good = sum(1 for ln in tap if ln.startswith("ok"))
    print(f"# selftests-faults: {good} passed, {bad} failed", file=so, flush=True)
    return 0 if bad == 0 else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/selftests-faults (sys.argv[1:] when None: no arguments); the exit code (module
    docstring). SIGTERM and SIGHUP, like SIGINT, end it through restore_all() (the handlers
    are put back on return)."""
    # the bash version took no arguments and ignored any: so does this, but --help
    argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").splitlines()[0]).parse_known_args(
        sys.argv[1:] if argv is None else list(argv))
    sigs = [signal.SIGTERM, signal.SIGHUP]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when SIGINT is ignored
        sigs.append(signal.SIGINT)
    old = {s: signal.signal(s, on_signal) for s in sigs}
    try:
        return run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
