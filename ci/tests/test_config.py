# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/config.py: the one statement of the defaults (the shell steps' ci/lib.sh is
gone), the make copy that must agree with it (the Makefile), ci/kunit's kunitrun build dirs,
and the host programs' use of COLLECTIONS (zsgate.selftests, selftestfaults, kselftesttar)."""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from zsgate import config

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)

# environments to read the defaults under: HOME unset, set, empty; overrides set and empty
# (empty is unset, as ${VAR:-default} in the shell steps had it), and what they give
ENVS = [
    ({}, "/root/.cache/zsgate", "/tmp/zsgate-build.lock"),
    ({"HOME": "/home/someone"}, "/home/someone/.cache/zsgate", "/tmp/zsgate-build.lock"),
    ({"HOME": ""}, "/root/.cache/zsgate", "/tmp/zsgate-build.lock"),
    ({"HOME": "/home/someone", "ZSGATE_CACHE": "/var/cache/zs", "ZSGATE_BUILD_LOCK": "/run/zs.lock"},
     "/var/cache/zs", "/run/zs.lock"),
    ({"HOME": "/home/someone", "ZSGATE_CACHE": "", "ZSGATE_BUILD_LOCK": ""},
     "/home/someone/.cache/zsgate", "/tmp/zsgate-build.lock"),
]


def df(path: str) -> tuple:
    """(MB free, mount point) of @path as `df -Pk` gives them."""
    r = subprocess.run(["df", "-Pk", path], capture_output=True, text=True, check=True)
    f = r.stdout.splitlines()[1].split()
    return int(f[3]) // 1024, f[5]


class DefaultsTest(unittest.TestCase):
    def test_cache_and_build_lock_defaults(self):
        for env, cache, lock in ENVS:
            with self.subTest(env=env):
                self.assertEqual(config.cache_dir(env), cache)
                self.assertEqual(config.build_lock(env), lock)

    def test_free_space_is_what_df_says(self):
        with tempfile.TemporaryDirectory() as d:
            where = os.path.join(d, "not", "yet")  # need not exist: its parent is asked
            got = config.free_space(where)
            assert got is not None
            have, mnt = df(d)
            self.assertEqual(got[1], mnt)
            self.assertLessEqual(abs(got[0] - have), 64, "the free space may move in between")

    def test_need_space_says_what_zs_need_space_said(self):
        with tempfile.TemporaryDirectory() as d:
            where = os.path.join(d, "not", "yet")  # need not exist: its parent is asked
            py = config.need_space(where, 100000000, "a test", env={})
            self.assertIsNotNone(py)
            _, mnt = df(d)
            free = re.compile(r"which has \d+ MB free")  # the free space may move in between
            self.assertEqual(free.sub("", str(py)), free.sub("", (
                f"not enough space for a test: {where} is on {mnt}, which has 0 MB free; this needs about "
                "100000000 MB — free space there or set ZSGATE_CACHE=<dir on a bigger disk>")))
            self.assertIsNone(config.need_space(where, 1, "a test", env={}))
            self.assertIsNone(config.need_space(where, 100000000, "a test", env={"ZSGATE_NEED_SCALE": "0"}))
            self.assertIn("needs about 50000000 MB",
                          str(config.need_space(where, 100000000, "a test", env={"ZSGATE_NEED_SCALE": "50"})))

    def test_the_defaults_are_the_documented_ones(self):
        self.assertEqual(config.cache_dir({"HOME": "/home/someone"}), "/home/someone/.cache/zsgate")
        self.assertEqual(config.cache_dir({}), "/root/.cache/zsgate")
        self.assertEqual(config.build_lock({}), "/tmp/zsgate-build.lock")

    def test_reads_the_environment_when_called(self):
        old = os.environ.get("ZSGATE_BUILD_LOCK")
        os.environ["ZSGATE_BUILD_LOCK"] = "/tmp/zsgate-test-inner.lock"
        try:
            self.assertEqual(config.build_lock(), "/tmp/zsgate-test-inner.lock")
        finally:
            if old is None:
                del os.environ["ZSGATE_BUILD_LOCK"]
            else:
                os.environ["ZSGATE_BUILD_LOCK"] = old


