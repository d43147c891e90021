# SPDX-License-Identifier: GPL-2.0
"""Count results (kunit.py JSON, KTAP), find kernel splats in console logs, and tell a
build that failed (kunit.py's build log) with its first compiler error."""

import json
import re
from typing import Dict, Iterable, List, Optional

SPLAT = re.compile(
    r"(BUG: |WARNING: |KASAN: |UBSAN: |KCSAN: |KFENCE: |"
    r"possible circular locking dependency|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|"
    r"INFO: task .* blocked for more than|general protection fault|"
    r"rcu: INFO: .*(detected stalls|self-detected stall)|"
    r"Kernel panic|Oops: |Unable to handle kernel|zsmalloc: .*(leak|not empty))")


def empty_counts() -> Dict[str, int]:
    return {"pass": 0, "fail": 0, "skip": 0}


def count_kunit_json(path: str) -> Dict[str, int]:
    """Leaf test cases of a kunit.py --json file: PASS / SKIP / anything else is a failure."""
    with open(path, encoding="utf-8") as f:
        root = json.load(f)
    counts = empty_counts()

    def walk(group: Dict) -> None:
        for case in group.get("test_cases", []):
            status = case.get("status")
            key = {"PASS": "pass", "SKIP": "skip"}.get(status, "fail")
            counts[key] += 1
        for sub in group.get("sub_groups", []):
            walk(sub)

    walk(root)
    return counts


def failed_cases(path: str) -> List[str]:
    """'group.case' names of the leaf cases of a kunit.py --json file that did not pass or skip."""
    with open(path, encoding="utf-8") as f:
        root = json.load(f)
    out: List[str] = []

    def walk(group: Dict, prefix: str) -> None:
        for case in group.get("test_cases", []):
            if case.get("status") not in ("PASS", "SKIP"):
                out.append(prefix + str(case.get("name")))
        for sub in group.get("sub_groups", []):
            walk(sub, prefix + str(sub.get("name")) + ".")

    walk(root, "")
    return out


def skip_reasons(ktap_lines: Iterable[str]) -> List[str]:
    """'name: reason' for each '... # SKIP reason' line of a KTAP stream."""
    out = []
    for line in ktap_lines:
        m = re.match(r"^\s*ok \d+ (\S+)\s+#\s*SKIP\s*(.*)$", line)
        if m:
            out.append(f"{m.group(1)}: {m.group(2).strip() or '(no reason given)'}")
    return out


def find_splats(lines: Iterable[str], limit: int = 20, kcsan: bool = False) -> List[str]:
    """Console lines that report a kernel bug, warning, sanitizer hit or lockdep splat.
    kcsan: the console of a KCSAN run, whose data-race reports kcsan_reports() judges:
    they are left out here."""
    out = []
    for line in lines:
        if kcsan and KCSAN_LINE.search(line):
            continue
        if SPLAT.search(line):
            out.append(line.rstrip())
            if len(out) >= limit:
                break
    return out


# A KCSAN report's title line, and one that names zsmalloc, its callers (zram, zswap) or
# the suite's code: these fail a KCSAN run. ci/kunit --kcsan greps the same pattern (zs_re);
# ci/tests/test_results.py checks that the two agree.
KCSAN_LINE = re.compile(r"BUG: KCSAN: |KCSAN: ")
# (a report's title starts its line; a KUnit message quoting one is not a report)
KCSAN_REPORT = re.compile(r"^(\[ *[0-9.]+\] *)?BUG: KCSAN: ")
KCSAN_OURS = re.compile(r"^(\[ *[0-9.]+\] *)?BUG: KCSAN: .*(zs_|zsmalloc|zst_|zram|zswap|obj_|record_obj|"
                        r"cache_free_handle|kick_deferred)")
_STAMP = re.compile(r"^\[[ 0-9.]*\] *")
# a KTAP result line of a case: "[ 12.3]     ok 2 test_x" / "not ok 3 test_y # SKIP ..."
_RESULT = re.compile(r"^(?:\[[ 0-9.]*\])?\s*(?:not )?ok \d+ (\S+)")
# the suite's line when a case starts (zst_case_init())
_CASE_START = re.compile(r"# (\S+): zsgate: case start")


