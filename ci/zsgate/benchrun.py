# SPDX-License-Identifier: GPL-2.0
"""`make bench` (ci/bench): the full measurement of one revision, for its cover letter.

Four x86_64 kernels boot in the same interleaved rounds (zsgate.boots, the A/B's loop; a
Williams design over four kernels):

  7.2      Debian's linux-source-7.2 (BASE72=; no Part A)
  7.3      Debian's linux-source-7.3 (Part A), the gate's base tree
  patched  7.3 + the revision (SERIES=, default the reference series), the gate's patched tree
  limit    7.3 + series/controls/limit (CONTROL, NEVER A REVISION: the release path does no
           zsmalloc free), booted with ZSGATE_CONTROL=1

Each boot runs the latency cases at the seed's sizes (munmap 64..512 MB, teardown 1..4 x
256 MB by munmap and by exit, memory return) and the bench cases (swap-in, mixed
resident/swapped, compaction loop, every CPU busy) of both collections. Each kernel is built
(and its KUnit suite run) by ci/kunit first, reusing the gate's trees, build dirs and ccache.
zsgate.bench turns the boots into bench.json and bench.md; this module also draws
bench-speedup.png and bench-return.png. What the columns mean, the time it takes and what
to paste into a cover letter: docs/bench.md. The bench judges nothing: its exit is 0 when
every kernel booted and gave figures, 1 when a kernel is missing or a boot had problems.
"""

import argparse
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from zsgate import bench, boots, build, config, deps, inproc, kunitrun, results, rundir, series, treeprep
from zsgate.log import log, set_step

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
LIMIT_SERIES = os.path.join("series", "controls", "limit")
# the A/B's latency cases without its -r narrowing (teardown by exit too), then the bench's
FILTER = ("-f munmap -f teardown -f return_rate -f swapin -f mixed -f compaction -f pressure")
SIZES = "64,128,192,256,512"
ROUNDS, INNER, MEM_MB, BASE72 = 3, 1, 3072, "7.2"
# a boot at the seed's sizes: measured 2026-12-02 (docs/bench.md); bounded, not 20 min
BOOT_TIMEOUT = 1500
ARCH = "x86_64"
# in every boot's initramfs: the pressure case's CPU hogs (x86_64 guests have busybox only)
TOOLS = ("stress-ng",)


class BenchError(Exception):
    pass


def kernel(label: str, tree: str) -> boots.Kernel:
    """A bench kernel; the limit control boots with ZSGATE_CONTROL=1 (no pool-baseline check)."""
    return boots.Kernel(label, tree, ("ZSGATE_CONTROL=1",) if label == bench.LIMIT else ())


def prepare(ksrc: str, name: str, quilt: Optional[str]) -> Tuple[str, str]:
    """The work tree of @ksrc named @name with @quilt's patches (None: the plain source),
    in this process (what ci/tree does); (tree, series id)."""
    tree = config.work_tree(ksrc, name)
    try:
        ser = series.read_series(quilt) if quilt else None
        state = treeprep.prepare(ksrc, tree, ser, os.path.join(ROOT, "kunit"))
    except (OSError, series.SeriesError, treeprep.TreeError) as e:
        raise BenchError(f"tree {name}: {str(e)[-400:]}") from e
    return tree, (state["series"]["id"] if ser else "")


def kunit(tree: str, run: str, label: str) -> Dict[str, Any]:
    """ci/kunit on @tree (x86_64; kunitrun in this process): builds the kernel the boots use
    (stamped) and runs its KUnit suite; the suite's counts are recorded, not judged (the gate
    judges)."""
    name = f"kunit-{ARCH}-{label.replace('.', '')}"
    rundir.add_run(run, name, ARCH, label, "kunit")
    t0 = time.time()
    rc = inproc.call(kunitrun.main, ["--tree", tree, "--arch", ARCH, "--out", run, "--name", name], "kunit")
    rundir.add_step(run, name, t0, time.time(), rc)
    counts = results.count_kunit_json(rundir.run_file(run, name, "json")) \
        if os.path.exists(rundir.run_file(run, name, "json")) else None
    return {"run": name, "exit": rc, "counts": counts,
            "build": build.check(tree, os.path.join(tree, config.build_dir(ARCH)), ARCH) or "ok"}


