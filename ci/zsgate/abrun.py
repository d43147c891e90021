# SPDX-License-Identifier: GPL-2.0
"""The A/B step (ci/ab, `./zsgate ab`): base vs patched release-latency A/B in VMs, interleaved rounds, regression rule.

Usage: ci/ab --base TREE --patched TREE [--prev TREE] --out RUN_DIR [--arch x86_64|um]
             [--rounds R] [--inner N] [--quick|--full] [--filter "HARNESS ARGS"]
             [--sizes 64,128,...] [--margin 0.10] [--labels base,patched[,prev]] [--timeout S]

Round i (i = 1..R) boots base and patched, interleaved A B B A A B B A (odd rounds
base first, even rounds patched first), each a ci/vm run (vmrun.main, in this process:
zsgate/boots.py) of the latency cases of zram_free and zswap_free (--filter; default below)
with ZSGATE_ROUNDS=N inner rounds.
With --prev (the previous revision of the series, a third kernel) each round boots all
three, in the order ab.boot_order() gives (a Williams design: position and drift hit each
kernel equally over the rounds).
Each boot's "# zsgate:" figures are one sample per case and revision; ci/zsgate/ab.py
judges them by the A/B rule, stated in docs/vm-ab.md ("The A/B rule"): base -> patched
(entries, pooled, percall, cpu), and with --prev also prev -> patched by the same rule
("comparisons"; its regressions, labelled "vs prev: ...", are in "regressions" too).

Writes RUN_DIR/ab.json (entries, pooled, percall, cpu, comparisons, runs, problems, splats) and the VM files of each boot
under RUN_DIR/ab/ (ab-<arch>-<label>-r<i>.{log,ktap,json,figures.json,vm.json}).
ci/summary puts ab.json into summary.json (`ab`, regressions and A/B problems fail the
verdict); ci/report writes report.md and report.png.
Each boot also records host_other_cpus: the CPU the rest of the host used meanwhile
(/proc/stat busy time minus the VM's own rusage), for the rule's busy-host warning.
Before any boot both images must carry ci/kunit's build stamp for their trees
(ci/zsgate/build.py): if a side's build failed or its tree holds another revision now,
nothing boots and ab.json says why ("not_run"), with no figures.
A kernel that crashed or timed out (ci/zsgate/bounded.py) is not booted again: when
RUN_DIR/meta.json lists a KUnit or VM run of this arch's kernel of a side (kunit-<arch>-<label>,
vm-<arch>-<label>) that crashed, nothing boots and ab.json says why ("not_run"); when an A/B
boot crashes or times out, the remaining boots are skipped (without that side there is no
A/B), with one line naming the boot and the crash, and ab.json lists it ("skipped").
Exit: 0 no regression and every boot clean; 1 otherwise; 2 no usable figures (or not run).

Defaults (environment: ZSGATE_AB_ARCH, ZSGATE_AB_ROUNDS, ZSGATE_AB_INNER, ZSGATE_AB_QUICK,
ZSGATE_AB_SIZES, ZSGATE_AB_FILTER, ZSGATE_AB_MARGIN): x86_64 (QEMU TCG; the encoded Part A
path exists only there, and it boots in < 1 s), 4 rounds x 2 revisions, 2 inner rounds per
boot, quick sizes (ZSGATE_QUICK=1: munmap 16/32/48/64/128 MB for the nominal 64..512,
teardown and memory return 1..4 x 64 MB). --full (nominal sizes) is for a cover-letter
run, not for the gate's budget. Costs: docs/vm-ab.md; why x86_64 and these numbers:
docs/known-issues.md.
"""

import argparse
import os
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from zsgate import ab, boots, bounded, build, config, inproc, rundir
from zsgate.log import log, set_step

# Latency cases of the A/B (kselftest_harness -f/-r filters, per binary). The seed's
# shapes: munmap by size, concurrent teardown 1..4 x 256 MB, memory return 1 and 4 procs.
DEFAULT_FILTER = ("-f munmap -r teardown.p1_munmap.concurrent -r teardown.p2_munmap.concurrent "
                  "-r teardown.p3_munmap.concurrent -r teardown.p4_munmap.concurrent "
                  "-r return_rate.p1_munmap.sampled -r return_rate.p4_munmap.sampled")
