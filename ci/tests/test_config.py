# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/config.py: the one statement of the defaults, and the shell and make copies
that must agree with it (ci/lib.sh, the Makefile, ci/kunit's kunitrun), and the host
programs' use of COLLECTIONS (zsgate.selftests, selftestfaults, kselftesttar)."""
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
LIB = os.path.join(CI, "lib.sh")

# environments to read the defaults under: HOME unset, set, empty; overrides set and empty
ENVS = [
    {},
    {"HOME": "/home/someone"},
    {"HOME": ""},
    {"HOME": "/home/someone", "ZSGATE_CACHE": "/var/cache/zs", "ZSGATE_BUILD_LOCK": "/run/zs.lock"},
    {"HOME": "/home/someone", "ZSGATE_CACHE": "", "ZSGATE_BUILD_LOCK": ""},
]


def lib_sh(env: dict) -> dict:
    """ZSGATE_CACHE and ZSGATE_BUILD_LOCK as ci/lib.sh sets them, sourced under @env only."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    r = subprocess.run(["bash", "-c", 'source "$1" && printf "%s\\n" "$ZSGATE_CACHE" "$ZSGATE_BUILD_LOCK"',
                        "bash", LIB], env=e, capture_output=True, text=True, check=True)
    cache, lock = r.stdout.splitlines()
    return {"cache": cache, "lock": lock}


class LibShAgreesTest(unittest.TestCase):
    def test_cache_and_build_lock_defaults_match_lib_sh(self):
        for env in ENVS:
            with self.subTest(env=env):
                sh = lib_sh(env)
                self.assertEqual(sh["cache"], config.cache_dir(env),
                                 f"ci/lib.sh says ZSGATE_CACHE={sh['cache']}, config.py {config.cache_dir(env)}")
                self.assertEqual(sh["lock"], config.build_lock(env),
                                 f"ci/lib.sh says ZSGATE_BUILD_LOCK={sh['lock']}, config.py {config.build_lock(env)}")

    def test_need_space_says_what_zs_need_space_says(self):
        with tempfile.TemporaryDirectory() as d:
            where = os.path.join(d, "not", "yet")  # need not exist: its parent is asked
            e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ZSGATE_STEP": "t"}
            r = subprocess.run(["bash", "-c", 'source "$1" && zs_need_space "$2" 100000000 "a test"',
                                "bash", LIB, where], env=e, capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            py = config.need_space(where, 100000000, "a test", env={})
            self.assertIsNotNone(py)
            free = re.compile(r"which has \d+ MB free")  # the free space may move in between
            self.assertEqual(free.sub("", r.stderr.strip()), free.sub("", "zsgate: t: " + str(py)))
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
