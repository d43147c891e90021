# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/vm.py: keeping and reusing a clean VM run (ci/vm --reuse), and a filter that
selects no test."""
import json
import os
import tempfile
import unittest

from zsgate import vm


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


if __name__ == "__main__":
    unittest.main()
