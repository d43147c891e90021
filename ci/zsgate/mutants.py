# SPDX-License-Identifier: GPL-2.0
"""ci/mutants: gate every known-bad revision in series/mutants/ and check that it is rejected.

Usage: ci/mutants [--only NAME[,NAME...]] [--out DIR] [--list] [--no-control]
                  [--skip-ab] [--mutants DIR] [--series DIR]

A mutant is a patch with a header (series/mutants/README.md):
    # mutant: <what is wrong>; caught by: <case>
    # applies-to: series|base      on top of the reference series, or on plain 7.3
    # arch: um|x86_64              the arch that exposes it (one build per mutant)
    # catch: kunit:<glob>          a KUnit case (suite.case glob) must FAIL
    #        ab                    the A/B regression rule (ci/ab) must flag it
    # config: kcsan                optional: build with configs/zsmalloc-kcsan.config and run
                                   only the named cases that are race cases (speed=slow), as
                                   the gate's KCSAN step does
    # ab-rounds: N                 optional: ci/ab rounds for an ab mutant (default 4; ZSGATE_MUTANT_AB_ROUNDS wins)
Mutants with only the first line (older style) are read from it: "(applies to: base" /
"applies on top of series", "caught by: test_a, test_b (um and x86_64)", "ab regression".

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
tree (build dir .kunit-x86_64-vm, configs/vm*.config), then ci/ab; --skip-ab lists them
as not run.

Writes OUT/mutants-<id>/mutants.json and mutants.md and prints the table.
Exit: 0 every mutant caught; 1 a mutant survived, was invalid, or was not run; 2 usage.
Every kernel build goes through ci/kunit (flock on the build lock).
"""

import argparse
import contextlib
import fcntl
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List, NotRequired, Optional, Sequence, Tuple, TypedDict

from zsgate import build, config, rundir, series, splat, treeprep
from zsgate.log import log, set_step
from zsgate.results import build_failure, find_splats, first_compiler_error, kcsan_counts

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
DESCRIPTION = (__doc__ or "").splitlines()[0]

# a caught mutant "crashed" on these lines: the crash and memory kinds of zsgate/splat.py
CRASH = splat.regex(splat.CRASH, splat.MEMORY)
KCSAN_ATTR = "speed=slow"  # ci/gate's kunit-x86_64-patched-kcsan step: the race cases
ORDER = {("um", "series", ""): 0, ("um", "base", ""): 1, ("x86_64", "base", ""): 2,
         ("x86_64", "series", ""): 3, ("x86_64", "series", "kcsan"): 4,
         ("x86_64", "base", "kcsan"): 5}

# A verdict of one mutant (a row of mutants.json), or of a control.
Row = Dict[str, Any]


class MutantError(Exception):
    pass


class Mutant(TypedDict):
    """A mutant as its header says (parse_mutant())."""
    name: str
    path: str
    what: str
    caught_by_header: str
    applies_to: str          # series | base
    arch: str                # um | x86_64
    catch: str               # kunit:<glob>[,<glob>...] | ab | vm:<test>
    config: str              # "" | kcsan
    ab_rounds: NotRequired[int]
    globs: NotRequired[List[str]]   # kunit: the case globs
    filter: NotRequired[str]        # kunit: the one filter_glob covering them


class KunitResult(TypedDict):
    """What a ci/kunit run of a mutant (or a control) left (kunit_run())."""
    exit: int
    seconds: float
    cases: Dict[str, str]
    splats: List[str]
    booted: bool
    problem: NotRequired[str]
    build_error: NotRequired[Optional[str]]
    kcsan_other: NotRequired[List[str]]


