# SPDX-License-Identifier: GPL-2.0
"""Bounded failure (issue 18 item 4, issue 16 rows 1-2): the kernel arguments of the
bounded mode, naming the case a crashed or timed-out run was in, the verdict saying so,
and ci/ab not booting a kernel that crashed again (fake kunit.py and fake QEMU)."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from zsgate import bounded, vmrun
from tests import summarize
from tests.fakevm import kill_all, recorded_pids, stamped_image
from tests.test_build import fake_tree, load, read, write

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(CI, "tests", "data", "crash")


def lines(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.readlines()


class ClassifyTest(unittest.TestCase):
    def test_oops_names_the_running_case_and_its_first_splat(self):
        c = bounded.classify(lines("kunit-x86_64-oops.log"), kind="kunit", complete=False, timed_out=False)
        self.assertEqual(c["how"], "crashed")
        self.assertEqual(c["case"], "test_deferred_enqueue_vs_drain")
        # the WARNING of an earlier case is not this crash's first line
        self.assertEqual(c["text"], "crashed in test_deferred_enqueue_vs_drain: "
                                    "BUG: kernel NULL pointer dereference, address: 0000000000000008")

    def test_warning_before_the_oops_in_the_same_case_comes_first(self):
        log = lines("kunit-x86_64-oops.log")
        at = next(i for i, ln in enumerate(log) if "owner on CPU 0" in ln)
        log.insert(at + 1, "[    4.600000] WARNING: CPU: 0 PID: 70 at mm/zsmalloc.c:1820 zs_deferred_take+0x1\n")
        c = bounded.classify(log, kind="kunit", complete=False, timed_out=False)
        self.assertEqual(c["line"], "WARNING: CPU: 0 PID: 70 at mm/zsmalloc.c:1820 zs_deferred_take+0x1")

    def test_stall_without_panic_times_out_in_its_case(self):
        c = bounded.classify(lines("kunit-x86_64-stall.log"), kind="kunit", complete=False, timed_out=True,
                             timeout=120)
        self.assertEqual(c["how"], "timed out")
        self.assertEqual(c["text"], "timed out in test_contract_deferred_all_cpus (120 s): "
                                    "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:")

    def test_uml_panic_in_a_parameterised_case(self):
        c = bounded.classify(lines("kunit-um-panic.log"), kind="kunit", complete=False, timed_out=False)
        self.assertEqual(c["text"], "crashed in test_deferred_drain_batching: "
                                    "Kernel panic - not syncing: Kernel mode fault at addr 0x8, ip 0x6012a1b4")

    def test_a_finished_run_is_no_crash_even_with_a_splat(self):
        self.assertIsNone(bounded.classify(lines("kunit-x86_64-complete.log"), kind="kunit", complete=True,
                                           timed_out=False))

    def test_between_cases_and_before_any(self):
        log = lines("kunit-x86_64-stall.log")[:7] + ["[    5.0] BUG: soft lockup - CPU#1 stuck for 22s!\n"]
        c = bounded.classify(log, kind="kunit", complete=False, timed_out=False)
        self.assertEqual(c["text"], "crashed after test_contract_deferred_burst: BUG: soft lockup - CPU#1 stuck for 22s!")
        c = bounded.classify(log[:4] + log[-1:], kind="kunit", complete=False, timed_out=False)
        self.assertEqual(c["text"], "crashed before any case started: BUG: soft lockup - CPU#1 stuck for 22s!")

    def test_no_splat_no_timeout_ended(self):
        c = bounded.classify(lines("vm-x86_64-hang.log"), kind="vm", complete=False, timed_out=False)
        self.assertEqual(c["text"], "ended in zram_free.teardown.p4_exit.concurrent without finishing")

    def test_vm_names_collection_and_test(self):
        c = bounded.classify(lines("vm-x86_64-oops.log"), kind="vm", complete=False, timed_out=False)
        self.assertEqual(c["text"], "crashed in zswap_free.race.writeback.invalidate: "
                                    "BUG: unable to handle page fault for address: ffff888100000000")
        c = bounded.classify(lines("vm-x86_64-hang.log"), kind="vm", complete=False, timed_out=True, timeout=300)
        self.assertEqual(c["text"], "timed out in zram_free.teardown.p4_exit.concurrent (300 s)")

    def test_real_console_of_the_ordering_mutant(self):
        """The x86_64 KUnit run of series/deferred-free + deferred-count-reset-before-buffer
        (2026-12-02, bounded): the drain worker's NULL deref while enqueue_vs_drain ran."""
        with tempfile.TemporaryDirectory() as d:
            for ext in ("log", "json"):
                write(os.path.join(d, "k." + ext), read(os.path.join(DATA, "kunit-x86_64-mutant." + ext)))
            write(os.path.join(d, "k.build.log"), "[01:13:27] Starting KUnit Kernel (1/1)...\n")
            c = bounded.kunit_crash(d, "k")
        self.assertEqual(c["text"], "crashed in test_deferred_enqueue_vs_drain: "
                                    "BUG: kernel NULL pointer dereference, address: 0000000000000000")

    def test_real_console_of_a_uml_panic(self):
        """UML, series/deferred-free + deferred-drain-frees-twice (2026-12-02): the drain
        worker segfaults while test_free_migrate_race defer-frees; UML's panic ends it."""
        with tempfile.TemporaryDirectory() as d:
            for ext in ("log", "json"):
                write(os.path.join(d, "k." + ext), read(os.path.join(DATA, "kunit-um-mutant." + ext)))
            c = bounded.kunit_crash(d, "k")
        self.assertEqual(c["text"], "crashed in test_free_migrate_race: Kernel panic - not syncing: Segfault with no mm")

    def test_consoles_of_the_kcidb_fixture(self):
        """Real consoles (ci/tests/data/kcidb-run): an old suite without start lines, named
        by the case's own diagnostics; a VM that hung after a test had ended."""
        d = os.path.join(CI, "tests", "data", "kcidb-run")
        c = bounded.kunit_crash(d, "kunit-x86_64-patched")
        self.assertEqual(c["text"], "crashed in test_deferred_overflow: "
                                    "BUG: kernel NULL pointer dereference, address: 0000000000000008")
        self.assertIsNone(bounded.kunit_crash(d, "kunit-x86_64-base"))
        with open(os.path.join(d, "vm-x86_64-patched.log"), encoding="utf-8") as f:
            c = bounded.classify(f, kind="vm", complete=False, timed_out=True, timeout=1200)
        self.assertEqual(c["text"], "timed out after zram_free.overflow.path_taken (1200 s): "
                                    "INFO: task kworker/u8:1:57 blocked for more than 122 seconds.")

    def test_kunit_timeout_read_from_kunit_py_output(self):
        with tempfile.TemporaryDirectory() as d:
            write(os.path.join(d, "k.log"), "".join(lines("kunit-x86_64-stall.log")))
            write(os.path.join(d, "k.build.log"), "[12:00:02] Starting KUnit Kernel (1/1)...\n"
                  "Command '['qemu-system-x86_64', '-nodefaults']' timed out after 120 seconds\n")
            self.assertEqual(bounded.kunit_crash(d, "k")["how"], "timed out")
            write(os.path.join(d, "k.build.log"), "[12:00:02] Starting KUnit Kernel (1/1)...\n")
            self.assertEqual(bounded.kunit_crash(d, "k")["how"], "crashed")  # the stall lines
            os.unlink(os.path.join(d, "k.log"))
            self.assertIsNone(bounded.kunit_crash(d, "k"))  # never booted: not a crash