def kcsan_reports(lines: Iterable[str], count_all: bool = False) -> Dict:
    """The KCSAN reports of a console: {"reports": N, "ours_reports": M, "ours": [title, ...],
    "other": [...], "during": {title: case}} (titles "BUG: KCSAN: data-race in a / b"
    without the time stamp, in order, each kept once; N all reports, M those naming ours;
    "during": the case that was running at a title's first report: the last "zsgate: case
    start" line before it not yet ended by its result line, else (a suite without those
    lines) the KTAP result line that follows, when no suite began in between).
    "ours" names zsmalloc/zram/zswap/the suite (KCSAN_OURS); with count_all every report
    is ours (ZSGATE_KCSAN_ALL=1)."""
    n, m, ours, other, during, pending, running = 0, 0, [], [], {}, [], None
    for line in lines:
        if "# Subtest: " in line:
            pending = []    # reported before the suite started: during no case
        s = _CASE_START.search(line)
        if s:
            running = s.group(1)
        r = _RESULT.match(line.strip())
        if r:
            for t in pending:
                during.setdefault(t, r.group(1))
            pending, running = [], None
        if not KCSAN_REPORT.search(line.strip()):
            continue
        n += 1
        title = _STAMP.sub("", line.strip())
        mine = count_all or bool(KCSAN_OURS.search(title))
        m += mine
        into = ours if mine else other
        if title not in into:
            into.append(title)
            if running:
                during[title] = running
            else:
                pending.append(title)
    return {"reports": n, "ours_reports": m, "ours": ours, "other": other, "during": during}


# kunit.py prints this only after config and build succeeded (run_tests() returns before
# exec on a config or build failure): the image in the build dir is this build's.
BUILT = "Starting KUnit Kernel"
# gcc/clang: "../mm/x.c:12:5: error: ...", "fatal error: ...", the linker, modpost, make
COMPILER_ERROR = re.compile(r"(?:^|\s|:)((?:\.\./|/)?[\w./+-]+\.(?:c|h|S|lds|rs)):(\d+)(?::\d+)?: "
                            r"(?:fatal )?error: (.*)$")
LINK_ERROR = re.compile(r"(undefined reference to .*|multiple definition of .*|"
                        r"ERROR: modpost: .*|ld: .*: error: .*)$")
MAKE_ERROR = re.compile(r"make\[\d+\]: \*\*\* (.*)$")


def first_compiler_error(lines: Iterable[str], tree: Optional[str] = None) -> Optional[str]:
    """'file:line: error: message' of the first compiler error in a build log (file
    relative to the tree: the '../' of an O= build dir and the tree's own path are cut),
    else the first linker/modpost error, else the first 'make: ***' line; None if none."""
    link = mk = None
    for raw in lines:
        line = raw.rstrip("\n").replace("ERROR:root:", "")
        m = COMPILER_ERROR.search(line)
        if m:
            f = m.group(1)
            if tree and f.startswith(tree.rstrip("/") + "/"):
                f = f[len(tree.rstrip("/")) + 1:]
            while f.startswith("../"):
                f = f[3:]
            return f"{f}:{m.group(2)}: error: {m.group(3).strip()}"
        if link is None:
            m = LINK_ERROR.search(line)
            if m:
                link = m.group(1).strip()
        if mk is None:
            m = MAKE_ERROR.search(line)
            if m:
                mk = "make: *** " + m.group(1).strip()
    return link or mk


def build_failure(lines: Iterable[str], tree: Optional[str] = None) -> Optional[str]:
    """None when kunit.py's build log shows the kernel was built (it went on to start it);
    else why not, in one line: the first compiler error, or kunit.py's own error."""
    lines = list(lines)
    if any(BUILT in ln for ln in lines):
        return None
    err = first_compiler_error(lines, tree)
    if err:
        return err
    for ln in lines:
        if ln.startswith("ERROR:root:") or ln.startswith("zsgate:"):
            return ln.replace("ERROR:root:", "").strip()[:300]
    last = [ln.strip() for ln in lines if ln.strip()]
    return ("no compiler error in the build log; its last line: " + last[-1][:200]) if last \
        else "empty build log"
