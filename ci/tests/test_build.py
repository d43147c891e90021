# SPDX-License-Identifier: GPL-2.0
"""Never judge a kernel that was not built from this revision (issue 13 item 5).

A fake work tree whose tools/testing/kunit/kunit.py "builds" (writes an image, a .config,
a console and kunit.py JSON) or fails with a compiler error, driven through the real
ci/kunit, ci/vm, ci/ab, ci/summary and ci/report: a failed build leaves the previous
revision's image in the build dir, and nothing may boot it or report figures for it.
"""
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

from zsgate import build
from zsgate.results import build_failure, first_compiler_error
from tests import summarize

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ERR = ("../mm/tests/zsmalloc_kunit.c:412:9: error: implicit declaration of function "
       "'zs_free_deferred_flush' [-Werror=implicit-function-declaration]")

FAKE_KUNIT = r'''#!/usr/bin/env python3
# a stand-in for kunit.py run: FAKE_KUNIT=ok builds an image of the tree's mm/zsmalloc.c,
# FAKE_KUNIT=fail prints a compiler error the way kunit.py does and builds nothing
import json, os, sys
args = sys.argv[2:]
bd = next(a.split("=", 1)[1] for a in args if a.startswith("--build_dir="))
js = next(a.split("=", 1)[1] for a in args if a.startswith("--json="))
arch = next(a.split("=", 1)[1] for a in args if a.startswith("--arch="))
print("[12:00:00] Configuring KUnit Kernel ...")
os.makedirs(bd, exist_ok=True)
with open(os.path.join(bd, ".config"), "w") as f:
    f.write("CONFIG_ZSMALLOC=y\nCONFIG_BLK_DEV_INITRD=y\nCONFIG_DEVTMPFS=y\nCONFIG_SMP=y\n"
            "CONFIG_HOSTFS=y\n")
print("[12:00:01] Building KUnit Kernel ...")
if os.environ.get("FAKE_KUNIT") == "fail":
    print("ERROR:root:../mm/tests/zsmalloc_kunit.c: In function 'zst_flush':")
    print(os.environ["FAKE_ERR"])
    print("make[4]: *** [../scripts/Makefile.build:287: mm/zsmalloc.o] Error 1")
    sys.exit(1)
img = os.path.join(bd, "linux" if arch == "um" else "arch/x86/boot/bzImage")
os.makedirs(os.path.dirname(img) or ".", exist_ok=True)
with open(img, "w") as f:
    f.write("image of " + open("mm/zsmalloc.c").read())
print("[12:00:02] Starting KUnit Kernel (1/1)...")
with open(os.path.join(bd, "test.log"), "w") as f:
    f.write("KTAP version 1\n1..1\nok 1 zsmalloc\n")
with open(js, "w") as f:
    json.dump({"name": "KUnit Test Group", "test_cases": [], "sub_groups": [
        {"name": "zsmalloc", "sub_groups": [], "test_cases": [{"name": "test_a", "status": "PASS"}]}]}, f)
'''


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def fake_tree(root, series_id):
    """A work tree as treeprep leaves it: the state file and the files it names."""
    write(os.path.join(root, "mm/zsmalloc.c"), f"/* zsmalloc of {series_id} */\n")
    write(os.path.join(root, "mm/tests/zsmalloc_kunit.c"), "/* suite */\n")
    write(os.path.join(root, ".zsgate-state.json"), json.dumps({
        "ksrc": "/k", "touched": ["mm/tests/zsmalloc_kunit.c", "mm/zsmalloc.c"],
        "series": {"kind": "quilt", "id": series_id, "path": "/s", "patches": ["1.patch"]},
        "part_b": True}))
    kp = os.path.join(root, "tools/testing/kunit/kunit.py")
    write(kp, FAKE_KUNIT)
    os.chmod(kp, 0o755)
    return root


