# SPDX-License-Identifier: GPL-2.0
"""ci/mutants: gate every known-bad revision in series/mutants/ and check that it is rejected.

Usage: ci/mutants [--only NAME[,NAME...]] [--out DIR] [--list] [--no-control]
                  [--skip-ab] [--mutants DIR] [--series DIR]

A mutant is a patch with a header (series/mutants/README.md; read by zsgate/mutantspec.py):
its applies-to (series|base), the arch that exposes it, what catches it (kunit:<glob>: a
KUnit case must FAIL; ab: the A/B regression rule must flag it), optionally config: kcsan
(the KCSAN build, only the named race cases, as the gate's KCSAN step) and ab-rounds.

For each mutant: a quilt dir (the reference series, --series, default
config.REFERENCE_SERIES, unless applies-to is base, + the mutant) becomes the work tree
$ZSGATE_CACHE/work/<source-key>/mutant/linux (zsgate/treeprep.py in process, as ci/tree),
reused by every mutant so each is an incremental ccache rebuild of the touched files;
then ci/kunit runs only the named cases on the named arch (kunit.py filter_glob).
Caught = a named case failed. A crash or kernel splat without a named failure counts as
caught, marked "crash"/"splat". A control run (the same tree without the mutant, whole
suite) comes first for every (arch, applies-to, config) group: if it fails, the mutants
of that group are "invalid" (a failure there proves nothing).
The ab mutants need VM kernels of a reference tree (.../mutant-ref/linux) and the mutant
tree (build dir .kunit-x86_64-vm, configs/vm*.config), then ci/ab (zsgate/mutantab.py);
--skip-ab lists them as not run. The verdict rules: zsgate/mutantjudge.py.

Writes OUT/mutants-<id>/mutants.json and mutants.md and prints the table.
Exit: 0 every mutant caught; 1 a mutant survived, was invalid, or was not run; 2 usage.
Every kernel build goes through ci/kunit (flock on the build lock).
"""

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from zsgate import config, inproc, kunitrun, mutantab, rundir, series, treeprep
from zsgate.log import log, set_step
from zsgate.mutantjudge import KunitResult, Row, case_results, control_verdict, judge, table
from zsgate.mutantspec import Mutant, MutantError, catalogue, list_line
from zsgate.results import build_failure, find_splats, kcsan_counts

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
DESCRIPTION = (__doc__ or "").splitlines()[0]

KCSAN_ATTR = "speed=slow"  # ci/gate's kunit-x86_64-patched-kcsan step: the race cases
ORDER = {("um", "series", ""): 0, ("um", "base", ""): 1, ("x86_64", "base", ""): 2,
         ("x86_64", "series", ""): 3, ("x86_64", "series", "kcsan"): 4,
         ("x86_64", "base", "kcsan"): 5}


def source_env() -> Dict[str, str]:
    try:
        return treeprep.find_source(CI)
    except treeprep.TreeError as e:
        raise MutantError(str(e)) from e


