# SPDX-License-Identifier: GPL-2.0
"""benchplot.py BENCH_JSON RUN_DIR: the bench's two plots (Debian's python3, which has
python3-matplotlib; zsgate.benchrun calls it with /usr/bin/python3):

- bench-speedup.png: per backend and release case, the speedup of each step with its 95 %
  interval: Part A (7.2 -> 7.3), Part B (7.3 -> patched) and the limit (7.3 -> limit, the
  ceiling the VM allows);
- bench-return.png: memory back over time, per backend: for each kernel the ms until the pool
  shrank by 50 % and 90 % of its growth (from the release), one line per kernel and case.
"""

import json
import os
import sys
from typing import Any, Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from zsgate import rundir  # noqa: E402

STEPS = (("part_a", "Part A", "tab:blue"), ("part_b", "Part B", "tab:green"), ("limit_step", "limit", "tab:gray"))
RETURN_CASES = ("return_munmap", "munmap_mixed_r0", "munmap_mixed_r50", "munmap_pressure")


def speedup(doc: Dict[str, Any], out: str) -> None:
    backends = sorted({e["backend"] for k, _, _ in STEPS for e in doc.get(k, [])}) or ["zram"]
    fig, axes = plt.subplots(1, len(backends), figsize=(7 * len(backends), 7), squeeze=False)
    release = doc.get("release_cases") or []
    for ax, be in zip(axes[0], backends):
        modes: List[str] = []
        for k, _, _ in STEPS:
            for e in doc.get(k, []):
                if e["backend"] == be and e.get("speedup") and (not release or e["case"] in release) \
                        and e["mode"] not in modes:
                    modes.append(e["mode"])
        ys = {m: len(modes) - 1 - i for i, m in enumerate(modes)}
        xs = [1.0]
        for j, (k, name, color) in enumerate(STEPS):
            first = True
            for e in doc.get(k, []):
                if e["backend"] != be or e["mode"] not in ys or not e.get("speedup"):
                    continue
                s, lo, hi = e["speedup"], e["speedup_lo"], e["speedup_hi"]
                xs += [lo, hi]
                ax.errorbar(s, ys[e["mode"]] + (1 - j) * 0.25, xerr=[[s - lo], [hi - s]], fmt="o", color=color,
                            capsize=3, ms=5, label=name if first else None)
                first = False
        ax.set_yticks(list(ys.values()))
        ax.set_yticklabels(list(ys.keys()), fontsize=8)
        ax.axvline(1.0, color="black", lw=1)
        ax.set_xscale("log")
        ax.set_xlim(max(0.05, min(xs) * 0.8), min(200.0, max(xs) * 1.3))
        ax.set_xlabel("speedup (old/new, log; > 1: faster), 95 % bootstrap interval", fontsize=9)
        ax.set_title(f"{be}: Part A (7.2→7.3), Part B (7.3→patched), limit (7.3→limit)", fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"zsgate bench: {doc.get('rounds')} rounds, boots " +
                 ", ".join(f"{k} {n}" for k, n in doc.get("boots", {}).items()))
    fig.tight_layout()
    fig.savefig(rundir.path(out, rundir.BENCH_SPEEDUP_PNG), dpi=100)
    plt.close(fig)


def returns(doc: Dict[str, Any], out: str) -> None:
    rows = [r for r in doc.get("return_curves", []) if r["case"] in RETURN_CASES]
    backends = sorted({r["backend"] for r in rows}) or ["zram"]
    ncol = max([sum(1 for r in rows if r["backend"] == be) for be in backends] + [1])
    fig, axes = plt.subplots(len(backends), ncol, figsize=(4.2 * ncol, 3.6 * len(backends)), squeeze=False)
    colors = {"7.2": "tab:purple", "7.3": "tab:blue", "patched": "tab:green", "limit": "tab:gray"}
    for axrow, be in zip(axes, backends):
        mine = [r for r in rows if r["backend"] == be]
        for ax in axrow[len(mine):]:
            ax.axis("off")
        for ax, r in zip(axrow, mine):
            for lab, k in r["kernels"].items():
                pts = [(0.0, 0.0)] + [(k[key], pct) for key, pct in (("ret50_ms", 50), ("ret90_ms", 90))
                                      if isinstance(k.get(key), (int, float)) and k[key] >= 0]
                missed = [pct for key, pct in (("ret50_ms", 50), ("ret90_ms", 90))
                          if k.get(key.replace("_ms", "_missed"))]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", marker="o", color=colors.get(lab, "black"),
                        label=lab + (f" (never {max(missed)} %)" if missed and len(pts) < 3 else ""))
            ax.set_title(f"{be}: {r['mode']}", fontsize=9)
            ax.set_xlabel("ms after the release", fontsize=8)
            ax.set_ylabel("% of the pool's growth back", fontsize=8)
            ax.set_ylim(-5, 100)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("memory back over time (medians over boots)", fontsize=10)
    fig.tight_layout()
    fig.savefig(rundir.path(out, rundir.BENCH_RETURN_PNG), dpi=100)
    plt.close(fig)


def main() -> None:
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    speedup(doc, sys.argv[2])
    returns(doc, sys.argv[2])


if __name__ == "__main__":
    main()
