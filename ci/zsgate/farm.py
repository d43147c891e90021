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

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import abrun, kcidb, rundir, summary, vm
from .export import kernel_version
from .results import find_splats
from .series import SeriesError, read_series

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
    kp = vm.kunit_parser_in(kunit_tool)
    if kp is None:
        raise FarmError(f"{kunit_tool} has no usable kunit_parser.py (kunit.py's KTAP parser)")
    try:
        vm.console_ktap(kp, spec.path, rundir.run_file(out, name, "ktap"))
    except Exception as e:  # the tree's parser
        raise FarmError(f"kunit_parser.extract_tap_lines of {spec.path} failed: {e!r}") from e


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


USAGE = """ci/farm-collect: farm job results (LAVA, tuxrun, kunit.py) as a zsgate run directory.

Usage: ci/farm-collect --out RUN_DIR --tree BRANCH_CHECKOUT [--series PATH]
                       [--kunit-tool DIR] [--ab-env K=V]... [--origin NAME] [--base-url URL]
                       SPEC...
SPEC (one per farm job, files as the farm returns them):
  kunit:<arch>:<rev>=FILE       kunit.py --json output, or the console of a boot with the
                                suite built in (parsed with the branch's kunit.py parse:
                                --kunit-tool <tree>/tools/testing/kunit, default the --tree's)
  vm:<arch>:<rev>=LOG[,LOG]     the console/log of a job that ran run_kselftest.sh (several,
                                comma-separated: one job per collection of that kernel)
  ab:<arch>:<rev>:<round>=LOG   one A/B boot (the latency cases); <rev> base or patched
RUN_DIR must not exist; name it <YYYYmmdd-HHMMSS>-<anything> (KCIDB's start_time and ids
come from it). --tree is the checkout of the exported branch the farm ran (its HEAD becomes
the KCIDB checkout's git_commit_hash), --series the revision the branch carries, if any.
Then, as after a gate: ci/ab --reanalyze (when there are ab specs; --ab-env gives the
guest knobs the boots ran with, e.g. ZSGATE_ROUNDS=2 ZSGATE_QUICK=1), ci/summary (verdict)
and ci/kcidb (RUN_DIR/kcidb.json, --origin/--base-url passed on). See docs/ci-farms.md.
Exit: ci/summary's verdict (0 pass, 1 fail); 2 unusable input or kcidb.json not valid.
"""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/farm-collect ARGS (sys.argv[1:] when None): USAGE; collect(), then in this process
    ci/ab --reanalyze, ci/summary and ci/kcidb of the run dir (zsgate.abrun, .summary, .kcidb)."""
    ap = argparse.ArgumentParser(prog="ci/farm-collect", description=USAGE.splitlines()[0],
                                 epilog=USAGE.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--series")
    ap.add_argument("--kunit-tool")
    ap.add_argument("--ab-env", action="append", default=[])
    ap.add_argument("--origin")
    ap.add_argument("--base-url")
    ap.add_argument("specs", nargs="+")
    a = ap.parse_args(None if argv is None else list(argv))
    try:
        specs = [parse_spec(x) for x in a.specs]
        tree = os.path.realpath(a.tree)
        if not os.path.isfile(os.path.join(tree, "mm/zsmalloc.c")):
            raise FarmError(f"--tree {a.tree} is not a Linux source tree")
        series = None
        if a.series:
            sr = read_series(a.series)
            series = {"kind": sr.kind, "id": sr.ident, "path": os.path.realpath(a.series)}
        env = dict(kv.split("=", 1) for kv in a.ab_env if "=" in kv)
        with open(os.path.join(tree, "mm/zsmalloc.c"), encoding="utf-8", errors="replace") as f:
            part_a = "ZS_OBJ_CLASS_BITS" in f.read()
        kernel = {"version": kernel_version(tree), "path": tree, "part_a": part_a}
        meta = collect(a.out, specs, kernel, series,
                       kunit_tool=a.kunit_tool or os.path.join(tree, "tools/testing/kunit"), ab_env=env)
    except (FarmError, SeriesError, OSError) as e:
        print(f"zsgate: farm-collect: {e}", file=sys.stderr)
        return 2
    print(f"[farm-collect] {a.out}: {len(meta['runs'])} runs "
          f"({', '.join(r['name'] for r in meta['runs'])}), {sum(x.kind == 'ab' for x in specs)} A/B boots",
          file=sys.stderr, flush=True)
    ab = [x for x in specs if x.kind == "ab"]
    if ab:
        arches = {x.arch for x in ab}
        if len(arches) != 1:
            print("zsgate: farm-collect: the A/B boots must all be of one arch", file=sys.stderr)
            return 2
        args = ["--reanalyze", "--base", f"{tree} (farm, base)", "--patched", f"{tree} (farm, patched)",
                "--out", a.out, "--arch", arches.pop(), "--rounds", str(max(x.round for x in ab))]
        if env.get("ZSGATE_ROUNDS"):
            args += ["--inner", env["ZSGATE_ROUNDS"]]
        if env.get("ZSGATE_QUICK") == "0":
            args.append("--full")
        abrun.main(args)   # its regressions are the summary's verdict
    verdict = summary.main([a.out])
    kc = [a.out] + (["--origin", a.origin] if a.origin else []) + (["--base-url", a.base_url] if a.base_url else [])
    if kcidb.main(kc) != 0:
        return 2
    return verdict


if __name__ == "__main__":
    sys.exit(main())
