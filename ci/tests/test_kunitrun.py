# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/kunitrun.py (ci/kunit) and ci/zsgate/deps.py (ci/deps) in this process: the
options become kunit.py's arguments, usage errors are exit codes (never SystemExit), a run
over a stand-in kunit.py (tests/test_build.py's) exits 0/1/2/3 as ci/kunit did with its
files, build stamp and heartbeat, leaving the caller's signal handlers and log step as they
were; deps --check and a failing apt-get over a fake dpkg-query/apt-get on PATH."""
import contextlib
import io
import os
import signal
import stat
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from tests.test_build import ERR, fake_tree, read, write
from zsgate import bounded, build, deps, inproc, kunitrun
from zsgate import log as zlog

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(CI)
CFG = os.path.join(ROOT, "configs")


def quiet(fn, *a, **kw):
    """fn(*a, **kw) with stdout and stderr captured: (result, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        r = fn(*a, **kw)
    return r, out.getvalue(), err.getvalue()


def called(main, argv, env=None):
    """main(argv, env) the way every caller in this process calls it (inproc.call): an
    exception is exit 1, the log step and the signal handlers are put back."""
    return inproc.call(lambda a: main(a, env), argv, main.__module__.split(".")[-1].replace("run", ""))


class ArgsTest(unittest.TestCase):
    ENV = {"JOBS": "3"}

    def args(self, *argv, env=None):
        req = kunitrun.parse(["--tree", "/t", "--out", "/o", "--name", "k", *argv], self.ENV if env is None else env)
        return kunitrun.kunit_args(req, ROOT, self.ENV if env is None else env)

    def test_plain_x86_64(self):
        args, timeout = self.args("--arch", "x86_64")
        self.assertEqual(timeout, str(bounded.KUNIT_TIMEOUT["plain"]))
        ka = [a for k in bounded.kernel_args("kunit") for a in ("--kernel_args", k)]
        self.assertEqual(args, [
            "--arch=x86_64", f"--kunitconfig={CFG}/zsmalloc-x86_64.kunitconfig", f"--kunitconfig={CFG}/vm.config",
            f"--kunitconfig={CFG}/vm-x86_64.config", f"--kunitconfig={CFG}/bounded.config", "--jobs=3",
            f"--timeout={timeout}", "--make_options", "CC=ccache gcc", "--qemu_args", "-smp 2", *ka,
            "--build_dir=.kunit-x86_64", "--json=/o/k.json"])

    def test_um_debug_filters_not_bounded(self):
        args, timeout = self.args("--arch", "um", "--debug", "--no-bounded", "--attr-filter", "speed=slow",
                                  "--filter", "zsmalloc.test_a*", "--timeout", "42")
        self.assertEqual(timeout, "42")
        self.assertIn("--timeout=42", args)
        self.assertEqual(args[args.index("--make_options") + 2:], [
            "--kernel_args", "ncpus=2", "--kernel_args", "seccomp=on",
            f"--kunitconfig={CFG}/zsmalloc-debug.config", "--build_dir=.kunit-um-debug", "--json=/o/k.json",
            "--filter=speed=slow", "zsmalloc.test_a*"])

    def test_kcsan(self):
        args, timeout = self.args("--arch", "x86_64", "--kcsan", env={"JOBS": "1", "ZSGATE_KCSAN_RACE_MS": "3000"})
        self.assertEqual(timeout, str(bounded.KUNIT_TIMEOUT["kcsan"]))
        self.assertIn(f"--kunitconfig={CFG}/zsmalloc-kcsan.config", args)
        self.assertIn("kcsan.skip_watch=400", args)
        self.assertIn("zsmalloc.kunit_race_ms=3000", args)
        self.assertIn("--build_dir=.kunit-x86_64-kcsan", args)

    def test_environment_defaults_and_the_last_switch_wins(self):
        env = {"ZSGATE_KUNIT_TIMEOUT": "77", "ZSGATE_BOUNDED": "0", "JOBS": "1"}
        req = kunitrun.parse(["--tree", "/t", "--arch", "um", "--out", "/o", "--name", "k"], env)
        self.assertEqual((req.timeout, req.bounded), ("77", False))
        req = kunitrun.parse(["--tree", "/t", "--arch", "um", "--out", "/o", "--name", "k", "--panic-on-oops"], env)
        self.assertTrue(req.bounded)
        req = kunitrun.parse(["--tree", "/t", "--arch", "um", "--out", "/o", "--name", "k", "--panic-on-oops",
                              "--no-bounded"], {})
        self.assertFalse(req.bounded)

    def test_usage_errors_are_exit_1_not_system_exit(self):
        with tempfile.TemporaryDirectory() as d:
            tree = fake_tree(os.path.join(d, "linux"), "s")
            for argv, said in ((["--tree", tree], "the following arguments are required"),
                               (["--tree", tree, "--arch", "um", "--out", d, "--name", "k", "--bogus"],
                                "unrecognized arguments: --bogus"),
                               (["--tree", d, "--arch", "um", "--out", d, "--name", "k"],
                                "has no tools/testing/kunit/kunit.py"),
                               (["--tree", tree, "--arch", "sparc", "--out", d, "--name", "k"], "unknown arch 'sparc'"),
                               (["--tree", tree, "--arch", "um", "--out", d, "--name", "k", "--kcsan"],
                                "--kcsan is for x86_64 only"),
                               (["--tree", tree, "--arch", "x86_64", "--out", d, "--name", "k", "--kcsan", "--debug"],
                                "--kcsan and --debug exclude each other")):
                with self.subTest(argv=argv):
                    rc, _, err = quiet(called, kunitrun.main, argv, {})
                    self.assertEqual(rc, 1, err)
                    self.assertIn(said, err)
                    self.assertRegex(err, r"zsgate: kunit( k)?: ")
            self.assertEqual(quiet(called, kunitrun.main, ["--help"], {})[0], 0)


class RunTest(unittest.TestCase):
    """main() in this process over tests/test_build.py's stand-in kunit.py."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.tree = fake_tree(os.path.join(d, "linux"), "rev")
        self.out = os.path.join(d, "run")
        self.lock = os.path.join(d, "lock")
        self.env = dict(os.environ, ZSGATE_BUILD_LOCK=self.lock, JOBS="1", FAKE_ERR=ERR)
        for k in ("ZSGATE_BOUNDED", "ZSGATE_KUNIT_TIMEOUT", "ZSGATE_KCSAN_ALL"):
            self.env.pop(k, None)

    def tearDown(self):
        self.tmp.cleanup()

    def kunit(self, mode, *extra):
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
        old = zlog._step
        zlog.set_step("caller")
        try:
            rc, _, err = quiet(called, kunitrun.main, ["--tree", self.tree, "--arch", "x86_64", "--out", self.out,
                                               "--name", "k", *extra], dict(self.env, FAKE_KUNIT=mode))
            self.assertEqual(zlog.step(), "caller")
        finally:
            zlog._step = old
        self.assertEqual({s: signal.getsignal(s) for s in handlers}, handlers)
        return rc, err

    def test_an_exception_is_its_traceback_exit_1_and_the_step_back(self):
        with mock.patch.object(kunitrun, "run", side_effect=RuntimeError("boom")):
            rc, err = self.kunit("ok")
        self.assertEqual(rc, 1, err)
        self.assertIn("Traceback (most recent call last)", err)
        self.assertRegex(err, r"\] kunit: kunit failed with RuntimeError: boom \(exit 1\)\n")

    def test_ci_kunit_exits_1_on_an_exception_too(self):
        # no handler of its own: python3 prints the traceback and exits 1, as before
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from zsgate import kunitrun\n"
                "kunitrun.run = lambda *a: 1 / 0\n"
                "import runpy; sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')\n")
        r = subprocess.run([sys.executable, "-c", code, CI, os.path.join(CI, "kunit"), "--tree", self.tree,
                            "--arch", "x86_64", "--out", self.out, "--name", "k"],
                           capture_output=True, text=True, env=self.env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ZeroDivisionError", r.stderr)
        r = subprocess.run([os.path.join(CI, "kunit"), "--bogus"], capture_output=True, text=True, env=self.env)
        self.assertEqual(r.returncode, 1, r.stderr)

    def test_passing_run(self):
        rc, err = self.kunit("ok")
        self.assertEqual(rc, 0, err)
        self.assertIn("] kunit k: kunit.py run --arch=x86_64 in ", err)
        for ext in ("json", "log", "build.log"):
            self.assertTrue(os.path.isfile(os.path.join(self.out, f"k.{ext}")), ext)
        self.assertTrue(os.path.exists(os.path.join(self.out, "k.ktap")))
        blog = read(os.path.join(self.out, "k.build.log"))
        self.assertRegex(blog.splitlines()[-1], r"^\[\d\d:\d\d\] kunit k: build\+run k: done in \d+ s \(exit 0\)$")
        self.assertIsNone(build.check(self.tree, os.path.join(self.tree, ".kunit-x86_64"), "x86_64"))

    def test_failed_build_is_exit_3_and_stamped(self):
        rc, err = self.kunit("fail")
        self.assertEqual(rc, 3, err)
        self.assertIn("] kunit k: build failed: mm/tests/zsmalloc_kunit.c:412: error: implicit declaration", err)
        st = build.read_stamp(os.path.join(self.tree, ".kunit-x86_64"))
        self.assertEqual(st["status"], "failed")
        self.assertIn("build failed: mm/tests/zsmalloc_kunit.c:412", read(os.path.join(self.out, "k.build.log")))

    def test_no_results_is_exit_2(self):
        kp = os.path.join(self.tree, "tools/testing/kunit/kunit.py")
        write(kp, read(kp).replace("with open(js, \"w\") as f:", "with open(os.devnull, \"w\") as f:"))
        rc, err = self.kunit("ok")
        self.assertEqual(rc, 2, err)
        self.assertIn("no results (build or boot failed): see ", err)

    def test_kcsan_report_in_zsmalloc_fails_the_run(self):
        kp = os.path.join(self.tree, "tools/testing/kunit/kunit.py")
        write(kp, read(kp).replace('f.write("KTAP version 1\\n1..1\\nok 1 zsmalloc\\n")',
                                   'f.write("BUG: KCSAN: data-race in zs_free / zs_malloc\\nok 1 zsmalloc\\n")'))
        rc, err = self.kunit("ok", "--kcsan")
        self.assertEqual(rc, 1, err)
        self.assertIn("KCSAN reported data races in zsmalloc/zram/zswap: run failed", err)
        self.assertIn("KCSAN reports: 1", read(os.path.join(self.out, "k.kcsan.txt")))

    def test_kunit_py_runs_under_the_build_lock(self):
        kp = os.path.join(self.tree, "tools/testing/kunit/kunit.py")
        write(kp, read(kp).replace("import json, os, sys\n", "import json, os, sys, fcntl\n"
                                   "fd = os.open(os.environ['ZSGATE_BUILD_LOCK'], os.O_RDWR)\n"
                                   "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                                   "    print('zsgate: the build lock was free')\n"
                                   "except BlockingIOError:\n    pass\n"))
        rc, err = self.kunit("ok")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("the build lock was free", read(os.path.join(self.out, "k.build.log")))


def fake_bin(d, name, body):
    p = os.path.join(d, name)
    write(p, "#!/bin/sh\n" + body)
    os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR)


class DepsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.bin = os.path.join(self.tmp.name, "bin")
        # every package installed but fio and mypy
        fake_bin(self.bin, "dpkg-query", 'case "$3" in fio|mypy) exit 1 ;; esac\nprintf "install ok installed"\n')
        fake_bin(self.bin, "apt-get", 'echo "apt-get $*"\n[ "$1" = update ] && { echo "E: no archive"; exit 100; }\n')
        self.path = mock.patch.dict(os.environ, {"PATH": self.bin + ":" + os.environ.get("PATH", "/usr/bin:/bin")})
        self.path.start()

    def tearDown(self):
        self.path.stop()
        self.tmp.cleanup()

    def test_check_lists_what_is_missing(self):
        rc, out, err = quiet(called, deps.main, ["--check"])
        self.assertEqual((rc, out), (1, "missing: fio\nmissing: mypy\n"), err)

    def test_an_exception_is_exit_1_through_inproc_call(self):
        old = zlog._step
        zlog.set_step("caller")
        try:
            with mock.patch.object(deps, "run", side_effect=KeyError("x")):
                rc, _, err = quiet(called, deps.main, ["--check"])
            self.assertEqual(zlog.step(), "caller")
        finally:
            zlog._step = old
        self.assertEqual(rc, 1, err)
        self.assertIn("] deps: deps failed with KeyError: 'x' (exit 1)", err)
        r = subprocess.run([os.path.join(CI, "deps"), "--bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("unrecognized arguments: --bogus", r.stderr)

    def test_all_present(self):
        fake_bin(self.bin, "dpkg-query", 'printf "install ok installed"\n')
        rc, out, err = quiet(called, deps.main, ["--check"])
        self.assertEqual((rc, out), (0, ""))
        self.assertRegex(err, rf"\] deps: all {len(deps.PKGS)} packages present\n")

    @unittest.skipUnless(os.geteuid() == 0, "the install path needs root")
    def test_failed_apt_get_update_is_exit_1_with_its_last_line(self):
        cache = os.path.join(self.tmp.name, "cache")
        rc, _, err = quiet(called, deps.main, [], {"ZSGATE_CACHE": cache, "PATH": os.environ["PATH"]})
        self.assertEqual(rc, 1, err)
        self.assertIn("] deps: installing: fio mypy", err)
        self.assertIn("zsgate: deps: apt-get update failed (is the Debian archive reachable?): E: no archive", err)
        self.assertEqual(read(os.path.join(cache, "logs", "apt-install.log")), "apt-get update\nE: no archive\n")

    def test_the_list_keeps_one_comment_per_line(self):
        with open(deps.__file__, encoding="utf-8") as f:
            src = f.read()
        block = src.split("PKGS = (\n", 1)[1].split("\n)\n", 1)[0].splitlines()
        self.assertTrue(all("  # " in ln for ln in block), block)
        self.assertEqual(len(deps.PKGS), len(set(deps.PKGS)))
        self.assertIn("python3-jsonschema", deps.PKGS)


if __name__ == "__main__":
    unittest.main()
