# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Namespace-database scanners: DPM/DPNS (Cns_file_metadata on MySQL/MariaDB) and dCache Chimera
# (t_inodes/t_dirs/t_inodes_checksum on PostgreSQL).
#
# DPM: one streaming scan of the table, directories and files together; directory paths are rebuilt
# as their rows arrive and files wait only when their directory comes later (a moved directory).
# dCache: the directories first (every path resolved once), then the files through a server-side
# cursor. Memory grows with the number of directories in scope, never with the number of files.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import gc
import json
import marshal
import re
import tempfile
import time
from itertools import chain, compress, repeat
from operator import eq, is_

from ansible_collections.vapor.ops.plugins.module_utils._clients.db import (
    connect_mysql, connect_pg, db_where as _where, exc_text as _exc_text)
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
CHIMERA_ROOT_PNFSID = '000000000000000000000000000000000000'
FETCH = 2000
PENDING_LIMIT = 100000     # file rows waiting for their directory kept in memory before spilling to disk
_HEX8 = re.compile('[0-9a-f]{8}').fullmatch


@contextlib.contextmanager
def _reading(conn, settings):
    """Read a namespace: any driver error becomes one sentence naming the database; the connection is closed."""
    try:
        yield
    except VaporError:
        raise
    except Exception as exc:  # each driver has its own exception tree
        raise VaporError("Reading the namespace from the database %s failed: %s." % (_where(settings), _exc_text(exc)))
    finally:
        conn.close()


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
        rows = cur.fetchmany(FETCH)
        if not rows:
            break
        yield from rows


def _text(v):
    if isinstance(v, bytes):
        return v.decode('utf-8', 'surrogateescape')
    return v


class DirTree(object):
    """Directory paths learnt while streaming one scan of the namespace table, in any row order.

    A directory whose parent has not been seen yet (a directory moved under a newer one) waits for
    it; so do the files of a directory not resolved yet (see _Pending). ``where`` maps the
    directories under a root to (path, root index). With ``head`` (the fast path), ``state`` maps
    every resolved directory id to what ``head(path)`` makes of it for the directories under a
    root, and to 0 for the others.
    """

    def __init__(self, root_id, roots, head=None):
        self.path = {}
        self.state = {}
        self.where = {}
        self.waiting = {}
        self.seen = set()
        self.bad = set()
        self.head = head
        self.roots = [(i, r.rstrip('/')) for i, r in enumerate(roots)]
        self.add(root_id, None, '')

    def add(self, fid, pid, name):
        if pid is not None and bad_name(name):
            self.bad.add(fid)       # no path names it: its files stay out, counted at the end
            return
        if pid is None:
            base = None
        else:
            base = self.path.get(pid)
            if base is None:
                self.waiting.setdefault(pid, []).append((fid, name))
                return
        stack = [(fid, '' if base is None else base + '/' + name)]
        head = self.head
        while stack:
            fid, path = stack.pop()
            if fid in self.path:            # a duplicate row or a loop
                continue
            self.path[fid] = path
            self.state[fid] = 0
            full = path or '/'
            for i, r in self.roots:
                if r in ('', '/') or full == r or full.startswith(r + '/'):
                    self.where[fid] = (path, i)
                    self.seen.add(i)
                    if head is not None:
                        self.state[fid] = head(path)
                    break
            for child, cname in self.waiting.pop(fid, ()):
                stack.append((child, path + '/' + cname))


class _Pending(object):
    """File rows whose directory is not resolved yet, kept until the end of the scan: in memory up
    to ``limit`` rows, then in an anonymous temporary file, so memory stays bounded."""

    def __init__(self, limit=None):
        self.limit = limit or PENDING_LIMIT
        self.rows = []
        self.spill = None
        self.count = 0

    def extend(self, rows):
        self.rows.extend(rows)
        self.count += len(rows)
        if len(self.rows) >= self.limit:
            if self.spill is None:
                self.spill = tempfile.TemporaryFile(prefix='vapor-dpm-pending-')
            marshal.dump(self.rows, self.spill)
            self.rows = []

    def chunks(self):
        if self.spill is not None:
            self.spill.seek(0)
            while True:
                try:
                    yield marshal.load(self.spill)
                except EOFError:
                    break
            self.spill.close()
            self.spill = None
        if self.rows:
            yield self.rows
        self.rows = []