def parse_mutant(path: str) -> Mutant:
    name = os.path.basename(path)[:-len(".patch")]
    head = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("--- ") or line.startswith("diff "):
                break
            head.append(line.rstrip("\n"))
    first = next((h for h in head if h.startswith("# mutant:")), None)
    if first is None:
        raise MutantError(f"{name}: no '# mutant:' header line")
    keys = {}
    for h in head:
        km = re.match(r"^#\s*(applies-to|arch|catch|config|ab-rounds):\s*(.*?)\s*$", h)
        if km:
            keys[km.group(1)] = km.group(2)
    text = " ".join(head)
    what, _, caught_by = first[len("# mutant:"):].partition("; caught by:")
    what, caught_by = what.strip(), caught_by.strip()

    applies = keys.get("applies-to")
    if not applies:
        applies = "base" if re.search(r"applies to: base|Applies on base", text, re.I) else "series"
    arch = keys.get("arch")
    paren = re.search(r"\(([^()]*)\)\s*$", caught_by)
    if not arch and re.search(r"\bab\b", caught_by):
        arch = "x86_64"  # ci/ab's default arch
    if not arch:
        arches = paren.group(1) if paren else ""
        arch = "um" if re.search(r"\bum\b", arches) else "x86_64" if "x86_64" in arches else "um"
    catch = keys.get("catch")
    if not catch:
        if re.search(r"\bab\b", caught_by):
            catch = "ab"
        else:
            cases = re.findall(r"\b(test_[A-Za-z0-9_]+)", caught_by)
            if not cases:
                raise MutantError(f"{name}: cannot tell which test catches it from '{caught_by}'")
            catch = "kunit:" + ",".join("zsmalloc." + c for c in cases)
    if applies not in ("series", "base"):
        raise MutantError(f"{name}: applies-to must be series or base, not '{applies}'")
    if arch not in ("um", "x86_64"):
        raise MutantError(f"{name}: arch must be um or x86_64, not '{arch}'")
    cfg = keys.get("config", "")
    if cfg not in ("", "kcsan"):
        raise MutantError(f"{name}: unknown config '{cfg}'")
    m: Mutant = {"name": name, "path": path, "what": what, "caught_by_header": caught_by,
                 "applies_to": applies, "arch": arch, "catch": catch, "config": cfg}
    if keys.get("ab-rounds"):
        if not keys["ab-rounds"].isdigit() or int(keys["ab-rounds"]) < 3:
            raise MutantError(f"{name}: ab-rounds must be a number >= 3, not '{keys['ab-rounds']}'")
        m["ab_rounds"] = int(keys["ab-rounds"])
    if catch.startswith("kunit:"):
        m["globs"] = [g.strip() for g in catch[len("kunit:"):].split(",") if g.strip()]
        m["filter"] = kunit_filter(m["globs"])
    elif catch != "ab" and not catch.startswith("vm:"):
        raise MutantError(f"{name}: catch must be kunit:<glob>, ab or vm:<test>, not '{catch}'")
    return m


def kunit_filter(globs: List[str]) -> str:
    """One kunit.py filter_glob that covers every glob (kunit takes one)."""
    if len(globs) == 1:
        return globs[0]
    prefix = os.path.commonprefix(globs)
    return (prefix + "*") if "." in prefix else "zsmalloc.*"


