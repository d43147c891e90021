# SPDX-License-Identifier: GPL-2.0
"""Count results (kunit.py JSON, KTAP), find kernel splats in console logs, and tell a
build that failed (kunit.py's build log) with its first compiler error."""

import json
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from . import splat

# every report of a bug, crash and memory-safety reports included (splat.py, the one list)
SPLAT = splat.regex(splat.CRASH, splat.MEMORY, splat.SPLAT_KIND)


def empty_counts() -> Dict[str, int]:
    return {"pass": 0, "fail": 0, "skip": 0}


def count_kunit_json(path: str) -> Dict[str, int]:
    """Leaf test cases of a kunit.py --json file: PASS / SKIP / anything else is a failure."""
    with open(path, encoding="utf-8") as f:
        root = json.load(f)
    counts = empty_counts()

    def walk(group: Dict[str, Any]) -> None:
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

    def walk(group: Dict[str, Any], prefix: str) -> None:
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
# the suite's code: these fail a KCSAN run (ci/summary, ci/mutants, and ci/kunit --kcsan
# through kcsan_text(), in its process), unless it is a known race of base zsmalloc.
KCSAN_LINE = re.compile(r"BUG: KCSAN: |KCSAN: ")
# (a report's title starts its line; a KUnit message quoting one is not a report)
KCSAN_REPORT = re.compile(r"^(\[ *[0-9.]+\] *)?BUG: KCSAN: ")
KCSAN_OURS = re.compile(r"^(\[ *[0-9.]+\] *)?BUG: KCSAN: .*(zs_|zsmalloc|zst_|zram|zswap|obj_|record_obj|"
                        r"cache_free_handle|kick_deferred|zspage|zpdesc|fullness|size_class|class_stat)")
_STAMP = re.compile(r"^\[[ 0-9.]*\] *")
# Known races of base zsmalloc (linux 7.3 as released, which no series changes there):
# the first word of struct zspage packs huge, fullness, class and magic. fix_fullness_group()
# (insert_zspage()) rewrites it for the fullness bits under class->lock; zspage_class() and
# ZsHugePage() read it without class->lock in zs_page_migrate() (under pool->lock) and in
# zs_obj_read_begin()/zs_obj_read_end()/zs_obj_write() (under the zspage lock; inlined into
# the suite's zst_verify()/zst_alloc()). The class and huge bits never change, but the word
# does, so KCSAN reports the pair. Seen on the reference series in test_free_migrate_race:
# "fix_fullness_group / zs_page_migrate" and "fix_fullness_group / zst_verify"
# (docs/known-issues.md). A report of such a pair counts as "known", not as ours.
KCSAN_BASE_WRITERS = ("fix_fullness_group", "insert_zspage")
KCSAN_BASE_READERS = ("zs_page_migrate", "zs_obj_read_begin", "zs_obj_read_end", "zs_obj_write",
                      "zst_verify", "zst_alloc")
_PAIR = re.compile(r"BUG: KCSAN: data-race in (\S+) / (\S+)")


def kcsan_known_base_race(title: str) -> bool:
    """A KCSAN title "data-race in a / b" of a known race of base zsmalloc (either order)."""
    m = _PAIR.search(title)
    if not m:
        return False
    a, b = m.groups()
    return (a in KCSAN_BASE_WRITERS and b in KCSAN_BASE_READERS) or \
        (b in KCSAN_BASE_WRITERS and a in KCSAN_BASE_READERS)


def kcsan_counts(title: str, count_all: bool = False) -> bool:
    """Does this KCSAN title fail a run: it names ours and is no known base race."""
    return count_all or (bool(KCSAN_OURS.search(title)) and not kcsan_known_base_race(title))
# a KTAP result line of a case: "[ 12.3]     ok 2 test_x" / "not ok 3 test_y # SKIP ..."
_RESULT = re.compile(r"^(?:\[[ 0-9.]*\])?\s*(?:not )?ok \d+ (\S+)")
# the suite's line when a case starts (zst_case_init())
_CASE_START = re.compile(r"# (\S+): zsgate: case start")


def kcsan_reports(lines: Iterable[str], count_all: bool = False) -> Dict[str, Any]:
    """The KCSAN reports of a console: {"reports": N, "ours_reports": M, "ours": [title, ...],
    "known": [...], "other": [...], "during": {title: case}} (titles "BUG: KCSAN: data-race
    in a / b" without the time stamp, in order, each kept once; N all reports, M those that
    fail the run: naming ours and not a known base race, which go to "known";
    "during": the case that was running at a title's first report: the last "zsgate: case
    start" line before it not yet ended by its result line, else (a suite without those
    lines) the KTAP result line that follows, when no suite began in between).
    "ours" names zsmalloc/zram/zswap/the suite (KCSAN_OURS); with count_all every report
    is ours (ZSGATE_KCSAN_ALL=1)."""
    n, m = 0, 0
    running: Optional[str] = None
    ours: List[str] = []
    known: List[str] = []
    other: List[str] = []
    during: Dict[str, str] = {}
    pending: List[str] = []
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
        mine = kcsan_counts(title, count_all)
        m += mine
        into = ours if mine else known if kcsan_known_base_race(title) else other
        if title not in into:
            into.append(title)
            if running:
                during[title] = running
            else:
                pending.append(title)
    return {"reports": n, "ours_reports": m, "ours": ours, "known": known, "other": other,
            "during": during}


def kcsan_text(lines: List[str], count_all: bool = False) -> Tuple[List[str], bool]:
    """(NAME.kcsan.txt of ci/kunit --kcsan, its lines; whether a report fails the run):
    the count line, then each report title with its count and how it is judged."""
    k = kcsan_reports(lines, count_all)
    text = [f"KCSAN reports: {k['reports']}, naming zsmalloc/zram/zswap/suite code: {k['ours_reports']}"
            f" (known races of base zsmalloc, not counted: {len(k['known'])} kind(s))"]
    titles = [_STAMP.sub("", ln.strip()) for ln in lines if KCSAN_REPORT.search(ln.strip())]
    for t in sorted(set(titles)):
        what = "counted" if t in k["ours"] else "known base race" if t in k["known"] else "elsewhere"
        text.append(f"{titles.count(t):7} {t}  [{what}]")
    return text, bool(k["ours_reports"])


def main(argv: List[str]) -> int:
    """python3 -m zsgate.results kcsan LOG: ci/kunit --kcsan's NAME.kcsan.txt on stdout
    (kcsan_text); exit 1 when a report fails the run (ZSGATE_KCSAN_ALL=1: any report)."""
    import os
    import sys
    if len(argv) != 2 or argv[0] != "kcsan":
        print("usage: python3 -m zsgate.results kcsan LOG", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    text, failed = kcsan_text(lines, os.environ.get("ZSGATE_KCSAN_ALL", "0") == "1")
    print("\n".join(text))
    return 1 if failed else 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))


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