def _dpm_root_ids(cur, root_id, roots, settings):
    """Check every root through the (parent_fileid, name) index before the scan: a missing root
    fails at once instead of after a scan of the whole namespace."""
    for r in roots:
        fid = root_id
        for part in [x for x in r.split('/') if x]:
            cur.execute("SELECT fileid, filemode FROM Cns_file_metadata WHERE parent_fileid = %s AND name = %s",
                        (fid, part))
            row = cur.fetchone()
            if row is None or (int(row[1]) & S_IFMT) != S_IFDIR:
                raise VaporError("The root '%s' is not a directory in the namespace of the database %s."
                                 % (r, _where(settings)))
            fid = row[0]


def scan_dpm(sink, db, roots, durations=None):
    """Dump the files of a DPNS namespace (Cns_file_metadata) under ``roots``.

    One streaming scan of the table (a server-side cursor) returns the directories and the files
    together, in one consistent read; directory paths are rebuilt as their rows arrive. Only the
    directories are kept in memory, plus the files of a directory whose parent comes later in the
    table (moved directories), which wait, spilling to a temporary file beyond PENDING_LIMIT rows.
    """
    roots = [normalise_path(r) for r in (roots or ['/'])]
    t0 = time.time()
    conn, sscursor, settings = connect_mysql(db)
    with _reading(conn, settings):
        cur = conn.cursor()
        try:
            cur.execute("SELECT * FROM Cns_file_metadata LIMIT 0")
            cols = [d[0].lower() for d in cur.description]
            cur.execute("SELECT fileid FROM Cns_file_metadata WHERE parent_fileid = 0")
            row = cur.fetchone()
        except Exception as exc:
            raise VaporError("The database %s has no usable DPNS namespace (Cns_file_metadata): %s."
                             % (_where(settings), _exc_text(exc)))
        if row is None:
            raise VaporError("The database %s has no namespace root (no Cns_file_metadata row with parent_fileid 0)."
                             % _where(settings))
        root_id = row[0]
        _dpm_root_ids(cur, root_id, roots, settings)
        fmt = sink.preformat()
        if fmt is not None:
            handle = _DpmLines(sink, fmt, len(roots), 'xattr' in cols)
        else:
            handle = _DpmRows(sink, len(roots), 'xattr' in cols)
        cur.close()
        handle.tree = DirTree(root_id, roots, handle.head)
        scur = conn.cursor(sscursor)
        with handle.results(conn):
            scur.execute(handle.query())
        with _no_cyclic_gc():
            while True:
                rows = scur.fetchmany(FETCH)
                if not rows:
                    break
                handle.feed(rows)
        scur.close()
        handle.finish(conn.cursor())
        _check_roots(handle.tree.seen, roots, settings)
    if durations is not None:
        durations.extend([round(time.time() - t0, 3)] * len(roots))


