# SPDX-License-Identifier: GPL-2.0
"""Bounded failure: an oops or a stall ends the kernel at once, each run has a timeout
sized to its work, and a run that crashed or timed out is named by the case it was in.

Used by ci/kunit, ci/vm, ci/ab and ci/summary (docs/results.md, "Crashed and timed-out runs").

Kernel side (kernel_args()): oops=panic and panic=-1 end the kernel at the first oops
(x86_64: panic=-1 reboots at once and QEMU runs with -no-reboot, so QEMU exits; UML: its
panic notifier aborts the process whatever panic= says); softlockup_panic=1 turns a CPU
looping in the kernel (watchdog_thresh 10 s: reported after 20 s) into a panic;
rcupdate.rcu_cpu_stall_timeout=60 instead of 21 s (TCG on a loaded 2-core host).
The sysctl.* and hung_task_panic arguments are applied by the kernel only when init is
about to start (do_sysctl_args() in kernel_init(), after kunit_run_all_tests()): they take
effect in the VM runs only, so they are not given to a KUnit run, where a task stuck in D
state or an RCU stall without an oops ends by the run timeout instead.
The detectors are built in by configs/bounded.config (SOFTLOCKUP_DETECTOR,
DETECT_HUNG_TASK; its panic is left to the command line, so ZSGATE_BOUNDED=0 turns the
whole mode off). panic_on_warn is not set: a WARNING does not hang the kernel, the suite
already fails the case that printed it and ci/summary counts it as a splat; ending the run
there would lose the remaining results and turn a base kernel's reported WARNING into a
crashed base run.
"""

import json
import os
import re
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from . import rundir, splat
from .results import SPLAT

RCU_STALL_S = 60
HUNG_TASK_S = 60

# Timeouts (seconds), sized to what the work took on this 2-core host under load (the cold
# gate of 2026-12-02; docs/results.md): the kunit.py run phase (boot to power-off,
# kunit.py's --timeout; the build is not in it): 3-15 s, 120 s; DEBUG/KCSAN 300 s (the
# gate's KCSAN step's default)
KUNIT_TIMEOUT = {"plain": 120, "debug": 300, "kcsan": 300}
# one ci/vm run of the gate's correctness set (quick sizes): 51-69 s, DEBUG 132-140 s;
# other work (--all, --full, another filter): OTHER_TIMEOUT, the old default
VM_TIMEOUT = {"plain": 300, "debug": 600}
# one ci/ab boot (the latency cases, quick sizes, 2 inner rounds): 49-86 s loaded
AB_TIMEOUT = 300
OTHER_TIMEOUT = 1200


def enabled(env: Optional[Mapping[str, str]] = None) -> bool:
    """The bounded mode is the default; ZSGATE_BOUNDED=0 turns it off."""
    return ((env if env is not None else os.environ).get("ZSGATE_BOUNDED") or "1") != "0"


def kernel_args(target: str) -> List[str]:
    """Kernel command line of the bounded mode; target "kunit" or "vm"."""
    if target not in ("kunit", "vm"):
        raise ValueError(f"unknown target {target}")
    args = ["oops=panic", "panic=-1", "softlockup_panic=1",
            f"rcupdate.rcu_cpu_stall_timeout={RCU_STALL_S}"]
    if target == "vm":
        args += ["sysctl.kernel.hung_task_panic=1", f"sysctl.kernel.hung_task_timeout_secs={HUNG_TASK_S}",
                 "sysctl.kernel.panic_on_rcu_stall=1"]
    return args


def kunit_timeout(variant: str) -> int:
    return KUNIT_TIMEOUT[variant]


def vm_timeout(gate_set: bool, slow_kernel: bool) -> int:
    """ci/vm's default: the gate's correctness set at quick sizes on a plain or a
    DEBUG/KCSAN kernel; anything else (--all, --full, another filter) OTHER_TIMEOUT."""
    if not gate_set:
        return OTHER_TIMEOUT
    return VM_TIMEOUT["debug" if slow_kernel else "plain"]


def ab_timeout(quick: bool) -> int:
    """ci/ab's default per boot: the latency cases at quick sizes, else OTHER_TIMEOUT."""
    return AB_TIMEOUT if quick else OTHER_TIMEOUT


# ---------------------------------------------------------------- naming a crash

