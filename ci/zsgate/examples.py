# SPDX-License-Identifier: GPL-2.0
"""ci/examples: gate every example revision in series/examples/ and check each verdict.

Usage: ci/examples [--only NAME[,NAME...]] [--out DIR] [--examples DIR] [--ab] [--list]
                   [--rejudge OUT/examples-ID]

An example is a quilt dir series/examples/<name>/ whose `series` file starts with comment
headers (series/examples/README.md):
    # example: <the shape, the posted revision it models>
    # expect: pass | fail
    # twin-of: <name>                  (a bad one: the good example it is a copy of)
    # arch: um | x86_64 | any          (where the bug shows; default any)
    # base: 7.2                        (optional: the gate's BASE, e.g. a Part A revision)
    # catch: kunit:<suite.case glob>, vm:<collection>.<case glob>, ...
Each one is gated by ci/gate (SERIES=<dir>; ARCHS from `arch:`, `any` = $ARCHS or
"um x86_64"; ZSGATE_NO_AB=1 unless --ab: the correctness part, KUnit + VM kselftests,
base and patched). The patched tree is one for all examples ($ZSGATE_CACHE/work/examples/
linux, examples-<base>/linux for a `base:` one), so each example is an incremental
rebuild; every build goes through ci/kunit's build lock.
  expect: pass  ok when the gate's verdict is PASS; "rejected" otherwise.
  expect: fail  ok when the verdict is FAIL and every `catch:` item names a test that
                failed on patched and not on base (a KUnit case of a kunit-*-patched run,
                a VM kselftest case of a vm-*-patched run; a glob matches a case or its
                parameterised parent); "passed" when the gate passed, "wrong reason" when
                it failed without its catching tests failing (e.g. the build failed), "not
                by the bug" when its good twin, gated in the same run, fails a catching
                test too.
Writes OUT/examples-<id>/examples.json and examples.md (name, expect, verdict, result,
catching test, time) and each gate run under OUT/examples-<id>/<name>/; prints the table.
Exit: 0 every example as expected; 1 one is not; 2 usage or a bad header.
--rejudge re-reads the gate runs of an earlier invocation (its examples.json and each
<name>/summary.json) and judges them again with this code, without gating anything.
ZSGATE_EXAMPLES_GATE=<cmd> runs another gate command (the tests use a fake).
"""

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, TypedDict

from zsgate import config, rundir
from zsgate.log import log, set_step

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
DESCRIPTION = (__doc__ or "").splitlines()[0]
HEADERS = ("example", "expect", "twin-of", "arch", "catch", "base")

# A row of examples.json: the example, the gate's verdict and the result.
Row = Dict[str, Any]


class ExampleError(Exception):
    pass


class Catch(TypedDict):
    kind: str   # kunit | vm
    glob: str
    item: str   # kind:glob, as the header wrote it


class Example(TypedDict):
    """An example as its headers say (parse_example())."""
    name: str
    path: str
    what: str
    expect: str     # pass | fail
    twin_of: str
    arch: str       # um | x86_64 | any
    catch: List[Catch]
    base: str       # "" or 7.N


