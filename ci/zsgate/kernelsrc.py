# SPDX-License-Identifier: GPL-2.0
"""The kernel source zsgate gates against (ci/source, `./zsgate source`, treeprep.find_source).

Usage: ci/source [--json FILE | --ksrc]

Default: Debian's linux-source-7.3 (experimental or unstable, whichever has it; else the
newest linux-source-7.N with N >= 3, said on stderr). BASE=7.2 (any 7.N) asks for
linux-source-7.N exactly: a base without Part A, to gate Part A revisions. Fetched with a
private apt configuration under $ZSGATE_CACHE/apt (apt-get, apt-cache run as children) and
unpacked under $ZSGATE_CACHE/src (dpkg-deb, xz, tar). A second run uses the cache and
downloads nothing (ZSGATE_REFRESH=1 asks the archive again). With KDIR=<tree>: that tree,
read-only.

Nothing half-done is taken as good, nothing damaged is used:
- the .deb is downloaded into archives/partial and moved into archives/ only when its
  sha256 is the one in the archive's index (apt's Packages); a cached .deb is checked
  against the index again before it is unpacked (damaged: downloaded again);
- the unpack goes into <dest>.tmp, then the manifest (zsgate/srccheck.py: size, mtime,
  sha256 of every file), then the completion stamp .zsgate-unpacked, then the rename;
- every run checks the cached tree against its manifest (size and mtime, ~1 s; sha256 too
  with ZSGATE_VERIFY_SOURCE=full); a damaged tree is unpacked again from the cached .deb
  when that is still the one the index named (.zsgate-deb), else fetched again;
- before the download and the unpack the free space is checked: the .deb's size, the
  tree's (measured: 166 MB .deb, 1.8 GB unpacked for linux-source-7.3), or one line
  naming the directory, what it has and what it needs.

Output (progress always on stderr, zsgate.log lines of the step "source"):
  --json FILE  the result as JSON {"KSRC", "KVERSION", "KPKG", "PART_A"} in FILE, nothing on
               stdout;
  --ksrc       the tree's path alone on stdout (shell callers: ci/selftests, ci/kselftest-tar);
  neither      shell assignments KSRC=, KVERSION=, KPKG=, PART_A= (bash printf %q quoting)
               for a human to read or eval.
Python callers use find() (treeprep.find_source): the same four values as a dict.

Environment: KDIR, BASE, ZSGATE_CACHE, ZSGATE_MIRROR (default http://deb.debian.org/debian),
             ZSGATE_REFRESH, ZSGATE_KPKG (force a package name; wins over BASE),
             ZSGATE_VERIFY_SOURCE=full, ZSGATE_APT_TRUSTED=1 (tests only: an unsigned
             local archive as ZSGATE_MIRROR), ZSGATE_NEED_SCALE (config.need_space).
Writes: $ZSGATE_CACHE/apt/{etc/zsgate.sources,lists,cache,archives,update.log,download.log},
        $ZSGATE_CACHE/src/<pkg>_<ver>/{linux-source-7.N,.zsgate-manifest,.zsgate-deb,
        .zsgate-unpacked}.
Exit: 0 found; 1 a problem, said in one line "zsgate: source: ..." on stderr (a bad
argument too); 2 the unpacked .deb holds no linux-source tarball, or a tree's Makefile
cannot be read.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, NoReturn, Optional, Sequence

from . import config, srccheck
from .log import log, set_step, step, stepped

DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
STEP = "source"


class Exit(Exception):
    """Stop with exit code @code; @msg (when not empty) is the die line's text."""

    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.msg = msg
        self.code = code


def die(msg: str) -> NoReturn:
    raise Exit(msg, 1)


@dataclass(frozen=True)
class Request:
    """What to find: the output (json file, --ksrc, or the assignments) and the environment
    the step reads (KDIR, BASE, ZSGATE_*; apt and tar run in it too)."""
    json_out: str = ""
    ksrc_only: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    def get(self, k: str) -> str:
        return self.env.get(k, "")


