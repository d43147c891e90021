# SPDX-License-Identifier: GPL-2.0
"""Results of farm jobs (LAVA, tuxrun, KernelCI's kunit.py) as a zsgate run directory.

A farm runs the gate's parts on its own workers from an exported branch (make export) and
the kselftest tarball: KUnit per arch (kunit.py --json, or the console of a boot with the
suite built in), the kselftests per backend (the console of run_kselftest.sh), the A/B
rounds (one console per boot). collect() turns those files into what ci/gate would have
written, so ci/ab --reanalyze, ci/summary and ci/kcidb work on it unchanged:
  meta.json                        kernel (the branch checkout), series, the runs
  kunit-<arch>-<rev>.{json,log,ktap}
  vm-<arch>-<rev>.{log,console.log,ktap,json,figures.json,vm.json}   (.log: from the tests'
                                   start on, what the splat checks read; .console.log: all)
  ab/ab-<arch>-<rev>-r<i>.{log,console.log,ktap,json,figures.json,vm.json}
Nothing is invented: a console without a complete run_kselftest.sh block gives an
"incomplete" run with the problem named (ci/summary fails it), a KUnit console gives what
kunit.py's own parser finds in it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from . import rundir, vm
from .results import find_splats

TAP_START = re.compile(r"^(?:K?TAP version \d+)\s*$")


class FarmError(Exception):
    """An input that cannot be used; the message names it."""


@dataclass
class Spec:
    kind: str          # kunit, vm, ab
    arch: str
    revision: str
    path: str
    round: int = 0

    @property
    def name(self) -> str:
        if self.kind == "ab":
            return f"ab-{self.arch}-{self.revision}-r{self.round}"
        return f"{self.kind}-{self.arch}-{self.revision}"


def parse_spec(s: str) -> Spec:
    """kunit:<arch>:<rev>=FILE, vm:<arch>:<rev>=FILE, ab:<arch>:<rev>:<round>=FILE."""
    m = re.fullmatch(r"(kunit|vm):([A-Za-z0-9_]+):([A-Za-z0-9_]+)=(.+)", s) or \
        re.fullmatch(r"(ab):([A-Za-z0-9_]+):([A-Za-z0-9_]+):(\d+)=(.+)", s)
    if not m:
        raise FarmError(f"{s!r}: expected kunit:<arch>:<rev>=FILE, vm:<arch>:<rev>=FILE "
                        "or ab:<arch>:<rev>:<round>=FILE")
    if m.group(1) == "ab":
        return Spec("ab", m.group(2), m.group(3), m.group(5), int(m.group(4)))
    return Spec(m.group(1), m.group(2), m.group(3), m.group(4))


def _lines(path: str) -> List[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError as e:
        raise FarmError(f"{path}: {e.strerror}") from e


def console_ktap(lines: List[str]) -> Tuple[List[str], bool]:
    """run_kselftest.sh's output in a farm console: the lines from its 'TAP version' on,
    kernel lines dropped; complete when every collection it started has its result line."""
    lines = [ln.rstrip("\r\n").lstrip("\r") for ln in lines]
    if vm.BEGIN in lines:   # a console of ci/vm's guest: its own quiet copy of the KTAP
        return vm.guest_ktap(lines)
    start = next((i for i, ln in enumerate(lines) if TAP_START.match(ln)), None)
    if start is None:
        return [], False
    ktap = [ln for ln in lines[start:] if not vm.KMSG.match(ln)]
    cols = vm.parse_results(ktap)
    complete = bool(cols) and all(c["status"] != "MISSING" for c in cols)
    return ktap, complete


def run_part(lines: List[str]) -> List[str]:
    """The console from where the tests start (the runner's command, its 'TAP version' line
    or ci/vm's start line), for the splat check: a boot message such as the SRSO
    mitigation notice ('... WARNING: See ...') is not the tests' business."""
    for i, ln in enumerate(lines):
        if "run_kselftest.sh" in ln or TAP_START.match(ln.strip()) or ln.startswith(vm.START) or \
                ln.strip() == vm.BEGIN:
            return lines[i:]
    return lines


def vm_files(out: str, name: str, spec: Spec, env: Dict[str, str]) -> Dict[str, Any]:
    """The files ci/vm writes for one boot, from a farm console; its vm.json. spec.path may
    name several consoles, comma-separated (one job per collection of the same kernel):
    their runner outputs are taken in that order, complete when each is."""
    paths = spec.path.split(",")
    console, run, ktap, complete = [], [], [], True
    for p in paths:
        lines = _lines(p)
        k, whole = console_ktap(lines)
        console += lines
        run += run_part(lines)
        ktap += k
        complete = complete and whole
    complete = complete and bool(ktap)
    splats = find_splats(run)
    # NAME.log is what ci/summary and ci/kcidb scan for splats: the consoles from the start
    # of the tests on; NAME.console.log the consoles as the farm returned them
    consoles: Tuple[Tuple[rundir.RunExt, List[str]], ...] = (("log", run), ("console.log", console))
    for ext, text in consoles:
        with open(rundir.run_file(out, name, ext), "w", encoding="utf-8") as f:
            f.write("\n".join(text) + "\n")
    cols = vm.parse_results(ktap)
    figures = vm.parse_figures(ktap)
    problems = []
    if not ktap:
        problems.append("no 'TAP version' line: run_kselftest.sh did not run or its output is not in this log")
    elif not complete:
        problems.append("a collection has no result line: the job ended (hang, crash, timeout) before it finished")
    for c in cols:
        if not c["cases"] and c["status"] == "PASS":
            # kselftest/runner.sh appends to /dev/stdout: over a plain '>' file its own lines
            # overwrite the tests' output, leaving result lines with nothing under them
            problems.append(f"{c['name']}: a result line with no case under it (was the log written "
                            "with '>' instead of through a pipe?)")
            complete = False
    with open(rundir.run_file(out, name, "ktap"), "w", encoding="utf-8") as f:
        f.write("\n".join(vm.ktap_v1(ktap)) + "\n")
    with open(rundir.run_file(out, name, "json"), "w", encoding="utf-8") as f:
        json.dump(vm.kunit_like_json(name, cols, problems), f, indent=1)
    with open(rundir.run_file(out, name, "figures.json"), "w", encoding="utf-8") as f:
        json.dump(figures, f, indent=1)
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for c in cols:
        for case in c["cases"]:
            counts[{"PASS": "pass", "SKIP": "skip"}.get(case["status"], "fail")] += 1
        if c["status"] in ("FAIL", "MISSING") and not any(case["status"] == "FAIL" for case in c["cases"]):
            counts["fail"] += 1
    meta = {"name": name, "arch": spec.arch, "tree": None, "kernel": "farm job",
            "source": [os.path.abspath(p) for p in paths], "env": env, "cases": [c["name"] for c in cols],
            "seconds": None, "status": "complete" if complete else "incomplete", "counts": counts,
            "problems": problems, "splats": splats, "figures": len(figures)}
    with open(rundir.run_file(out, name, "vm.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return meta


def kunit_files(out: str, name: str, spec: Spec, kunit_tool: Optional[str]) -> None:
    """<name>.json from kunit.py --json as it is, or from a console with kunit.py parse;
    <name>.log and .ktap where there is a console."""
    try:
        with open(spec.path, encoding="utf-8") as f:
            doc = json.load(f)
    except ValueError:
        doc = None
    except OSError as e:
        raise FarmError(f"{spec.path}: {e.strerror}") from e
    if isinstance(doc, dict):
        doc["name"] = name
        with open(rundir.run_file(out, name, "json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        return
    if not kunit_tool or not os.path.isfile(os.path.join(kunit_tool, "kunit.py")):
        raise FarmError(f"{spec.path} is a console log: --kunit-tool <tree>/tools/testing/kunit "
                        "is needed to parse it (kunit.py parse)")
    shutil.copyfile(spec.path, rundir.run_file(out, name, "log"))
    jpath = rundir.run_file(out, name, "json")
    r = subprocess.run([sys.executable, os.path.join(kunit_tool, "kunit.py"), "parse",
                        f"--json={os.path.abspath(jpath)}", os.path.abspath(spec.path)],
                       capture_output=True, text=True)
    if not os.path.exists(jpath):
        raise FarmError(f"kunit.py parse of {spec.path} wrote no JSON: {(r.stderr or r.stdout).strip()[-300:]}")
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                     "ktap-extract"), kunit_tool],
                       stdin=open(spec.path, encoding="utf-8", errors="replace"), capture_output=True, text=True)
    with open(rundir.run_file(out, name, "ktap"), "w", encoding="utf-8") as f:
        f.write(r.stdout)


def collect(out: str, specs: List[Spec], kernel: Dict[str, Any], series: Optional[Dict[str, Any]] = None,
            kunit_tool: Optional[str] = None, ab_env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Write the run directory `out` (which must not exist yet); the meta.json written."""
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FarmError(f"given twice: {', '.join(dup)}")
    if os.path.exists(out):
        raise FarmError(f"{out} exists: a farm collection is written into a new run directory")
    os.makedirs(rundir.ab_dir(out))
    runs = []
    for s in specs:
        if s.kind == "kunit":
            kunit_files(out, s.name, s, kunit_tool)
            runs.append({"name": s.name, "arch": s.arch, "revision": s.revision, "kind": "kunit"})
        elif s.kind == "vm":
            vm_files(out, s.name, s, {})
            runs.append({"name": s.name, "arch": s.arch, "revision": s.revision, "kind": "vm"})
        else:
            vm_files(rundir.ab_dir(out), s.name, s, dict(ab_env or {}))
    meta = {"kernel": kernel, "series": series, "runs": runs, "farm": {
        "inputs": {s.name: [os.path.abspath(p) for p in s.path.split(",")] for s in specs}}}
    rundir.write_meta(out, meta)
    return meta