# Lines that end (or, without the bounded mode, wedge) a kernel: the crash kind of
# splat.py's list. WARNING, KASAN and KCSAN reports are splats but the kernel goes on.
CRASH = splat.regex(splat.CRASH)
STAMP = re.compile(r"^\[\s*\d+\.\d+\] ?")
# KUnit, one suite: its cases' lines are indented by 4 ("    # <case>: ..." diagnostics,
# the suite's "# <case>: zsgate: case start" among them, and "    ok N <case>")
KUNIT_DIAG = re.compile(r"^    # ([A-Za-z_]\w*)(?:\.\w+)?: ")
KUNIT_RESULT = re.compile(r"^    (?:not )?ok \d+ (\S+)")
KUNIT_NOT_A_CASE = {"Subtest", "module", "Totals"}
# kselftests in ci/vm's console: "# selftests: <collection>: ...", then the harness's
# lines behind "# ": "#  RUN           <test> ..." and "ok N <test>"
KSFT_COLLECTION = re.compile(r"^# selftests: (\S+): ")
KSFT_RUN = re.compile(r"^# #\s+RUN\s+(\S+)\s+\.\.\.")
KSFT_RESULT = re.compile(r"^# (?:not )?ok \d+ (\S+)")
KUNIT_TIMED_OUT = re.compile(r"timed out after ([\d.]+) seconds")


def _bare(line: str) -> str:
    """A console line without its line ending and printk timestamp (indentation kept)."""
    return STAMP.sub("", line.rstrip("\r\n").lstrip("\r"))


def running_case(lines: List[str], upto: int, kind: str) -> Tuple[Optional[str], int]:
    """(case, index of its first line) for the case running at line @upto, from the last
    case event before it. KUnit: a case's own diagnostic lines (the suite prints
    "# <case>: zsgate: case start" first) start or continue it, its "ok N <case>" ends it;
    kselftests: the harness's "#  RUN <test> ..." starts it, "ok N <test>" ends it, named
    <collection>.<test>. An ended case gives "after <case>"; no case at all (None, 0)."""
    case: Optional[str] = None
    col: Optional[str] = None
    first, ended = 0, False
    for i, raw in enumerate(lines[:upto]):
        ln = _bare(raw)
        if kind == "vm":
            m = KSFT_COLLECTION.match(ln)
            if m:
                col, case, ended = m.group(1), None, False
                continue
            m = KSFT_RUN.match(ln)
            if m:
                case, first, ended = f"{col}.{m.group(1)}" if col else m.group(1), i, False
                continue
            m = KSFT_RESULT.match(ln)
            if m and case is not None and case.endswith(m.group(1)):
                ended, first = True, i
            continue
        m = KUNIT_DIAG.match(ln)
        if m and m.group(1) not in KUNIT_NOT_A_CASE:
            if m.group(1) != case or ended:
                case, first, ended = m.group(1), i, False
            continue
        m = KUNIT_RESULT.match(ln)
        if m:
            case, first, ended = m.group(1), i, True
    if case is None:
        return None, 0
    return (f"after {case}" if ended else case), first


