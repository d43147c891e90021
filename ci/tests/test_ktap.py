# SPDX-License-Identifier: GPL-2.0
"""NAME.ktap in this process (zsgate.vm.console_ktap, called by ci/kunit and ci/farm-collect)
is byte for byte what the script ci/ktap-extract it replaces printed, with a stand-in
kunit_parser.py and with a kernel tree's own when there is one (tests/test_vm.py's
kernel_tree()), on a made-up console and on the consoles in ci/tests/data."""
import glob
import os
import subprocess
import sys
import tempfile
import unittest

from tests.test_build import fake_tree
from tests.test_kunitrun import quiet
from tests.test_vm import DATA, kernel_tree
from zsgate import farm, kunitrun, vm

# ci/ktap-extract as it was before NAME.ktap was written in-process
OLD_SCRIPT = '''import sys

sys.path.insert(0, sys.argv[1])
import kunit_parser  # noqa: E402

lines = kunit_parser.extract_tap_lines(sys.stdin.read().splitlines())
while lines:
    print(lines.pop())
'''

# kunit_parser.py's extract_tap_lines and LineStream (linux 7.2), cut to what they use
STANDIN_PARSER = r'''import re
KTAP_START = re.compile(r'\s*KTAP version ([0-9]+)$')
TAP_START = re.compile(r'\s*TAP version ([0-9]+)$')
KTAP_END = re.compile(r'\s*(List of all partitions:|Kernel panic - not syncing: VFS:|reboot: System halted)')
EXECUTOR_ERROR = re.compile(r'\s*kunit executor: (.*)$')

class LineStream:
    def __init__(self, lines):
        self._lines, self._done, self._need_next, self._next = lines, False, True, (0, '')
    def _get_next(self):
        if not self._need_next:
            return
        try:
            self._next = next(self._lines)
        except StopIteration:
            self._done = True
        finally:
            self._need_next = False
    def peek(self):
        self._get_next()
        return self._next[1]
    def pop(self):
        s = self.peek()
        if self._done:
            raise ValueError(f'LineStream: going past EOF, last line was {s}')
        self._need_next = True
        return s
    def __bool__(self):
        self._get_next()
        return not self._done

def extract_tap_lines(kernel_output):
    def isolate(kernel_output):
        n, started, prefix_len = 0, False, 0
        for line in kernel_output:
            n += 1
            line = line.rstrip()
            if not started and KTAP_START.search(line):
                prefix_len, started = len(line.split('KTAP version')[0]), True
                yield n, line[prefix_len:]
            elif not started and TAP_START.search(line):
                prefix_len, started = len(line.split('TAP version')[0]), True
                yield n, line[prefix_len:]
            elif started and KTAP_END.search(line):
                break
            elif started:
                yield n, line[prefix_len:]
            elif EXECUTOR_ERROR.search(line):
                yield n, line
    return LineStream(lines=isolate(kernel_output))
'''

# a console with what could tell two readers apart: CR LF and a lone CR, a form feed and a
# vertical tab (str.splitlines() splits there), a byte that is not UTF-8, other UTF-8,
# trailing blanks, a line shorter than the prefix, the end marker, an executor error
SAMPLE = (b"boot \xe2\x80\x94 start\r\n"
          b"[    0.1] kunit executor: filter_glob: bad\n"
          b"[    0.2] KTAP version 1\r\n"
          b"[    0.2] 1..1\r"
          b"[    0.3]     KTAP version 1\n"
          b"[    0.3]     # Subtest: zsmalloc\x0c[    0.3]     1..2\n"
          b"[    0.4] # caf\xc3\xa9 \xff\xfe raw   \t\n"
          b"[    0.4]     ok 1 test_a\x0b[    0.5]     not ok 2 test_b\n"
          b"x\n"
          b"[    0.6] ok 1 zsmalloc\n"
          b"[    0.7] reboot: System halted\n"
          b"[    0.8] after the end\n")


def data_consoles():
    """The console logs in ci/tests/data (kunit.py's test.log and ci/vm's consoles)."""
    return sorted(glob.glob(os.path.join(DATA, "*", "*.log")))


class ConsoleKtapTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.old = os.path.join(self.d, "ktap-extract")
        with open(self.old, "w", encoding="utf-8") as f:
            f.write(OLD_SCRIPT)

    def tearDown(self):
        self.tmp.cleanup()

    def standin_tree(self, name="standin"):
        kdir = os.path.join(self.d, name, "tools", "testing", "kunit")
        os.makedirs(kdir)
        with open(os.path.join(kdir, "kunit_parser.py"), "w", encoding="utf-8") as f:
            f.write(STANDIN_PARSER)
        return os.path.join(self.d, name)

    def old_ktap(self, tree, console):
        """What ci/ktap-extract printed (stdio as in the gate: UTF-8, bytes passed through)."""
        with open(console, "rb") as i:
            r = subprocess.run([sys.executable, self.old, os.path.join(tree, "tools", "testing", "kunit")],
                               stdin=i, capture_output=True, check=True,
                               env=dict(os.environ, PYTHONIOENCODING="utf-8:surrogateescape"))
        return r.stdout

    def new_ktap(self, tree, console):
        kp = vm.kunit_parser_of(tree)
        self.assertIsNotNone(kp, tree)
        out = os.path.join(self.d, "new.ktap")
        vm.console_ktap(kp, console, out)
        with open(out, "rb") as f:
            return f.read()

    def same_for(self, tree):
        sample = os.path.join(self.d, "sample.log")
        with open(sample, "wb") as f:
            f.write(SAMPLE)
        consoles = [sample] + data_consoles()
        self.assertGreater(len(consoles), 10)
        nonempty = 0
        for c in consoles:
            with self.subTest(console=os.path.relpath(c, DATA)):
                old = self.old_ktap(tree, c)
                self.assertEqual(self.new_ktap(tree, c), old)
                nonempty += bool(old)
        self.assertGreater(nonempty, 5)
        return self.new_ktap(tree, sample)

    def test_standin_parser(self):
        got = self.same_for(self.standin_tree())
        self.assertIn(b"# caf\xc3\xa9 \xff\xfe raw\n", got)
        self.assertTrue(got.startswith(b"[    0.1] kunit executor: filter_glob: bad\nKTAP version 1\n1..1\n"), got)
        self.assertNotIn(b"after the end", got)

    def test_the_trees_own_parser(self):
        tree = kernel_tree()
        if tree is None:
            self.skipTest("no kernel source with tools/testing/kunit/kunit_parser.py "
                          "(ZSGATE_TEST_KSRC, or ci/source into the cache)")
        self.same_for(tree)
        # the gate run's NAME.ktap files in ci/tests/data were written by ci/ktap-extract
        for ktap in glob.glob(os.path.join(DATA, "kcidb-run", "kunit-*.ktap")):
            with open(ktap, "rb") as f:
                self.assertEqual(self.new_ktap(tree, ktap[:-len(".ktap")] + ".log"), f.read(), ktap)

    def test_kunit_step_without_a_parser_leaves_it_empty(self):
        tree = fake_tree(os.path.join(self.d, "linux"), "s")
        console, ktap = os.path.join(self.d, "k.log"), os.path.join(self.d, "k.ktap")
        with open(console, "wb") as f:
            f.write(SAMPLE)
        _, _, err = quiet(kunitrun.ktap_extract, tree, console, ktap)
        self.assertEqual(os.path.getsize(ktap), 0)
        self.assertIn("no usable tools/testing/kunit/kunit_parser.py", err)
        tree = self.standin_tree()
        _, _, err = quiet(kunitrun.ktap_extract, tree, console, ktap)
        self.assertEqual(err, "")
        with open(ktap, "rb") as f:
            self.assertEqual(f.read(), self.old_ktap(tree, console))

    def test_farm_console_with_the_trees_kunit_tool(self):
        tree = kernel_tree()
        if tree is None:
            self.skipTest("no kernel source with tools/testing/kunit/kunit.py")
        out = os.path.join(self.d, "farm")
        os.makedirs(out)
        log = os.path.join(DATA, "kcidb-run", "kunit-x86_64-patched.log")
        spec = farm.Spec(kind="kunit", arch="x86_64", revision="patched", path=log)
        farm.kunit_files(out, "k", spec, os.path.join(tree, "tools", "testing", "kunit"))
        with open(os.path.join(out, "k.ktap"), "rb") as f:
            self.assertEqual(f.read(), self.old_ktap(tree, log))


if __name__ == "__main__":
    unittest.main()