class KernelArgsTest(unittest.TestCase):
    def test_kunit_gets_only_what_acts_before_the_suites_run(self):
        k = bounded.kernel_args("kunit")
        for a in ("oops=panic", "panic=-1", "softlockup_panic=1", "rcupdate.rcu_cpu_stall_timeout=60"):
            self.assertIn(a, k)
        # sysctl.* (and the hung_task_panic alias) are applied when init starts, after KUnit
        self.assertFalse([a for a in k if a.startswith("sysctl.") or "hung_task" in a], k)
        v = bounded.kernel_args("vm")
        self.assertEqual(v[:len(k)], k)
        for a in ("sysctl.kernel.hung_task_panic=1", "sysctl.kernel.hung_task_timeout_secs=60",
                  "sysctl.kernel.panic_on_rcu_stall=1"):
            self.assertIn(a, v)
        self.assertNotIn("panic_on_warn=1", v)

    def test_ci_vm_command_lines(self):
        vm = vmrun
        q = vm.qemu_command("bzImage", "initrd", 2048, True)
        self.assertIn("-no-reboot", q)
        append = q[q.index("-append") + 1].split()
        self.assertEqual(append[:2], ["console=ttyS0", "kunit.enable=0"])
        for a in bounded.kernel_args("vm"):
            self.assertIn(a, append)
        off = vm.qemu_command("bzImage", "initrd", 2048, False)
        self.assertEqual([a for a in off[off.index("-append") + 1].split() if "panic" in a], ["panic=-1"])
        u = vm.um_command("linux", "/w", 2048, True)
        self.assertTrue(set(bounded.kernel_args("vm")) <= set(u), u)
        self.assertEqual([a for a in vm.um_command("linux", "/w", 2048, False) if "panic" in a], ["panic=-1"])

    def test_timeouts_sized_to_the_work(self):
        self.assertEqual(bounded.vm_timeout(True, False), bounded.VM_TIMEOUT["plain"])
        self.assertEqual(bounded.vm_timeout(True, True), bounded.VM_TIMEOUT["debug"])
        self.assertEqual(bounded.vm_timeout(False, False), bounded.OTHER_TIMEOUT)
        self.assertEqual(bounded.ab_timeout(True), bounded.AB_TIMEOUT)
        self.assertLess(bounded.KUNIT_TIMEOUT["plain"], 900)

    def test_bounded_off_switch(self):
        self.assertTrue(bounded.enabled({}))
        self.assertTrue(bounded.enabled({"ZSGATE_BOUNDED": ""}))
        self.assertFalse(bounded.enabled({"ZSGATE_BOUNDED": "0"}))