def parse(argv: Sequence[str]) -> argparse.Namespace:
    env = os.environ
    ap = argparse.ArgumentParser(prog="ci/bench", description=__doc__.splitlines()[0])
    ap.add_argument("--series", default=env.get("SERIES") or config.reference_series(ROOT),
                    help="the revision: a quilt dir or b4 mbox (SERIES; default the reference series)")
    ap.add_argument("--base72", default=env.get("BASE72") or BASE72,
                    help="the kernel without Part A: a Debian version (7.2) or a tree (BASE72)")
    ap.add_argument("--rounds", type=int, default=int(env.get("ZSGATE_BENCH_ROUNDS") or ROUNDS))
    ap.add_argument("--inner", type=int, default=int(env.get("ZSGATE_BENCH_INNER") or INNER),
                    help="rounds inside each boot (ZSGATE_ROUNDS in the guest)")
    ap.add_argument("--mem", type=int, default=int(env.get("ZSGATE_BENCH_MEM") or MEM_MB),
                    help="MB per VM (the limit keeps what it does not free: 3072 leaves room)")
    ap.add_argument("--filter", default=env.get("ZSGATE_BENCH_FILTER") or FILTER)
    ap.add_argument("--sizes", default=env.get("ZSGATE_BENCH_SIZES") or SIZES)
    ap.add_argument("--quick", action="store_true", help="quick sizes (a dry run of the pipeline, not for a letter)")
    ap.add_argument("--timeout", type=int, default=int(env.get("ZSGATE_BENCH_TIMEOUT") or BOOT_TIMEOUT))
    ap.add_argument("--out", default=env.get("OUT") or os.path.join(ROOT, "out"), help="results root (OUT)")
    ap.add_argument("--reanalyze", metavar="RUN_DIR", help="no builds, no boots: bench.json/md/png again")
    return ap.parse_args(argv)


def run_kernels(a: argparse.Namespace) -> Tuple[str, List[boots.Kernel], Dict[str, Any]]:
    """Sources, trees and builds of the four kernels; (run dir, kernels, what was built)."""
    if inproc.call(deps.main, [], "deps") != 0:
        raise BenchError("ci/deps failed: the packages above are missing")
    try:
        kdir = os.environ.get("KDIR")
        s73 = treeprep.find_source(CI, {"KDIR": kdir} if kdir else {})
        s72 = treeprep.find_source(CI, {"KDIR": a.base72} if os.path.isdir(a.base72) else {"BASE": a.base72})
    except treeprep.TreeError as e:
        raise BenchError(str(e)) from e
    if s72["KSRC"] == s73["KSRC"]:
        raise BenchError(f"BASE72={a.base72} is the 7.3 source itself: no Part A step to measure")
    if not os.path.exists(a.series):
        raise BenchError(f"SERIES={a.series} does not exist")
    trees: Dict[str, Tuple[str, str]] = {
        bench.BASE72: prepare(s72["KSRC"], "base", None),
        bench.BASE73: prepare(s73["KSRC"], "base", None),
        bench.PATCHED: prepare(s73["KSRC"], "patched", a.series),
        bench.LIMIT: prepare(s73["KSRC"], "limit", os.path.join(ROOT, LIMIT_SERIES)),
    }
    sid = trees[bench.PATCHED][1]
    run = os.path.join(a.out, f"bench-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{sid}")
    os.makedirs(run, exist_ok=True)
    rundir.init_meta(run, s73.get("KVERSION", ""), s73.get("PART_A") == "true", s73.get("KPKG", ""),
                     s73["KSRC"], ("mbox" if os.path.isfile(a.series) else "quilt", sid, os.path.realpath(a.series)))
    ln = os.path.join(a.out, "latest-bench")
    if os.path.islink(ln) or not os.path.exists(ln):
        if os.path.islink(ln):
            os.unlink(ln)
        os.symlink(os.path.basename(run), ln)
    log(f"results go to {run}")
    info: Dict[str, Any] = {"kernels": {}}
    for label, (tree, tid) in trees.items():
        ks = s72 if label == bench.BASE72 else s73
        log(f"kernel {label}: {tree} ({ks.get('KVERSION', '?')}{', ' + tid if tid else ''}): building (ci/kunit)")
        k = kunit(tree, run, label)
        info["kernels"][label] = {"tree": tree, "version": ks.get("KVERSION"), "package": ks.get("KPKG"),
                                  "series_id": tid, **k}
        if k["build"] != "ok":
            log(f"kernel {label}: {k['build']}")
    kernels = [kernel(label, tree) for label, (tree, _) in trees.items() if info["kernels"][label]["build"] == "ok"]
    return run, kernels, info


