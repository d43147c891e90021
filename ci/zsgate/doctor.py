# SPDX-License-Identifier: GPL-2.0
"""Check this machine before a long run (ci/doctor, `./zsgate doctor`, make doctor).

Usage: ci/doctor

Reads only: installs, loads, mounts and writes nothing (the archive probe downloads one
small file with apt's own transport, /usr/lib/apt/apt-helper, into a temporary directory
that it removes). The tools are looked up in $PATH; readelf, ccache, flock and modprobe -n
are asked as children.

stdout: one line per problem or warning, each naming the fix, e.g.
  doctor: missing stress-ng — apt-get install stress-ng
  doctor: warning: load 1.9 on 2 CPUs: A/B timings would be noisy (docs/known-issues.md)
then "doctor: all at once: apt-get install ..." when packages are missing and
"doctor: N problems, M warnings". A problem stops or breaks `make gate` / `make check`; a
warning makes part of it skip, be slow or be noisy. Progress and facts go to stderr
(zsgate.log lines of the step "doctor").
Exit: 0 no problem (warnings allowed); 1 a problem.

Environment: ZSGATE_CACHE, OUT, KDIR (as make gate uses them), ZSGATE_MIRROR (as ci/source),
ZSGATE_VM_MEM (as ci/vm, MB), ZSGATE_DOCTOR_OFFLINE=1 (skip the Debian archive probe),
ZSGATE_DOCTOR_NEED_GB (free space wanted at ZSGATE_CACHE; default 10 cold, 4 warm),
ZSGATE_PLOT_PYTHON (the python3 that plots report.png, default /usr/bin/python3),
ZSGATE_BUILD_LOCK.
"""

import argparse
import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence, Tuple

from . import config
from .kernelsrc import DEFAULT_MIRROR
from .log import log, set_step

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# tool, its Debian package, why (the command each pipeline step runs; see ci/deps)
TOOLS: Tuple[Tuple[str, str, str], ...] = (
    ("make", "make", ""), ("gcc", "gcc", ""), ("flex", "flex", ""), ("bison", "bison", ""), ("bc", "bc", ""),
    ("perl", "perl-base", ""), ("ccache", "ccache", ""), ("python3", "python3", ""), ("xz", "xz-utils", ""),
    ("patch", "patch", ""), ("rsync", "rsync", ""), ("dpkg-deb", "dpkg", ""), ("apt-get", "apt", ""),
    ("qemu-system-x86_64", "qemu-system-x86", ""), ("cpio", "cpio", ""),
    ("swapon", "util-linux", ""), ("losetup", "util-linux", ""), ("flock", "util-linux", ""), ("modprobe", "kmod", ""),
    ("stress-ng", "stress-ng", "the race selftests SKIP without it"),
    ("fio", "fio", "the zram discard race SKIPs without it"),
)