class CompilerErrorTest(unittest.TestCase):
    def test_first_error_is_file_line_message(self):
        log = ["[12:00:01] Building KUnit Kernel ...", "ERROR:root:../mm/x.c: In function 'f':",
               "../mm/x.c:3:1: warning: unused variable 'y'", ERR,
               "../mm/zsmalloc.c:9:2: error: second error"]
        self.assertEqual(first_compiler_error(log),
                         "mm/tests/zsmalloc_kunit.c:412: error: implicit declaration of function "
                         "'zs_free_deferred_flush' [-Werror=implicit-function-declaration]")
        self.assertEqual(build_failure(log), first_compiler_error(log))

    def test_tree_prefix_fatal_and_linker_errors(self):
        self.assertEqual(first_compiler_error(["/w/linux/mm/zsmalloc.c:5:10: fatal error: a.h: No such file"],
                                              "/w/linux"), "mm/zsmalloc.c:5: error: a.h: No such file")
        self.assertEqual(first_compiler_error(["make[2]: *** [Makefile:1] Error 1",
                                               "mm/zsmalloc.c:(.text+0x9): undefined reference to `zs_x'"]),
                         "undefined reference to `zs_x'")

    def test_a_build_that_started_the_kernel_did_not_fail(self):
        self.assertIsNone(build_failure(["Building KUnit Kernel ...", "x.c:1:1: error: in a test's output",
                                         "[1] Starting KUnit Kernel (1/1)..."]))
        self.assertIn("no compiler error", build_failure(["Building KUnit Kernel ...", "Killed"]))


class StampTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.tree = fake_tree(os.path.join(self.tmp.name, "linux"), "rev-one")
        self.bdir = os.path.join(self.tree, ".kunit-x86_64")
        write(os.path.join(self.bdir, ".config"), "CONFIG_ZSMALLOC=y\n")
        self.img = os.path.join(self.bdir, "arch/x86/boot/bzImage")
        write(self.img, "image one")

    def tearDown(self):
        self.tmp.cleanup()

    def stamp(self):
        before = build.tree_key(self.tree)
        build.invalidate(self.bdir)
        self.assertIn("no build stamp", build.check(self.tree, self.bdir, "x86_64"))
        return build.stamp_ok(self.tree, self.bdir, "x86_64", "kunit-x86_64-patched", before)

    def test_stamped_image_boots_unstamped_does_not(self):
        self.assertIn("no build stamp", build.check(self.tree, self.bdir, "x86_64"))
        self.assertIsNone(build.check(self.tree, self.bdir, "x86_64", unstamped_ok=True))
        self.assertEqual(self.stamp()["status"], "ok")
        self.assertIsNone(build.check(self.tree, self.bdir, "x86_64"))

    def test_another_revision_in_the_tree(self):
        self.stamp()
        fake_tree(self.tree, "rev-two")  # ci/tree for the next series, no build since
        why = build.check(self.tree, self.bdir, "x86_64")
        self.assertIn("built by kunit-x86_64-patched from series rev-one", why)
        self.assertIn("now holds series rev-two", why)
        # even with --unstamped: a stamp of another revision is never booted
        self.assertIsNotNone(build.check(self.tree, self.bdir, "x86_64", unstamped_ok=True))

    def test_config_or_image_changed(self):
        self.stamp()
        write(os.path.join(self.bdir, ".config"), "CONFIG_ZSMALLOC=y\nCONFIG_KASAN=y\n")
        self.assertIn(".config changed", build.check(self.tree, self.bdir, "x86_64"))
        self.stamp()
        write(self.img, "image two")
        self.assertIn("hash changed", build.check(self.tree, self.bdir, "x86_64"))

    def test_tree_changed_during_the_build(self):
        before = build.tree_key(self.tree)
        write(os.path.join(self.tree, "mm/zsmalloc.c"), "/* another job's revision */\n")
        doc = build.stamp_ok(self.tree, self.bdir, "x86_64", "k", before)
        self.assertEqual(doc["status"], "failed")
        self.assertIn("changed while it was being built", build.check(self.tree, self.bdir, "x86_64"))

    def test_failed_build_names_its_error(self):
        self.stamp()
        build.stamp_failed(self.tree, self.bdir, "x86_64", "kunit-x86_64-patched", "mm/x.c:1: error: e")
        why = build.check(self.tree, self.bdir, "x86_64", unstamped_ok=True)
        self.assertIn("last build of this tree failed (kunit-x86_64-patched", why)
        self.assertIn("mm/x.c:1: error: e", why)


