# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The file catalog: the LFC / DPM-DPNS namespace schema (Cns_* tables, schema 3.2.0) over two back ends,
# MySQL/MariaDB (a real LFC or DPM head node's cns_db) and SQLite (the same tables and columns, the embedded
# default). One Catalog class does the reading (path resolution, listing, identities, replicas), the few writes
# the collection needs (seeding helpers, removal of a replica and of an entry left without replicas, each in one
# transaction), and the three jobs built on it:
#
#   run_catalog_dump     the catalog's view of one storage element, in the storage-dump path form
#   entries_info         entries under a path by owner and age; per-DN usage of one storage element
#   run_catalog_cleanup  removal of lost replicas (and orphan entries) with a re-check and a journal
#
# SFN -> dump path: parse_sfn() splits a replica's SFN (SURL, root://, davs://, gsiftp://, file://, DPM's
# diskserver:/fs/path) into a "head" and a storage path; PathMapper(strip_prefix, add_prefix) then gives the
# path form storage dumps use. The reverse (dump path -> the SFNs that map to it) is what makes the re-check of
# a cleanup an index lookup: Cns_file_replica has INDEX(sfn(255)), and the few distinct heads used on a storage
# element are learnt once, so the lookup is "sfn IN (head1 + path, head2 + path, ...)".
#
# Streaming: the SE's replicas and the directory listings come through server-side cursors (MySQL) or plain
# SQLite cursors; memory never grows with the number of files.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import sqlite3
import threading
import time
import unicodedata
import uuid
from collections import namedtuple
from contextlib import contextmanager

try:
    from urllib.parse import unquote as _unquote
except ImportError:  # pragma: no cover - Python 2 is not supported by the cleanups
    _unquote = None

from ansible_collections.vapor.ops.plugins.module_utils._common.core import (
    DEFAULT_PORTS, PathMapper, VaporError, file_sha256, normalise_path, parse_duration, path_components,
    resolve_path, same_host)
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump
from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import MISSING, join_url, open_storage
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.journal import DONE, Journal, RunLock
from ansible_collections.vapor.ops.plugins.module_utils._storage.database import _exc_text, connect_mysql

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
AVAILABLE = '-'
FETCH = 10000
IN_CHUNK = 500
MAX_SYMLINK_HOPS = 16

Entry = namedtuple('Entry', 'fileid parent_fileid guid name filemode nlink owner_uid gid filesize atime mtime ctime '
                            'status csumtype csumvalue xattr')
Replica = namedtuple('Replica', 'rowid fileid host sfn status poolname fs')
SfnParts = namedtuple('SfnParts', 'scheme host port path head')

_META_COLS = ('fileid, parent_fileid, guid, name, filemode, nlink, owner_uid, gid, filesize, atime, mtime, ctime, '
              'status, csumtype, csumvalue')
_REPLICA_COLS = 'rowid, fileid, host, sfn, status, poolname, fs'

# ----------------------------------------------------------------------------------------------
# the schema, for SQLite: the same tables, columns and keys as lcgdm's Cns_mysql_tbl.sql 3.2.0

