# SPDX-License-Identifier: GPL-2.0
"""Count results (kunit.py JSON, KTAP) and find kernel splats in console logs."""

import json
import re
from typing import Dict, Iterable, List

SPLAT = re.compile(
    r"(BUG: |WARNING: |KASAN: |UBSAN: |KCSAN: |KFENCE: |"
    r"possible circular locking dependency|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|"
    r"INFO: task .* blocked for more than|general protection fault|"
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


def find_splats(lines: Iterable[str], limit: int = 20) -> List[str]:
    """Console lines that report a kernel bug, warning, sanitizer hit or lockdep splat."""
    out = []
    for line in lines:
        if SPLAT.search(line):
            out.append(line.rstrip())
            if len(out) >= limit:
                break
    return out
