# SPDX-License-Identifier: GPL-2.0
"""ci/vm's and ci/ab's code in the caller's process (zsgate/inproc.py), as the gate, ci/ab's
boots and an ab mutant run it: the exit codes a child would have given, nothing left behind
(signal handlers, cwd, os.environ, the log step) between calls, a SIGTERM ends the VM and
then the caller.

The VM is a stand-in UML "kernel" (a shell script) in a stamped build dir of a fake work
tree, as in test_signals.VmAbSignalTest: vmrun boots it for real (image copy, init script,
Popen, wait, the result files); it prints no KTAP, so a run is "no results" (exit 2).
"""
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

from tests.fakevm import kill_all, recorded_pids, stamped_image
from tests.test_build import fake_tree
from zsgate import abrun, inproc, log as zlog, vmrun

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUICK_UML = """#!/bin/sh
# a stand-in UML kernel: records its pid and ends at once (no KTAP: ci/vm says no results)
echo $$ >>"$FAKE_PIDS"
"""
# ... one that SIGTERMs the process running ci/vm's code (its parent), then runs on
TERM_UML = """#!/bin/sh
echo $$ >>"$FAKE_PIDS"
sleep 0.5
kill -TERM $PPID
exec sleep 300
"""


def _sentinel(sig, frame):  # the caller's own SIGTERM handler, which must be there afterwards
    raise AssertionError("the caller's handler ran")


class InProcessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="zsgate-inproc-")
        self.addCleanup(self.tmp.cleanup)
        d = self.tmp.name
        self.pids = os.path.join(d, "pids")
        self.out = os.path.join(d, "out")
        self.cache = os.path.join(d, "cache")
        self.env = mock.patch.dict(os.environ, {"ZSGATE_CACHE": self.cache, "FAKE_PIDS": self.pids})
        self.env.start()
        self.addCleanup(self.env.stop)
        os.environ.pop("ZSGATE_GUARD_STATE", None)
        self.trees = {rev: self.tree(os.path.join(d, rev, "linux"), rev, QUICK_UML) for rev in ("base", "patched")}
        # the caller's state, which the steps must leave as it is
        old = {s: signal.getsignal(s) for s in inproc.SIGNALS}
        self.addCleanup(lambda: [signal.signal(s, h) for s, h in old.items()])
        signal.signal(signal.SIGTERM, _sentinel)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        step = zlog._step
        self.addCleanup(setattr, zlog, "_step", step)
        zlog.set_step("gate")
        self.addCleanup(self.kill_vms)

    def tree(self, t, rev, kernel):
        fake_tree(t, rev)
        self.assertEqual(stamped_image(t, "um", rev, kernel)["status"], "ok")
        return t

    def vm_pids(self):
        return recorded_pids(self.pids)

    def kill_vms(self):
        kill_all(self.vm_pids())

    def state(self):
        return ({s: signal.getsignal(s) for s in inproc.SIGNALS}, os.getcwd(), dict(os.environ), zlog._step)

    def vm_args(self, rev, name):
        return ["--tree", self.trees[rev], "--arch", "um", "--out", self.out, "--name", name, "--bin", self.out]

    def ab_args(self, *extra):
        return ["--base", self.trees["base"], "--patched", self.trees["patched"], "--out", self.out,
                "--arch", "um", "--bin", self.out, *extra]

    def quiet(self, fn, *args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            r = fn(*args)
        return r, err.getvalue()

    def scratch(self):
        vmdir = os.path.join(self.cache, "vm")
        return [n for n in os.listdir(vmdir) if n.startswith(("run-", "img-"))] if os.path.isdir(vmdir) else []

    def test_a_gate_like_sequence_leaves_nothing_behind(self):
        before = self.state()
        seq = [("vm", vmrun.main, self.vm_args("base", "vm-um-base")),
               ("vm", vmrun.main, self.vm_args("patched", "vm-um-patched")),
               ("ab", abrun.main, self.ab_args("--rounds", "1"))]
        for what, main, args in seq:
            (rc, err) = self.quiet(inproc.call, main, args, what)
            self.assertEqual(rc, 2, err)  # booted, no KTAP: no results (a child's exit 2)
            self.assertEqual(self.state(), before, what)
            self.assertEqual(self.scratch(), [])
        # 2 VM runs, then the A/B's first boot: a kernel that ended before its tests is not
        # booted again (ci/ab skips the remaining boots)
        self.assertEqual(len(self.vm_pids()), 3)
        for n in ("vm-um-base", "vm-um-patched"):
            with open(os.path.join(self.out, n + ".vm.json")) as f:
                self.assertEqual(json.load(f)["status"], "incomplete")
        with open(os.path.join(self.out, "ab.json")) as f:
            doc = json.load(f)
        self.assertEqual([(r["name"], r["exit"]) for r in doc["runs"]], [("ab-um-base-r1", 2)])
        self.assertEqual(doc["skipped"]["boots"], ["ab-um-patched-r1"])
        # the boot's own step ("vm ab-um-base-r1") does not stay on ci/ab's lines
        self.assertIn("] vm ab-um-base-r1: booting um", err)
        self.assertIn("] ab: ab-um-base-r1: the base kernel ", err)
        self.assertIn("] ab: 0 cases, 0 regression(s)", err)

    def test_an_exception_in_the_step_is_its_failing_exit_code(self):
        before = self.state()

        def broken(argv):
            os.chdir("/")
            os.environ["ZSGATE_LEAK"] = "1"
            del os.environ["FAKE_PIDS"]
            signal.signal(signal.SIGTERM, inproc.on_term)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            zlog.set_step("vm broken")
            raise KeyError("boom")
        rc, err = self.quiet(inproc.call, broken, [], "vm")
        self.assertEqual(rc, 1)
        self.assertIn("Traceback (most recent call last)", err)
        self.assertIn("] vm broken: vm failed with KeyError: 'boom' (exit 1)", err)
        self.assertEqual(self.state(), before)
        # in ci/vm's own code, and in a boot of ci/ab's
        with mock.patch.object(vmrun, "boot", side_effect=OSError(28, "No space left on device")):
            rc, err = self.quiet(inproc.call, vmrun.main, self.vm_args("base", "vm-um-base"), "vm")
            self.assertEqual(rc, 1, err)
            self.assertIn("OSError: [Errno 28] No space left on device", err)
            self.assertEqual(self.state(), before)
            rc, err = self.quiet(inproc.call, abrun.main, self.ab_args("--rounds", "1"), "ab")
            self.assertEqual(rc, 2, err)  # every boot failed: no figures
            with open(os.path.join(self.out, "ab.json")) as f:
                doc = json.load(f)
            self.assertEqual([r["exit"] for r in doc["runs"]], [1, 1])
            self.assertIn("ab-um-base-r1: no results (exit 1)", doc["problems"])
            self.assertEqual(self.state(), before)
        self.assertEqual(self.scratch(), [])

    def test_exit_codes_of_system_exit(self):
        for exc, want in ((SystemExit(None), 0), (SystemExit(3), 3), (SystemExit("bad"), 1)):
            def main(argv, exc=exc):
                raise exc
            rc, err = self.quiet(inproc.call, main, [], "x")
            self.assertEqual(rc, want, exc)
        self.assertIn("bad", err)
        rc, err = self.quiet(inproc.call, vmrun.main, ["--arch", "um"], "vm")  # argparse: usage error
        self.assertEqual(rc, 2)
        self.assertIn("the following arguments are required", err)

    def test_sigterm_ends_the_vm_then_the_caller(self):
        before = self.state()
        self.tree(self.trees["base"], "base", TERM_UML)
        for what, main, args in (("vm", vmrun.main, self.vm_args("base", "vm-um-base")),
                                 ("ab", abrun.main, self.ab_args("--rounds", "3"))):
            with self.subTest(what=what):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.pids)
                t0 = time.time()
                with self.assertRaises(inproc.Terminated) as cm:
                    self.quiet(inproc.call, main, args, what)
                self.assertEqual((cm.exception.signum, cm.exception.code), (signal.SIGTERM, 128 + signal.SIGTERM))
                self.assertLess(time.time() - t0, 20)
                vms = self.vm_pids()
                self.assertEqual([p for p in vms if os.path.exists(f"/proc/{p}")], [], "the VM outlived the step")
                # ci/ab: base boots first in round 1, and its TERM ends the rounds there
                self.assertEqual(len(vms), 1)
                self.assertEqual(self.scratch(), [])
                self.assertEqual(self.state(), before)

    def test_sigterm_in_the_gates_vm_step_kills_the_gate_by_it(self):
        # the gate dies of the signal after the step's cleanups (its guard tells "killed by
        # SIGTERM" from an exit code), as it did when ci/vm was its child
        self.tree(self.trees["patched"], "patched", TERM_UML)
        code = ("import sys\nfrom zsgate import gate, vmrun\n"
                "g = gate.Gate(gate.GateConfig.from_env({}))\n"
                "print(g.in_process('vm', vmrun.main, sys.argv[1:]))\n")
        r = subprocess.run([sys.executable, "-c", code, *self.vm_args("patched", "vm-um-patched")],
                           cwd=CI, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, -signal.SIGTERM, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual([p for p in self.vm_pids() if os.path.exists(f"/proc/{p}")], [])
        self.assertEqual(self.scratch(), [])


if __name__ == "__main__":
    unittest.main()
