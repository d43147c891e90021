# SPDX-License-Identifier: GPL-2.0
"""zsgate's settings: what the environment says, and the defaults every step shares.

The one copy besides is the Makefile's default of ZSGATE_CACHE; ci/tests/test_config.py
checks that it says the same.
Every function reads the environment when called (zsgate/mutants.py changes ZSGATE_BUILD_LOCK
for its children while it holds the lock); pass `env` to read another mapping instead.
"""

import hashlib
import os
from typing import Mapping, Optional, Tuple

# The kselftest collections under selftests/ (zsgate.selftests, selftestfaults and kselftesttar
# build, stage and run these).
COLLECTIONS: Tuple[str, ...] = ("zram_free", "zswap_free")

# The reference series (Part B) under the repository root: the revision the gate checks by
# default and the one ci/mutants applies its applies-to: series mutants on.
REFERENCE_SERIES = os.path.join("series", "deferred-free")


def reference_series(root: str) -> str:
    """The reference series of the repository at root."""
    return os.path.join(root, REFERENCE_SERIES)


# Kernel builds hold this lock (flock): one build at a time on the machine.
BUILD_LOCK_DEFAULT = "/tmp/zsgate-build.lock"

# ci/kunit's build dir inside a work tree: .kunit-<arch>, .kunit-<arch>-debug (--debug),
# .kunit-x86_64-kcsan (--kcsan); ci/mutants' A/B kernels: .kunit-x86_64-vm.
BUILD_DIR_PREFIX = ".kunit-"
BUILD_VARIANTS = ("debug", "kcsan", "vm")


def _env(env: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if env is None else env


def cache_dir(env: Optional[Mapping[str, str]] = None) -> str:
    """$ZSGATE_CACHE, default $HOME/.cache/zsgate (HOME unset or empty: /root)."""
    e = _env(env)
    return e.get("ZSGATE_CACHE") or os.path.join(e.get("HOME") or "/root", ".cache/zsgate")


def build_lock(env: Optional[Mapping[str, str]] = None) -> str:
    """$ZSGATE_BUILD_LOCK, default /tmp/zsgate-build.lock."""
    return _env(env).get("ZSGATE_BUILD_LOCK") or BUILD_LOCK_DEFAULT


def source_key(ksrc: str) -> str:
    """The name of a kernel source's work trees: <basename>-<8 hex of sha1(real path)>."""
    real = os.path.realpath(ksrc)
    return os.path.basename(real) + "-" + hashlib.sha1(real.encode()).hexdigest()[:8]


def work_tree(ksrc: str, name: str, env: Optional[Mapping[str, str]] = None) -> str:
    """The work tree `name` (base, patched, mutant, ...) of a source:
    $ZSGATE_CACHE/work/<source key>/<name>/linux."""
    return os.path.join(cache_dir(env), "work", source_key(ksrc), name, "linux")


def build_dir(arch: str, variant: str = "") -> str:
    """The build dir name inside a work tree: .kunit-<arch>[-<variant>]."""
    if variant and variant not in BUILD_VARIANTS:
        raise ValueError(f"unknown build variant {variant!r} (known: {', '.join(BUILD_VARIANTS)})")
    return BUILD_DIR_PREFIX + arch + (f"-{variant}" if variant else "")


def build_dir_suffix(arch: str, bdir: str) -> str:
    """What follows .kunit-<arch> in a build dir name: "-debug" for .kunit-<arch>-debug."""
    return bdir[len(build_dir(arch)):]


def _mount_point(path: str) -> str:
    p = os.path.realpath(path)
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p


def free_space(path: str) -> Optional[Tuple[int, str]]:
    """(MB free, mount point) of the file system of @path (which need not exist yet: its
    nearest existing parent), as `df -Pk` gives them; None when it cannot be asked."""
    d = path
    while not os.path.isdir(d):
        d = os.path.dirname(d) or "."
    try:
        st = os.statvfs(d)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize // 1048576, _mount_point(d)


def need_space(path: str, mb: int, what: str, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The steps' space check (what the shell steps' zs_need_space was): None when the file
    system of @path (which need not exist yet: its nearest existing parent) has @mb MB free,
    else the one line to stop with, naming @path, its file system, the free space and @mb,
    before @what writes there. ZSGATE_NEED_SCALE (percent, default 100) scales @mb, e.g. 0
    to skip the check; a file system that cannot be asked passes."""
    e = _env(env)
    try:
        scale = int(e.get("ZSGATE_NEED_SCALE") or "100")
    except ValueError:
        scale = 100
    need = mb * scale // 100
    space = free_space(path)
    if space is None or space[0] >= need:
        return None
    have, mnt = space
    return (f"not enough space for {what}: {path} is on {mnt}, which has {have} MB free; "
            f"this needs about {need} MB — free space there or set ZSGATE_CACHE=<dir on a bigger disk>")
