# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# What every storage-dump format shares: the rules for names, checksums, the content digest, compression,
# line lengths, companion lists, and DumpFormat, the base of the format objects. Each format is one object in
# its own file (fmt_text.py, fmt_cms.py, fmt_syncat.py), listed in registry.py; reader.py and writer.py read
# and write any of them.
#
# Every format: a name that is not valid UTF-8, an empty name, a path with a '..' component (no reader accepts
# it: it could name a file outside the area) and a name longer than MAX_NAME bytes are not representable; in the
# line formats neither is a name starting with 'BEGIN TIME' or 'END TIME' (the cms header lines, which readers
# skip). What else a format cannot carry is said in its file.
#
# Entries that are not representable are skipped and counted; the module warns about them.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import gzip
import io
import json
import os
import re
import zlib
from collections import namedtuple

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

COMPRESSIONS = ('none', 'gzip', 'bzip2')
SUFFIXES = {'none': '', 'gzip': '.gz', 'bzip2': '.bz2'}

DumpEntry = namedtuple('DumpEntry', 'path size mtime checksum')

# The longest line a text or cms dump may hold, in bytes, its line end ('\n', or '\r\n') not counted; also the
# longest name (UTF-8 bytes) a syncat entry may carry. Paths are at most 4096 bytes on Linux and on the storage
# systems the collection reads, so a longer line is garbage; every reader (this one and the consistency check's
# engine) refuses it with the file and the line number instead of reading megabytes into one value.
MAX_LINE = 65536


def has_dotdot(path):
    """True when a path has a '..' component (it could name a file outside the area it claims to be in)."""
    return '..' in path and '..' in path.split('/')


# The longest name any writer writes, in UTF-8 bytes (far below MAX_LINE, with room for the cms fields).
MAX_NAME = 16384
_QUICK_NAME = MAX_NAME // 4        # names of at most this many characters are short enough whatever their bytes


def name_problem(path, line_format=True):
    """Why a name cannot be written in any format (empty, a '..' component, too long, a cms header), or None."""
    if not path:
        return 'the name is empty'
    if has_dotdot(path):
        return "the path has a '..' component, which no reader accepts"
    if len(path) > _QUICK_NAME and len(path.encode('utf-8', 'surrogatepass')) > MAX_NAME:
        return 'the name is longer than %d bytes' % MAX_NAME
    if line_format and (path.startswith('BEGIN TIME') or path.startswith('END TIME')):
        return 'the name starts like a cms header line (BEGIN TIME, END TIME), which readers skip'
    return None


def suspect_name(path):
    """Cheap pre-check of the formatters: True when name_problem() must look at the name."""
    return not path or '..' in path or len(path) > _QUICK_NAME or path[0] in 'BE'


class Unrepresentable(ValueError):
    """The entry cannot be written in the chosen format; the message says why."""


# ----------------------------------------------------------------------------------------------
# checksums

def normalise_adler32(value):
    """Canonical adler32: 8 lowercase hex digits (StoRM strips leading zeros), or None."""
    if value is None:
        return None
    value = str(value).strip()
    if not value or value.upper() in ('N/A', 'NONE', '-'):
        return None
    if ':' in value:
        kind, _sep, rest = value.partition(':')
        if kind.upper() not in ('AD', 'ADLER32'):
            return None
        value = rest
    try:
        return '%08x' % int(value, 16)
    except ValueError:
        return None


def xattr_adler32(xattr):
    """The adler32 of a DPM/dCache extended-attribute JSON text ('{"checksum.adler32": "..."}'), canonical, or None."""
    if not xattr or 'adler32' not in xattr:
        return None
    try:
        return normalise_adler32(json.loads(xattr).get('checksum.adler32'))
    except (ValueError, AttributeError):
        return None


# ----------------------------------------------------------------------------------------------
# the format objects' base

NOT_UTF8 = 'the name is not valid UTF-8'