def classify(console: Iterable[str], *, kind: str, complete: bool, timed_out: bool,
             timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """What ended a run that did not finish, from its console.

    Returns None for a run that finished (complete and not timed out), else
    {"how": "crashed"|"timed out"|"ended", "case": name or None, "line": first splat line
    of the crash or None, "text": one line for the verdict}:
      crashed in <case>: <first splat line>   (an oops, panic, lockup, stall or hung task)
      timed out in <case>[: <first splat line>]
      ended in <case> without finishing       (no splat: the emulator was killed, ...)
    The case is the one running at the first crash line (at the end without one); the
    first splat line is the first since that case started (a WARNING it printed before
    its oops comes first), the crash line itself at the latest."""
    lines = list(console)
    if complete and not timed_out:
        return None
    crash_at = next((i for i, ln in enumerate(lines) if CRASH.search(ln)), None)
    upto = crash_at if crash_at is not None else len(lines)
    case, first = running_case(lines, upto, kind)
    splat = next((_bare(ln).strip() for ln in lines[first:upto + 1] if SPLAT.search(ln)), None)
    where = (case if case.startswith("after ") else f"in {case}") if case else "before any case started"
    if timed_out:
        how = "timed out"
        text = f"timed out {where}" + (f" ({timeout:.0f} s)" if timeout else "") + (f": {splat}" if splat else "")
    elif crash_at is not None:
        how = "crashed"
        text = f"crashed {where}: {splat or _bare(lines[crash_at]).strip()}"
    else:
        how, splat = "ended", None
        text = f"ended {where} without finishing"
    return {"how": how, "case": case, "line": splat, "text": text}


# ---------------------------------------------------------------- per run

def _read_lines(path: str) -> Optional[List[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readlines()
    except OSError:
        return None


def kunit_complete(json_path: str) -> bool:
    """kunit.py's JSON has a result for every case the kernel announced: a case the
    parser had to make up (the KTAP stopped early) is ERROR (TEST_CRASHED)."""
    try:
        with open(json_path, encoding="utf-8") as f:
            root = json.load(f)
    except (OSError, ValueError):
        return False

    def crashed(g: Dict[str, Any]) -> bool:
        return any(c.get("status") == "ERROR" for c in g.get("test_cases", [])) or \
            any(crashed(s) for s in g.get("sub_groups", []))
    return not crashed(root) and bool(root.get("sub_groups") or root.get("test_cases"))


def kunit_crash(run_dir: str, name: str) -> Optional[Dict[str, Any]]:
    """The crash of a KUnit run of ci/kunit (NAME.log, NAME.json, NAME.build.log), or
    None: it finished, or it never booted (a failed build is not a crash)."""
    console = _read_lines(rundir.run_file(run_dir, name, "log"))
    blog = _read_lines(rundir.run_file(run_dir, name, "build.log")) or []
    if console is None:
        return None
    m = next((KUNIT_TIMED_OUT.search(ln) for ln in blog if KUNIT_TIMED_OUT.search(ln)), None)
    timeout = float(m.group(1)) if m else None
    return classify(console, kind="kunit", complete=kunit_complete(rundir.run_file(run_dir, name, "json")),
                    timed_out=m is not None, timeout=timeout)


def vm_crash(run_dir: str, name: str) -> Optional[Dict[str, Any]]:
    """The crash ci/vm recorded in NAME.vm.json (None: finished, not run, or reused)."""
    try:
        crash: Optional[Dict[str, Any]] = rundir.read_json(rundir.run_file(run_dir, name, "vm.json")).get("crash")
        return crash
    except (OSError, ValueError):
        return None


def run_crash(run_dir: str, name: str, kind: str) -> Optional[Dict[str, Any]]:
    return vm_crash(run_dir, name) if kind == "vm" else kunit_crash(run_dir, name)


def crashed_kernels(run_dir: str, arch: str, suffix: str = "") -> Dict[str, Dict[str, Any]]:
    """revision -> {"run": name, **crash} for the kernels of @arch (build dir
    .kunit-<arch><suffix>) whose KUnit or VM run in RUN_DIR/meta.json crashed or timed out."""
    try:
        meta = rundir.read_meta(run_dir)
    except (OSError, ValueError):
        return {}
    out: Dict[str, Dict[str, Any]] = {}
    for r in meta.get("runs", []):
        kind, rev = r.get("kind"), r.get("revision")
        if kind not in ("kunit", "vm") or r.get("arch") != arch or rev in out:
            continue
        if r.get("name") != f"{kind}-{arch}-{rev}{suffix}":
            continue  # another build of this revision (e.g. a KCSAN or DEBUG kernel)
        c = run_crash(run_dir, r["name"], kind)
        if c is not None:
            out[rev] = {"run": r["name"], **c}
    return out


def main(argv: List[str]) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python3 -m zsgate.bounded")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("kernel-args", help="the bounded kernel arguments, one a line")
    p.add_argument("target", choices=["kunit", "vm"])
    p = sub.add_parser("kunit-timeout", help="default kunit.py --timeout for a variant")
    p.add_argument("variant", choices=sorted(KUNIT_TIMEOUT))
    p = sub.add_parser("kunit-crash", help="one line naming the crash of a ci/kunit run (nothing if none)")
    p.add_argument("run_dir")
    p.add_argument("name")
    a = ap.parse_args(argv)
    if a.cmd == "kernel-args":
        print("\n".join(kernel_args(a.target)))
    elif a.cmd == "kunit-timeout":
        print(kunit_timeout(a.variant))
    else:
        c = kunit_crash(a.run_dir, a.name)
        if c is not None:
            print(c["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
