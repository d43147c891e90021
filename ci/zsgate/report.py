# SPDX-License-Identifier: GPL-2.0
"""report.md from summary.json and ab.json (ci/report, main()). No third-party modules.

main(): RUN_DIR/report.md (verdict first, A/B tables, runs) and report.png. Reads
RUN_DIR/summary.json (ci/summary) and RUN_DIR/ab.json (ci/ab) when present. The plot is
drawn by ci/zsgate/plot.py with Debian's /usr/bin/python3 (python3-matplotlib;
ZSGATE_PLOT_PYTHON to override); without matplotlib the report says so and has no picture.
Exit 0 when the report was written (the verdict is ci/summary's exit code, not this one).
"""

import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence

from zsgate import rundir
from zsgate.ab import CPU_MARGIN, MARGIN, POOLED_MARGIN, boot_order, median, rule_summary


def _us(v: Optional[float]) -> str:
    if v is None:
        return "–"
    if v >= 10000:
        return f"{v / 1000:.1f} ms"
    return f"{v:.0f} µs"


def _ms(v: Optional[float]) -> str:
    return "–" if v is None else f"{v:.1f}"


def _cell(side: Dict[str, Any]) -> str:
    m = side.get("median_us")
    if m is None:
        return "–"
    s = _us(m)
    lo, hi = side.get("p10_rounds_us"), side.get("p90_rounds_us")
    if lo is not None and hi is not None:
        s += f" ({_us(lo)}–{_us(hi)})"
    return s


def _speed(e: Dict[str, Any]) -> str:
    if e.get("speedup") is None:
        return "–"
    s = f"{e['speedup']:.2f}× ({e['speedup_lo']:.2f}–{e['speedup_hi']:.2f})"
    if e.get("regression"):
        s += " **REGRESSION**"
    elif not e.get("judged"):
        s += " (not judged)"
    return s


def _pair(e: Dict[str, Any], key: str, fmt: Callable[[Optional[float]], str]) -> str:
    b, p = e["base"].get(key), e["patched"].get(key)
    if b is None and p is None:
        return "–"
    return f"{fmt(b)} / {fmt(p)}"


def _cpu_growth(e: Dict[str, Any]) -> str:
    """CPU of munmap plus kworkers, patched vs base: the seed review's +10 % budget."""
    b, p = e["base"].get("cpu_total_us"), e["patched"].get("cpu_total_us")
    if not b or p is None:
        return "–"
    return f"{_us(b)} / {_us(p)} ({(p / b - 1) * 100:+.0f} %)"