def sql_literal(text):
    """A text as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class DumpFormat:
    """One dump format: how one record and a batch of records are written, what comes before and after
    them, how the records are read back, how a dump in this format is recognised, and how the consistency
    check's engine (DuckDB) and the DPM scanner's database produce its records.

    A subclass sets the attributes and overrides what differs; registry.py lists the instances.
    """

    name = None
    line_format = True          # one record a line (a name holding a line end cannot be written)
    has_mtime = True            # the records carry the modification time
    sniff_rank = 50             # detect_format asks the formats in this order; the last one takes the rest
    duckdb_native = True        # DuckDB reads the dump itself; otherwise the engine converts it with read()
    marks_malformed = False     # duckdb_rows() gives p = '' for a malformed line
    dpm = None                  # a DpmRecord when the DPM database can write the records (the fast path)

    def record(self, path, size, mtime, checksum):
        """The bytes of one record; raises Unrepresentable with the reason when the format cannot carry it."""
        raise NotImplementedError

    def records(self, entries, rejected):
        """The records of a list of (path, size, mtime, checksum) as one bytes object: (bytes, files, bytes of
        the files). Names that cannot be represented are left out and appended to ``rejected`` as (reason, path).
        """
        one = self.record
        out = []
        nbytes = 0
        for path, size, mtime, checksum in entries:
            try:
                out.append(one(path, size, mtime, checksum))
            except Unrepresentable as exc:
                rejected.append((str(exc), path))
                continue
            nbytes += size
        return b''.join(out), len(out), nbytes

    def header(self, recorded, vo):
        """What the dump starts with (bytes)."""
        return b''

    def footer(self):
        """What the dump ends with (bytes)."""
        return b''

    def read(self, reader):
        """Yield the DumpEntry items of the dump open in ``reader`` (a reader.DumpReader)."""
        raise NotImplementedError

    def sniff(self, head, first_line):
        """True when a dump starting with ``head`` (UTF-8 bytes, no byte order mark; ``first_line`` its first
        line without the line end) is in this format."""
        return False

    def duckdb_rows(self, raw, with_mtime):
        """SQL giving the rows (p, m) of the dump from ``raw``, a relation of one VARCHAR column ``line`` (one row
        a line): p the path as written, m the mtime (with_mtime) or NULL. None when DuckDB cannot read the
        format (the engine reads the converted form then)."""
        return None

    def recorded(self, head):
        """The time the dump says it was made, as written in its first bytes ``head``, or None."""
        return None


# What the DPM namespace database writes itself of each record (the DPM scanner's fast path, _storage/dpm.py):
#   columns(has_xattr)  the SQL select-list of the record's part after the directory path (the tail: name and the
#                       fields, from Cns_file_metadata's columns), then, with checksum, the adler32 column;
#   checksum            the adler32 is a column of its own (8 lowercase hex digits or N/A; NULL: the row path);
#   separators          the separators every well-formed tail holds, in order (one record's worth);
#   name_end            the byte that ends the name in the tail;
#   line_end            what follows the checksum column (None: the tail ends the line itself);
#   tail_ok, checksum_ok  fullmatch of one well-formed tail, of one checksum;
#   name_of(tail)       a directory row's name from its tail (bytes), or None.
DpmRecord = namedtuple('DpmRecord', 'columns checksum separators name_end line_end tail_ok checksum_ok name_of')


class LineFormat(DumpFormat):
    """A format of one record a line, with no header: the names holding one of ``forbidden`` cannot be written."""

    forbidden = '\n\r'
    forbidden_why = None

    def __init__(self):
        self.unsafe = re.compile('[%s]' % re.escape(self.forbidden)).search

    def line(self, path, size, mtime, checksum):
        """The record's text without its line end."""
        raise NotImplementedError

    def join(self, kept):
        """The text of the kept (path, size, mtime, checksum) items, each with its line end."""
        raise NotImplementedError

    def record(self, path, size, mtime, checksum):
        why = suspect_name(path) and name_problem(path)
        if why:
            raise Unrepresentable(why)
        if self.unsafe(path) is not None:
            raise Unrepresentable(self.forbidden_why)
        try:
            return (self.line(path, size, mtime, checksum) + '\n').encode('utf-8')
        except UnicodeEncodeError:
            raise Unrepresentable(NOT_UTF8)

    def records(self, entries, rejected):
        # the forbidden characters are looked for once in the whole batch (C speed); only a batch that holds one
        # is checked name by name
        forbidden = self.forbidden
        blob = '\0'.join([entry[0] for entry in entries])
        unsafe = self.unsafe if any(c in blob for c in forbidden) else None
        del blob
        kept = []
        keep = kept.append
        nbytes = 0
        for entry in entries:
            path = entry[0]
            if unsafe is not None and unsafe(path) is not None:
                rejected.append((self.forbidden_why, path))
                continue
            if suspect_name(path):
                why = name_problem(path)
                if why:
                    rejected.append((why, path))
                    continue
            keep(entry)
            nbytes += entry[1]
        try:
            return self.join(kept).encode('utf-8'), len(kept), nbytes
        except UnicodeEncodeError:      # a name that is not valid UTF-8 somewhere: sort it out entry by entry
            del rejected[:]
            return DumpFormat.records(self, entries, rejected)