def parse_example(path: str) -> Example:
    """The headers of <path>/series: the `# key: value` lines before the first patch
    (a header value may go on over `#    ` lines that name no key)."""
    name = os.path.basename(os.path.normpath(path))
    sf = os.path.join(path, "series")
    if not os.path.isfile(sf):
        raise ExampleError(f"{name}: no series file")
    keys: Dict[str, str] = {}
    last = None
    with open(sf, encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip()
            if not s:
                continue
            if not s.startswith("#"):
                break
            m = re.match(r"^#\s*([a-z-]+):\s*(.*?)\s*$", s)
            if m and m.group(1) in HEADERS:
                last = m.group(1)
                keys[last] = m.group(2)
            elif last == "catch" and re.match(r"^#\s+\S", s) and not s.lstrip("# ").startswith("("):
                keys["catch"] += " " + s.lstrip("# ").strip()
    if "expect" not in keys:
        raise ExampleError(f"{name}: no '# expect: pass|fail' header in {sf}")
    ex: Example = {"name": name, "path": path, "what": keys.get("example", ""), "expect": keys["expect"],
                   "twin_of": keys.get("twin-of", ""), "arch": keys.get("arch", "any") or "any", "catch": [],
                   "base": ""}
    if ex["expect"] not in ("pass", "fail"):
        raise ExampleError(f"{name}: expect must be pass or fail, not '{ex['expect']}'")
    ex["base"] = keys.get("base", "")
    if ex["base"] and not re.match(r"^7\.\d+$", ex["base"]):
        raise ExampleError(f"{name}: base is a Debian kernel version such as 7.2, not '{ex['base']}'")
    if ex["arch"] not in ("um", "x86_64", "any"):
        raise ExampleError(f"{name}: arch must be um, x86_64 or any, not '{ex['arch']}'")
    for item in re.split(r"[,\s]+", keys.get("catch", "")):
        if not item:
            continue
        kind, _, glob = item.partition(":")
        if kind not in ("kunit", "vm") or not glob:
            raise ExampleError(f"{name}: catch items are kunit:<suite.case glob> or "
                               f"vm:<collection>.<case glob>, not '{item}'")
        ex["catch"].append({"kind": kind, "glob": glob, "item": item})
    if ex["expect"] == "fail" and not ex["catch"]:
        raise ExampleError(f"{name}: expect: fail needs a '# catch:' header naming the test that fails")
    return ex


def catalogue(examples_dir: str, only: str = "") -> List[Example]:
    """Every example (a dir with a series file) of examples_dir, by name; only: the names
    (commas or blanks) to keep. ExampleError (OSError too) for a bad header, a twin-of
    that is not there, an unknown name or no example at all."""
    names = sorted(d for d in os.listdir(examples_dir) if os.path.isfile(os.path.join(examples_dir, d, "series")))
    exs = [parse_example(os.path.join(examples_dir, d)) for d in names]
    known = {e["name"] for e in exs}
    for e in exs:
        if e["twin_of"] and e["twin_of"] not in known:
            raise ExampleError(f"{e['name']}: twin-of {e['twin_of']}, which is not in {examples_dir}")
    if only:
        want = [w.strip() for w in re.split(r"[ ,]+", only) if w.strip()]
        unknown = [w for w in want if w not in known]
        if unknown:
            raise ExampleError(f"unknown example(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        exs = [e for e in exs if e["name"] in want]
    if not exs:
        raise ExampleError(f"no example in {examples_dir}")
    return exs


def archs_of(ex: Example) -> str:
    return (os.environ.get("ARCHS") or "um x86_64") if ex["arch"] == "any" else ex["arch"]


def list_line(e: Example) -> str:
    """The --list line of an example: how its headers were read."""
    return (f"{e['name']:32} {e['expect']:4} {archs_of(e):11} {'base ' + e['base'] if e['base'] else '':8} "
            f"{', '.join(c['item'] for c in e['catch']) or '-'}")


def matches(glob: str, case: str) -> bool:
    """A glob names a case, or the parameterised case a parameter belongs to."""
    parts = case.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:i]), glob) for i in range(len(parts), 1, -1))


def new_failures(summary: Mapping[str, Any]) -> Dict[str, Dict[str, List[str]]]:
    """{"kunit"|"vm": {case: [run names]}}: cases that failed on patched and not in the
    base run of the same kind and arch (what the series broke)."""
    base = {}
    for r in summary.get("runs", []):
        if r.get("revision") == "base":
            base[(r.get("kind"), r.get("arch"))] = set(r.get("failed_cases", []))
    out: Dict[str, Dict[str, List[str]]] = {"kunit": {}, "vm": {}}
    for r in summary.get("runs", []):
        if r.get("revision") != "patched" or r.get("kind") not in out:
            continue
        for c in r.get("failed_cases", []):
            if c not in base.get((r.get("kind"), r.get("arch")), set()):
                out[r["kind"]].setdefault(c, []).append(r["name"])
    return out


