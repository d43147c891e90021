# SPDX-License-Identifier: GPL-2.0
"""The verdict of a gate run: RUN_DIR/summary.json from the run's files (ci/summary RUN_DIR).

Reads RUN_DIR/meta.json (kernel, series, the list of runs the gate started) and each run's
kunit.py JSON and console log. Verdict "pass" only if every run produced results, none
failed, and no console shows a kernel splat. Exit 0 on pass, 1 on fail.
A run with a "config" (meta.json; "kcsan": ci/gate's kunit-x86_64-patched-kcsan) is
compared only with base runs of the same config: without one (the KCSAN run is patched
only) every failed case counts. In a KCSAN run's console, data-race reports naming
zsmalloc/zram/zswap/the suite fail the verdict; other reports are listed ("kcsan" of the
run, and a warning), unless ZSGATE_KCSAN_ALL=1. "steps" (meta.json, ci/gate) are the
pipeline's steps with their wall time, printed as a table; this step adds itself.
A run that crashed or timed out (ci/zsgate/bounded.py) has "crash" ({"how", "case", "line",
"text"}): the problem line and the verdict line say "<run>: crashed in <case>: <first splat
line>" or "timed out in <case>"; the case it crashed in counts as failed by its name
(failed_cases), instead of the unnamed results kunit.py makes up for the cases it never
reached. A run dir with gate.interrupted or gate.running (ci/gate did not reach its summary) fails.
The A/B: a run whose steps (meta.json) include "ab" and that has no ab.json fails ("A/B did
not write ab.json"); without that step the A/B was not asked for: "ab_not_run" and the line
"A/B not run (WHY)" say why (the gate's note "ab": --no-ab, --no-vm, DEBUG=1, no series),
and the verdict is the rest's.
A run whose build failed (kunit.py's NAME.build.log shows no built kernel; a VM run ci/vm
refused because its tree's build stamp says so) has no counts: "build": "failed" and
"build_error" (the first compiler error, file:line: error: message); the KUnit ones are
listed in "build_failures" and named on the verdict line.
"""

import os
import re
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from . import rundir
from .bounded import kunit_crash
from .report import cpu_rows, percall_rows
from .results import (build_failure, count_kunit_json, empty_counts, failed_cases, find_splats, kcsan_reports,
                      skip_reasons)

# kunit.py's last line: where a KUnit step's time went (the rest of the step waited for
# the build lock)
ELAPSED = re.compile(r"Elapsed time: ([\d.]+)s total, ([\d.]+)s configuring, ([\d.]+)s building, "
                     r"([\d.]+)s running")


Dict_ = Dict[str, Any]


