#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Deterministic DPM (DPNS ``Cns_file_metadata``) namespace for the se_dump benchmarks.

    gen_dpm.py [--files N] [--dirs D] [--seed S]

The namespace is the POSIX benchmark tree (see gen_tree.py: same leaf layout, names, sizes
and mtimes) placed under ``/dpm/example.org/home/vo`` : ``D`` leaf directories plus their
parents, ``N`` regular files spread round-robin over the leaves, 97 % of them with an adler32
(``csumtype='AD'``), the others without a checksum. ``xattr`` stays NULL (a legacy, non-DOME head
node), so the DPM scanner reads the checksum from ``csumtype``/``csumvalue`` only.

Loading reuses the integration-test seeder (tests/seed.py: ``LOAD DATA LOCAL INFILE`` in chunks
of 100,000 rows into the schema of tests/fixtures/sql/cns_mysql.sql, which follows
reference/storage-consistency.md §2.1). Run as a script it starts a throwaway MariaDB from
tests/servers.py, loads the namespace, prints the timing and the row counts, and stops it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import gen_tree  # noqa: E402

VO_ROOT = "/dpm/example.org/home/vo"


def file_tuples(files: int, dirs: int, seed: int = 42, base: str = VO_ROOT):
    """(path, size, mtime, csumtype, csumvalue) for every file, generated lazily."""
    _fan, leaves = gen_tree.layout(dirs)
    leaves = ["%s/%s" % (base, rel) for rel in leaves]
    rnd = random.Random(seed)
    for k in range(files):
        name = gen_tree.file_name(k, rnd)
        size = gen_tree.file_size(rnd)
        mtime = gen_tree.BASE_MTIME - rnd.randrange(0, 365 * 86400)
        csum = rnd.getrandbits(32)
        if k % 33 == 7:
            yield ("%s/%s" % (leaves[k % dirs], name), size, mtime, "", "")
        else:
            yield ("%s/%s" % (leaves[k % dirs], name), size, mtime, "AD", "%08x" % csum)


def load(mariadb, dbname: str, files: int, dirs: int, seed: int = 42) -> dict:
    """Create ``dbname`` (replacing it) on the harness server and load the namespace."""
    import seed as tseed    # tests/seed.py

    t0 = time.monotonic()
    mariadb.create_database(dbname)
    mariadb.load_sql_file(tseed.CNS_SCHEMA, dbname)
    res = tseed.seed_dpm(mariadb, dbname, file_tuples(files, dirs, seed), dir_mtime=gen_tree.BASE_MTIME,
                         dir_nlink=False)
    # statistics and a warm buffer pool for both contenders
    mariadb.execute("ANALYZE TABLE Cns_file_metadata", db=dbname)
    return {"database": dbname, "files": res.files, "dirs": res.dirs_created,
            "seconds": round(time.monotonic() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--dirs", type=int, default=10_000, help="leaf directories (default 10000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--buffer-pool", default="2G")
    a = ap.parse_args(argv)
    import servers          # tests/servers.py

    with servers.MariaDB(buffer_pool=a.buffer_pool) as db:
        info = load(db, "cns_bench", a.files, a.dirs, a.seed)
        rows = db.execute("SELECT (filemode & 61440) = 32768, COUNT(*) FROM Cns_file_metadata GROUP BY 1",
                          db="cns_bench")
        print(info, dict((("files" if k else "dirs"), n) for k, n in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