def judge(ex: Example, summary: Optional[Mapping[str, Any]]) -> Row:
    """result: ok / rejected / passed / wrong reason / no verdict, with the catching tests."""
    if summary is None:
        return {"verdict": "none", "result": "no verdict", "ok": False, "by": [],
                "why": "the gate wrote no summary.json"}
    verdict: str = summary.get("verdict", "fail")
    problems = summary.get("problems", [])
    first = problems[0] if problems else ""
    if ex["expect"] == "pass":
        ok = verdict == "pass"
        return {"verdict": verdict.upper(), "result": "ok" if ok else "rejected", "ok": ok, "by": [],
                "why": "" if ok else first}
    if verdict == "pass":
        return {"verdict": "PASS", "result": "passed", "ok": False, "by": [],
                "why": "the gate passed a known-bad revision"}
    failed = new_failures(summary)
    by, missing = [], []
    for c in ex["catch"]:
        hit = sorted(n for n in failed[c["kind"]] if matches(c["glob"], n))
        if hit:
            runs = sorted({x for n in hit for x in failed[c["kind"]][n]})
            by.append(f"{c['kind']}:{hit[0]}" + (f" (+{len(hit) - 1})" if len(hit) > 1 else "")
                      + f" [{', '.join(runs)}]")
        else:
            missing.append(c["item"])
    if missing:
        bf = summary.get("build_failures") or []
        why = (f"build failed: {bf[0]['run']}: {bf[0]['error']}" if bf else
               f"{', '.join(missing)} did not fail; the gate failed for: {first}")
        return {"verdict": "FAIL", "result": "wrong reason", "ok": False, "by": by, "why": why}
    return {"verdict": "FAIL", "result": "ok", "ok": True, "by": by, "why": ""}


def judge_twins(rows: List[Row]) -> None:
    """A bad twin caught by a case its good twin (gated in the same run) fails as well is
    "not by the bug"; one whose twin was not gated gets a twin_note."""
    for r in rows:
        if not r["twin_of"]:
            continue
        twin = next((x for x in rows if x["name"] == r["twin_of"]), None)
        if twin is None:
            r["twin_note"] = f"its twin {r['twin_of']} was not gated in this run"
            continue
        both = sorted(f"{k}:{c}" for k, cases in r["new_failures"].items() for c in cases
                      if c in twin["new_failures"].get(k, []) and c in r["caught_cases"])
        if r["ok"] and both:
            # the bug must be what fails the test: the good twin passes it
            r.update(ok=False, result="not by the bug",
                     why=f"{', '.join(both)} fails on the good twin {twin['name']} too")


