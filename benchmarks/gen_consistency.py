#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Deterministic input for the consistency_check benchmark: three text dumps of N paths each.

    .venv/bin/python benchmarks/gen_consistency.py DIR --paths N [--seed S] [--relative] [--compact]

Writes ``DIR/catalog_before``, ``DIR/storage`` and ``DIR/catalog_after`` (text format, one path a line, in a
pseudo-random order that differs per file) and ``DIR/expected.json`` (the counts). The catalog dumps get an
empty companion (``catalog_*.inactive``), as ``catalog_dump`` writes. Of the N paths per file:

    dark        N/100   on storage only                                   -> reported dark
    lost        N/100   in both catalog dumps, not on storage             -> reported lost
    registered  N/1000  on storage and in catalog_after only (race)       -> never dark
    deleted     N/1000  in catalog_before only (race)                     -> never lost
    common      the rest, in all three

so every file has exactly N lines. About 1 name in 500 holds a space, non-ASCII UTF-8, a quote or a '|'.
A directory is reused when its ``expected.json`` matches the parameters.

--relative writes the same paths without their leading '/' (as many sites publish them: store/mc/...).
--compact writes short paths (/c/NN/XXXXXXXX, about 17 bytes) for the scale run of 100,000,000 paths.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

CAMPAIGNS = ["RunIISummer20UL18", "Run3Summer22EE", "Run2022F", "Run2023D", "Run3Winter24"]
TIERS = ["AODSIM", "MINIAODSIM", "NANOAODSIM", "RAW", "AOD"]
SPECIAL = [" with space", "-\u00fcn\u00efc\u00f6d\u00e9-\u6570\u636e", "'quoted'", '"dq"', "a|b", "x\\y", "tab\there"]


def name(i: int, seed: int) -> str:
    h = hashlib.blake2b(b"%d:%d" % (seed, i), digest_size=16).hexdigest()
    c = int(h[:2], 16)
    camp = CAMPAIGNS[c % len(CAMPAIGNS)]
    tier = TIERS[(c >> 3) % len(TIERS)]
    ds = int(h[2:5], 16) % 997
    d = int(h[5:9], 16) % 10000
    extra = SPECIAL[c % len(SPECIAL)] if int(h[9:12], 16) % 500 == 0 else ""
    return "/store/mc/%s/Dataset%03d%s/%s/v%d/%05d/%s-%s-%s.root" % (
        camp, ds, extra, tier, c % 4 + 1, d, h[12:20], h[20:24], h[24:32])


def compact_name(i: int, seed: int) -> str:
    return "/c/%02d/%08x" % (i % 97, (i * 2654435761 + seed) & 0xFFFFFFFF)     # a bijection of i < 2**32


def sizes(n: int):
    d = n // 100
    lost = n // 100
    r = n // 1000
    x = n // 1000
    common = n - lost - x
    return {"common": common, "dark": d, "lost": lost, "registered": r, "deleted": x}


def write(path: str, groups, n: int, seed: int, stride: int, relative: bool = False, compact: bool = False):
    """Write the union of index ranges in an affine pseudo-random order (i -> (a*i + b) mod total)."""
    make = compact_name if compact else name
    cut = 1 if relative else 0
    ranges = []
    total = 0
    for start, count in groups:
        ranges.append((total, start, count))
        total += count
    assert total == n
    a = stride
    while gcd(a, total) != 1:
        a += 1
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        buf = []
        for j in range(total):
            k = (a * j + 7919) % total
            for off, start, count in ranges:
                if off <= k < off + count:
                    idx = start + (k - off)
                    break
            buf.append(make(idx, seed)[cut:])
            if len(buf) >= 100000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")
    os.replace(tmp, path)


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def generate(directory: str, n: int, seed: int = 1, force: bool = False, relative: bool = False,
             compact: bool = False) -> dict:
    os.makedirs(directory, exist_ok=True)
    meta_path = os.path.join(directory, "expected.json")
    s = sizes(n)
    meta = {"paths": n, "seed": seed, "version": 1, **s}
    if relative:
        meta["relative"] = True
    if compact:
        meta["compact"] = True
    try:
        with open(meta_path) as f:
            if json.load(f) == meta and not force:
                return meta
    except (OSError, ValueError):
        pass
    # index layout: [common][lost][deleted][dark][registered]
    c0, l0 = 0, s["common"]
    x0 = l0 + s["lost"]
    d0 = x0 + s["deleted"]
    r0 = d0 + s["dark"]
    common, lost, deleted, dark, reg = ((c0, s["common"]), (l0, s["lost"]), (x0, s["deleted"]),
                                        (d0, s["dark"]), (r0, s["registered"]))
    t0 = time.time()
    write(os.path.join(directory, "catalog_before"), [common, lost, deleted], n, seed, 1000003, relative, compact)
    write(os.path.join(directory, "storage"), [common, dark, reg], n, seed, 2000003, relative, compact)
    write(os.path.join(directory, "catalog_after"), [common, lost, reg], n, seed, 3000017, relative, compact)
    for side in ("catalog_before", "catalog_after"):
        open(os.path.join(directory, side + ".inactive"), "w").close()
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    print("generated %d paths per file in %.1f s in %s" % (n, time.time() - t0, directory), file=sys.stderr)
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory")
    ap.add_argument("--paths", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--relative", action="store_true", help="paths without their leading '/'")
    ap.add_argument("--compact", action="store_true", help="short paths, for the scale run")
    args = ap.parse_args(argv)
    print(json.dumps(generate(args.directory, args.paths, args.seed, args.force, args.relative, args.compact)))


if __name__ == "__main__":
    main()
