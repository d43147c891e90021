# SPDX-License-Identifier: GPL-2.0
"""Read a series revision: a quilt directory (a `series` file) or a b4/git mbox."""

import email
import email.message
import email.policy
import hashlib
import mailbox
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Set, cast


class SeriesError(Exception):
    """A series that cannot be used, with a message for the user."""


@dataclass
class Patch:
    name: str   # file name (quilt) or "NNNN-subject" (mbox)
    text: str   # the patch as `patch -p1` reads it


@dataclass
class Series:
    kind: str             # "quilt" or "mbox"
    path: str
    patches: List[Patch]

    @property
    def ident(self) -> str:
        """Short content hash: the same patches give the same id."""
        h = hashlib.sha256()
        for p in self.patches:
            h.update(p.name.encode() + b"\0" + p.text.encode() + b"\0")
        return h.hexdigest()[:12]


_SUBJECT_NUM = re.compile(r"\[[^\]]*?PATCH[^\]]*?\b(\d+)/(\d+)\s*\]", re.I)
_SUBJECT_PATCH = re.compile(r"\[[^\]]*?PATCH[^\]]*\]", re.I)


def _revision(subject: str) -> str:
    """"v3" of "[PATCH v3 1/2] ..." ("v1" without a version tag)."""
    m = _SUBJECT_PATCH.search(subject)
    v = re.search(r"\bv(\d+)\b", m.group(0), re.I) if m else None
    return f"v{v.group(1)}" if v else "v1"


def _has_diff(body: str) -> bool:
    return bool(re.search(r"^(diff --git |--- (a/|/dev/null)\S*)", body, re.M)) and \
        bool(re.search(r"^\+\+\+ ", body, re.M))


def _slug(subject: str) -> str:
    s = _SUBJECT_PATCH.sub("", subject).strip()
    s = re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")
    return s[:52] or "patch"


def _body(msg: email.message.EmailMessage) -> str:
    if msg.is_multipart():
        for part in msg.walk():
            if part.get_content_type() == "text/plain" and not part.is_multipart():
                return str(part.get_content())
        return ""
    return str(msg.get_content())


# A series is untrusted text: nothing in it is run, and a patch may only change regular
# files inside the tree. Checked for every patch before anything is applied.
_PATH_LINE = re.compile(r"^(?:--- |\+\+\+ )(\S+)|^(?:rename|copy) (?:from|to) (\S+)$|^diff --git (\S+) (\S+)$")
_MODE_LINE = re.compile(r"^(?:new file mode|new mode|deleted file mode|old mode) (\d+)$")


