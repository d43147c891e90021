# SPDX-License-Identifier: GPL-2.0
"""A/B statistics: base vs patched from interleaved VM rounds (ci/ab), the regression rule.

The rule (what a round is, the per-case statistic and its regression test, the pooled
test, which cases are judged) is stated once, in docs/vm-ab.md, "The A/B rule"; why its
numbers are what they are is in docs/known-issues.md, "A/B: how the rule's numbers were
chosen". This module implements it: collect() groups one boot's figures per case and
revision, analyze() gives one entry per case (bootstrap interval, regression), pooled()
the per-backend paired test, percall() the per-call test, cpu() the total-CPU test,
host_warnings() the busy-host warning, rule_summary() the rule in one line for ab.json and
report.md, from the constants below; boot_order() the order of the kernels in a round.
"""

import math
import random
import statistics
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Tuple, TypeVar

MARGIN = 0.25
POOLED_MARGIN = 0.05
# two-sided 95 % Student t quantiles by degrees of freedom (scipy.stats.t.ppf(0.975, df))
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131}
BOOT = 4000
SEED = 20240229

JUDGED_CASES = ("munmap", "teardown_munmap", "teardown_exit")
EXTRA_KEYS = ("p10_us", "p90_us", "wall_us", "cpu_us", "kworker_us", "cpu_total_us", "drain_ms", "ret50_ms", "ret90_ms",
              "avail50_ms", "avail90_ms", "freed_kb")

Key = Tuple[str, str, int, int]   # backend, case, size_mb, procs


def case_key(fig: Dict[str, Any]) -> Optional[Key]:
    try:
        return (str(fig["backend"]), str(fig["case"]), int(fig.get("size_mb", 0)), int(fig.get("procs", 1)))
    except (KeyError, ValueError, TypeError):
        return None


def collect(rounds: Iterable[Tuple[str, List[Dict[str, Any]]]]) -> Dict[Key, Dict[str, List[Dict[str, Any]]]]:
    """[(revision, figures of one VM boot)] -> {case key: {revision: [figure per round]}}."""
    out: Dict[Key, Dict[str, List[Dict[str, Any]]]] = {}
    for rev, figs in rounds:
        for f in figs:
            k = case_key(f)
            if k is None or f.get("case") == "percall":   # percall(): per function, not per case
                continue
            out.setdefault(k, {}).setdefault(rev, []).append(f)
    return out


def median(xs: List[float]) -> float:
    return float(statistics.median(xs))


def bootstrap_ratio(base: List[float], patched: List[float], boot: int = BOOT,
                    seed: int = SEED) -> Tuple[float, float, float]:
    """(median(patched)/median(base), 2.5 %, 97.5 % percentile bootstrap bounds)."""
    rng = random.Random(seed)
    point = median(patched) / median(base)
    rs = []
    nb, np_ = len(base), len(patched)
    for _ in range(boot):
        b = median([base[rng.randrange(nb)] for _ in range(nb)])
        p = median([patched[rng.randrange(np_)] for _ in range(np_)])
        rs.append(p / b if b > 0 else float("inf"))
    rs.sort()
    lo = rs[int(0.025 * (boot - 1))]
    hi = rs[int(0.975 * (boot - 1) + 0.5)]
    return point, lo, hi


