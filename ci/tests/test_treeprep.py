# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/treeprep.py: the source is never written; failed patches leave no trace."""
import os
import tempfile
import unittest

from zsgate.series import read_series
from zsgate.treeprep import TreeError, prepare
from tests import fakesrc


class TreePrepTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.src = fakesrc.make(os.path.join(d, "src"))
        self.tree = os.path.join(d, "work", "linux")
        self.kunit = os.path.join(d, "zsmalloc_kunit.c")
        with open(self.kunit, "w", encoding="utf-8") as f:
            f.write("/* suite */\n")
        self.before = {p: fakesrc.read(self.src, p) for p in fakesrc.FILES}

    def tearDown(self):
        self.tmp.cleanup()

    def series(self, patches):
        return read_series(fakesrc.quilt(os.path.join(self.tmp.name, "q%d" % len(patches)), patches))

    def assert_source_untouched(self):
        for p, text in self.before.items():
            self.assertEqual(fakesrc.read(self.src, p), text, f"source file {p} was modified")
        self.assertFalse(os.path.exists(os.path.join(self.src, "mm/tests")))

    def test_base_tree_has_glue_and_no_part_b(self):
        st = prepare(self.src, self.tree, None, self.kunit)
        self.assertFalse(st["part_b"])
        self.assertIn('#include "tests/zsmalloc_kunit.c"', fakesrc.read(self.tree, "mm/zsmalloc.c"))
        self.assertIn("config ZSMALLOC_KUNIT_TEST", fakesrc.read(self.tree, "mm/Kconfig"))
        self.assertNotIn("HAVE_DEFERRED", fakesrc.read(self.tree, "mm/Makefile"))
        self.assertEqual(fakesrc.read(self.tree, "mm/tests/zsmalloc_kunit.c"), "/* suite */\n")
        self.assert_source_untouched()

    def test_patched_tree_then_back_to_base(self):
        st = prepare(self.src, self.tree, self.series(
            {"0001-a.patch": fakesrc.PATCH_A, "0002-d.patch": fakesrc.PATCH_DEFERRED}), self.kunit)
        self.assertTrue(st["part_b"])
        self.assertEqual(fakesrc.read(self.tree, "mm/a.c"), "one\nTWO\nthree\n")
        self.assertIn("-DZSMALLOC_KUNIT_HAVE_DEFERRED", fakesrc.read(self.tree, "mm/Makefile"))
        self.assert_source_untouched()
        prepare(self.src, self.tree, None, self.kunit)
        self.assertEqual(fakesrc.read(self.tree, "mm/a.c"), "one\ntwo\nthree\n")
        self.assertNotIn("HAVE_DEFERRED", fakesrc.read(self.tree, "mm/Makefile"))
        self.assert_source_untouched()

    def test_untouched_files_stay_hard_links(self):
        prepare(self.src, self.tree, self.series({"0001-a.patch": fakesrc.PATCH_A}), self.kunit)
        self.assertTrue(os.path.samefile(os.path.join(self.src, "Makefile"), os.path.join(self.tree, "Makefile")))
        self.assertFalse(os.path.samefile(os.path.join(self.src, "mm/a.c"), os.path.join(self.tree, "mm/a.c")))

    def test_unchanged_file_is_not_rewritten(self):
        s = self.series({"0001-a.patch": fakesrc.PATCH_A})
        prepare(self.src, self.tree, s, self.kunit)
        ino = os.stat(os.path.join(self.tree, "mm/a.c")).st_ino
        prepare(self.src, self.tree, s, self.kunit)
        self.assertEqual(os.stat(os.path.join(self.tree, "mm/a.c")).st_ino, ino)

    def test_failing_patch_is_named_and_leaves_tree_as_it_was(self):
        prepare(self.src, self.tree, self.series({"0001-a.patch": fakesrc.PATCH_A}), self.kunit)
        with self.assertRaisesRegex(TreeError, r"patch 0002-bad.patch does not apply: mm/a.c \(Hunk #1 FAILED"):
            prepare(self.src, self.tree, self.series(
                {"0001-a.patch": fakesrc.PATCH_A, "0002-bad.patch": fakesrc.PATCH_BAD}), self.kunit)
        self.assertEqual(fakesrc.read(self.tree, "mm/a.c"), "one\nTWO\nthree\n")
        self.assertFalse(any(n.endswith((".rej", ".orig")) for n in os.listdir(os.path.join(self.tree, "mm"))))
        self.assert_source_untouched()


if __name__ == "__main__":
    unittest.main()
