# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# SFN parsing and the mapping to the storage-dump path form. parse_sfn() splits a replica's SFN (SURL, root://,
# davs://, gsiftp://, file://, DPM's diskserver:/fs/path) into a "head" and a storage path; SfnMapping (the
# storage element's selection, then PathMapper(strip_prefix, add_prefix)) gives the path form storage dumps use.
# The reverse (dump path -> the SFNs that map to it) is what makes the re-check of a cleanup an index lookup:
# Cns_file_replica has INDEX(sfn(255)), and the few distinct heads used on a storage element are learnt once, so
# the lookup is "sfn IN (head1 + path, head2 + path, ...)". ReplicaIndex holds, for one run, the SFNs in the
# other spellings (and the odd forms of odd_variants) that lookup cannot find.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import threading
import unicodedata
from collections import namedtuple

try:
    from urllib.parse import unquote as _unquote
except ImportError:  # pragma: no cover - Python 2 is not supported by the cleanups
    _unquote = None

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import (
    PathMapper, normalise_path, path_components, resolve_path)
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import DEFAULT_PORTS, same_host
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import URL_RE, split_authority

SfnParts = namedtuple('SfnParts', 'scheme host port path head')
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


def parse_sfn(sfn):
    """Split a replica's SFN into SfnParts(scheme, host, port, path, head), or None for an unknown form.

    Forms: srm://host[:port]/srm/managerv2?SFN=/path, srm://host[:port]/path, root://host[:port]//path (also
    xroot://), davs|https|http|dav://host[:port]/path, gsiftp://host[:port]/path, file:///path, and DPM's
    diskserver:/fs/path (scheme None). ``path`` is normalised (no repeated slashes); ``head`` is the SFN's text
    before the path, so that ``head + path`` is the SFN whenever the path had no repeated slash inside.
    """
    sfn = to_text(sfn)
    if not sfn:
        return None
    m = URL_RE.match(sfn)
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
        host, port = split_authority(authority)
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
    m = URL_RE.match(prefix)
    if m:
        scheme, rest = m.group(1).lower(), m.group(3)
        if scheme == 'srm' and _sfn_value(rest) >= 0:
            rest = rest[_sfn_value(rest):]
        host, port = split_authority(m.group(2))
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


def prefix_variants(prefix):
    """Spellings of an sfn_prefix that name the same place: host in lower case, the default port given or not,
    and for srm the ?SFN= and the plain form. Each is an index range of the catalog's selection."""
    out = [prefix]
    m = URL_RE.match(prefix)
    if not m:
        return out
    scheme, authority, rest = m.group(1), m.group(2), m.group(3)
    host, _port = split_authority(authority)
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


def upper_bound(prefix):
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
            self._add(int(rowid), to_text(host), to_text(sfn), heads)
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
                    self._add(rowid, to_text(host), to_text(sfn), heads)
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
