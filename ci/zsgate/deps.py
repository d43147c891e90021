# SPDX-License-Identifier: GPL-2.0
"""The packages step (ci/deps, `./zsgate deps`): install the Debian packages zsgate needs, only those missing.

Usage: ci/deps [--check]   (--check: list what is missing, install nothing)

A package is present when `dpkg-query -W -f='${Status}' PKG` says "install ok installed".
Missing ones are installed as root with apt-get update, then apt-get install -y
--no-install-recommends (DEBIAN_FRONTEND=noninteractive), both logged to
$ZSGATE_CACHE/logs/apt-install.log (its last line is quoted when one fails).
Exit: 0 all present (or installed), 1 something missing (--check: "missing: PKG" lines on
stdout), not root, or apt-get failed. main(argv) runs in the caller's process (the gate,
ci/bench, `./zsgate mutants|examples|deps`, through inproc.call): no sys.exit, no signal
handler; an exception is its traceback and exit 1 (inproc.call's, or python3's for ci/deps).
"""

import os
import subprocess
import sys
from typing import List, Mapping, Optional, Sequence

from zsgate import config
from zsgate.inproc import Parser, Stop, die
from zsgate.log import log, set_step

# One line each: package (what needs it).
PKGS = (
    "gcc", "make", "bc", "flex", "bison",  # kernel build
    "libelf-dev", "libssl-dev",  # kernel build (objtool, certs)
    "ccache",  # warm rebuilds across trees and runs
    "python3",  # kunit.py and ci/*.py
    "xz-utils", "patch", "rsync",  # source unpack, series apply, tree copies
    "apt-utils", "dpkg-dev",  # private apt download of linux-source
    "qemu-system-x86",  # kunit.py --arch=x86_64 and the VM runner
    "cpio", "busybox-static",  # initramfs for the x86_64 VM
    "util-linux", "kmod",  # swapon, losetup, zramctl
    "stress-ng", "fio",  # selftest race workloads
    "python3-matplotlib",  # report.png (plotted with /usr/bin/python3)
    "python3-jsonschema",  # ci/kcidb: kcidb.json against the KCIDB v5.3 schema
    "mypy",  # make check, make test-tools: mypy --strict ci/zsgate (setup.cfg)
)


def installed(pkg: str) -> bool:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    except OSError:  # no dpkg-query: nothing counts as installed
        return False
    return "install ok installed" in r.stdout


def missing(pkgs: Sequence[str] = PKGS) -> List[str]:
    """The packages of @pkgs that dpkg does not have installed, in their order."""
    return [p for p in pkgs if not installed(p)]


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def install(pkgs: Sequence[str], env: Mapping[str, str]) -> None:
    """apt-get update + install of @pkgs, logged to $ZSGATE_CACHE/logs/apt-install.log."""
    logs = os.path.join(config.cache_dir(env), "logs")
    os.makedirs(logs, exist_ok=True)
    aptlog = os.path.join(logs, "apt-install.log")
    penv = dict(env, DEBIAN_FRONTEND="noninteractive")
    with open(aptlog, "w", encoding="utf-8") as f:
        rc = subprocess.run(["apt-get", "update"], stdout=f, stderr=subprocess.STDOUT, env=penv).returncode
    if rc != 0:
        die(f"apt-get update failed (is the Debian archive reachable?): {_last_line(aptlog)}")
    with open(aptlog, "a", encoding="utf-8") as f:
        rc = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs],
                            stdout=f, stderr=subprocess.STDOUT, env=penv).returncode
    if rc != 0:
        die(f"apt-get install failed for: {' '.join(pkgs)}: {_last_line(aptlog)}")


def run(check: bool, env: Optional[Mapping[str, str]] = None) -> int:
    e = os.environ if env is None else env
    need = missing()
    if not need:
        log(f"all {len(PKGS)} packages present")
        return 0
    if check:
        print("".join(f"missing: {p}\n" for p in need), end="", flush=True)
        return 1
    if os.geteuid() != 0:
        die(f"needs root to install: {' '.join(need)} (or install them yourself)")
    log(f"installing: {' '.join(need)}")
    install(need, e)
    log(f"installed {len(need)} packages")
    return 0


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    """ci/deps ARGV: its exit code. In another program through inproc.call(main, ARGV,
    "deps"), which puts the log's step back and makes another exception exit 1."""
    set_step("deps")
    try:
        ap = Parser(prog="ci/deps", description=(__doc__ or "").splitlines()[0])
        ap.add_argument("--check", action="store_true", help="list what is missing, install nothing")
        a = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
        return run(a.check, env)
    except Stop as e:
        return e.code
    except OSError as e:
        print(f"zsgate: deps: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
