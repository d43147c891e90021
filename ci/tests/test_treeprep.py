# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/treeprep.py: the source is never written; failed patches leave no trace."""
import json
import os
import tempfile
import unittest

from zsgate import treeprep

from zsgate.series import read_series
from zsgate.treeprep import (KCONFIG_GLUE, TreeError, caps_header, detect_caps, glue_kconfig, glue_zsmalloc,
                             prepare)
from tests import fakesrc


class TreePrepTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.src = fakesrc.make(os.path.join(d, "src"))
        self.tree = os.path.join(d, "work", "linux")
        self.kunit = fakesrc.kunit_dir(os.path.join(d, "kunit"),
                                       {"zsmalloc_kunit_part.h": "/* part */\n", "README.md": "not copied\n"})
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
        self.assertNotIn("#define ZSMALLOC_KUNIT_HAVE_DEFERRED", self.caps())
        self.assertEqual(fakesrc.read(self.tree, "mm/tests/zsmalloc_kunit.c"), "/* suite */\n")
        self.assertEqual(fakesrc.read(self.tree, "mm/tests/zsmalloc_kunit_part.h"), "/* part */\n")
        self.assertFalse(os.path.exists(os.path.join(self.tree, "mm/tests/README.md")))
        self.assert_source_untouched()

    def caps(self):
        return fakesrc.read(self.tree, "mm/tests/zsmalloc_kunit_caps.h")

    def test_patched_tree_then_back_to_base(self):
        st = prepare(self.src, self.tree, self.series(
            {"0001-a.patch": fakesrc.PATCH_A, "0002-d.patch": fakesrc.PATCH_DEFERRED}), self.kunit)
        self.assertTrue(st["part_b"])
        self.assertEqual(fakesrc.read(self.tree, "mm/a.c"), "one\nTWO\nthree\n")
        self.assertIn("#define ZSMALLOC_KUNIT_HAVE_DEFERRED 1", self.caps())
        self.assertNotIn("#define ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH", self.caps())
        self.assert_source_untouched()
        prepare(self.src, self.tree, None, self.kunit)
        self.assertEqual(fakesrc.read(self.tree, "mm/a.c"), "one\ntwo\nthree\n")
        self.assertNotIn("#define ZSMALLOC_KUNIT_HAVE_DEFERRED", self.caps())
        self.assert_source_untouched()

    def test_a_sync_cut_short_is_undone_by_the_next_prepare(self):
        # SIGTERM (or a full disk) after the sync rewrote mm/a.c for series A, before the
        # state said so: the next prepare, of base, must still put mm/a.c back
        prepare(self.src, self.tree, None, self.kunit)
        real = treeprep._replace

        def cut(path, src):
            real(path, src)
            raise KeyboardInterrupt
        treeprep._replace = cut
        try:
            with self.assertRaises(KeyboardInterrupt):
                prepare(self.src, self.tree, self.series({"0001-a.patch": fakesrc.PATCH_A}), self.kunit)
        finally:
            treeprep._replace = real
        self.assertEqual(fakesrc.read(self.tree, "mm/a.c"), "one\nTWO\nthree\n")
        prepare(self.src, self.tree, None, self.kunit)
        self.assertEqual(fakesrc.read(self.tree, "mm/a.c"), "one\ntwo\nthree\n")
        self.assertNotIn("incomplete", json.loads(fakesrc.read(self.tree, treeprep.STATE)))

    def test_a_source_unpacked_again_is_copied_again(self):
        # ci/source found its unpacked source damaged and unpacked it again: the work tree
        # (hard links to the old, damaged files) must not be kept
        prepare(self.src, self.tree, None, self.kunit)
        with open(os.path.join(self.src, "mm/Makefile"), "r+") as f:
            f.write("damaged")  # in place: the tree's hard link sees it too
        self.assertIn("damaged", fakesrc.read(self.tree, "mm/Makefile"))
        os.rename(self.src, self.src + ".old")
        fakesrc.make(self.src)
        prepare(self.src, self.tree, None, self.kunit)
        self.assertEqual(fakesrc.read(self.tree, "mm/Makefile"), fakesrc.FILES["mm/Makefile"])
        self.assertEqual(os.stat(os.path.join(self.tree, "mm/Makefile")).st_ino,
                         os.stat(os.path.join(self.src, "mm/Makefile")).st_ino)

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