class SummaryVmCrashTest(unittest.TestCase):
    def test_vm_crash_is_one_problem_named_by_its_test(self):
        from zsgate import vm
        with tempfile.TemporaryDirectory() as d:
            write(os.path.join(d, "meta.json"), json.dumps({
                "kernel": {"version": "7.3.0-rc7", "part_a": True, "package": "p", "path": "/k"},
                "series": {"kind": "quilt", "id": "s", "path": "/s"},
                "runs": [{"name": f"vm-x86_64-{rev}", "arch": "x86_64", "revision": rev, "kind": "vm"}
                         for rev in ("base", "patched")]}))
            for rev, console in (("base", None), ("patched", "vm-x86_64-oops.log")):
                log = lines(console) if console else OK_CONSOLE.splitlines(True)
                ktap, complete = vm.guest_ktap(log)
                crash = bounded.classify(log, kind="vm", complete=complete, timed_out=False)
                problems = [crash["text"]] if crash else []
                write(os.path.join(d, f"vm-x86_64-{rev}.log"), "".join(log))
                write(os.path.join(d, f"vm-x86_64-{rev}.json"),
                      json.dumps(vm.kunit_like_json("x", vm.parse_results(ktap), problems)))
                write(os.path.join(d, f"vm-x86_64-{rev}.vm.json"), json.dumps({
                    "status": "complete" if complete else "incomplete", "problems": problems,
                    "splats": [], "crash": crash}))
            r = summarize.run(d)
            self.assertEqual(r.returncode, 1, r.stdout)
            text = ("crashed in zswap_free.race.writeback.invalidate: "
                    "BUG: unable to handle page fault for address: ffff888100000000")
            self.assertIn(f"verdict: FAIL - vm-x86_64-patched {text}", r.stdout)
            s = load(os.path.join(d, "summary.json"))
            self.assertIn(f"vm-x86_64-patched: {text}", s["problems"])
            self.assertFalse([p for p in s["problems"] if "the VM run is" in p], s["problems"])
            runs = {x["name"]: x for x in s["runs"]}
            # not ci/vm's problem lines (they name the test too), not the collection
            self.assertEqual(runs["vm-x86_64-patched"]["failed_cases"], ["zswap_free.race.writeback.invalidate"])
            self.assertIn("vm-x86_64-patched: 1 failed that pass on base: zswap_free.race.writeback.invalidate",
                          s["problems"])
            self.assertNotIn("crash", runs["vm-x86_64-base"])