@dataclass
class Doctor:
    """One check of the machine: the environment it reads, the problems and warnings so far."""
    env: Mapping[str, str]
    problems: int = 0
    warnings: int = 0
    to_install: List[str] = field(default_factory=list)

    def get(self, k: str, default: str = "") -> str:
        return self.env.get(k) or default

    def problem(self, msg: str) -> None:
        print(f"doctor: {msg}", flush=True)
        self.problems += 1

    def warn(self, msg: str) -> None:
        print(f"doctor: warning: {msg}", flush=True)
        self.warnings += 1

    def missing(self, tool: str, pkg: str, why: str = "") -> None:
        """A problem line, and the package goes to the install list."""
        self.problem(f"missing {tool} — apt-get install {pkg}{f' ({why})' if why else ''}")
        if pkg not in self.to_install:
            self.to_install.append(pkg)

    def which(self, tool: str) -> Optional[str]:
        return shutil.which(tool, path=self.env.get("PATH", os.defpath))

    def quiet(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None
              ) -> "subprocess.CompletedProcess[bytes]":
        """@argv's exit code and stdout; its stderr dropped; 127 when it cannot run."""
        try:
            return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  env=dict(self.env if env is None else env))
        except OSError:
            return subprocess.CompletedProcess(list(argv), 127, b"", b"")

    # ------------------------------------------------------------------ the checks

    def tools(self) -> None:
        for tool, pkg, why in TOOLS:
            if not self.which(tool):
                self.missing(tool, pkg, why)
        if not self.which("git"):
            self.warn("git not found — apt-get install git (only to make an mbox with git format-patch; "
                      "the gate applies patches with patch)")

        # busybox, static: the x86_64 VM's initramfs (ci/vm copies /bin/busybox into it)
        bb = self.which("busybox") or next((b for b in ("/bin/busybox", "/usr/bin/busybox")
                                            if os.path.isfile(b) and os.access(b, os.X_OK)), "")
        if not bb:
            self.missing("busybox", "busybox-static", "static, for the x86_64 VM initramfs")
        elif self.which("readelf"):
            r = self.quiet([self.which("readelf") or "readelf", "-l", bb], env={**self.env, "LC_ALL": "C"})
            if b"program interpreter" in r.stdout:
                self.missing(f"a static busybox ({bb} is dynamic)", "busybox-static", "the VM initramfs has no libc")
        else:
            try:
                with open(bb, "rb") as f:
                    dynamic = b"ld-linux" in f.read()
            except OSError:
                dynamic = False
            if dynamic:
                self.missing(f"a static busybox ({bb} is dynamic)", "busybox-static", "the VM initramfs has no libc")

        # headers of the kernel build (objtool, certs)
        if not (os.path.isfile("/usr/include/libelf.h") or os.path.isfile("/usr/include/gelf.h")):
            self.missing("libelf.h", "libelf-dev", "objtool")
        if not os.path.isfile("/usr/include/openssl/ssl.h"):
            self.missing("openssl/ssl.h", "libssl-dev", "certs, sign-file")

        # report.png is plotted with Debian's python3 (ci/report); without it report.md has no picture
        plot_py = self.get("ZSGATE_PLOT_PYTHON", "/usr/bin/python3")
        if os.path.isfile(plot_py) and os.access(plot_py, os.X_OK) \
                and self.quiet([plot_py, "-c", "import matplotlib"]).returncode != 0:
            self.warn(f"no matplotlib for {plot_py} — apt-get install python3-matplotlib "
                      "(report.png; the verdict does not need it)")

    def disk(self, cache: str) -> None:
        cache_dir = existing_parent(cache)
        need = self.get("ZSGATE_DOCTOR_NEED_GB")
        if not need:
            need = "10"  # cold: source ~1.5 GB, build dirs of 4 kernels ~5 GB, ccache up to its max_size
            if os.path.isdir(os.path.join(cache, "work")):
                need = "4"  # warm: build dirs are updated in place
        if not os.access(cache_dir, os.W_OK):
            self.problem(f"cannot write {cache_dir} (ZSGATE_CACHE={cache}) — run as its owner or set ZSGATE_CACHE=<dir>")
        else:
            gb = free_gb(cache_dir)
            log(f"ZSGATE_CACHE={cache}: {gb} GB free on {mount_of(cache_dir)} (want {need} GB)")
            if _num(gb or "0") < _num(need):
                self.problem(f"only {gb} GB free for ZSGATE_CACHE={cache}, want {need} GB — free space or set "
                             "ZSGATE_CACHE=<dir on a bigger disk>")
        out = self.get("OUT", os.path.join(self.get("ZSGATE_ROOT", ROOT), "out"))
        out_dir = existing_parent(out)
        if not os.access(out_dir, os.W_OK):
            self.problem(f"cannot write {out_dir} (OUT={out}) — set OUT=<writable dir>")
        else:
            gb = free_gb(out_dir)
            if _num(gb or "0") < 1:
                self.problem(f"only {gb} GB free for OUT={out}, want 1 GB (consoles and A/B logs) — free space "
                             "or set OUT=<dir>")
        ccache = self.which("ccache")
        if ccache:
            cc_dir = _text(self.quiet([ccache, "-k", "cache_dir"]).stdout)
            if cc_dir and mount_of(existing_parent(cc_dir)) != mount_of(cache_dir):
                gb = free_gb(existing_parent(cc_dir))
                if _num(gb or "0") < 2:
                    self.warn(f"only {gb} GB free for the ccache at {cc_dir} — free space or set CCACHE_DIR "
                              "(rebuilds get slow when it cannot grow)")

    def machine(self) -> None:
        vm_mem = self.get("ZSGATE_VM_MEM", "2048")
        mem = meminfo()
        total_mb, avail_mb = mem.get("MemTotal", 0) // 1024, mem.get("MemAvailable", 0) // 1024
        cpus = nproc(self.env)
        log(f"{cpus} CPUs, {total_mb} MB RAM ({avail_mb} MB available); VMs use {vm_mem} MB (ZSGATE_VM_MEM), "
            "kunit.py's QEMU 1024 MB")
        want = int(_num(vm_mem)) + 1024
        if total_mb < want:
            self.problem(f"{total_mb} MB RAM: a {vm_mem} MB VM beside a kernel build does not fit — add RAM or set "
                         "ZSGATE_VM_MEM=<MB> (the selftest sizes assume 2048)")
        elif avail_mb < want:
            self.warn(f"only {avail_mb} MB available now, a VM takes {vm_mem} MB — stop what holds the memory")
        if cpus < 2:
            self.warn("1 CPU: the VMs run 2 vCPUs on it, race cases race little and timings mean little — use a "
                      "machine with 2 or more")
        with open("/proc/loadavg", encoding="ascii") as f:
            load1 = f.read().split()[0]
        if _num(load1) >= 0.75 * cpus:
            self.warn(f"load {load1} on {cpus} CPUs: A/B timings would be noisy and could flag a regression that "
                      "is the machine's (docs/known-issues.md) — run make gate with nothing else running")
        lock = config.build_lock(self.env)
        if os.path.exists(lock) and self.which("flock") and lock_held(lock):
            self.warn(f"a zsgate kernel build holds {lock} now: your builds will wait for it, timings are noisy "
                      "meanwhile")

    def running_kernel(self) -> None:
        """Only make selftests and make check's stage 4 use it."""
        rel = os.uname().release
        modprobe = self.which("modprobe")
        if os.path.isdir("/sys/class/zram-control") or glob.glob("/sys/block/zram*") \
                or (modprobe and self.quiet([modprobe, "-n", "zram"]).returncode == 0):
            log(f"zram: available on the running kernel ({rel})")
        else:
            self.warn(f"no zram on the running kernel {rel} — host zram_free cases SKIP (make selftests); the "
                      "gate's VMs have their own")
        enabled = "/sys/module/zswap/parameters/enabled"
        if os.access(enabled, os.R_OK):
            with open(enabled, encoding="utf-8", errors="replace") as f:
                log(f"zswap: available, enabled={f.read().rstrip(chr(10))}")
        else:
            self.warn(f"no zswap on the running kernel {rel} — host zswap_free cases SKIP (make selftests); the "
                      "gate's VMs have their own")
        swaps = []
        try:
            with open("/proc/swaps", encoding="utf-8", errors="replace") as f:
                for line in f.read().split("\n")[1:]:
                    fs = line.split()
                    if line:
                        swaps.append(f"{fs[0] if fs else ''} ({int(_num(fs[3] if len(fs) > 3 else '0') / 1024)} MB used)")
        except OSError:
            pass
        if swaps:
            self.warn(f"swap in use on this machine: {', '.join(swaps)} — make selftests adds its own at priority "
                      "32767 and puts everything back, but other swap traffic shows in the host figures")

    def who(self) -> None:
        if os.getuid() != 0:
            self.warn("not root: make deps, make selftests and make check need root; make gate works only when "
                      "every package is already installed")
        if os.path.exists("/dev/kvm"):
            log("/dev/kvm exists; zsgate still uses TCG (ci/qemu: same emulator for base and patched; "
                "ZSGATE_ACCEL=kvm to use it)")

    def source(self, cache: str) -> str:
        """The kernel source: KDIR's, else the cache's (the last stamp); that stamp ("" none)."""
        cached = ""
        for stamp in sorted(glob.glob(os.path.join(glob.escape(cache), "src/*/.zsgate-unpacked"))):
            if os.path.isfile(stamp):
                try:
                    with open(stamp, encoding="utf-8", errors="surrogateescape") as f:
                        cached = f.read().rstrip("\n")
                except OSError:
                    cached = ""
        kdir = self.get("KDIR")
        if kdir:
            if not (os.path.isfile(os.path.join(kdir, "Makefile")) and os.path.isfile(os.path.join(kdir, "mm/zsmalloc.c"))):
                self.problem(f"KDIR={kdir} is not a Linux source tree (no Makefile or mm/zsmalloc.c) — point KDIR "
                             "at a kernel tree")
        elif cached:
            log(f"kernel source: {cached} in the cache (no download needed)")
        return cached

    def archive(self, cached: str) -> None:
        """The Debian archive (ci/source's mirror, ci/deps's installs)."""
        if self.get("ZSGATE_DOCTOR_OFFLINE", "0") != "0":
            log("archive probe skipped (ZSGATE_DOCTOR_OFFLINE=1)")
            return
        url = self.get("ZSGATE_MIRROR", DEFAULT_MIRROR) + "/dists/unstable/InRelease"
        with tempfile.TemporaryDirectory(prefix="zsgate-doctor.", dir="/tmp") as tmp:
            logf = os.path.join(tmp, "log")
            # apt's own transport, so apt's proxy settings apply as they do for ci/source
            with open(logf, "wb") as f:
                try:
                    rc = subprocess.run(["timeout", "20", "/usr/lib/apt/apt-helper", "-o", "Acquire::http::Timeout=10",
                                         "-o", "Acquire::https::Timeout=10", "-o", "Acquire::Retries=0",
                                         "-o", "APT::Sandbox::User=root", "download-file", url,
                                         os.path.join(tmp, "InRelease")],
                                        stdout=f, stderr=subprocess.STDOUT, env=dict(self.env)).returncode
                except OSError as e:
                    f.write(f"timeout: {e.strerror}\n".encode())
                    rc = 127
            if rc == 0:
                log(f"archive: {url} reachable")
                return
            with open(logf, encoding="utf-8", errors="replace") as f:
                lines = f.read().split("\n")
            if lines and lines[-1] == "":
                lines.pop()
        fetch = [m.group(1) for m in (re.match(r"E: Failed to fetch [^ ]* *(.*)", ln) for ln in lines) if m]
        why = (fetch[0] if fetch else "") or (lines[-1] if lines else "") or "timeout"
        if not self.get("KDIR") and not cached:
            self.problem(f"cannot reach {url} ({why}) — ci/source needs it for linux-source-7.3: fix the network or "
                         "proxy, set ZSGATE_MIRROR=<mirror>, or use KDIR=<tree>")
        elif self.to_install:
            self.problem(f"cannot reach {url} ({why}) — ci/deps needs it to install {' '.join(self.to_install)}: "
                         "fix the network or set ZSGATE_MIRROR")
        else:
            self.warn(f"cannot reach {url} ({why}) — fine for now (source cached, packages installed); "
                      "ZSGATE_REFRESH=1 would need it")

    def run(self) -> int:
        cache = config.cache_dir(self.env)
        self.tools()
        self.disk(cache)
        self.machine()
        self.running_kernel()
        self.who()
        self.archive(self.source(cache))
        if self.to_install:
            print(f"doctor: all at once: apt-get install {' '.join(self.to_install)}  (or: make deps)")
        print(f"doctor: {self.problems} problems, {self.warnings} warnings", flush=True)
        return 0 if self.problems == 0 else 1


