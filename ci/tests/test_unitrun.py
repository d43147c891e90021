# SPDX-License-Identifier: GPL-2.0
"""ci/zsgate/unitrun.py: the counts ci/check's stage 1 reads, from a small suite with
a pass, a failure, an error, a skip, an expected failure and a module that does not import."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SUITE = '''import unittest


class T(unittest.TestCase):
    def test_pass(self):
        self.assertEqual(1, 1)

    def test_fail(self):
        self.assertEqual(1, 2)

    def test_error(self):
        raise RuntimeError("boom")

    @unittest.skip("not here")
    def test_skip(self):
        pass

    @unittest.expectedFailure
    def test_expected(self):
        self.assertEqual(1, 2)
'''


def unitrun(tests_dir, out):
    env = dict(os.environ, PYTHONPATH=CI)
    return subprocess.run([sys.executable, "-m", "zsgate.unitrun", "--start", tests_dir,
                           "--top", os.path.dirname(tests_dir), "--json", out],
                          capture_output=True, text=True, env=env, cwd=CI)


class UnitRunTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.tests = os.path.join(self.tmp.name, "tests")
        os.makedirs(self.tests)
        self.out = os.path.join(self.tmp.name, "unit.json")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        with open(os.path.join(self.tests, name), "w", encoding="utf-8") as f:
            f.write(text)

    def test_counts_of_a_mixed_suite(self):
        self.write("__init__.py", "")
        self.write("test_mixed.py", SUITE)
        self.write("test_broken.py", "import no_such_module_zsgate\n")
        r = unitrun(self.tests, self.out)
        self.assertEqual(r.returncode, 1, r.stderr)
        with open(self.out, encoding="utf-8") as f:
            c = json.load(f)
        self.assertEqual(c, {"ran": 6, "passed": 2, "failed": 3, "skipped": 1, "failures": 1,
                             "errors": 2, "expected_failures": 1, "unexpected_successes": 0,
                             "ok": False})
        self.assertIn("FAILED (failures=1, errors=2, skipped=1, expected failures=1)", r.stderr)

    def test_all_passing(self):
        self.write("__init__.py", "")
        self.write("test_one.py", SUITE.split("    def test_fail")[0])
        r = unitrun(self.tests, self.out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out, encoding="utf-8") as f:
            c = json.load(f)
        self.assertEqual((c["ran"], c["passed"], c["failed"], c["ok"]), (1, 1, 0, True))


if __name__ == "__main__":
    unittest.main()