def check_patch(p: Patch) -> None:
    """Refuse a patch that reaches outside the tree, makes a symlink or is not a text diff."""
    lines = p.text.replace("\r\n", "\n").splitlines()
    for i, line in enumerate(lines):
        m = _PATH_LINE.match(line)
        if m:
            strip = line.startswith(("--- ", "+++ ", "diff --git "))
            for raw in (g for g in m.groups() if g):
                _check_path(p.name, raw, strip)
            continue
        m = _MODE_LINE.match(line)
        if m and m.group(1) not in ("100644", "100755"):
            raise SeriesError(f"patch {p.name} sets file mode {m.group(1)} (line {i + 1}): "
                              "only regular files may be changed, no symlinks or submodules")
        if line.startswith("GIT binary patch") or re.match(r"^Binary files .* differ$", line):
            raise SeriesError(f"patch {p.name} carries a binary diff (line {i + 1}): only text diffs are applied")
    if not re.search(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@", p.text, re.M):
        raise SeriesError(f"patch {p.name} has no unified diff hunk: only unified diffs are applied")


def _check_path(name: str, raw: str, strip: bool) -> None:
    if raw == "/dev/null":
        return
    path = raw.split("/", 1)[1] if strip and "/" in raw else raw
    parts = path.split("/")
    if raw.startswith("/") or path.startswith("/") or ".." in parts or not path or "" in parts[:-1]:
        raise SeriesError(f"patch {name} names a path outside the tree: {raw}")


def read_quilt(path: str) -> Series:
    series_file = os.path.join(path, "series")
    top = os.path.realpath(path)
    patches = []
    with open(series_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            name, opts = fields[0], fields[1:]
            if opts and opts != ["-p1"]:
                raise SeriesError(f"{series_file}:{lineno}: only -p1 patches are supported, got {' '.join(opts)}")
            pfile = os.path.join(path, name)
            real = os.path.realpath(pfile)
            if os.path.isabs(name) or not real.startswith(top + os.sep):
                raise SeriesError(f"{series_file}:{lineno}: patch {name} is outside the series directory")
            if not os.path.isfile(pfile):
                raise SeriesError(f"{series_file}:{lineno}: patch {name} is listed but missing")
            with open(pfile, encoding="utf-8", errors="surrogateescape") as pf:
                patches.append(Patch(name, pf.read()))
    if not patches:
        raise SeriesError(f"{series_file} lists no patches")
    for p in patches:
        check_patch(p)
    return Series("quilt", path, patches)


def read_mbox(path: str) -> Series:
    """Take the [PATCH n/N] messages of an mbox in order; skip the cover letter and replies."""
    box = mailbox.mbox(path, create=False)
    found = {}
    revs: Set[str] = set()
    total: Optional[int] = None
    try:
        # policy.default parses into EmailMessage (get_content)
        messages = [cast(email.message.EmailMessage,
                         email.message_from_bytes(box.get_bytes(k), policy=email.policy.default))
                    for k in box.keys()]
    finally:
        box.close()
    for msg in messages:
        subject = " ".join(str(msg.get("Subject", "")).split())
        if re.match(r"^\s*(re|aw|fwd?)\s*:", subject, re.I):
            continue
        if not _SUBJECT_PATCH.search(subject):
            continue
        m = _SUBJECT_NUM.search(subject)
        n, of = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        if n == 0:
            continue  # cover letter
        body = _body(msg).replace("\r\n", "\n")
        if not _has_diff(body):
            continue
        rev = _revision(subject)
        if revs and rev not in revs:
            raise SeriesError(f"{path}: mixes revisions {', '.join(sorted(revs | {rev}))}: save one revision (b4 am -v N)")
        revs.add(rev)
        if n in found:
            raise SeriesError(f"{path}: two messages claim to be patch {n}/{of}")
        if total is not None and of != total:
            raise SeriesError(f"{path}: patches disagree on the series length ({total} and {of})")
        total = of
        header = f"From: {msg.get('From', '')}\nSubject: {subject}\n\n"
        found[n] = Patch(f"{n:04d}-{_slug(subject)}.patch", header + body)
    if not found:
        raise SeriesError(f"{path}: no [PATCH] message with a diff in this mbox")
    missing = [str(i) for i in range(1, (total or 0) + 1) if i not in found]
    if missing:
        raise SeriesError(f"{path}: patch {', '.join(missing)} of {total} missing from the mbox")
    patches = [found[i] for i in sorted(found)]
    for p in patches:
        check_patch(p)
    return Series("mbox", path, patches)


def _looks_like_mbox(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    return head.startswith(b"From ") or (b"\nSubject:" in head and b"\nFrom:" in head)


def read_series(path: str) -> Series:
    """A quilt dir (with a `series` file) or an mbox file; anything else is an error."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "series")):
            raise SeriesError(f"SERIES={path} is a directory without a quilt `series` file")
        return read_quilt(path)
    if os.path.isfile(path):
        if not _looks_like_mbox(path):
            raise SeriesError(f"SERIES={path} is neither a quilt directory nor an mbox")
        return read_mbox(path)
    raise SeriesError(f"SERIES={path} does not exist")


def touched_files(patch_text: str) -> List[str]:
    """Paths (after -p1) a patch reads or writes, in order, without duplicates."""
    out: List[str] = []
    lines = patch_text.splitlines()

    def add(p: str, strip: bool) -> None:
        if p == "/dev/null":
            return
        if strip:
            p = p.split("/", 1)[1] if "/" in p else p
        if p not in out:
            out.append(p)

    for i, line in enumerate(lines):
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            add(line[4:].split("\t")[0].split()[0], True)
            add(lines[i + 1][4:].split("\t")[0].split()[0], True)
            continue
        m = re.match(r"^(?:rename|copy) (?:from|to) (\S+)$", line)
        if m:
            add(m.group(1), False)
    return out
