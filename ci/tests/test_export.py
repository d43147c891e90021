# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/export.py: the patches add the right files, apply in order to the tree, git am
takes the mbox, the caps header describes the tree, checkpatch's verdict is read right."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from zsgate.export import ExportError, add_maintainers, add_target, export
from zsgate.export import main as export_main
from zsgate.series import read_series
from tests import fakesrc, summarize

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KCONFIG = ('config ZSMALLOC\n\ttristate\n\nmenu "Zsmalloc allocator options"\n\tdepends on ZSMALLOC\n\n'
           'config ZSMALLOC_STAT\n\tbool "stats"\n\nendmenu\n')
MAINTAINERS = """ZRAM COMPRESSED RAM BLOCK DEVICE DRVIER
M:	A <a@example.org>
F:	drivers/block/zram/
F:	tools/testing/selftests/zram/

ZSMALLOC COMPRESSED SLAB MEMORY ALLOCATOR
M:	B <b@example.org>
F:	include/linux/zsmalloc.h
F:	mm/zpdesc.h
F:	mm/zsmalloc.c

ZSWAP COMPRESSED SWAP CACHING
M:	C <c@example.org>
F:	mm/zswap.c
F:	tools/testing/selftests/cgroup/test_zswap.c
"""
SELFTESTS_MAKEFILE = ("# SPDX-License-Identifier: GPL-2.0\nTARGETS += acct\nTARGETS += mm\nTARGETS += x86\n"
                      "TARGETS += zram\n#Please keep the TARGETS list alphabetically sorted\n\nall:\n")