def sh_quote(s: str) -> str:
    """bash's printf %q (5.2, C.UTF-8): '' for empty, $'...' when a character is not
    printable, else backslashes before the shell's special characters."""
    if s == "":
        return "''"
    if any(not c.isprintable() or "\udc80" <= c <= "\udcff" for c in s):
        out = []
        for c in s:
            esc = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                   "\v": "\\v", "\x1b": "\\E", "\\": "\\\\", "'": "\\'"}.get(c)
            if esc:
                out.append(esc)
            elif "\udc80" <= c <= "\udcff":
                out.append("\\%03o" % (ord(c) - 0xdc00))
            elif c.isprintable():
                out.append(c)
            else:
                out.extend("\\%03o" % b for b in c.encode("utf-8", "surrogateescape"))
        return "$'" + "".join(out) + "'"
    out = []
    for i, c in enumerate(s):
        if c in " \t\n!\"$&'()*,;<>?[\\]^`{|}" or (c == "#" and i == 0) \
                or (c == "~" and (i == 0 or s[i - 1] in "=:")):
            out.append("\\")
        out.append(c)
    return "".join(out)


def _read(path: str) -> str:
    """A file's text as $(cat FILE) gives it: trailing newlines dropped."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read().rstrip("\n")


def _lines(text: str) -> List[str]:
    """Lines as grep and awk see them (split at \\n only)."""
    ls = text.split("\n")
    return ls[:-1] if ls and ls[-1] == "" else ls


def _field(line: str, n: int) -> str:
    """awk's $n with the default field separator."""
    f = line.split()
    return f[n - 1] if len(f) >= n else ""


def kernel_version(tree: str) -> str:
    """"7.3.0-rc7" from a tree's Makefile (VERSION, PATCHLEVEL, SUBLEVEL, EXTRAVERSION)."""
    vals = {"VERSION": "", "PATCHLEVEL": "", "SUBLEVEL": "", "EXTRAVERSION": ""}
    path = os.path.join(tree, "Makefile")
    try:
        text = _read_all(path)
    except OSError as e:
        raise Exit(f"cannot read {path}: {e.strerror}", 2) from e
    for line in _lines(text):
        for k in vals:
            if line.startswith(k + " ="):
                parts = line.split(" = ")
                vals[k] = parts[1] if len(parts) > 1 else ""
    return f"{vals['VERSION']}.{vals['PATCHLEVEL']}.{vals['SUBLEVEL']}{vals['EXTRAVERSION']}"


