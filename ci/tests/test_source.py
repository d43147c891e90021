# SPDX-License-Identifier: GPL-2.0
"""ci/source (zsgate/kernelsrc.py) against a local fake Debian archive: a damaged cached .deb or unpacked tree is
found (the archive index's sha256, the manifest written after a complete unpack) and
fetched or unpacked again; a download that does not match the index is refused; a cut-short
download or unpack is redone; a full disk is one line naming the place and the space
(issue 16). The archive: a tiny linux-source-7.3 .deb of ci/tests/fakesrc.py's tree, its
Packages and Release (dpkg-scanpackages, apt-ftparchive), unsigned (ZSGATE_APT_TRUSTED=1).
"""
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import unittest.mock

from tests import fakesrc

CI = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG, VER = "linux-source-7.3", "7.3~rc7-1~exp1"
DEB = f"{PKG}_{VER}_all.deb"
TOOLS = all(shutil.which(t) for t in ("apt-get", "dpkg-deb", "dpkg-scanpackages", "apt-ftparchive", "xz"))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def make_archive(root: str, big_mb: int = 0, index_size: int = 0) -> str:
    """A Debian archive at root/repo holding PKG VER; returns its copy:// URI. index_size:
    the Size the index gives for the .deb (a download check refuses before fetching)."""
    k = os.path.join(root, "k")
    fakesrc.make(os.path.join(k, "linux-source-7.3"))
    if big_mb:  # compresses to nothing, unpacks to big_mb
        with open(os.path.join(k, "linux-source-7.3", "big"), "wb") as f:
            f.write(b"\0" * (big_mb << 20))
    pr = os.path.join(root, "pkg")
    os.makedirs(os.path.join(pr, "DEBIAN"))
    os.makedirs(os.path.join(pr, "usr/src"))
    sh(["tar", "-C", k, "-cJf", os.path.join(pr, "usr/src/linux-source-7.3.tar.xz"), "linux-source-7.3"])
    with open(os.path.join(pr, "DEBIAN/control"), "w") as f:
        f.write(f"Package: {PKG}\nVersion: {VER}\nArchitecture: all\nMaintainer: t <t@t>\n"
                "Installed-Size: 1\nDescription: a stand-in\n")
    repo = os.path.join(root, "repo")
    os.makedirs(os.path.join(repo, "pool/main"))
    sh(["dpkg-deb", "--build", "--root-owner-group", pr, os.path.join(repo, "pool/main", DEB)])
    for suite, has in (("experimental", True), ("unstable", False)):
        d = os.path.join(repo, "dists", suite, "main/binary-amd64")
        os.makedirs(d)
        pk = sh(["dpkg-scanpackages", "-m", "pool", "/dev/null"], cwd=repo).stdout if has else ""
        if index_size:
            pk = re.sub(r"(?m)^Size: \d+$", f"Size: {index_size}", pk)
        with open(os.path.join(d, "Packages"), "w") as f:
            f.write(pk)
        rel = sh(["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={suite}",
                  "-o", f"APT::FTPArchive::Release::Codename={suite}",
                  "-o", "APT::FTPArchive::Release::Architectures=amd64 all",
                  "-o", "APT::FTPArchive::Release::Components=main", "release", "."],
                 cwd=os.path.join(repo, "dists", suite)).stdout
        with open(os.path.join(repo, "dists", suite, "Release"), "w") as f:
            f.write(rel)
    return "copy://" + repo