def ab_tables(abd: Dict[str, Any], h: str = "##") -> List[str]:
    """The per-case tables of @abd (its "labels" and "entries"); @h: the heading level."""
    la, lb = abd.get("labels", ["base", "patched"])
    entries = abd.get("entries", [])
    out: List[str] = []
    for backend in ("zram", "zswap"):
        es = [e for e in entries if e["backend"] == backend]
        if not es:
            out += [f"{h} {backend}", "", "no figures (see the runs below)", ""]
            continue
        out += [f"{h} {backend}", ""]
        for case, title in (("teardown_munmap", "Concurrent teardown, released by munmap()"),
                            ("teardown_exit", "Concurrent teardown, released by exit()")):
            rows = sorted((e for e in es if e["case"] == case), key=lambda e: int(e["procs"]))
            if not rows:
                continue
            size = rows[0]["size_mb"]
            out += [f"{h}# {title} ({size} MB per process)", "",
                    f"| procs | {la.capitalize()} (p10–p90) | {lb.capitalize()} (p10–p90) | Speedup (95 % CI) "
                    f"| wall {la}/{lb} | CPU {la}/{lb} |",
                    "|---:|---:|---:|---:|---:|---:|"]
            for e in rows:
                out.append(f"| {e['procs']} | {_cell(e['base'])} | {_cell(e['patched'])} | {_speed(e)} "
                           f"| {_pair(e, 'wall_us', _us)} | {_pair(e, 'cpu_us', _us)} |")
            out.append("")
        rows = sorted((e for e in es if e["case"] == "munmap"), key=lambda e: int(e["size_mb"]))
        if rows:
            out += [f"{h}# munmap() by size (one process)", "",
                    f"| size | {la.capitalize()} (p10–p90) | {lb.capitalize()} (p10–p90) | Speedup (95 % CI) "
                    f"| CPU of munmap {la}/{lb} | CPU munmap + kworkers {la}/{lb} "
                    f"| pool drained after (ms) {la}/{lb} |",
                    "|---:|---:|---:|---:|---:|---:|---:|"]
            for e in rows:
                out.append(f"| {e['size_mb']} MB | {_cell(e['base'])} | {_cell(e['patched'])} | {_speed(e)} "
                           f"| {_pair(e, 'cpu_us', _us)} | {_cpu_growth(e)} | {_pair(e, 'drain_ms', _ms)} |")
            out.append("")
        rows = sorted((e for e in es if e["case"].startswith("return_")), key=lambda e: (e["case"], e["procs"]))
        if rows:
            out += [f"{h}# Memory return (ms from the release until 50 % / 90 % is back; "
                    f"{la} / {lb}; shown, not judged)", "",
                    "| case | release wall | pool 50 % | pool 90 % | MemAvailable 50 % | MemAvailable 90 % |",
                    "|---|---:|---:|---:|---:|---:|"]
            for e in rows:
                how = "munmap" if e["case"] == "return_munmap" else "exit"
                out.append(f"| {e['procs']}×{e['size_mb']} MB by {how} | {_pair(e, 'wall_us', _us)} "
                           f"| {_pair(e, 'ret50_ms', _ms)} | {_pair(e, 'ret90_ms', _ms)} "
                           f"| {_pair(e, 'avail50_ms', _ms)} | {_pair(e, 'avail90_ms', _ms)} |")
            out.append("")
    return out


class PercallRow(NamedTuple):
    """One compared function of ab.json's "percall" (a = base side, b = patched side)."""
    backend: str
    fn: str
    calls_a: int            # calls a boot: the median over the boots
    calls_b: int
    a_ns: float             # the median of the per-boot median call times
    b_ns: float
    pair_ratios: List[float]
    ratio: float
    ratio_lo: float
    ratio_hi: float
    regression: bool
    why_not_judged: Optional[str]   # None: judged


class CpuRow(NamedTuple):
    """One compared backend of ab.json's "cpu" (a = base side, b = patched side)."""
    backend: str
    sizes: int              # munmap sizes paired
    pairs: int
    a_us: float
    b_us: float
    pair_ratios: List[float]
    ratio: float
    ratio_lo: float
    ratio_hi: float
    margin: float
    regression: bool
    why_not_judged: Optional[str]   # None: judged


def _why_not(e: Dict[str, Any]) -> Optional[str]:
    return None if e.get("judged") else str(e.get("why_not_judged", ""))


def percall_rows(entries: List[Dict[str, Any]]) -> List[PercallRow]:
    """The rows of the per-call table (report.md here, ci/summary's lines): the entries of
    ab.json's "percall" (ab.percall()) that were compared (a ratio), in their order."""
    def calls(cs: List[Any]) -> int:
        return int(median([float(c) for c in cs])) if cs else 0

    return [PercallRow(e["backend"], e["fn"], calls(e["base"].get("calls") or []),
                       calls(e["patched"].get("calls") or []),
                       e["base"]["median_ns"], e["patched"]["median_ns"], e["pair_ratios"],
                       e["ratio"], e["ratio_lo"], e["ratio_hi"], bool(e.get("regression")), _why_not(e))
            for e in entries if e.get("ratio") is not None]


