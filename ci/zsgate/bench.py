# SPDX-License-Identifier: GPL-2.0
"""`make bench` statistics: the reviewers' questions of the seed thread in one set of tables.

Input: per-boot figures of kernels labelled "7.2" (no Part A), "7.3" (Part A), "patched"
(7.3 + a Part B revision) and "limit" (7.3 + series/controls/limit, the release path does
no zsmalloc free), as [(label, figures of one boot)] in boot order, the figures as
zsgate.vm.parse_figures() gives them. The statistics are the A/B's (zsgate.ab: collect(),
analyze(), bootstrap_ratio(), median(), quantile()), applied per step:

- Part A step, 7.2 -> 7.3, and Part B step, 7.3 -> patched: the seed-shaped tables (mode,
  Base, Patched, Speedup with its 95 % interval; medians over boots with p10-p90).
- achieved = (base - patched) / (base - limit) per release case (munmap, teardown and the
  bench cases), with a percentile bootstrap interval over the three kernels' boots.
- CPU (cpu_us, kworker_us, cpu_total_us) of munmap with and without every CPU busy, the
  compaction case, swap-in, the mixed resident/swapped split with the memory-return curve.

analyze() returns the bench.json dict, markdown() the bench.md text. Pure functions: no
files, no clocks.
"""

import random
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from zsgate import ab

BASE72, BASE73, PATCHED, LIMIT = "7.2", "7.3", "patched", "limit"
LABELS = (BASE72, BASE73, PATCHED, LIMIT)

# cases a release is timed in (achieved-vs-limit is computed for these), in table order
RELEASE_CASES = ("munmap", "teardown_munmap", "teardown_exit", "munmap_mixed_r50", "munmap_mixed_r0",
                 "munmap_compact", "munmap_pressure", "teardown_exit_pressure")
CPU_KEYS = ("cpu_us", "kworker_us", "cpu_total_us")
RETURN_KEYS = ("ret50_ms", "ret90_ms", "avail50_ms", "avail90_ms")
# share of bootstrap resamples with base - limit > 0 below which achieved has no interval
ACHIEVED_MIN_VALID = 0.9

Rounds = Iterable[Tuple[str, List[Dict[str, Any]]]]
Cases = Dict[ab.Key, Dict[str, List[Dict[str, Any]]]]