SCHEMA_VERSION = (3, 2, 0)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS Cns_class_metadata (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, classid INTEGER, name VARCHAR(15), owner_uid INTEGER, gid INTEGER,
    min_filesize INTEGER, max_filesize INTEGER, flags INTEGER, maxdrives INTEGER, max_segsize INTEGER,
    migr_time_interval INTEGER, mintime_beforemigr INTEGER, nbcopies INTEGER, nbdirs_using_class INTEGER,
    retenp_on_disk INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_class_metadata_classid ON Cns_class_metadata (classid);
CREATE UNIQUE INDEX IF NOT EXISTS classname ON Cns_class_metadata (name);
CREATE TABLE IF NOT EXISTS Cns_file_metadata (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, fileid BIGINT UNSIGNED, parent_fileid BIGINT UNSIGNED, guid CHAR(36),
    name VARCHAR(255), filemode INTEGER, nlink INTEGER, owner_uid INTEGER, gid INTEGER, filesize BIGINT,
    atime INTEGER, mtime INTEGER, ctime INTEGER, fileclass SMALLINT, status CHAR(1), csumtype VARCHAR(2),
    csumvalue VARCHAR(32), acl BLOB, xattr TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_file_metadata_fileid ON Cns_file_metadata (fileid);
CREATE UNIQUE INDEX IF NOT EXISTS file_full_id ON Cns_file_metadata (parent_fileid, name);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_file_metadata_guid ON Cns_file_metadata (guid);
CREATE INDEX IF NOT EXISTS PARENT_FILEID_IDX ON Cns_file_metadata (parent_fileid);
CREATE TABLE IF NOT EXISTS Cns_user_metadata (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    u_fileid BIGINT UNSIGNED REFERENCES Cns_file_metadata (fileid), comments VARCHAR(255));
CREATE UNIQUE INDEX IF NOT EXISTS Cns_user_metadata_u_fileid ON Cns_user_metadata (u_fileid);
CREATE TABLE IF NOT EXISTS Cns_symlinks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    fileid BIGINT UNSIGNED REFERENCES Cns_file_metadata (fileid), linkname BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_symlinks_fileid ON Cns_symlinks (fileid);
CREATE INDEX IF NOT EXISTS linkname_idx ON Cns_symlinks (linkname);
CREATE TABLE IF NOT EXISTS Cns_file_replica (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    fileid BIGINT UNSIGNED REFERENCES Cns_file_metadata (fileid), nbaccesses BIGINT, ctime INTEGER, atime INTEGER,
    ptime INTEGER, ltime INTEGER, r_type CHAR(1), status CHAR(1), f_type CHAR(1), setname VARCHAR(36),
    poolname VARCHAR(15), host VARCHAR(63), fs VARCHAR(79), sfn BLOB, xattr TEXT);
CREATE INDEX IF NOT EXISTS Cns_file_replica_fileid ON Cns_file_replica (fileid);
CREATE INDEX IF NOT EXISTS Cns_file_replica_host ON Cns_file_replica (host);
CREATE INDEX IF NOT EXISTS Cns_file_replica_sfn ON Cns_file_replica (sfn);
CREATE TABLE IF NOT EXISTS Cns_groupinfo (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, gid INTEGER, groupname VARCHAR(255), banned INTEGER, xattr TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_groupinfo_groupname ON Cns_groupinfo (groupname);
CREATE TABLE IF NOT EXISTS Cns_userinfo (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, userid INTEGER, username VARCHAR(255), user_ca VARCHAR(255),
    banned INTEGER, xattr TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS Cns_userinfo_username ON Cns_userinfo (username);
CREATE TABLE IF NOT EXISTS Cns_unique_id (id BIGINT UNSIGNED);
CREATE TABLE IF NOT EXISTS Cns_unique_gid (id INTEGER);
CREATE TABLE IF NOT EXISTS Cns_unique_uid (id INTEGER);
CREATE TABLE IF NOT EXISTS schema_version (major INTEGER NOT NULL, minor INTEGER NOT NULL, patch INTEGER NOT NULL);
"""


# ----------------------------------------------------------------------------------------------
# SFN parsing and the mapping to the storage-dump path form

_URL_RE = re.compile(r'^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$', re.S)
_DPM_RE = re.compile(r'^([A-Za-z0-9][A-Za-z0-9.-]*):(/.*)$', re.S)
_SFN_QUERY = '?SFN='
_SFN_PARAM_RE = re.compile(r'[?&]SFN=', re.I)


def _sfn_value(rest):
    """Where the SFN= parameter's value starts in an srm URL's path and query ('?SFN=', also '?sfn=' and
    '?x=1&SFN='), or -1 when there is none. Everything after it is the storage path (names may hold '&')."""
    m = _SFN_PARAM_RE.search(rest)
    if m is None or '?' not in rest[:m.end()]:
        return -1
    return m.end()


def _text(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode('utf-8', 'surrogateescape')
    return v


def _split_authority(authority):
    host = authority.rpartition('@')[2]
    port = None
    if host.startswith('['):
        end = host.find(']')
        if end > 0:
            rest = host[end + 1:]
            host = host[1:end]
            if rest.startswith(':') and rest[1:].isdigit():
                port = int(rest[1:])
        return host, port
    name, sep, p = host.rpartition(':')
    if sep and p.isdigit():
        return name, int(p)
    if sep and not p:
        return name, None
    return host, None


def parse_sfn(sfn):
    """Split a replica's SFN into SfnParts(scheme, host, port, path, head), or None for an unknown form.

    Forms: srm://host[:port]/srm/managerv2?SFN=/path, srm://host[:port]/path, root://host[:port]//path (also
    xroot://), davs|https|http|dav://host[:port]/path, gsiftp://host[:port]/path, file:///path, and DPM's
    diskserver:/fs/path (scheme None). ``path`` is normalised (no repeated slashes); ``head`` is the SFN's text
    before the path, so that ``head + path`` is the SFN whenever the path had no repeated slash inside.
    """
    sfn = _text(sfn)
    if not sfn:
        return None
    m = _URL_RE.match(sfn)
    if m and '.' in m.group(1) and _DPM_RE.match(sfn):
        m = None                      # 'disk.example.org://fs/f': DPM's host:/path with a doubled slash
    if m:
        scheme = m.group(1).lower()
        authority = m.group(2)
        rest = m.group(3)
        start = len(sfn) - len(rest)
        if scheme == 'srm':
            i = _sfn_value(rest)
            if i >= 0:
                start += i
                rest = rest[i:]
        host, port = _split_authority(authority)
    else:
        m = _DPM_RE.match(sfn)
        if not m:
            return None
        scheme = None
        host, port = m.group(1), None
        rest = m.group(2)
        start = len(sfn) - len(rest)
    if not rest.startswith('/'):
        return None
    path = resolve_path(rest)
    if path is None:                 # a '..' above the root names no file of the storage: no known form
        return None
    extra = len(rest) - len(rest.lstrip('/')) - 1
    start += extra
    return SfnParts(scheme, host, port, path, sfn[:start])


def endpoint_key(parts):
    """What names the same storage endpoint whatever the SFN's spelling: (scheme, host without case, port).

    xroot:// is root://; a port left out is the scheme's default port (srm 8446, root 1094, https/davs 443,
    http 80, gsiftp 2811).
    """
    scheme = 'root' if parts.scheme == 'xroot' else parts.scheme
    port = parts.port if parts.port is not None else DEFAULT_PORTS.get(scheme)
    return scheme, (parts.host or '').rstrip('.').lower(), port


def _prefix_key(prefix):
    """(endpoint_key, path prefix) of an sfn_prefix, or None when it does not name an endpoint and a path start."""
    m = _URL_RE.match(prefix)
    if m:
        scheme, rest = m.group(1).lower(), m.group(3)
        if scheme == 'srm' and _sfn_value(rest) >= 0:
            rest = rest[_sfn_value(rest):]
        host, port = _split_authority(m.group(2))
        if not host and scheme != 'file':
            return None
    else:
        m = _DPM_RE.match(prefix)
        if not m:
            return None
        scheme, host, port, rest = None, m.group(1), None, m.group(2)
    if not rest:
        path = '/'
    elif not rest.startswith('/'):
        return None
    else:
        path = resolve_path(rest)
        if path is None:
            return None
        if rest.endswith('/') and path != '/':
            path += '/'
    return endpoint_key(SfnParts(scheme, host, port, path, '')), path


def _prefix_variants(prefix):
    """Spellings of an sfn_prefix that name the same place: host in lower case, the default port given or not,
    and for srm the ?SFN= and the plain form. Each is an index range of the catalog's selection."""
    out = [prefix]
    m = _URL_RE.match(prefix)
    if not m:
        return out
    scheme, authority, rest = m.group(1), m.group(2), m.group(3)
    host, _port = _split_authority(authority)
    key = _prefix_key(prefix)
    if key is None or not host or '@' in authority or host.startswith('['):
        return out
    port = key[0][2]
    auths = [host, host.lower()]
    if port is not None:
        auths += ['%s:%d' % (host, port), '%s:%d' % (host.lower(), port)]
    rests = [rest]
    if scheme.lower() == 'srm':
        if _sfn_value(rest) >= 0:
            rests.append(rest[_sfn_value(rest):])
        elif rest.startswith('/'):
            rests.append('/srm/managerv2' + _SFN_QUERY + rest)
    for a in auths:
        for r in rests:
            v = '%s://%s%s' % (scheme, a, r)
            if v not in out:
                out.append(v)
    return out


def _upper_bound(prefix):
    """The smallest string greater than every string that starts with ``prefix`` (code point order)."""
    if not prefix:
        return None
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    return prefix[:-1] + chr(last + 1)


class SfnMapping:
    """The replicas of one storage element and the path form its storage dumps use.

    ``se`` selects replicas by their host column (the SE host name for LFC, the disk server for DPM);
    ``sfn_prefix`` by the start of their SFN; both may be given. ``strip_prefix``/``add_prefix`` turn the SFN's
    storage path into the dump path exactly as se_dump does with storage paths.
    """

    def __init__(self, se=None, strip_prefix=None, add_prefix=None, sfn_prefix=None):
        if not se and not sfn_prefix:
            raise VaporError("No storage element is selected: set se (the replica host) or sfn_prefix.")
        self.se = se or None
        self.sfn_prefix = sfn_prefix or None
        self.mapper = PathMapper(strip_prefix, add_prefix)
        comps = path_components(strip_prefix or '')
        self.strip = '/' + '/'.join(comps) if comps else ''
        self.add = (add_prefix or '').rstrip('/')
        self.heads = None
        self.prefix_key = _prefix_key(self.sfn_prefix) if self.sfn_prefix else None
        if self.sfn_prefix:
            parts = parse_sfn(self.sfn_prefix)
            # a prefix that reaches into the path tells the head for sure; a bare 'srm://host' does not
            if parts is not None and parts.path != '/' and self.sfn_prefix.startswith(parts.head + parts.path):
                self.heads = [parts.head]

    def describe(self):
        sel = []
        if self.se:
            sel.append("host '%s'" % self.se)
        if self.sfn_prefix:
            sel.append("SFN prefix '%s'" % self.sfn_prefix)
        return ' and '.join(sel)

    def selects(self, host, sfn, parts=None):
        """Is this replica on the selected storage element? Lenient where spellings differ for the same place:
        the host without case, the SFN prefix also by endpoint (host without case, default port given or not,
        srm's ?SFN= or plain form) and normalised path. catalog_dump and the cleanups' re-checks both use it."""
        if self.se and not same_host(host, self.se):
            return False
        sfn = sfn or ''
        if self.sfn_prefix and not sfn.startswith(self.sfn_prefix):
            if self.prefix_key is None:
                return False
            parts = parse_sfn(sfn) if parts is None else parts
            if parts is None or endpoint_key(parts) != self.prefix_key[0]:
                return False
            want = self.prefix_key[1]
            if want != '/' and not parts.path.startswith(want) and parts.path + '/' != want:
                return False
        return True

    def dump_path(self, sfn):
        """(dump path or None, reason) for an SFN: reason is None, 'unparsable' or 'outside'.

        THE mapping from a catalog SFN to a storage-dump path: catalog_dump writes what it returns, and the
        re-checks of catalog_cleanup and dark_data_cleanup look for every replica it maps to their path.
        Repeated slashes and '.' are dropped and '..' resolved; a '..' above the root makes the SFN unparsable.
        """
        parts = parse_sfn(sfn)
        if parts is None:
            return None, 'unparsable'
        path = self.mapper.map(parts.path)
        if path is None:
            return None, 'outside'
        return path, None

    def storage_path(self, dump_path):
        """The reverse of the mapping: the SFN's storage path that gives this dump path, or None."""
        d = dump_path
        if self.add:
            if not d.startswith(self.add + '/'):
                return None
            d = d[len(self.add):]
        if not d.startswith('/'):
            return None
        d = normalise_path(d)
        if d == '/':
            return None
        return self.strip + d

    def candidates(self, dump_path, heads):
        sp = self.storage_path(dump_path)
        if sp is None:
            return []
        out = []
        for head in heads:
            sfn = head + sp
            if self.sfn_prefix and not sfn.startswith(self.sfn_prefix):
                continue
            if sfn not in out:
                out.append(sfn)
        return out


# characters after which an SFN's path may name another file than its literal text: percent escapes (a URL SFN
# 'my%20file' names 'my file'), parameters or a query after the name (';v=1', '?x', '&x=1', '#x'), white space
# or control characters (a trailing blank or newline pasted at registration), and non-ASCII text (the same name
# in NFC or NFD). An SFN with one of them protects each file it may name.
_ODD_RE = re.compile(r'[%;?&#\s\x00-\x1f\x7f-\uffff]')
_CUT_RE = re.compile(r'[;?&#\x00]')
MAX_CUTS = 8


def fold_path(path):
    """The spelling-free form of a path: percent escapes decoded, Unicode in NFC, trailing blanks dropped."""
    if '%' in path and _unquote is not None:
        path = _unquote(path, errors='surrogateescape')
    try:
        path = unicodedata.normalize('NFC', path)
    except (TypeError, ValueError):
        pass
    return path.rstrip(' \t\r\n\x0b\x0c')


def odd_variants(spath):
    """The storage paths an SFN's path in an odd form may name (see _ODD_RE), other than itself; [] if none.

    The path folded (fold_path), and the path cut before each ';', '?', '&', '#' or NUL (up to MAX_CUTS), each
    folded and normalised ('..' resolved). The literal path is what catalog_dump writes; these are protected too.
    """
    if not _ODD_RE.search(spath):
        return []
    cands = [spath]
    for n, m in enumerate(_CUT_RE.finditer(spath)):
        if n >= MAX_CUTS:
            break
        cands.append(spath[:m.start()])
    out = []
    for c in cands:
        v = resolve_path(fold_path(c))
        if v is not None and v != '/' and v != spath and v not in out:
            out.append(v)
    return out


class ReplicaIndex:
    """What a run's re-check needs beyond the index lookup of the usual SFN forms, learnt once per run.

    ``build`` reads the replica table once (rowid, host, sfn; streamed) and keeps, for the replicas the mapping
    selects: the dump paths of those whose SFN the index lookup of ``Catalog._exact_replicas`` would not find (any
    other spelling: host case, port, repeated slashes, '.', '..', an unusual head, a host column in another case),
    and the rowids of those whose SFN is in no known form. ``refresh`` adds the rows registered since (rowid above
    the high-water mark read before the pass). Memory grows with the number of SFNs in unusual forms only.
    Shared by the threads of a run.

    Why not a LIKE '%/<name>%' scan per path (complete by construction, since normalisation only removes
    components): it reads the whole replica table for every path, about 1.0-1.3 s a path at 1,000,000 replicas on
    MariaDB, against one pass of about 6 s per run and 0.4 ms a path here (benchmarks/bench_recheck.py). What this
    index does not see: an SFN rewritten in place (UPDATE of an existing row, as lfc_modreplica could do) during
    the run into an unusual spelling of another path; LFC and DPM register a new SFN as a new row.

    ``odd`` (dump path -> [rowid]): the selected replicas whose SFN's path is in an odd form (percent escapes,
    parameters, blanks, non-ASCII; see odd_variants) by every other dump path they may name; a re-check counts them
    as protecting (doubtful), never as matches to remove.
    """

    def __init__(self, mapping):
        self.mapping = mapping
        self.paths = {}          # dump path -> [rowid] of replicas in an unusual form
        self.odd = {}            # dump path -> [rowid] of replicas whose SFN may name it (odd_variants)
        self.unparsable = {}     # rowid -> sfn of selected replicas in no known form
        self.high = 0
        self.scanned = 0
        self._lock = threading.Lock()

    def _add(self, rowid, host, sfn, heads):
        m = self.mapping
        parts = parse_sfn(sfn)
        if not m.selects(host, sfn, parts):
            return
        if parts is None:
            self.unparsable[rowid] = sfn or ''      # a NULL sfn names no file
            return
        for v in odd_variants(parts.path):
            vpath = m.mapper.map(v)
            if vpath is not None:
                self.odd.setdefault(vpath, []).append(rowid)
        path = m.mapper.map(parts.path)
        if path is None:
            return
        if (not m.se or host == m.se) and sfn in m.candidates(path, heads):
            return                          # found by the index lookup
        self.paths.setdefault(path, []).append(rowid)

    def build(self, catalog):
        heads = catalog.learn_heads(self.mapping)
        row = catalog.one('SELECT MAX(rowid) FROM Cns_file_replica')
        self.high = int(row[0]) if row and row[0] is not None else 0
        for rowid, host, sfn in catalog.stream('SELECT rowid, host, sfn FROM Cns_file_replica WHERE rowid <= %s',
                                               (self.high,)):
            self.scanned += 1
            self._add(int(rowid), _text(host), _text(sfn), heads)
        return self

    def refresh(self, catalog):
        heads = catalog.learn_heads(self.mapping)
        with self._lock:
            high = self.high
        rows = catalog.all('SELECT rowid, host, sfn FROM Cns_file_replica WHERE rowid > %s ORDER BY rowid', (high,))
        if not rows:
            return
        with self._lock:
            for rowid, host, sfn in rows:
                rowid = int(rowid)
                if rowid > self.high:
                    self._add(rowid, _text(host), _text(sfn), heads)
            self.high = max(self.high, int(rows[-1][0]))

    def rowids_of(self, dump_path):
        with self._lock:
            return list(self.paths.get(dump_path, ()))

    def odd_rowids_of(self, dump_paths):
        with self._lock:
            out = []
            for d in dump_paths:
                out.extend(i for i in self.odd.get(d, ()) if i not in out)
            return out

    def doubtful_for(self, dump_path, mapping):
        """Rowids of unparsable SFNs that hold the storage path's last component as a whole component."""
        sp = mapping.storage_path(dump_path)
        if sp is None or not self.unparsable:
            return []
        needle = '/' + sp.rsplit('/', 1)[1]
        with self._lock:
            items = list(self.unparsable.items())
        out = []
        for rowid, sfn in items:
            i = sfn.find(needle)
            while i >= 0:
                end = i + len(needle)
                if end == len(sfn) or sfn[end] in '/?&#':
                    out.append(rowid)
                    break
                i = sfn.find(needle, i + 1)
        return out

    def describe(self):
        return {'scanned': self.scanned, 'unusual_forms': sum(len(v) for v in self.paths.values()),
                'odd_forms': len(set(i for v in self.odd.values() for i in v)), 'unparsable': len(self.unparsable)}


def normalise_group(name):
    """A VO/FQAN as LFC/DPM stores it in Cns_groupinfo: no leading '/', no /Role=NULL or /Capability=NULL."""
    name = (name or '').strip()
    for tail in ('/Capability=NULL', '/Role=NULL'):
        if name.endswith(tail):
            name = name[:-len(tail)]
    name = name.replace('/Role=NULL/', '/')
    return name.lstrip('/')


def checksum_of(entry):
    """The adler32 of an entry (csumtype AD, or DOME's checksum.adler32 xattr), or None."""
    if entry.csumtype == 'AD' and entry.csumvalue:
        return normalise_adler32(entry.csumvalue)
    return _xattr_adler32(entry.xattr)


def _xattr_adler32(xattr):
    if not xattr or 'adler32' not in xattr:
        return None
    try:
        return normalise_adler32(json.loads(xattr).get('checksum.adler32'))
    except (ValueError, AttributeError):
        return None


def _is(mode, kind):
    return (int(mode or 0) & S_IFMT) == kind


def mode_string(mode):
    kinds = {S_IFDIR: 'd', S_IFREG: '-', S_IFLNK: 'l'}
    out = [kinds.get(int(mode) & S_IFMT, '?')]
    for shift in (6, 3, 0):
        bits = (int(mode) >> shift) & 7
        out.append('r' if bits & 4 else '-')
        out.append('w' if bits & 2 else '-')
        out.append('x' if bits & 1 else '-')
    return ''.join(out)


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
        return VaporError("%s the catalog %s failed: %s." % (what, self.where, _exc_text(exc)))

    def execute(self, sql, params=()):
        cur = self.conn.cursor()
        try:
            cur.execute(self._sql(sql), tuple(params))
        except Exception as exc:
            raise self._fail(exc, 'Writing' if self._in_tx else 'Reading')
        return cur

    def one(self, sql, params=()):
        cur = self.execute(sql, params)
        try:
            return cur.fetchone()
        finally:
            cur.close()

    def all(self, sql, params=()):
        cur = self.execute(sql, params)
        try:
            return cur.fetchall()
        finally:
            cur.close()

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
            text = _exc_text(exc)
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
        return Entry(int(row[0]), int(row[1]), _text(row[2]), _text(row[3]), int(row[4] or 0), int(row[5] or 0),
                     row[6], row[7], int(row[8] or 0), row[9], row[10], row[11], _text(row[12]), _text(row[13]),
                     _text(row[14]), _text(row[15]))

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
        return _text(row[0]) if row else None

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
            if not _is(cur.filemode, S_IFDIR):
                return None
            nxt = self.child(cur.fileid, name)
            if nxt is None:
                return None
            if _is(nxt.filemode, S_IFLNK) and (comps or follow):
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
            chain.append((cur, _text(row[1])))
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
        if not _is(top.filemode, S_IFDIR):
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
                if _is(e.filemode, S_IFDIR) and recursive:
                    subdirs.append((e.fileid, p))
                yield p, e
            stack.extend(reversed(subdirs))

    # -- identities ---------------------------------------------------------------------------

    def users(self):
        """{uid: DN} from Cns_userinfo (cached)."""
        if self._users is None:
            self._users = dict((int(r[0]), _text(r[1])) for r in
                               self.all('SELECT userid, username FROM Cns_userinfo'))
        return self._users

    def groups(self):
        """{gid: group name} from Cns_groupinfo (cached)."""
        if self._groups is None:
            self._groups = dict((int(r[0]), _text(r[1])) for r in
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
        with self.transaction():
            old = self.uid_of(dn)
            if old is not None:
                return old, False
            if uid is None:
                uid = self._next_id('Cns_unique_uid', 'SELECT MAX(userid) FROM Cns_userinfo', start=101)
            self.execute('INSERT INTO Cns_userinfo (userid, username, user_ca, banned, xattr) '
                         'VALUES (%s, %s, %s, 0, NULL)', (int(uid), dn, ca or ''))
        self._users = None
        return int(uid), True

    def add_group(self, name, gid=None):
        """Map a VO/FQAN to a virtual gid (Cns_groupinfo); (gid, changed)."""
        name = normalise_group(name)
        if not name:
            raise VaporError("The group name is empty.")
        with self.transaction():
            old = self.gid_of(name)
            if old is not None:
                return old, False
            if gid is None:
                gid = self._next_id('Cns_unique_gid', 'SELECT MAX(gid) FROM Cns_groupinfo', start=101)
            self.execute('INSERT INTO Cns_groupinfo (gid, groupname, banned, xattr) VALUES (%s, %s, 0, NULL)',
                         (int(gid), name))
        self._groups = None
        return int(gid), True

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
                elif not _is(nxt.filemode, S_IFDIR):
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
            elif not _is(e.filemode, S_IFREG):
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
        return Replica(int(row[0]), int(row[1]), _text(row[2]), _text(row[3]), _text(row[4]), _text(row[5]),
                       _text(row[6]))

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
            for prefix in _prefix_variants(mapping.sfn_prefix):
                upper = _upper_bound(prefix)
                if upper is None:
                    ranges.append('%ssfn >= %%s' % alias)
                    params.append(prefix)
                else:
                    ranges.append('(%ssfn >= %%s AND %ssfn < %%s)' % (alias, alias))
                    params.extend([prefix, upper])
            conds.append('(%s)' % ' OR '.join(ranges))
        return ' AND '.join(conds), params

    def se_hosts(self, se):
        """Every spelling of the host ``se`` in the replica table's host column (case, a trailing dot): one
        DISTINCT over the host index, so the selection below is an exact index lookup of all of them."""
        return sorted(set(h for h in (_text(r[0]) for r in self.all('SELECT DISTINCT host FROM Cns_file_replica'))
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
            host, sfn = _text(row[0]), _text(row[1])
            if not mapping.selects(host, sfn):
                continue
            ctype, cval = _text(row[5]), _text(row[6])
            csum = normalise_adler32(cval) if ctype == 'AD' and cval else _xattr_adler32(_text(row[7]))
            yield host, sfn, _text(row[2]), int(row[3] or 0), row[4], csum

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
                parts = parse_sfn(_text(sfn))
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
            if fileid == last or not mapping.selects(_text(host), _text(sfn)):
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
            if int(row[0]) != rep.fileid or _text(row[1]) != rep.sfn or _text(row[3]) != rep.host:
                return 'changed', False
            if require_status and _text(row[2]) != require_status:
                return 'changed', False
            self.execute('DELETE FROM Cns_file_replica WHERE rowid = %s', (rep.rowid,))
            removed = False
            if remove_orphan and meta is not None and _is(meta[1], S_IFREG):
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
            if meta is None or not _is(meta[1], S_IFREG):
                return False
            left = self.one('SELECT COUNT(*) FROM Cns_file_replica WHERE fileid = %s', (fileid,))
            if int(left[0]):
                return False
            self._remove_entry(fileid, int(meta[0]))
        return True


# ----------------------------------------------------------------------------------------------
# opening and creating

BACKENDS = ('sqlite', 'mysql')


def catalog_argument_spec():
    """The ``catalog`` option shared by the catalog modules (documented in the vapor.ops._catalog fragment)."""
    return dict(
        catalog=dict(type='dict', required=True, options=dict(
            backend=dict(type='str', default='sqlite', choices=list(BACKENDS)),
            path=dict(type='path'),
            host=dict(type='str'),
            port=dict(type='int'),
            user=dict(type='str'),
            password=dict(type='str', no_log=True),
            database=dict(type='str'),
            unix_socket=dict(type='path'),
            config_file=dict(type='path'),
            connect_timeout=dict(type='int', default=30),
        ), required_if=[('backend', 'sqlite', ['path'])]),
    )


def storage_element_argument_spec():
    """The options selecting one storage element's replicas and mapping them (vapor.ops._catalog.STORAGE_ELEMENT)."""
    return dict(
        se=dict(type='str'),
        sfn_prefix=dict(type='str'),
        strip_prefix=dict(type='str'),
        add_prefix=dict(type='str'),
    )


def _sqlite_connect(path):
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute('PRAGMA foreign_keys = ON')
    return conn


def create_sqlite_catalog(path):
    """Create (or complete) an SQLite catalog: the schema, the root '/' and schema_version 3.2.0.

    Idempotent; returns True when something was created.
    """
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise VaporError("The directory '%s' of the SQLite catalog does not exist." % parent)
    existed = os.path.exists(path)
    try:
        conn = _sqlite_connect(path)
    except sqlite3.Error as exc:
        raise VaporError("The SQLite catalog '%s' cannot be opened: %s." % (path, exc))
    changed = not existed
    try:
        try:
            before = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            conn.executescript(SQLITE_SCHEMA)
            after = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            changed = changed or after != before
            conn.execute('BEGIN IMMEDIATE')
            if conn.execute('SELECT COUNT(*) FROM schema_version').fetchone()[0] == 0:
                conn.execute('INSERT INTO schema_version (major, minor, patch) VALUES (?, ?, ?)', SCHEMA_VERSION)
                changed = True
            if conn.execute('SELECT COUNT(*) FROM Cns_file_metadata WHERE parent_fileid = 0').fetchone()[0] == 0:
                row = conn.execute('SELECT id FROM Cns_unique_id').fetchone()
                fileid = (int(row[0]) if row and row[0] is not None else 0) + 1
                if row is None:
                    conn.execute('INSERT INTO Cns_unique_id (id) VALUES (?)', (fileid,))
                else:
                    conn.execute('UPDATE Cns_unique_id SET id = ?', (fileid,))
                now = int(time.time())
                conn.execute('INSERT INTO Cns_file_metadata (fileid, parent_fileid, guid, name, filemode, nlink, '
                             'owner_uid, gid, filesize, atime, mtime, ctime, fileclass, status, csumtype, csumvalue, '
                             'acl, xattr) VALUES (?, 0, NULL, ?, ?, 0, 0, 0, 0, ?, ?, ?, 0, ?, ?, ?, NULL, NULL)',
                             (fileid, '/', S_IFDIR | 0o755, now, now, now, AVAILABLE, '', ''))
                changed = True
            conn.execute('COMMIT')
        except sqlite3.Error as exc:
            try:
                conn.execute('ROLLBACK')
            except sqlite3.Error:
                pass
            raise VaporError("The SQLite catalog '%s' cannot be created: %s." % (path, exc))
    finally:
        conn.close()
    return changed


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
            conn = _sqlite_connect(path)
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
            raise VaporError("The catalog database refused autocommit mode: %s." % _exc_text(exc))
        if settings.get('unix_socket'):
            where = "'%s' on socket %s" % (settings['database'], settings['unix_socket'])
        else:
            where = "'%s' on %s:%s" % (settings['database'], settings['host'], settings['port'])
        try:
            return Catalog(conn, 'mysql', where, sscursor)
        except VaporError:
            conn.close()
            raise
    raise VaporError("The catalog backend '%s' is not supported; use sqlite or mysql." % backend)


# ----------------------------------------------------------------------------------------------
# catalog_entries_info

def _merge(defaults, params):
    p = dict(defaults)
    p.update(dict((k, v) for k, v in (params or {}).items() if v is not None))
    return p


def entries_info(params, now=None):
    """Entries under a path (by owner DN and age, with replicas), or a per-DN usage summary of one SE."""
    p = _merge({'path': '/', 'owners': [], 'min_age': 0, 'entry_type': 'file', 'recursive': True,
                'replicas': True, 'summary': False, 'se': None, 'sfn_prefix': None, 'limit': 0}, params)
    now = time.time() if now is None else now
    min_age = parse_duration(p['min_age'], 'min_age')
    catalog = open_catalog(p['catalog'])
    try:
        if p['summary']:
            mapping = SfnMapping(p['se'], None, None, p['sfn_prefix'])
            users = catalog.users()
            rows = catalog.usage_by_owner(mapping)
            summary = []
            for uid, files, nbytes in rows:
                summary.append({'dn': users.get(uid), 'uid': uid, 'files': files, 'bytes': nbytes})
            summary.sort(key=lambda s: (-s['bytes'], s['dn'] or '', s['uid'] if s['uid'] is not None else -1))
            return {'summary': summary, 'entries': [], 'files': sum(s['files'] for s in summary),
                    'bytes': sum(s['bytes'] for s in summary), 'storage_element': mapping.describe()}
        owners = list(p['owners'] or [])
        uids = set()
        unknown = []
        for dn in owners:
            uid = catalog.uid_of(dn)
            if uid is None:
                unknown.append(dn)
            else:
                uids.add(uid)
        entries = []
        truncated = False
        if not owners or uids:
            newest = now - min_age
            want = {'file': (S_IFREG,), 'directory': (S_IFDIR,), 'any': None}[p['entry_type']]
            limit = int(p['limit'] or 0)
            walk = catalog.walk(p['path'], recursive=p['recursive'])
            try:
                for path, e in walk:
                    if want is not None and (e.filemode & S_IFMT) not in want:
                        continue
                    if uids and e.owner_uid not in uids:
                        continue
                    if min_age and (e.mtime is None or e.mtime > newest):
                        continue
                    if limit and len(entries) >= limit:
                        truncated = True
                        break
                    entries.append((path, e))
            finally:
                walk.close()    # ends the open server-side cursor before the next query
        users, groups = catalog.users(), catalog.groups()
        reps = catalog.replicas_of(e.fileid for _p, e in entries if _is(e.filemode, S_IFREG)) if p['replicas'] else {}
    finally:
        catalog.close()
    out = []
    for path, e in sorted(entries, key=lambda x: x[0]):
        kind = {S_IFDIR: 'directory', S_IFREG: 'file', S_IFLNK: 'symlink'}.get(e.filemode & S_IFMT, 'other')
        item = {'path': path, 'fileid': e.fileid, 'type': kind, 'mode': '%04o' % (e.filemode & 0o7777),
                'permissions': mode_string(e.filemode), 'size': e.filesize, 'mtime': e.mtime, 'ctime': e.ctime,
                'owner': users.get(e.owner_uid), 'owner_uid': e.owner_uid, 'group': groups.get(e.gid), 'gid': e.gid,
                'guid': e.guid, 'status': e.status, 'adler32': checksum_of(e)}
        if e.csumtype and e.csumvalue:
            item['checksum'] = {'type': e.csumtype, 'value': e.csumvalue}
        if p['replicas'] and kind == 'file':
            item['replicas'] = [{'host': r.host, 'sfn': r.sfn, 'status': r.status} for r in reps.get(e.fileid, [])]
        out.append(item)
    return {'entries': out, 'count': len(out), 'bytes': sum(i['size'] for i in out if i['type'] == 'file'),
            'truncated': truncated, 'unknown_owners': unknown}


# ----------------------------------------------------------------------------------------------
# "absent" only from a storage that proves it can see

SIBLINGS_PER_DIR = 3      # catalogued files stat'ed per directory of the list, until one shows
SIBLING_ROWS = 50         # rows read per head and directory to find them
GLOBAL_SAMPLE = 5         # files of the storage element stat'ed when no directory of the list has any


def _siblings(catalog, mapping, sdir, exclude, limit, rows=SIBLING_ROWS):
    """Dump paths of available replicas the catalog holds at or below the storage directory ``sdir``."""
    out = []
    for head in catalog.learn_heads(mapping):
        low = head + sdir + '/'
        sql = 'SELECT host, sfn, status FROM Cns_file_replica WHERE sfn >= %s AND sfn < %s'
        args = [low, _upper_bound(low)]
        if mapping.se:
            sql += ' AND host = %s'
            args.append(mapping.se)
        for host, sfn, status in catalog.all(sql + ' LIMIT %d' % rows, args):
            host, sfn = _text(host), _text(sfn)
            if _text(status) != AVAILABLE or not mapping.selects(host, sfn):
                continue
            path = mapping.dump_path(sfn)[0]
            if path is None or path in exclude or path in out:
                continue
            out.append(path)
            if len(out) >= limit:
                return out
    return out


def _prove(sample, shows, storage_url, nothing_done):
    why = None
    for dump_path in sample:
        ok, why = shows(dump_path)
        if ok:
            return
    raise VaporError("The storage at '%s' does not show '%s', which the catalog holds next to the listed "
                     "paths (%s), so it cannot be trusted to tell which files are absent (an unmounted area, "
                     "a wrong storage_url or prefix); %s."
                     % (storage_url, join_url(storage_url, sample[0]), why, nothing_done))


def _listed_under(listed, sdir):
    """How many of the listed storage paths lie below the storage directory ``sdir``."""
    low = sdir.rstrip('/') + '/'
    return sum(1 for sp in listed if sp.startswith(low))


def _prove_subtrees(catalog, mapping, storage_url, exclude, nothing_done, shows, leaves, listed, whole_min, proven):
    """catalog_cleanup's rule for the directories of the list that hold no catalogued file off the list.

    Each is proven by its nearest ancestor (up to the strip_prefix root) that holds, at or below it, catalogued
    files not on the list: one of them must show. The subtree between (the ancestor's child holding the directory)
    then has every catalogued file on the list: from the storage's side a wholly lost area and an unmounted one
    look the same, so when it holds ``whole_min`` or more listed files its paths are returned as unproven (the
    run keeps them). A lone lost file in its own directory (Rucio's layout) is believed. A list with nothing
    off it anywhere is refused.
    """
    unproven = set()
    cache = {}
    top = mapping.strip                  # '' for the storage root, else '/vo' (as the leaves start)
    for leaf in leaves:
        child = anc = leaf
        found = None
        while anc != top and len(anc) > len(top):
            child, anc = anc, anc.rsplit('/', 1)[0]
            if anc not in cache:
                cache[anc] = _siblings(catalog, mapping, anc, exclude, SIBLINGS_PER_DIR,
                                       rows=SIBLING_ROWS + 2 * _listed_under(listed, anc))
            if cache[anc]:
                found = cache[anc]
                break
        if found is None:
            raise VaporError("The catalog holds no available replica on %s outside the list, so nothing can show "
                             "that '%s' sees the storage; %s." % (mapping.describe(), storage_url, nothing_done))
        if ('proved', anc) not in cache:
            _prove(found, shows, storage_url, nothing_done)
            cache[('proved', anc)] = True
            proven += 1
        if _listed_under(listed, child) >= whole_min:
            unproven.add(child)
    return proven, unproven


def verify_storage_sees(catalog, mapping, storage, storage_url, paths, exclude, nothing_done, whole_min=0):
    """Refuse (VaporError) a storage URL that cannot be shown to see the storage element's files.

    The rule: the base of ``storage_url`` exists and is a directory; then, for every directory of the listed
    ``paths`` (in the dump path form), up to SIBLINGS_PER_DIR files the catalog holds there or below (available
    replicas on the selected storage element, not in ``exclude``) are stat'ed until one shows as a file; a
    directory where none shows stops the run (an unmounted area, a wrong prefix). When no directory of the list
    has any such file, up to GLOBAL_SAMPLE files of the storage element are tried instead, and one must show; a
    storage element whose catalogued files are all on the list cannot prove anything and is refused.
    ``nothing_done`` ends the sentences ('nothing was removed').

    With ``whole_min`` (catalog_cleanup) the directories with no such file go through _prove_subtrees instead of
    the sample of the whole storage element, and the result is (proven, unproven storage directories): every
    listed path below an unproven directory must be kept.
    """
    base = storage_url.rstrip('/') or storage_url
    try:
        st = storage.stat(base)
    except VaporError as exc:
        raise VaporError("The storage URL '%s' cannot be checked (%s), so no file could be looked at; %s."
                         % (storage_url, exc.msg.rstrip('.'), nothing_done))
    if not st.exists:
        raise VaporError("The storage URL '%s' does not exist, so every file would look absent; check storage_url "
                         "(%s)." % (storage_url, nothing_done))
    if not st.is_dir:
        raise VaporError("The storage URL '%s' is not a directory, so it cannot hold the files of the list; check "
                         "storage_url (%s)." % (storage_url, nothing_done))

    def shows(dump_path):
        url = join_url(storage_url, dump_path)
        try:
            r = storage.stat(url)
        except VaporError as exc:
            return False, exc.msg.rstrip('.')
        return r.exists and not r.is_dir, 'not found' if not r.exists else 'a directory'

    memo = []

    def listed_sp():
        if not memo:
            memo.append([sp for sp in (mapping.storage_path(x) for x in paths) if sp is not None])
        return memo[0]

    dirs = []
    seen_dirs = set()
    for path in paths:
        sp = mapping.storage_path(path)
        if sp is None:
            continue
        sdir = sp.rsplit('/', 1)[0]
        if sdir not in seen_dirs:
            seen_dirs.add(sdir)
            dirs.append(sdir)
    proven = 0
    leaves = []                      # directories of the list with no catalogued file of their own to show
    for sdir in dirs:
        sample = _siblings(catalog, mapping, sdir, exclude, SIBLINGS_PER_DIR,
                           rows=SIBLING_ROWS + (2 * _listed_under(listed_sp(), sdir) if whole_min else 0))
        if not sample:
            leaves.append(sdir)
            continue
        _prove(sample, shows, storage_url, nothing_done)
        proven += 1
    if whole_min:
        return _prove_subtrees(catalog, mapping, storage_url, exclude, nothing_done, shows, leaves, listed_sp(),
                               whole_min, proven)
    if proven:
        return proven
    sample = _siblings(catalog, mapping, mapping.strip, exclude, GLOBAL_SAMPLE, rows=500)
    if not sample:
        raise VaporError("The catalog holds no available replica on %s outside the list, so nothing can show that "
                         "'%s' sees the storage; %s." % (mapping.describe(), storage_url, nothing_done))
    why = None
    for dump_path in sample:
        ok, why = shows(dump_path)
        if ok:
            return 1
    raise VaporError("The storage at '%s' shows none of %d files the catalog holds on %s (such as '%s': %s), so it "
                     "cannot be trusted to tell which files are absent; check storage_url and the prefixes (%s)."
                     % (storage_url, len(sample), mapping.describe(), join_url(storage_url, sample[0]), why,
                        nothing_done))


# ----------------------------------------------------------------------------------------------
# catalog_cleanup

CLEANUP_DEFAULTS = {
    'lost': None, 'catalog': None, 'se': None, 'sfn_prefix': None, 'strip_prefix': None, 'add_prefix': None,
    'storage_url': None, 'max_entries': 10000, 'journal': None, 'remove_orphan_entries': True, 'timeout': 60,
    'retries': 2, 'trust_lost_areas': False,
}
# outcomes after which an item is not looked at again by a later run over the same list
FINAL = ('removed', 'absent')
SKIP_REASONS = ('on_storage', 'storage_error', 'not_available', 'changed', 'unproven')
# a directory whose every catalogued file is on the lost list, with this many listed files or more, is not believed
# (an unmounted area looks the same); see _prove_subtrees
WHOLE_AREA_MIN = 2


def default_journal(lost):
    return lost + '.catalog_cleanup.journal'


def read_lost(path, max_entries):
    """The distinct dump paths of a lost list (any dump format, compressed or not), in list order."""
    if not os.path.isfile(path):
        raise VaporError("The lost list '%s' does not exist or is not a file." % path)
    seen = set()
    out = []
    for n, e in enumerate(read_dump(path), 1):
        if e.path in seen:
            continue
        if '\x00' in e.path:
            raise VaporError("The lost list '%s' holds a path with a NUL character (entry %d), which names no file; "
                             "nothing was removed." % (path, n))
        seen.add(e.path)
        out.append(e.path)
        if max_entries and len(out) > max_entries:
            raise VaporError("The lost list '%s' holds more than max_entries=%d paths; nothing was removed (a list "
                             "that long usually comes from a wrong storage dump; raise max_entries if it is right)."
                             % (path, max_entries))
    return out


def _areas_still_unproven(storage, storage_url, mapping, paths, areas):
    """The areas of ``areas`` (storage directories whose every catalogued file is listed) in which no listed
    file shows on the storage: a listed file that is there proves its area is seen (and is kept as on_storage)."""
    left = set()
    for area in areas:
        low = area.rstrip('/') + '/'
        for path in paths:
            sp = mapping.storage_path(path)
            if sp is None or not sp.startswith(low):
                continue
            try:
                st = storage.stat(join_url(storage_url, path))
            except VaporError:
                continue
            if st.exists and not st.is_dir:
                break
        else:
            left.add(area)
    return left


def _under_any(sp, dirs):
    """The directory of ``dirs`` that holds the storage path ``sp``, or None."""
    if sp is None or not dirs:
        return None
    for d in dirs:
        if sp.startswith(d.rstrip('/') + '/'):
            return d
    return None


def _odd_spelling_present(storage, storage_url, mapping, path, reps):
    """(stat, url) of a file that a replica's SFN in an odd form may name instead of its literal path (a URL
    SFN 'my%20file' names 'my file'; see odd_variants), when one is on the storage; else (MISSING, None)."""
    for rep in reps:
        parts = parse_sfn(rep.sfn)
        if parts is None:
            continue
        for v in odd_variants(parts.path):
            vpath = mapping.mapper.map(v)
            if vpath is None or vpath == path:
                continue
            vurl = join_url(storage_url, vpath)
            st = storage.stat(vurl)
            if st.exists and not st.is_dir:
                return st, vurl
    return MISSING, None


def run_catalog_cleanup(params, check_mode=False, storage=None, catalog=None):
    """Remove lost replicas (and entries left without replicas), re-checking each one; the result dictionary.

    ``storage`` (a _gfal.Storage) and ``catalog`` may be given by tests; otherwise they are made from params.
    """
    started = time.time()
    p = _merge(CLEANUP_DEFAULTS, params)
    if not p['lost']:
        raise VaporError("No lost list given (lost).")
    if not p['storage_url']:
        raise VaporError("No storage URL given (storage_url): a lost replica is removed only after the storage "
                         "confirms the file is absent.")
    max_entries = int(p['max_entries'] or 0)
    if max_entries < 0:
        raise VaporError("The option max_entries is %s; it must be zero or more." % max_entries)
    mapping = SfnMapping(p['se'], p['strip_prefix'], p['add_prefix'], p['sfn_prefix'])
    lost = os.path.abspath(p['lost'])
    paths = read_lost(lost, max_entries)
    jpath = p['journal'] or default_journal(lost)
    key = {'kind': 'catalog_cleanup', 'lost': lost, 'sha256': file_sha256(lost, 'The lost list'), 'se': mapping.se,
           'sfn_prefix': mapping.sfn_prefix, 'strip_prefix': mapping.strip, 'add_prefix': mapping.add}

    if storage is None:
        storage = open_storage(p['storage_url'], timeout=p['timeout'], retries=p['retries'])
    own_catalog = catalog is None
    if own_catalog:
        catalog = open_catalog(p['catalog'])
    journal = lock = None
    counts = {'listed': len(paths), 'already_done': 0, 'absent': 0, 'removed_replicas': 0, 'removed_entries': 0}
    for r in SKIP_REASONS:
        counts[r] = 0
    removed, kept = [], []
    looked = 0               # paths stat'ed on the storage
    first_error = None
    try:
        catalog.learn_heads(mapping)
        unproven = set()
        if paths:
            unproven = verify_storage_sees(catalog, mapping, storage, p['storage_url'], paths, set(paths),
                                           'nothing was removed', whole_min=WHOLE_AREA_MIN)[1]
            unproven = set() if p['trust_lost_areas'] else _areas_still_unproven(
                storage, p['storage_url'], mapping, paths, unproven)
        index = ReplicaIndex(mapping).build(catalog)
        if not check_mode:
            lock = RunLock(jpath, 'catalog cleanup')
        journal = Journal(jpath, key, readonly=check_mode, final=FINAL)
        in_doubt = set(journal.in_doubt())
        planned_gone = {}        # check mode: fileid -> replicas it would lose
        for path in paths:
            if journal.state(path) == DONE and journal.outcome(path) in FINAL:
                counts['already_done'] += 1
                continue
            reps = catalog.replicas_for_path(path, mapping, index)
            if not reps:
                counts['absent'] += 1
                if path in in_doubt and not check_mode:
                    journal.finish(path, 'absent', note='in doubt after an interrupted run; already removed')
                continue
            usable = [r for r in reps if r.status == AVAILABLE]
            if not usable:
                counts['not_available'] += 1
                kept.append({'path': path, 'reason': 'not_available',
                             'detail': 'replica status %s' % ','.join(sorted(set(r.status or '?' for r in reps)))})
                continue
            area = _under_any(mapping.storage_path(path), unproven)
            if area is not None:
                counts['unproven'] += 1
                kept.append({'path': path, 'reason': 'unproven',
                             'detail': "every file the catalog holds under '%s' is on the list and none shows, and a "
                                       "wholly lost area cannot be told from an unmounted one; check the area, then "
                                       "run with trust_lost_areas"
                                       % join_url(p['storage_url'], mapping.mapper.map(area) or area)})
                continue
            url = join_url(p['storage_url'], path)
            looked += 1
            try:
                st = storage.stat(url)
            except VaporError as exc:
                counts['storage_error'] += 1
                first_error = first_error or exc.msg
                kept.append({'path': path, 'reason': 'storage_error', 'detail': exc.msg})
                continue
            if not st.exists:
                try:
                    st, url = _odd_spelling_present(storage, p['storage_url'], mapping, path, usable)
                except VaporError as exc:
                    counts['storage_error'] += 1
                    first_error = first_error or exc.msg
                    kept.append({'path': path, 'reason': 'storage_error', 'detail': exc.msg})
                    continue
            if st.exists:
                counts['on_storage'] += 1
                kept.append({'path': path, 'reason': 'on_storage', 'detail': url})
                continue
            if check_mode:
                for rep in usable:
                    lfn = catalog.path_of(rep.fileid)
                    gone = planned_gone.setdefault(rep.fileid, set())
                    gone.add(rep.rowid)
                    left = [x for x in catalog.replicas(rep.fileid) if x.rowid not in gone]
                    orphan = bool(p['remove_orphan_entries']) and not left
                    counts['removed_replicas'] += 1
                    counts['removed_entries'] += 1 if orphan else 0
                    removed.append({'path': path, 'lfn': lfn, 'sfn': rep.sfn, 'fileid': rep.fileid,
                                    'entry_removed': orphan})
                continue
            lfns = dict((rep.fileid, catalog.path_of(rep.fileid)) for rep in usable)
            journal.start(path, replicas=[{'rowid': r.rowid, 'fileid': r.fileid, 'sfn': r.sfn,
                                           'lfn': lfns[r.fileid]} for r in usable])
            outcomes = []
            for rep in usable:
                outcome, entry_removed = catalog.remove_replica(rep, remove_orphan=p['remove_orphan_entries'])
                outcomes.append(outcome)
                if outcome == 'removed':
                    counts['removed_replicas'] += 1
                    counts['removed_entries'] += 1 if entry_removed else 0
                    removed.append({'path': path, 'lfn': lfns[rep.fileid], 'sfn': rep.sfn, 'fileid': rep.fileid,
                                    'entry_removed': entry_removed})
            if 'changed' in outcomes:
                counts['changed'] += 1
                kept.append({'path': path, 'reason': 'changed',
                             'detail': 'a replica changed between the re-check and the removal'})
                journal.finish(path, 'changed')
            else:
                journal.finish(path, 'removed' if 'removed' in outcomes else 'absent',
                               replicas=outcomes.count('removed'))
        if not check_mode:
            for path in sorted(in_doubt - set(paths)):
                journal.finish(path, 'absent', note='not in the list any more')
    finally:
        if journal is not None:
            journal.close()
        if lock is not None:
            lock.release()
        if own_catalog:
            catalog.close()
    if looked and counts['storage_error'] == looked:
        raise VaporError("The catalog cleanup could check none of the %d paths it looked at on '%s' (the first "
                         "error: %s); nothing was removed." % (looked, p['storage_url'], first_error.rstrip('.')))
    before_lines = []
    for r in removed:
        before_lines.append('replica %s %s\n' % (r['lfn'], r['sfn']))
        if r['entry_removed']:
            before_lines.append('entry %s\n' % r['lfn'])
    ended = time.time()
    return {
        'changed': bool(removed),
        'diff': {'before': ''.join(before_lines), 'after': '',
                 'before_header': 'catalog (%s)' % mapping.describe(), 'after_header': 'catalog (after cleanup)'},
        'removed': removed,
        'kept': kept,
        'counts': counts,
        'removed_replicas': counts['removed_replicas'],
        'removed_entries': counts['removed_entries'],
        'journal': jpath if (not check_mode or os.path.exists(jpath)) else None,
        'started': round(started, 3),
        'ended': round(ended, 3),
        'duration': round(ended - started, 3),
    }