def quantile(xs: List[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of a non-empty list."""
    ys = sorted(xs)
    pos = q * (len(ys) - 1)
    i = int(pos)
    j = min(i + 1, len(ys) - 1)
    return ys[i] + (ys[j] - ys[i]) * (pos - i)


def _summ(figs: List[Dict[str, Any]], key: str) -> Optional[float]:
    xs = [float(f[key]) for f in figs if isinstance(f.get(key), (int, float)) and f[key] >= 0]
    return median(xs) if xs else None


def analyze(cases: Dict[Key, Dict[str, List[Dict[str, Any]]]], margin: float = MARGIN,
            a: str = "base", b: str = "patched", judge_concurrent: bool = False) -> List[Dict[str, Any]]:
    """One entry per case (the summary.json `ab` list)."""
    entries = []
    for k in sorted(cases, key=lambda k: (k[0], k[1], k[3], k[2])):
        backend, case, size, procs = k
        revs = cases[k]
        e: Dict[str, Any] = {"backend": backend, "case": case, "size_mb": size, "procs": procs,
                   "metric": "median_us",
                   "judged": case in JUDGED_CASES and (procs == 1 or judge_concurrent),
                   "rounds": {a: len(revs.get(a, [])), b: len(revs.get(b, []))}}
        for rev, name in ((a, "base"), (b, "patched")):
            figs = revs.get(rev, [])
            vals = [float(f["median_us"]) for f in figs if isinstance(f.get("median_us"), (int, float))]
            e[name] = {"median_us": median(vals) if vals else None, "values_us": vals}
            if vals:
                # the spread between boots, which is what the A/B judges (the boots' own
                # p10/p90 over their inner samples are kept as p10_us/p90_us)
                e[name]["p10_rounds_us"] = quantile(vals, 0.1)
                e[name]["p90_rounds_us"] = quantile(vals, 0.9)
            for x in EXTRA_KEYS:
                v = _summ(figs, x)
                if v is not None:
                    e[name][x] = v
        bv, pv = e["base"]["values_us"], e["patched"]["values_us"]
        e["speedup"] = e["speedup_lo"] = e["speedup_hi"] = None
        e["ratio_lo"] = e["ratio_hi"] = None
        e["regression"] = False
        if bv and pv and median(bv) > 0 and median(pv) > 0:
            r, lo, hi = bootstrap_ratio(bv, pv)
            e["speedup"] = 1 / r
            e["speedup_lo"] = 1 / hi if hi > 0 else None
            e["speedup_hi"] = 1 / lo if lo > 0 else None
            e["ratio_lo"], e["ratio_hi"] = lo, hi
            spread = (max(bv) - min(bv)) / median(bv)
            e["base_spread"] = spread
            e["regression"] = bool(e["judged"] and lo > 1 + margin and r > 1 + margin + spread)
        entries.append(e)
    return entries


def pooled(entries: List[Dict[str, Any]], margin: float = POOLED_MARGIN, judged: bool = True) -> List[Dict[str, Any]]:
    """Per backend: the judged one-process cases together, paired by round (docs/vm-ab.md).
    judged=False (a busy host, host_warnings()): shown, never a regression."""
    out = []
    for backend in sorted({e["backend"] for e in entries}):
        es = [e for e in entries if e["backend"] == backend and e["judged"] and e["procs"] == 1]
        rounds = max((len(e["base"]["values_us"]) for e in es), default=0)
        es = [e for e in es if len(e["base"]["values_us"]) == rounds == len(e["patched"]["values_us"])
              and min(e["base"]["values_us"] + e["patched"]["values_us"]) > 0]
        if len(es) < 2 or rounds < 3:
            continue
        d = [statistics.mean(math.log(e["patched"]["values_us"][i] / e["base"]["values_us"][i]) for e in es)
             for i in range(rounds)]
        m = statistics.mean(d)
        _, lo, hi = _paired_t(d)
        out.append({"backend": backend, "cases": [case_label(e) for e in es], "pairs": rounds,
                    "pair_ratios": [math.exp(x) for x in d], "ratio": math.exp(m),
                    "ratio_lo": lo, "ratio_hi": hi, "speedup": math.exp(-m),
                    "speedup_lo": 1 / hi, "speedup_hi": 1 / lo, "margin": margin,
                    "judged": judged, "regression": judged and lo > 1 + margin})
    return out


PERCALL_MARGIN = 0.02
PERCALL_MIN_CALLS = 1000   # calls per boot and side below which a function is shown, not judged


def _paired_t(d: List[float]) -> Tuple[float, float, float]:
    """exp(mean), and the 95 % Student t interval of the mean, of paired log ratios @d."""
    m = statistics.mean(d)
    half = T975.get(len(d) - 1, 2.0) * statistics.stdev(d) / math.sqrt(len(d))
    return math.exp(m), math.exp(m - half), math.exp(m + half)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _by_round(rounds: Iterable[Tuple[str, List[Dict[str, Any]]]],
              pick: Callable[[Dict[str, Any]], Optional[Tuple[K, V]]]) -> Dict[K, Dict[str, List[Optional[V]]]]:
    """The figures of @rounds slotted by round, for pairing the revisions' boots:
    {key: {revision: [value of the revision's i-th boot, None where that boot had none]}}.
    @pick gives a figure's (key, value), or None to skip it; a revision's i-th boot is
    its round i whatever other revisions boot in between. A list ends at the revision's
    last boot with a value for that key."""
    per: Dict[K, Dict[str, List[Optional[V]]]] = {}
    seen: Dict[str, int] = {}
    for rev, figs in rounds:
        seen[rev] = seen.get(rev, 0) + 1
        i = seen[rev] - 1
        for f in figs:
            kv = pick(f)
            if kv is None:
                continue
            lst = per.setdefault(kv[0], {}).setdefault(rev, [])
            lst += [None] * (i + 1 - len(lst))
            lst[i] = kv[1]
    return per


def percall(rounds: Iterable[Tuple[str, List[Dict[str, Any]]]], a: str = "base", b: str = "patched",
            margin: float = PERCALL_MARGIN, judged: bool = True) -> List[Dict[str, Any]]:
    """The free path per call (`case=percall` figures, one per function and boot): per backend
    and function, the per-boot median call times of @a and @b paired by round
    (docs/vm-ab.md, "Per call"). judged=False (a busy host): shown, never a regression."""
    def pick(f: Dict[str, Any]) -> Optional[Tuple[Tuple[str, str], Dict[str, Any]]]:
        if f.get("case") != "percall" or not f.get("fn"):
            return None
        return (str(f["backend"]), str(f["fn"])), f

    per = _by_round(rounds, pick)
    out = []
    for (backend, fn) in sorted(per):
        revs = per[(backend, fn)]
        fa, fb = revs.get(a, []), revs.get(b, [])

        def ns(f: Optional[Dict[str, Any]]) -> Optional[float]:
            if not f or not isinstance(f.get("median_ns"), (int, float)) or f["median_ns"] <= 0:
                return None
            return float(f["median_ns"])

        def calls(fs: List[Optional[Dict[str, Any]]]) -> List[int]:
            return [int(f.get("calls") or 0) for f in fs if f]

        e: Dict[str, Any] = {"backend": backend, "fn": fn, "metric": "median_ns",
                             "base": {"values_ns": [ns(f) for f in fa], "calls": calls(fa)},
                             "patched": {"values_ns": [ns(f) for f in fb], "calls": calls(fb)},
                             "ratio": None, "ratio_lo": None, "ratio_hi": None, "pairs": 0,
                             "margin": margin, "judged": False, "regression": False}
        for side in ("base", "patched"):
            vals = [v for v in e[side]["values_ns"] if v is not None]
            e[side]["median_ns"] = median(vals) if vals else None
        pairs = [(x, y) for x, y in zip(e["base"]["values_ns"], e["patched"]["values_ns"])
                 if x is not None and y is not None]
        few = min(e["base"]["calls"] + e["patched"]["calls"], default=0) < PERCALL_MIN_CALLS
        if few:
            e["why_not_judged"] = f"fewer than {PERCALL_MIN_CALLS} calls in a boot"
        if len(pairs) >= 3:
            d = [math.log(y / x) for x, y in pairs]
            e["pair_ratios"] = [math.exp(x) for x in d]
            e["ratio"], e["ratio_lo"], e["ratio_hi"] = _paired_t(d)
            e["pairs"] = len(pairs)
            e["judged"] = judged and not few
            e["regression"] = bool(e["judged"] and e["ratio_lo"] > 1 + margin)
        elif not few:
            e["why_not_judged"] = "fewer than 3 rounds with both sides"
        if not judged and not few and len(pairs) >= 3:
            e["why_not_judged"] = "host busy"
        out.append(e)
    return out


def windows(rounds: List[Tuple[str, List[Dict[str, Any]]]], round_of: List[int], size: int,
            a: str = "base", b: str = "patched", margin: float = MARGIN,
            judge_concurrent: bool = False) -> Dict[str, Any]:
    """Each disjoint run of @size rounds of one long A/B judged as a gate of that many rounds
    would judge it (ci/ab --windows): the rule's power and false-alarm rate measured in one
    run. @round_of gives the round of each @rounds entry. The busy-host warning is not
    applied per window (the pooled rule is judged in every window)."""
    per_gate = []
    last = max(round_of, default=0)
    for w0 in range(1, last - size + 2, size):
        sel = [r for r, i in zip(rounds, round_of) if w0 <= i < w0 + size]
        flagged = compare(sel, a, b, margin=margin, judge_concurrent=judge_concurrent)["regressions"]
        per_gate.append({"rounds": f"{w0}-{w0 + size - 1}", "flagged": flagged})
    return {"size": size, "gates": len(per_gate), "flagged": sum(1 for g in per_gate if g["flagged"]),
            "per_gate": per_gate}


def boot_order(labels: List[str], i: int) -> List[str]:
    """The kernels of round @i (1-based) in boot order: a Williams design, so that over
    the rounds every kernel boots in every position equally often and after every other
    kernel equally often (docs/vm-ab.md, "The A/B rule"). Two kernels: A B, B A, A B, ...
    (odd rounds the first label first). An even number k of kernels: row (i-1) mod k of the
    Latin square whose first row is 0, 1, k-1, 2, k-2, ...; an odd k: the rows of the cyclic
    Latin square, each followed by its reverse (round 1: row 0, round 2: row 0 reversed,
    round 3: row 1, ...), so that every pair of rounds puts each kernel at the same mean
    position."""
    k = len(labels)
    if k < 2 or i < 1:
        raise ValueError(f"boot_order needs >= 2 labels and a round >= 1, not {labels!r}, {i}")
    if k % 2 == 0:
        first, lo, hi = [0], 1, k - 1
        while len(first) < k:
            first.append(lo)
            lo += 1
            if len(first) < k:
                first.append(hi)
                hi -= 1
        row = [(x + (i - 1) % k) % k for x in first]
    else:
        j = (i - 1) % (2 * k)
        row = [(x + j // 2) % k for x in range(k)]
        if j % 2:
            row.reverse()
    return [labels[x] for x in row]


CPU_MARGIN = 0.10   # the seed thread's budget: munmap + kworkers CPU of patched <= base + 10 %


def cpu(rounds: Iterable[Tuple[str, List[Dict[str, Any]]]], a: str = "base", b: str = "patched",
        margin: float = CPU_MARGIN, judged: bool = True) -> List[Dict[str, Any]]:
    """Total CPU per backend: the one-process munmap cases' cpu_total_us (the munmap
    thread's CPU + every kworker's over the window), paired by round as pooled():
    d_i = mean over the sizes of log(b_i / a_i), ratio exp(mean d) with a 95 % t interval;
    a regression when the interval lies above 1 + @margin (docs/vm-ab.md, "The A/B rule").
    judged=False (a busy host, host_warnings()): shown, never a regression."""
    def pick(f: Dict[str, Any]) -> Optional[Tuple[Tuple[str, int], float]]:
        if f.get("case") != "munmap" or int(f.get("procs", 1)) != 1:
            return None
        v = f.get("cpu_total_us")
        if not isinstance(v, (int, float)) or v <= 0:
            return None
        return (str(f["backend"]), int(f.get("size_mb", 0))), float(v)

    per = _by_round(rounds, pick)
    out = []
    for backend in sorted({k[0] for k in per}):
        sizes = sorted(s for be, s in per if be == backend)
        n = max(len(per[(backend, s)].get(r, [])) for s in sizes for r in (a, b))
        full = [s for s in sizes
                if all(len(per[(backend, s)].get(r, [])) == n and None not in per[(backend, s)].get(r, []) for r in (a, b))]
        e: Dict[str, Any] = {"backend": backend, "metric": "cpu_total_us", "sizes_mb": full, "pairs": n,
                             "ratio": None, "ratio_lo": None, "ratio_hi": None, "margin": margin,
                             "judged": False, "regression": False}
        for r, side in ((a, "base"), (b, "patched")):
            vals = [v for s in full for v in per[(backend, s)].get(r, []) if v is not None]
            e[side] = {"median_us": median(vals) if vals else None,
                       "values_us": {str(s): per[(backend, s)].get(r, []) for s in full}}
        if not full or n < 3:
            e["why_not_judged"] = "no munmap size with cpu_total_us in every round" if not full \
                else "fewer than 3 rounds with both sides"
            out.append(e)
            continue
        va = {s: [float(v or 0) for v in per[(backend, s)][a]] for s in full}   # no None left (full)
        vb = {s: [float(v or 0) for v in per[(backend, s)][b]] for s in full}
        d = [statistics.mean(math.log(vb[s][i] / va[s][i]) for s in full) for i in range(n)]
        e["pair_ratios"] = [math.exp(x) for x in d]
        e["ratio"], e["ratio_lo"], e["ratio_hi"] = _paired_t(d)
        e["judged"] = judged
        if not judged:
            e["why_not_judged"] = "host busy"
        e["regression"] = bool(judged and e["ratio_lo"] > 1 + margin)
        out.append(e)
    return out


def cpu_label(e: Dict[str, Any]) -> str:
    return f"{e['backend']} CPU of munmap + kworkers ({len(e['sizes_mb'])} munmap sizes, paired by round)"


def percall_label(e: Dict[str, Any]) -> str:
    return f"{e['backend']} {e['fn']}() per call"


def pooled_label(p: Dict[str, Any]) -> str:
    return f"{p['backend']} pooled ({len(p['cases'])} one-process cases, paired by round)"


BUSY_CPUS = 0.25   # other processes' CPU (in CPUs) during a boot above which timings are noisy


def host_warnings(runs: List[Dict[str, Any]], busy_cpus: float = BUSY_CPUS) -> List[str]:
    """A warning when other processes used more than @busy_cpus CPUs during any boot."""
    busy = [r for r in runs if (r.get("host_other_cpus") or 0) > busy_cpus]
    if not busy:
        return []
    worst = max(busy, key=lambda r: float(r["host_other_cpus"]))
    return [f"host busy during {len(busy)} of {len(runs)} boots (other processes used up to "
            f"{worst['host_other_cpus']:.2f} CPUs, in {worst['name']}): timings are noisy and a "
            "regression flagged here may be the load (docs/known-issues.md); rerun on a quiet machine"]


def regressions(entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [e for e in entries if e.get("regression")]


RULE_DOC = "docs/vm-ab.md#the-ab-rule"


def rule_summary(margin: float = MARGIN, pooled_margin: float = POOLED_MARGIN,
                 judge_concurrent: bool = False) -> str:
    """The rule in one line, from this module's constants and a run's margins (ab.json
    `statistic`, report.md); the statement is RULE_DOC."""
    return (f"per case: median over rounds of each boot's median release time, speedup = base/patched, "
            f"95 % percentile bootstrap (B={BOOT}) of the ratio of medians; a judged case "
            f"({', '.join(JUDGED_CASES)}; {'any number of processes' if judge_concurrent else 'one process'}) regresses when its whole patched/base interval "
            f"lies above {1 + margin:g} and the ratio exceeds {1 + margin:g} + the base rounds' spread; "
            f"pooled per backend (one-process judged cases paired by round, 95 % t interval of the mean "
            f"log ratio): regresses when the interval lies above {1 + pooled_margin:g}, judged only on a "
            f"quiet host (other processes <= {BUSY_CPUS:g} CPUs); per call (percall figures, per backend and "
            f"function, >= {PERCALL_MIN_CALLS} calls a boot): the per-boot median call times paired by round, "
            f"95 % t interval of the mean log ratio (instruction counts: QEMU -icount), regresses when it "
            f"lies above {1 + PERCALL_MARGIN:g}, judged on a busy host too; "
            f"total CPU per backend (one-process munmap cases' cpu_total_us, munmap thread + kworkers, paired "
            f"by round, 95 % t interval): regresses when it lies above {1 + CPU_MARGIN:g}, judged only on a "
            f"quiet host; see {RULE_DOC}")


def compare(rounds: List[Tuple[str, List[Dict[str, Any]]]], a: str, b: str, margin: float = MARGIN,
            judged: bool = True, judge_concurrent: bool = False, prefix: str = "") -> Dict[str, Any]:
    """@a vs @b by the whole rule, from the boots of every kernel (ci/ab): the entries,
    pooled, percall and cpu results, and the regression labels (each with @prefix: "vs
    prev: " for a comparison with the previous revision). judged=False (a busy host):
    pooled and cpu shown, not judged."""
    entries = analyze(collect(rounds), margin=margin, a=a, b=b, judge_concurrent=judge_concurrent)
    pool = pooled(entries, judged=judged)
    pc = percall(rounds, a, b)   # judged on a busy host too: instruction counts (docs/vm-ab.md)
    tot = cpu(rounds, a, b, judged=judged)
    regs = [case_label(e) for e in regressions(entries)] + [pooled_label(p) for p in pool if p["regression"]] \
        + [percall_label(e) for e in pc if e["regression"]] + [cpu_label(e) for e in tot if e["regression"]]
    return {"a": a, "b": b, "entries": entries, "pooled": pool, "percall": pc, "cpu": tot,
            "regressions": [prefix + r for r in regs]}


def case_label(e: Dict[str, Any]) -> str:
    if e["case"] == "munmap":
        return f"{e['backend']} munmap {e['size_mb']} MB"
    return f"{e['backend']} {e['case']} {e['procs']}x{e['size_mb']} MB"
