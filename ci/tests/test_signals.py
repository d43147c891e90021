# SPDX-License-Identifier: GPL-2.0
"""SIGINT / SIGTERM / kill -9 of `make gate` in each step: nothing the gate started survives,
no lock stays held, a run that did not reach its summary is no verdict, the next gate works
(issue 16; ci/zsgate/guard.py).

The real ci/gate (ci/zsgate/gate.py), ci/summary and guard run from a stand-in root whose
other steps (ci/source, ci/tree, ci/kunit, ci/vm, ci/ab) are fakes (the gate's in-process
source, tree, VM and A/B steps run them through tests/gatesteps.py): the one named by
FAKE_BLOCK starts processes that try to outlive the gate the ways the real ones could (a
process in its own session like ci/vm's QEMU, one deaf to SIGTERM, an orphan adopted by
init, a loop that keeps starting new children like ci/ab booting its next VM, all under the
build lock when the step is the build) and waits. Every fake process records its pid; the
oracle is that none of them is alive afterwards (by pid and by a marker in its environment).
"""
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from zsgate import guard
from tests import summarize

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BLOCK = r'''#!/bin/bash
# fake-block STEP: when FAKE_BLOCK=STEP, start processes that try to outlive the gate, wait
[ "${FAKE_BLOCK:-}" = "$1" ] || exit 0
p=$FAKE_DIR/pids
setsid sleep 300 & echo $! >>"$p"
(trap '' TERM INT HUP; exec sleep 301) & echo $! >>"$p"
(sleep 302 & echo $! >>"$p") &
python3 -c 'import time; time.sleep(303)' & echo $! >>"$p"
(while :; do sleep 304 & echo $! >>"$p"; sleep 0.1; done) & echo $! >>"$p"
echo $$ >>"$p"
touch "$FAKE_DIR/ready"
wait
'''

STEPS = {
    "deps": "exit 0\n",
    "source": '"$FAKE_DIR/fake-block" source\nprintf \'{"KSRC": "%s", "KVERSION": "7.3.0", "KPKG": "fake", "PART_A": "true"}\' "$FAKE_DIR/src" >"$2"\n',
    "tree": 'while [ $# -gt 0 ]; do case $1 in --name) n=$2; shift 2 ;; *) shift ;; esac; done\n'
            '"$FAKE_DIR/fake-block" tree\n'
            'mkdir -p "$ZSGATE_CACHE/work/$n"\nprintf \'TREE=%s\\nSERIES_ID=fake\\nPART_B=true\\n\' "$ZSGATE_CACHE/work/$n"\n',
    "kunit": 'while [ $# -gt 0 ]; do case $1 in --out) o=$2; shift 2 ;; --name) n=$2; shift 2 ;; *) shift ;; esac; done\n'
             'flock "$ZSGATE_BUILD_LOCK" "$FAKE_DIR/fake-block" kunit\n'
             '[ -z "${FAKE_ENOSPC:-}" ] || { echo "ld: final link failed: No space left on device" >"$o/$n.build.log"; exit 3; }\n'
             'echo \'{"name": "zsmalloc", "test_cases": [{"name": "t", "status": "PASS"}]}\' >"$o/$n.json"\n',
    "vm": 'while [ $# -gt 0 ]; do case $1 in --out) o=$2; shift 2 ;; --name) n=$2; shift 2 ;; *) shift ;; esac; done\n'
          '"$FAKE_DIR/fake-block" vm\n'
          'echo \'{"name": "vm", "test_cases": [{"name": "t", "status": "PASS"}]}\' >"$o/$n.json"\n'
          'echo \'{"status": "complete", "problems": [], "splats": []}\' >"$o/$n.vm.json"\n',
    "ab": 'while [ $# -gt 0 ]; do case $1 in --out) o=$2; shift 2 ;; *) shift ;; esac; done\n'
          '"$FAKE_DIR/fake-block" ab\n'
          'cat >"$o/ab.json" <<EOF\n{"arch": "x86_64", "labels": ["base", "patched"], "regressions": [], "problems": [],'
          ' "splats": [], "warnings": [], "pooled": [], "entries": [{"backend": "zram", "case": "munmap", "procs": 1,'
          ' "size_mb": 64, "speedup": 1.0, "speedup_lo": 0.9, "speedup_hi": 1.1, "base": {"median_us": 10},'
          ' "patched": {"median_us": 10}, "regression": false}]}\nEOF\n',
    "report": "exit 0\n",
    "kcidb": "exit 0\n",
}


