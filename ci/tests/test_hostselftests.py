# SPDX-License-Identifier: GPL-2.0
"""zsgate.selftests, selftestfaults, kselftesttar (ci/selftests, ci/selftests-faults,
ci/kselftest-tar, once bash): what they read out of a run (KTAP per collection, figures,
verdict: the same as the bash version's awk/sed/grep on the same run.log), the host-state
diff (diff(1)'s), the tarball listing (tar -tzf's), and the faults run over fake binaries
and a fake host state: every case judged, the host put back at the end, also on SIGTERM
mid-case, exit 1 when it cannot be."""
import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import unittest
from unittest import mock

from zsgate import kselftesttar, selftestfaults, selftests

RUN_LOG = """TAP version 13
1..2
# timeout set to 300
# selftests: zram_free: zram_free
# TAP version 13
# 1..2
# # zsgate: fig a=1
#   zsgate: fig b=2
# ok 1 x.y.z
# ok 2 x.y.w # SKIP no zram
#
ok 1 selftests: zram_free: zram_free
# selftests: zswap_free: zswap_free
# ok 1 q.r.s
ok 2 selftests: zswap_free: zswap_free
trailing zsgate: here
"""

AWK = r'''$0 ~ "^# selftests: "c": " {on=1; next}
on && /^(not )?ok [0-9]+ selftests: / {on=0}
on {print}'''


def sh(cmd: str) -> str:
    return subprocess.run(["bash", "-c", cmd], stdout=subprocess.PIPE, text=True, check=True).stdout


class RunLogTest(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.d)
        self.log = os.path.join(self.d, "run.log")
        with open(self.log, "w") as f:
            f.write(RUN_LOG)
        self.lines = RUN_LOG.splitlines()

    def test_ktap_and_figures_as_the_bash_version(self):
        for c in selftests.COLLECTIONS:
            with self.subTest(collection=c):
                want = sh(f"sed -n 's/^# \\(.*\\)$/\\1/p' <(awk -v c={c} '{AWK}' {self.log})")
                self.assertEqual("".join(ln + "\n" for ln in selftests.collection_ktap(self.lines, c)), want)
        want = sh(f"grep -h 'zsgate: ' {self.log} | sed 's/^[# ]*zsgate:/# zsgate:/'")
        self.assertEqual("".join(ln + "\n" for ln in selftests.figures(self.lines)), want)

    def test_verdict(self):
        self.assertEqual(selftests.verdict(self.lines, 0, "/o"), (0, "ci/selftests: passed; KTAP in /o"))
        self.assertEqual(selftests.verdict(self.lines, 1, "/o")[0], 1)
        bad = self.lines + ["# not ok 3 a.b.c"]
        self.assertEqual(selftests.verdict(bad, 0, "/o"), (1, "ci/selftests: FAILED (see /o/run.log)"))
        short = [ln for ln in self.lines if "selftests: zswap_free: zswap_free" not in ln or ln.startswith("#")]
        self.assertEqual(selftests.verdict(short, 0, "/o"), (1, "ci/selftests: zswap_free did not report ok"))

    def test_options(self):
        self.assertEqual(selftests.split_args(["--quick", "--", "-t", "x"]), (["--quick"], ["-t", "x"]))
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as e:
            selftests.parser().parse_args(["stray"])
        self.assertEqual(e.exception.code, 2)
        self.assertIn("STATIC=1", selftests.make_command("/s", True, "install"))


class DiffAndTarTest(unittest.TestCase):
    def test_diff_is_diff1s(self):
        a = "swaps: \nzram: zram0=0\nzswap: enabled=N\nloop: \nfiles: \nstate: "
        b = "swaps: /dev/zram0 partition 100\nzram: zram0=0\nzswap: enabled=Y\nloop: \nfiles: \nstate: /run/zsgate/1.state"
        with tempfile.TemporaryDirectory() as d:
            for n, t in (("a", a), ("b", b)):
                with open(os.path.join(d, n), "w") as f:
                    f.write(t + "\n")
            want = subprocess.run(["diff", os.path.join(d, "a"), os.path.join(d, "b")], stdout=subprocess.PIPE,
                                  text=True).stdout
        self.assertEqual("".join(ln + "\n" for ln in selftestfaults.diff(a, b)), want)
        self.assertEqual(selftestfaults.diff(a, a), [])

    def test_members_are_tar_tzfs(self):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "t", "zram_free"))
            for p in ("run_kselftest.sh", "zram_free/zram_free"):
                with open(os.path.join(d, "t", p), "w") as f:
                    f.write("x")
            tgz = os.path.join(d, "k.tar.gz")
            subprocess.run(["tar", "-C", os.path.join(d, "t"), "-czf", tgz, "."], check=True)
            want = subprocess.run(["tar", "-tzf", tgz], stdout=subprocess.PIPE, text=True).stdout.splitlines()
            self.assertEqual(kselftesttar.members(tgz), want)
            self.assertEqual(kselftesttar.human_size(tgz), sh(f"du -h {tgz} | cut -f1").strip())


