# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Data access to the file catalog: one Catalog class over one connection to a Cns_* namespace, SQLite (the
# embedded default) or MySQL/MariaDB (a real LFC or DPM head node's cns_db). It does the reading (path
# resolution, listing, identities, replicas of a storage element), the few writes the collection needs (seeding
# helpers, removal of a replica and of an entry left without replicas, each in one transaction). open_catalog()
# makes one from the catalog option.
#
# Streaming: the SE's replicas and the directory listings come through server-side cursors (MySQL) or plain
# SQLite cursors; memory never grows with the number of files.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import sqlite3
import time
import uuid
from collections import namedtuple
from contextlib import contextmanager

from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import (
    AVAILABLE, S_IFDIR, S_IFLNK, S_IFREG, is_kind, normalise_group)
from ansible_collections.vapor.ops.plugins.module_utils._catalog.sfn import (
    fold_path, odd_variants, parse_sfn, prefix_variants, upper_bound)
from ansible_collections.vapor.ops.plugins.module_utils._clients.db import (
    HAS_MYSQL, MYSQL_REQUIREMENT, connect_mysql, connect_sqlite, db_where, exc_text)
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path, path_components
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import same_host
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32, xattr_adler32

FETCH = 10000
IN_CHUNK = 500
MAX_SYMLINK_HOPS = 16

Entry = namedtuple('Entry', 'fileid parent_fileid guid name filemode nlink owner_uid gid filesize atime mtime ctime '
                            'status csumtype csumvalue xattr')
Replica = namedtuple('Replica', 'rowid fileid host sfn status poolname fs')

_META_COLS = ('fileid, parent_fileid, guid, name, filemode, nlink, owner_uid, gid, filesize, atime, mtime, ctime, '
              'status, csumtype, csumvalue')
_REPLICA_COLS = 'rowid, fileid, host, sfn, status, poolname, fs'


# ----------------------------------------------------------------------------------------------
# the catalog