# kunit.py stand-in: records its arguments, "builds", and boots into FAKE_CONSOLE (the
# JSON kunit.py makes of it: FAKE_JSON), printing kunit.py's timeout line if FAKE_TIMEOUT
RECORDING_KUNIT = r'''#!/usr/bin/env python3
import json, os, shutil, sys
args = sys.argv[2:]
bd = next(a.split("=", 1)[1] for a in args if a.startswith("--build_dir="))
js = next(a.split("=", 1)[1] for a in args if a.startswith("--json="))
with open(os.environ["FAKE_ARGS"], "w") as f:
    json.dump(args, f)
os.makedirs(os.path.join(bd, "arch/x86/boot"), exist_ok=True)
with open(os.path.join(bd, ".config"), "w") as f:
    f.write("CONFIG_ZSMALLOC=y\nCONFIG_BLK_DEV_INITRD=y\nCONFIG_DEVTMPFS=y\nCONFIG_SMP=y\n")
with open(os.path.join(bd, "arch/x86/boot/bzImage"), "w") as f:
    f.write("image")
print("[12:00:02] Starting KUnit Kernel (1/1)...")
shutil.copyfile(os.environ["FAKE_CONSOLE"], os.path.join(bd, "test.log"))
if os.environ.get("FAKE_TIMEOUT"):
    print("Command '['qemu-system-x86_64']' timed out after %s seconds" % os.environ["FAKE_TIMEOUT"])
shutil.copyfile(os.environ["FAKE_JSON"], js)
sys.exit(1)
'''

CRASHED_JSON = {"name": "KUnit Test Group", "test_cases": [], "sub_groups": [
    {"name": "zsmalloc", "sub_groups": [], "test_cases": [
        {"name": "test_free_migrate_race", "status": "FAIL"},
        {"name": "test_deferred_flush_on_destroy", "status": "PASS"},
        {"name": "", "status": "ERROR"}]}]}
PASS_JSON = {"name": "KUnit Test Group", "test_cases": [], "sub_groups": [
    {"name": "zsmalloc", "sub_groups": [], "test_cases": [
        {"name": "test_free_migrate_race", "status": "FAIL"},
        {"name": "test_deferred_flush_on_destroy", "status": "PASS"},
        {"name": "test_deferred_enqueue_vs_drain", "status": "PASS"}]}]}