def _num(s: str) -> float:
    """awk's numeric value of a string: its leading number, else 0."""
    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s)
    return float(m.group(0)) if m else 0.0


def _text(b: bytes) -> str:
    """$(...) of a command's output: trailing newlines dropped."""
    return b.decode("utf-8", "surrogateescape").rstrip("\n")


def existing_parent(p: str) -> str:
    """The nearest directory of a path that exists."""
    while not os.path.isdir(p):
        p = os.path.dirname(p) or "."
    return p


def _statvfs_kb(path: str) -> Optional[int]:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize // 1024


def free_gb(path: str) -> str:
    """Free GB (one decimal) of the file system holding @path, as df -Pk gives it; "" unknown."""
    kb = _statvfs_kb(path)
    return "" if kb is None else "%.1f" % (kb / 1048576)


def mount_of(path: str) -> str:
    space = config.free_space(path)
    return space[1] if space else ""


def meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            fs = line.split()
            if len(fs) >= 2 and fs[0].endswith(":"):
                out[fs[0][:-1]] = int(fs[1])
    return out


def nproc(env: Mapping[str, str]) -> int:
    """nproc(1): the CPUs this process may run on, OMP_NUM_THREADS / OMP_THREAD_LIMIT as it reads them."""
    n = len(os.sched_getaffinity(0))
    omp = (env.get("OMP_NUM_THREADS") or "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        n = int(omp)
    lim = (env.get("OMP_THREAD_LIMIT") or "").strip()
    if lim.isdigit() and int(lim) > 0:
        n = min(n, int(lim))
    return n


def lock_held(path: str) -> bool:
    """flock -n PATH true fails: another holds the lock (or it cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def main(argv: Optional[Sequence[str]] = None) -> int:
    set_step("doctor")
    ap = argparse.ArgumentParser(prog="ci/doctor", description="check this machine before a long run"
                                 " (the environment says what: see zsgate/doctor.py)")
    ap.parse_known_args(list(sys.argv[1:] if argv is None else argv))  # other arguments: ignored, as ever
    return Doctor(dict(os.environ)).run()


if __name__ == "__main__":
    sys.exit(main())
