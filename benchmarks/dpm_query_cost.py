#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a query costs MariaDB: server CPU and wall time of streaming a query's whole result.

    .venv/bin/python benchmarks/dpm_query_cost.py [--files N] [--dirs D] [--reps R] [QUERIES_FILE]

Starts a throwaway MariaDB (tests/servers.py), loads the DPM benchmark namespace (gen_dpm.py,
1,000,000 files by default), then runs every named query ``reps`` times, interleaved, each through
a fresh MySQLdb connection and a server-side cursor that fetches and drops the rows (2,000 at a
time, strings as bytes, the cyclic GC off), and prints per query the median and minimum wall
time and the CPU time the mariadbd process spent (from /proc) while the result streamed.

QUERIES_FILE holds one ``name = SELECT ...`` per line (lines starting with ``#`` are comments). Without it the
default set compares the se_dump fast-path query with the benchmark's ``mysql`` baseline query and
with the same query stripped of one expression at a time — the measurements behind the "every
expression costs the server about as much as a column" finding in RESULTS.md.

This is a tuning aid: it prints, it asserts nothing and writes nothing outside a temporary datadir.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "tests"), os.path.join(ROOT, "collections")]

import gen_dpm  # noqa: E402
import servers  # noqa: E402
from bench_se_dump import DPM_DIRS, DPM_QUERY  # noqa: E402

CONCAT = "CONCAT(name, '|', filesize, '|', mtime, '|')"
CSUM = "IF(csumtype = 'AD', IF(LENGTH(csumvalue) = 8, csumvalue, NULL), IF(xattr LIKE '%adler32%', NULL, 'N/A'))"


def default_queries():
    from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_cms import CMS
    from ansible_collections.vapor.ops.plugins.module_utils._storage import dpm as _scan_db
    fast = _scan_db._DpmLines(None, CMS, 1, True).query()
    table = " FROM Cns_file_metadata"
    return [
        ("baseline", DPM_QUERY),
        ("fast-path", fast),
        ("no-checksum", "SELECT parent_fileid, fileid, %s, filesize, filemode & 61440%s" % (CONCAT, table)),
        ("no-kind", "SELECT parent_fileid, fileid, %s, %s, filesize%s" % (CONCAT, CSUM, table)),
        ("bare", "SELECT parent_fileid, fileid, %s, filesize%s" % (CONCAT, table)),
        ("bare+where", "SELECT parent_fileid, fileid, %s, filesize%s WHERE filemode & 61440 IN (32768, 16384)"
         % (CONCAT, table)),
        ("raw-columns", "SELECT parent_fileid, fileid, name, filesize, mtime, csumtype, csumvalue%s" % table),
    ]


def read_queries(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, query = line.partition(" = ")
            if not sep or not query.upper().startswith("SELECT"):
                raise SystemExit("%s: expected 'name = SELECT ...', got %r" % (path, line[:60]))
            out.append((name.strip(), query.strip()))
    return out


def server_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream(db, database, query):
    import MySQLdb
    import MySQLdb.cursors
    conn = MySQLdb.connect(host=db.host, port=db.port, user=db.user, passwd=db.password, db=database,
                           charset="utf8mb4", use_unicode=False)
    try:
        cur = conn.cursor(MySQLdb.cursors.SSCursor)
        cur.execute(query)
        n = 0
        while True:
            rows = cur.fetchmany(2000)
            if not rows:
                return n
            n += len(rows)
    finally:
        conn.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("queries", nargs="?", help="file of 'name = SELECT ...' lines (default: the built-in set)")
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--dirs", type=int, default=DPM_DIRS)
    ap.add_argument("--reps", type=int, default=9)
    args = ap.parse_args(argv)
    queries = read_queries(args.queries) if args.queries else default_queries()
    with servers.MariaDB(buffer_pool="2G") as db:
        info = gen_dpm.load(db, "cns_cost", args.files, args.dirs)
        print("loaded %(files)d files and %(dirs)d directories in %(seconds)ss" % info, flush=True)
        db.execute("SELECT COUNT(*), SUM(LENGTH(name)), SUM(filesize) FROM Cns_file_metadata", db="cns_cost")
        pid = db.proc.pid
        samples = dict((name, []) for name, _q in queries)
        rows = {}
        gc.disable()
        for _rep in range(args.reps):
            for name, query in queries:
                c0, t0 = server_cpu(pid), time.perf_counter()
                rows[name] = stream(db, "cns_cost", query)
                samples[name].append((time.perf_counter() - t0, server_cpu(pid) - c0))
        gc.enable()
    print("%-14s %9s %10s %10s %14s %13s" % ("query", "rows", "wall med", "wall min", "server CPU med",
                                              "server CPU min"))
    for name, query in queries:
        walls = [w for w, _c in samples[name]]
        cpus = [c for _w, c in samples[name]]
        print("%-14s %9d %9.3fs %9.3fs %13.3fs %13.3fs" % (name, rows[name], statistics.median(walls), min(walls),
                                                          statistics.median(cpus), min(cpus)))
    for name, query in queries:
        print("  %s: %s" % (name, query))


if __name__ == "__main__":
    main()