def summarize(run_dir: str) -> Dict_:
    """summary.json of RUN_DIR (without this step's own time: see write())."""
    meta = rundir.read_meta(run_dir)
    runs: List[Dict_] = []
    splats: List[Dict_] = []
    problems: List[str] = []
    build_failures: List[Dict_] = []
    crashes: List[Dict_] = []
    warnings: List[str] = []
    stopped = unfinished(run_dir)
    problems += stopped
    for r in meta.get("runs", []):
        name = r["name"]
        jpath = rundir.run_file(run_dir, name, "json")
        entry: Dict_ = {"name": name, **empty_counts(), "file": os.path.basename(jpath)}
        for k in ("arch", "revision", "kind", "config"):
            if k in r:
                entry[k] = r[k]
        kcsan = r.get("config") == "kcsan"
        vm: Optional[Dict_] = None
        vmj = rundir.run_file(run_dir, name, "vm.json")
        if os.path.exists(vmj):
            try:
                vm = rundir.read_json(vmj)
            except ValueError:
                vm = {"status": "unreadable vm.json"}
        # a run the stopped gate did not finish is not a failed build
        why = None if stopped else build_failed(run_dir, name, vm)
        if why:
            # no image of this revision: no results, no figures, and nothing else to say
            entry.update(build="failed", build_error=why["error"], file=None)
            if why.get("by"):
                entry["build_run"] = why["by"]
                problems.append(f"{name}: not run: the build failed ({why['by']})")
            else:
                problems.append(f"{name}: build failed: {why['error']}")
                build_failures.append({"run": name, "error": why["error"]})
            runs.append(entry)
            continue
        if vm is not None and vm.get("status") == "not run":
            entry.update(vm_status="not run", file=None)
            problems.append(f"{name}: not run: {vm.get('refused') or '; '.join(vm.get('problems', []))}")
            runs.append(entry)
            continue
        crash = vm.get("crash") if vm is not None else kunit_crash(run_dir, name)
        if crash:
            entry["crash"] = crash
            problems.append(f"{name}: {crash['text']}")
            crashes.append({"run": name, **crash})
        if os.path.exists(jpath):
            entry.update(count_kunit_json(jpath))
            entry["failed_cases"] = failed_cases(jpath)
            if crash:
                # the cases kunit.py made up for the KTAP that stopped (no name) and ci/vm's
                # problem lines give way to the case the kernel crashed in, by its name
                made_up = [n for n in entry["failed_cases"] if n.endswith(".")]
                vm_problems = set(vm.get("problems", [])) if vm is not None else set()
                entry["failed_cases"] = [n for n in entry["failed_cases"] if n not in vm_problems
                                         and not n.endswith(".") and not n.endswith("(collection)")]
                case = crash.get("case") or ""
                if case and not case.startswith("after "):
                    if vm is None:
                        case = (made_up[0] if made_up else "") + case
                    if case not in entry["failed_cases"]:
                        entry["failed_cases"].append(case)
            if entry["pass"] + entry["fail"] + entry["skip"] == 0 and not crash:
                problems.append(f"{name}: no test ran")
        elif crash:
            entry["file"] = None
        elif stopped:
            entry.update(unfinished=True, file=None)
        else:
            entry["fail"] += 1
            entry["file"] = None
            problems.append(f"{name}: no results (build or boot failed, see {name}.build.log)")
        if vm is not None:
            # a VM that did not run its tests to the end is the gate's own failure, on
            # base as on patched: "fails on base too" must not excuse it
            if vm.get("reused_from"):
                entry["reused_from"] = vm["reused_from"]
            if vm.get("status") != "complete" and not crash:
                entry["vm_status"] = vm.get("status")
                problems.append(f"{name}: the VM run is {vm.get('status')}: "
                                + "; ".join(vm.get("problems", [])[:3]))
        ktap = rundir.run_file(run_dir, name, "ktap")
        if os.path.exists(ktap):
            with open(ktap, encoding="utf-8", errors="replace") as f:
                entry["skips"] = skip_reasons(f)
        console = rundir.run_file(run_dir, name, "log")
        if os.path.exists(console):
            with open(console, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
            for line in find_splats(lines, kcsan=kcsan):
                splats.append({"run": name, "line": line})
            if kcsan:
                entry["kcsan"] = kcsan_reports(lines, os.environ.get("ZSGATE_KCSAN_ALL", "0") == "1")
                kr: Dict_ = entry["kcsan"]
                if kr["ours_reports"]:
                    titles = [t + (f" (during {kr['during'][t]})" if t in kr["during"] else "") for t in kr["ours"][:3]]
                    problems.append(f"{name}: {kr['ours_reports']} KCSAN data-race report(s) in "
                                    f"zsmalloc/zram/zswap: {'; '.join(titles)}")
                if kr["known"]:
                    warnings.append(f"{name}: known race(s) of base zsmalloc, not counted "
                                    f"(docs/known-issues.md): {'; '.join(kr['known'][:3])}")
                if kr["other"]:
                    warnings.append(f"{name}: KCSAN report(s) outside "
                                    f"zsmalloc/zram/zswap, not counted: {'; '.join(kr['other'][:3])}")
        runs.append(entry)
    base_failures = judge_failures(runs, meta.get("series") is not None, problems)
    if not runs:
        problems.append("no runs")
    ab = rundir.read_ab(run_dir)
    ab_not_run = None
    if ab is None:
        ab_step = next((st for st in meta.get("steps", []) if st.get("name") == "ab"), None)
        if ab_step is not None:  # the gate ran ci/ab, which ended before its ab.json
            problems.append("A/B did not write ab.json"
                            + (f" (ci/ab exit {ab_step['exit']})" if ab_step.get("exit") is not None else ""))
        else:
            ab_not_run = ab_off(meta)
    elif ab.get("not_run"):
        problems.append(f"A/B not run: {ab['not_run']}")
    elif ab is not None:
        problems += [f"A/B regression: {r}" for r in ab.get("regressions", [])]
        problems += [f"A/B: {p}" for p in ab.get("problems", [])]
        if not ab.get("entries"):
            problems.append("A/B: no figures")
        splats += ab.get("splats", [])
    base_runs = {r["name"] for r in runs if r.get("revision") == "base"} if meta.get("series") else set()
    counted = [sp for sp in splats if sp.get("run") not in base_runs]
    if counted:
        problems.append(f"{len(counted)} kernel splat line(s)")
    return {
        "verdict": "fail" if problems else "pass",
        "problems": problems,
        "kernel": meta.get("kernel"),
        "series": meta.get("series"),
        "runs": runs,
        "splats": splats,
        "base_failures": base_failures,
        "build_failures": build_failures,
        "crashes": crashes,
        "ab": ab.get("entries", []) if ab is not None else [],
        "ab_run": {k: v for k, v in ab.items() if k not in ("entries", "splats")} if ab is not None else None,
        "ab_not_run": ab_not_run,
        "warnings": warnings + ([f"A/B: {w}" for w in ab.get("warnings", [])] if ab is not None else []),
        "notes": meta.get("notes", {}),
        "steps": steps(run_dir, meta),
    }


def ab_off(meta: Dict_) -> str:
    """Why a run has no A/B that nobody asked for: the gate's note ("not run: --no-ab",
    "--no-vm", "DEBUG=1", "no series"), or that no step ran one (a farm's collection, a run
    dir of an older gate)."""
    note = str(meta.get("notes", {}).get("ab", ""))
    return note[len("not run: "):] if note.startswith("not run: ") else "no A/B step in this run"


def unfinished(run_dir: str) -> List[str]:
    """A run ci/gate did not take to its summary is no verdict, whatever its files say:
    gate.interrupted (written by ci/zsgate/guard.py: the signal and the last step) or
    gate.running (ci/gate removes it right before the summary; left by a kill -9)."""
    for marker, what in ((rundir.INTERRUPTED, "the gate stopped before its summary"),
                         (rundir.RUNNING, "the gate that wrote this run did not finish (killed, or still running)")):
        p = rundir.path(run_dir, marker)
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                detail = f.read().strip()
            return [f"{what}: {detail}: its results are incomplete ({marker})"]
    return []


def build_failed(run_dir: str, name: str, vm: Optional[Dict_]) -> Optional[Dict[str, str]]:
    """{"error": ...} when the run has no image of its own revision because a build failed:
    a KUnit run whose kunit.py build log shows no built kernel (the first compiler error
    from it), or a VM run that ci/vm refused to boot because the tree's build stamp says
    the build failed ("by": the build's run name). None otherwise."""
    if vm is not None:
        st = vm.get("build") or {}
        if vm.get("status") == "not run" and st.get("status") == "failed":
            return {"error": st.get("error") or "?", "by": st.get("name") or "?"}
        return None
    blog = rundir.run_file(run_dir, name, "build.log")
    if not os.path.exists(blog) or os.path.exists(rundir.run_file(run_dir, name, "json")):
        return None
    with open(blog, encoding="utf-8", errors="replace") as f:
        why = build_failure(f)
    return None if why is None else {"error": why}


def steps(run_dir: str, meta: Dict_) -> List[Dict_]:
    """meta.json's steps (name, start, seconds, exit); a KUnit step also gets kunit.py's
    own split ("kunit_py": configure, build, run seconds) from its build log, and "waited":
    the rest of the step (the build lock, tree checks)."""
    out = []
    for st in meta.get("steps", []):
        st = dict(st)
        blog = rundir.run_file(run_dir, st["name"], "build.log")
        if st["name"].startswith("kunit-") and os.path.exists(blog):
            with open(blog, encoding="utf-8", errors="replace") as f:
                m = None
                for line in f:
                    m = ELAPSED.search(line) or m
            if m:
                total, conf, build, run = (float(x) for x in m.groups())
                st["kunit_py"] = {"configure": round(conf, 1), "build": round(build, 1), "run": round(run, 1)}
                st["waited"] = round(max(0.0, st["seconds"] - total), 1)
        out.append(st)
    return out


def judge_failures(runs: List[Dict_], have_series: bool, problems: List[str]) -> List[Dict_]:
    """Add a problem per run with failures that count; return the failures that do not.

    With a series, the verdict is about what the series changes: a case failing in a
    patched run counts unless the same case fails in the base run of the same kind, arch
    and config (then it is a base failure: reported, not the series' fault); failures of
    base runs are reported only. A patched run with no such base run (the KCSAN run) has
    nothing to excuse a failure: every one counts. Without a series, every failure counts.
    """
    def key(r: Dict_, rev: Optional[str]) -> Any:
        return (r.get("kind"), r.get("arch"), r.get("config", ""), rev)

    failed_in = {key(r, r.get("revision")): set(r.get("failed_cases", [])) for r in runs}
    base_failures = []
    for r in runs:
        if not r["fail"]:
            continue
        if not have_series:
            problems.append(f"{r['name']}: {r['fail']} failed")
            continue
        names = r.get("failed_cases", [])
        if r.get("revision") == "base":
            if r.get("crash") and not names:
                continue  # its crash is a problem of its own
            base_failures += [{"run": r["name"], "case": n, "also_in_patched": n in failed_in.get(
                key(r, "patched"), set())} for n in names]
            if not names:
                problems.append(f"{r['name']}: {r['fail']} failed (no results to compare)")
            continue
        if key(r, "base") not in failed_in:
            if names or not r.get("crash"):
                problems.append(f"{r['name']}: {r['fail']} failed (patched-only run, no base to compare)"
                                + (f": {', '.join(names[:5])}" if names else ""))
            continue
        base = failed_in[key(r, "base")]
        new = [n for n in names if n not in base]
        if new or (not names and not r.get("crash")):
            problems.append(f"{r['name']}: {len(new) or r['fail']} failed that pass on base"
                            + (f": {', '.join(new[:5])}" if new else ""))
    return base_failures


def print_steps(st: List[Dict_]) -> None:
    """The time table: each step's wall time; a KUnit step's kunit.py build and run."""
    if len(st) < 2:
        return  # a run dir of a gate that recorded no steps: only this one
    print(f"{'step':32} {'time':>7}")
    for x in st:
        extra = ""
        if x.get("kunit_py"):
            k = x["kunit_py"]
            extra = f"  build {k['configure'] + k['build']:.0f} s, run {k['run']:.0f} s, waited {x['waited']:.0f} s"
        if x.get("exit"):
            extra += f"  (exit {x['exit']})"
        print(f"{x['name']:32} {x['seconds']:>5.0f} s{extra}")
    t = int(round(rundir.wall_seconds(st)))
    print(f"{'total':32} {t:>5} s  ({t // 60}:{t % 60:02d})")


def write(run_dir: str) -> Dict_:
    """summarize(), this step's time added to "steps", written to RUN_DIR/summary.json."""
    t0 = time.time()
    s = summarize(run_dir)
    s["steps"].append({"name": "summary", "start": round(t0, 3), "seconds": round(time.time() - t0, 1)})
    rundir.write_summary(run_dir, s)
    return s


def print_summary(run_dir: str, s: Dict_) -> None:
    """The tables, problems and the verdict line ci/summary prints."""
    k = s["kernel"] or {}
    ser = s["series"]
    print(f"kernel {k.get('version')} ({k.get('package') or k.get('path')}), Part A: {k.get('part_a')}")
    print(f"series: {ser['kind'] + ' ' + ser['id'] + ' (' + ser['path'] + ')' if ser else 'none (base only)'}")
    print(f"{'run':32} {'pass':>5} {'fail':>5} {'skip':>5}")
    for r in s["runs"]:
        reused = f"  (reused: kept clean run of {r['reused_from']['date']})" if r.get("reused_from") else ""
        if r.get("build") == "failed":
            what = f"not run (build failed: {r['build_run']})" if r.get("build_run") else \
                f"build failed: {r['build_error']}"
            print(f"{r['name']:32} {what}")
        elif r.get("vm_status") == "not run":
            print(f"{r['name']:32} not run")
        elif r.get("unfinished"):
            print(f"{r['name']:32} not finished (the gate stopped)")
        else:
            crashed = f"  ({r['crash']['how']})" if r.get("crash") else ""
            print(f"{r['name']:32} {r['pass']:5} {r['fail']:5} {r['skip']:5}{reused}{crashed}")
    if s["ab"]:
        labels = (s["ab_run"] or {}).get("labels", ["base", "patched"])
        print(f"A/B ({(s['ab_run'] or {}).get('arch')}): {'case':30} {labels[0]:>10} {labels[1]:>10}  speedup [95 % CI]")
        for e in s["ab"]:
            if e.get("speedup") is None:
                continue
            what = f"{e['backend']} {e['case']} {e['procs']}x{e['size_mb']}MB"
            print(f"  {what:36} {e['base']['median_us']:>8.0f}us {e['patched']['median_us']:>8.0f}us  "
                  f"{e['speedup']:.2f} [{e['speedup_lo']:.2f}, {e['speedup_hi']:.2f}]"
                  f"{'  REGRESSION' if e.get('regression') else ''}")
    for p in (s["ab_run"] or {}).get("pooled", []):
        print(f"  {p['backend'] + ' pooled (' + str(len(p['cases'])) + ' cases, ' + str(p['pairs']) + ' pairs)':36} "
              f"{'':>20}  {p['speedup']:.2f} [{p['speedup_lo']:.2f}, {p['speedup_hi']:.2f}]"
              f"{'  REGRESSION' if p.get('regression') else ''}")
    for r in percall_rows((s["ab_run"] or {}).get("percall", [])):
        print(f"  {r.backend + ' ' + r.fn + '() per call':36} {r.a_ns:>8.0f}ns "
              f"{r.b_ns:>8.0f}ns  {1 / r.ratio:.2f} [{1 / r.ratio_hi:.2f}, {1 / r.ratio_lo:.2f}]"
              f"{'  REGRESSION' if r.regression else ''}")
    for t in cpu_rows((s["ab_run"] or {}).get("cpu", [])):
        what = f"{t.backend} CPU munmap+kworkers ({t.sizes} sizes, {t.pairs} pairs)"
        print(f"  {what:36} {t.a_us:>8.0f}us {t.b_us:>8.0f}us  "
              f"ratio {t.ratio:.3f} [{t.ratio_lo:.3f}, {t.ratio_hi:.3f}]"
              f"{'  REGRESSION' if t.regression else ('' if t.why_not_judged is None else '  (not judged)')}")
    for c in (s["ab_run"] or {}).get("comparisons", []):
        judged = [e for e in c.get("entries", []) if e.get("speedup") is not None]
        print(f"A/B vs {c['a']} ({c['a']} -> {c['b']}): {len(judged)} cases, {len(c.get('regressions', []))} "
              f"regression(s)")
        for p in c.get("pooled", []):
            print(f"  {'vs ' + c['a'] + ': ' + p['backend'] + ' pooled (' + str(len(p['cases'])) + ' cases)':36} "
                  f"{'':>20}  {p['speedup']:.2f} [{p['speedup_lo']:.2f}, {p['speedup_hi']:.2f}]"
                  f"{'  REGRESSION' if p.get('regression') else ''}")
        for t in cpu_rows(c.get("cpu", [])):
            print(f"  {'vs ' + c['a'] + ': ' + t.backend + ' CPU munmap+kworkers':36} {'':>20}  ratio "
                  f"{t.ratio:.3f} [{t.ratio_lo:.3f}, {t.ratio_hi:.3f}]"
                  f"{'  REGRESSION' if t.regression else ''}")
    for r in s["runs"]:
        if r.get("kcsan") is not None:
            k = r["kcsan"]
            print(f"KCSAN [{r['name']}]: {k['reports']} report(s), {k['ours_reports']} in zsmalloc/zram/zswap")
    if s.get("ab_not_run"):
        print(f"A/B not run ({s['ab_not_run']})")
    for key, text in s["notes"].items():
        if key != "ab" or not s.get("ab_not_run"):
            print(f"note: {key}: {text}")
    print_steps(s["steps"])
    for p in s["problems"]:
        print(f"problem: {p}")
    for w in s["warnings"]:
        print(f"warning: {w}")
    for sp in s["splats"][:5]:
        print(f"splat [{sp['run']}]: {sp['line']}")
    for bf in s["base_failures"][:10]:
        print(f"base failure (reported, not the series' fault) [{bf['run']}]: {bf['case']}"
              + (" - fails on patched too" if bf["also_in_patched"] else ""))
    bf, cr = s["build_failures"], s["crashes"]
    why = f" - build failed: {bf[0]['run']}: {bf[0]['error']}" if bf else \
        (f" - {cr[0]['run']} {cr[0]['text']}" if cr else "")
    print(f"verdict: {s['verdict'].upper()}{why}  ({rundir.path(run_dir, rundir.SUMMARY)})")


def main(argv: Sequence[str]) -> int:
    """ci/summary RUN_DIR: write summary.json, print it; exit 0 pass, 1 fail, 2 usage."""
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print("usage: ci/summary RUN_DIR", file=sys.stderr)
        return 2
    s = write(argv[0])
    print_summary(argv[0], s)
    return 0 if s["verdict"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