# ----------------------------------------------------------------------------------------------
# order-independent content digest: lets a re-run decide "same content" whatever the scan order

_MASK = (1 << 64) - 1


class Digest:
    """A multiset digest of records: count, bytes and a 64-bit sum of two independent checksums."""

    __slots__ = ('count', 'nbytes', 'acc')

    def __init__(self):
        self.count = 0
        self.nbytes = 0
        self.acc = 0

    def add(self, record):
        self.count += 1
        self.nbytes += len(record)
        self.acc = (self.acc + ((zlib.crc32(record) << 32) | zlib.adler32(record))) & _MASK

    def merge(self, other):
        self.count += other.count
        self.nbytes += other.nbytes
        self.acc = (self.acc + other.acc) & _MASK

    def state(self):
        return (self.count, self.nbytes, self.acc)

    @classmethod
    def from_state(cls, state):
        d = cls()
        d.count, d.nbytes, d.acc = state
        return d

    def hexdigest(self):
        return '%d-%d-%016x' % (self.count, self.nbytes, self.acc)


# ----------------------------------------------------------------------------------------------
# writing

def open_compressed_writer(raw, compression):
    """Wrap a binary file object so that what is written is compressed (deterministic output)."""
    if compression == 'gzip':
        return gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0, compresslevel=6)
    if compression == 'bzip2':
        return bz2.BZ2File(raw, mode='wb', compresslevel=9)
    if compression in (None, 'none'):
        return raw
    raise VaporError("The compression '%s' is not supported; use none, gzip or bzip2." % compression)


# ----------------------------------------------------------------------------------------------
# reading

def sniff_compression(head):
    if head[:2] == b'\x1f\x8b':
        return 'gzip'
    if head[:3] == b'BZh':
        return 'bzip2'
    return 'none'


class _TruncationGuard(io.RawIOBase):
    """Reads a compressed stream and turns an early end into a clear VaporError."""

    def __init__(self, inner, name, compression):
        self.inner = inner
        self.name = name
        self.compression = compression

    def readable(self):
        return True

    def readinto(self, b):
        try:
            data = self.inner.read(len(b))
        except EOFError:
            raise VaporError("The dump '%s' is truncated: its %s stream ends before the end-of-stream marker."
                             % (self.name, self.compression))
        except (OSError, IOError, zlib.error) as exc:
            raise VaporError("The dump '%s' is corrupt: its %s stream cannot be decompressed (%s)."
                             % (self.name, self.compression, exc))
        n = len(data)
        b[:n] = data
        return n

    def close(self):
        try:
            self.inner.close()
        finally:
            super(_TruncationGuard, self).close()