class Catalog:
    """One connection to a Cns_* namespace, SQLite or MySQL/MariaDB.

    The connection runs in autocommit mode, so every read sees the current state (a re-check is never answered
    from an old snapshot); writes run inside ``transaction()``.
    """

    def __init__(self, conn, backend, where, sscursor=None):
        self.conn = conn
        self.backend = backend
        self.sqlite = backend == 'sqlite'
        self.where = where
        self._sscursor = sscursor
        self._lock = '' if self.sqlite else ' FOR UPDATE'
        self._in_tx = False
        self._dir_paths = {}
        self._users = None
        self._groups = None
        self._check_schema()

    # -- plumbing ---------------------------------------------------------------------------

    def close(self):
        try:
            self.conn.close()
        except Exception:  # pylint: disable=broad-except
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _sql(self, sql):
        return sql.replace('%s', '?') if self.sqlite else sql

    def _fail(self, exc, what='Reading'):
        if isinstance(exc, VaporError):
            return exc
        return VaporError("%s the catalog %s failed: %s." % (what, self.where, exc_text(exc)))

    def execute(self, sql, params=()):
        cur = self.conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
        except Exception as exc:
            raise self._fail(exc, 'Writing' if self._in_tx else 'Reading')
        return cur

    def _fetch(self, sql, params, fetch):
        cur = self.execute(sql, params)
        try:
            return fetch(cur)
        finally:
            cur.close()

    def one(self, sql, params=()):
        return self._fetch(sql, params, lambda cur: cur.fetchone())

    def all(self, sql, params=()):
        return self._fetch(sql, params, lambda cur: cur.fetchall())

    def stream(self, sql, params=()):
        """Rows of a query, streamed (server-side cursor on MySQL: do not query while iterating)."""
        if self.sqlite:
            cur = self.conn.cursor()
        else:
            cur = self.conn.cursor(self._sscursor)
        try:
            try:
                cur.execute(self._sql(sql), tuple(params))
            except Exception as exc:
                raise self._fail(exc)
            while True:
                try:
                    rows = cur.fetchmany(FETCH)
                except Exception as exc:
                    raise self._fail(exc)
                if not rows:
                    break
                yield from rows
        finally:
            cur.close()

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE (SQLite: the write lock at once) or START TRANSACTION; commit, or roll back."""
        if self._in_tx:
            yield self
            return
        try:
            cur = self.conn.cursor()
            cur.execute('BEGIN IMMEDIATE' if self.sqlite else 'START TRANSACTION')
            cur.close()
        except Exception as exc:
            raise self._fail(exc, 'Writing')
        self._in_tx = True
        try:
            yield self
        except BaseException:
            self._in_tx = False
            try:
                self.conn.rollback()
            except Exception:  # pylint: disable=broad-except
                pass
            self._dir_paths = {}
            self._users = self._groups = None
            raise
        self._in_tx = False
        try:
            self.conn.commit()
        except Exception as exc:
            raise self._fail(exc, 'Writing')

    def _check_schema(self):
        try:
            cur = self.conn.cursor()
            cur.execute('SELECT * FROM Cns_file_metadata WHERE 1 = 0')
            cols = [d[0].lower() for d in cur.description]
            cur.fetchall()
            cur.close()
        except Exception as exc:
            text = exc_text(exc)
            if re.search(r'locked|busy|timeout|timed out|denied|connection|gone away|lost', text, re.I):
                # the namespace may well be there: say what stopped the reading, not that it is missing
                raise VaporError("Reading the catalog %s failed: %s." % (self.where, text))
            raise VaporError("The catalog %s has no LFC/DPNS namespace (table Cns_file_metadata): %s."
                             % (self.where, text))
        self.has_xattr = 'xattr' in cols
        self._meta_cols = _META_COLS + (', xattr' if self.has_xattr else ', NULL')
        self.version = self._schema_version()

    def _schema_version(self):
        """(major, minor, patch) from schema_version (3.x or the old 1.x column names), or None."""
        for cols in ('major, minor, patch', 'major_number, minor_number, patch_number'):
            try:
                cur = self.conn.cursor()
                cur.execute('SELECT %s FROM schema_version' % cols)
                row = cur.fetchone()
                cur.close()
            except Exception:  # pylint: disable=broad-except
                continue
            if row:
                return tuple(int(x) for x in row)
        return None

    # -- namespace ---------------------------------------------------------------------------

    def _entry(self, row):
        return Entry(int(row[0]), int(row[1]), to_text(row[2]), to_text(row[3]), int(row[4] or 0), int(row[5] or 0),
                     row[6], row[7], int(row[8] or 0), row[9], row[10], row[11], to_text(row[12]), to_text(row[13]),
                     to_text(row[14]), to_text(row[15]))

    def root(self):
        row = self.one('SELECT %s FROM Cns_file_metadata WHERE parent_fileid = 0' % self._meta_cols)
        if row is None:
            raise VaporError("The catalog %s has no namespace root (no Cns_file_metadata row with parent_fileid 0)."
                             % self.where)
        return self._entry(row)

    def entry(self, fileid):
        row = self.one('SELECT %s FROM Cns_file_metadata WHERE fileid = %%s' % self._meta_cols, (fileid,))
        return self._entry(row) if row else None

    def child(self, parent_fileid, name):
        row = self.one('SELECT %s FROM Cns_file_metadata WHERE parent_fileid = %%s AND name = %%s' % self._meta_cols,
                       (parent_fileid, name))
        return self._entry(row) if row else None

    def symlink_target(self, fileid):
        row = self.one('SELECT linkname FROM Cns_symlinks WHERE fileid = %s', (fileid,))
        return to_text(row[0]) if row else None

    def lookup(self, path, follow=False):
        """The Entry at a catalog path, resolved component by component, or None.

        Symbolic links inside the path are followed (as LFC does); the last component only when ``follow``.
        """
        comps = path_components(path)
        if not path.startswith('/'):
            raise VaporError("The catalog path '%s' is not absolute." % path)
        cur = self.root()
        done = []
        hops = 0
        while comps:
            name = comps.pop(0)
            if name == '..':
                if done:
                    done.pop()
                cur = self.lookup('/' + '/'.join(done)) if done else self.root()
                continue
            if not is_kind(cur.filemode, S_IFDIR):
                return None
            nxt = self.child(cur.fileid, name)
            if nxt is None:
                return None
            if is_kind(nxt.filemode, S_IFLNK) and (comps or follow):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise VaporError("The catalog path '%s' has too many levels of symbolic links." % path)
                target = self.symlink_target(nxt.fileid) or ''
                base = [] if target.startswith('/') else list(done)
                comps = base + path_components(target) + comps
                done = []
                cur = self.root()
                continue
            done.append(name)
            cur = nxt
        return cur

    def path_of(self, fileid):
        """The catalog path of a fileid, or None for an orphan (the paths of directories are cached)."""
        fileid = int(fileid)
        chain = []
        cur = fileid
        while True:
            if chain and cur in self._dir_paths:
                base = self._dir_paths[cur]
                break
            row = self.one('SELECT parent_fileid, name FROM Cns_file_metadata WHERE fileid = %s', (cur,))
            if row is None:
                return None
            parent = int(row[0])
            if parent == 0:
                base = ''
                if chain:
                    self._dir_paths[cur] = ''
                break
            chain.append((cur, to_text(row[1])))
            cur = parent
            if len(chain) > 4096:
                return None
        path = base
        for fid, name in reversed(chain):
            path = path + '/' + name
            if fid != fileid:
                self._dir_paths[fid] = path
        return path or '/'

    def children(self, fileid):
        """Entries of one directory, streamed (uses PARENT_FILEID_IDX)."""
        for row in self.stream('SELECT %s FROM Cns_file_metadata WHERE parent_fileid = %%s' % self._meta_cols,
                               (fileid,)):
            yield self._entry(row)

    def walk(self, path, recursive=True):
        """(path, Entry) of every entry under ``path`` (depth first, by directory, the parent index).

        Memory holds the directories still to visit, never the files. On MySQL each directory is streamed
        through a server-side cursor: do not query the catalog while iterating.
        """
        top = self.lookup(path, follow=True)
        if top is None:
            raise VaporError("The path '%s' does not exist in the catalog %s." % (path, self.where))
        top_path = normalise_path(path)
        if not is_kind(top.filemode, S_IFDIR):
            yield top_path, top
            return
        stack = [(top.fileid, '' if top_path == '/' else top_path)]
        while stack:
            did, dpath = stack.pop()
            subdirs = []
            for e in self.children(did):
                if e.fileid == did:
                    continue
                p = dpath + '/' + e.name
                if is_kind(e.filemode, S_IFDIR) and recursive:
                    subdirs.append((e.fileid, p))
                yield p, e
            stack.extend(reversed(subdirs))

    # -- identities ---------------------------------------------------------------------------

    def users(self):
        """{uid: DN} from Cns_userinfo (cached)."""
        if self._users is None:
            self._users = dict((int(r[0]), to_text(r[1])) for r in
                               self.all('SELECT userid, username FROM Cns_userinfo'))
        return self._users

    def groups(self):
        """{gid: group name} from Cns_groupinfo (cached)."""
        if self._groups is None:
            self._groups = dict((int(r[0]), to_text(r[1])) for r in
                                self.all('SELECT gid, groupname FROM Cns_groupinfo'))
        return self._groups

    def uid_of(self, dn):
        row = self.one('SELECT userid FROM Cns_userinfo WHERE username = %s', (dn,))
        return int(row[0]) if row else None

    def dn_of(self, uid):
        return self.users().get(int(uid)) if uid is not None else None

    def gid_of(self, group):
        row = self.one('SELECT gid FROM Cns_groupinfo WHERE groupname = %s', (normalise_group(group),))
        return int(row[0]) if row else None

    def group_of(self, gid):
        return self.groups().get(int(gid)) if gid is not None else None

    def _next_id(self, table, floor_sql=None, start=1):
        """The next id from Cns_unique_id/_uid/_gid, as LFC does (row locked, then updated)."""
        row = self.one('SELECT id FROM %s%s' % (table, self._lock))
        current = int(row[0]) if row and row[0] is not None else start - 1
        if floor_sql:
            floor = self.one(floor_sql)
            if floor and floor[0] is not None:
                current = max(current, int(floor[0]))
        new = current + 1
        if row is None:
            self.execute('INSERT INTO %s (id) VALUES (%%s)' % table, (new,))
        else:
            self.execute('UPDATE %s SET id = %%s' % table, (new,))
        return new

    def add_user(self, dn, uid=None, ca=''):
        """Map a certificate DN to a virtual uid (Cns_userinfo); (uid, changed). An existing DN keeps its uid."""
        if not dn or "'" in dn or '"' in dn:
            raise VaporError("The DN '%s' cannot be mapped: it is empty or holds a quote." % dn)
        result = self._map_id(lambda: self.uid_of(dn), uid, 'Cns_unique_uid', 'SELECT MAX(userid) FROM Cns_userinfo',
                              'INSERT INTO Cns_userinfo (userid, username, user_ca, banned, xattr) '
                              'VALUES (%s, %s, %s, 0, NULL)', (dn, ca or ''))
        if result[1]:
            self._users = None
        return result

    def add_group(self, name, gid=None):
        """Map a VO/FQAN to a virtual gid (Cns_groupinfo); (gid, changed)."""
        name = normalise_group(name)
        if not name:
            raise VaporError("The group name is empty.")
        result = self._map_id(lambda: self.gid_of(name), gid, 'Cns_unique_gid', 'SELECT MAX(gid) FROM Cns_groupinfo',
                              'INSERT INTO Cns_groupinfo (gid, groupname, banned, xattr) VALUES (%s, %s, 0, NULL)',
                              (name,))
        if result[1]:
            self._groups = None
        return result

    def _map_id(self, lookup, given, counter, max_sql, insert, values):
        """(id, changed) of an identity mapping: the id ``lookup()`` finds, else ``given`` (or the next free id
        of ``counter``) inserted by ``insert`` with ``values`` after it, in one transaction."""
        with self.transaction():
            old = lookup()
            if old is not None:
                return old, False
            if given is None:
                given = self._next_id(counter, max_sql, start=101)
            self.execute(insert, (int(given),) + tuple(values))
        return int(given), True

    # -- namespace writes (seeding helpers) -------------------------------------------------

    def _new_fileid(self):
        return self._next_id('Cns_unique_id', 'SELECT MAX(fileid) FROM Cns_file_metadata')

    def _insert_entry(self, parent, name, mode, uid, gid, size=0, mtime=None, csumtype='', csumvalue='',
                      guid=None, nlink=0):
        now = int(time.time())
        mtime = now if mtime is None else int(mtime)
        fileid = self._new_fileid()
        self.execute('INSERT INTO Cns_file_metadata (fileid, parent_fileid, guid, name, filemode, nlink, owner_uid, '
                     'gid, filesize, atime, mtime, ctime, fileclass, status, csumtype, csumvalue, acl, xattr) '
                     'VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s, NULL, NULL)',
                     (fileid, parent, guid, name, mode, nlink, uid, gid, size, mtime, mtime, mtime, AVAILABLE,
                      csumtype, csumvalue))
        self.execute('UPDATE Cns_file_metadata SET nlink = nlink + 1, mtime = %s, ctime = %s WHERE fileid = %s',
                     (now, now, parent))
        return fileid

    def mkdir(self, path, mode=0o775, owner_uid=0, gid=0, parents=True):
        """Create a directory (and, with ``parents``, the missing ones above it); (fileid, changed)."""
        comps = path_components(path)
        changed = False
        with self.transaction():
            cur = self.root()
            for i, name in enumerate(comps):
                nxt = self.child(cur.fileid, name)
                if nxt is None:
                    if not parents and i < len(comps) - 1:
                        raise VaporError("The catalog directory '%s' does not exist."
                                         % ('/' + '/'.join(comps[:i + 1])))
                    fid = self._insert_entry(cur.fileid, name, S_IFDIR | (mode & 0o7777), owner_uid, gid)
                    nxt = self.entry(fid)
                    changed = True
                elif not is_kind(nxt.filemode, S_IFDIR):
                    raise VaporError("The catalog path '%s' exists and is not a directory."
                                     % ('/' + '/'.join(comps[:i + 1])))
                cur = nxt
        return cur.fileid, changed

    def register_file(self, lfn, size, mtime=None, checksum=None, replicas=(), owner_dn=None, group=None,
                      mode=0o664, guid=None):
        """Register a file (parents created) with its replicas [(host, sfn, status)]; (fileid, changed).

        An existing file keeps its metadata; replicas it does not have yet (by SFN) are added. File ids come
        from Cns_unique_id, as LFC does.
        """
        comps = path_components(lfn)
        if not comps:
            raise VaporError("The catalog path '%s' is not a file path." % lfn)
        uid = self.add_user(owner_dn)[0] if owner_dn else 0
        gid = self.add_group(group)[0] if group else 0
        parent_path = '/' + '/'.join(comps[:-1])
        changed = False
        with self.transaction():
            parent_id, made = self.mkdir(parent_path, owner_uid=uid, gid=gid)
            changed = changed or made
            e = self.child(parent_id, comps[-1])
            if e is None:
                adler = normalise_adler32(checksum)
                fileid = self._insert_entry(parent_id, comps[-1], S_IFREG | (mode & 0o7777), uid, gid, int(size),
                                            mtime, 'AD' if adler else '', adler or '',
                                            guid or str(uuid.uuid4()), nlink=1)
                changed = True
            elif not is_kind(e.filemode, S_IFREG):
                raise VaporError("The catalog path '%s' exists and is not a regular file." % lfn)
            else:
                fileid = e.fileid
            have = set(r.sfn for r in self.replicas(fileid))
            for rep in replicas or ():
                host, sfn = rep[0], rep[1]
                status = rep[2] if len(rep) > 2 and rep[2] else AVAILABLE
                if sfn in have:
                    continue
                self.add_replica(fileid, host, sfn, status, mtime)
                have.add(sfn)
                changed = True
        return fileid, changed

    def add_replica(self, fileid, host, sfn, status=AVAILABLE, when=None, poolname='', fs='', setname=''):
        when = int(time.time()) if when is None else int(when)
        with self.transaction():
            self.execute('INSERT INTO Cns_file_replica (fileid, nbaccesses, ctime, atime, ptime, ltime, r_type, '
                         'status, f_type, setname, poolname, host, fs, sfn, xattr) '
                         'VALUES (%s, 0, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL)',
                         (fileid, when, when, when, when, 'P', status, 'P', setname, poolname, host, fs, sfn))

    # -- replicas -----------------------------------------------------------------------------

    def _replica(self, row):
        return Replica(int(row[0]), int(row[1]), to_text(row[2]), to_text(row[3]), to_text(row[4]), to_text(row[5]),
                       to_text(row[6]))

    def replicas(self, fileid):
        return [self._replica(r) for r in
                self.all('SELECT %s FROM Cns_file_replica WHERE fileid = %%s ORDER BY rowid' % _REPLICA_COLS,
                         (fileid,))]

    def replicas_of(self, fileids):
        """{fileid: [Replica]} for many files, in chunks (index on fileid)."""
        out = {}
        ids = list(fileids)
        for i in range(0, len(ids), IN_CHUNK):
            chunk = ids[i:i + IN_CHUNK]
            sql = 'SELECT %s FROM Cns_file_replica WHERE fileid IN (%s) ORDER BY rowid' % (
                _REPLICA_COLS, ', '.join(['%s'] * len(chunk)))
            for row in self.all(sql, chunk):
                rep = self._replica(row)
                out.setdefault(rep.fileid, []).append(rep)
        return out

    def _selection(self, mapping, alias=''):
        """WHERE clause (index-friendly: host =, or an sfn range) selecting one storage element's replicas."""
        conds, params = [], []
        if mapping.se:
            # the host column in the usual spellings (index lookups); selects() compares without case anyway
            hosts = []
            for h in (mapping.se, mapping.se.lower(), mapping.se.upper()):
                if h not in hosts:
                    hosts.append(h)
            conds.append('%shost IN (%s)' % (alias, ', '.join(['%s'] * len(hosts))))
            params.extend(hosts)
        if mapping.sfn_prefix:
            ranges = []
            for prefix in prefix_variants(mapping.sfn_prefix):
                upper = upper_bound(prefix)
                if upper is None:
                    ranges.append('%ssfn >= %%s' % alias)
                    params.append(prefix)
                else:
                    ranges.append('(%ssfn >= %%s AND %ssfn < %%s)' % (alias, alias))
                    params.extend([prefix, upper])
            conds.append('(%s)' % ' OR '.join(ranges))
        return ' AND '.join(conds), params

    def any_replica(self, mapping):
        """The SFN (a row) of one replica of the storage element ``mapping`` selects, or None: an index lookup."""
        where, params = self._selection(mapping)
        return self.one('SELECT sfn FROM Cns_file_replica WHERE %s LIMIT 1' % where, params)

    def replicas_under(self, mapping, low, columns, limit):
        """Rows (``columns``) of at most ``limit`` replicas whose SFN starts with ``low`` (an index range), on the
        host ``mapping.se`` when it is set."""
        sql = 'SELECT %s FROM Cns_file_replica WHERE sfn >= %%s AND sfn < %%s' % columns
        args = [low, upper_bound(low)]
        if mapping.se:
            sql += ' AND host = %s'
            args.append(mapping.se)
        return self.all(sql + ' LIMIT %d' % limit, args)

    def se_hosts(self, se):
        """Every spelling of the host ``se`` in the replica table's host column (case, a trailing dot): one
        DISTINCT over the host index, so the selection below is an exact index lookup of all of them."""
        return sorted(set(h for h in (to_text(r[0]) for r in self.all('SELECT DISTINCT host FROM Cns_file_replica'))
                          if h is not None and same_host(h, se)))

    def _complete_selection(self, mapping, alias=''):
        """WHERE clause selecting a superset of every replica ``mapping.selects`` accepts, whatever its spelling.

        ``_selection``'s sfn ranges and host spellings are index-friendly but miss SFNs in other forms (repeated
        slashes, '.', host or scheme case, '?sfn=', another SRM path) and host columns in mixed case or with a
        trailing dot, which the cleanups' re-check (ReplicaIndex) does recognise: what catalog_dump lists must
        be complete. With ``se`` the learnt host spellings (index); with ``sfn_prefix`` alone the whole table,
        filtered by ``selects``.
        """
        if mapping.se:
            hosts = self.se_hosts(mapping.se)
            if not hosts:
                return '1 = 0', []
            return '%shost IN (%s)' % (alias, ', '.join(['%s'] * len(hosts))), hosts
        return '1 = 1', []

    def se_replicas(self, mapping):
        """Stream (host, sfn, status, filesize, mtime, adler32) of every replica of one storage element.

        Every replica ``mapping.selects`` accepts, in one statement (one consistent read); a replica row whose
        file entry is missing still counts (size 0, no mtime), as the re-checks see it."""
        where, params = self._complete_selection(mapping, 'r.')
        sql = ('SELECT r.host, r.sfn, r.status, m.filesize, m.mtime, m.csumtype, m.csumvalue, %s '
               'FROM Cns_file_replica r LEFT JOIN Cns_file_metadata m ON m.fileid = r.fileid WHERE %s'
               % ('m.xattr' if self.has_xattr else 'NULL', where))
        for row in self.stream(sql, params):
            host, sfn = to_text(row[0]), to_text(row[1])
            if not mapping.selects(host, sfn):
                continue
            ctype, cval = to_text(row[5]), to_text(row[6])
            csum = normalise_adler32(cval) if ctype == 'AD' and cval else xattr_adler32(to_text(row[7]))
            yield host, sfn, to_text(row[2]), int(row[3] or 0), row[4], csum

    def learn_heads(self, mapping):
        """The distinct SFN heads (text before the path) used by one storage element's replicas.

        One query over the SE's replicas (index on host, or the sfn range): it groups the SFNs by a key that
        ends where the path starts and returns one SFN per group; parse_sfn() then gives each group's head.
        """
        if mapping.heads is not None:
            return mapping.heads
        where, params = self._selection(mapping)
        key = ("CASE WHEN INSTR(sfn, '?SFN=') > 0 THEN SUBSTR(sfn, 1, INSTR(sfn, '?SFN=') + 4) "
               "WHEN INSTR(sfn, '://') > 0 THEN "
               "SUBSTR(sfn, 1, INSTR(sfn, '://') + 3 + INSTR(SUBSTR(sfn, INSTR(sfn, '://') + 3), '/')) "
               "ELSE SUBSTR(sfn, 1, INSTR(sfn, ':')) END")
        sql = ('SELECT MIN(sfn), MAX(sfn) FROM (SELECT sfn, %s AS k FROM Cns_file_replica WHERE %s) t GROUP BY k'
               % (key, where))
        heads = []
        for row in self.all(sql, params):
            for sfn in row:                  # one of the two may be in no known form ('..' above the root)
                parts = parse_sfn(to_text(sfn))
                if parts is not None and parts.head not in heads:
                    heads.append(parts.head)
        mapping.heads = sorted(heads)
        return mapping.heads

    def replicas_for_path(self, dump_path, mapping, index=None):
        """The replicas (any status) of this storage element whose SFN maps to ``dump_path`` (SfnMapping.dump_path).

        Without ``index`` only the SFNs in the SE's usual forms are found (index lookup ``sfn IN (head + storage
        path, ...)`` over the SE's heads, learnt once). With a ReplicaIndex of the run, every replica is found
        whatever the form of its SFN: see ``find_replicas``.
        """
        if index is not None:
            return self.find_replicas(dump_path, mapping, index)[0]
        return self._exact_replicas(dump_path, mapping)

    def _exact_replicas(self, dump_path, mapping):
        cands = mapping.candidates(dump_path, self.learn_heads(mapping))
        if not cands:
            return []
        sql = 'SELECT %s FROM Cns_file_replica WHERE sfn IN (%s)' % (_REPLICA_COLS, ', '.join(['%s'] * len(cands)))
        params = list(cands)
        if mapping.se:
            sql += ' AND host = %s'
            params.append(mapping.se)
        out = []
        for row in self.all(sql + ' ORDER BY rowid', params):
            rep = self._replica(row)
            if mapping.selects(rep.host, rep.sfn) and mapping.dump_path(rep.sfn)[0] == dump_path:
                out.append(rep)
        return out

    def replicas_by_rowid(self, rowids):
        out = []
        ids = sorted(set(rowids))
        for i in range(0, len(ids), IN_CHUNK):
            chunk = ids[i:i + IN_CHUNK]
            sql = 'SELECT %s FROM Cns_file_replica WHERE rowid IN (%s)' % (_REPLICA_COLS, ', '.join(['%s'] * len(chunk)))
            out.extend(self._replica(row) for row in self.all(sql, chunk))
        return out

    def find_replicas(self, dump_path, mapping, index):
        """(matches, doubtful) for a dump path: every replica now in the catalog that SfnMapping maps to it.

        matches: the selected replicas whose SFN maps to exactly ``dump_path``, found by (1) the index lookup of
        the SE's usual SFN forms, (2) the run's ReplicaIndex of the SFNs in any other form (host case, port,
        repeated slashes, '.', '..', another head; learnt by one pass over the replica table when the run started)
        and (3) the replicas registered since (rowid above the index's high-water mark, read at every call).
        doubtful: selected replicas whose SFN is in no known form but holds the path's last component, so they may
        name this file: a deletion treats them as protecting. Every row is read again, so its current SFN decides.
        """
        index.refresh(self)
        out = self._exact_replicas(dump_path, mapping)
        seen = set(r.rowid for r in out)
        rowids = [i for i in index.rowids_of(dump_path) if i not in seen]
        for rep in self.replicas_by_rowid(rowids):
            if mapping.selects(rep.host, rep.sfn) and mapping.dump_path(rep.sfn)[0] == dump_path:
                out.append(rep)
                seen.add(rep.rowid)
        doubtful = []
        maybe = [i for i in index.doubtful_for(dump_path, mapping) if i not in seen]
        for rep in self.replicas_by_rowid(maybe):
            if mapping.selects(rep.host, rep.sfn) and mapping.dump_path(rep.sfn)[1] == 'unparsable':
                doubtful.append(rep)
                seen.add(rep.rowid)
        # SFNs in an odd form (percent escapes, parameters, blanks, NFC/NFD) that may name this file
        folded = fold_path(dump_path)
        keys = [dump_path] if folded == dump_path else [dump_path, folded]
        maybe = [i for i in index.odd_rowids_of(keys) if i not in seen]
        for rep in self.replicas_by_rowid(maybe):
            parts = parse_sfn(rep.sfn)
            if parts is not None and mapping.selects(rep.host, rep.sfn, parts) and any(
                    mapping.mapper.map(v) in keys for v in odd_variants(parts.path)):
                doubtful.append(rep)
                seen.add(rep.rowid)
        if folded != dump_path:           # the file's name in another spelling (NFD on storage, NFC in catalog)
            other = self.find_replicas(folded, mapping, index)[0]
            doubtful.extend(r for r in other if r.rowid not in seen)
        out.sort(key=lambda r: r.rowid)
        return out, doubtful

    def usage_by_owner(self, mapping):
        """[(owner_uid, files, bytes)] of the files with a replica on one storage element.

        Selected as catalog_dump selects (``_complete_selection`` and ``SfnMapping.selects``): with ``se`` alone
        the database counts; with ``sfn_prefix`` the SE's replicas are streamed and counted here.
        """
        where, params = self._complete_selection(mapping)
        if not mapping.sfn_prefix:     # the learnt host spellings are the selection: the database counts
            sql = ('SELECT m.owner_uid, COUNT(*), SUM(m.filesize) FROM Cns_file_metadata m '
                   'WHERE m.fileid IN (SELECT fileid FROM Cns_file_replica WHERE %s) GROUP BY m.owner_uid' % where)
            return [(int(r[0]) if r[0] is not None else None, int(r[1]), int(r[2] or 0))
                    for r in self.all(sql, params)]
        # an SFN prefix matches spellings no SQL range holds: the replicas are streamed in file order and each
        # file is counted once, as catalog_dump selects them
        where, params = self._complete_selection(mapping, 'r.')
        sql = ('SELECT r.fileid, r.host, r.sfn, m.owner_uid, m.filesize FROM Cns_file_replica r '
               'JOIN Cns_file_metadata m ON m.fileid = r.fileid WHERE %s ORDER BY r.fileid' % where)
        usage = {}
        last = None
        for fileid, host, sfn, uid, size in self.stream(sql, params):
            if fileid == last or not mapping.selects(to_text(host), to_text(sfn)):
                continue
            last = fileid
            uid = int(uid) if uid is not None else None
            files, nbytes = usage.get(uid, (0, 0))
            usage[uid] = (files + 1, nbytes + int(size or 0))
        return [(uid, files, nbytes) for uid, (files, nbytes) in usage.items()]

    # -- removals -----------------------------------------------------------------------------

    def remove_replica(self, rep, remove_orphan=True, require_status=AVAILABLE):
        """Remove one replica row in one transaction, and the file entry when no replica is left.

        The row is locked and checked again inside the transaction: it must still exist with the same file, SFN
        and (when ``require_status``) status. Returns (outcome, entry_removed): outcome 'removed', 'gone' (another
        process removed it) or 'changed' (status or SFN changed: nothing done).
        """
        with self.transaction():
            # lock the entry first, so that a replica being added to it meanwhile waits for us
            meta = self.one('SELECT parent_fileid, filemode FROM Cns_file_metadata WHERE fileid = %%s%s'
                            % self._lock, (rep.fileid,))
            row = self.one('SELECT fileid, sfn, status, host FROM Cns_file_replica WHERE rowid = %%s%s' % self._lock,
                           (rep.rowid,))
            if row is None:
                return 'gone', False
            if int(row[0]) != rep.fileid or to_text(row[1]) != rep.sfn or to_text(row[3]) != rep.host:
                return 'changed', False
            if require_status and to_text(row[2]) != require_status:
                return 'changed', False
            self.execute('DELETE FROM Cns_file_replica WHERE rowid = %s', (rep.rowid,))
            removed = False
            if remove_orphan and meta is not None and is_kind(meta[1], S_IFREG):
                left = self.one('SELECT COUNT(*) FROM Cns_file_replica WHERE fileid = %s', (rep.fileid,))
                if int(left[0]) == 0:
                    self._remove_entry(rep.fileid, int(meta[0]))
                    removed = True
        return 'removed', removed

    def _remove_entry(self, fileid, parent):
        now = int(time.time())
        self.execute('DELETE FROM Cns_user_metadata WHERE u_fileid = %s', (fileid,))
        self.execute('DELETE FROM Cns_file_metadata WHERE fileid = %s', (fileid,))
        self.execute('UPDATE Cns_file_metadata SET nlink = nlink - 1, mtime = %s, ctime = %s '
                     'WHERE fileid = %s AND nlink > 0', (now, now, parent))

    def remove_entry_if_orphan(self, fileid):
        """Remove a regular file's entry when it has no replica left; True when removed."""
        with self.transaction():
            meta = self.one('SELECT parent_fileid, filemode FROM Cns_file_metadata WHERE fileid = %%s%s'
                            % self._lock, (fileid,))
            if meta is None or not is_kind(meta[1], S_IFREG):
                return False
            left = self.one('SELECT COUNT(*) FROM Cns_file_replica WHERE fileid = %s', (fileid,))
            if int(left[0]):
                return False
            self._remove_entry(fileid, int(meta[0]))
        return True