# A fake collection binary over a fake host state (the file $FAKE_STATE): a fault run changes
# the state and says it was killed (test: its "guardian" puts it back at once; guardian: it
# stays changed); a plain run or ZSGATE_REPAIR=1 puts it back unless FAKE_STUCK exists;
# FAKE_HANG makes a fault run wait to be killed (its guardian restores on SIGTERM).
FAKE_BIN = r"""#!/bin/bash
if [ -n "${ZSGATE_REPAIR:-}" ] || [ -z "${ZSGATE_FAULT:-}" ]; then
	[ -e "$FAKE_DIR/stuck" ] || cp "$FAKE_DIR/initial" "$FAKE_STATE"
	[ -n "${ZSGATE_REPAIR:-}" ] || echo "ok 1 munmap.mb64.latency"
	exit 0
fi
echo "changed by $0 $ZSGATE_FAULT" >>"$FAKE_STATE"
if [ -e "$FAKE_DIR/hang" ]; then
	trap 'cp "$FAKE_DIR/initial" "$FAKE_STATE"; exit 143' TERM
	touch "$FAKE_DIR/running"
	sleep 30 & wait
fi
echo "# zsgate: fault $ZSGATE_FAULT: SIGKILL"
case $ZSGATE_FAULT in *,guardian) ;; *) cp "$FAKE_DIR/initial" "$FAKE_STATE" ;; esac
exit 137
"""


class FaultsTest(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.d)
        self.state = os.path.join(self.d, "state")
        for p in (self.state, os.path.join(self.d, "initial")):
            with open(p, "w") as f:
                f.write("swaps: \nzram: \n")

    def fake_build(self, req, stdout=None, stderr=None):
        b = os.path.join(req.out, "build")
        os.makedirs(b, exist_ok=True)
        for c in selftests.COLLECTIONS:
            with open(os.path.join(b, c), "w") as f:
                f.write(FAKE_BIN)
            os.chmod(os.path.join(b, c), 0o755)
        print("built into", b, file=stdout)
        return 0

    def host_state(self):
        with open(self.state) as f:
            return f.read().rstrip("\n")

    def run_faults(self):
        env = {"KSRC": "/k", "OUT": os.path.join(self.d, "out"), "FAKE_DIR": self.d, "FAKE_STATE": self.state}
        so, se = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, env), mock.patch("os.geteuid", return_value=0), \
                mock.patch.object(selftestfaults, "host_state", self.host_state), \
                mock.patch.object(selftestfaults, "RESTORE_WAIT", 0.3), \
                mock.patch.object(selftests, "run", self.fake_build), \
                contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
            rc = selftestfaults.main([])
        return rc, so.getvalue(), se.getvalue()

    def test_every_case_passes_and_the_host_is_put_back(self):
        rc, out, err = self.run_faults()
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["TAP version 13", "1..20"])
        self.assertEqual(len([ln for ln in lines if ln.startswith("ok ")]), 20, out)
        self.assertIn("ok 2 - zram_free killed at setup (guardian): left changed by ", out)
        self.assertEqual(lines[-1], "# selftests-faults: 20 passed, 0 failed")
        self.assertEqual((rc, err), (0, "# the host is as it was before\n"))
        with open(os.path.join(self.d, "out", "faults.tap")) as f:
            self.assertEqual(f.read().splitlines(), lines[:-1])

    def test_sigterm_mid_case_stops_it_and_puts_the_host_back(self):
        open(os.path.join(self.d, "hang"), "w").close()
        running = os.path.join(self.d, "running")

        def term():
            for _ in range(200):
                if os.path.exists(running):
                    break
                threading.Event().wait(0.05)
            os.kill(os.getpid(), signal.SIGTERM)
        t = threading.Thread(target=term)
        t.start()
        rc, out, err = self.run_faults()
        t.join()
        self.assertEqual(rc, 128 + signal.SIGTERM)
        self.assertEqual(err, "# the host is as it was before\n")
        self.assertEqual(self.host_state(), "swaps: \nzram: ")
        self.assertIs(signal.getsignal(signal.SIGTERM), signal.SIG_DFL)

    def test_a_host_left_changed_is_exit_1_and_said(self):
        open(os.path.join(self.d, "stuck"), "w").close()
        rc, out, err = self.run_faults()
        self.assertEqual(rc, 1)
        self.assertIn("not ok 2 - zram_free killed at setup (guardian): left changed by ", out)
        self.assertTrue(err.startswith("# the host is NOT as it was before:\n#   "), err)

    def test_not_root_is_a_skip(self):
        so = io.StringIO()
        with mock.patch("os.geteuid", return_value=1000), contextlib.redirect_stdout(so):
            self.assertEqual(selftestfaults.main([]), 0)
        self.assertEqual(so.getvalue(), "TAP version 13\n1..0 # SKIP needs root (swapon, zram, zswap)\n")


if __name__ == "__main__":
    unittest.main()
