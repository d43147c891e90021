# SPDX-License-Identifier: GPL-2.0
"""The header of a mutant (series/mutants/<name>.patch) and the catalogue, for zsgate/mutants.py.

    # mutant: <what is wrong>; caught by: <case>
    # applies-to: series|base      on top of the reference series, or on plain 7.3
    # arch: um|x86_64              the arch that exposes it (one build per mutant)
    # catch: kunit:<glob>          a KUnit case (suite.case glob) must FAIL
    #        ab                    the A/B regression rule (ci/ab) must flag it
    # config: kcsan                optional: build with configs/zsmalloc-kcsan.config and run
                                   only the named cases that are race cases (speed=slow), as
                                   the gate's KCSAN step does
    # ab-rounds: N                 optional: ci/ab rounds for an ab mutant (default 4; ZSGATE_MUTANT_AB_ROUNDS wins)

Mutants with only the first line (older style) are read from it: "(applies to: base" /
"applies on top of series", "caught by: test_a, test_b (um and x86_64)", "ab regression".
"""

import os
import re
from typing import List, NotRequired, TypedDict


class MutantError(Exception):
    """A mutant, the catalogue or a step of a run that cannot be used, with a message."""


class Mutant(TypedDict):
    """A mutant as its header says (parse_mutant())."""
    name: str
    path: str
    what: str
    caught_by_header: str
    applies_to: str          # series | base
    arch: str                # um | x86_64
    catch: str               # kunit:<glob>[,<glob>...] | ab | vm:<test>
    config: str              # "" | kcsan
    ab_rounds: NotRequired[int]
    globs: NotRequired[List[str]]   # kunit: the case globs
    filter: NotRequired[str]        # kunit: the one filter_glob covering them


def parse_mutant(path: str) -> Mutant:
    name = os.path.basename(path)[:-len(".patch")]
    head = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("--- ") or line.startswith("diff "):
                break
            head.append(line.rstrip("\n"))
    first = next((h for h in head if h.startswith("# mutant:")), None)
    if first is None:
        raise MutantError(f"{name}: no '# mutant:' header line")
    keys = {}
    for h in head:
        km = re.match(r"^#\s*(applies-to|arch|catch|config|ab-rounds):\s*(.*?)\s*$", h)
        if km:
            keys[km.group(1)] = km.group(2)
    text = " ".join(head)
    what, _, caught_by = first[len("# mutant:"):].partition("; caught by:")
    what, caught_by = what.strip(), caught_by.strip()

    applies = keys.get("applies-to")
    if not applies:
        applies = "base" if re.search(r"applies to: base|Applies on base", text, re.I) else "series"
    arch = keys.get("arch")
    paren = re.search(r"\(([^()]*)\)\s*$", caught_by)
    if not arch and re.search(r"\bab\b", caught_by):
        arch = "x86_64"  # ci/ab's default arch
    if not arch:
        arches = paren.group(1) if paren else ""
        arch = "um" if re.search(r"\bum\b", arches) else "x86_64" if "x86_64" in arches else "um"
    catch = keys.get("catch")
    if not catch:
        if re.search(r"\bab\b", caught_by):
            catch = "ab"
        else:
            cases = re.findall(r"\b(test_[A-Za-z0-9_]+)", caught_by)
            if not cases:
                raise MutantError(f"{name}: cannot tell which test catches it from '{caught_by}'")
            catch = "kunit:" + ",".join("zsmalloc." + c for c in cases)
    if applies not in ("series", "base"):
        raise MutantError(f"{name}: applies-to must be series or base, not '{applies}'")
    if arch not in ("um", "x86_64"):
        raise MutantError(f"{name}: arch must be um or x86_64, not '{arch}'")
    cfg = keys.get("config", "")
    if cfg not in ("", "kcsan"):
        raise MutantError(f"{name}: unknown config '{cfg}'")
    m: Mutant = {"name": name, "path": path, "what": what, "caught_by_header": caught_by,
                 "applies_to": applies, "arch": arch, "catch": catch, "config": cfg}
    if keys.get("ab-rounds"):
        if not keys["ab-rounds"].isdigit() or int(keys["ab-rounds"]) < 3:
            raise MutantError(f"{name}: ab-rounds must be a number >= 3, not '{keys['ab-rounds']}'")
        m["ab_rounds"] = int(keys["ab-rounds"])
    if catch.startswith("kunit:"):
        m["globs"] = [g.strip() for g in catch[len("kunit:"):].split(",") if g.strip()]
        m["filter"] = kunit_filter(m["globs"])
    elif catch != "ab" and not catch.startswith("vm:"):
        raise MutantError(f"{name}: catch must be kunit:<glob>, ab or vm:<test>, not '{catch}'")
    return m


def kunit_filter(globs: List[str]) -> str:
    """One kunit.py filter_glob that covers every glob (kunit takes one)."""
    if len(globs) == 1:
        return globs[0]
    prefix = os.path.commonprefix(globs)
    return (prefix + "*") if "." in prefix else "zsmalloc.*"


def catalogue(mutants_dir: str, only: str = "") -> List[Mutant]:
    """Every <name>.patch of mutants_dir, by name; only: the names (commas or blanks, a
    .patch suffix allowed) to keep. MutantError (OSError too) for a bad header or an
    unknown name."""
    ms = [parse_mutant(os.path.join(mutants_dir, f)) for f in sorted(os.listdir(mutants_dir))
          if f.endswith(".patch")]
    if not only:
        return ms
    want = [w.strip().removesuffix(".patch") for w in re.split(r"[ ,]+", only) if w.strip()]
    unknown = [w for w in want if w not in {m["name"] for m in ms}]
    if unknown:
        raise MutantError(f"unknown mutant(s): {', '.join(unknown)} (known: {', '.join(m['name'] for m in ms)})")
    return [m for m in ms if m["name"] in want]


def list_line(m: Mutant) -> str:
    """The --list line of a mutant: how its header was read."""
    return f"{m['name']:42} {m['applies_to']:6} {m['arch']:6} {m['config'] or '-':5} {m['catch']}"
