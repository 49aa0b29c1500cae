# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The dCache Chimera scanner (t_inodes/t_dirs/t_inodes_checksum on PostgreSQL): the directories first (every
# path resolved once), then the files through a server-side cursor. Memory grows with the number of
# directories in scope, never with the number of files.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32
from ansible_collections.vapor.ops.plugins.module_utils._storage import nsdb
from ansible_collections.vapor.ops.plugins.module_utils._clients.db import connect_pg, db_where, exc_text

CHIMERA_ROOT_PNFSID = '000000000000000000000000000000000000'


def resolve_dirs(rows, root_id, roots):
    """Directory rows (id, parent, name) -> {id: (path, root_idx)} for the directories under a root.

    ``root_id`` is the namespace root's id (its path is '').
    """
    parent = {}
    for fid, pid, name in rows:
        parent[fid] = (pid, name)
    path = {root_id: ''}
    for fid in parent:
        if fid in path:
            continue
        chain = []
        cur = fid
        while cur not in path:
            entry = parent.get(cur)
            if entry is None or len(chain) > 4096:
                break
            chain.append(cur)
            cur = entry[0]
        if cur not in path:
            for c in chain:
                path[c] = None      # orphan or loop: never in scope
            continue
        base = path[cur]
        for c in reversed(chain):
            base = None if base is None else base + '/' + parent[c][1]
            path[c] = base
    del parent
    prefixes = [(i, r.rstrip('/')) for i, r in enumerate(roots)]
    scope = {}
    for fid, p in path.items():
        if p is None:
            continue
        full = p or '/'
        for i, r in prefixes:
            if r in ('', '/') or full == r or full.startswith(r + '/'):
                scope[fid] = (p, i)
                break
    return scope


def _cursor_rows(cur):
    while True:
        rows = cur.fetchmany(nsdb.FETCH)
        if not rows:
            break
        yield from rows


def scan_dcache(sink, db, roots, durations=None):
    roots = [normalise_path(r) for r in (roots or ['/'])]
    t0 = time.time()
    conn, settings = connect_pg(db)
    with nsdb.reading(conn, settings):
        cur = conn.cursor()
        try:
            cur.execute("SELECT inumber FROM t_inodes WHERE ipnfsid = %s", (CHIMERA_ROOT_PNFSID,))
            row = cur.fetchone()
        except Exception as exc:
            raise VaporError("The database %s has no usable Chimera namespace (t_inodes): %s."
                             % (db_where(settings), exc_text(exc)))
        if row is None:
            raise VaporError("The database %s has no Chimera root inode (pnfsid %s)." % (db_where(settings), CHIMERA_ROOT_PNFSID))
        root_id = row[0]
        cur.close()
        scur = conn.cursor(name='vapor_dirs')
        scur.itersize = nsdb.FETCH
        scur.execute("SELECT d.ichild, d.iparent, d.iname FROM t_dirs d JOIN t_inodes i ON i.inumber = d.ichild "
                     "WHERE i.itype = 16384 AND d.iname NOT IN ('.', '..') AND d.ichild <> d.iparent")
        scope = resolve_dirs(_cursor_rows(scur), root_id, roots)
        scur.close()
        nsdb.check_roots(set(i for _p, i in scope.values()), roots, settings)
        scur = conn.cursor(name='vapor_files')
        scur.itersize = nsdb.FETCH
        scur.execute("SELECT d.iparent, d.iname, i.isize, CAST(EXTRACT(EPOCH FROM i.imtime) AS BIGINT), c.isum "
                     "FROM t_dirs d JOIN t_inodes i ON i.inumber = d.ichild "
                     "LEFT JOIN t_inodes_checksum c ON c.inumber = d.ichild AND c.itype = 1 "
                     "WHERE i.itype = 32768")
        add = sink.add
        for row in _cursor_rows(scur):
            d = scope.get(row[0])
            if d is None:
                continue
            add(d[1], d[0] + '/' + row[1], int(row[2] or 0), row[3], normalise_adler32(row[4]))
        scur.close()
        conn.rollback()
    if durations is not None:
        durations.extend([round(time.time() - t0, 3)] * len(roots))


def scan_source(p, sink, durations, partdir=None, skip=()):
    """The scanner registry's entry point: the se_dump parameters ``p``."""
    scan_dcache(sink, p['db'], p['roots'], durations=durations)