def alive_marked(marker: str):
    """Live processes whose environment holds `marker` (not zombies)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read()
        except OSError:
            continue
        if marker.encode() in env and st[st.rindex(b")") + 2:][:1] not in (b"Z", b"X"):
            out.append(int(d))
    return out


def children(pid: int):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


class FakeGate(unittest.TestCase):
    """The real ci/gate in a stand-in root whose steps are fakes (see the module doc)."""
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="zsgate-signals-")
        t = cls.root = cls.tmp.name
        os.makedirs(os.path.join(t, "ci"))
        os.makedirs(os.path.join(t, "configs"))
        os.makedirs(os.path.join(t, "fake/src"))
        os.makedirs(os.path.join(t, "series"))
        open(os.path.join(t, "configs/zsmalloc-um.kunitconfig"), "w").close()
        with open(os.path.join(t, "series/series"), "w") as f:
            f.write("0001-x.patch\n")
        for n in ("gate", "meta", "summary", "zsgate"):
            os.symlink(os.path.join(CI, n), os.path.join(t, "ci", n))
        for n, body in STEPS.items():
            p = os.path.join(t, "ci", n)
            with open(p, "w") as f:
                f.write("#!/bin/bash\n" + body)
            os.chmod(p, 0o755)
        with open(os.path.join(t, "fake/fake-block"), "w") as f:
            f.write(BLOCK)
        os.chmod(os.path.join(t, "fake/fake-block"), 0o755)
        with open(os.path.join(t, "Makefile"), "w") as f:
            f.write("gate:\n\tci/gate\ncheck:\n\tci/check\n")
        with open(os.path.join(t, "ci", "check"), "w") as f:  # like ci/check: the gate, then more
            f.write("#!/bin/bash\nci/gate\necho 'stage 4: went on after the gate'\n")
        os.chmod(os.path.join(t, "ci", "check"), 0o755)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start(self, block: str, target: str = "gate", **extra):
        self.marker = f"FAKE_FAULTS_{uuid.uuid4().hex}=1"
        for f in ("pids", "ready"):
            try:
                os.unlink(os.path.join(self.root, "fake", f))
            except FileNotFoundError:
                pass
        env = dict(os.environ, FAKE_DIR=os.path.join(self.root, "fake"), FAKE_BLOCK=block,
                   ZSGATE_CACHE=os.path.join(self.root, "cache"), OUT=os.path.join(self.root, "out"),
                   ZSGATE_BUILD_LOCK=os.path.join(self.root, "build.lock"), ARCHS="um",
                   SERIES=os.path.join(self.root, "series"), ZSGATE_GUARD_GRACE="1",
                   ZSGATE_GATE_TEST_STEPS=os.path.join(CI, "tests", "gatesteps.py"),
                   **{self.marker.split("=")[0]: "1"}, **extra)
        env.pop("MAKELEVEL", None)
        env.pop("ZSGATE_GUARDED", None)
        # ci/check (zsgate/check.py) exports ZSGATE_ROOT: kept, the stand-in root's gate
        # would run the real root's steps instead of the fakes
        env.pop("ZSGATE_ROOT", None)
        env.pop("ZSGATE_T0", None)
        # its own session: the test sends "Ctrl-C" to make's process group. SIGINT at its
        # default, as in a terminal's foreground job: run from a background job (nohup, &)
        # the tests inherit SIGINT ignored, and a bash that ignores it goes on after its
        # child died of it
        self.make = subprocess.Popen(["make", "-s", target], cwd=self.root, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        return self.make

    def tearDown(self):
        # not the oracle (assert_all_gone is): a failed test must not leave its fakes running
        if getattr(self, "marker", None):
            guard.sweep(self.marker.split("=")[0], grace=1)

    def wait_ready(self):
        ready = os.path.join(self.root, "fake", "ready")
        end = time.time() + 20
        while not os.path.exists(ready):
            if self.make.poll() is not None:
                self.fail("the gate ended before the fake step blocked: "
                          + self.make.stdout.read().decode(errors="replace"))
            self.assertLess(time.time(), end, "the fake step never blocked")
            time.sleep(0.05)
        time.sleep(0.3)  # the loop has started a few children

    def latest(self):
        return os.path.realpath(os.path.join(self.root, "out", "latest"))


class GateSignalTest(FakeGate):
    def guard_pid(self) -> int:
        kids = children(self.make.pid)
        self.assertEqual(len(kids), 1, kids)
        if comm(kids[0]) == "check":  # make check: the guard is ci/check's child
            kids = children(kids[0])
        return kids[0]

    def bash_gate_pid(self) -> int:
        kids = [k for k in children(self.guard_pid()) if comm(k) == "gate" or comm(k) == "bash"]
        self.assertEqual(len(kids), 1, [(k, comm(k)) for k in children(self.guard_pid())])
        return kids[0]

    def fake_pids(self):
        with open(os.path.join(self.root, "fake", "pids")) as f:
            return [int(x) for x in f.read().split()]

    def assert_all_gone(self, t0: float, budget: float = 10.0):
        pids = self.fake_pids()
        self.assertGreaterEqual(len(pids), 7)
        end = t0 + budget
        while alive_marked(self.marker) and time.time() < end:
            time.sleep(0.1)
        left = alive_marked(self.marker)
        self.assertEqual(left, [], "still running: " + ", ".join(f"{p} {comm(p)}" for p in left))
        for p in pids:
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    self.assertNotIn(self.marker.encode(), f.read(), f"fake pid {p} alive")
            except OSError:
                pass  # gone
        return time.time() - t0

    def assert_locks_free(self):
        for lock in (os.path.join(self.root, "cache", "gate.lock"), os.path.join(self.root, "build.lock")):
            if not os.path.exists(lock):
                continue
            with open(lock) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self.fail(f"{lock} is still held")

    def assert_run_not_a_verdict(self, marker_text: str):
        run = self.latest()
        self.assertTrue(os.path.exists(os.path.join(run, "gate.interrupted"))
                        or os.path.exists(os.path.join(run, "gate.running")), os.listdir(run))
        r = subprocess.run([os.path.join(CI, "summary"), run], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(marker_text, r.stdout)
        self.assertIn("verdict: FAIL", r.stdout)

    def assert_next_gate_works(self):
        before = self.latest() if os.path.exists(os.path.join(self.root, "out", "latest")) else None
        m = self.start("")
        out, _ = m.communicate(timeout=60)
        out = out.decode(errors="replace")
        self.assertEqual(m.returncode, 0, out)
        self.assertIn("verdict: PASS", out)
        run = self.latest()
        self.assertNotEqual(run, before)
        self.assertFalse(os.path.exists(os.path.join(run, "gate.running")))
        self.assertFalse(os.path.exists(os.path.join(run, "gate.interrupted")))
        self.assertEqual(alive_marked(self.marker), [])

    def interrupt(self, block: str, how: str, want_marker: str = None, target: str = "gate"):
        m = self.start(block, target)
        self.wait_ready()
        guard = self.guard_pid()
        t0 = time.time()
        if how == "TERM make":
            m.send_signal(signal.SIGTERM)
        elif how == "INT group":  # Ctrl-C: the terminal signals the foreground process group
            os.killpg(m.pid, signal.SIGINT)
        elif how == "KILL make":
            m.kill()
        elif how == "KILL guard":
            os.kill(guard, signal.SIGKILL)
        elif how == "TERM bash gate":
            os.kill(self.bash_gate_pid(), signal.SIGTERM)
        out, _ = m.communicate(timeout=30)
        secs = self.assert_all_gone(t0)
        self.assert_locks_free()
        if want_marker:
            self.assert_run_not_a_verdict(want_marker)
        return out.decode(errors="replace"), secs

    def test_term_make_during_download(self):
        out, _ = self.interrupt("source", "TERM make")
        self.assertIn("interrupted by SIGTERM (last: gate: step source)", out)
        self.assert_next_gate_works()

    def test_ctrl_c_during_tree(self):
        out, _ = self.interrupt("tree", "INT group")
        self.assertIn("interrupted by SIGINT", out)
        self.assert_next_gate_works()

    def test_kill_make_during_build(self):
        self.interrupt("kunit", "KILL make", "the gate stopped before its summary: interrupted by SIGTERM")
        self.assert_next_gate_works()

    def test_kill_gate_during_vm(self):
        self.interrupt("vm", "KILL guard", "the gate was killed (SIGKILL?); last step: gate: step vm: vm-um-base")
        self.assert_next_gate_works()

    def test_term_make_during_ab(self):
        # seen 2026-12-01: ci/ab went on booting VMs as an orphan
        out, _ = self.interrupt("ab", "TERM make", "interrupted by SIGTERM; last step: gate: step ab: base vs patched")
        self.assertIn("verdict: FAIL", out)
        self.assert_next_gate_works()

    def test_ctrl_c_of_make_check_stops_check_too(self):
        # the guard dies of the signal, so the calling shell does not go on to its next stage
        out, _ = self.interrupt("vm", "INT group", "interrupted by SIGINT", target="check")
        self.assertNotIn("went on after the gate", out)

    def test_term_bash_gate_during_build(self):
        self.interrupt("kunit", "TERM bash gate", "the gate script was killed by SIGTERM")
        self.assert_next_gate_works()

    def test_term_gate_during_its_in_process_vm_step(self):
        # the step's SIGTERM handler ends the step; the gate then dies of the signal itself
        out, _ = self.interrupt("vm", "TERM bash gate", "the gate script was killed by SIGTERM")
        self.assertIn("the gate script was killed by SIGTERM", out)
        self.assertNotIn("step vm: vm-um-patched", out)
        self.assert_next_gate_works()

    def test_guard_sweeps_what_a_finished_gate_left(self):
        # a step that leaves a daemon behind (like a QEMU that outlived its ci/vm)
        vm = os.path.join(self.root, "ci", "vm")
        with open(vm) as f:
            body = f.read()
        try:
            with open(vm, "w") as f:
                f.write(body.replace('"$FAKE_DIR/fake-block" vm\n',
                                     '"$FAKE_DIR/fake-block" vm\nsetsid sleep 305 </dev/null >/dev/null 2>&1 &\n'
                                     'echo $! >>"$FAKE_DIR/pids"\n'))
            m = self.start("")
            out, _ = m.communicate(timeout=60)
            out = out.decode(errors="replace")
            self.assertEqual(m.returncode, 0, out)
            self.assertIn("the gate left 2 processes (sleep x2) running: ended them", out)  # one per VM run
            self.assertEqual(alive_marked(self.marker), [])
        finally:
            with open(vm, "w") as f:
                f.write(body)


if __name__ == "__main__":
    unittest.main()


PARENT = r"""
import signal, subprocess, sys
def bye(sig, _):
    sys.exit(143)  # like ci/ab: subprocess.run SIGKILLs its child on the way out