def normalise(figs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Figures whose case key alone does not tell them apart get a case name that does:
    munmap_mixed with resident_pct=50 / 0 -> munmap_mixed_r50 / munmap_mixed_r0 (ab.case_key
    keys by backend, case, size, procs only)."""
    out = []
    for f in figs:
        if f.get("case") == "munmap_mixed" and isinstance(f.get("resident_pct"), int):
            f = dict(f, case=f"munmap_mixed_r{f['resident_pct']}")
        out.append(f)
    return out


def collect(rounds: Rounds) -> Cases:
    return ab.collect((label, normalise(figs)) for label, figs in rounds)


def mode(e: Dict[str, Any]) -> str:
    """The seed's row label: "single" / "multi 3p" (teardown), the size (munmap), else the case."""
    case, procs, size = e["case"], e["procs"], e["size_mb"]
    if case in ("teardown_munmap", "teardown_exit"):
        m = "single" if procs == 1 else f"multi {procs}p"
        return m + (" (exit)" if case == "teardown_exit" else "")
    if case == "munmap":
        return f"{size}MB"
    names = {"munmap_mixed_r50": "50 % resident", "munmap_mixed_r0": "100 % swapped",
             "munmap_compact": "compaction loop", "munmap_pressure": "every CPU busy",
             "teardown_exit_pressure": "exit, every CPU busy",
             "swapin": "swap-in", "return_munmap": "return (munmap)", "return_exit": "return (exit)"}
    return f"{names.get(case, case)} {procs}x{size}MB" if procs > 1 else f"{names.get(case, case)} {size}MB"


def _both(e: Dict[str, Any]) -> bool:
    return bool(e["base"]["values_us"]) and bool(e["patched"]["values_us"])


def step(cases: Cases, a: str, b: str) -> List[Dict[str, Any]]:
    """ab.analyze() of @a -> @b, the cases both kernels ran; judged/regression are the A/B
    rule's and kept for the record (the bench judges nothing)."""
    out = []
    for e in ab.analyze(cases, a=a, b=b):
        if _both(e):
            e = dict(e, step=f"{a}->{b}", labels=[a, b], mode=mode(e))
            out.append(e)
    return out


def _achieved(base: Sequence[float], patched: Sequence[float], limit: Sequence[float]) -> Optional[float]:
    mb = ab.median(list(base))
    room = mb - ab.median(list(limit))
    return (mb - ab.median(list(patched))) / room if room > 0 else None


def achieved_interval(base: List[float], patched: List[float], limit: List[float], boot: int = ab.BOOT,
                      seed: int = ab.SEED) -> Tuple[Optional[float], Optional[float], Optional[float], float]:
    """(achieved, 2.5 %, 97.5 % percentile bootstrap bounds, share of resamples with room):
    the three kernels' boots resampled independently, as ab.bootstrap_ratio() does for two.
    No point when median(base) <= median(limit); no bounds when fewer than
    ACHIEVED_MIN_VALID of the resamples have base > limit (the limit is not clearly faster)."""
    point = _achieved(base, patched, limit)
    rng = random.Random(seed)
    xs = []
    for _ in range(boot):
        rb = [base[rng.randrange(len(base))] for _ in base]
        rp = [patched[rng.randrange(len(patched))] for _ in patched]
        rl = [limit[rng.randrange(len(limit))] for _ in limit]
        x = _achieved(rb, rp, rl)
        if x is not None:
            xs.append(x)
    valid = len(xs) / boot
    if point is None or valid < ACHIEVED_MIN_VALID:
        return point, None, None, valid
    xs.sort()
    n = len(xs)
    return point, xs[int(0.025 * (n - 1))], xs[int(0.975 * (n - 1) + 0.5)], valid


def achieved(cases: Cases, base: str = BASE73, patched: str = PATCHED, limit: str = LIMIT,
             boot: int = ab.BOOT, seed: int = ab.SEED) -> List[Dict[str, Any]]:
    """achieved = (base - patched) / (base - limit) per release case the three kernels ran."""
    out = []
    for k in sorted(cases, key=lambda k: (k[0], _order(k[1]), k[3], k[2])):
        backend, case, size, procs = k
        if case not in RELEASE_CASES:
            continue
        vals = {lab: [float(f["median_us"]) for f in cases[k].get(lab, [])
                      if isinstance(f.get("median_us"), (int, float))] for lab in (base, patched, limit)}
        if not all(vals.values()):
            continue
        point, lo, hi, valid = achieved_interval(vals[base], vals[patched], vals[limit], boot, seed)
        e: Dict[str, Any] = {"backend": backend, "case": case, "size_mb": size, "procs": procs,
                             "labels": [base, patched, limit],
                             "median_us": {lab: ab.median(v) for lab, v in vals.items()},
                             "rounds": {lab: len(v) for lab, v in vals.items()},
                             "achieved": point, "achieved_lo": lo, "achieved_hi": hi,
                             "valid_share": valid}
        e["mode"] = mode(e)
        if point is None:
            e["why_none"] = f"the {limit} kernel is not faster than {base} here (no room to measure against)"
        elif lo is None:
            e["why_none"] = (f"{limit} faster than {base} in only {valid:.0%} of the resamples: "
                             "the interval is not defined")
        out.append(e)
    return out


def _order(case: str) -> int:
    order = RELEASE_CASES + ("swapin", "return_munmap", "return_exit")
    return order.index(case) if case in order else len(order)


def cpu_rows(entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """From one step's entries: the one-process munmap cases with their CPU columns (medians
    over boots of each boot's median), without pressure (munmap, the 256 MB row when there,
    else every size) and with every CPU busy (munmap_pressure)."""
    out = []
    for e in entries:
        if e["procs"] != 1 or e["case"] not in ("munmap", "munmap_pressure"):
            continue
        row: Dict[str, Any] = {"backend": e["backend"], "case": e["case"], "size_mb": e["size_mb"],
                               "pressure": e["case"] == "munmap_pressure", "mode": e["mode"],
                               "labels": e["labels"]}
        for side in ("base", "patched"):
            row[side] = {k: e[side].get(k) for k in ("median_us",) + CPU_KEYS + RETURN_KEYS}
        b, p = row["base"].get("cpu_total_us"), row["patched"].get("cpu_total_us")
        row["cpu_total_ratio"] = p / b if isinstance(b, float) and isinstance(p, float) and b > 0 else None
        out.append(row)
    return out


def _of(entries: List[Dict[str, Any]], *cases: str) -> List[Dict[str, Any]]:
    return [e for e in entries if e["case"] in cases]


def return_curves(cases: Cases, labels: Sequence[str] = LABELS) -> List[Dict[str, Any]]:
    """Memory back over time per kernel (medians over boots of ret50/ret90/avail50/avail90):
    the mixed split, the pressure case and return_rate's, for every kernel that ran them."""
    out = []
    for k in sorted(cases, key=lambda k: (k[0], _order(k[1]), k[3], k[2])):
        backend, case, size, procs = k
        if case not in ("munmap_mixed_r50", "munmap_mixed_r0", "munmap_pressure", "teardown_exit_pressure",
                        "return_munmap", "return_exit"):
            continue
        row: Dict[str, Any] = {"backend": backend, "case": case, "size_mb": size, "procs": procs}
        row["mode"] = mode(row)
        row["kernels"] = {}
        for lab in labels:
            figs = cases[k].get(lab, [])
            if not figs:
                continue
            r: Dict[str, Any] = {"rounds": len(figs)}
            for key in RETURN_KEYS + ("median_us", "wall_us", "freed_kb"):
                xs = [float(f[key]) for f in figs if isinstance(f.get(key), (int, float))]
                reached = [x for x in xs if x >= 0]
                r[key] = ab.median(reached) if reached else None
                if key in RETURN_KEYS:
                    r[key.replace("_ms", "_missed")] = len(xs) - len(reached)
            row["kernels"][lab] = r
        out.append(row)
    return out


def analyze(rounds: Rounds, runs: Optional[List[Dict[str, Any]]] = None,
            labels: Sequence[str] = LABELS) -> Dict[str, Any]:
    """The bench.json document from [(label, figures of one boot)]; @runs as ci/ab's (for the
    host-busy warning, ab.host_warnings())."""
    rounds = list(rounds)
    b72, b73, pat, lim = labels
    cases = collect(rounds)
    boots: Dict[str, int] = {}
    for lab, _ in rounds:
        boots[lab] = boots.get(lab, 0) + 1
    part_a = step(cases, b72, b73)
    part_b = step(cases, b73, pat)
    return {
        "labels": list(labels),
        "boots": boots,
        "part_a": part_a,
        "part_b": part_b,
        "limit_step": step(cases, b73, lim),
        "achieved": achieved(cases, b73, pat, lim),
        "cpu": cpu_rows(part_b),
        "compaction": _of(part_b, "munmap_compact"),
        "swapin": {"part_a": _of(part_a, "swapin"), "part_b": _of(part_b, "swapin")},
        "mixed": _of(part_b, "munmap_mixed_r50", "munmap_mixed_r0"),
        "return_curves": return_curves(cases, labels),
        "warnings": ab.host_warnings(runs or []),
        "statistic": ("per case: median over boots of each boot's median; speedup = base/patched with the "
                      f"A/B's 95 % percentile bootstrap (B={ab.BOOT}); p10-p90 over boots; achieved = "
                      "(base - patched)/(base - limit), 95 % percentile bootstrap of the three kernels' "
                      "boots resampled independently"),
    }


# ------------------------------------------------------------------ markdown

def ms(us: Optional[float]) -> str:
    if us is None:
        return "–"
    return f"{us / 1000:.1f}ms" if us >= 1000 else f"{us:.0f}us"


def _cell(side: Dict[str, Any]) -> str:
    lo, hi = side.get("p10_rounds_us"), side.get("p90_rounds_us")
    spread = f" ({ms(lo)}–{ms(hi)})" if lo is not None and hi is not None else ""
    return f"{ms(side.get('median_us'))}{spread}"


def _speedup(e: Dict[str, Any]) -> str:
    if e.get("speedup") is None:
        return "–"
    lo, hi = e.get("speedup_lo"), e.get("speedup_hi")
    iv = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
    return f"{e['speedup']:.2f}x{iv}"


def _step_tables(entries: List[Dict[str, Any]], base: str, patched: str) -> List[str]:
    """Seed-shaped: per backend, Test 1 (teardown by munmap, single / multi Np), Test 2 (one
    munmap per size), the exit teardown, then the bench cases."""
    out: List[str] = []
    groups = (("Test 1: concurrent munmap", ("teardown_munmap",), "mode"),
              ("Test 2: single process munmap", ("munmap",), "size"),
              ("process exit", ("teardown_exit",), "mode"),
              ("bench cases", ("munmap_mixed_r50", "munmap_mixed_r0", "munmap_compact", "munmap_pressure",
                               "teardown_exit_pressure", "swapin"), "case"))
    for backend in sorted({e["backend"] for e in entries}):
        for title, cs, col in groups:
            rows = sorted((e for e in entries if e["backend"] == backend and e["case"] in cs),
                          key=lambda e: (_order(e["case"]), e["procs"], e["size_mb"]))
            if not rows:
                continue
            out += ["", f"{backend}, {title}:", "",
                    f"| {col} | Base ({base}) | Patched ({patched}) | Speedup [95 %] |", "|---|---|---|---|"]
            out += [f"| {e['mode']} | {_cell(e['base'])} | {_cell(e['patched'])} | {_speedup(e)} |" for e in rows]
    return out


def _num(x: Optional[float], fmt: str = "{:.0f}") -> str:
    return "–" if x is None else fmt.format(x)


def markdown(doc: Dict[str, Any]) -> str:
    """bench.md from analyze()'s document."""
    b72, b73, pat, lim = doc["labels"]
    boots = ", ".join(f"{lab} {n}" for lab, n in doc["boots"].items())
    out = ["# zsgate bench", "", f"Boots: {boots}. Medians over boots of each boot's median, "
           "(p10–p90 over boots), speedup with its 95 % bootstrap interval.", ""]
    for w in doc["warnings"]:
        out += [f"**Warning:** {w}", ""]

    for key, title, a, b in (("part_a", f"Part A: {b72} → {b73} (the locking alone, no deferring)", b72, b73),
                             ("part_b", f"Part B: {b73} → {pat} (the revision on top of Part A)", b73, pat)):
        out += [f"## {title}"]
        if doc[key]:
            out += _step_tables(doc[key], a, b)
        else:
            out += ["", f"not run: no boots of both {a} and {b}"]
        out.append("")

    out += [f"## Against the limit ({lim}: the release path does no zsmalloc free)", "",
            f"achieved = ({b73} − {pat}) / ({b73} − {lim}): 1 = the whole release-path free work gone, "
            "0 = nothing gained.", ""]
    if doc["achieved"]:
        out += [f"| backend | case | {b73} | {pat} | {lim} | achieved [95 %] |", "|---|---|---|---|---|---|"]
        for e in doc["achieved"]:
            m = e["median_us"]
            if e["achieved"] is None:
                a = f"– ({e['why_none']})"
            elif e["achieved_lo"] is None:
                a = f"{e['achieved']:.2f} ({e['why_none']})"
            else:
                a = f"{e['achieved']:.2f} [{e['achieved_lo']:.2f}, {e['achieved_hi']:.2f}]"
            out.append(f"| {e['backend']} | {e['mode']} | {ms(m[b73])} | {ms(m[pat])} | {ms(m[lim])} | {a} |")
    else:
        out.append(f"not run: no release case with boots of {b73}, {pat} and {lim}")
    out.append("")

    out += [f"## CPU: munmap() + every kworker over the release ({b73} → {pat})", "",
            "cpu = the munmap() call's own CPU, kworker = all kworkers from munmap() until the pool "
            "drained, total = their sum per round.", ""]
    if doc["cpu"]:
        out += ["| backend | case | CPUs busy | kernel | release | cpu | kworker | total | total ratio |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in doc["cpu"]:
            for side, lab in (("base", b73), ("patched", pat)):
                s = r[side]
                ratio = _num(r["cpu_total_ratio"], "{:.2f}") if side == "patched" else ""
                out.append(f"| {r['backend']} | {r['mode']} | {'yes' if r['pressure'] else 'no'} | {lab} | "
                           f"{ms(s['median_us'])} | {ms(s['cpu_us'])} | {ms(s['kworker_us'])} | "
                           f"{ms(s['cpu_total_us'])} | {ratio} |")
    else:
        out.append("not run")
    out.append("")

    out += [f"## Compaction running ({b73} → {pat})", ""]
    if doc["compaction"]:
        out += ["| backend | case | Base | Patched | Speedup [95 %] |", "|---|---|---|---|---|"]
        out += [f"| {e['backend']} | {e['mode']} | {_cell(e['base'])} | {_cell(e['patched'])} | {_speedup(e)} |"
                for e in doc["compaction"]]
    else:
        out.append("not run")
    out.append("")

    out += ["## Swap-in (time to fault every page back in)", ""]
    rows = [(b72, b73, e) for e in doc["swapin"]["part_a"]] + [(b73, pat, e) for e in doc["swapin"]["part_b"]]
    if rows:
        out += ["| backend | size | Base | Patched | Speedup [95 %] |", "|---|---|---|---|---|"]
        out += [f"| {e['backend']} | {e['size_mb']}MB | {a}: {_cell(e['base'])} | {b}: {_cell(e['patched'])} | "
                f"{_speedup(e)} |" for a, b, e in rows]
    else:
        out.append("not run")
    out.append("")

    out += ["## Memory back over time", "",
            "ms from the release until the pool shrank by 50 % / 90 % of its growth (pool) and "
            "MemAvailable rose by 50 % / 90 % of what comes back (avail); n missed = boots where it "
            "was not reached.", ""]
    if doc["return_curves"]:
        out += ["| backend | case | kernel | release | pool 50 % | pool 90 % | avail 50 % | avail 90 % |",
                "|---|---|---|---|---|---|---|---|"]
        for r in doc["return_curves"]:
            for lab, k in r["kernels"].items():
                cells = []
                for key in RETURN_KEYS:
                    miss = k[key.replace("_ms", "_missed")]
                    cells.append(_num(k[key], "{:.1f}") + (f" ({miss} missed)" if miss else ""))
                out.append(f"| {r['backend']} | {r['mode']} | {lab} | {ms(k['median_us'] or k['wall_us'])} | "
                           + " | ".join(cells) + " |")
    else:
        out.append("not run")
    out += ["", f"Statistic: {doc['statistic']}.", ""]
    return "\n".join(out)
