#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Per-file cost of the cleanups' complete catalog re-check (issue 8 §1.1) on a throwaway MariaDB.

    .venv/bin/python benchmarks/bench_recheck.py [--replicas N]

Seeds N replicas of one storage element (SRM ?SFN= form; 0.1 % of them with a doubled slash, an unusual form),
then prints: the time of the run's one pass over the replica table (ReplicaIndex.build), the median time of
Catalog.find_replicas for absent paths, present paths in the usual form and present paths in an unusual form,
and, for comparison, the median time of the "complete superset" alternative (a LIKE '%/<name>%' scan of the
replica table per path).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "collections"))

import seed  # noqa: E402
from servers import MariaDB  # noqa: E402
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access  # noqa: E402
from ansible_collections.vapor.ops.plugins.module_utils._catalog import sfn as cat_sfn  # noqa: E402

SE = "se.example.org"
TOP = "/dpm/example.org/home/vo"


def median_ms(fn, items):
    ts = []
    for x in items:
        t0 = time.perf_counter()
        fn(x)
        ts.append(time.perf_counter() - t0)
    return round(statistics.median(ts) * 1000, 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=1000000)
    n = ap.parse_args().replicas
    srv = MariaDB()
    srv.start()
    try:
        srv.create_database("cns_b", schema=seed.CNS_SCHEMA)
        seed.seed_dpm(srv, "cns_b", ((f"{TOP}/data/d{i % 1000}/f{i}.root", 1, 0, "", "") for i in range(n)),
                      replica=(SE, "/fs", "pool"))
        conn = srv.root_connect("cns_b")
        cur = conn.cursor()
        cur.execute(f"UPDATE Cns_file_replica SET sfn = CONCAT('srm://{SE}:8446/srm/managerv2?SFN={TOP}/data/d', "
                    "MOD(fileid, 1000), '/f', fileid, '.root')")
        cur.execute(f"UPDATE Cns_file_replica SET sfn = CONCAT('srm://{SE}:8446/srm/managerv2?SFN={TOP}//data/d', "
                    "MOD(fileid, 1000), '/f', fileid, '.root') WHERE MOD(fileid, 1000) = 7")
        conn.commit()
        cur.execute("SELECT sfn FROM Cns_file_replica ORDER BY rowid LIMIT 200 OFFSET 5000")
        usual = [r[0].decode() for r in cur.fetchall()]
        cur.execute("SELECT sfn FROM Cns_file_replica WHERE sfn LIKE '%%vo//data%%' LIMIT 200")
        unusual = [r[0].decode() for r in cur.fetchall()]
        conn.close()
        spec = {"backend": "mysql", "host": srv.host, "port": srv.port, "user": srv.user,
                "password": srv.password, "database": "cns_b"}
        c = cat_access.open_catalog(spec)
        m = cat_sfn.SfnMapping(SE, TOP)
        c.learn_heads(m)
        t0 = time.perf_counter()
        index = cat_sfn.ReplicaIndex(m).build(c)
        print(f"replicas {n}: ReplicaIndex.build {time.perf_counter() - t0:.2f} s {index.describe()}")
        find = lambda p: c.find_replicas(p, m, index)  # noqa: E731
        print("find_replicas ms/file: absent", median_ms(find, [f"/data/d{k}/x{k}.root" for k in range(200)]),
              "present usual", median_ms(find, [m.dump_path(s)[0] for s in usual]),
              "present unusual", median_ms(find, [m.dump_path(s)[0] for s in unusual]))
        like = lambda p: c.all("SELECT rowid FROM Cns_file_replica WHERE sfn LIKE %s ESCAPE '!'",  # noqa: E731
                               ["%/" + p.rsplit("/", 1)[1] + "%"])
        print("LIKE superset scan ms/file (absent):", median_ms(like, [f"/data/d{k}/x{k}.root" for k in range(5)]))
        c.close()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