def open_catalog(spec):
    """A Catalog from a connection spec {backend: sqlite|mysql, path, host, port, user, password, database,
    unix_socket, config_file, connect_timeout}."""
    spec = dict((k, v) for k, v in (spec or {}).items() if v is not None)
    backend = spec.pop('backend', 'sqlite')
    if backend == 'sqlite':
        path = spec.get('path')
        if not path:
            raise VaporError("The SQLite catalog needs its file (catalog.path).")
        if os.path.isdir(path):
            raise VaporError("The SQLite catalog '%s' is a directory, not a catalog file." % path)
        if not os.path.isfile(path):
            raise VaporError("The SQLite catalog '%s' does not exist; create it first (the demo does, with "
                             "create_sqlite_catalog)." % path)
        try:
            conn = connect_sqlite(path)
        except sqlite3.Error as exc:
            raise VaporError("The SQLite catalog '%s' cannot be opened: %s." % (path, exc))
        return Catalog(conn, 'sqlite', "'%s'" % path)
    if backend == 'mysql':
        spec.pop('path', None)
        if not spec.get('user') and not spec.get('config_file'):
            raise VaporError("The MySQL catalog connection has no user; set catalog.user or catalog.config_file.")
        conn, sscursor, settings = connect_mysql(spec)
        try:
            conn.autocommit(True)
        except Exception as exc:
            conn.close()
            raise VaporError("The catalog database refused autocommit mode: %s." % exc_text(exc))
        try:
            return Catalog(conn, 'mysql', db_where(settings), sscursor)
        except VaporError:
            conn.close()
            raise
    raise VaporError("The catalog backend '%s' is not supported; use sqlite or mysql." % backend)


def catalog_requirement(spec):
    """(requirement, importable) of the library the catalog connection ``spec`` needs: a MySQL driver for the
    mysql backend, nothing for SQLite (in the standard library). For the modules' missing_required_lib."""
    if (spec or {}).get('backend') == 'mysql':
        return MYSQL_REQUIREMENT, HAS_MYSQL
    return None, True