class FailedBuildThroughTheGateTest(unittest.TestCase):
    """The gate's order on one tree: a good revision builds; the next one's build fails
    and leaves the good one's image; then ci/vm, ci/ab, ci/summary, ci/report."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.base = fake_tree(os.path.join(d, "base/linux"), "base")
        self.tree = fake_tree(os.path.join(d, "patched/linux"), "rev-good")
        self.run_dir = os.path.join(d, "run")
        self.env = dict(os.environ, ZSGATE_BUILD_LOCK=os.path.join(d, "lock"), ZSGATE_CACHE=os.path.join(d, "cache"),
                        FAKE_ERR=ERR, JOBS="1")

    def tearDown(self):
        self.tmp.cleanup()

    def kunit(self, tree, name, mode):
        return subprocess.run([os.path.join(CI, "kunit"), "--tree", tree, "--arch", "x86_64", "--out", self.run_dir,
                               "--name", name], env=dict(self.env, FAKE_KUNIT=mode), capture_output=True, text=True)

    def vm(self, tree, name):
        return subprocess.run([os.path.join(CI, "vm"), "--tree", tree, "--arch", "x86_64", "--out", self.run_dir,
                               "--name", name, "--bin", self.run_dir], env=self.env, capture_output=True, text=True)

    def test_failed_build_no_vm_no_ab_no_figures(self):
        # base: built and stamped (ci/kunit's path is the patched one below)
        bb = os.path.join(self.base, ".kunit-x86_64")
        write(os.path.join(bb, ".config"), "CONFIG_ZSMALLOC=y\n")
        write(os.path.join(bb, "arch/x86/boot/bzImage"), "base image")
        self.assertEqual(build.stamp_ok(self.base, bb, "x86_64", "kunit-x86_64-base")["status"], "ok")
        os.makedirs(self.run_dir, exist_ok=True)
        with open(os.path.join(self.run_dir, "kunit-x86_64-base.json"), "w") as f:
            json.dump({"name": "g", "test_cases": [{"name": "a", "status": "PASS"}]}, f)

        r = self.kunit(self.tree, "kunit-x86_64-patched", "ok")
        self.assertEqual(r.returncode, 0, r.stderr)
        img = os.path.join(self.tree, ".kunit-x86_64/arch/x86/boot/bzImage")
        self.assertIn("rev-good", read(img))
        self.assertIsNone(build.check(self.tree, os.path.join(self.tree, ".kunit-x86_64"), "x86_64"))

        # ci/tree for another series and no ci/kunit since: the image is refused
        fake_tree(self.tree, "rev-next")
        r = self.vm(self.tree, "vm-x86_64-patched")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("was built by kunit-x86_64-patched from series rev-good; the tree now holds series rev-next",
                      r.stderr)

        # the next revision: ci/tree rewrites the files, its build fails, the image stays
        fake_tree(self.tree, "rev-broken")
        r = self.kunit(self.tree, "kunit-x86_64-patched", "fail")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("mm/tests/zsmalloc_kunit.c:412: error: implicit declaration", r.stderr)
        self.assertIn("rev-good", read(img))  # the stale image really is there
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "kunit-x86_64-patched.log")))

        r = self.vm(self.tree, "vm-x86_64-patched")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not booting: the last build of this tree failed (kunit-x86_64-patched", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        vmj = load(os.path.join(self.run_dir, "vm-x86_64-patched.vm.json"))
        self.assertEqual((vmj["status"], vmj["build"]["status"]), ("not run", "failed"))
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "vm-x86_64-patched.figures.json")))

        r = subprocess.run([os.path.join(CI, "ab"), "--base", self.base, "--patched", self.tree,
                            "--out", self.run_dir, "--bin", self.run_dir], env=self.env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        ab = load(os.path.join(self.run_dir, "ab.json"))
        self.assertIn("patched: the last build of this tree failed", ab["not_run"])
        self.assertEqual((ab["entries"], ab["runs"]), ([], []))
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "ab", "ab-x86_64-patched-r1.vm.json")))

        with open(os.path.join(self.run_dir, "meta.json"), "w") as f:
            json.dump({"kernel": {"version": "7.3.0-rc7", "part_a": True, "package": "p", "path": "/k"},
                       "series": {"kind": "quilt", "id": "rev-broken", "path": "/s"},
                       "runs": [{"name": f"{k}-x86_64-{rev}", "arch": "x86_64", "revision": rev, "kind": k}
                                for k in ("kunit", "vm") for rev in ("base", "patched")]}, f)
        # base's VM run, as if it ran clean
        with open(os.path.join(self.run_dir, "vm-x86_64-base.json"), "w") as f:
            json.dump({"name": "g", "sub_groups": [{"name": "zram_free", "sub_groups": [],
                                                    "test_cases": [{"name": "a", "status": "PASS"}]}]}, f)
        with open(os.path.join(self.run_dir, "vm-x86_64-base.vm.json"), "w") as f:
            json.dump({"status": "complete", "problems": [], "splats": []}, f)
        r = summarize.run(self.run_dir)
        self.assertEqual(r.returncode, 1, r.stdout)
        first = "mm/tests/zsmalloc_kunit.c:412: error: implicit declaration of function 'zs_free_deferred_flush'"
        self.assertIn("verdict: FAIL - build failed: kunit-x86_64-patched: " + first, r.stdout)
        self.assertRegex(r.stdout, r"kunit-x86_64-patched +build failed: " + first)
        self.assertRegex(r.stdout, r"vm-x86_64-patched +not run \(build failed: kunit-x86_64-patched\)")
        s = load(os.path.join(self.run_dir, "summary.json"))
        runs = {x["name"]: x for x in s["runs"]}
        self.assertEqual(runs["kunit-x86_64-patched"]["build"], "failed")
        self.assertTrue(runs["kunit-x86_64-patched"]["build_error"].startswith(first))
        self.assertEqual(runs["vm-x86_64-patched"]["build"], "failed")
        self.assertEqual(runs["kunit-x86_64-base"]["pass"], 1)
        self.assertEqual([b["run"] for b in s["build_failures"]], ["kunit-x86_64-patched"])
        self.assertEqual(s["ab"], [])
        self.assertTrue(any(p.startswith("A/B not run: patched: the last build") for p in s["problems"]))
        self.assertFalse(any("no results" in p for p in s["problems"]), s["problems"])

        r = subprocess.run([sys.executable, os.path.join(CI, "report"), self.run_dir], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        md = read(os.path.join(self.run_dir, "report.md"))
        self.assertIn("**Verdict: FAIL**", md)
        self.assertIn("## Build failed", md)
        self.assertIn(f"`kunit-x86_64-patched`: `{first}", md)
        self.assertIn("| vm-x86_64-patched | not run (build failed: kunit-x86_64-patched) |", md)
        self.assertIn("A/B not run: patched: the last build of this tree failed", md)

    def test_a_build_waiting_for_the_lock_keeps_the_stamp(self):
        """ci/kunit drops the stamp inside the build lock: while it waits, the image built
        before stays bootable (seen for real: a base VM run refused while another gate's
        ci/kunit of the same base tree queued for the lock)."""
        bd = os.path.join(self.base, ".kunit-x86_64")
        write(os.path.join(bd, ".config"), "CONFIG_ZSMALLOC=y\n")
        write(os.path.join(bd, "arch/x86/boot/bzImage"), "base image")
        build.stamp_ok(self.base, bd, "x86_64", "kunit-x86_64-base")
        with open(self.env["ZSGATE_BUILD_LOCK"], "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            p = subprocess.Popen([os.path.join(CI, "kunit"), "--tree", self.base, "--arch", "x86_64",
                                  "--out", self.run_dir, "--name", "kunit-x86_64-base"],
                                 env=dict(self.env, FAKE_KUNIT="ok"), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(1.5)
            self.assertIsNone(p.poll())  # waiting for the lock
            self.assertIsNone(build.check(self.base, bd, "x86_64"))
            fcntl.flock(lk, fcntl.LOCK_UN)
        self.assertEqual(p.wait(timeout=60), 0)
        self.assertEqual(build.read_stamp(bd)["status"], "ok")


if __name__ == "__main__":
    unittest.main()
