#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Deterministic POSIX tree generator for the se_dump benchmarks.

    gen_tree.py ROOT [--files N] [--dirs D] [--seed S] [--force]

Creates ``D`` leaf directories spread over a three-level hierarchy shaped like a grid storage
namespace (``ROOT/store/<campaign>/<dataset>/<block>/``) and ``N`` regular files spread
round-robin over the leaves. Files are sparse: each gets a size (a few bytes up to ~4 GB, from a
seeded PRNG) with ftruncate and a deterministic mtime, so a 200,000-file tree costs inodes, not
disk space. The same arguments always give the same tree (names, sizes, mtimes).

A tree that already matches the arguments is reused: the parameters are recorded in
``ROOT.json`` (next to ROOT, never inside it, so listings of ROOT are not disturbed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time

VERSION = 1
BASE_MTIME = 1_700_000_000          # 2023-11-14: every mtime lies in the year before this


def layout(dirs: int) -> tuple[int, list[str]]:
    """The fan-out and the relative paths of the ``dirs`` leaf directories."""
    fan = 1
    while fan ** 3 < dirs:
        fan += 1
    leaves = []
    for i in range(dirs):
        a, b, c = i // (fan * fan), (i // fan) % fan, i % fan
        leaves.append("store/mc/Campaign%02d/Dataset%03d_PU%02d/block-%05d" % (a, b, b % 7, c))
    return fan, leaves


def file_name(k: int, rnd: random.Random) -> str:
    return "AOD_%08d_%08x.root" % (k, rnd.getrandbits(32))


def file_size(rnd: random.Random) -> int:
    # mostly 10 MB .. 4 GB, some tiny files
    if rnd.random() < 0.05:
        return rnd.randrange(0, 4096)
    return rnd.randrange(10 << 20, 4 << 30)


def params_of(files: int, dirs: int, seed: int) -> dict:
    return {"version": VERSION, "files": files, "dirs": dirs, "seed": seed}


def existing(root: str) -> dict | None:
    try:
        with open(root + ".json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def generate(root: str, files: int, dirs: int | None = None, seed: int = 42, force: bool = False,
             verbose: bool = True) -> dict:
    """Create (or reuse) the tree; return its parameters plus ``created`` (bool)."""
    root = os.path.abspath(root)
    dirs = dirs or max(1, files // 100)
    dirs = min(dirs, max(1, files))
    want = params_of(files, dirs, seed)
    have = existing(root)
    if not force and have is not None and {k: have.get(k) for k in want} == want and os.path.isdir(root):
        return dict(have, created=False)
    t0 = time.time()
    if os.path.lexists(root + ".json"):
        os.unlink(root + ".json")
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    _fan, leaves = layout(dirs)
    leaf_paths = [os.path.join(root, rel) for rel in leaves]
    for p in leaf_paths:
        os.makedirs(p, exist_ok=True)
    rnd = random.Random(seed)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    total = 0
    for k in range(files):
        path = os.path.join(leaf_paths[k % dirs], file_name(k, rnd))
        size = file_size(rnd)
        mtime = BASE_MTIME - rnd.randrange(0, 365 * 86400)
        fd = os.open(path, flags, 0o644)
        try:
            if size:
                os.ftruncate(fd, size)
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)
        total += size
        if verbose and k and k % 100_000 == 0:
            print("  gen_tree: %d files ..." % k, file=sys.stderr, flush=True)
    # directories get fixed mtimes too (deepest first, after every file is in place)
    every = set()
    for p in leaf_paths:
        while p != root and p not in every:
            every.add(p)
            p = os.path.dirname(p)
    for p in sorted(every, key=len, reverse=True) + [root]:
        os.utime(p, (BASE_MTIME, BASE_MTIME))
    info = dict(want, bytes=total, leaves=len(leaf_paths), seconds=round(time.time() - t0, 1))
    with open(root + ".json", "w") as f:
        json.dump(info, f)
    if verbose:
        print("  gen_tree: %d files in %d leaf directories under %s (%.1fs)"
              % (files, dirs, root, time.time() - t0), file=sys.stderr, flush=True)
    return dict(info, created=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--dirs", type=int, default=None, help="leaf directories (default: files/100)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--force", action="store_true", help="regenerate even if ROOT.json matches")
    a = ap.parse_args(argv)
    info = generate(a.root, a.files, a.dirs, a.seed, a.force)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