@contextlib.contextmanager
def _no_cyclic_gc():
    """The scan allocates millions of acyclic tuples: without this, the cyclic garbage collector
    runs every few hundred rows and costs about a sixth of the scan's CPU time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_KIND = "filemode & %d" % S_IFMT
_IS_DIR = "(filemode & %d) = %d" % (S_IFMT, S_IFDIR)
_REFETCH = 1000
_IN_BAD_DIR = 'the file is in a directory whose name no path can carry (NULL, empty, . or .., or with /)'
# field types whose values MySQLdb decodes to str; the fast path takes them as bytes
_STRING_TYPES = (253, 254, 15, 249, 250, 251, 252)   # VAR_STRING, STRING, VARCHAR, TINY/MEDIUM/LONG_BLOB, BLOB
_ROW_PATH = ()      # DirTree state of a directory whose files only the row path may write (or reject)


class _DpmRows(object):
    """Every file row through the sink's mapping, filters and formatter (add_many per fetch).

    Rows: (parent_fileid, fileid if a directory else NULL, name, filesize, mtime, adler32, xattr).
    """

    head = None         # the row path builds paths from DirTree.where, not from per-directory heads

    def __init__(self, sink, nroots, has_xattr):
        self.sink, self.nroots, self.has_xattr = sink, nroots, has_xattr
        self.tree = None
        self.pending = _Pending()       # file rows whose directory is not resolved yet

    def results(self, conn):
        return contextlib.nullcontext()

    def row_columns(self):
        # the checksum columns are only shipped when they can matter: csumvalue for adler32 rows,
        # the xattr JSON (DOME) only for files without a legacy adler32
        return ("parent_fileid, IF(%s, fileid, NULL), name, filesize, mtime, IF(csumtype = 'AD', csumvalue, NULL), %s"
                % (_IS_DIR, "IF(csumtype = 'AD' AND csumvalue IS NOT NULL OR %s, NULL, xattr)" % _IS_DIR
                   if self.has_xattr else "NULL"))

    def query(self):
        return ("SELECT %s FROM Cns_file_metadata WHERE %s IN (%d, %d) AND parent_fileid <> 0"
                % (self.row_columns(), _KIND, S_IFREG, S_IFDIR))

    def feed(self, rows):
        dids = [r[1] for r in rows]
        if dids.count(None) != len(rows):
            add_dir = self.tree.add
            for r in rows:
                if r[1] is not None:
                    add_dir(r[1], r[0], _text(r[2]))
            rows = list(compress(rows, map(is_, dids, repeat(None))))
        if rows:
            self.files(rows)

    def finish(self, cur):
        """After the scan every directory is known: the waiting files, then the orphans are dropped."""
        waiting, self.pending = self.pending, None
        for rows in waiting.chunks():
            self.files(rows)
        cur.close()

    def files(self, rows):
        where = self.tree.where.get
        path = self.tree.path
        hex8 = _HEX8
        waiting = []
        batches = [[] for _i in range(self.nroots)]
        for row in rows:
            pid, _did, name, size, mtime, csum, xattr = row
            d = where(pid)
            if d is None:
                if pid not in path and self.pending is not None:
                    waiting.append(row)
                elif pid in self.tree.bad:
                    self.sink.unusable_name(None, _text(name), _IN_BAD_DIR)
                continue
            name = _text(name)
            if bad_name(name):
                self.sink.unusable_name(d[0], name)
                continue
            if csum is not None:
                if csum.__class__ is not str or hex8(csum) is None:
                    csum = normalise_adler32(_text(csum))
            elif xattr:
                csum = normalise_adler32(_xattr_adler32(_text(xattr)))
            batches[d[1]].append((d[0] + '/' + name, int(size or 0), mtime, csum))
        if waiting:
            self.pending.extend(waiting)
        for i, batch in enumerate(batches):
            if batch:
                self.sink.add_many(i, batch)


class _DpmLines(_DpmRows):
    """The database formats each record's tail ('name|size|mtime|' and the adler32 in cms, 'name'
    plus a line end in text), as bytes; Python prepends each directory's (mapped, encoded) path,
    adds the cms line end and writes each fetched chunk in one piece, after checking the whole
    chunk at once with byte operations.

    Rows (one per table row): (parent_fileid, fileid, tail, checksum (cms only), filesize,
    filemode & S_IFMT). A chunk that fails the check (a name holding a line break, or '|'
    in cms; not UTF-8; an adler32 that is not 8 lowercase hex digits; NULL fields; a checksum only
    in the DOME xattr) is sorted row by row: the rows that pass are written, the others are read
    again by fileid at the end and go through the row path (_DpmRows), which normalises
    everything. So are the files of a directory whose path the format cannot carry.
    """

    def __init__(self, sink, fmt, nroots, has_xattr):
        super(_DpmLines, self).__init__(sink, nroots, has_xattr)
        self.cms = fmt == 'cms'
        self.unsafe = re.compile('[|\n\r]' if self.cms else '[\n\r]').search
        self.encode = False             # the driver hands out str (PyMySQL): encode before checking
        self.again = _Pending()         # fileids of the rows for the row path
        self.unnamed = []               # directories whose name could not be taken from their tail

    def head(self, path):
        """What the files of the directory ``path`` (under a root) start with: its mapped path plus
        '/' as UTF-8 bytes; b'' outside strip_prefix; _ROW_PATH when the format cannot carry it."""
        mapped = self.sink.map_dir(path)
        if mapped is None:
            return b''
        if self.unsafe(mapped) is not None:
            return _ROW_PATH
        try:
            return mapped.encode('utf-8')
        except UnicodeEncodeError:
            return _ROW_PATH

    @contextlib.contextmanager
    def results(self, conn):
        """Strings of the results created inside arrive as bytes, undecoded (MySQLdb reads its
        converters when a result is created); other drivers' strings are encoded in feed()."""
        conv = getattr(conn, 'converter', None)
        if not isinstance(conv, dict):
            self.encode = True
            yield
            return
        saved = dict((t, conv[t]) for t in _STRING_TYPES if t in conv)
        conv.update((t, bytes) for t in _STRING_TYPES)
        try:
            yield
        finally:
            for t in _STRING_TYPES:
                conv.pop(t, None)
            conv.update(saved)

    def query(self):
        # no WHERE and no conditional size: each expression costs the server as much as a column
        if self.cms:
            # NULL (the row path then reads the row again) for an adler32 that is not 8 characters
            # long and for a file whose checksum is only in the xattr
            other = "IF(xattr LIKE '%adler32%', NULL, 'N/A')" if self.has_xattr else "'N/A'"
            cols = ("CONCAT(name, '|', filesize, '|', mtime, '|'), "
                    "IF(csumtype = 'AD', IF(LENGTH(csumvalue) = 8, csumvalue, NULL), %s)" % other)
        else:
            cols = "CONCAT(name, '\\n')"
        return "SELECT parent_fileid, fileid, %s, filesize, %s FROM Cns_file_metadata" % (cols, _KIND)

    def feed(self, rows):
        cols = list(zip(*rows))
        kinds = cols.pop()
        if self.encode:
            cols[2:-1] = [[_bytes(v) for v in c] for c in cols[2:-1]]
        if kinds.count(S_IFREG) != len(kinds):
            self.dirs(cols[0], cols[1], cols[2], kinds)
            keep = list(map(eq, kinds, repeat(S_IFREG)))
            cols = [list(compress(c, keep)) for c in cols]
            if not cols[0]:
                return
        self.lines(cols)

    def dirs(self, pids, fids, tails, kinds):
        i = -1
        add_dir = self.tree.add
        for _d in range(kinds.count(S_IFDIR)):
            i = kinds.index(S_IFDIR, i + 1)
            pid, tail = pids[i], tails[i]
            if not pid:
                continue                # the namespace root
            name = None
            if tail is not None:
                if self.cms:
                    if tail.count(b'|') >= 3:
                        name = tail.rsplit(b'|', 3)[0]
                else:
                    name = tail[:-1]
            if name:
                add_dir(fids[i], pid, _text(name))
            else:
                self.unnamed.append(fids[i])

    def lines(self, cols):
        """cols: the columns of file rows (lists or tuples)."""
        heads = list(map(self.tree.state.get, cols[0]))
        if not all(heads):
            # files under no root (0), outside strip_prefix (b''), waiting for their directory
            # (None), or in a directory only the row path may write (_ROW_PATH)
            if None in heads and self.pending is not None:
                self.pending.extend([r for r, h in zip(zip(*cols), heads) if h is None])
            elif None in heads and self.tree.bad:
                for pid, h in zip(cols[0], heads):
                    if h is None and pid in self.tree.bad:
                        self.sink.unusable_name(None, '', _IN_BAD_DIR)
            self.sink.c['outside'] += heads.count(b'')
            if _ROW_PATH in heads:
                self.again.extend([f for f, h in zip(cols[1], heads) if h == _ROW_PATH])
            cols = [list(compress(c, heads)) for c in cols]
            heads = list(filter(None, heads))
            if not heads:
                return
        n = len(heads)
        tails = cols[2]
        try:
            data = b''.join(tails)
            if self.cms:
                csums = cols[3]
                cdata = b''.join(csums)
        except TypeError:               # a NULL
            return self.sort_rows(cols, heads)
        seps = data.translate(None, _NOT_SEP)
        if self.cms:
            # three separators and no line break in every tail; every checksum is 8 lowercase hex
            # digits or N/A (the database sent only those 8 characters long)
            if seps != b'|||' * n or cdata.translate(None, _HEX) != b'N/A' * csums.count(b'N/A'):
                return self.sort_rows(cols, heads)
        elif seps != b'\n' * n:
            return self.sort_rows(cols, heads)
        lead = b'|' if self.cms else b'\n'
        framed = lead + data
        if b'/' in data or lead + lead in framed or lead + b'.' + lead in framed or lead + b'..' + lead in framed:
            return self.sort_rows(cols, heads)
        if not data.isascii():
            try:
                data.decode('utf-8')
            except UnicodeDecodeError:
                return self.sort_rows(cols, heads)
        self.write(cols, heads, n)

    def write(self, cols, heads, n):
        sink = self.sink
        fields, sizes = cols[2:-1], cols[-1]        # NULL filesize: 0 bytes (only text records have one)
        line_end = [repeat(b'\n')] if self.cms else []
        if self.nroots == 1:
            data = b''.join(chain.from_iterable(zip(heads, *(fields + line_end))))
            sink.add_text(0, data, n, sum(filter(None, sizes)))
            return
        where = self.tree.where
        idxs = [where[p][1] for p in cols[0]]
        for i in range(self.nroots):
            sel = [j == i for j in idxs]
            k = sel.count(True)
            if k:
                parts = [compress(c, sel) for c in [heads] + fields] + line_end
                sink.add_text(i, b''.join(chain.from_iterable(zip(*parts))), k, sum(filter(None, compress(sizes, sel))))

    def sort_rows(self, cols, heads):
        """A chunk that failed the check: write the rows that pass it one by one, keep the others'
        fileids for the row path."""
        if self.cms:
            tail_ok, csum_ok = _CMS_TAIL, _CMS_CSUM
            ok = [t.__class__ is bytes and tail_ok(t) is not None and _utf8(t)
                  and c.__class__ is bytes and csum_ok(c) is not None
                  for t, c in zip(cols[2], cols[3])]
        else:
            ok = [t.__class__ is bytes and _TEXT_TAIL(t) is not None and _utf8(t) for t in cols[2]]
        self.again.extend(list(compress(cols[1], [not x for x in ok])))
        k = ok.count(True)
        if k:
            self.write([list(compress(c, ok)) for c in cols], list(compress(heads, ok)), k)

    def finish(self, cur):
        waiting, self.pending = self.pending, None
        for fids in _batches(self.unnamed, _REFETCH):
            cur.execute("SELECT fileid, parent_fileid, name FROM Cns_file_metadata WHERE fileid IN (%s)"
                        % ', '.join(['%s'] * len(fids)), fids)
            for fid, pid, name in cur.fetchall():
                self.tree.add(fid, pid, _text(name))
        for rows in waiting.chunks():
            self.lines(list(zip(*rows)))
        # the rows that need the row path, read again by fileid (the directories are all known now)
        rows_path = _DpmRows(self.sink, self.nroots, self.has_xattr)
        rows_path.tree = self.tree
        rows_path.pending = None
        cols = rows_path.row_columns()
        for chunk in self.again.chunks():
            for fids in _batches(chunk, _REFETCH):
                cur.execute("SELECT %s FROM Cns_file_metadata WHERE fileid IN (%s)"
                            % (cols, ', '.join(['%s'] * len(fids))), fids)
                rows_path.files(cur.fetchall())
        cur.close()