class CiKunitTest(unittest.TestCase):
    """ci/kunit with a kunit.py stand-in."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.tree = fake_tree(os.path.join(d, "patched/linux"), "rev")
        write(os.path.join(self.tree, "tools/testing/kunit/kunit.py"), RECORDING_KUNIT)
        self.out = os.path.join(d, "run")
        write(os.path.join(d, "crashed.json"), json.dumps(CRASHED_JSON))
        self.env = dict(os.environ, ZSGATE_BUILD_LOCK=os.path.join(d, "lock"), JOBS="1",
                        FAKE_ARGS=os.path.join(d, "args.json"), FAKE_JSON=os.path.join(d, "crashed.json"),
                        FAKE_CONSOLE=os.path.join(DATA, "kunit-x86_64-oops.log"))
        self.env.pop("ZSGATE_BOUNDED", None)
        self.env.pop("ZSGATE_KUNIT_TIMEOUT", None)

    def tearDown(self):
        self.tmp.cleanup()

    def kunit(self, *extra, **env):
        r = subprocess.run([os.path.join(CI, "kunit"), "--tree", self.tree, "--arch", "x86_64", "--out", self.out,
                            "--name", "kunit-x86_64-patched", *extra], env=dict(self.env, **env),
                           capture_output=True, text=True)
        return r, load(self.env["FAKE_ARGS"])

    def test_bounded_by_default_named_crash_and_the_way_off(self):
        r, args = self.kunit()
        self.assertEqual(r.returncode, 1, r.stderr)
        kargs = [args[i + 1] for i, a in enumerate(args) if a == "--kernel_args"]
        for a in bounded.kernel_args("kunit"):
            self.assertIn(a, kargs)
        self.assertIn(f"--timeout={bounded.KUNIT_TIMEOUT['plain']}", args)
        self.assertIn("--kunitconfig=" + os.path.join(os.path.dirname(CI), "configs", "bounded.config"), args)
        self.assertIn("kunit kunit-x86_64-patched: crashed in test_deferred_enqueue_vs_drain: "
                      "BUG: kernel NULL pointer dereference, address: 0000000000000008", r.stderr)

        # off: no panics on the command line, the config stays (same image), own timeout
        r, args = self.kunit("--no-bounded", ZSGATE_KUNIT_TIMEOUT="77", FAKE_TIMEOUT="77",
                             FAKE_CONSOLE=os.path.join(DATA, "kunit-x86_64-stall.log"))
        kargs = [args[i + 1] for i, a in enumerate(args) if a == "--kernel_args"]
        self.assertFalse([a for a in kargs if "panic" in a], kargs)
        self.assertIn("--timeout=77", args)
        self.assertIn("--kunitconfig=" + os.path.join(os.path.dirname(CI), "configs", "bounded.config"), args)
        self.assertIn("timed out in test_contract_deferred_all_cpus (77 s): rcu: INFO: rcu_preempt detected stalls",
                      r.stderr)
        r, args = self.kunit("--kcsan", ZSGATE_BOUNDED="0")
        self.assertFalse([a for a in args if "oops=panic" in a], args)
        self.assertIn(f"--timeout={bounded.KUNIT_TIMEOUT['kcsan']}", args)


# ------------------------------------------------------------------ fake QEMU for ci/vm, ci/ab

OK_CONSOLE = """[    1.0] Run /init as init process
ZSGATE-VM: start 7.3.0-rc7 cpus=2 mem_kb=2047400
ZSGATE-KTAP-BEGIN
TAP version 13
1..2
# selftests: zram_free: zram_free
# ok 1 munmap.mb16.latency
# zsgate: backend=zram case=munmap size_mb=16 procs=1 median_us=9561 rounds=2
ok 1 selftests: zram_free: zram_free
# selftests: zswap_free: zswap_free
# ok 1 munmap.mb16.latency
# zsgate: backend=zswap case=munmap size_mb=16 procs=1 median_us=9561 rounds=2
ok 2 selftests: zswap_free: zswap_free
ZSGATE-KTAP-END
ZSGATE-VM: done
"""

# boots the image named on -kernel: "crash" prints DATA/vm-x86_64-oops.log and exits,
# "hang" prints DATA/vm-x86_64-hang.log and sleeps, anything else a clean run
FAKE_QEMU = r'''#!/usr/bin/env python3
import os, sys, time
args = sys.argv[1:]
d = os.environ["FAKE_QEMU_DIR"]
with open(os.path.join(d, "boots"), "a") as f:
    f.write("%d %s\n" % (os.getpid(), args[args.index("-append") + 1]))
img = open(args[args.index("-kernel") + 1]).read()
if "crash" in img or "hang" in img:
    with open(os.path.join(os.environ["FAKE_DATA"], "vm-x86_64-%s.log" % ("oops" if "crash" in img else "hang"))) as f:
        sys.stdout.write(f.read())
    sys.stdout.flush()
    if "hang" in img:
        time.sleep(600)
    sys.exit(0)
sys.stdout.write(os.environ["FAKE_OK"])
'''


@unittest.skipUnless(os.path.isdir("/usr/share/qemu") and
                     (os.path.exists("/bin/busybox") or os.path.exists("/usr/bin/busybox")),
                     "ci/vm needs /usr/share/qemu (its QEMU working dir) and busybox for the initramfs")
class AbSkipsCrashedKernelTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.d = self.tmp.name
        self.trees = {}
        for rev in ("base", "patched"):
            self.trees[rev] = fake_tree(os.path.join(d, rev, "linux"), rev)
        self.run_dir = os.path.join(d, "run")
        self.bin = os.path.join(d, "bin")
        for c in ("zram_free", "zswap_free"):
            write(os.path.join(self.bin, c), "#!/bin/sh\n")
        fq = os.path.join(d, "qemu", "qemu-system-x86_64")
        write(fq, FAKE_QEMU)
        os.chmod(fq, 0o755)
        self.env = dict(os.environ, PATH=os.path.dirname(fq) + ":" + os.environ["PATH"],
                        ZSGATE_CACHE=os.path.join(d, "cache"), FAKE_QEMU_DIR=d, FAKE_DATA=DATA, FAKE_OK=OK_CONSOLE)
        for k in ("ZSGATE_BOUNDED", "ZSGATE_VM_TIMEOUT", "ZSGATE_AB_TIMEOUT"):
            self.env.pop(k, None)

    def tearDown(self):
        kill_all(self.boots())
        self.tmp.cleanup()

    def image(self, rev, what):
        stamped_image(self.trees[rev], "x86_64", rev, f"{rev} image: {what}")

    def boots(self):
        return recorded_pids(os.path.join(self.d, "boots"))

    def ab(self, *extra):
        return subprocess.run([os.path.join(CI, "ab"), "--base", self.trees["base"], "--patched",
                               self.trees["patched"], "--out", self.run_dir, "--bin", self.bin, *extra],
                              env=self.env, capture_output=True, text=True, timeout=120)

    def meta(self, runs):
        write(os.path.join(self.run_dir, "meta.json"), json.dumps({
            "kernel": {"version": "7.3.0-rc7", "part_a": True, "package": "p", "path": "/k"},
            "series": {"kind": "quilt", "id": "s", "path": "/s"},
            "runs": [{"name": f"{k}-x86_64-{rev}", "arch": "x86_64", "revision": rev, "kind": k}
                     for k, rev in runs]}))

    def test_kernel_crashed_in_kunit_is_not_booted(self):
        self.image("base", "clean")
        self.image("patched", "clean")
        os.makedirs(self.run_dir)
        self.meta([("kunit", "base"), ("kunit", "patched")])
        for rev, console, js in (("base", "kunit-x86_64-complete.log", PASS_JSON),
                                 ("patched", "kunit-x86_64-oops.log", CRASHED_JSON)):
            write(os.path.join(self.run_dir, f"kunit-x86_64-{rev}.log"), "".join(lines(console)))
            write(os.path.join(self.run_dir, f"kunit-x86_64-{rev}.json"), json.dumps(js))
        r = self.ab()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not running the A/B: patched: kunit-x86_64-patched crashed in "
                      "test_deferred_enqueue_vs_drain: BUG: kernel NULL pointer dereference", r.stderr)
        self.assertEqual(self.boots(), [])
        doc = load(os.path.join(self.run_dir, "ab.json"))
        self.assertIn("not booting that kernel again", doc["not_run"])

        # the verdict line names the crash; the made-up ERROR case is not listed beside it
        s = summarize.run(self.run_dir)
        self.assertEqual(s.returncode, 1, s.stdout)
        self.assertIn("verdict: FAIL - kunit-x86_64-patched crashed in test_deferred_enqueue_vs_drain: "
                      "BUG: kernel NULL pointer dereference, address: 0000000000000008", s.stdout)
        summ = load(os.path.join(self.run_dir, "summary.json"))
        self.assertIn("kunit-x86_64-patched: crashed in test_deferred_enqueue_vs_drain: "
                      "BUG: kernel NULL pointer dereference, address: 0000000000000008", summ["problems"])
        # the case it crashed in counts as failed, by name (not kunit.py's unnamed "zsmalloc.")
        self.assertIn("kunit-x86_64-patched: 1 failed that pass on base: zsmalloc.test_deferred_enqueue_vs_drain",
                      summ["problems"])
        runs = {x["name"]: x for x in summ["runs"]}
        self.assertEqual(runs["kunit-x86_64-patched"]["failed_cases"],
                         ["zsmalloc.test_free_migrate_race", "zsmalloc.test_deferred_enqueue_vs_drain"])
        self.assertEqual(runs["kunit-x86_64-patched"]["crash"]["how"], "crashed")
        self.assertTrue(any(p.startswith("A/B not run: patched: kunit-x86_64-patched crashed")
                            for p in summ["problems"]), summ["problems"])

    def test_crash_in_an_ab_boot_skips_the_rest(self):
        self.image("base", "clean")
        self.image("patched", "crash")
        t0 = time.time()
        r = self.ab("--rounds", "4")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertLess(time.time() - t0, 60)
        # r1: base (its latency boot and its per-call boot), then patched crashes
        self.assertEqual(len(self.boots()), 3, r.stderr)
        doc = load(os.path.join(self.run_dir, "ab.json"))
        self.assertEqual(doc["skipped"]["after"], "ab-x86_64-patched-r1")
        self.assertEqual(doc["skipped"]["boots"], ["ab-x86_64-patched-r2", "ab-x86_64-base-r2",
                                                   "ab-x86_64-base-r3", "ab-x86_64-patched-r3",
                                                   "ab-x86_64-patched-r4", "ab-x86_64-base-r4"])
        self.assertIn("ab-x86_64-patched-r1: the patched kernel crashed in zswap_free.race.writeback.invalidate: "
                      "BUG: unable to handle page fault for address: ffff888100000000: skipped the remaining 6 boot(s)",
                      r.stderr)
        vmj = load(os.path.join(self.run_dir, "ab", "ab-x86_64-patched-r1.vm.json"))
        self.assertEqual(vmj["crash"]["how"], "crashed")
        self.assertTrue(vmj["bounded"])
        # the guest's command line had the bounded mode's arguments
        append = read(os.path.join(self.d, "boots")).splitlines()[1].split(" ", 1)[1].split()
        self.assertTrue(set(bounded.kernel_args("vm")) <= set(append), append)
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "ab", "ab-x86_64-patched-r2.vm.json")))

    def test_hang_is_cut_at_the_timeout_and_nothing_is_left(self):
        self.image("base", "hang")
        self.image("patched", "clean")
        t0 = time.time()
        r = self.ab("--rounds", "2", "--timeout", "3")
        self.assertEqual(r.returncode, 2, r.stderr)  # no figures of base at all
        self.assertLess(time.time() - t0, 60)
        pids = self.boots()
        self.assertEqual(len(pids), 1, r.stderr)
        time.sleep(0.2)
        for pid in pids:
            with self.assertRaises(ProcessLookupError):
                os.kill(pid, 0)
        self.assertIn("the base kernel timed out in zram_free.teardown.p4_exit.concurrent (3 s): "
                      "skipped the remaining 3 boot(s)", r.stderr)


if __name__ == "__main__":
    unittest.main()