def main(argv: Sequence[str]) -> int:
    set_step("bench")
    a = parse(argv)
    t0 = time.time()
    try:
        if a.reanalyze:
            run = a.reanalyze
            old = rundir.read_json(rundir.path(run, rundir.BENCH))
            info = {"kernels": old.get("kernels", {})}
            kernels = [kernel(lab, k["tree"]) for lab, k in info["kernels"].items() if k.get("build") == "ok"]
            a.rounds = old.get("rounds", a.rounds)
        else:
            run, kernels, info = run_kernels(a)
    except (BenchError, subprocess.CalledProcessError) as e:
        log(f"no bench: {e}")
        return 2
    sub = rundir.bench_dir(run)
    os.makedirs(sub, exist_ok=True)
    if a.rounds < 1:
        log(f"--rounds {a.rounds}: the kernels are built, nothing boots")
        return 0 if len(kernels) == len(bench.LABELS) else 1
    if len(kernels) < 2:
        log("fewer than two kernels built: nothing to compare")
        return 2
    binp: Optional[str] = None
    if not a.reanalyze:
        binp = boots.build_bin(kernels[0].tree)
        if binp is None:
            log("the static selftests did not build")
            return 2
    b0 = time.time()
    res = boots.run(boots.Request(
        kernels=tuple(kernels), sub=sub, arch=ARCH, rounds=a.rounds, filter=a.filter, inner=a.inner,
        sizes=a.sizes, quick=a.quick, timeout=a.timeout, bin=binp, mem=a.mem, tools=TOOLS, prefix="bench",
        reanalyze=bool(a.reanalyze)))
    doc = bench.analyze(res.rounds, res.runs)
    doc.update({"kernels": info["kernels"], "rounds": a.rounds, "inner_rounds": res.inner,
                "quick": res.quick, "filter": a.filter, "sizes_mb": a.sizes, "mem_mb": a.mem,
                "boot_seconds": round(time.time() - b0, 1) if not a.reanalyze else None,
                "seconds": round(time.time() - t0, 1) if not a.reanalyze else None,
                "release_cases": list(bench.RELEASE_CASES) + ["swapin"],
                "runs": res.runs, "problems": res.problems, "splats": res.splats, "skipped": res.skipped})
    rundir.write_bench(run, doc)
    with open(rundir.path(run, rundir.BENCH_MD), "w") as f:
        f.write(header(doc) + bench.markdown(doc))
    plots = subprocess.run(["/usr/bin/python3", "-m", "zsgate.benchplot", rundir.path(run, rundir.BENCH), run],
                           cwd=CI, capture_output=True, text=True)
    if plots.returncode != 0:
        log(f"plots failed (the tables stand): {plots.stderr.strip()[-300:]}")
    missing = [lab for lab in bench.LABELS if lab not in {k.label for k in kernels}]
    log(f"bench: {len(res.runs)} boots in {time.time() - b0:.0f} s; {run}/bench.md")
    for p in res.problems:
        log(f"problem: {p}")
    for w in doc["warnings"]:
        log(f"warning: {w}")
    if missing:
        log(f"not measured: {', '.join(missing)} (no build)")
    return 1 if (missing or res.problems or res.splats) else 0


def header(doc: Dict[str, Any]) -> str:
    """The kernels, their builds and KUnit counts, the run's shape and its problems."""
    out = ["<!-- written by ci/bench (zsgate.benchrun); docs/bench.md says what each column means -->", ""]
    out += ["| kernel | version | revision | KUnit pass/fail/skip |", "|---|---|---|---|"]
    for lab, k in doc["kernels"].items():
        c = k.get("counts") or {}
        cnt = f"{c.get('pass', 0)}/{c.get('fail', 0)}/{c.get('skip', 0)}" if c else "no results"
        rev = k.get("series_id") or ("CONTROL, never a revision" if lab == bench.LIMIT else "none")
        if lab == bench.LIMIT and k.get("series_id"):
            rev = f"{k['series_id']} (CONTROL, never a revision)"
        out.append(f"| {lab} | {k.get('version')} | {rev} | {cnt}{'' if k.get('build') == 'ok' else ' – ' + str(k.get('build'))} |")
    secs = doc.get("seconds")
    out += ["", f"{doc['rounds']} rounds x {len(doc['kernels'])} kernels, {doc['inner_rounds']} inner round(s) "
            f"per boot, {'quick' if doc['quick'] else 'the seed'}'s sizes, {doc['mem_mb']} MB VMs, x86_64 QEMU TCG"
            + (f"; {secs / 60:.0f} min in all, the boots {doc['boot_seconds'] / 60:.0f} min" if secs else "") + ".", ""]
    if doc["problems"] or doc["splats"]:
        out += ["**Problems:**", ""] + [f"- {p}" for p in doc["problems"]] + \
               [f"- splat in {s['run']}: {s['line']}" for s in doc["splats"]] + [""]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
