# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The DPM/DPNS scanner (Cns_file_metadata on MySQL/MariaDB): one streaming scan of the table, directories and
# files together; directory paths are rebuilt as their rows arrive and files wait only when their directory
# comes later (a moved directory). Without per-entry decisions the database writes the records itself in the
# formats that say how (their ``dpm`` record, see _dump/formats.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import gc
import marshal
import re
import tempfile
import time
from itertools import chain, compress, repeat
from operator import eq, is_

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32, xattr_adler32
from ansible_collections.vapor.ops.plugins.module_utils._storage import nsdb
from ansible_collections.vapor.ops.plugins.module_utils._clients.db import connect_mysql, db_where, exc_text

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
PENDING_LIMIT = 100000     # file rows waiting for their directory kept in memory before spilling to disk
_HEX8 = re.compile('[0-9a-f]{8}').fullmatch


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
                                 % (r, db_where(settings)))
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
    with nsdb.reading(conn, settings):
        cur = conn.cursor()
        try:
            cur.execute("SELECT * FROM Cns_file_metadata LIMIT 0")
            cols = [d[0].lower() for d in cur.description]
            cur.execute("SELECT fileid FROM Cns_file_metadata WHERE parent_fileid = 0")
            row = cur.fetchone()
        except Exception as exc:
            raise VaporError("The database %s has no usable DPNS namespace (Cns_file_metadata): %s."
                             % (db_where(settings), exc_text(exc)))
        if row is None:
            raise VaporError("The database %s has no namespace root (no Cns_file_metadata row with parent_fileid 0)."
                             % db_where(settings))
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
                rows = scur.fetchmany(nsdb.FETCH)
                if not rows:
                    break
                handle.feed(rows)
        scur.close()
        handle.finish(conn.cursor())
        nsdb.check_roots(handle.tree.seen, roots, settings)
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
                    add_dir(r[1], r[0], to_text(r[2]))
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
                    self.sink.unusable_name(None, to_text(name), _IN_BAD_DIR)
                continue
            name = to_text(name)
            if bad_name(name):
                self.sink.unusable_name(d[0], name)
                continue
            if csum is not None:
                if csum.__class__ is not str or hex8(csum) is None:
                    csum = normalise_adler32(to_text(csum))
            elif xattr:
                csum = xattr_adler32(to_text(xattr))
            batches[d[1]].append((d[0] + '/' + name, int(size or 0), mtime, csum))
        if waiting:
            self.pending.extend(waiting)
        for i, batch in enumerate(batches):
            if batch:
                self.sink.add_many(i, batch)


class _DpmLines(_DpmRows):
    """The database formats each record's tail, as the format's ``dpm`` record says ('name|size|mtime|'
    and the adler32 in cms, 'name' plus a line end in text), as bytes; Python prepends each directory's
    (mapped, encoded) path, adds the line end (cms) and writes each fetched chunk in one piece, after
    checking the whole chunk at once with byte operations.

    Rows (one per table row): (parent_fileid, fileid, tail, checksum (when the format has one), filesize,
    filemode & S_IFMT). A chunk that fails the check (a name holding a line break, or '|'
    in cms; not UTF-8; an adler32 that is not 8 lowercase hex digits; NULL fields; a checksum only
    in the DOME xattr) is sorted row by row: the rows that pass are written, the others are read
    again by fileid at the end and go through the row path (_DpmRows), which normalises
    everything. So are the files of a directory whose path the format cannot carry.
    """

    def __init__(self, sink, fmt, nroots, has_xattr):
        super(_DpmLines, self).__init__(sink, nroots, has_xattr)
        self.spec = fmt.dpm
        self.with_checksum = self.spec.checksum       # the checksum is a column of its own
        self.unsafe = fmt.unsafe
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
        return ("SELECT parent_fileid, fileid, %s, filesize, %s FROM Cns_file_metadata"
                % (self.spec.columns(self.has_xattr), _KIND))

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
                name = self.spec.name_of(tail)
            if name:
                add_dir(fids[i], pid, to_text(name))
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
        csums = cdata = None
        try:
            data = b''.join(tails)
            if self.with_checksum:
                csums = cols[3]
                cdata = b''.join(csums)
        except TypeError:               # a NULL
            return self.sort_rows(cols, heads)
        # the format's separators and nothing else in every tail (cms: three '|', no line break); every
        # checksum is 8 lowercase hex digits or N/A (the database sent only those 8 characters long)
        if data.translate(None, _NOT_SEP) != self.spec.separators * n or \
                self.with_checksum and cdata.translate(None, _HEX) != b'N/A' * csums.count(b'N/A'):
            return self.sort_rows(cols, heads)
        lead = self.spec.name_end
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
        line_end = [repeat(self.spec.line_end)] if self.spec.line_end else []
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
        tail_ok, csum_ok = self.spec.tail_ok, self.spec.checksum_ok
        if self.with_checksum:
            ok = [t.__class__ is bytes and tail_ok(t) is not None and _utf8(t)
                  and c.__class__ is bytes and csum_ok(c) is not None
                  for t, c in zip(cols[2], cols[3])]
        else:
            ok = [t.__class__ is bytes and tail_ok(t) is not None and _utf8(t) for t in cols[2]]
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
                self.tree.add(fid, pid, to_text(name))
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


def scan_source(p, sink, durations, partdir=None, skip=()):
    """The scanner registry's entry point: the se_dump parameters ``p``."""
    scan_dpm(sink, p['db'], p['roots'], durations=durations)
