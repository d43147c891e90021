# SPDX-License-Identifier: GPL-2.0
"""zsgate/check.py (make check): its counting of TAP lines and of the stages, over a
stand-in root whose ci/gate and tests/bad-input.sh are stubs, deps.main (in-process)
patched to pass, and the host stage's in-process zsgate.selftests / selftestfaults main()s
fakes (their output, on stdout and on the file descriptors, goes to the faults log); the
unit-test stage and mypy run for real on a one-test suite (check.ROOT patched)."""
import json
import os
import shutil
import sys
import tempfile
import unittest
from unittest import mock

from zsgate import check, deps

FAULTS_LOG = """# killing at each phase
ok 1 - zram_free killed at setup (test): the guardian restored the host in 0.3 s
ok 2 - zswap_free killed at pageout (guardian): the next run repaired it
not ok 3 - zram_free killed at verify (test): swap left on
ok 4 - zswap_free killed at verify # SKIP no zswap
"""

KTAP = """KTAP version 1
1..3
# ok 1 nested line, not counted
ok 1 integrity.roundtrip
ok 2 overflow.path_taken # SKIP no Part B
not ok 3 leak.pool_returns
"""


class TapCountsTest(unittest.TestCase):
    def test_top_level_lines_only_and_skip_is_not_a_pass(self):
        self.assertEqual(check.tap_counts(KTAP.splitlines()), {"pass": 1, "fail": 1, "skip": 1})

    def test_faults_log_counts_every_case(self):
        # the bash ci/check's pattern '^ok [0-9]+ .* - ' matched none of these lines: its
        # make check never counted the 20 fault cases (2026-12-02)
        self.assertEqual(check.tap_counts(FAULTS_LOG.splitlines()), {"pass": 2, "fail": 1, "skip": 1})


def stub(path: str, body: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


class StagesTest(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.d)
        self.out = os.path.join(self.d, "out")
        ci = os.path.join(self.d, "ci")
        stub(os.path.join(ci, "tests", "bad-input.sh"), "echo 'ok 1 - a'; echo 'ok 2 - b'\n")
        run = os.path.join(self.out, "r")
        summary = {"runs": [{"pass": 5, "fail": 0, "skip": 2}, {"pass": 3, "fail": 0, "skip": 1}]}
        stub(os.path.join(ci, "gate"), f"[ \"$ZSGATE_NO_AB\" = 1 ] || exit 7\nmkdir -p {run}\n"
             f"echo '{json.dumps(summary)}' >{run}/summary.json\nln -sfn r {self.out}/latest\n")
        stub(os.path.join(ci, "selftests"), "exit 99\n")  # there: stage 4 runs (zsgate.selftests)
        tests = os.path.join(ci, "tests", "unit")
        os.makedirs(tests)
        for p in (os.path.dirname(tests), tests):
            open(os.path.join(p, "__init__.py"), "w").close()
        with open(os.path.join(tests, "test_one.py"), "w") as f:
            f.write("import unittest\n\n\nclass T(unittest.TestCase):\n"
                    "    def test_a(self):\n        pass\n\n    @unittest.skip('x')\n"
                    "    def test_b(self):\n        pass\n")

    def run_check(self, **env):
        e = {"OUT": self.out, "KTAP": KTAP, "FAULTS": FAULTS_LOG, "ZSGATE_CACHE": os.path.join(self.d, "cache")}
        e.update(env)
        real_run = check._run

        def run(argv, env=None, log_to=None):
            argv = list(argv)
            if argv[1:3] == ["-m", "zsgate.unitrun"]:   # the real runner on the one-test suite
                argv = argv[:4] + [os.path.join(self.d, "ci", "tests", "unit"), "--top",
                                   os.path.join(self.d, "ci")] + argv[7:]
                env = dict(env or os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(check.__file__)))
            if argv[1:3] == ["-m", "mypy"]:
                argv = ["/bin/true"]
            return real_run(argv, env, log_to)
        self.calls = []

        def selftests_main(argv):   # ci/selftests --quick: the KTAP into $OUT
            self.calls.append(("selftests", argv, os.environ["OUT"]))
            os.makedirs(os.environ["OUT"], exist_ok=True)
            with open(os.path.join(os.environ["OUT"], "zram_free.ktap"), "w") as f:
                f.write(os.environ["KTAP"])
            return 0

        def faults_main(argv):      # ci/selftests-faults: TAP half by print(), half on fd 1
            self.calls.append(("selftests-faults", argv, os.environ["OUT"]))
            lines = os.environ["FAULTS"].splitlines(keepends=True)
            print("".join(lines[:2]), end="")
            sys.stdout.flush()
            os.write(1, "".join(lines[2:]).encode())
            return 0
        with mock.patch.dict(os.environ, e), mock.patch.object(check, "CI", os.path.join(self.d, "ci")), \
                mock.patch.object(check, "_run", run), mock.patch.object(deps, "main", lambda argv: 0), \
                mock.patch("sys.stdout") as so, \
                mock.patch("sys.stderr"), mock.patch.object(check.selftests, "main", selftests_main), \
                mock.patch.object(check.selftestfaults, "main", faults_main):
            rc = check.main([])
            self.assertEqual(os.environ["OUT"], self.out)  # put back after each in-process step
        self.assertEqual(self.calls, [("selftests", ["--quick"], os.path.join(self.out, "selftests-host")),
                                      ("selftests-faults", [], os.path.join(self.out, "selftests-faults"))])
        line = [c.args[0] for c in so.write.call_args_list if c.args[0].startswith("check:")]
        return rc, line[-1] if line else ""

    def test_counts_of_every_stage(self):
        rc, line = self.run_check()
        # unit 1 + 1 skip, mypy 1, bad input 2, gate 8/0/3, host 1/1/1, faults 2/1/1
        self.assertEqual(line, "check: 15 passed, 2 failed, 6 skipped")
        self.assertEqual(rc, 1)

    def test_green_when_nothing_fails(self):
        rc, line = self.run_check(KTAP="ok 1 a\n", FAULTS="ok 1 - b\n")
        self.assertEqual((rc, line), (0, "check: 14 passed, 0 failed, 4 skipped"))


if __name__ == "__main__":
    unittest.main()
