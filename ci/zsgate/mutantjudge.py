# SPDX-License-Identifier: GPL-2.0
"""The verdicts of zsgate/mutants.py: caught, survived or not run, from a mutant's KUnit
results (judge()) or from its A/B (ab_verdict()), and the table of them."""

import fnmatch
import json
from typing import Any, Dict, List, NotRequired, Optional, TypedDict

from zsgate import splat
from zsgate.mutantspec import Mutant

# a caught mutant "crashed" on these lines: the crash and memory kinds of zsgate/splat.py
CRASH = splat.regex(splat.CRASH, splat.MEMORY)

# A verdict of one mutant (a row of mutants.json: verdict, by, how, seconds, ...), or a control.
Row = Dict[str, Any]


class KunitResult(TypedDict):
    """What a ci/kunit run of a mutant (or a control) left (mutants.kunit_run())."""
    exit: int
    seconds: float
    cases: Dict[str, str]     # case_results()
    splats: List[str]
    booted: bool
    problem: NotRequired[str]
    build_error: NotRequired[Optional[str]]
    kcsan_other: NotRequired[List[str]]


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


def control_verdict(res: KunitResult, seconds: float) -> Row:
    """A control run (the tree without the mutant, whole suite): clean only when it exited
    0 with results, no case failed and the console has no splat."""
    bad = sorted(k for k, v in res["cases"].items() if v not in ("PASS", "SKIP"))
    ok = res["exit"] == 0 and res["cases"] and not bad and not res["splats"]
    return {"status": "clean" if ok else "FAILED", "seconds": seconds,
            "failed": bad, "splats": res["splats"][:5], "exit": res["exit"],
            "detail": ", ".join(bad + res["splats"][:2])[:300]}


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
