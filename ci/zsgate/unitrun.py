# SPDX-License-Identifier: GPL-2.0
"""python3 -m zsgate.unitrun --start ci/tests --top ci --json FILE: unittest discovery in
this process, unittest's own text report on stderr, and the counts written to FILE.

ci/check's stage 1 reads the counts from FILE instead of parsing the report:
{"ran": N, "passed": N, "failed": N, "skipped": N, "failures": N, "errors": N,
 "expected_failures": N, "unexpected_successes": N, "ok": bool}
failed is failures + errors (a module that does not import is one) + unexpected successes;
passed is ran - failed - skipped. Exit 0 when every test passed or skipped, else 1.
"""

import argparse
import json
import os
import sys
import unittest
from typing import Any, Dict, List, Optional, TextIO


def counts(result: unittest.TestResult) -> Dict[str, Any]:
    failures, errors = len(result.failures), len(result.errors)
    unexpected = len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    failed = failures + errors + unexpected
    return {"ran": result.testsRun, "passed": result.testsRun - failed - skipped, "failed": failed,
            "skipped": skipped, "failures": failures, "errors": errors,
            "expected_failures": len(result.expectedFailures), "unexpected_successes": unexpected,
            "ok": result.wasSuccessful()}


def run(start: str, top: Optional[str] = None, stream: Optional[TextIO] = None,
        verbosity: int = 1) -> Dict[str, Any]:
    """Discover and run the tests under start (top: the top-level dir, as unittest's -t)."""
    suite = unittest.defaultTestLoader.discover(start, top_level_dir=top)
    result = unittest.TextTestRunner(stream=stream or sys.stderr, verbosity=verbosity).run(suite)
    return counts(result)


def write_json(path: str, data: Dict[str, Any]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m zsgate.unitrun", description=__doc__.splitlines()[0])
    ap.add_argument("--start", default="ci/tests", help="directory to discover tests in (unittest -s)")
    ap.add_argument("--top", help="top-level directory of the project (unittest -t)")
    ap.add_argument("--json", required=True, help="where to write the counts")
    ap.add_argument("-v", "--verbose", action="store_const", const=2, default=1, dest="verbosity")
    a = ap.parse_args(argv)
    c = run(a.start, a.top, verbosity=a.verbosity)
    write_json(a.json, c)
    return 0 if c["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