signal.signal(signal.SIGTERM, bye)
subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]])
"""
CHILD = r"""
import os, signal, sys, time
def bye(sig, _):
    time.sleep(0.3)  # like ci/vm: removing its scratch dirs takes a moment
    open(sys.argv[1], "w").write("cleaned up")
    sys.exit(143)
signal.signal(signal.SIGTERM, bye)
open(sys.argv[1] + ".ready", "w").close()
time.sleep(300)
"""


class GuardSweepTest(unittest.TestCase):
    def test_children_clean_up_before_their_parents_go_on(self):
        with tempfile.TemporaryDirectory() as d:
            tag = "ZSGATE_GUARD_TEST_" + uuid.uuid4().hex
            done = os.path.join(d, "done")
            p = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, done], env=dict(os.environ, **{tag: "1"}))
            end = time.time() + 10
            while not os.path.exists(done + ".ready") and time.time() < end:
                time.sleep(0.05)
            names = guard.sweep(tag, grace=3)
            p.wait(timeout=5)
            self.assertEqual(sum(names.values()), 2, names)
            self.assertTrue(os.path.exists(done), "the child was killed before it could clean up")
            self.assertEqual(guard.tagged(tag), [])


class InterruptedSummaryTest(unittest.TestCase):
    """ci/summary of a run the gate did not finish: the interruption, not a failed build."""

    def test_half_build_is_not_a_build_failure(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "meta.json"), "w") as f:
                json.dump({"kernel": {"version": "7.3.0", "part_a": True, "package": "p", "path": "/k"},
                           "series": None, "runs": [{"name": "kunit-x86_64-base", "arch": "x86_64",
                                                     "revision": "base", "kind": "kunit"}]}, f)
            with open(os.path.join(d, "kunit-x86_64-base.build.log"), "w") as f:
                f.write("[01:00:00] Building KUnit Kernel ...\n  CC      mm/zsmalloc.o\n")
            r = summarize.run(d)
            self.assertIn("build failed", r.stdout)  # without a marker: judged as a failed build
            with open(os.path.join(d, "gate.interrupted"), "w") as f:
                f.write("interrupted by SIGTERM; last step: gate: step kunit: kunit-x86_64-base\n")
            r = summarize.run(d)
            self.assertEqual(r.returncode, 1)
            self.assertNotIn("build failed", r.stdout)
            self.assertRegex(r.stdout, r"kunit-x86_64-base +not finished \(the gate stopped\)")
            self.assertIn("problem: the gate stopped before its summary: interrupted by SIGTERM", r.stdout)
            with open(os.path.join(d, "summary.json")) as f:
                self.assertEqual(json.load(f)["build_failures"], [])


@unittest.skipUnless(os.geteuid() == 0, "needs root (mounts a small tmpfs as ZSGATE_CACHE)")
class GateDiskTest(FakeGate):
    """A full disk stops the gate with one line naming the place and the space; nothing of
    the run is judged (no verdict line, no further step), the run dir says why."""

    def setUp(self):
        self.cache = os.path.join(self.root, "cache")
        os.makedirs(self.cache, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120m", "zsgate-gatedisk", self.cache], check=True)

    def tearDown(self):
        subprocess.run(["umount", "-l", self.cache], check=False)
        super().tearDown()

    def gate(self, **extra):
        m = self.start("", **extra)
        out, _ = m.communicate(timeout=60)
        return m.returncode, out.decode(errors="replace")

    def assert_stopped(self, rc, out, why):
        self.assertEqual(rc, 2, out)  # make: the gate exited 1
        self.assertIn(why, out)
        self.assertNotIn("verdict:", out)
        self.assertNotIn("step vm", out)
        run = self.latest()
        with open(os.path.join(run, "gate.interrupted")) as f:
            self.assertIn("stopped: " + why, f.read())
        r = subprocess.run([os.path.join(CI, "summary"), run], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("problem: the gate stopped before its summary: stopped: " + why, r.stdout)

    def test_no_room_for_a_build(self):
        rc, out = self.gate()
        self.assertRegex(out, f"not enough space for building kunit-um-base: {self.cache}/work/base/.kunit-um "
                              f"is on {self.cache}, which has 1[12][0-9] MB free; this needs about 150 MB")
        self.assert_stopped(rc, out, "not enough space for building kunit-um-base: ")

    def test_disk_filled_during_a_build(self):
        rc, out = self.gate(FAKE_ENOSPC="1", ZSGATE_NEED_SCALE="0")
        self.assert_stopped(rc, out, "the disk filled up during kunit-um-base")
        self.assertIn("ld: final link failed: No space left on device", out)
        self.assertNotIn("step kunit: kunit-um-patched", out)


FAKE_UML = """#!/bin/sh
# a stand-in for the UML kernel ci/vm boots: records its pid, then "runs" for 5 minutes
echo $$ >>"$FAKE_PIDS"
exec sleep 300
"""


class VmAbSignalTest(unittest.TestCase):
    """ci/vm and ci/ab alone (not under the gate's guard): killed, their VM goes with them."""

    def setUp(self):
        from tests.fakevm import stamped_image
        from tests.test_build import fake_tree
        self.tmp = tempfile.TemporaryDirectory(prefix="zsgate-vmsig-")
        d = self.tmp.name
        self.pids = os.path.join(d, "pids")
        self.trees = {}
        for rev in ("base", "patched"):
            t = fake_tree(os.path.join(d, rev, "linux"), rev)
            self.assertEqual(stamped_image(t, "um", rev, FAKE_UML)["status"], "ok")
            self.trees[rev] = t
        self.out = os.path.join(d, "out")
        self.cache = os.path.join(d, "cache")
        self.env = dict(os.environ, ZSGATE_CACHE=self.cache, FAKE_PIDS=self.pids)

    def tearDown(self):
        from tests.fakevm import kill_all
        kill_all(self.vm_pids())
        self.tmp.cleanup()

    def vm_pids(self):
        from tests.fakevm import recorded_pids
        return recorded_pids(self.pids)

    def wait_booted(self, p, n=1):
        end = time.time() + 20
        while len(self.vm_pids()) < n:
            self.assertIsNone(p.poll(), "ended before the VM started")
            self.assertLess(time.time(), end, "the fake VM never started")
            time.sleep(0.05)

    def assert_vms_gone(self, within=3.0):
        end = time.time() + within
        while time.time() < end and any(os.path.exists(f"/proc/{p}") and comm(p) == "sleep"
                                        for p in self.vm_pids()):
            time.sleep(0.05)
        left = [p for p in self.vm_pids() if os.path.exists(f"/proc/{p}") and comm(p) == "sleep"]
        self.assertEqual(left, [], "the VM outlived its runner")

    def vm(self):
        return subprocess.Popen([os.path.join(CI, "vm"), "--tree", self.trees["patched"], "--arch", "um",
                                 "--out", self.out, "--name", "vm-um-patched", "--bin", self.out],
                                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def test_kill_9_of_ci_vm_ends_its_vm(self):
        p = self.vm()
        self.wait_booted(p)
        p.kill()
        p.wait()
        self.assert_vms_gone()

    def test_sigterm_of_ci_vm_ends_its_vm_and_removes_its_scratch(self):
        p = self.vm()
        self.wait_booted(p)
        p.terminate()
        self.assertEqual(p.wait(timeout=10), 128 + signal.SIGTERM)
        self.assert_vms_gone()
        self.assertEqual([n for n in os.listdir(os.path.join(self.cache, "vm")) if n.startswith(("run-", "img-"))], [])

    def test_sigterm_of_ci_ab_boots_no_further_round(self):
        p = subprocess.Popen([os.path.join(CI, "ab"), "--base", self.trees["base"], "--patched",
                              self.trees["patched"], "--out", self.out, "--arch", "um", "--rounds", "3",
                              "--bin", self.out], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_booted(p)
        p.terminate()
        self.assertEqual(p.wait(timeout=10), 128 + signal.SIGTERM)
        self.assert_vms_gone()
        time.sleep(1)  # what an orphaned ci/ab would do meanwhile: boot the next round
        self.assertEqual(len(self.vm_pids()), 1, "ci/ab booted another VM after SIGTERM")