@unittest.skipUnless(TOOLS, "needs apt-get, dpkg-deb, dpkg-scanpackages, apt-ftparchive, xz (ci/deps)")
class SourceFaultTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="zsgate-source-")
        cls.mirror = make_archive(os.path.join(cls.tmp.name, "a"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.cache = tempfile.mkdtemp(prefix="cache-", dir=self.tmp.name)

    def source(self, cache=None, mirror=None, **env):
        return self.source_args([], cache, mirror, **env)

    def source_args(self, args, cache=None, mirror=None, **env):
        e = dict(os.environ, ZSGATE_CACHE=cache or self.cache, ZSGATE_MIRROR=mirror or self.mirror,
                 ZSGATE_APT_TRUSTED="1", **env)
        for k in ("KDIR", "BASE", "ZSGATE_KPKG", "ZSGATE_REFRESH", "ZSGATE_VERIFY_SOURCE"):
            if k not in env:
                e.pop(k, None)
        return subprocess.run([os.path.join(CI, "source"), *args], env=e, capture_output=True, text=True)

    def ksrc(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        return dict(line.split("=", 1) for line in r.stdout.splitlines())["KSRC"]

    def deb(self, cache=None):
        return os.path.join(cache or self.cache, "apt/archives", DEB)

    def test_json_and_ksrc_outputs(self):
        """--json FILE: the same four values as the assignments, in a file, stdout empty
        (treeprep.find_source reads it); --ksrc: the path alone."""
        want = dict(line.split("=", 1) for line in self.source().stdout.splitlines())
        with tempfile.TemporaryDirectory() as t:
            r = self.source_args(["--json", os.path.join(t, "s.json")])
            self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
            with open(os.path.join(t, "s.json")) as f:
                got = json.load(f)
        self.assertEqual(sorted(got), ["KPKG", "KSRC", "KVERSION", "PART_A"])
        self.assertEqual(got["KSRC"], want["KSRC"])
        self.assertTrue(got["KPKG"].startswith(PKG + " "), got)
        r = self.source_args(["--ksrc"])
        self.assertEqual(r.stdout, want["KSRC"] + "\n")
        self.assertNotEqual(self.source_args(["--bogus"]).returncode, 0)

    def test_find_source_in_process(self):
        """treeprep.find_source: zsgate.kernelsrc in this process, the --json file's values, its
        lines as the step "source", the caller's step name put back; a failure is a TreeError."""
        from zsgate import log, treeprep
        with tempfile.TemporaryDirectory() as t:
            self.assertEqual(self.source_args(["--json", os.path.join(t, "s.json")]).returncode, 0)
            with open(os.path.join(t, "s.json")) as f:
                want = json.load(f)
        env = {"ZSGATE_CACHE": self.cache, "ZSGATE_MIRROR": self.mirror, "ZSGATE_APT_TRUSTED": "1"}
        err = io.StringIO()
        log.set_step("caller")
        try:
            with unittest.mock.patch.dict(os.environ, env), contextlib.redirect_stderr(err):
                got = treeprep.find_source(CI, {})
                self.assertEqual(log.step(), "caller")
                with self.assertRaises(treeprep.TreeError):
                    treeprep.find_source(CI, {"KDIR": "/nonexistent"})
        finally:
            log.set_step("")
        self.assertEqual(got, want)
        self.assertRegex(err.getvalue(), r"\] source: using cached ")
        self.assertIn("zsgate: source: KDIR=/nonexistent does not exist", err.getvalue())

    def test_cold_then_cached(self):
        r = self.source()
        ksrc = self.ksrc(r)
        self.assertIn("downloading " + DEB, r.stderr)
        self.assertIn("unpacking " + DEB, r.stderr)
        self.assertEqual(fakesrc.read(ksrc, "mm/a.c"), fakesrc.FILES["mm/a.c"])
        self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(ksrc), ".zsgate-manifest")))
        r = self.source()
        self.assertEqual(self.ksrc(r), ksrc)
        self.assertIn("using cached", r.stderr)
        self.assertNotIn("downloading", r.stderr)

    def test_damaged_tree_is_unpacked_again_from_the_checked_deb(self):
        ksrc = self.ksrc(self.source())
        with open(os.path.join(ksrc, "mm/zsmalloc.c"), "r+") as f:
            f.truncate(3)
        r = self.source()
        self.assertEqual(self.ksrc(r), ksrc)
        self.assertIn("is damaged: 1 file(s) differ from the manifest written when it was unpacked: "
                      "mm/zsmalloc.c: 3 bytes, the manifest says", r.stderr)
        self.assertIn("unpacking it again from", r.stderr)
        self.assertNotIn("downloading", r.stderr)
        self.assertEqual(fakesrc.read(ksrc, "mm/zsmalloc.c"), fakesrc.FILES["mm/zsmalloc.c"])
        self.assertIn("using cached", self.source().stderr)

    def test_rewritten_in_place_and_removed_files(self):
        ksrc = self.ksrc(self.source())
        with open(os.path.join(ksrc, "mm/a.c"), "r+") as f:  # same size: only the mtime says it
            f.write("ONE")
        os.unlink(os.path.join(ksrc, "mm/Makefile"))
        r = self.source()
        self.assertIn("2 file(s) differ", r.stderr)
        self.assertIn("mm/a.c: modified since it was unpacked", r.stderr)
        self.assertIn("mm/Makefile: missing", r.stderr)
        self.assertEqual(fakesrc.read(self.ksrc(r), "mm/a.c"), fakesrc.FILES["mm/a.c"])

    def test_same_size_same_mtime_needs_the_full_check(self):
        ksrc = self.ksrc(self.source())
        p = os.path.join(ksrc, "mm/a.c")
        st = os.stat(p)
        with open(p, "r+") as f:
            f.write("ONE")
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertIn("using cached", self.source().stderr)  # what the quick check cannot see
        r = self.source(ZSGATE_VERIFY_SOURCE="full")
        self.assertIn("mm/a.c: content differs (sha256)", r.stderr)
        self.assertEqual(fakesrc.read(self.ksrc(r), "mm/a.c"), fakesrc.FILES["mm/a.c"])

    def test_damaged_deb_and_tree_are_fetched_again(self):
        ksrc = self.ksrc(self.source())
        with open(self.deb(), "r+b") as f:
            f.truncate(100)
        os.unlink(os.path.join(ksrc, "mm/a.c"))
        r = self.source()
        self.assertIn("is damaged", r.stderr)
        self.assertIn("the cached .deb is gone or is not the one the index gave: asking the archive", r.stderr)
        self.assertIn(f"the cached {DEB} is damaged (100 bytes, the index says", r.stderr)
        self.assertIn("downloading " + DEB, r.stderr)
        self.assertEqual(fakesrc.read(self.ksrc(r), "mm/a.c"), fakesrc.FILES["mm/a.c"])

    def test_cut_short_download_and_unpack_are_redone(self):
        ksrc = self.ksrc(self.source())
        dest = os.path.dirname(ksrc)
        shutil.rmtree(dest)
        os.makedirs(dest + ".tmp/linux-source-7.3/mm")  # an unpack killed half-way
        with open(dest + ".tmp/linux-source-7.3/mm/zsmalloc.c", "w") as f:
            f.write("half")
        shutil.move(self.deb(), os.path.join(os.path.dirname(self.deb()), "partial", DEB))
        with open(os.path.join(os.path.dirname(self.deb()), "partial", DEB), "r+b") as f:
            f.truncate(1000)  # a download killed half-way
        r = self.source()
        self.assertEqual(self.ksrc(r), ksrc)
        self.assertIn("downloading " + DEB, r.stderr)
        self.assertEqual(fakesrc.read(ksrc, "mm/zsmalloc.c"), fakesrc.FILES["mm/zsmalloc.c"])
        self.assertFalse(os.path.exists(dest + ".tmp"))
        self.assertEqual(os.listdir(os.path.join(os.path.dirname(self.deb()), "partial")), [])

    def test_download_that_is_not_the_indexed_one_is_refused(self):
        bad = os.path.join(self.tmp.name, "bad")
        mirror = make_archive(bad)
        with open(os.path.join(bad, "repo/pool/main", DEB), "ab") as f:
            f.write(b"x")  # the archive serves another file than its index names
        r = self.source(mirror=mirror)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"download of linux-source-7.3 .* failed: .*(Hash Sum mismatch|Size mismatch|File has unexpected size)"
                         r"|does not match the archive's index")
        self.assertFalse(os.path.exists(self.deb()))
        self.assertFalse(os.path.isdir(os.path.join(self.cache, "src")) and os.listdir(os.path.join(self.cache, "src")))