def count_lines(path, limit=1 << 32):
    """The number of lines of a (possibly compressed) dump, or None when it cannot be read or holds more than
    ``limit`` bytes: the size of the previous dump, for the estimate of a scan's progress."""
    n = seen = 0
    try:
        stream = open_dump(path)[0]
        with stream:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    return n
                n += chunk.count(b'\n')
                seen += len(chunk)
                if seen > limit:
                    return None
    except (VaporError, IOError, OSError, EOFError, ValueError):
        return None


def open_dump(path):
    """Open a dump for reading, decompressing gzip or bzip2 (detected from the content)."""
    try:
        raw = open(path, 'rb')
    except (IOError, OSError) as exc:
        raise VaporError("The dump '%s' cannot be read: %s." % (path, exc.strerror or exc))
    head = raw.read(3)
    raw.seek(0)
    compression = sniff_compression(head)
    if compression == 'gzip':
        inner = gzip.GzipFile(fileobj=raw, mode='rb')
    elif compression == 'bzip2':
        inner = bz2.BZ2File(raw, mode='rb')
    else:
        return raw, compression
    return io.BufferedReader(_TruncationGuard(inner, path, compression), 1 << 20), compression


def _line_number(fd, offset):
    """The 1-based number of the line that starts or runs at byte ``offset`` of an open file."""
    n = 1
    pos = 0
    while pos < offset:
        chunk = os.pread(fd, min(offset - pos, 1 << 22), pos)
        if not chunk:
            break
        n += chunk.count(b'\n')
        pos += len(chunk)
    return n


def check_line_lengths(path, name=None):
    """Raise VaporError naming the first line of a plain (uncompressed) file longer than MAX_LINE bytes.

    Jumps from a line start to the last line end within MAX_LINE + 1 bytes, reading only the last 4 KiB of each
    window (one small pread per 64 KiB of normal lines), so the check costs little and maps nothing into memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, IOError) as exc:
        raise VaporError("The dump '%s' cannot be read: %s." % (name or path, exc.strerror or exc))
    try:
        size = os.fstat(fd).st_size
        pos = 0
        limit = MAX_LINE + 1          # the line end may be the byte after MAX_LINE bytes
        while size - pos > limit:
            hi = pos + limit
            found = -1
            while hi > pos:
                lo = max(pos, hi - 4096)
                j = os.pread(fd, hi - lo, lo).rfind(b'\n')
                if j >= 0:
                    found = lo + j
                    break
                hi = lo
            if found < 0:
                raise VaporError("The dump '%s' is corrupt: line %d is longer than %d bytes, the longest line a dump "
                                 "may hold." % (name or path, _line_number(fd, pos), MAX_LINE))
            pos = found + 1
        if size - pos == limit and b'\n' not in os.pread(fd, limit, pos):
            raise VaporError("The dump '%s' is corrupt: line %d is longer than %d bytes, the longest line a dump "
                             "may hold." % (name or path, _line_number(fd, pos), MAX_LINE))
    except (OSError, IOError) as exc:
        raise VaporError("The dump '%s' cannot be read: %s." % (name or path, exc.strerror or exc))
    finally:
        os.close(fd)


UTF8_BOM = b'\xef\xbb\xbf'
UTF16_BOMS = (b'\xff\xfe', b'\xfe\xff')


def companion_path(path):
    """The companion list of a catalog dump: non-available replicas, '.inactive' before the compression suffix.

    catalog_X -> catalog_X.inactive; catalog_X.gz -> catalog_X.inactive.gz; catalog_X.bz2 -> catalog_X.inactive.bz2
    """
    for suffix in ('.gz', '.bz2'):
        if path.endswith(suffix):
            return path[:-len(suffix)] + '.inactive' + suffix
    return path + '.inactive'


def file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return None