IDENT = "Ann Tester <ann@example.org>"
CHECKPATCH = '#!/usr/bin/perl\nprint "total: 0 errors, %s warnings, 3 checks, 9 lines checked\\n";\nexit %s;\n'


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.src = fakesrc.make(os.path.join(d, "src"))
        self.write(self.src, {"mm/Kconfig": KCONFIG, "MAINTAINERS": MAINTAINERS,
                              "tools/testing/selftests/Makefile": SELFTESTS_MAKEFILE})
        self.kunit = fakesrc.kunit_dir(os.path.join(d, "kunit"), {"zsmalloc_kunit_part_a.h": "/* a */\n"})
        self.selftests = os.path.join(d, "selftests")
        self.write(self.selftests, {
            "zsfree_common/zsf_env.c": "/* common */\n", "zsfree_common/swapfree.h": "/* h */\n",
            "zsfree_common/zsf_tests_latency.h": "/* latency */\n",
            "zram_free/Makefile": "TEST_GEN_PROGS := zram_free\n", "zram_free/zram_free.c": "/* zram */\n",
            "zram_free/config": "CONFIG_ZRAM=y\n", "zram_free/settings": "timeout=900\n",
            "zswap_free/Makefile": "TEST_GEN_PROGS := zswap_free\n", "zswap_free/zswap_free.c": "/* zswap */\n",
            "zswap_free/config": "CONFIG_ZSWAP=y\n", "zswap_free/settings": "timeout=900\n"})
        self.configs = [os.path.join(d, "um.kunitconfig"), os.path.join(d, "x86.kunitconfig")]
        self.write(d, {"um.kunitconfig": "# um\nCONFIG_KUNIT=y\nCONFIG_ZSMALLOC_KUNIT_TEST=y\n",
                       "x86.kunitconfig": "# x86\nCONFIG_KUNIT=y\nCONFIG_ZSMALLOC_KUNIT_TEST=y\n"})
        self.out = os.path.join(d, "out")
        self.before = self.snapshot(self.src)

    def tearDown(self):
        self.tmp.cleanup()

    @staticmethod
    def write(root, files):
        for path, text in files.items():
            p = os.path.join(root, path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)

    @staticmethod
    def snapshot(root):
        snap = {}
        for r, _, names in os.walk(root):
            for n in names:
                p = os.path.join(r, n)
                with open(p, "rb") as f:
                    snap[os.path.relpath(p, root)] = (f.read(), os.stat(p).st_mtime_ns)
        return snap

    def run_export(self, **kw):
        kw.setdefault("run_checkpatch", False)
        return export(self.src, self.out, self.kunit, self.selftests, self.configs, "Linux 7.3.0-rc7",
                      ident=IDENT, when=1764633600, **kw)

    def git(self, repo, *args, inp=None):
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org", GIT_CONFIG_NOSYSTEM="1",
                   HOME=self.tmp.name)
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, input=inp, env=env)

    def tree_copy(self):
        dst = os.path.join(self.tmp.name, "copy")
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(self.src, dst)
        return dst

    def patch_text(self, res, i):
        with open(os.path.join(self.out, res["patches"][i]["file"]), encoding="utf-8") as f:
            return f.read()

    def test_three_patches_with_the_right_files(self):
        res = self.run_export()
        self.assertEqual(res["cover"], "0000-cover-letter.patch")
        self.assertEqual([set(p["files"]) for p in res["patches"]], [
            {"MAINTAINERS", "mm/Kconfig", "mm/zsmalloc.c", "mm/tests/zsmalloc_kunit.c",
             "mm/tests/zsmalloc_kunit_part_a.h", "mm/tests/zsmalloc_kunit_caps.h", "mm/tests/zsmalloc.kunitconfig"},
            {"MAINTAINERS", "tools/testing/selftests/Makefile",
             "tools/testing/selftests/zsfree_common/zsf_env.c", "tools/testing/selftests/zsfree_common/swapfree.h",
             "tools/testing/selftests/zsfree_common/zsf_tests_latency.h",
             "tools/testing/selftests/zram_free/Makefile", "tools/testing/selftests/zram_free/zram_free.c",
             "tools/testing/selftests/zram_free/config", "tools/testing/selftests/zram_free/settings"},
            {"MAINTAINERS", "tools/testing/selftests/Makefile",
             "tools/testing/selftests/zswap_free/Makefile", "tools/testing/selftests/zswap_free/zswap_free.c",
             "tools/testing/selftests/zswap_free/config", "tools/testing/selftests/zswap_free/settings"}])
        self.assertEqual(res["maintainers_sections_missing"], [])
        self.assertEqual(sorted(os.listdir(self.out)), sorted(
            [res["cover"], "series.mbox", "export.json", "checkpatch"] + [p["file"] for p in res["patches"]]))
        self.assertEqual(self.snapshot(self.src), self.before, "the source was written")

    def test_every_file_of_the_real_selftests_is_in_a_patch(self):
        real = os.path.join(os.path.dirname(CI), "selftests")
        res = export(self.src, self.out, self.kunit, real, self.configs, "Linux 7.3.0-rc7",
                     ident=IDENT, when=1764633600, run_checkpatch=False)
        want = {f"tools/testing/selftests/{os.path.relpath(os.path.join(r, n), real)}"
                for d in ("zsfree_common", "zram_free", "zswap_free")
                for r, _, names in os.walk(os.path.join(real, d)) for n in names}
        self.assertIn("tools/testing/selftests/zsfree_common/zsf_kmsg.c", want)
        self.assertIn("tools/testing/selftests/zsfree_common/zsf_tests_correctness.h", want)
        got = [f for p in res["patches"] for f in p["files"]]
        self.assertEqual(want - set(got), set(), "files the export leaves out")
        # the shared code once, in the zram_free patch
        common = [f for f in got if "/zsfree_common/" in f]
        self.assertEqual(len(common), len(set(common)))
        self.assertEqual(set(common), set(res["patches"][1]["files"]) & set(common))

    def test_messages_are_kernel_style(self):
        res = self.run_export()
        prefixes = ["mm/zsmalloc: ", "selftests/zram_free: ", "selftests/zswap_free: "]
        for i, p in enumerate(res["patches"]):
            text = self.patch_text(res, i)
            self.assertTrue(p["subject"].startswith(f"[PATCH {i + 1}/3] {prefixes[i]}"), p["subject"])
            self.assertIn(f"\nFrom: {IDENT}\n", text)
            msg = text.split("\n\n", 1)[1].split("\n---\n", 1)[0]
            self.assertTrue(msg.rstrip().endswith(f"Signed-off-by: {IDENT}"))
            long = [ln for ln in msg.splitlines() if len(ln) > 75 and not ln.startswith("Signed-off-by:")]
            self.assertEqual(long, [], "commit message lines over 75 columns")
        with open(os.path.join(self.out, res["cover"]), encoding="utf-8") as f:
            cover = f.read()
        self.assertNotIn("*** SUBJECT HERE ***", cover)
        self.assertNotIn("*** BLURB HERE ***", cover)
        self.assertIn("Subject: [PATCH 0/3] mm/zsmalloc, selftests:", cover)
        self.assertIn("checkpatch.pl was not run", cover)

    def test_each_patch_applies_in_order_with_git_apply(self):
        res = self.run_export()
        tree = self.tree_copy()
        for i, p in enumerate(res["patches"]):
            path = os.path.join(self.out, p["file"])
            if i + 1 < len(res["patches"]):   # a later patch needs the earlier ones
                later = os.path.join(self.out, res["patches"][i + 1]["file"])
                self.assertNotEqual(subprocess.run(["git", "apply", "--check", "--directory=", later],
                                                   cwd=tree, capture_output=True).returncode, 0)
            r = subprocess.run(["git", "apply", "--check", path], cwd=tree, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, f"{p['file']}: {r.stderr}")
            subprocess.run(["git", "apply", path], cwd=tree, check=True)
        self.assertEqual(fakesrc.read(tree, "mm/tests/zsmalloc_kunit.c"), "/* suite */\n")
        mk = fakesrc.read(tree, "tools/testing/selftests/Makefile")
        self.assertIn("TARGETS += zram\nTARGETS += zram_free\nTARGETS += zswap_free\n#Please keep", mk)
        m = fakesrc.read(tree, "MAINTAINERS")
        self.assertIn("F:\tinclude/linux/zsmalloc.h\nF:\tmm/tests/zsmalloc*\nF:\tmm/zpdesc.h\n", m)
        self.assertIn("F:\tmm/zsmalloc.c\nF:\ttools/testing/selftests/zsfree_common/\n\nZSWAP", m)
        self.assertIn("F:\ttools/testing/selftests/zram/\nF:\ttools/testing/selftests/zram_free/\n", m)
        self.assertIn("test_zswap.c\nF:\ttools/testing/selftests/zswap_free/\n", m)
        kc = fakesrc.read(tree, "mm/Kconfig")
        self.assertLess(kc.index("config ZSMALLOC_KUNIT_TEST"), kc.index("endmenu"))
        self.assertTrue(fakesrc.read(tree, "mm/zsmalloc.c").endswith('#include "tests/zsmalloc_kunit.c"\n#endif\n'))
        self.assertEqual(fakesrc.read(tree, "mm/tests/zsmalloc.kunitconfig").splitlines()[-2:],
                         ["CONFIG_KUNIT=y", "CONFIG_ZSMALLOC_KUNIT_TEST=y"])

    def test_git_am_takes_the_mbox(self):
        self.run_export()
        tree = self.tree_copy()
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
            self.assertEqual(self.git(tree, *args).returncode, 0)
        r = self.git(tree, "am", os.path.join(self.out, "series.mbox"))
        self.assertEqual(r.returncode, 0, r.stderr)
        log = self.git(tree, "log", "--format=%an <%ae>|%s", "HEAD~3..HEAD").stdout.splitlines()
        self.assertEqual(len(log), 3)
        self.assertTrue(all(ln.startswith(IDENT + "|") for ln in log), log)
        self.assertEqual(self.git(tree, "status", "--porcelain").stdout, "")

    def test_caps_header_describes_the_tree(self):
        res = self.run_export()
        caps = self.patch_text(res, 0)
        self.assertIn("+/* ZSMALLOC_KUNIT_HAVE_DEFERRED: not declared in include/linux/zsmalloc.h */", caps)
        self.assertIn("Written for Linux 7.3.0-rc7 by zsgate's export", re.sub(r"\n\+ \* ", " ", caps))
        self.assertFalse(res["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED"])

    def test_a_series_goes_first_and_sets_the_caps(self):
        q = fakesrc.quilt(os.path.join(self.tmp.name, "q"), {"0001-d.patch": fakesrc.PATCH_DEFERRED})
        res = self.run_export(series=read_series(q))
        self.assertEqual([p["ours"] for p in res["patches"]], [False, True, True, True])
        self.assertEqual(res["patches"][0]["files"], ["include/linux/zsmalloc.h"])
        self.assertTrue(res["caps"]["ZSMALLOC_KUNIT_HAVE_DEFERRED"])
        self.assertIn("+#define ZSMALLOC_KUNIT_HAVE_DEFERRED 1", self.patch_text(res, 1))
        tree = self.tree_copy()
        for p in res["patches"]:
            r = subprocess.run(["git", "apply", os.path.join(self.out, p["file"])], cwd=tree,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("zs_free_deferred", fakesrc.read(tree, "include/linux/zsmalloc.h"))

    def test_checkpatch_verdict(self):
        script = os.path.join(self.src, "scripts/checkpatch.pl")
        self.write(self.src, {"scripts/checkpatch.pl": CHECKPATCH % (0, 0)})
        res = self.run_export(run_checkpatch=True)
        self.assertTrue(res["checkpatch_clean"])
        self.assertEqual(res["patches"][0]["checkpatch"], {"errors": 0, "warnings": 0, "checks": 3, "exit": 0})
        self.assertTrue(os.path.isfile(os.path.join(self.out, "checkpatch", "0001-mm-zsmalloc-add-KUnit-tests.txt")))
        self.write(self.src, {"scripts/checkpatch.pl": CHECKPATCH % (1, 1)})
        self.assertFalse(self.run_export(run_checkpatch=True)["checkpatch_clean"])
        self.write(self.src, {"scripts/checkpatch.pl": '#!/usr/bin/perl\nprint "garbage\\n";\n'})
        res = self.run_export(run_checkpatch=True)
        self.assertFalse(res["checkpatch_clean"])
        self.assertIsNone(res["patches"][0]["checkpatch"]["errors"])
        os.unlink(script)
        with self.assertRaisesRegex(ExportError, "no scripts/checkpatch.pl"):
            self.run_export(run_checkpatch=True)

    def test_kernelci_adds_a_last_ci_only_patch_to_default_config(self):
        self.write(self.src, {"tools/testing/kunit/configs/default.config":
                              "CONFIG_KUNIT=y\nCONFIG_KUNIT_ALL_TESTS=y\n"})
        res = self.run_export(kernelci=True)
        self.assertEqual(len(res["patches"]), 4)
        last = res["patches"][-1]
        self.assertTrue(last["ci_only"])
        self.assertEqual(last["files"], ["tools/testing/kunit/configs/default.config"])
        self.assertIn("Not for upstream", self.patch_text(res, 3))
        tree = self.tree_copy()
        for p in res["patches"]:
            subprocess.run(["git", "apply", os.path.join(self.out, p["file"])], cwd=tree, check=True)
        self.assertEqual(fakesrc.read(tree, "tools/testing/kunit/configs/default.config"),
                         "CONFIG_KUNIT=y\nCONFIG_KUNIT_ALL_TESTS=y\nCONFIG_ZSMALLOC_KUNIT_TEST=y\n")
        self.assertNotIn("ci_only", self.run_export()["patches"][-1])

    def test_kunitconfigs_must_agree(self):
        self.write(self.tmp.name, {"x86.kunitconfig": "CONFIG_KUNIT=y\n"})
        with self.assertRaisesRegex(ExportError, "set different options"):
            self.run_export()

    def test_cli_exit_codes(self):
        args = ["--ksrc", self.src, "--out", self.out, "--kunit-dir", self.kunit,
                "--selftests-dir", self.selftests, "--configs", *self.configs, "--signoff", IDENT]
        self.write(self.src, {"scripts/checkpatch.pl": CHECKPATCH % (0, 0)})
        self.assertEqual(summarize.call(export_main, args).returncode, 0)
        self.write(self.src, {"scripts/checkpatch.pl": CHECKPATCH % (2, 1)})
        r = summarize.call(export_main, args)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("checkpatch --strict is not clean", r.stderr)
        r = summarize.call(export_main, ["--ksrc", self.tmp.name] + args[2:])
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a Linux source tree", r.stderr)


class EditTest(unittest.TestCase):
    def test_add_target_sorted_and_once(self):
        mk = "TARGETS += acct\nTARGETS += vDSO\nTARGETS += mm\nTARGETS += zram\n#Please keep\n"
        out = add_target(mk, "zram_free")
        self.assertEqual(out, mk.replace("zram\n", "zram\nTARGETS += zram_free\n"))
        self.assertEqual(add_target(out, "zram_free"), out)
        self.assertEqual(add_target(mk, "aaa"), "TARGETS += aaa\n" + mk)
        with self.assertRaises(ExportError):
            add_target("all:\n", "zram_free")

    def test_add_maintainers(self):
        out, ok = add_maintainers(MAINTAINERS, "ZSMALLOC COMPRESSED SLAB MEMORY ALLOCATOR", "mm/tests/zsmalloc*")
        self.assertTrue(ok)
        self.assertIn("F:\tinclude/linux/zsmalloc.h\nF:\tmm/tests/zsmalloc*\nF:\tmm/zpdesc.h\n", out)
        self.assertEqual(add_maintainers(out, "ZSMALLOC COMPRESSED SLAB MEMORY ALLOCATOR",
                                         "mm/tests/zsmalloc*"), (out, True))
        self.assertEqual(add_maintainers(MAINTAINERS, "NO SUCH SECTION", "x/"), (MAINTAINERS, False))
        self.assertEqual(len(re.findall(r"^F:", out, re.M)), 8)


if __name__ == "__main__":
    unittest.main()
