# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/series.py: quilt and mbox input, and the errors a user sees."""
import os
import tempfile
import unittest

from zsgate.series import SeriesError, read_series, touched_files
from zsgate.treeprep import prepare
from tests import fakesrc

DATA = os.path.join(os.path.dirname(__file__), "data")


class MboxTest(unittest.TestCase):
    def test_takes_patches_in_order_and_ignores_cover_and_replies(self):
        s = read_series(os.path.join(DATA, "revision.mbox"))
        self.assertEqual(s.kind, "mbox")
        self.assertEqual([p.name for p in s.patches],
                         ["0001-mm-first.patch", "0002-mm-second-with-a-folded-subject-line.patch"])
        self.assertIn("+TWO", s.patches[0].text)
        self.assertNotIn("REVIEWER", s.patches[0].text + s.patches[1].text)
        self.assertIn("Reviewed-by: A Reviewer", s.patches[1].text)
        self.assertEqual(touched_files(s.patches[1].text), ["mm/b.c"])

    def test_missing_patch_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(DATA, "revision.mbox"), encoding="utf-8") as f:
                text = f.read()
            cut = text.index("Subject: [PATCH RFC v2 2/2]")
            start = text.rindex("\nFrom 0000", 0, cut)
            path = os.path.join(d, "short.mbox")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text[:start + 1])
            with self.assertRaisesRegex(SeriesError, "patch 2 of 2 missing"):
                read_series(path)

    def test_b4_thread_out_of_order_with_replies(self):
        """A whole thread as `b4 mbox` saves it: From git@z separators, 3/3 before 1/3,
        a review reply to the cover letter, a reply carrying an unquoted diff."""
        s = read_series(os.path.join(DATA, "thread-b4.mbox"))
        self.assertEqual([p.name for p in s.patches],
                         ["0001-mm-first.patch", "0002-mm-second.patch",
                          "0003-mm-third-on-top-of-the-first.patch"])
        text = "".join(p.text for p in s.patches)
        self.assertNotIn("TESTER", text)                  # the reply's diff
        self.assertNotIn("For the whole series", text)    # the reply to 0/3
        self.assertNotIn("arrival order", text)           # the cover letter
        self.assertIn("Tested-by: A Tester <tester@example.org>", s.patches[1].text)
        self.assertIn("Link: https://lore.example.org/r/v3-2@example.org", s.patches[1].text)
        self.assertEqual([touched_files(p.text) for p in s.patches], [["mm/a.c"], ["mm/b.c"], ["mm/a.c"]])

    def test_b4_thread_applies_in_patch_order(self):
        """3/3 applies only on top of 1/3: the tree gets n/N order, not file order."""
        with tempfile.TemporaryDirectory() as d:
            src = fakesrc.make(os.path.join(d, "src"))
            kunit = os.path.join(d, "kunit")
            os.makedirs(kunit)
            with open(os.path.join(kunit, "zsmalloc_kunit.c"), "w", encoding="utf-8") as f:
                f.write("/* suite */\n")
            tree = os.path.join(d, "work", "linux")
            st = prepare(src, tree, read_series(os.path.join(DATA, "thread-b4.mbox")), kunit)
            self.assertEqual(fakesrc.read(tree, "mm/a.c"), "one\n2\nthree\n")
            self.assertEqual(fakesrc.read(tree, "mm/b.c"), "created by patch 2\n")
            self.assertEqual(st["series"]["patches"][-1], "0003-mm-third-on-top-of-the-first.patch")

    def test_same_id_for_same_content(self):
        a = read_series(os.path.join(DATA, "revision.mbox"))
        b = read_series(os.path.join(DATA, "revision.mbox"))
        self.assertEqual(a.ident, b.ident)


class QuiltTest(unittest.TestCase):
    def test_reads_series_file_with_comments(self):
        with tempfile.TemporaryDirectory() as d:
            fakesrc.quilt(d, {"0001-a.patch": fakesrc.PATCH_A})
            with open(os.path.join(d, "series"), "a", encoding="utf-8") as f:
                f.write("# a comment\n\n")
            s = read_series(d)
            self.assertEqual([p.name for p in s.patches], ["0001-a.patch"])

    def test_listed_but_missing_patch(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "series"), "w", encoding="utf-8") as f:
                f.write("0001-gone.patch\n")
            with self.assertRaisesRegex(SeriesError, "0001-gone.patch is listed but missing"):
                read_series(d)


class BadInputTest(unittest.TestCase):
    def test_directory_without_series_file(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(SeriesError, "without a quilt `series` file"):
                read_series(d)

    def test_file_that_is_not_an_mbox(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write("just some notes\n")
            f.flush()
            with self.assertRaisesRegex(SeriesError, "neither a quilt directory nor an mbox"):
                read_series(f.name)

    def test_missing_path(self):
        with self.assertRaisesRegex(SeriesError, "does not exist"):
            read_series("/nonexistent/zsgate-series")


class TouchedFilesTest(unittest.TestCase):
    def test_ignores_removed_lines_that_look_like_headers(self):
        text = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,1 @@\n--- not a header\n keep\n"
        self.assertEqual(touched_files(text), ["x.c"])


if __name__ == "__main__":
    unittest.main()