DEFAULTS: Dict[str, Any] = {"arch": "x86_64", "rounds": 4, "inner": 2, "sizes": "64,128,192,256,512",
                            "margin": ab.MARGIN, "quick": "1"}


def log_comparison(c: Dict[str, Any], prefix: str) -> None:
    """The lines ci/ab prints for one comparison (ab.compare())."""
    la, lb = c["a"], c["b"]
    for e in c["entries"]:
        if e["speedup"] is not None:
            log(f"  {prefix + ab.case_label(e):32} {la} {e['base']['median_us']:>10.0f} us  {lb} "
                f"{e['patched']['median_us']:>10.0f} us  speedup {e['speedup']:.2f} "
                f"[{e['speedup_lo']:.2f}, {e['speedup_hi']:.2f}]{'  REGRESSION' if e['regression'] else ''}")
    for p in c["pooled"]:
        log(f"  {prefix}{p['backend']} pooled, {len(p['cases'])} cases x {p['pairs']} pairs: ratio "
            f"{lb}/{la} {p['ratio']:.3f} [{p['ratio_lo']:.3f}, {p['ratio_hi']:.3f}], speedup "
            f"{p['speedup']:.2f}{'  REGRESSION' if p['regression'] else ''}")
    for e in c["percall"]:
        if e["ratio"] is None:
            log(f"  {prefix + ab.percall_label(e):32} not compared ({e.get('why_not_judged', 'no figures')})")
            continue
        log(f"  {prefix + ab.percall_label(e):32} {la} {e['base']['median_ns']:>8.0f} ns  {lb} {e['patched']['median_ns']:>8.0f} ns"
            f"  ratio {e['ratio']:.3f} [{e['ratio_lo']:.3f}, {e['ratio_hi']:.3f}]"
            f"{'  REGRESSION' if e['regression'] else ('' if e['judged'] else '  (not judged: ' + e.get('why_not_judged', '') + ')')}")
    for e in c["cpu"]:
        if e["ratio"] is None:
            log(f"  {prefix}{e['backend']} CPU munmap + kworkers: not compared ({e.get('why_not_judged', '')})")
            continue
        log(f"  {prefix}{e['backend']} CPU munmap + kworkers, {len(e['sizes_mb'])} sizes x {e['pairs']} pairs: ratio "
            f"{lb}/{la} {e['ratio']:.3f} [{e['ratio_lo']:.3f}, {e['ratio_hi']:.3f}]"
            f"{'  REGRESSION' if e['regression'] else ('' if e['judged'] else '  (not judged: ' + e.get('why_not_judged', '') + ')')}")