def cpu_rows(entries: List[Dict[str, Any]]) -> List[CpuRow]:
    """The rows of the total-CPU table (report.md here, ci/summary's lines): the entries of
    ab.json's "cpu" (ab.cpu()) that were compared (a ratio), in their order."""
    return [CpuRow(e["backend"], len(e["sizes_mb"]), e["pairs"], e["base"]["median_us"],
                   e["patched"]["median_us"], e["pair_ratios"], e["ratio"], e["ratio_lo"], e["ratio_hi"],
                   e.get("margin", CPU_MARGIN), bool(e.get("regression")), _why_not(e))
            for e in entries if e.get("ratio") is not None]


def _flag(regression: bool, why_not_judged: Optional[str]) -> str:
    if regression:
        return " **REGRESSION**"
    return "" if why_not_judged is None else f" (not judged: {why_not_judged})"


def judged_tables(abd: Dict[str, Any], la: str, lb: str, h: str = "##") -> List[str]:
    """The paired tests of @abd (ab.json, or one of its "comparisons"): pooled, per call,
    total CPU; @h: the heading level."""
    out: List[str] = []
    pooled = abd.get("pooled") or []
    if pooled:
        out += [f"{h} Pooled, per backend (one-process cases paired by round)", "",
                f"| backend | cases | pairs | {lb}/{la} per pair | Speedup (95 % t interval) |",
                "|---|---:|---:|---|---:|"]
        for p in pooled:
            flag = " **REGRESSION**" if p.get("regression") else (
                "" if p.get("judged", True) else " (not judged: host busy)")
            out.append(f"| {p['backend']} | {len(p['cases'])} | {p['pairs']} | "
                       f"{' '.join(f'{r:.2f}' for r in p['pair_ratios'])} | "
                       f"{p['speedup']:.2f} ({p['speedup_lo']:.2f}–{p['speedup_hi']:.2f}){flag} |")
        out += [""]
    percall = percall_rows(abd.get("percall") or [])
    if percall:
        out += [f"{h} The free path per call (kernel-side, kprobes + hist triggers)", "",
                f"| backend | function | calls a boot ({la}/{lb}) | {la} ns | {lb} ns | {lb}/{la} per pair | "
                "ratio (95 % t interval) |", "|---|---|---:|---:|---:|---|---:|"]
        for r in percall:
            out.append(f"| {r.backend} | {r.fn}() | {r.calls_a}/{r.calls_b} | {r.a_ns:.0f} | "
                       f"{r.b_ns:.0f} | {' '.join(f'{x:.3f}' for x in r.pair_ratios)} | "
                       f"{r.ratio:.3f} ({r.ratio_lo:.3f}–{r.ratio_hi:.3f}){_flag(r.regression, r.why_not_judged)} |")
        out += ["", "Each boot's figure is the median over every call of the function from the munmap() "
                "until the pool was back at baseline (4 ns buckets), in instructions (QEMU -icount); < 1 means fewer.", ""]
    tot = cpu_rows(abd.get("cpu") or [])
    if tot:
        out += [f"{h} Total CPU, munmap thread + kworkers (one-process munmap cases paired by round)", "",
                f"| backend | sizes | pairs | {la} | {lb} | {lb}/{la} per pair | ratio (95 % t interval) |",
                "|---|---:|---:|---:|---:|---|---:|"]
        for c in tot:
            out.append(f"| {c.backend} | {c.sizes} | {c.pairs} | {_us(c.a_us)} | "
                       f"{_us(c.b_us)} | {' '.join(f'{x:.2f}' for x in c.pair_ratios)} | "
                       f"{c.ratio:.3f} ({c.ratio_lo:.3f}–{c.ratio_hi:.3f}){_flag(c.regression, c.why_not_judged)} |")
        out += ["", f"cpu_total_us of each munmap figure: the munmap thread's CPU plus every kworker's over the "
                f"window; a regression when the whole interval lies above {1 + tot[-1].margin:g} "
                "(the seed review's +10 % budget).", ""]
    return out


