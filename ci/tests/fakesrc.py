# SPDX-License-Identifier: GPL-2.0
"""A tiny stand-in for a kernel source tree, enough for ci/tree's logic."""
import os
from typing import Optional

FILES = {
    "Makefile": "VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 0\nEXTRAVERSION = -rc7\n",
    "mm/zsmalloc.c": "/* zsmalloc */\n#define ZS_OBJ_CLASS_BITS 8\n",
    "mm/Kconfig": "config ZSMALLOC\n\ttristate\n",
    "mm/Makefile": "obj-$(CONFIG_ZSMALLOC) += zsmalloc.o\n",
    "mm/a.c": "one\ntwo\nthree\n",
    "include/linux/zsmalloc.h": "void zs_free(struct zs_pool *pool, unsigned long obj);\n",
}


def make(root: str) -> str:
    for path, text in FILES.items():
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    return root


def kunit_dir(root: str, files: Optional[dict] = None) -> str:
    """A stand-in for kunit/: zsmalloc_kunit.c (and @files) under @root."""
    os.makedirs(root)
    for name, text in ({"zsmalloc_kunit.c": "/* suite */\n"} | (files or {})).items():
        with open(os.path.join(root, name), "w", encoding="utf-8") as f:
            f.write(text)
    return root


def quilt(root: str, patches: dict) -> str:
    """Write a quilt dir: patches is {name: text}, in order."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "series"), "w", encoding="utf-8") as f:
        for name, text in patches.items():
            f.write(name + "\n")
            with open(os.path.join(root, name), "w", encoding="utf-8") as p:
                p.write(text)
    return root


def read(root: str, path: str) -> str:
    with open(os.path.join(root, path), encoding="utf-8") as f:
        return f.read()


PATCH_A = """Subject: [PATCH 1/2] change a

---
--- a/mm/a.c
+++ b/mm/a.c
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
"""

PATCH_DEFERRED = """Subject: [PATCH 2/2] declare zs_free_deferred

--- a/include/linux/zsmalloc.h
+++ b/include/linux/zsmalloc.h
@@ -1 +1,2 @@
 void zs_free(struct zs_pool *pool, unsigned long obj);
+void zs_free_deferred(struct zs_pool *pool, unsigned long handle);
"""

PATCH_BAD = """Subject: [PATCH 2/2] does not apply

--- a/mm/a.c
+++ b/mm/a.c
@@ -1,3 +1,3 @@
 uno
-dos
+DOS
 tres
"""
