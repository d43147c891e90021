# SPDX-License-Identifier: GPL-2.0
"""The one list of kernel-log lines that report a bug ("splats"), and the C headers made
from it.

Every reader of a kernel log takes its patterns from here: results.find_splats() (the
consoles ci/summary, ci/kcidb, ci/mutants and the farm collector scan), bounded.py (which
line ended a run), ci/mutants (a caught mutant that crashed), the KUnit suite's console
watcher (kunit/zsmalloc_kunit_splat.h) and the selftests' /dev/kmsg scan
(selftests/zsfree_common/zsfree_splat.h). The C code reads the generated headers, which
are committed; regenerate them after a change here:

    cd ci && python3 -m zsgate.splat --c-header      # rewrites both headers
    cd ci && python3 -m zsgate.splat --check         # exit 1 when one is stale

A pattern is a plain substring of the line (no regex), so that C's strstr() and Python
agree. Its kind says what the line means:
  crash   the kernel (or the task it ran) stops or wedges: an oops, panic, lockup, stall
          or hung task; bounded.py names the case that was running at the first one;
  memory  a sanitizer's memory-safety report (KASAN, KFENCE): the kernel goes on, but
          ci/mutants counts a mutant caught so as crashed;
  splat   any other report: a warning, lockdep, RCU, list corruption, UBSAN, KCSAN, a
          zsmalloc error;
  case    fails a KUnit case while it runs (the watcher is armed only then), but is no
          splat on a whole console: any zsmalloc message ("# zsmalloc: pass:..." is the
          suite's own summary line).
Every crash and memory line is a splat too (SPLAT matches all kinds but case).
"""

import argparse
import os
import re
import sys
from typing import List, NamedTuple, Sequence, Tuple


class Pattern(NamedTuple):
    text: str
    kind: str


CRASH, MEMORY, SPLAT_KIND, CASE = "crash", "memory", "splat", "case"

PATTERNS: Tuple[Pattern, ...] = (
    Pattern("Kernel panic - not syncing", CRASH),
    Pattern("Oops: ", CRASH),
    Pattern("BUG: kernel NULL pointer dereference", CRASH),
    Pattern("BUG: unable to handle", CRASH),
    Pattern("Unable to handle kernel", CRASH),  # arm64's "... paging request"
    Pattern("general protection fault", CRASH),
    Pattern("kernel BUG at", CRASH),
    Pattern("BUG: soft lockup", CRASH),
    Pattern("hard LOCKUP", CRASH),
    Pattern("detected stalls on CPUs/tasks", CRASH),  # "rcu: INFO: rcu_preempt detected ..."
    Pattern("self-detected stall on CPU", CRASH),
    Pattern("blocked for more than", CRASH),  # "INFO: task x:1 blocked for more than 120 seconds."
    Pattern("Segfault with no mm", CRASH),  # UML's panic
    Pattern("Kernel mode fault", CRASH),  # UML
    Pattern("KASAN: ", MEMORY),
    Pattern("KFENCE: ", MEMORY),
    Pattern("BUG: ", SPLAT_KIND),
    Pattern("WARNING: ", SPLAT_KIND),
    Pattern("UBSAN: ", SPLAT_KIND),
    Pattern("KCSAN: ", SPLAT_KIND),
    Pattern("possible circular locking dependency", SPLAT_KIND),
    Pattern("possible recursive locking", SPLAT_KIND),
    Pattern("inconsistent lock state", SPLAT_KIND),
    Pattern("DEBUG_LOCKS_WARN_ON", SPLAT_KIND),
    Pattern("suspicious RCU usage", SPLAT_KIND),
    Pattern("list_add corruption", SPLAT_KIND),
    Pattern("list_del corruption", SPLAT_KIND),
    Pattern("is not empty", SPLAT_KIND),  # zsmalloc: "Class-%d fullness group %d is not empty"
    Pattern("zsmalloc: ", CASE),
)