def render(run_id: str, summary: Optional[Dict[str, Any]], abd: Optional[Dict[str, Any]], png: Optional[str]) -> str:
    out: List[str] = [f"# zsgate report: {run_id}", ""]
    verdict = (summary or {}).get("verdict")
    problems = list((summary or {}).get("problems", []))
    if summary is None:
        problems.append("no summary.json (run ci/summary first)")
    if abd is not None and summary is not None and "ab" not in summary and not abd.get("not_run"):
        # an old ci/summary: judge the A/B here too
        problems += [f"A/B regression: {r}" for r in abd.get("regressions", [])]
        problems += [f"A/B: {p}" for p in abd.get("problems", [])]
        verdict = "fail" if problems else verdict
    out.append(f"**Verdict: {(verdict or 'fail').upper()}**" + ("" if not problems else ""))
    out.append("")
    for p in problems:
        out.append(f"- {p}")
    for w in (summary or {}).get("warnings", []):
        out.append(f"- warning (not judged): {w}")
    if problems or (summary or {}).get("warnings"):
        out.append("")
    k = (summary or {}).get("kernel") or {}
    ser = (summary or {}).get("series")
    out.append(f"Kernel {k.get('version', '?')} ({k.get('package') or k.get('path') or '?'}); series: "
               + (f"{ser.get('kind')} {ser.get('id')}" if ser else "none (base only)") + ".")
    out.append("")
    bfs = (summary or {}).get("build_failures") or []
    if bfs:
        out += ["## Build failed", "",
                "No image of this revision: no VM runs, no A/B, no figures for it.", ""]
        out += [f"- `{b['run']}`: `{b['error']}` (see {b['run']}.build.log)" for b in bfs] + [""]
    if abd is None:
        out += ["No A/B run (ci/ab) in this run.", ""]
    elif abd.get("not_run"):
        out += [f"A/B not run: {abd['not_run']}", ""]
    else:
        la, lb = abd.get("labels", ["base", "patched"])
        n = len(abd.get("entries", []))
        regs = abd.get("regressions", [])
        lc = abd.get("prev_label")
        order = f"{la} {lb} {lb} {la} …" if not lc else " | ".join(
            " ".join(boot_order([la, lb, lc], i)) for i in (1, 2)) + " | …"
        out.append(f"A/B on {abd.get('arch')}: {la} vs {lb}{f' and {lc} vs {lb}' if lc else ''}, "
                   f"{abd.get('rounds')} interleaved rounds ({order}), {abd.get('inner_rounds')} inner round(s) per boot"
                   f"{', quick sizes (ZSGATE_QUICK: nominal 64…512 MB / 4, 256 MB teardown → 64 MB)' if abd.get('quick') else ''}; {n} cases, "
                   f"{len(regs)} regression(s){': ' + ', '.join(regs) if regs else ''}; "
                   f"{abd.get('seconds', 0):.0f} s.")
        out.append("")
        if png:
            out += [f"![speedup per case]({png})", ""]
        out += ab_tables(abd)
        out += judged_tables(abd, la, lb)
        for c in abd.get("comparisons") or []:
            out += [f"## vs {c['a']}: {c['a']} → {c['b']}", "",
                    f"The previous revision ({c['a']}) booted in the same rounds; {c['b']} judged against it "
                    f"by the same rule: {len(c['regressions'])} regression(s)"
                    + (": " + ", ".join(c["regressions"]) if c["regressions"] else "") + ".", ""]
            out += ab_tables({"labels": [c["a"], c["b"]], "entries": c["entries"]}, "###")
            out += judged_tables(c, c["a"], c["b"], "###")
        rule = rule_summary(abd.get("margin", MARGIN), abd.get("pooled_margin", POOLED_MARGIN),
                            bool(abd.get("judge_concurrent")))
        out += ["Cells: median over the rounds (boots) of each boot's median per-process release time, "
                "with the p10–p90 of those per-boot medians (the between-boot spread the rule judges). Speedup = "
                f"{la}/{lb} with its 95 % bootstrap interval; > 1 means {lb} is faster. "
                f"Regression rule: {rule}. "
                "CPU: CLOCK_THREAD_CPUTIME_ID of the releasing thread; in the munmap table also "
                "with the kernel workers' CPU over the same window added (the drain worker's share, "
                "/proc/<kworker>/sched), the seed review's +10 % budget. Memory-return times are "
                "shown beside the release time and not judged.", ""]
    out += ["## Runs", "", "| run | pass | fail | skip |", "|---|---:|---:|---:|"]
    for r in (summary or {}).get("runs", []):
        reused = r.get("reused_from")
        name = r["name"] + (f" (reused: kept clean run of {reused['date']}, same inputs)" if reused else "")
        if r.get("build") == "failed":
            what = f"not run (build failed: {r['build_run']})" if r.get("build_run") else "build failed"
            out.append(f"| {name} | {what} | – | – |")
        elif r.get("vm_status") == "not run":
            out.append(f"| {name} | not run | – | – |")
        else:
            out.append(f"| {name} | {r['pass']} | {r['fail']} | {r['skip']} |")
    if abd is not None:
        for r in abd.get("runs", []):
            c = r.get("counts") or {}
            out.append(f"| ab/{r['name']} ({r.get('status')}, {r.get('seconds')} s) | {c.get('pass', '–')} "
                       f"| {c.get('fail', '–')} | {c.get('skip', '–')} |")
    out.append("")
    steps = (summary or {}).get("steps", [])
    if len(steps) > 1:
        total = rundir.wall_seconds(steps)
        out += ["## Time", "", "| step | seconds | of which kunit.py build / run |", "|---|---:|---|"]
        for st in steps:
            k = st.get("kunit_py")
            split = f"{k['configure'] + k['build']:.0f} / {k['run']:.0f} (waited {st['waited']:.0f})" if k else ""
            out.append(f"| {st['name']} | {st['seconds']:.0f} | {split} |")
        out += [f"| total | {total:.0f} | |", ""]
    sp = list((summary or {}).get("splats", []))
    if abd is not None and summary is not None and "ab" not in summary:
        sp += abd.get("splats", [])
    if sp:
        out += ["## Kernel splats", ""] + [f"- `{s['run']}`: `{s['line']}`" for s in sp[:20]] + [""]
    return "\n".join(out)