def make_quilt(tmp: str, series_dir: str, applies: str, mutant: Optional[Mutant]) -> str:
    """A quilt dir: the reference series (applies-to series; a quilt dir or an mbox, read
    by zsgate/series.py as the gate reads it) + the mutant (if any)."""
    q = tempfile.mkdtemp(prefix="q-", dir=tmp)
    names = []
    if applies == "series":
        try:
            ref = series.read_series(series_dir)
        except (OSError, series.SeriesError) as e:
            raise MutantError(f"reference series {series_dir}: {e}") from e
        for p in ref.patches:
            name = p.name if ref.kind == "quilt" else p.name + ".patch"
            with open(os.path.join(q, name), "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(p.text)
            names.append(name)
    if mutant is not None:
        shutil.copyfile(mutant["path"], os.path.join(q, "zz-mutant-" + mutant["name"] + ".patch"))
        names.append("zz-mutant-" + mutant["name"] + ".patch")
    with open(os.path.join(q, "series"), "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")
    return q


@contextlib.contextmanager
def build_lock(hold: bool, what: str) -> Iterator[None]:
    """Hold the machine's build lock for a whole group of mutants: one build at a time still,
    but the group's incremental rebuilds do not queue behind other work one by one. The
    ci/kunit runs (kunitrun, in this process) then lock a private file (ZSGATE_BUILD_LOCK)
    under ours."""
    if not hold:
        yield
        return
    path = config.build_lock()
    inner = os.environ.get("ZSGATE_MUTANTS_INNER_LOCK", f"/tmp/zsgate-mutants-{os.getpid()}.lock")
    with open(path, "a") as f:
        log(f"{what}: waiting for the build lock {path}")
        t0 = time.time()
        fcntl.flock(f, fcntl.LOCK_EX)
        log(f"{what}: build lock held (waited {time.time() - t0:.0f} s)")
        old = os.environ.get("ZSGATE_BUILD_LOCK")
        os.environ["ZSGATE_BUILD_LOCK"] = inner
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("ZSGATE_BUILD_LOCK", None)
            else:
                os.environ["ZSGATE_BUILD_LOCK"] = old
            fcntl.flock(f, fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                os.unlink(inner)
            log(f"{what}: build lock released")


def prepare_tree(ksrc: str, tree: str, quilt: Optional[str], kunit_dir: str = "") -> None:
    """The work tree in our own dir, in this process (zsgate/treeprep.py, what ci/tree
    does): ksrc + the quilt dir's patches (none: plain base, for a control of base
    mutants) + the suite of kunit_dir (default ROOT/kunit)."""
    if not os.path.isfile(os.path.join(ksrc, "mm", "zsmalloc.c")):
        raise MutantError(f"tree: {ksrc} is not a Linux source tree")
    try:
        ser = series.read_series(quilt) if quilt is not None else None
        treeprep.prepare(ksrc, tree, ser, kunit_dir or os.path.join(ROOT, "kunit"))
    except (OSError, series.SeriesError, treeprep.TreeError) as e:
        raise MutantError(f"tree: {str(e)[-400:]}") from e


def ci_kunit(args: List[str]) -> int:
    """ci/kunit ARGS (a kernel build and its KUnit run, under the build lock; kunitrun in this
    process through inproc.call, kunit.py its child): its exit code."""
    return inproc.call(kunitrun.main, args, "kunit")


def kunit_run(tree: str, arch: str, outdir: str, name: str, filt: str, cfg: str) -> KunitResult:
    """ci/kunit of tree (filt: a filter_glob, "" the whole suite; cfg kcsan: the KCSAN build,
    race cases only), then what it left in outdir: results, console splats, build error."""
    args = ["--tree", tree, "--arch", arch, "--out", outdir, "--name", name,
            "--timeout", os.environ.get("ZSGATE_MUTANT_TIMEOUT", "300"), "--panic-on-oops"]
    if filt:
        args += ["--filter", filt]
    if cfg == "kcsan":
        # what the gate's KCSAN step runs (ci/gate): the race cases only (KUNIT_CASE_SLOW),
        # not every case under KCSAN (the whole suite took > 300 s on a loaded host)
        args += ["--kcsan", "--attr-filter", KCSAN_ATTR]
        if not filt:
            args += ["--filter", "zsmalloc"]
    t0 = time.time()
    rc = ci_kunit(args)
    res: KunitResult = {"exit": rc, "seconds": round(time.time() - t0, 1), "cases": {}, "splats": [],
                        "booted": False}
    jp = rundir.run_file(outdir, name, "json")
    if os.path.isfile(jp) and os.path.getsize(jp):
        try:
            res["cases"] = case_results(jp)
        except (OSError, ValueError) as e:
            res["problem"] = f"unreadable {jp}: {e}"
    lp = rundir.run_file(outdir, name, "log")
    # ci/kunit copies the console only when kunit.py got as far as booting the kernel
    res["booted"] = bool(res["cases"]) or (os.path.isfile(lp) and os.path.getsize(lp) > 0)
    bp = rundir.run_file(outdir, name, "build.log")
    if not res["booted"] and os.path.isfile(bp):
        with open(bp, encoding="utf-8", errors="replace") as f:
            res["build_error"] = build_failure(f)
    if os.path.isfile(lp):
        with open(lp, encoding="utf-8", errors="replace") as f:
            res["splats"] = find_splats(f, limit=50)
    if cfg == "kcsan" and os.environ.get("ZSGATE_KCSAN_ALL", "0") != "1":
        # as ci/kunit: KCSAN reports outside zsmalloc/zram/zswap/the suite do not count
        res["kcsan_other"] = [s for s in res["splats"] if "KCSAN: " in s and not kcsan_counts(s)]
        res["splats"] = [s for s in res["splats"] if s not in res["kcsan_other"]]
    res["splats"] = res["splats"][:10]
    return res


def ab_mutant(m: Mutant, ksrc: str, tmp: str, outdir: str, series_dir: str) -> Row:
    """Reference tree vs mutant tree, VM kernels (vm configs), ci/ab's regression rule
    (zsgate/mutantab.py). series_dir: the reference series (--series)."""
    ref = config.work_tree(ksrc, "mutant-ref")
    mt = config.work_tree(ksrc, "mutant")
    t0 = time.time()
    q_ref = make_quilt(tmp, series_dir, m["applies_to"], None) if m["applies_to"] == "series" else None
    prepare_tree(ksrc, ref, q_ref)
    prepare_tree(ksrc, mt, make_quilt(tmp, series_dir, m["applies_to"], m))
    return mutantab.run(m, ref, mt, outdir, t0)


def new_row(m: Mutant) -> Row:
    """A mutant's row before it is judged: what its header says."""
    return {"name": m["name"], "what": m["what"], "applies_to": m["applies_to"], "arch": m["arch"],
            "config": m["config"], "catch": m["catch"]}


def group_of(m: Mutant) -> str:
    """The control group of a KUnit mutant: arch/applies-to[/config]."""
    return f"{m['arch']}/{m['applies_to']}" + (f"/{m['config']}" if m["config"] else "")


def lock_groups(ms: List[Mutant], per_group: bool) -> List[Tuple[str, List[Mutant]]]:
    """The KUnit mutants in run order (ORDER, then name), cut into build-lock holds: one
    ("all") or, per_group, one per arch+config."""
    kms = sorted((m for m in ms if "globs" in m),
                 key=lambda m: (ORDER.get((m["arch"], m["applies_to"], m["config"]), 9), m["name"]))
    groups: List[Tuple[str, List[Mutant]]] = []
    for m in kms:
        lg = "all" if not per_group else m["arch"] + ("+" + m["config"] if m["config"] else "")
        if not groups or groups[-1][0] != lg:
            groups.append((lg, []))
        groups[-1][1].append(m)
    return groups


class Run:
    """One invocation: its mutants.json / mutants.md in OUT/mutants-<id>/, the rows and the
    controls so far (written after each)."""

    def __init__(self, a: argparse.Namespace, ksrc: str, tmp: str, run_id: str, outdir: str, t_all: float) -> None:
        self.a, self.ksrc, self.tmp, self.run_id, self.outdir = a, ksrc, tmp, run_id, outdir
        self.t_all = t_all
        self.tree = config.work_tree(ksrc, "mutant")
        self.rows: List[Row] = []
        self.controls: Dict[str, Row] = {}
        self.doc: Dict[str, Any] = {"run_id": run_id, "ksrc": ksrc, "tree": self.tree, "mutants": self.rows,
                                    "controls": self.controls}

    def save(self) -> None:
        doc, controls = self.doc, self.controls
        doc["seconds"] = round(time.time() - self.t_all, 1)
        with open(os.path.join(self.outdir, "mutants.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(self.outdir, "mutants.md"), "w", encoding="utf-8") as f:
            f.write(f"# Mutants {self.run_id}\n\n{table(self.rows)}\n\n")
            if controls:
                f.write("Controls (same tree without the mutant, whole suite; kcsan: its race cases):\n\n")
                for k, c in controls.items():
                    f.write(f"- {k}: {c['status']} ({c['seconds']:.0f} s){' - ' + c['detail'] if c.get('detail') else ''}\n")
            f.write(f"\nTotal: {doc['seconds'] / 60:.1f} min\n")

    def control(self, m: Mutant, group: str) -> None:
        """The control of m's group: the same tree without a mutant, the whole suite."""
        log(f"control {group}: reference without mutant, whole suite")
        t0 = time.time()
        try:
            q = make_quilt(self.tmp, self.a.series, m["applies_to"], None) if m["applies_to"] == "series" else None
            prepare_tree(self.ksrc, self.tree, q)
            cname = "control-" + group.replace("/", "-")
            res = kunit_run(self.tree, m["arch"], self.outdir, cname, "", m["config"])
            self.controls[group] = control_verdict(res, round(time.time() - t0, 1))
        except MutantError as e:
            self.controls[group] = {"status": "FAILED", "seconds": round(time.time() - t0, 1), "detail": str(e)}
        log(f"control {group}: {self.controls[group]['status']} {self.controls[group].get('detail', '')}")
        self.save()

    def kunit_mutant(self, m: Mutant) -> None:
        """A KUnit mutant (its group's control first): its tree, ci/kunit of its cases, the verdict."""
        group = group_of(m)
        row = new_row(m)
        if group not in self.controls and not self.a.no_control:
            self.control(m, group)
        t0 = time.time()
        try:
            prepare_tree(self.ksrc, self.tree, make_quilt(self.tmp, self.a.series, m["applies_to"], m))
            log(f"{m['name']}: {m['arch']}{'+' + m['config'] if m['config'] else ''}, filter {m.get('filter')}")
            res = kunit_run(self.tree, m["arch"], self.outdir, m["name"], m.get("filter", ""), m["config"])
            row.update(judge(m, res))
            row["cases"] = res["cases"]
            row["splats"] = res["splats"][:5]
            if res.get("kcsan_other"):
                row["kcsan_other"] = res.get("kcsan_other", [])[:5]
            row["exit"] = res["exit"]
        except MutantError as e:
            row.update({"verdict": "not run", "by": [], "how": str(e)})
        if self.controls.get(group, {}).get("status") == "FAILED" and row["verdict"] == "caught":
            row.update({"verdict": "invalid", "how": f"control {group} failed: " + row.get("how", "")})
        row["seconds"] = round(time.time() - t0, 1)
        log(f"{m['name']}: {row['verdict']} {', '.join(row.get('by', []))} ({row['seconds']:.0f} s)")
        self.rows.append(row)
        self.save()

    def other_mutant(self, m: Mutant) -> None:
        """An ab mutant (or a vm: one, not wired yet)."""
        row = new_row(m)
        if m["catch"] != "ab":
            row.update({"verdict": "not run", "by": [], "how": "vm: catches are not wired into ci/mutants yet", "seconds": 0})
        elif self.a.skip_ab:
            row.update({"verdict": "not run", "by": [], "how": "--skip-ab", "seconds": 0})
        else:
            try:
                row.update(ab_mutant(m, self.ksrc, self.tmp, self.outdir, self.a.series))
            except MutantError as e:
                row.update({"verdict": "not run", "by": [], "how": str(e), "seconds": 0})
        log(f"{m['name']}: {row['verdict']} {', '.join(row.get('by', []))}")
        self.rows.append(row)
        self.save()

    def all(self, ms: List[Mutant]) -> None:
        for lg, group_ms in lock_groups(ms, self.a.lock_per_group):
            with build_lock(not self.a.no_hold_lock, lg):
                for m in group_ms:
                    self.kunit_mutant(m)
        for m in ms:
            if m["catch"] == "ab" or m["catch"].startswith("vm:"):
                self.other_mutant(m)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=DESCRIPTION)
    ap.add_argument("--only", default=os.environ.get("ONLY", ""))
    ap.add_argument("--out", default=os.environ.get("OUT", os.path.join(ROOT, "out")))
    ap.add_argument("--mutants", default=os.path.join(ROOT, "series", "mutants"))
    ap.add_argument("--series", default=config.reference_series(ROOT),
                    help=f"the reference series the applies-to: series mutants go on (default {config.REFERENCE_SERIES})")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--no-control", action="store_true")
    ap.add_argument("--no-hold-lock", action="store_true",
                    help="lock per kunit.py run instead of once for the whole catalogue")
    ap.add_argument("--lock-per-group", action="store_true",
                    help="release the build lock between arch groups (others can build in between)")
    ap.add_argument("--skip-ab", action="store_true", default=bool(os.environ.get("ZSGATE_MUTANTS_SKIP_AB")))
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    os.environ.setdefault("ZSGATE_T0", str(int(time.time())))
    set_step("mutants")
    a = parse_args(argv)
    try:
        ms = catalogue(a.mutants, a.only)
    except (OSError, MutantError) as e:
        print(f"zsgate: mutants: {e}", file=sys.stderr)
        return 2
    if a.list:
        for m in ms:
            print(list_line(m))
        return 0

    t_all = time.time()
    try:
        ksrc = source_env()["KSRC"]
    except MutantError as e:
        print(f"zsgate: mutants: {e}", file=sys.stderr)
        return 2
    run_id = os.environ.get("RUN_ID") or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    outdir = os.path.join(a.out, "mutants-" + run_id)
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zsgate-mutants-") as tmp:
        r = Run(a, ksrc, tmp, run_id, outdir, t_all)
        log(f"{len(ms)} mutant(s); tree {r.tree}; results {outdir}")
        r.all(ms)
    r.save()
    rows = r.rows
    print(table(rows))
    print(f"total {r.doc['seconds'] / 60:.1f} min; {outdir}/mutants.md")
    n_bad = sum(1 for x in rows if x["verdict"] != "caught")
    if n_bad:
        print(f"{n_bad} of {len(rows)} mutant(s) not caught: "
              + ", ".join(f"{x['name']} ({x['verdict']})" for x in rows if x["verdict"] != "caught"))
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