def case_results(json_path: str) -> Dict[str, str]:
    """{'zsmalloc.test_x': 'PASS'|'SKIP'|'FAIL'|...}: a parameterised case is the worst of
    its parameters."""
    with open(json_path, encoding="utf-8") as f:
        root = json.load(f)
    out: Dict[str, str] = {}
    rank = {"PASS": 0, "SKIP": 1}

    def put(k: str, st: str) -> None:
        old = out.get(k)
        if old is None or rank.get(st, 9) > rank.get(old, 9):
            out[k] = st

    for suite in root.get("sub_groups", []):
        sname = suite.get("name", "")
        for c in suite.get("test_cases", []):
            put(f"{sname}.{c['name']}", c.get("status", "?"))
        for g in suite.get("sub_groups", []):
            key = f"{sname}.{g.get('name', '')}"
            sts = [c.get("status", "?") for c in g.get("test_cases", [])] or ["NO_TESTS"]
            for st in sts:
                put(key, st)
    return out


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
    ci/kunit children then lock a private file (ZSGATE_BUILD_LOCK) under ours."""
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
    """ci/kunit ARGS (a kernel build and its KUnit run, under the build lock): its exit code."""
    return subprocess.run([os.path.join(CI, "kunit")] + args, text=True).returncode


def ci_ab(args: List[str]) -> int:
    """ci/ab ARGS (the A/B latency run of two built VM kernels): its exit code."""
    return subprocess.run([os.path.join(CI, "ab")] + args, text=True).returncode


def kunit_run(tree: str, arch: str, outdir: str, name: str, filt: str, cfg: str) -> KunitResult:
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


def judge(m: Mutant, res: KunitResult) -> Row:
    """caught / survived from the named cases, the splats and the exit code."""
    globs = m.get("globs", [])
    named = {k: v for k, v in res["cases"].items() if any(fnmatch.fnmatchcase(k, g) for g in globs)}
    failed = sorted(k for k, v in named.items() if v not in ("PASS", "SKIP"))
    other_failed = sorted(k for k, v in res["cases"].items() if v not in ("PASS", "SKIP") and k not in named)
    if failed:
        odd = sorted({named[k] for k in failed} - {"FAIL"})
        crash = [x for x in res["splats"] if CRASH.search(x)]
        how = "case failed"
        if odd or crash:
            how = "crash: " + (f"named case ended {'/'.join(odd)}" if odd else "case failed") + \
                  (f"; {crash[0].split('] ', 1)[-1].strip()[:80]}" if crash else "")
        return {"verdict": "caught", "by": failed, "how": how}
    if not res.get("booted"):
        err = res.get("build_error")
        return {"verdict": "not run", "by": [],
                "how": "build failed (a mutant must compile; see its .build.log)" + (f": {err}" if err else "")}
    if res["exit"] == 2 or not res["cases"]:
        return {"verdict": "caught", "by": ["(no results)"], "how": "crash: the kernel booted but produced no results"}
    if not named:
        return {"verdict": "caught", "by": ["(named cases missing)"], "how": "crash: named cases did not report"}
    if res["splats"]:
        return {"verdict": "caught", "by": ["(splat) " + res["splats"][0].strip()[:120]],
                "how": "splat: named cases passed but the kernel reported"}
    if other_failed:
        return {"verdict": "survived", "by": [], "how": "only unnamed cases failed: " + ", ".join(other_failed)}
    if all(v == "SKIP" for v in named.values()):
        return {"verdict": "survived", "by": [], "how": "named cases skipped"}
    return {"verdict": "survived", "by": [], "how": "named cases passed"}


def ab_mutant(m: Mutant, ksrc: str, tmp: str, outdir: str, series_dir: str) -> Row:
    """Reference tree vs mutant tree, VM kernels (vm configs), ci/ab's regression rule.
    series_dir: the reference series (--series)."""
    vm_build = config.build_dir("x86_64", "vm")
    ref = config.work_tree(ksrc, "mutant-ref")
    mt = config.work_tree(ksrc, "mutant")
    t0 = time.time()
    q_ref = make_quilt(tmp, series_dir, m["applies_to"], None) if m["applies_to"] == "series" else None
    prepare_tree(ksrc, ref, q_ref)
    prepare_tree(ksrc, mt, make_quilt(tmp, series_dir, m["applies_to"], m))
    for t, label in ((ref, "ref"), (mt, "mutant")):
        cmd = ["flock", config.build_lock(),
               "python3", "tools/testing/kunit/kunit.py", "build", "--arch=x86_64",
               f"--kunitconfig={ROOT}/configs/zsmalloc-x86_64.kunitconfig",
               f"--kunitconfig={ROOT}/configs/vm.config", f"--kunitconfig={ROOT}/configs/vm-x86_64.config",
               f"--jobs={os.environ.get('JOBS', os.cpu_count())}", "--make_options", "CC=ccache gcc",
               f"--build_dir={vm_build}"]
        log(f"{m['name']}: VM kernel build ({label})")
        blog = rundir.run_file(outdir, f"{m['name']}.{label}", "build.log")
        bdir = os.path.join(t, vm_build)
        before = build.tree_key(t)
        build.invalidate(bdir)  # ci/ab boots only what this build stamps (as ci/kunit does)
        with open(blog, "w") as lf:
            rc = subprocess.run(cmd, cwd=t, stdout=lf, stderr=subprocess.STDOUT, text=True).returncode
        if rc != 0:
            with open(blog, encoding="utf-8", errors="replace") as lf:
                err = first_compiler_error(lf) or f"kunit.py build exit {rc}"
            build.stamp_failed(t, bdir, "x86_64", f"{m['name']}.{label}", err, blog)
            return {"verdict": "not run", "by": [], "how": f"VM kernel build failed ({label}): {err}",
                    "seconds": round(time.time() - t0, 1)}
        st = build.stamp_ok(t, bdir, "x86_64", f"{m['name']}.{label}", before)
        if st["status"] != "ok":
            return {"verdict": "not run", "by": [], "how": f"VM kernel build ({label}): {st['error']}",
                    "seconds": round(time.time() - t0, 1)}
    abdir = os.path.join(outdir, m["name"] + "-ab")
    args = ["--base", ref, "--patched", mt, "--out", abdir, "--build-dir", vm_build, "--labels", "base,mutant"]
    rounds = os.environ.get("ZSGATE_MUTANT_AB_ROUNDS") or str(m.get("ab_rounds") or "")
    if rounds:
        args += ["--rounds", rounds]
    rc = ci_ab(args)
    doc: Optional[Dict[str, Any]]
    try:
        doc = rundir.read_json(rundir.path(abdir, rundir.AB))
    except (OSError, ValueError):
        doc = None
    return ab_verdict(doc, rc, round(time.time() - t0, 1))


def ab_verdict(doc: Optional[Dict[str, Any]], rc: int, secs: float) -> Row:
    """The verdict of an ab mutant from its ab.json @doc (None: none written) and ci/ab's
    exit code @rc: caught by the regressions ci/ab listed (ab.compare(), the rule)."""
    regs: List[str]
    problems: List[str]
    if doc is None:
        regs, problems = [], [f"no ab.json (ci/ab exit {rc})"]
    else:
        regs, problems = doc.get("regressions", []), doc.get("problems", [])
    if regs:
        return {"verdict": "caught", "by": [f"ab:{r}" for r in regs], "how": "A/B regression rule",
                "seconds": secs}
    if problems and rc == 2:
        return {"verdict": "not run", "by": [], "how": "; ".join(problems)[:200], "seconds": secs}
    return {"verdict": "survived", "by": [], "how": "no A/B regression" + (f" ({'; '.join(problems)[:150]})" if problems else ""),
            "seconds": secs}


def table(rows: List[Row]) -> str:
    hdr = ["mutant", "applies-to", "arch", "caught?", "by", "time"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for r in rows:
        arch = r["arch"] + ("+" + r["config"] if r.get("config") else "")
        by = ", ".join(r.get("by", [])) or "-"
        verdict = r["verdict"] + (f" ({r['how']})" if r["verdict"] != "caught" or r.get("how", "").startswith(("crash", "splat")) else "")
        lines.append(f"| {r['name']} | {r['applies_to']} | {arch} | {verdict} | {by} | {r.get('seconds', 0):.0f} s |")
    return "\n".join(lines)


def new_row(m: Mutant) -> Row:
    """A mutant's row before it is judged: what its header says."""
    return {"name": m["name"], "what": m["what"], "applies_to": m["applies_to"], "arch": m["arch"],
            "config": m["config"], "catch": m["catch"]}


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
        ms = [parse_mutant(os.path.join(a.mutants, f)) for f in sorted(os.listdir(a.mutants))
              if f.endswith(".patch")]
    except (OSError, MutantError) as e:
        print(f"zsgate: mutants: {e}", file=sys.stderr)
        return 2
    if a.only:
        want = [w.strip().removesuffix(".patch") for w in re.split(r"[ ,]+", a.only) if w.strip()]
        unknown = [w for w in want if w not in {m["name"] for m in ms}]
        if unknown:
            print(f"zsgate: mutants: unknown mutant(s): {', '.join(unknown)} (known: {', '.join(m['name'] for m in ms)})",
                  file=sys.stderr)
            return 2
        ms = [m for m in ms if m["name"] in want]
    if a.list:
        for m in ms:
            print(f"{m['name']:42} {m['applies_to']:6} {m['arch']:6} {m['config'] or '-':5} {m['catch']}")
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
    tree = config.work_tree(ksrc, "mutant")
    log(f"{len(ms)} mutant(s); tree {tree}; results {outdir}")

    rows: List[Row] = []
    controls: Dict[str, Row] = {}
    doc: Dict[str, Any] = {"run_id": run_id, "ksrc": ksrc, "tree": tree, "mutants": rows, "controls": controls}

    def save() -> None:
        doc["seconds"] = round(time.time() - t_all, 1)
        with open(os.path.join(outdir, "mutants.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(outdir, "mutants.md"), "w", encoding="utf-8") as f:
            f.write(f"# Mutants {run_id}\n\n{table(rows)}\n\n")
            if controls:
                f.write("Controls (same tree without the mutant, whole suite; kcsan: its race cases):\n\n")
                for k, c in controls.items():
                    f.write(f"- {k}: {c['status']} ({c['seconds']:.0f} s){' - ' + c['detail'] if c.get('detail') else ''}\n")
            f.write(f"\nTotal: {doc['seconds'] / 60:.1f} min\n")

    with tempfile.TemporaryDirectory(prefix="zsgate-mutants-") as tmp:
        kms = sorted((m for m in ms if "globs" in m),
                     key=lambda m: (ORDER.get((m["arch"], m["applies_to"], m["config"]), 9), m["name"]))
        lock_groups: List[Tuple[str, List[Mutant]]] = []  # one build-lock hold per arch+config
        for m in kms:
            lg = "all" if not a.lock_per_group else m["arch"] + ("+" + m["config"] if m["config"] else "")
            if not lock_groups or lock_groups[-1][0] != lg:
                lock_groups.append((lg, []))
            lock_groups[-1][1].append(m)
        for lg, group_ms in lock_groups:
            with build_lock(not a.no_hold_lock, lg):
                for m in group_ms:
                    group = f"{m['arch']}/{m['applies_to']}" + (f"/{m['config']}" if m["config"] else "")
                    row = new_row(m)
                    if group not in controls and not a.no_control:
                        log(f"control {group}: reference without mutant, whole suite")
                        t0 = time.time()
                        try:
                            q = make_quilt(tmp, a.series, m["applies_to"], None) if m["applies_to"] == "series" else None
                            prepare_tree(ksrc, tree, q)
                            cname = "control-" + group.replace("/", "-")
                            res = kunit_run(tree, m["arch"], outdir, cname, "", m["config"])
                            bad = sorted(k for k, v in res["cases"].items() if v not in ("PASS", "SKIP"))
                            ok = res["exit"] == 0 and res["cases"] and not bad and not res["splats"]
                            controls[group] = {"status": "clean" if ok else "FAILED", "seconds": round(time.time() - t0, 1),
                                               "failed": bad, "splats": res["splats"][:5], "exit": res["exit"],
                                               "detail": ", ".join(bad + res["splats"][:2])[:300]}
                        except MutantError as e:
                            controls[group] = {"status": "FAILED", "seconds": round(time.time() - t0, 1), "detail": str(e)}
                        log(f"control {group}: {controls[group]['status']} {controls[group].get('detail', '')}")
                        save()
                    t0 = time.time()
                    try:
                        prepare_tree(ksrc, tree, make_quilt(tmp, a.series, m["applies_to"], m))
                        log(f"{m['name']}: {m['arch']}{'+' + m['config'] if m['config'] else ''}, filter {m.get('filter')}")
                        res = kunit_run(tree, m["arch"], outdir, m["name"], m.get("filter", ""), m["config"])
                        row.update(judge(m, res))
                        row["cases"] = res["cases"]
                        row["splats"] = res["splats"][:5]
                        if res.get("kcsan_other"):
                            row["kcsan_other"] = res.get("kcsan_other", [])[:5]
                        row["exit"] = res["exit"]
                    except MutantError as e:
                        row.update({"verdict": "not run", "by": [], "how": str(e)})
                    if controls.get(group, {}).get("status") == "FAILED" and row["verdict"] == "caught":
                        row.update({"verdict": "invalid", "how": f"control {group} failed: " + row.get("how", "")})
                    row["seconds"] = round(time.time() - t0, 1)
                    log(f"{m['name']}: {row['verdict']} {', '.join(row.get('by', []))} ({row['seconds']:.0f} s)")
                    rows.append(row)
                    save()
        for m in (m for m in ms if m["catch"] == "ab" or m["catch"].startswith("vm:")):
            row = new_row(m)
            if m["catch"] != "ab":
                row.update({"verdict": "not run", "by": [], "how": "vm: catches are not wired into ci/mutants yet", "seconds": 0})
            elif a.skip_ab:
                row.update({"verdict": "not run", "by": [], "how": "--skip-ab", "seconds": 0})
            else:
                try:
                    row.update(ab_mutant(m, ksrc, tmp, outdir, a.series))
                except MutantError as e:
                    row.update({"verdict": "not run", "by": [], "how": str(e), "seconds": 0})
            log(f"{m['name']}: {row['verdict']} {', '.join(row.get('by', []))}")
            rows.append(row)
            save()

    save()
    print(table(rows))
    print(f"total {doc['seconds'] / 60:.1f} min; {outdir}/mutants.md")
    n_bad = sum(1 for r in rows if r["verdict"] != "caught")
    if n_bad:
        print(f"{n_bad} of {len(rows)} mutant(s) not caught: "
              + ", ".join(f"{r['name']} ({r['verdict']})" for r in rows if r["verdict"] != "caught"))
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