def _batches(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


_NOT_SEP = bytes(bytearray(c for c in range(256) if c not in b'|\n\r'))      # deleted: all but '|', LF, CR
_HEX = b'0123456789abcdef'
_NAME = br'(?!\.\.?[|\n])[^|\n\r/]+'     # no separator or '/', not empty, not '.' or '..'
_CMS_TAIL = re.compile(_NAME + br'\|[0-9]+\|-?[0-9]+\|').fullmatch
_CMS_CSUM = re.compile(b'[0-9a-f]{8}|N/A').fullmatch
_TEXT_TAIL = re.compile(br'(?!\.\.?\n)[^\n\r/]+\n').fullmatch


def bad_name(name):
    """A namespace entry name no path can carry: NULL, empty, '.', '..' or holding '/'."""
    return name is None or name in ('', '.', '..') or '/' in name


def _bytes(v):
    if v.__class__ is str:
        return v.encode('utf-8', 'surrogateescape')
    return v


def _utf8(b):
    try:
        b.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


def _xattr_adler32(text):
    if 'adler32' not in text:
        return None
    try:
        return json.loads(text).get('checksum.adler32')
    except (ValueError, AttributeError):
        return None


def _check_roots(seen, roots, settings):
    """``seen``: the indexes of the roots found as directories."""
    for i, r in enumerate(roots):
        if i not in seen and r != '/':
            raise VaporError("The root '%s' is not a directory in the namespace of the database %s."
                             % (r, _where(settings)))


def scan_dcache(sink, db, roots, durations=None):
    roots = [normalise_path(r) for r in (roots or ['/'])]
    t0 = time.time()
    conn, settings = connect_pg(db)
    with _reading(conn, settings):
        cur = conn.cursor()
        try:
            cur.execute("SELECT inumber FROM t_inodes WHERE ipnfsid = %s", (CHIMERA_ROOT_PNFSID,))
            row = cur.fetchone()
        except Exception as exc:
            raise VaporError("The database %s has no usable Chimera namespace (t_inodes): %s."
                             % (_where(settings), _exc_text(exc)))
        if row is None:
            raise VaporError("The database %s has no Chimera root inode (pnfsid %s)." % (_where(settings), CHIMERA_ROOT_PNFSID))
        root_id = row[0]
        cur.close()
        scur = conn.cursor(name='vapor_dirs')
        scur.itersize = FETCH
        scur.execute("SELECT d.ichild, d.iparent, d.iname FROM t_dirs d JOIN t_inodes i ON i.inumber = d.ichild "
                     "WHERE i.itype = 16384 AND d.iname NOT IN ('.', '..') AND d.ichild <> d.iparent")
        scope = resolve_dirs(_cursor_rows(scur), root_id, roots)
        scur.close()
        _check_roots(set(i for _p, i in scope.values()), roots, settings)
        scur = conn.cursor(name='vapor_files')
        scur.itersize = FETCH
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
