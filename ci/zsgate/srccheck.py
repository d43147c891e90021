# SPDX-License-Identifier: GPL-2.0
"""The unpacked kernel source against its manifest (ci/source).

ci/source writes the manifest right after a complete unpack (tar exited 0), before the
completion stamp: one line per regular file and symlink of the tree,
    <f|l> <size> <mtime_ns> <sha256 of the content or of the link target> <path>
Every later ci/source checks the cached tree against it before anything is built from it:
by default each entry's type, size and mtime (one lstat per file: about 1 s for the 96,000
files of linux-source-7.3 on 2 cores); with ZSGATE_VERIFY_SOURCE=full also each sha256
(reads the 1.6 GB). A file truncated, rewritten in place (an editor that keeps the hard
link of a work tree, which is the source's inode too), removed or replaced is found;
files that are not in the manifest (none should be) are not looked at.

CLI: python3 -m zsgate.srccheck write TREE MANIFEST | check TREE MANIFEST [--full]
check prints one line (how many entries differ, the first few named) and exits 1 when
something differs.
"""

import hashlib
import os
import stat
import sys
from typing import Iterator, List, Optional, Tuple

from .build import file_sha256


def _entry(root: str, rel: str, full: bool = True) -> Tuple[str, int, int, str]:
    p = os.path.join(root, rel)
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode):
        return "l", st.st_size, st.st_mtime_ns, hashlib.sha256(os.readlink(p).encode()).hexdigest()
    if not stat.S_ISREG(st.st_mode):
        return "?", st.st_size, st.st_mtime_ns, "-"
    return "f", st.st_size, st.st_mtime_ns, file_sha256(p) if full else "-"


def _walk(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            yield os.path.relpath(os.path.join(dirpath, fn), root)


def write(root: str, manifest: str) -> int:
    n = 0
    tmp = manifest + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as out:
        for rel in _walk(root):
            if "\n" in rel:
                raise ValueError(f"{rel!r}: a newline in a file name")
            kind, size, mtime, digest = _entry(root, rel)
            out.write(f"{kind} {size} {mtime} {digest} {rel}\n")
            n += 1
    os.replace(tmp, manifest)
    return n


def check(root: str, manifest: str, full: bool = False) -> List[str]:
    """What differs from the manifest, one short line per entry (empty: the tree is whole)."""
    bad: List[str] = []
    with open(manifest, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            try:
                kind, size, mtime, digest, rel = line.rstrip("\n").split(" ", 4)
            except ValueError:
                bad.append(f"manifest line {line.strip()[:60]!r} is malformed")
                continue
            try:
                k, s, m, d = _entry(root, rel, full=full or kind == "l")
            except FileNotFoundError:
                bad.append(f"{rel}: missing")
                continue
            except OSError as e:
                bad.append(f"{rel}: {e.strerror}")
                continue
            if k != kind:
                bad.append(f"{rel}: {'a symlink' if k == 'l' else 'not a regular file' if k == '?' else 'a file'} now")
            elif int(size) != s:
                bad.append(f"{rel}: {s} bytes, the manifest says {size}")
            elif int(mtime) != m:
                bad.append(f"{rel}: modified since it was unpacked")
            elif (full or kind == "l") and d != digest:
                bad.append(f"{rel}: content differs (sha256)")
    return bad


def main(argv: Optional[List[str]] = None) -> int:
    a = list(sys.argv[1:] if argv is None else argv)
    if len(a) == 3 and a[0] == "write":
        n = write(a[1], a[2])
        print(f"{n} files")
        return 0
    if len(a) in (3, 4) and a[0] == "check" and (len(a) == 3 or a[3] == "--full"):
        if not os.path.isfile(a[2]):
            print(f"no manifest {a[2]}")
            return 1
        bad = check(a[1], a[2], full=len(a) == 4)
        if bad:
            print(f"{len(bad)} file(s) differ from the manifest written when it was unpacked: "
                  + "; ".join(bad[:3]) + ("; ..." if len(bad) > 3 else ""))
            return 1
        return 0
    print("usage: python3 -m zsgate.srccheck write TREE MANIFEST | check TREE MANIFEST [--full]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