@unittest.skipUnless(shutil.which("make"), "needs make")
class MakefileAgreesTest(unittest.TestCase):
    def test_makefile_cache_default_matches(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/home/someone"}
        r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT,
                            "--eval", "zs-print-cache: ; @echo $(ZSGATE_CACHE)", "zs-print-cache"],
                           env=env, capture_output=True, text=True, check=True)
        self.assertEqual(r.stdout.strip(), config.cache_dir(env))


class BuildDirsAndCollectionsTest(unittest.TestCase):
    def _read(self, name: str) -> str:
        with open(os.path.join(CI, name), encoding="utf-8") as f:
            return f.read()

    def test_build_dir_names(self):
        self.assertEqual(config.build_dir("um"), ".kunit-um")
        self.assertEqual(config.build_dir("x86_64", "debug"), ".kunit-x86_64-debug")
        self.assertEqual(config.build_dir("x86_64", "kcsan"), ".kunit-x86_64-kcsan")
        self.assertEqual(config.build_dir("x86_64", "vm"), ".kunit-x86_64-vm")
        self.assertEqual(config.build_dir_suffix("x86_64", ".kunit-x86_64-debug"), "-debug")
        self.assertEqual(config.build_dir_suffix("um", ".kunit-um"), "")
        with self.assertRaises(ValueError):
            config.build_dir("um", "fast")

    def test_ci_kunit_names_its_build_dirs_the_same_way(self):
        from zsgate.kunitrun import KunitRun
        req = KunitRun(tree="/t", arch="x86_64", out="/o", name="k")
        self.assertEqual(req.build_dir, config.BUILD_DIR_PREFIX + "x86_64")
        self.assertEqual(KunitRun("/t", "um", "/o", "k", debug=True).build_dir, ".kunit-um-debug")
        for variant in ("debug", "kcsan"):
            r = KunitRun("/t", "x86_64", "/o", "k", **{variant: True})
            self.assertEqual(r.build_dir, config.build_dir("x86_64", variant), f"ci/kunit: no {variant} build dir")

    def test_host_programs_use_the_collections(self):
        """ci/selftests, ci/selftests-faults and ci/kselftest-tar (zsgate.selftests,
        selftestfaults, kselftesttar) build and stage config.COLLECTIONS, no list of their own."""
        from zsgate import kselftesttar, selftestfaults, selftests
        self.assertIs(selftests.COLLECTIONS, config.COLLECTIONS)
        self.assertEqual(selftests.make_command("/s", False)[3], "TARGETS=" + " ".join(config.COLLECTIONS))
        for mod in (selftests, selftestfaults, kselftesttar):
            with self.subTest(module=mod.__name__):
                with open(mod.__file__, encoding="utf-8") as f:
                    text = f.read()
                self.assertNotRegex(text, r"\bCOLLECTIONS\s*=\s*[(\[\"']", "a list of its own")
                self.assertNotIn('"zswap_free"', text)

    def test_collections_exist(self):
        for c in config.COLLECTIONS:
            self.assertTrue(os.path.isfile(os.path.join(ROOT, "selftests", c, "Makefile")), c)


class WorkTreeTest(unittest.TestCase):
    def test_work_tree_layout(self):
        src = "/nonexistent/linux-source-7.3"
        key = "linux-source-7.3-" + hashlib.sha1(src.encode()).hexdigest()[:8]
        self.assertEqual(config.source_key(src), key)
        self.assertEqual(config.work_tree(src, "base", {"ZSGATE_CACHE": "/c"}), f"/c/work/{key}/base/linux")

    def test_two_sources_of_one_name_get_two_keys(self):
        self.assertNotEqual(config.source_key("/a/linux"), config.source_key("/b/linux"))

    def test_the_key_follows_symlinks(self):
        with tempfile.TemporaryDirectory() as d:
            real = os.path.join(d, "linux-7.3")
            os.mkdir(real)
            os.symlink(real, os.path.join(d, "current"))
            self.assertEqual(config.source_key(os.path.join(d, "current")), config.source_key(real))


if __name__ == "__main__":
    unittest.main()