class QuoteTest(unittest.TestCase):
    """The KEY=VALUE lines quote as bash's printf %q did (ci/source was bash)."""

    @unittest.skipUnless(shutil.which("bash"), "needs bash")
    def test_sh_quote_is_bash_printf_q(self):
        from zsgate import kernelsrc
        cases = ["", "/root/.cache/zsgate/src/linux-source-7.3_7.3_rc7-1_exp1/linux-source-7.3",
                 "linux-source-7.3 7.3~rc7-1~exp1", "7.3.0-rc7", "~x", "a=~b", "a:~b", "#a", "a#b",
                 "é b", "a\tb", "a\nb", "x\x01y", "it's", "\\"] + [f"a{chr(c)}b" for c in range(32, 127)] \
            + [chr(c) for c in range(32, 127)]
        for c in cases:
            want = subprocess.run(["bash", "-c", 'printf %q "$1"', "q", c], capture_output=True, text=True,
                                  env=dict(os.environ, LC_ALL="C.UTF-8")).stdout
            self.assertEqual(kernelsrc.sh_quote(c), want, repr(c))


@unittest.skipUnless(TOOLS and os.geteuid() == 0, "needs root (mounts a small tmpfs as ZSGATE_CACHE) and the apt tools")
class FullDiskTest(unittest.TestCase):
    """The cache on a small tmpfs: one line naming the place and the space, nothing unpacked
    or judged; a disk that fills during the unpack leaves no half tree."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="zsgate-fulldisk-")
        self.mnt = os.path.join(self.tmp.name, "cache")
        os.makedirs(self.mnt)
        self.mounted = False

    def mount(self, size):
        sh(["mount", "-t", "tmpfs", "-o", f"size={size}", "zsgate-fulldisk", self.mnt])
        self.mounted = True

    def tearDown(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.mnt], check=False)
        self.tmp.cleanup()

    def run_source(self, mirror, **env):
        e = dict(os.environ, ZSGATE_CACHE=self.mnt, ZSGATE_MIRROR=mirror, ZSGATE_APT_TRUSTED="1", **env)
        return subprocess.run([os.path.join(CI, "source")], env=e, capture_output=True, text=True)

    def test_no_room_for_the_index(self):
        mirror = make_archive(os.path.join(self.tmp.name, "a"))
        self.mount("1m")
        r = self.run_source(mirror)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("zsgate: source: not enough space for the archive's index (apt-get update): "
                      f"{self.mnt}/apt/lists is on {self.mnt}, which has 0 MB free; this needs about 60 MB", r.stderr)

    def test_no_room_for_the_download(self):
        mirror = make_archive(os.path.join(self.tmp.name, "a"), index_size=500 << 20)
        self.mount("80m")
        r = self.run_source(mirror)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"zsgate: source: not enough space for downloading " + DEB.replace("~", ".")
                         + f": {self.mnt}/apt/archives is on {self.mnt}, which has \\d+ MB free; this needs about 520 MB")
        self.assertFalse(os.path.exists(os.path.join(self.mnt, "apt/archives", DEB)))

    def test_no_room_for_the_unpack(self):
        mirror = make_archive(os.path.join(self.tmp.name, "a"))
        self.mount("90m")  # the index (60 MB) and the download (20 MB) fit, the tree's estimate (100 MB) does not
        r = self.run_source(mirror)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"not enough space for unpacking " + DEB.replace("~", ".")
                         + f": {self.mnt}/src is on {self.mnt}, which has \\d+ MB free; this needs about 100 MB")
        self.assertFalse(os.path.isdir(os.path.join(self.mnt, "src")) and os.listdir(os.path.join(self.mnt, "src")))

    def test_disk_full_during_the_unpack_leaves_no_half_tree(self):
        mirror = make_archive(os.path.join(self.tmp.name, "b"), big_mb=30)  # 30 MB of zeros, a tiny .deb
        self.mount("24m")
        r = self.run_source(mirror, ZSGATE_NEED_SCALE="0")  # no estimates: the write itself fails
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"zsgate: source: no space left on {self.mnt} (for {self.mnt}/src/", r.stderr)
        self.assertIn("tar -xf linux-source-7.3.tar.xz failed: tar: linux-source-7.3/big: ", r.stderr)
        self.assertEqual(os.listdir(os.path.join(self.mnt, "src")), [])  # no .tmp, no stamp
        # the same disk, made big enough: the next run works
        sh(["mount", "-o", "remount,size=64m", self.mnt])
        r = self.run_source(mirror, ZSGATE_NEED_SCALE="0")
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
