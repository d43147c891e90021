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
            kunit = fakesrc.kunit_dir(os.path.join(d, "kunit"))
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


class EncodedMboxTest(unittest.TestCase):
    """Mail encodings a list or a mail client produces: each applies as the same patch."""
    DIFF = "--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"

    def apply(self, msg, crlf=False):
        from email import generator, policy
        with tempfile.TemporaryDirectory() as d:
            box = os.path.join(d, "rev.mbox")
            with open(box, "wb") as f:
                f.write(b"From x Mon Sep 17 00:00:00 2001\n")
                generator.BytesGenerator(f, policy=policy.SMTP if crlf else policy.default).flatten(msg)
            src = fakesrc.make(os.path.join(d, "src"))
            kunit = fakesrc.kunit_dir(os.path.join(d, "kunit"))
            tree = os.path.join(d, "work", "linux")
            prepare(src, tree, read_series(box), kunit)
            return fakesrc.read(tree, "mm/a.c")

    def message(self, cte=None):
        from email.message import EmailMessage
        m = EmailMessage()
        m["From"] = "a <a@b>"
        m["Subject"] = "[PATCH] mm: two"
        m.set_content("msg\n---\n" + self.DIFF, cte=cte)
        return m

    def test_base64_body(self):
        self.assertEqual(self.apply(self.message("base64")), "one\nTWO\nthree\n")

    def test_quoted_printable_body(self):
        self.assertEqual(self.apply(self.message("quoted-printable")), "one\nTWO\nthree\n")

    def test_crlf_lines(self):
        self.assertEqual(self.apply(self.message(), crlf=True), "one\nTWO\nthree\n")

    def test_binary_attachment_is_ignored(self):
        m = self.message()
        m.add_attachment(b"\x00\x01binary\xff", maintype="application", subtype="octet-stream",
                         filename="blob.bin")
        self.assertEqual(self.apply(m), "one\nTWO\nthree\n")


class HostilePatchTest(unittest.TestCase):
    """check_patch() refuses what could reach outside the tree (bad-input.sh runs the CLI)."""

    def refused(self, text):
        from zsgate.series import Patch, check_patch
        with self.assertRaises(SeriesError) as cm:
            check_patch(Patch("0001-x.patch", text))
        return str(cm.exception)

    def test_paths_and_modes(self):
        hunk = "@@ -1 +1 @@\n-a\n+b\n"
        self.assertIn("outside the tree: a//etc/passwd", self.refused("--- a//etc/passwd\n+++ /dev/null\n" + hunk))
        self.assertIn("outside the tree: b/mm/../../x", self.refused("--- /dev/null\n+++ b/mm/../../x\n" + hunk))
        self.assertIn("outside the tree: /x", self.refused("diff --git a/m b/m\ncopy to /x\n--- a/m\n+++ b/m\n" + hunk))
        self.assertIn("mode 160000", self.refused("diff --git a/m b/m\nnew mode 160000\n--- a/m\n+++ b/m\n" + hunk))

    def test_a_plain_patch_passes(self):
        from zsgate.series import Patch, check_patch
        check_patch(Patch("0001-x.patch", "diff --git a/mm/a.c b/mm/a.c\nnew file mode 100644\n"
                                        "--- /dev/null\n+++ b/mm/a.c\n@@ -0,0 +1 @@\n+x\n"))


if __name__ == "__main__":
    unittest.main()
