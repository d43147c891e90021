# SPDX-License-Identifier: GPL-2.0
"""The exported series is checkpatch --strict clean: the real export (ci/zsgate/export.py) of
this repository's kunit/ and selftests/ against a kernel source, checked with that source's
scripts/checkpatch.pl --strict, gives 0 errors, 0 warnings and 0 checks on each of its
patches. The source: $ZSGATE_TEST_KSRC, else one ci/source fetched into the cache; SKIP when
there is none on this machine. About 15 s (checkpatch on ~7000 patch lines)."""
import glob
import os
import re
import shutil
import tempfile
import unittest
from typing import List, Optional

from zsgate import config
from zsgate.export import export

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FINDING = re.compile(r"^(ERROR|WARNING|CHECK): ")


def kernel_source() -> Optional[str]:
    """A Linux source with scripts/checkpatch.pl: $ZSGATE_TEST_KSRC, else the newest
    linux-source-7.N ci/source unpacked into the cache (7.3 is the export's default); None
    when there is none on this machine."""
    cached = glob.glob(os.path.join(config.cache_dir(), "src", "*", "*"))
    cands = [os.environ.get("ZSGATE_TEST_KSRC", "")]
    cands += sorted(cached, reverse=True,
                    key=lambda c: [int(n) for n in re.findall(r"\d+", os.path.basename(c))])
    for c in cands:
        if c and all(os.path.isfile(os.path.join(c, f)) for f in ("scripts/checkpatch.pl", "mm/zsmalloc.c")):
            return c
    return None


def findings(log: str) -> List[str]:
    """checkpatch's findings in @log, one string each: its message and the FILE: line."""
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    out = []
    for i, ln in enumerate(lines):
        if FINDING.match(ln):
            where = next((w.split("FILE: ", 1)[1].rstrip(":") for w in lines[i + 1:i + 3] if "FILE: " in w),
                         "?")
            out.append(f"{where}: {ln}")
    return out


@unittest.skipUnless(shutil.which("perl") and shutil.which("git"), "needs perl and git")
class CheckpatchStrictTest(unittest.TestCase):
    def setUp(self) -> None:
        ksrc = kernel_source()
        if ksrc is None:
            self.skipTest("no kernel source with scripts/checkpatch.pl "
                          "(ZSGATE_TEST_KSRC, or ci/source into the cache)")
        self.ksrc: str = ksrc
        self.tmp = tempfile.TemporaryDirectory(prefix="zsgate-style-")
        self.addCleanup(self.tmp.cleanup)

    def test_export_is_checkpatch_strict_clean(self) -> None:
        out = os.path.join(self.tmp.name, "export")
        configs = [os.path.join(ROOT, "configs", f"zsmalloc-{a}.kunitconfig") for a in ("um", "x86_64")]
        res = export(self.ksrc, out, os.path.join(ROOT, "kunit"), os.path.join(ROOT, "selftests"),
                     configs, "the test's kernel source", ident="Ann Tester <ann@example.org>")
        self.assertTrue(res["patches"])
        bad = []
        for p in res["patches"]:
            cp = p["checkpatch"]
            self.assertIsNotNone(cp["errors"], f"{p['file']}: {cp.get('problem')}")
            if cp["errors"] or cp["warnings"] or cp["checks"]:
                log = os.path.join(out, "checkpatch", p["file"][:-len(".patch")] + ".txt")
                bad.append(f"{p['file']}: {cp['errors']} errors, {cp['warnings']} warnings, "
                           f"{cp['checks']} checks")
                bad += ["  " + f for f in findings(log)]
        self.assertEqual(bad, [], f"scripts/checkpatch.pl --strict of {self.ksrc}:\n" + "\n".join(bad))


if __name__ == "__main__":
    unittest.main()