class DetectCapsTest(unittest.TestCase):
    """Each thing a revision declares is detected on its own; another prototype is a note."""
    H = "include/linux/zsmalloc.h"

    def caps(self, header, zsmalloc=""):
        return detect_caps({self.H: header, "mm/zsmalloc.c": zsmalloc})

    def test_only_zs_free_deferred(self):
        d = self.caps("void zs_free_deferred(struct zs_pool *pool,\n\t\t      unsigned long handle);\n")
        self.assertEqual([m for m, v in d["caps"].items() if v], ["ZSMALLOC_KUNIT_HAVE_DEFERRED"])
        self.assertEqual(d["notes"], [])

    def test_flush_alone_and_in_a_comment(self):
        d = self.caps("/* void zs_free_deferred(struct zs_pool *pool, unsigned long h); */\n"
                      "void zs_free_deferred_flush(struct zs_pool *pool);\n")
        self.assertFalse(d["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED"])
        self.assertTrue(d["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED_FLUSH"])

    def test_other_prototype_is_a_note_not_a_cap(self):
        d = self.caps("bool zs_free_deferred(struct zs_pool *pool, unsigned long value);\n")
        self.assertFalse(d["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED"])
        self.assertEqual(len(d["notes"]), 1)
        self.assertIn("bool zs_free_deferred(", d["notes"][0])
        self.assertIn("/* note: zs_free_deferred appears", caps_header(d))

    def test_ops_shape(self):
        d = self.caps("struct zs_deferred_ops {\n\tvoid (*drain)(void *private, void *buf, unsigned int count);\n};\n"
                      "int zs_pool_enable_deferred_free(struct zs_pool *pool,\n\t\tconst struct zs_deferred_ops *ops,"
                      " void *private);\nvoid zs_pool_disable_deferred_free(struct zs_pool *pool);\n"
                      "bool zs_free_deferred(struct zs_pool *pool, unsigned long value);\n")
        self.assertTrue(d["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED_OPS"])
        self.assertFalse(d["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED"])

    def test_part_a_needs_the_class_field_and_the_three_argument_encoder(self):
        pre = "#define OBJ_INDEX_BITS 20\nstatic unsigned long location_to_obj(struct zpdesc *zpdesc, unsigned int obj_idx)\n"
        post = ("#define ZS_OBJ_CLASS_BITS 0\nstatic unsigned long location_to_obj(struct zpdesc *zpdesc,"
                " unsigned int obj_idx,\n\t\t\t\t     unsigned int class_idx)\n")
        self.assertFalse(self.caps("", pre)["caps"]["ZSMALLOC_KUNIT_HAVE_PART_A"])
        self.assertTrue(self.caps("", post)["caps"]["ZSMALLOC_KUNIT_HAVE_PART_A"])


class GlueKconfigTest(unittest.TestCase):
    MENU = ('config ZSMALLOC\n\ttristate\n\nmenu "Zsmalloc allocator options"\n\tdepends on ZSMALLOC\n\n'
            'config ZSMALLOC_STAT\n\tbool "stats"\n\nendmenu\n\nmenu "Slab allocator options"\n\nendmenu\n')

    def test_option_goes_last_in_the_zsmalloc_menu(self):
        out = glue_kconfig(self.MENU)
        self.assertEqual(out.count("config ZSMALLOC_KUNIT_TEST"), 1)
        menu = out[out.index('menu "Zsmalloc'):out.index("endmenu")]
        self.assertIn("config ZSMALLOC_KUNIT_TEST", menu)
        self.assertLess(out.index("config ZSMALLOC_STAT"), out.index("config ZSMALLOC_KUNIT_TEST"))
        self.assertIn("\t  If unsure, say N.\n\nendmenu\n\nmenu \"Slab", out)
        self.assertEqual(out.replace(KCONFIG_GLUE.lstrip("\n") + "\n", ""), self.MENU)

    def test_without_the_menu_the_option_is_appended(self):
        text = "config ZSMALLOC\n\ttristate\n"
        self.assertEqual(glue_kconfig(text), text + KCONFIG_GLUE)

    def test_a_tree_that_carries_the_suite_is_left_as_it_is(self):
        once = glue_kconfig(self.MENU)
        self.assertEqual(glue_kconfig(once), once)
        src = glue_zsmalloc("/* zsmalloc */\n")
        self.assertEqual(glue_zsmalloc(src), src)
        self.assertEqual(src.count("tests/zsmalloc_kunit.c"), 1)

    def test_help_is_long_enough_for_checkpatch(self):
        # checkpatch --strict wants at least 4 lines of help for a new option
        help_lines = KCONFIG_GLUE.split("\thelp\n", 1)[1].strip("\n").split("\n")
        self.assertGreaterEqual(len([ln for ln in help_lines if ln.strip()]), 4)


if __name__ == "__main__":
    unittest.main()
