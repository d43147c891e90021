# SPDX-License-Identifier: GPL-2.0
"""plot.py AB_JSON PNG: speedup per case with its 95 % interval (run by Debian's python3,
which has python3-matplotlib; ci/report calls it with /usr/bin/python3)."""

import json
import sys
from typing import Any, Dict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(e: Dict[str, Any]) -> str:
    if e["case"] == "munmap":
        return f"munmap {e['size_mb']} MB"
    how = {"teardown_munmap": "teardown munmap", "teardown_exit": "teardown exit"}.get(e["case"], e["case"])
    return f"{how} {e['procs']}x{e['size_mb']} MB"


def main() -> None:
    with open(sys.argv[1]) as f:
        ab = json.load(f)
    la, lb = ab.get("labels", ["base", "patched"])
    margin = ab.get("margin", 0.1)
    backends = [b for b in ("zram", "zswap") if any(e["backend"] == b and e.get("speedup") for e in ab["entries"])]
    if not backends:
        backends = ["zram"]
    fig, axes = plt.subplots(1, len(backends), figsize=(6.5 * len(backends), 5.2), squeeze=False)
    for ax, be in zip(axes[0], backends):
        es = [e for e in ab["entries"] if e["backend"] == be and e.get("speedup")
              and e["case"] in ("munmap", "teardown_munmap", "teardown_exit")]
        order = {"munmap": 0, "teardown_munmap": 1, "teardown_exit": 2}
        es.sort(key=lambda e: (order.get(e["case"], 9), e["size_mb"], e["procs"]))
        ys = list(range(len(es)))[::-1]
        for y, e in zip(ys, es):
            s, lo, hi = e["speedup"], e["speedup_lo"], e["speedup_hi"]
            color = "tab:red" if e.get("regression") else (
                "tab:gray" if not e.get("judged") else ("tab:green" if lo > 1 else "tab:blue"))
            ax.errorbar(s, y, xerr=[[s - lo], [hi - s]], fmt="o", color=color, capsize=4, ms=6)
            ax.annotate(f"{s:.2f}x", (hi, y), xytext=(5, -3), textcoords="offset points", fontsize=8)
        ax.set_yticks(ys)
        ax.set_yticklabels([label(e) for e in es], fontsize=9)
        ax.axvline(1.0, color="black", lw=1)
        xs = [e["speedup_lo"] for e in es] + [e["speedup_hi"] for e in es] + [1.0]
        lo_x, hi_x = max(0.02, min(xs) * 0.8), min(100.0, max(xs) * 1.6)
        ax.set_xscale("log")
        ax.set_xlim(lo_x, hi_x)
        ax.axvspan(lo_x, 1 / (1 + margin), color="tab:red", alpha=0.08)
        ax.set_xlabel(f"speedup {la}/{lb} (log; >1: {lb} faster), 95 % bootstrap CI\n"
                      f"shaded: {lb} > {100 * margin:.0f} % slower; red: regression; gray: shown, not judged",
                      fontsize=9)
        ax.set_title(f"{be} ({ab.get('arch')}, {ab.get('rounds')} rounds x {ab.get('inner_rounds')} inner)")
        ax.grid(axis="x", which="both", alpha=0.3)
    regs = ab.get("regressions", [])
    fig.suptitle(f"zsgate A/B {la} vs {lb}: " + (f"{len(regs)} REGRESSION(S)" if regs else "no regression"),
                 color="tab:red" if regs else "black")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
