# SPDX-License-Identifier: GPL-2.0
"""Tie a kernel image to the revision that built it (the build stamp).

ci/kunit writes <tree>/<build-dir>/.zsgate-build.json after every kunit.py run:
  {"status": "ok", "key": K, "image": "arch/x86/boot/bzImage", "image_sha256": H, ...}
when the build succeeded, or {"status": "failed", "error": "file:line: error: ...", ...}
when it did not (and removes the stamp before it starts building, so an interrupted build
leaves none). K is a hash of what the image was built from: the tree's state file
(.zsgate-state.json: source, series id and patches, the files zsgate changed), the content
of every file zsgate changed in the tree (the series' files and the KUnit glue), and the
build dir's .config (the kunitconfig and config fragments, as kconfig resolved them).

ci/vm and ci/ab boot an image only when the stamp says "ok", its key is the key of the tree
and build dir as they are now, and the image's own hash is the one stamped. Anything else
is refused with one line naming why: the last build failed (and its first error), the tree
now holds another revision than the one built, the .config changed, the image changed, or
there is no stamp at all (a build not made by ci/kunit; ci/vm --unstamped boots it anyway
and says so).

CLI (for ci/kunit, shell): python3 -m zsgate.build wrap --tree T --build-dir B --arch A
  --name N --log L -- <build command>: inside the build lock, drop the stamp, build, stamp
  (ok or failed, from the build log L, which the command's stdout goes to); `status` then
  prints "build failed: <error>" and exits 1 unless the stamp says ok. `begin`/`end`/`check`
  are the steps alone; see main().
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from .results import build_failure

STAMP = ".zsgate-build.json"
STATE = ".zsgate-state.json"  # written by treeprep.prepare()


def image_rel(arch: str) -> str:
    return "linux" if arch == "um" else "arch/x86/boot/bzImage"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_key(tree: str) -> str:
    """Hash of the revision in a work tree: its state file and every file it names as
    changed by zsgate (series + glue), by content. Not the .config (see input_key)."""
    h = hashlib.sha256()
    sp = os.path.join(tree, STATE)
    touched: List[str] = []
    if os.path.exists(sp):
        with open(sp, "rb") as f:
            raw = f.read()
        h.update(b"S" + raw + b"\0")
        try:
            touched = list(json.loads(raw.decode("utf-8", "replace")).get("touched", []))
        except ValueError:
            pass
    else:
        h.update(b"no state\0")
    for rel in sorted(touched):
        p = os.path.join(tree, rel)
        h.update(b"F" + rel.encode() + b"\0")
        if os.path.isfile(p):
            h.update(file_sha256(p).encode())
        else:
            h.update(b"absent")
    return h.hexdigest()[:20]


def input_key(tree: str, bdir: str) -> str:
    h = hashlib.sha256(tree_key(tree).encode())
    cfg = os.path.join(bdir, ".config")
    h.update(file_sha256(cfg).encode() if os.path.isfile(cfg) else b"no .config")
    return h.hexdigest()[:20]


def series_of(tree: str) -> str:
    try:
        with open(os.path.join(tree, STATE), encoding="utf-8") as f:
            s = json.load(f).get("series")
    except (OSError, ValueError):
        return "?"
    return "none (base)" if not s else str(s.get("id"))


def read_stamp(bdir: str) -> Optional[Dict[str, Any]]:
    try:
        with open(os.path.join(bdir, STAMP), encoding="utf-8") as f:
            stamp: Dict[str, Any] = json.load(f)
            return stamp
    except (OSError, ValueError):
        return None


def _write(bdir: str, doc: Dict[str, Any]) -> None:
    os.makedirs(bdir, exist_ok=True)
    p = os.path.join(bdir, STAMP)
    with open(p + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.replace(p + ".tmp", p)


def invalidate(bdir: str) -> None:
    """Before a build: no stamp, so an interrupted build leaves an image nobody boots."""
    try:
        os.unlink(os.path.join(bdir, STAMP))
    except FileNotFoundError:
        pass


def stamp_ok(tree: str, bdir: str, arch: str, name: str, before: Optional[str] = None) -> Dict[str, Any]:
    """After a successful build. `before` is tree_key() taken before the build: if the
    tree changed meanwhile (another job prepared it), the image is of neither revision."""
    now = tree_key(tree)
    img = os.path.join(bdir, image_rel(arch))
    doc = {"status": "ok", "name": name, "arch": arch, "series": series_of(tree),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tree_key": now}
    if before is not None and before != now:
        doc.update(status="failed", error="the work tree changed while it was being built "
                   "(another job prepared it): the image is of no single revision")
    elif not os.path.isfile(img):
        doc.update(status="failed", error=f"kunit.py reported a build but there is no {image_rel(arch)}")
    else:
        doc.update(key=input_key(tree, bdir), image=image_rel(arch), image_sha256=file_sha256(img))
    _write(bdir, doc)
    return doc


def stamp_failed(tree: str, bdir: str, arch: str, name: str, error: str, log: str = "") -> Dict[str, Any]:
    doc = {"status": "failed", "name": name, "arch": arch, "series": series_of(tree),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "error": error, "log": log}
    _write(bdir, doc)
    return doc


def check(tree: str, bdir: str, arch: str, unstamped_ok: bool = False) -> Optional[str]:
    """None if the image in bdir may be booted as this tree's revision, else why not (one
    line). With unstamped_ok an image with no stamp at all passes (never a failed or a
    mismatched one)."""
    img = os.path.join(bdir, image_rel(arch))
    st = read_stamp(bdir)
    if st is None:
        if unstamped_ok and os.path.isfile(img):
            return None
        if not os.path.isfile(img):
            return f"no kernel at {img} (build it with ci/kunit first)"
        return (f"{img} has no build stamp ({STAMP}): ci/kunit did not build it, its build "
                "did not finish, or a build of this tree is running now; not booting an image "
                "of unknown origin")
    if st.get("status") != "ok":
        return (f"the last build of this tree failed ({st.get('name', '?')}, series "
                f"{st.get('series', '?')}): {st.get('error', '?')}")
    if not os.path.isfile(img):
        return f"no kernel at {img} although the stamp says {st.get('name')} built one"
    now_tree = tree_key(tree)
    if st.get("tree_key") != now_tree:
        return (f"{img} was built by {st.get('name')} from series {st.get('series')}; the tree now "
                f"holds series {series_of(tree)} (tree key {now_tree} != {st.get('tree_key')}): "
                "rebuild with ci/kunit")
    if st.get("key") != input_key(tree, bdir):
        return (f"{img}: {bdir}/.config changed since {st.get('name')} built it "
                "(another config; its build did not finish): rebuild with ci/kunit")
    if st.get("image_sha256") != file_sha256(img):
        return f"{img} is not the image {st.get('name')} built (its hash changed since the stamp)"
    return None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m zsgate.build")
    ap.add_argument("cmd", choices=["begin", "end", "check", "wrap", "status"])
    ap.add_argument("--tree", required=True)
    ap.add_argument("--build-dir", required=True, help="relative to the tree, or absolute")
    ap.add_argument("--arch", default="x86_64")
    ap.add_argument("--name", default="?")
    ap.add_argument("--log", help="end: kunit.py's build log (decides built or failed)")
    ap.add_argument("--before", help="end: the tree key printed by begin")
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    a = ap.parse_args(argv)
    bdir = os.path.join(a.tree, a.build_dir)
    if a.cmd == "wrap":
        # begin, the build, end, all inside the caller's build lock: a job waiting for the
        # lock must not drop the stamp of an image another job is about to boot
        before = tree_key(a.tree)
        invalidate(bdir)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        sys.stdout.flush()
        rc = subprocess.call(command, env=env) if command else 2
        sys.stdout.flush()
        main(["end", "--tree", a.tree, "--build-dir", a.build_dir, "--arch", a.arch, "--name", a.name,
              "--log", a.log or "", "--before", before])
        return rc
    if a.cmd == "status":
        st = read_stamp(bdir)
        if st is None or st.get("status") != "ok":
            print(f"build failed: {(st or {}).get('error', 'no build stamp after the build')}")
            return 1
        return 0
    if a.cmd == "begin":
        invalidate(bdir)
        print(tree_key(a.tree))
        return 0
    if a.cmd == "end":
        lines: List[str] = []
        if a.log and os.path.exists(a.log):
            with open(a.log, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        why = build_failure(lines, os.path.realpath(a.tree))
        if why is None:
            doc = stamp_ok(a.tree, bdir, a.arch, a.name, a.before)
        else:
            doc = stamp_failed(a.tree, bdir, a.arch, a.name, why, a.log or "")
        if doc["status"] != "ok":
            print(f"build failed: {doc['error']}")
            return 1
        return 0
    why = check(a.tree, bdir, a.arch)
    if why:
        print(why)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