# A KCSAN data-race report's title. The KUnit watcher leaves these to the pipeline
# (results.kcsan_reports()), which counts the ones in zsmalloc, zram, zswap and the suite.
KCSAN_REPORT = "BUG: KCSAN: "


def texts(*kinds: str) -> List[str]:
    """The patterns of these kinds, in list order."""
    return [p.text for p in PATTERNS if p.kind in kinds]


def regex(*kinds: str) -> "re.Pattern[str]":
    """A regex that finds any pattern of these kinds in a line (re.search)."""
    return re.compile("|".join(re.escape(t) for t in texts(*kinds)))


# ---------------------------------------------------------------- C headers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Header(NamedTuple):
    path: str  # relative to the repository
    guard: str
    array: str
    kcsan: str
    kinds: Tuple[str, ...]
    what: str


HEADERS: Tuple[Header, ...] = (
    Header("kunit/zsmalloc_kunit_splat.h", "ZSMALLOC_KUNIT_SPLAT_H", "zst_splats", "ZST_KCSAN_REPORT",
           (CRASH, MEMORY, SPLAT_KIND, CASE),
           "A kernel-log line containing one of these fails the KUnit case that\n"
           " * runs while it is printed (zsmalloc_kunit_helpers.h, zst_log_is_splat()),\n"
           " * any zsmalloc message included."),
    Header("selftests/zsfree_common/zsfree_splat.h", "ZSFREE_SPLAT_H", "zsf_splats", "ZSF_KCSAN_REPORT",
           (CRASH, MEMORY, SPLAT_KIND),
           "A /dev/kmsg record containing one of these fails the test that runs\n"
           " * while it is printed (zsf_kmsg.c, zsf_kmsg_scan())."),
)


def c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_header(h: Header) -> str:
    """The text of one generated header: a static array of the patterns, NULL-free."""
    out = ["/* SPDX-License-Identifier: GPL-2.0 */",
           "/*",
           " * Generated by `python3 -m zsgate.splat --c-header` (run in ci/) from",
           " * ci/zsgate/splat.py, zsgate's one list of kernel-log splats: do not edit.",
           " *",
           " * " + h.what,
           " * A substring match (strstr()), as the pipeline's own check.",
           " */",
           "",
           f"#ifndef {h.guard}",
           f"#define {h.guard}",
           "",
           f"static const char * const {h.array}[] = {{"]
    for kind in h.kinds:
        out.append(f"\t/* {kind} */")
        out += [f"\t{c_string(t)}," for t in texts(kind)]
    out += ["};", "",
            "/* a KCSAN data-race report's title: judged by the pipeline, not here */",
            f"#define {h.kcsan}\t{c_string(KCSAN_REPORT)}",
            "",
            f"#endif /* {h.guard} */", ""]
    return "\n".join(out)


def stale(root: str = ROOT) -> List[str]:
    """The committed headers that differ from what this list generates."""
    bad = []
    for h in HEADERS:
        try:
            with open(os.path.join(root, h.path), encoding="utf-8") as f:
                if f.read() == c_header(h):
                    continue
        except OSError:
            pass
        bad.append(h.path)
    return bad


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m zsgate.splat", description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--c-header", action="store_true", help="rewrite the generated C headers")
    g.add_argument("--check", action="store_true", help="exit 1 when a committed header is stale")
    g.add_argument("--list", action="store_true", help="print the patterns: kind, tab, text")
    a = ap.parse_args(argv)
    if a.list:
        for pat in PATTERNS:
            print(f"{pat.kind}\t{pat.text}")
        return 0
    if a.check:
        bad = stale()
        for path in bad:
            print(f"{path}: stale, regenerate with: cd ci && python3 -m zsgate.splat --c-header", file=sys.stderr)
        return 1 if bad else 0
    for h in HEADERS:
        with open(os.path.join(ROOT, h.path), "w", encoding="utf-8") as f:
            f.write(c_header(h))
        print(h.path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