def parser() -> argparse.ArgumentParser:
    """ci/ab's options; the defaults read the environment when this is called."""
    env = os.environ
    ap = argparse.ArgumentParser(prog="ci/ab", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--patched", required=True)
    ap.add_argument("--prev", help="the previous revision's tree: a third kernel, judged against patched")
    ap.add_argument("--out", required=True)
    ap.add_argument("--arch", default=env.get("ZSGATE_AB_ARCH", DEFAULTS["arch"]))
    ap.add_argument("--rounds", type=int, default=int(env.get("ZSGATE_AB_ROUNDS", DEFAULTS["rounds"])))
    ap.add_argument("--inner", type=int, default=int(env.get("ZSGATE_AB_INNER", DEFAULTS["inner"])))
    ap.add_argument("--sizes", default=env.get("ZSGATE_AB_SIZES", DEFAULTS["sizes"]))
    ap.add_argument("--filter", default=env.get("ZSGATE_AB_FILTER", DEFAULT_FILTER))
    ap.add_argument("--margin", type=float, default=float(env.get("ZSGATE_AB_MARGIN", DEFAULTS["margin"])))
    ap.add_argument("--quick", action="store_true",
                    default=env.get("ZSGATE_AB_QUICK", DEFAULTS["quick"]) not in ("", "0"),
                    help="ZSGATE_QUICK=1 in the guest (sizes / 4); the default (ZSGATE_AB_QUICK=1)")
    ap.add_argument("--full", dest="quick", action="store_false", help="the nominal sizes (64..512 MB, 4 x 256 MB)")
    ap.add_argument("--labels", default="base,patched", help="base,patched (with --prev a third: default prev)")
    ap.add_argument("--timeout", type=int,
                    default=int(env.get("ZSGATE_AB_TIMEOUT") or env.get("ZSGATE_VM_TIMEOUT") or 0),
                    help="seconds per boot (default: sized to the work, ci/zsgate/bounded.py)")
    ap.add_argument("--build-dir")
    ap.add_argument("--bin")
    ap.add_argument("--judge-concurrent", action="store_true",
                    default=env.get("ZSGATE_AB_JUDGE_CONCURRENT", "") not in ("", "0"),
                    help="judge the 2..4-process teardowns too (not by default: bimodal under TCG)")
    ap.add_argument("--no-percall", dest="percall", action="store_false",
                    default=env.get("ZSGATE_AB_PERCALL", "1") not in ("", "0"),
                    help="no per-call boots (default on for x86_64: one icount boot after each latency boot)")
    ap.add_argument("--windows", type=int, default=0, metavar="N",
                    help="also judge each disjoint run of N rounds as its own gate (ab.json windows): "
                         "the rule's power from one long run, e.g. --rounds 80 --windows 4")
    ap.add_argument("--percall-only", action="store_true",
                    help="only the per-call boots (their verdict in a gate depends on nothing else): "
                         "for measuring the per-call rule")
    ap.add_argument("--reanalyze", action="store_true",
                    help="no boots: recompute ab.json from the files already in RUN_DIR/ab/")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    """ci/ab ARGS (sys.argv[1:] when None); the exit code (module docstring). SIGTERM and
    SIGHUP end it, and with it the running boot (ci/vm's code, in this process: its VM goes
    first) and its caller (inproc.Terminated): no further round boots. The handlers are
    put back on return. In another program: inproc.call(main, ...)."""
    set_step("ab")
    ap = parser()
    a = ap.parse_args(None if argv is None else list(argv))
    old = {s: signal.signal(s, inproc.on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return run(ap, a)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(ap: argparse.ArgumentParser, a: argparse.Namespace) -> int:
    labels: List[str] = a.labels.split(",")
    if a.prev and len(labels) == 2:
        labels.append("prev")
    if len(labels) != (3 if a.prev else 2) or len(set(labels)) != len(labels) or "" in labels:
        ap.error(f"--labels {a.labels}: {'three' if a.prev else 'two'} distinct names are needed")
    la, lb = labels[:2]
    lc = labels[2] if a.prev else None
    trees: Dict[str, str] = {la: a.base, lb: a.patched, **({lc: a.prev} if lc else {})}
    a.percall = (a.percall or a.percall_only) and a.arch == "x86_64"   # -icount: QEMU only
    if not a.timeout:
        a.timeout = bounded.ab_timeout(a.quick)
    sub = rundir.ab_dir(a.out)
    os.makedirs(sub, exist_ok=True)

    t0 = time.time()
    if not a.reanalyze:
        # both images must be the ones ci/kunit built from these trees (ci/zsgate/build.py):
        # a side whose build failed has no figures, so there is no A/B at all
        bd = a.build_dir or config.build_dir(a.arch)
        why = [f"{label}: {w}" for label, tree in trees.items()
               for w in [build.check(tree, os.path.join(tree, bd), a.arch)] if w]
        # a kernel that crashed in its KUnit or VM run of this gate is not booted again
        crashed = bounded.crashed_kernels(a.out, a.arch, config.build_dir_suffix(a.arch, bd))
        why += [f"{label}: {crashed[label]['run']} {crashed[label]['text']}; not booting that kernel again"
                for label in trees if label in crashed]
        if why:
            doc: Dict[str, Any] = {"arch": a.arch, "labels": [la, lb], "prev_label": lc, "trees": trees,
                   "not_run": "; ".join(why), "entries": [], "pooled": [], "regressions": [],
                   "cpu": [], "comparisons": [],
                   "runs": [], "problems": [], "warnings": [], "splats": [], "seconds": 0}
            rundir.write_ab(a.out, doc)
            for w in why:
                log(f"not running the A/B: {w}")
            return 2
    if not a.bin and not a.reanalyze:
        a.bin = boots.build_bin(a.base)
        if a.bin is None:
            log("the static selftests did not build")
            return 2
    res = boots.run(boots.Request(
        kernels=tuple(boots.Kernel(label, tree) for label, tree in trees.items()), sub=sub, arch=a.arch,
        rounds=a.rounds, filter=a.filter, inner=a.inner, sizes=a.sizes, quick=a.quick, timeout=a.timeout,
        build_dir=a.build_dir, bin=a.bin, percall=a.percall, percall_only=a.percall_only,
        reanalyze=a.reanalyze))
    runs, rounds, round_of, problems, splats, skipped = (res.runs, res.rounds, res.round_of, res.problems,
                                                        res.splats, res.skipped)
    a.inner, a.quick = res.inner, res.quick

    # the per-call boots count instructions: host load does not change their figures
    warnings = ab.host_warnings([r for r in runs if r.get("kind") != "percall"])
    main_ = ab.compare(rounds, la, lb, margin=a.margin, judged=not warnings, judge_concurrent=a.judge_concurrent)
    entries = main_["entries"]
    comparisons = [ab.compare(rounds, lc, lb, margin=a.margin, judged=not warnings,
                              judge_concurrent=a.judge_concurrent, prefix=f"vs {lc}: ")] if lc else []
    doc = {"arch": a.arch, "labels": [la, lb], "prev_label": lc, "rounds": a.rounds, "inner_rounds": a.inner,
           "filter": a.filter, "sizes_mb": a.sizes, "quick": a.quick, "margin": a.margin,
           "judge_concurrent": a.judge_concurrent,
           "statistic": ab.rule_summary(a.margin, ab.POOLED_MARGIN, a.judge_concurrent),
           "pooled_margin": ab.POOLED_MARGIN, "cpu_margin": ab.CPU_MARGIN,
           "trees": trees,
           "seconds": round(sum(r["seconds"] or 0 for r in runs) if a.reanalyze else time.time() - t0, 1),
           "entries": entries, "pooled": main_["pooled"],
           "percall": main_["percall"], "percall_margin": ab.PERCALL_MARGIN, "cpu": main_["cpu"],
           "comparisons": comparisons,
           "regressions": main_["regressions"] + [r for c in comparisons for r in c["regressions"]],
           "runs": runs, "problems": problems, "warnings": warnings, "splats": splats,
           "skipped": skipped, "timeout": a.timeout}
    if a.windows:
        doc["windows"] = ab.windows(rounds, round_of, a.windows, la, lb, a.margin, a.judge_concurrent)
        for win in doc["windows"]["per_gate"]:
            log(f"  window rounds {win['rounds']}: "
                f"{'; '.join(win['flagged']) if win['flagged'] else 'nothing flagged'}")
        log(f"{doc['windows']['flagged']} of {doc['windows']['gates']} windows of {a.windows} rounds flagged")
    rundir.write_ab(a.out, doc)
    nregs = len(doc["regressions"])
    log(f"{len(entries)} cases, {nregs} regression(s), {len(problems)} problem(s), "
        f"{time.time() - t0:.0f} s")
    for w in warnings:
        log(f"warning: {w}")
    for c in [main_] + comparisons:
        log_comparison(c, "" if c is main_ else f"vs {c['a']}: ")
    if not entries and not (a.percall_only and any(e["ratio"] is not None for e in main_["percall"])):
        return 2
    return 1 if (nregs or problems or splats) else 0


if __name__ == "__main__":
    sys.exit(main())
