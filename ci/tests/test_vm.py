# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/vm.py: keeping and reusing a clean VM run (ci/vm --reuse), a filter that
selects no test, and reading the guest's KTAP with kunit.py's parser (or zsgate's own)."""
import glob
import json
import os
import tempfile
import unittest

from zsgate import config, vm
from tests.test_ab import CONSOLE

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def fake_run(out, name, status="complete", problems=(), splats=()):
    write(os.path.join(out, name + ".log"), "console\n")
    write(os.path.join(out, name + ".ktap"), "TAP version 13\n")
    write(os.path.join(out, name + ".figures.json"), "[]")
    write(os.path.join(out, name + ".json"), json.dumps({"name": name, "test_cases": [], "sub_groups": []}))
    write(os.path.join(out, name + ".vm.json"), json.dumps(
        {"name": name, "status": status, "problems": list(problems), "splats": list(splats),
         "counts": {"pass": 3, "fail": 0, "skip": 1}}))


class ReuseTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.kernel = os.path.join(self.d, "bzImage")
        write(self.kernel, "kernel one")

    def tearDown(self):
        self.tmp.cleanup()

    def test_key_follows_every_input(self):
        k = vm.reuse_key([self.kernel], ["x86_64", "script"])
        self.assertEqual(k, vm.reuse_key([self.kernel], ["x86_64", "script"]))
        self.assertNotEqual(k, vm.reuse_key([self.kernel], ["x86_64", "script -f race"]))
        write(self.kernel, "kernel two")
        self.assertNotEqual(k, vm.reuse_key([self.kernel], ["x86_64", "script"]))

    def test_kept_run_comes_back_under_the_new_name(self):
        out1, out2, kept = (os.path.join(self.d, x) for x in ("o1", "o2", "kept"))
        for x in (out1, out2):
            os.makedirs(x)
        fake_run(out1, "vm-x86_64-base")
        vm.store_run(kept, "k1", out1, "vm-x86_64-base")
        meta = vm.load_run(kept, "k1", out2, "vm-x86_64-base-2")
        self.assertIsNotNone(meta)
        self.assertEqual(meta["reused_from"]["name"], "vm-x86_64-base")
        with open(os.path.join(out2, "vm-x86_64-base-2.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["name"], "vm-x86_64-base-2")
        with open(os.path.join(out2, "vm-x86_64-base-2.vm.json"), encoding="utf-8") as f:
            self.assertIn("reused_from", json.load(f))
        self.assertIsNone(vm.load_run(kept, "other-key", out2, "x"))

    def test_unclean_run_is_never_reused(self):
        out, kept = os.path.join(self.d, "o"), os.path.join(self.d, "kept")
        os.makedirs(out)
        for i, kw in enumerate([{"status": "hang"}, {"problems": ["zswap_free: never started"]},
                                {"splats": ["BUG: KASAN: use-after-free"]}]):
            fake_run(out, "r", **kw)
            vm.store_run(kept, f"k{i}", out, "r")
            self.assertIsNone(vm.load_run(kept, f"k{i}", out, "r2"), kw)


class SelectedNothingTest(unittest.TestCase):
    def test_filter_matching_nothing(self):
        cols = [{"name": "zram_free", "status": "PASS", "cases": []},
                {"name": "zswap_free", "status": "PASS", "cases": []}]
        self.assertTrue(vm.selected_nothing(cols, "-f reclaim"))
        self.assertFalse(vm.selected_nothing(cols, ""))

    def test_one_collection_with_tests_or_a_skip_is_fine(self):
        ran = [{"name": "zram_free", "status": "PASS", "cases": [{"name": "a", "status": "PASS"}]},
               {"name": "zswap_free", "status": "PASS", "cases": []}]
        self.assertFalse(vm.selected_nothing(ran, "-f nobuffers"))
        skipped = [{"name": "zswap_free", "status": "SKIP", "cases": []}]
        self.assertFalse(vm.selected_nothing(skipped, "-f munmap"))


def kernel_tree():
    """A kernel source with tools/testing/kunit/kunit_parser.py: $ZSGATE_TEST_KSRC, else
    one ci/source fetched into the cache; None when there is none on this machine."""
    cands = [os.environ.get("ZSGATE_TEST_KSRC", "")]
    cands += sorted(glob.glob(os.path.join(config.cache_dir(), "src", "*", "*")))
    for c in cands:
        if c and os.path.exists(os.path.join(c, "tools", "testing", "kunit", "kunit_parser.py")):
            return c
    return None


def consoles():
    """The VM consoles in ci/tests/data (a gate run's, crashes) and the synthetic one."""
    out = {"synthetic": CONSOLE.splitlines(True)}
    for f in sorted(glob.glob(os.path.join(DATA, "*", "vm-*.log"))):
        with open(f, encoding="utf-8", errors="replace") as fh:
            out[os.path.relpath(f, DATA)] = fh.readlines()
    return out


# A collection killed by its timeout before its plan was done, then one that ran nothing
# (a filter matching none of its tests) and one whose binary was skipped.
TIMEOUT_KTAP = """TAP version 13
1..3
# selftests: zram_free: zram_free
# TAP version 13
# 1..3
# ok 1 munmap.mb64.latency
# #  RUN           race.writeback.invalidate ...
# zsgate-vm: zram_free took 45 s, exit 124
not ok 1 selftests: zram_free: zram_free # TIMEOUT 45 seconds
# selftests: zswap_free: zswap_free
# TAP version 13
# 1..0
# # Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0
# zsgate-vm: zswap_free took 0 s, exit 0
ok 2 selftests: zswap_free: zswap_free
# selftests: other: other
# zsgate-vm: other took 0 s, exit 4
ok 3 selftests: other: other # SKIP
""".splitlines()


class KunitParserTest(unittest.TestCase):
    """vm.results() with the tree's kunit_parser gives what zsgate's own reader gives."""

    def setUp(self):
        self.tree = kernel_tree()
        if self.tree is None:
            self.skipTest("no kernel source with tools/testing/kunit/kunit_parser.py "
                          "(ZSGATE_TEST_KSRC, or ci/source into the cache)")
        self.kp = vm.kunit_parser_of(self.tree)
        self.assertIsNotNone(self.kp, self.tree)

    def test_fixtures_read_the_same_by_both(self):
        seen = 0
        for name, console in consoles().items():
            ktap, _ = vm.guest_ktap(console)
            cols, parser = vm.results(ktap, self.tree)
            self.assertEqual(parser, "kunit.py's kunit_parser", name)
            self.assertEqual(cols, vm.parse_results(ktap), name)
            seen += sum(len(c["cases"]) for c in cols)
        self.assertGreater(seen, 20)

    def test_gate_run_counts(self):
        with open(os.path.join(DATA, "kcidb-run", "vm-x86_64-base.log"), encoding="utf-8") as f:
            ktap, complete = vm.guest_ktap(f.readlines())
        self.assertTrue(complete)
        cols = vm.parse_results_kunit(ktap, self.kp)
        self.assertEqual([c["name"] for c in cols], ["zram_free", "zswap_free"])
        with open(os.path.join(DATA, "kcidb-run", "vm-x86_64-base.json"), encoding="utf-8") as f:
            self.assertEqual(vm.kunit_like_json("vm-x86_64-base", cols, []), json.load(f))

    def test_crash_leaves_the_collection_missing(self):
        with open(os.path.join(DATA, "crash", "vm-x86_64-oops.log"), encoding="utf-8") as f:
            ktap, _ = vm.guest_ktap(f.readlines())
        cols = vm.parse_results_kunit(ktap, self.kp)
        self.assertEqual([(c["name"], c["status"]) for c in cols],
                         [("zram_free", "PASS"), ("zswap_free", "MISSING")])
        self.assertEqual(cols[1]["cases"], [])

    def test_timeout_does_not_swallow_the_next_collection(self):
        cols = vm.parse_results_kunit(TIMEOUT_KTAP, self.kp)
        self.assertEqual(cols, vm.parse_results(TIMEOUT_KTAP))
        self.assertEqual([(c["name"], c["status"], c["reason"]) for c in cols],
                         [("zram_free", "FAIL", "TIMEOUT 45 seconds"), ("zswap_free", "PASS", ""),
                          ("other", "SKIP", "")])
        self.assertEqual([k["name"] for k in cols[0]["cases"]], ["munmap.mb64.latency"])
        self.assertTrue(vm.selected_nothing(cols[1:2], "-f reclaim"))


class ParserFallbackTest(unittest.TestCase):
    def test_tree_without_kunit_parser(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertIsNone(vm.kunit_parser_of(d))
            ktap, _ = vm.guest_ktap(CONSOLE.splitlines(True))
            cols, parser = vm.results(ktap, d)
            self.assertIn("zsgate's own", parser)
            self.assertEqual(cols, vm.parse_results(ktap))
        self.assertIsNone(vm.kunit_parser_of(None))

    def test_each_tree_its_own_parser(self):
        # one process reads several trees (the gate's VM runs, ci/ab's kernels in-process):
        # each gets the parser (and its kunit_printer) of its own tree, sys.modules untouched
        import sys
        with tempfile.TemporaryDirectory() as d:
            for t in ("a", "b"):
                kdir = os.path.join(d, t, "tools", "testing", "kunit")
                os.makedirs(kdir)
                write(os.path.join(kdir, "kunit_printer.py"), f"TREE = {t!r}\n")
                write(os.path.join(kdir, "kunit_parser.py"), "from kunit_printer import TREE\n")
            before = {n: sys.modules.get(n) for n in ("kunit_parser", "kunit_printer")}
            pa, pb = vm.kunit_parser_of(os.path.join(d, "a")), vm.kunit_parser_of(os.path.join(d, "b"))
            self.assertEqual((pa.TREE, pb.TREE), ("a", "b"))
            self.assertIs(vm.kunit_parser_of(os.path.join(d, "a")), pa)  # once per file
            self.assertEqual({n: sys.modules.get(n) for n in before}, before)

    def test_parser_of_another_api(self):
        # a kunit_parser whose parse_test takes no printer (older trees): zsgate's own reader
        with tempfile.TemporaryDirectory() as d:
            kdir = os.path.join(d, "tools", "testing", "kunit")
            os.makedirs(kdir)
            write(os.path.join(kdir, "kunit_parser.py"),
                  "class TestStatus: pass\n"
                  "class Printer:\n    def __init__(self, print=True): pass\n"
                  "def parse_test(lines, n, log, sub):\n    return None\n"
                  "class LineStream:\n    def __init__(self, lines): pass\n")
            import sys
            sys.modules.pop("kunit_parser", None)
            try:
                ktap, _ = vm.guest_ktap(CONSOLE.splitlines(True))
                cols, parser = vm.results(ktap, d)
            finally:
                sys.modules.pop("kunit_parser", None)
            self.assertIn("failed", parser)
            self.assertEqual(cols, vm.parse_results(ktap))


if __name__ == "__main__":
    unittest.main()


class ToolFilesTest(unittest.TestCase):
    """ci/vm --tool: a host binary with every library ldd names, the loader among them."""

    def test_dynamic_tool_brings_its_libraries(self):
        import shutil
        sh = shutil.which("sh")
        files = vm.tool_files(["sh"])
        self.assertEqual(files["usr/bin/sh"], (os.path.realpath(sh), 0o755))
        libs = [p for p in files if p != "usr/bin/sh"]
        self.assertTrue(any("libc.so" in p for p in libs), libs)
        self.assertTrue(any("ld-linux" in p for p in libs), libs)
        for p, (src, _) in files.items():
            self.assertFalse(p.startswith("/"), p)
            self.assertTrue(os.path.isfile(src), src)
        dirs = vm.parent_dirs(files)
        self.assertIn("usr", dirs)
        self.assertLess(dirs.index("usr"), dirs.index("usr/bin"))

    def test_missing_tool_is_an_error(self):
        with self.assertRaises(ValueError):
            vm.tool_files(["zsgate-no-such-tool"])