def _load(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(argv: Sequence[str]) -> int:
    """ci/report RUN_DIR: write report.md (and report.png), say where; exit 2 on a usage error."""
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print("usage: ci/report RUN_DIR", file=sys.stderr)
        return 2
    d = argv[0]
    summary = _load(rundir.path(d, rundir.SUMMARY))
    abd = _load(rundir.path(d, rundir.AB))
    png = None
    py = os.environ.get("ZSGATE_PLOT_PYTHON", "/usr/bin/python3")
    if abd is not None and abd.get("entries"):
        plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot.py")
        r = subprocess.run([py, plot, rundir.path(d, rundir.AB), rundir.path(d, rundir.REPORT_PNG)],
                           capture_output=True, text=True)
        if r.returncode == 0:
            png = rundir.REPORT_PNG
        else:
            print(f"ci/report: no plot ({py} zsgate/plot.py: {r.stderr.strip().splitlines()[-1:]})",
                  file=sys.stderr)
    text = render(os.path.basename(os.path.realpath(d)), summary, abd, png)
    if abd is not None and png is None:
        text += "\n(no report.png: matplotlib was not available to " + py + ")\n"
    with open(rundir.path(d, rundir.REPORT_MD), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"report: {rundir.path(d, rundir.REPORT_MD)}" + (f" and {png}" if png else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