def table(rows: List[Row]) -> str:
    hdr = ["example", "expect", "verdict", "result", "catching test", "time"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for r in rows:
        res = r["result"] + (f" ({r['why']})" if r.get("why") else "")
        lines.append(f"| {r['name']} | {r['expect']} | {r['verdict']} | {res} | "
                     f"{'; '.join(r.get('by', [])) or '-'} | {r.get('seconds', 0) / 60:.1f} min |")
    return "\n".join(lines)


def gate_env(e: Example, archs: str, outdir: str, cache: str, ab: bool) -> Dict[str, str]:
    """ci/gate's environment for example e: its SERIES, ARCHS and BASE, results in
    OUT/<name>/, one patched tree per base source (each example an incremental rebuild)."""
    env = dict(os.environ, SERIES=os.path.realpath(e["path"]), ARCHS=archs, OUT=outdir, RUN_ID=e["name"],
               ZSGATE_PATCHED_TREE=os.path.join(cache, "work", "examples" + (f"-{e['base']}" if e["base"] else ""),
                                                "linux"))
    env.pop("BASE", None)  # the header says the base, not the caller's environment
    if e["base"]:
        env["BASE"] = e["base"]
    if not ab:
        env["ZSGATE_NO_AB"] = "1"
    return env


def run_gate(gate: str, env: Mapping[str, str], log_path: str) -> int:
    """The gate command (ci/gate, or ZSGATE_EXAMPLES_GATE's) with env, its output in
    log_path: its exit code."""
    with open(log_path, "w") as lf:
        return subprocess.run(gate.split(), env=env, stdout=lf, stderr=subprocess.STDOUT).returncode


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=DESCRIPTION)
    ap.add_argument("--only", default=os.environ.get("ONLY", ""))
    ap.add_argument("--out", default=os.environ.get("OUT", os.path.join(ROOT, "out")))
    ap.add_argument("--examples", default=os.path.join(ROOT, "series", "examples"))
    ap.add_argument("--ab", action="store_true", default=os.environ.get("AB", "") not in ("", "0"),
                    help="the gate's A/B timing run too (AB=1)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--rejudge", metavar="OUT/examples-ID",
                    help="no gate runs: judge again the gate runs already in that directory")
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    os.environ.setdefault("ZSGATE_T0", str(int(time.time())))
    set_step("examples")
    a = parse_args(argv)
    try:
        exs = catalogue(a.examples, a.only)
    except (OSError, ExampleError) as e:
        print(f"zsgate: examples: {e}", file=sys.stderr)
        return 2
    if a.list:
        for ex in exs:
            print(list_line(ex))
        return 0

    prev: List[Row] = []
    if a.rejudge:
        outdir = os.path.realpath(a.rejudge)
        run_id = os.path.basename(outdir).removeprefix("examples-")
        try:
            with open(os.path.join(outdir, "examples.json"), encoding="utf-8") as f:
                prev = json.load(f).get("examples", [])
        except (OSError, ValueError) as e:
            print(f"zsgate: examples: --rejudge {a.rejudge}: {e}", file=sys.stderr)
            return 2
    else:
        run_id = os.environ.get("RUN_ID") or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        outdir = os.path.join(a.out, "examples-" + run_id)
    os.makedirs(outdir, exist_ok=True)
    cache = config.cache_dir()
    gate = os.environ.get("ZSGATE_EXAMPLES_GATE", os.path.join(CI, "gate"))
    rows: List[Row] = []
    doc: Dict[str, Any] = {"run_id": run_id, "ab": a.ab, "examples": rows}
    t_all = time.time() - (sum(r.get("seconds", 0) for r in prev) if a.rejudge else 0)

    def save() -> None:
        doc["seconds"] = round(time.time() - t_all, 1)
        with open(os.path.join(outdir, "examples.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(outdir, "examples.md"), "w", encoding="utf-8") as f:
            f.write(f"# Examples {run_id}\n\n{table(rows)}\n\n"
                    f"Gate: KUnit + VM kselftests, base and patched{' + A/B' if a.ab else ' (no A/B)'}; "
                    f"total {doc['seconds'] / 60:.1f} min.\n")

    log(f"{len(exs)} example(s); results {outdir}")
    for ex in exs:
        archs = archs_of(ex)
        env = gate_env(ex, archs, outdir, cache, a.ab)
        t0 = time.time()
        # --rejudge: the row of the earlier invocation (none: it did not gate this one)
        old = next((r for r in prev if r.get("name") == ex["name"]), None) if a.rejudge else None
        if a.rejudge and old is None:
            continue
        if old is not None:
            archs = old.get("archs", archs)
        log(f"{ex['name']} (expect {ex['expect']}): {'judged again' if a.rejudge else 'gate'} on {archs}"
            + (f", base {ex['base']}" if ex["base"] else ""))
        rc: Optional[int]
        if old is not None:
            rc = old.get("gate_exit")
        else:
            rc = run_gate(gate, env, os.path.join(outdir, ex["name"] + ".gate.log"))
        summary = rundir.read_summary(os.path.join(outdir, ex["name"]))
        row: Row = {"name": ex["name"], "what": ex["what"], "expect": ex["expect"], "twin_of": ex["twin_of"],
                    "arch": ex["arch"], "base": ex["base"]}
        row.update(catch=[c["item"] for c in ex["catch"]], archs=archs, gate_exit=rc, **judge(ex, summary))
        nf = new_failures(summary or {})
        row["new_failures"] = {k: sorted(v) for k, v in nf.items()}
        row["caught_cases"] = sorted(n for c in ex["catch"] for n in nf[c["kind"]] if matches(c["glob"], n))
        row["seconds"] = old["seconds"] if old is not None else round(time.time() - t0, 1)
        row["run_dir"] = os.path.join(outdir, ex["name"])
        log(f"{ex['name']}: {row['verdict']} -> {row['result']}"
            f"{' by ' + '; '.join(row['by']) if row['by'] else ''}{' (' + row['why'] + ')' if row['why'] else ''}"
            f" ({row['seconds'] / 60:.1f} min)")
        rows.append(row)
        save()
    judge_twins(rows)
    save()
    print(table(rows))
    print(f"total {doc['seconds'] / 60:.1f} min; {outdir}/examples.md")
    bad = [r for r in rows if not r["ok"]]
    if bad:
        print(f"{len(bad)} of {len(rows)} example(s) not as expected: "
              + ", ".join(f"{r['name']} ({r['result']})" for r in bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
