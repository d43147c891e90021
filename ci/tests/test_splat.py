# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/splat.py is the one list of splat patterns: the committed C headers are what it
generates, the C code has no pattern of its own and reads the headers, the Python readers
use its regexes, and the headers go wherever the suite's files go (tree glue, export)."""
import glob
import os
import re
import subprocess
import sys
import tempfile
import unittest

from zsgate import bounded, export, mutantjudge, results, splat, treeprep

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
GENERATED = {os.path.join(ROOT, h.path) for h in splat.HEADERS}
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def c_literals(path):
    """The string literals of a C file outside comments."""
    with open(path, encoding="utf-8") as f:
        return [s[1:-1] for s in _STRING.findall(_COMMENT.sub(" ", f.read()))]


def c_files():
    return sorted(set(glob.glob(os.path.join(ROOT, "kunit", "*.[ch]")) +
                      glob.glob(os.path.join(ROOT, "selftests", "*", "*.[ch]"))) - GENERATED)


class SplatList(unittest.TestCase):
    def test_committed_headers_are_generated(self):
        self.assertEqual(splat.stale(), [], "regenerate: cd ci && python3 -m zsgate.splat --c-header")

    def test_stale_header_is_told(self):
        with tempfile.TemporaryDirectory() as d:
            for h in splat.HEADERS:
                os.makedirs(os.path.dirname(os.path.join(d, h.path)), exist_ok=True)
                with open(os.path.join(d, h.path), "w", encoding="utf-8") as f:
                    f.write(splat.c_header(h).replace('"Oops: ",\n', ""))
            self.assertEqual(splat.stale(d), [h.path for h in splat.HEADERS])

    def test_check_cli(self):
        r = subprocess.run([sys.executable, "-m", "zsgate.splat", "--check"], cwd=CI,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_header_holds_every_pattern_of_its_kinds(self):
        for h in splat.HEADERS:
            lits = c_literals(os.path.join(ROOT, h.path))
            self.assertEqual(lits, splat.texts(*h.kinds) + [splat.KCSAN_REPORT], h.path)

    def test_c_code_has_no_pattern_of_its_own(self):
        texts = splat.texts(*{p.kind for p in splat.PATTERNS}) + [splat.KCSAN_REPORT]
        files = c_files()
        self.assertTrue(any(f.endswith("zsf_kmsg.c") for f in files))
        for path in files:
            for lit in c_literals(path):
                hit = [t for t in texts if t.strip() in lit]
                self.assertEqual(hit, [], f"{os.path.relpath(path, ROOT)}: \"{lit}\" holds a splat "
                                          "pattern: add it to ci/zsgate/splat.py instead")

    def test_c_readers_use_the_headers(self):
        uses = {"kunit/zsmalloc_kunit.c": '#include "zsmalloc_kunit_splat.h"',
                "kunit/zsmalloc_kunit_helpers.h": "ARRAY_SIZE(zst_splats)",
                "selftests/zsfree_common/zsf_kmsg.c": '#include "zsfree_splat.h"'}
        for rel, text in uses.items():
            with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
                self.assertIn(text, f.read(), rel)
        with open(os.path.join(ROOT, "selftests/zsfree_common/zsf_kmsg.c"), encoding="utf-8") as f:
            self.assertIn("ARRAY_SIZE(zsf_splats)", f.read())
        for coll in ("zram_free", "zswap_free"):
            with open(os.path.join(ROOT, "selftests", coll, "Makefile"), encoding="utf-8") as f:
                self.assertIn("zsfree_splat.h", f.read(), coll)

    def test_python_readers_use_the_list(self):
        self.assertEqual(results.SPLAT.pattern, splat.regex(splat.CRASH, splat.MEMORY, splat.SPLAT_KIND).pattern)
        self.assertEqual(bounded.CRASH.pattern, splat.regex(splat.CRASH).pattern)
        self.assertEqual(mutantjudge.CRASH.pattern, splat.regex(splat.CRASH, splat.MEMORY).pattern)

    def test_kinds(self):
        self.assertEqual({p.kind for p in splat.PATTERNS},
                         {splat.CRASH, splat.MEMORY, splat.SPLAT_KIND, splat.CASE})
        line = "[    4.5] %s something"
        for p in splat.PATTERNS:
            found = results.find_splats([line % p.text])
            self.assertEqual(bool(found), p.kind != splat.CASE, p.text)
            self.assertEqual(bool(bounded.CRASH.search(line % p.text)), p.kind == splat.CRASH, p.text)
        # KUnit's summary line names the suite: no splat on a whole console
        self.assertEqual(results.find_splats(["[ 9.0] # zsmalloc: pass:5 fail:0 skip:5 total:10"]), [])
        self.assertEqual(results.find_splats(["[ 9.0] zsmalloc: Class-3 fullness group 1 is not empty"]),
                         ["[ 9.0] zsmalloc: Class-3 fullness group 1 is not empty"])

    def test_headers_go_with_the_suite(self):
        self.assertIn("zsmalloc_kunit_splat.h", treeprep.suite_files(os.path.join(ROOT, "kunit")))
        files = export._collection_files(os.path.join(ROOT, "selftests"), export.COMMON)
        self.assertIn(f"{export.SELFTESTS}/zsfree_common/zsfree_splat.h", files)


if __name__ == "__main__":
    unittest.main()