def _read_all(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def result(tree: str, pkg: str) -> Dict[str, str]:
    """The four values of a tree: KSRC, KVERSION, KPKG, PART_A ("true"/"false"); logged."""
    try:
        with open(os.path.join(tree, "mm/zsmalloc.c"), "rb") as f:
            part_a = "true" if b"ZS_OBJ_CLASS_BITS" in f.read() else "false"
    except OSError:
        part_a = "false"
    ver = kernel_version(tree)
    log(f"kernel {ver}{f' ({pkg})' if pkg else ''} at {tree}; Part A (ZS_OBJ_CLASS_BITS) present: {part_a}")
    return {"KSRC": tree, "KVERSION": ver, "KPKG": pkg, "PART_A": part_a}


def report(req: Request, res: Dict[str, str]) -> None:
    """The result as the request asks: the --json file, the path alone, or the assignments."""
    if req.json_out:
        try:
            with open(req.json_out, "w") as f:
                json.dump(res, f)
        except OSError as e:
            die(f"cannot write {req.json_out}: {e.strerror}")
    elif req.ksrc_only:
        print(res["KSRC"], flush=True)
    else:
        print(f"KSRC={sh_quote(res['KSRC'])}\nKVERSION={sh_quote(res['KVERSION'])}\n"
              f"KPKG={sh_quote(res['KPKG'])}\nPART_A={res['PART_A']}", flush=True)


def _logical_abspath(path: str) -> str:
    """$(cd PATH && pwd): the logical path ($PWD's symlinks kept)."""
    base = os.environ.get("PWD", "")
    try:
        if not (os.path.isabs(base) and os.path.samefile(base, ".")):
            base = os.getcwd()
    except OSError:
        base = os.getcwd()
    return os.path.normpath(os.path.join(base, path))


class Finder:
    """One run of the step for a request (the environment it reads, the apt options)."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.env = dict(req.env)
        self.cache = config.cache_dir(self.env)
        self.mirror = req.get("ZSGATE_MIRROR") or DEFAULT_MIRROR
        base = req.get("BASE")
        self.want_pkg = req.get("ZSGATE_KPKG") or (f"linux-source-{base}" if base else "")
        self.aptdir = os.path.join(self.cache, "apt")
        a = self.aptdir
        self.apt_opts: List[str] = []
        for o in (f"Dir::Etc::SourceList={a}/etc/zsgate.sources",
                  f"Dir::Etc::SourceParts={a}/etc/sources.list.d",
                  f"Dir::Etc::Preferences={a}/etc/preferences",
                  f"Dir::Etc::PreferencesParts={a}/etc/preferences.d",
                  f"Dir::State::Lists={a}/lists",
                  f"Dir::Cache={a}/cache",
                  f"Dir::Cache::Archives={a}/archives",
                  "APT::Sandbox::User=root",
                  "Debug::NoLocking=1",
                  "Acquire::Retries=1",
                  "Acquire::http::Timeout=20"):
            self.apt_opts += ["-o", o]

    # ------------------------------------------------------------------ helpers

    def need_space(self, path: str, mb: int, what: str) -> None:
        msg = config.need_space(path, mb, what, self.env)
        if msg:
            die(msg)

    def apt(self, prog: str, *args: str, log_to: Optional[str] = None, cwd: Optional[str] = None,
            stderr: bool = False) -> "subprocess.CompletedProcess[bytes]":
        """apt-get/apt-cache with the private configuration: stdout captured (or, with
        @log_to, stdout and stderr into that file), stderr dropped (@stderr: on ours)."""
        argv = [prog, *self.apt_opts, *args]
        if log_to:
            with open(log_to, "wb") as f:
                return subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=self.env, cwd=cwd)
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=None if stderr else subprocess.DEVNULL,
                              env=self.env)

    def apt_out(self, *args: str, stderr: bool = False) -> str:
        return self.apt("apt-cache", *args, stderr=stderr).stdout.decode("utf-8", "surrogateescape")

    @staticmethod
    def deb_sha256(path: str) -> str:
        """sha256sum's digest of a file; "" when it cannot be read."""
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
        except OSError:
            return ""
        return h.hexdigest()

    @staticmethod
    def src_of(d: str) -> str:
        """d/<the first linux-source-* entry of d> (d/ when there is none)."""
        try:
            names = sorted(n for n in os.listdir(d) if n.startswith("linux-source-"))
        except OSError:
            names = []
        return f"{d}/{names[0] if names else ''}"

    def die_write(self, tmp: str, msg: str) -> NoReturn:
        """A write into the scratch dir @tmp failed: remove it (half-done, never used) and
        stop; when the file system is full, say so and how full."""
        space = config.free_space(tmp)
        have, mnt = space if space else (1, "")
        shutil.rmtree(tmp, ignore_errors=True)
        if "No space left on device" in msg or have < 1:
            die(f"no space left on {mnt} (for {tmp}): {msg} — removed the half-written {tmp}; free space there "
                "or set ZSGATE_CACHE=<dir on a bigger disk>")
        die(f"{msg} (removed the half-written {tmp})")

    # ------------------------------------------------------------------ unpack

    def unpack(self, deb: str, dest: str, what: str, sha: str) -> None:
        """DEB into DEST.tmp, its manifest, the stamps, then renamed to DEST."""
        tmp = dest + ".tmp"
        # the tree is ~11.4 x the .deb (linux-source-7.3: 166 MB -> 1.8 GB on ext4); the
        # tarball's own size (xz --list) is checked again before tar
        self.need_space(os.path.dirname(dest), os.stat(deb).st_size * 12 // 1048576 + 100,
                        f"unpacking {os.path.basename(deb)}")
        log(f"unpacking {os.path.basename(deb)} into {dest}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(os.path.join(tmp, "deb"), exist_ok=True)
        r = subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "deb")], stderr=subprocess.PIPE, env=self.env)
        if r.returncode != 0:
            err = _lines(r.stderr.decode("utf-8", "replace"))
            self.die_write(tmp, f"dpkg-deb -x {deb} failed: {err[-1] if err else ''}")
        pattern = os.path.join(tmp, "deb/usr/src/linux-source-*.tar.*")
        tarballs = sorted(glob.glob(pattern))
        if not tarballs:
            print(f"ls: cannot access '{pattern}': No such file or directory", file=sys.stderr)
            raise Exit("", 2)
        tarball = tarballs[0]
        x = subprocess.run(["xz", "--robot", "--list", tarball], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, env=self.env)
        mbs = [str(int(_num(_field(ln, 5)) / 1048576))
               for ln in _lines(x.stdout.decode("utf-8", "replace")) if _field(ln, 1) == "totals"]
        if x.returncode == 0 and mbs:
            mb = mbs[0]
            self.need_space(tmp, int(mb) * 110 // 100 + 50,
                            f"unpacking {os.path.basename(tarball)} ({mb} MB of files)")
        r = subprocess.run(["tar", "-C", tmp, "-xf", tarball], stderr=subprocess.PIPE, env=self.env)
        if r.returncode != 0:
            first = next((ln for ln in _lines(r.stderr.decode("utf-8", "replace"))
                          if "Exiting with failure" not in ln), "")
            self.die_write(tmp, f"tar -xf {os.path.basename(tarball)} failed: {first}")
        shutil.rmtree(os.path.join(tmp, "deb"))
        try:
            srccheck.write(self.src_of(tmp), os.path.join(tmp, ".zsgate-manifest"))
        except (OSError, ValueError) as e:
            print(f"srccheck: {e}", file=sys.stderr)
            self.die_write(tmp, f"cannot write the manifest of {tmp}")
        with open(os.path.join(tmp, ".zsgate-deb"), "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(f"{os.path.basename(deb)} {sha}\n")
        with open(os.path.join(tmp, ".zsgate-unpacked"), "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(what + "\n")
        if os.path.lexists(dest):
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            else:
                os.unlink(dest)
        os.rename(tmp, dest)

    # ------------------------------------------------------------------ the cache

    def cached_tree(self) -> str:
        """The last cached, unpacked source (in name order) of the asked package (BASE,
        ZSGATE_KPKG), else of linux-source-7.N with N >= 3; "" when there is none."""
        newest = ""
        for stamp in sorted(glob.glob(os.path.join(glob.escape(self.cache), "src/*/.zsgate-unpacked"))):
            if not os.path.isfile(stamp):
                continue
            try:
                text = _read_all(stamp)
            except OSError:
                continue
            pkg = "\n".join(ln.split(" ")[0] for ln in text.split("\n")).rstrip("\n")
            if self.want_pkg:
                if pkg != self.want_pkg:
                    continue
            else:
                m = re.fullmatch(r"linux-source-7\.([0-9]+)", pkg)
                if not m or int(m.group(1)) < 3:
                    continue
            newest = os.path.dirname(stamp)
        return newest

    def whole(self, tree: str) -> bool:
        """True when the unpacked tree in @tree matches its manifest (a tree unpacked before
        manifests existed gets one, from the tree as it is, said on stderr); otherwise says
        what differs, removes the stamp (the tree is not used as it is, whatever happens
        next) and returns False."""
        manifest = os.path.join(tree, ".zsgate-manifest")
        if not os.path.isfile(manifest):
            log(f"{tree} has no manifest (unpacked by an older zsgate): writing one from the tree as it is "
                "(ZSGATE_REFRESH=1 unpacks it again from the archive)")
            try:
                srccheck.write(self.src_of(tree), manifest)
            except (OSError, ValueError) as e:
                print(f"srccheck: {e}", file=sys.stderr)
            return True
        try:
            bad = srccheck.check(self.src_of(tree), manifest, full=self.req.get("ZSGATE_VERIFY_SOURCE") == "full")
        except OSError as e:
            bad = [f"the manifest cannot be read: {e.strerror}"]
        if not bad:
            return True
        why = (f"{len(bad)} file(s) differ from the manifest written when it was unpacked: "
               + "; ".join(bad[:3]) + ("; ..." if len(bad) > 3 else ""))
        stamp = os.path.join(tree, ".zsgate-unpacked")
        try:
            what = _read(stamp)
        except OSError:
            what = ""
        log(f"the cached {what} in {tree} is damaged: {why}")
        try:
            os.unlink(stamp)
        except FileNotFoundError:
            pass
        return False

    def from_cache(self) -> Optional[Dict[str, str]]:
        """The cached source when it is whole or can be unpacked again from its checked .deb."""
        tree = self.cached_tree()
        if not tree:
            return None
        pkg = _read(os.path.join(tree, ".zsgate-unpacked"))
        if self.whole(tree):
            log(f"using cached {pkg} (ZSGATE_REFRESH=1 to ask the archive again)")
            return result(self.src_of(tree), pkg)
        deb = sha = ""
        debfile = os.path.join(tree, ".zsgate-deb")
        if os.path.isfile(debfile):
            text = _read_all(debfile)
            if "\n" not in text:  # bash's `read` at the end of the file: the step stopped (exit 1)
                die(f"{debfile}: not one line ending in a newline")
            parts = text.split("\n", 1)[0].strip(" \t").split(None, 1)
            deb = parts[0] if parts else ""
            sha = parts[1].strip(" \t") if len(parts) > 1 else ""
        cached = os.path.join(self.aptdir, "archives", deb)
        if deb and os.path.isfile(cached) and self.deb_sha256(cached) == sha:
            log(f"unpacking it again from {cached} (its sha256 is the one the archive's index gave)")
            self.unpack(cached, tree, pkg, sha)
            return result(self.src_of(tree), pkg)
        log("the cached .deb is gone or is not the one the index gave: asking the archive")
        return None

    # ------------------------------------------------------------------ the archive

    def write_sources(self) -> None:
        """The private apt configuration: only zsgate.sources (experimental and unstable)."""
        a = self.aptdir
        for d in ("etc/sources.list.d", "etc/preferences.d", "lists/partial", "cache", "archives/partial"):
            os.makedirs(os.path.join(a, d), exist_ok=True)
        for d in ("etc/sources.list.d", "etc/preferences.d"):
            for n in sorted(os.listdir(os.path.join(a, d))):
                p = os.path.join(a, d, n)
                if n.startswith("."):
                    continue
                if os.path.isdir(p) and not os.path.islink(p):
                    die(f"cannot remove '{p}': Is a directory")
                os.unlink(p)
        text = (f"Types: deb\nURIs: {self.mirror}\nSuites: experimental unstable\nComponents: main\n"
                f"Signed-By: {KEYRING}\n")
        if self.req.get("ZSGATE_APT_TRUSTED") == "1":
            text += "Trusted: yes\n"
        with open(os.path.join(a, "etc/zsgate.sources"), "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)

    def update(self) -> None:
        # the index: 24 MB of lists for experimental + unstable (lz4), more while apt unpacks them
        self.need_space(os.path.join(self.aptdir, "lists"), 60, "the archive's index (apt-get update)")
        log(f"asking {self.mirror} (experimental, unstable) for linux-source-7.N")
        ulog = os.path.join(self.aptdir, "update.log")
        rc = self.apt("apt-get", "update", log_to=ulog).returncode
        errs = [ln for ln in _lines(_read_all(ulog)) if re.match(r"(E:|Err:)", ln)]
        if rc != 0 or errs:
            die(f"cannot reach the Debian archive at {self.mirror}: {errs[0] if errs else ''}")

    def choose(self) -> str:
        if self.want_pkg:
            if self.apt("apt-cache", "show", self.want_pkg).returncode != 0:
                die(f"{self.want_pkg} is in neither experimental nor unstable at {self.mirror}")
            return self.want_pkg
        if self.apt("apt-cache", "show", "linux-source-7.3").returncode == 0:
            return "linux-source-7.3"
        names = [n for n in _lines(self.apt_out("pkgnames", "linux-source-7."))
                 if re.fullmatch(r"linux-source-7\.[0-9]+", n) and int(n.split(".")[1]) >= 3]
        if not names:
            die(f"no linux-source-7.N (N >= 3) in experimental or unstable at {self.mirror}")
        pkg = sorted(names, key=lambda n: (int(n.split(".")[1]), n))[-1]
        log(f"linux-source-7.3 is in neither experimental nor unstable; using the newest: {pkg}")
        return pkg

    def fetch(self) -> Dict[str, str]:
        self.write_sources()
        self.update()
        pkg = self.choose()
        policy = self.apt_out("policy", pkg, stderr=True)  # its messages on stderr, as ci/source had them
        ver = "\n".join(_field(ln, 2) for ln in _lines(policy) if "Candidate:" in ln).rstrip("\n")
        if not ver or ver == "(none)":
            die(f"{pkg} has no candidate version at {self.mirror}")
        suite, found = "", False
        for ln in _lines(policy):
            if _ere_search(ver, ln):
                found = True
                continue
            if found and "http" in ln:
                suite = _field(ln, 3)
                break
        log(f"{pkg} {ver} from {suite or '?'}")

        # what the archive's index says of the .deb: its sha256 and size (first stanza)
        index = []
        for ln in _lines(self.apt_out("show", f"{pkg}={ver}")):
            if ln == "":
                break
            index.append(ln)
        sha = next((_field(ln, 2) for ln in index if _field(ln, 1) == "SHA256:"), "")
        size = next((_field(ln, 2) for ln in index if _field(ln, 1) == "Size:"), "")
        if not sha:
            die(f"the archive's index at {self.mirror} gives no SHA256 for {pkg} {ver}: "
                "not downloading what cannot be checked")

        debname = f"{pkg}_{ver.replace(':', '%3a')}_all.deb"
        archives = os.path.join(self.aptdir, "archives")
        deb = os.path.join(archives, debname)
        if os.path.isfile(deb) and self.deb_sha256(deb) != sha:
            log(f"the cached {debname} is damaged ({os.stat(deb).st_size} bytes, the index says {size or '?'}; "
                "sha256 differs): downloading it again")
            os.unlink(deb)
        if not os.path.isfile(deb):
            self.need_space(archives, int(_num(size or "0")) // 1048576 + 20, f"downloading {debname}")
            log(f"downloading {debname}")
            # into partial/ (a download cut short stays there), checked, then moved
            part = os.path.join(archives, "partial", debname)
            _rm_f(part)
            dlog = os.path.join(self.aptdir, "download.log")
            if self.apt("apt-get", "download", f"{pkg}={ver}", log_to=dlog,
                        cwd=os.path.join(archives, "partial")).returncode != 0:
                lines = _lines(_read_all(dlog))
                why = next((ln for ln in lines if ln.startswith("E:")), lines[-1] if lines else "")
                die(f"download of {pkg} {ver} failed: {why}")
            got = self.deb_sha256(part) or "none"
            if got != sha:
                _rm_f(part)
                die(f"the downloaded {debname} does not match the archive's index (sha256 {got}, "
                    f"the index says {sha}): refused")
            os.replace(part, deb)

        dest = os.path.join(self.cache, "src", f"{pkg}_{re.sub('[:~]', '_', ver)}")
        if not (os.path.isfile(os.path.join(dest, ".zsgate-unpacked")) and self.whole(dest)):
            self.unpack(deb, dest, f"{pkg} {ver}", sha)
        return result(self.src_of(dest), f"{pkg} {ver}")

    def find(self) -> Dict[str, str]:
        """The source the request names: KDIR, else the cache, else the archive."""
        base, kdir = self.req.get("BASE"), self.req.get("KDIR")
        if base:
            if not re.fullmatch(r"7\.[0-9]+", base):
                die(f"BASE={base}: expected a Debian kernel version such as 7.2 or 7.3")
            if kdir:
                die(f"BASE={base} and KDIR={kdir} exclude each other (KDIR is the base)")
        if kdir:
            if not os.path.isdir(kdir):
                die(f"KDIR={kdir} does not exist")
            if not (os.path.isfile(os.path.join(kdir, "Makefile")) and os.path.isfile(os.path.join(kdir, "mm/zsmalloc.c"))):
                die(f"KDIR={kdir} is not a Linux source tree (no Makefile or mm/zsmalloc.c)")
            return result(_logical_abspath(kdir), "")
        if not self.req.get("ZSGATE_REFRESH"):
            got = self.from_cache()
            if got is not None:
                return got
        return self.fetch()


def _num(s: str) -> float:
    """awk's numeric value of a string: its leading number, else 0."""
    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s)
    return float(m.group(0)) if m else 0.0


def _ere_search(pattern: str, line: str) -> bool:
    """awk's `$0 ~ v` for a version string used as a regular expression."""
    try:
        return re.search(pattern, line) is not None
    except re.error:
        return pattern in line


def _rm_f(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def run(req: Request) -> Dict[str, str]:
    """Find the source for @req and report it as @req asks; Exit when it cannot."""
    res = Finder(req).find()
    report(req, res)
    return res


def find(environ: Mapping[str, str]) -> Dict[str, str]:
    """For Python callers (treeprep.find_source): the four values for @environ (its KDIR,
    BASE, ZSGATE_*), progress on stderr as lines of the step "source" (the caller's step
    name is put back after); Exit (its .msg already said on stderr) when it fails."""
    with stepped(environ.get("ZSGATE_STEP") or STEP):
        try:
            return Finder(Request(env=dict(environ))).find()
        except Exit as e:
            _say(e)
            raise
        except OSError as e:
            x = _os_exit(e)
            _say(x)
            raise x from e


def _os_exit(e: OSError) -> Exit:
    return Exit(f"{str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}")


def _say(e: Exit) -> None:
    if e.msg:
        print(f"zsgate: {step()}: {e.msg}", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if "--json" in message and "expected one argument" in message:
            die("--json needs a file")
        m = re.search(r"unrecognized arguments: (\S+)", message)
        die(f"unknown argument '{m.group(1) if m else message}' (ci/source [--json FILE | --ksrc])")


def main(argv: Optional[Sequence[str]] = None) -> int:
    set_step(os.environ.get("ZSGATE_STEP") or STEP)
    ap = _Parser(prog="ci/source", allow_abbrev=False,
                 description="find (fetch, unpack) the kernel source zsgate gates against")
    ap.add_argument("--json", metavar="FILE", help="the result as JSON in FILE, nothing on stdout")
    ap.add_argument("--ksrc", action="store_true", help="the tree's path alone on stdout")
    try:
        a = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
        if a.json == "":
            die("realpath: '': No such file or directory")
        req = Request(os.path.realpath(a.json) if a.json else "", bool(a.ksrc), dict(os.environ))
        run(req)
    except Exit as e:
        _say(e)
        return e.code
    except OSError as e:
        _say(_os_exit(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
