# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Storage-dump formats: writers and one reader for all of them.
#
#   text    one path a line, nothing else on the line (what the Rucio auditor reads).
#           Not representable: a name holding a newline or a carriage return.
#   cms     path|size|mtime|adler32 (adler32 as 8 lowercase hex digits, N/A when unknown).
#           Not representable: a name holding '|', a newline or a carriage return.
#   syncat  the dCache/CMS "syncat" XML: <entry name=".."><size/><mtime/><checksum/></entry>.
#           Newlines, tabs and carriage returns in names are written as character references
#           (&#10; ...), which survive attribute normalisation. Not representable: other control
#           characters, which XML 1.0 does not allow at all.
#   every format: a name that is not valid UTF-8, an empty name, a path with a '..' component (no reader accepts
#           it: it could name a file outside the area) and a name longer than MAX_NAME bytes are not
#           representable; in text and cms neither is a name starting with 'BEGIN TIME' or 'END TIME'
#           (the cms header lines, which readers skip).
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

try:
    from lxml import etree as _lxml_etree
    HAS_LXML = True
except ImportError:  # pragma: no cover - the stdlib parser is the fallback
    _lxml_etree = None
    HAS_LXML = False
import xml.etree.ElementTree as _std_etree

_XML_LIB_ERROR = _lxml_etree.LxmlError if HAS_LXML else _std_etree.ParseError

FORMATS = ('text', 'cms', 'syncat')
COMPRESSIONS = ('none', 'gzip', 'bzip2')
SUFFIXES = {'none': '', 'gzip': '.gz', 'bzip2': '.bz2'}
SYNCAT_NS = 'http://www.dcache.org/PROPOSED/2008/01/Cat'

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


def _suspect(path):
    """Cheap pre-check of the batch formatters: True when name_problem() must look at the name."""
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
# record formatting (used by writers and by the parallel scanners' workers)

_XML_BAD = re.compile(u'[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
_XML_ESC = {u'&': u'&amp;', u'<': u'&lt;', u'>': u'&gt;', u'"': u'&quot;',
            u'\n': u'&#10;', u'\r': u'&#13;', u'\t': u'&#9;'}
_XML_ESC_RE = re.compile(u'[&<>"\n\r\t]')


def _xml_attr(value):
    return _XML_ESC_RE.sub(lambda m: _XML_ESC[m.group(0)], value)


def _encode(path):
    try:
        return path.encode('utf-8')
    except UnicodeEncodeError:
        raise Unrepresentable('the name is not valid UTF-8')


def format_text(path, size, mtime, checksum):
    why = _suspect(path) and name_problem(path)
    if why:
        raise Unrepresentable(why)
    if '\n' in path or '\r' in path:
        raise Unrepresentable('the name holds a line break, which the text format cannot carry')
    try:
        return (path + '\n').encode('utf-8')
    except UnicodeEncodeError:
        raise Unrepresentable('the name is not valid UTF-8')


def format_cms(path, size, mtime, checksum):
    why = _suspect(path) and name_problem(path)
    if why:
        raise Unrepresentable(why)
    if '|' in path or '\n' in path or '\r' in path:
        raise Unrepresentable("the name holds '|' or a line break, which the cms format cannot carry")
    try:
        return ('%s|%d|%d|%s\n' % (path, size, mtime or 0, checksum or 'N/A')).encode('utf-8')
    except UnicodeEncodeError:
        raise Unrepresentable('the name is not valid UTF-8')


def format_syncat(path, size, mtime, checksum):
    why = _suspect(path) and name_problem(path, line_format=False)
    if why:
        raise Unrepresentable(why)
    if _XML_BAD.search(path):
        raise Unrepresentable('the name holds a control character, which XML cannot carry')
    parts = [u'<entry name="%s"><size>%d</size>' % (_xml_attr(path), size)]
    if mtime is not None:
        parts.append(u'<mtime>%d</mtime>' % int(mtime))
    if checksum:
        parts.append(u'<checksum>%s</checksum>' % checksum)
    parts.append(u'</entry>\n')
    return _encode(u''.join(parts))


FORMATTERS = {'text': format_text, 'cms': format_cms, 'syncat': format_syncat}


def _format_many(one, entries, rejected):
    """Per-entry fallback of the batch formatters: (bytes, files, bytes of the files)."""
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


def format_cms_many(entries, rejected):
    """format_cms for a list of (path, size, mtime, checksum): one bytes object for the lot.

    Names that cannot be represented are left out and appended to ``rejected`` as (reason, path).
    """
    out = []
    app = out.append
    nbytes = 0
    for path, size, mtime, checksum in entries:
        if '|' in path or '\n' in path or '\r' in path:
            rejected.append(("the name holds '|' or a line break, which the cms format cannot carry", path))
            continue
        if _suspect(path):
            why = name_problem(path)
            if why:
                rejected.append((why, path))
                continue
        app('%s|%d|%d|%s\n' % (path, size, mtime or 0, checksum or 'N/A'))
        nbytes += size
    try:
        return ''.join(out).encode('utf-8'), len(out), nbytes
    except UnicodeEncodeError:      # a name that is not valid UTF-8 somewhere: sort it out entry by entry
        del rejected[:]
        return _format_many(format_cms, entries, rejected)


def format_text_many(entries, rejected):
    out = []
    app = out.append
    nbytes = 0
    for path, size, mtime, checksum in entries:
        if '\n' in path or '\r' in path:
            rejected.append(('the name holds a line break, which the text format cannot carry', path))
            continue
        if _suspect(path):
            why = name_problem(path)
            if why:
                rejected.append((why, path))
                continue
        app(path)
        nbytes += size
    try:
        return ('\n'.join(out) + '\n').encode('utf-8') if out else b'', len(out), nbytes
    except UnicodeEncodeError:
        del rejected[:]
        return _format_many(format_text, entries, rejected)


def format_syncat_many(entries, rejected):
    return _format_many(format_syncat, entries, rejected)


FORMATTERS_MANY = {'text': format_text_many, 'cms': format_cms_many, 'syncat': format_syncat_many}


def syncat_header(recorded, vo=None):
    head = u'<?xml version="1.0" encoding="UTF-8"?>\n<cat xmlns="%s">\n<dump recorded="%s">' % (SYNCAT_NS, recorded)
    if vo:
        head += u'<for>vo:%s</for>' % _xml_attr(vo)
    return (head + u'\n<entry-set>\n').encode('utf-8')


SYNCAT_FOOTER = b'</entry-set>\n</dump>\n</cat>\n'


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


class DumpWriter:
    """Writes one dump to an open binary stream: header, records, footer; keeps a Digest."""

    def __init__(self, stream, fmt, recorded=None, vo=None):
        if fmt not in FORMATTERS:
            raise VaporError("The dump format '%s' is not supported; use text, cms or syncat." % fmt)
        self.stream = stream
        self.fmt = fmt
        self.formatter = FORMATTERS[fmt]
        self.digest = Digest()
        self.rejected = 0
        if stream is not None and fmt == 'syncat':
            stream.write(syncat_header(recorded or '', vo))

    def add(self, path, size, mtime=None, checksum=None):
        """Write one entry; return None, or the reason it was not representable."""
        try:
            rec = self.formatter(path, size, mtime, checksum)
        except Unrepresentable as exc:
            self.rejected += 1
            return str(exc)
        self.digest.add(rec)
        if self.stream is not None:
            self.stream.write(rec)
        return None

    def add_records(self, data, digest):
        """Append already formatted records (from a worker) with their digest."""
        if self.stream is not None:
            self.stream.write(data)
        self.digest.merge(digest)

    def close(self):
        if self.stream is not None and self.fmt == 'syncat':
            self.stream.write(SYNCAT_FOOTER)


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


_CMS_LINE = re.compile(rb'^(.*)\|([0-9]+)\|([0-9]+(?:\.[0-9]*)?)\|([^|]*)$', re.DOTALL)


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
_UTF16_BOMS = (b'\xff\xfe', b'\xfe\xff')


def detect_format(stream, name=None):
    """Guess the format from the first line of a (peekable) stream.

    A UTF-8 byte order mark is skipped (every reader skips it). An XML dump may be in UTF-16 (its parser reads
    it); a line format in UTF-16 is refused with one sentence when ``name`` is given.
    """
    head = stream.peek(65536)[:65536] if hasattr(stream, 'peek') else b''
    if head[:2] in _UTF16_BOMS:
        try:
            text = head[:4096 - len(head[:4096]) % 2].decode('utf-16')
        except UnicodeDecodeError:
            text = ''
        if text.lstrip()[:1] == u'<':
            return 'syncat'
        if name is not None:
            raise VaporError("The dump '%s' is encoded in UTF-16 (it starts with a UTF-16 byte order mark); a text "
                             "or cms dump must be UTF-8." % name)
    if head[:3] == UTF8_BOM:
        head = head[3:]
    first = head.lstrip()[:1]
    if first == b'<':
        return 'syncat'
    line = head.split(b'\n', 1)[0].rstrip(b'\r')
    if line.startswith(b'BEGIN TIME') or _CMS_LINE.match(line):
        return 'cms'
    return 'text'


def _int_or_none(text):
    return int(text) if text.isdigit() and text.isascii() else None


class DumpReader:
    """Iterates the entries of a dump in any supported format; counts them.

    Raises VaporError (one sentence naming the file and, for a line format, the line) for a truncated or corrupt
    dump: a compressed stream that ends early, XML that is not well formed, a text dump whose last line has no
    line end, a line longer than MAX_LINE bytes, bytes that are not UTF-8, a carriage return inside a line, a
    malformed cms line; and for a path with a '..' component, which every reader refuses.
    """

    def __init__(self, path, fmt=None):
        self.path = path
        self.stream, self.compression = open_dump(path)
        try:
            if not hasattr(self.stream, 'peek'):
                self.stream = io.BufferedReader(self.stream, 1 << 20)
            self.fmt = fmt or detect_format(self.stream, path)
        except VaporError:
            self.stream.close()
            raise
        except (OSError, IOError, EOFError, ValueError) as exc:
            self.stream.close()
            raise VaporError("The dump '%s' is corrupt: %s." % (path, exc))
        if self.fmt not in FORMATS:
            self.stream.close()
            raise VaporError("The dump format '%s' is not supported; use text, cms or syncat." % self.fmt)
        self.recorded = None
        self.count = 0

    def close(self):
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        if self.fmt == 'syncat':
            gen = self._iter_xml()
        else:
            gen = self._iter_lines()
        for entry in gen:
            self.count += 1
            yield entry

    def _corrupt(self, lineno, why):
        return VaporError("The dump '%s' is corrupt: line %d %s." % (self.path, lineno, why))

    def _dotdot(self, where, path):
        return VaporError("The dump '%s' is refused: %s holds '%s', which is not a normalised absolute file path (its "
                          "'..' component could name a file outside the area, so no reader accepts it)."
                          % (self.path, where, path[:200]))

    def _lines(self):
        """(number, line without its line end) of every line; bounded memory whatever the input."""
        readline = self.stream.readline
        lineno = 0
        while True:
            try:
                raw = readline(MAX_LINE + 2)
            except (OSError, IOError, EOFError, ValueError) as exc:
                raise VaporError("The dump '%s' is corrupt: %s." % (self.path, exc))
            if not raw:
                return
            lineno += 1
            if lineno == 1 and raw[:3] == UTF8_BOM:      # a byte order mark is not part of the first path
                raw = raw[3:]
            if raw.endswith(b'\n'):
                over = len(raw) - 1 > MAX_LINE          # a '\r' before the '\n' counts, as in check_line_lengths
                line = raw[:-2] if raw.endswith(b'\r\n') else raw[:-1]
            elif len(raw) > MAX_LINE:
                over = True
            else:
                raise VaporError("The dump '%s' is truncated: its last line has no line end." % self.path)
            if over:
                raise self._corrupt(lineno, 'is longer than %d bytes, the longest line a dump may hold' % MAX_LINE)
            if b'\r' in line:
                raise self._corrupt(lineno, 'holds a carriage return that does not end the line')
            yield lineno, line

    def _iter_lines(self):
        cms = self.fmt == 'cms'
        for lineno, line in self._lines():
            if not line:
                continue
            if cms:
                if line.startswith(b'BEGIN TIME') or line.startswith(b'END TIME'):
                    continue
                m = _CMS_LINE.match(line)
                if m is None:
                    raise VaporError("The dump '%s' is not in the cms format: line %d has not the four fields "
                                     "path|size|mtime|checksum." % (self.path, lineno))
                raw_path = m.group(1)
                if not raw_path:
                    raise VaporError("The dump '%s' is not in the cms format: line %d has an empty path."
                                     % (self.path, lineno))
                size = int(m.group(2))
                mtime = int(float(m.group(3)))
                checksum = normalise_adler32(m.group(4).decode('ascii', 'replace'))
            else:
                raw_path = line
                size = mtime = checksum = None
            try:
                path = raw_path.decode('utf-8')
            except UnicodeDecodeError:
                raise self._corrupt(lineno, 'is not valid UTF-8')
            if has_dotdot(path):
                raise self._dotdot('line %d' % lineno, path)
            yield DumpEntry(path, size, mtime, checksum)

    def _iter_xml(self):
        if HAS_LXML:
            ctx = _lxml_etree.iterparse(self.stream, events=('start', 'end'), huge_tree=True)
        else:
            ctx = _std_etree.iterparse(self.stream, events=('start', 'end'))
        container = None
        n = 0
        try:
            for event, elem in ctx:
                tag = elem.tag
                if not isinstance(tag, str):
                    continue
                if '}' in tag:
                    tag = tag.rsplit('}', 1)[1]
                if event == 'start':
                    if tag == 'dump' and self.recorded is None:
                        self.recorded = elem.get('recorded')
                    if tag == 'entry-set' or (tag == 'dump' and container is None):
                        container = elem
                    continue
                if tag != 'entry':
                    continue
                n += 1
                where = 'entry %d (line %s)' % (n, getattr(elem, 'sourceline', None) or '?')
                name = elem.get('name')
                if name is None:
                    raise VaporError("The dump '%s' is corrupt: %s has no name attribute." % (self.path, where))
                if len(name) > MAX_LINE // 4 and len(name.encode('utf-8', 'surrogatepass')) > MAX_LINE:
                    raise VaporError("The dump '%s' is corrupt: %s has a name longer than %d bytes, the longest a "
                                     "dump may hold." % (self.path, where, MAX_LINE))
                if has_dotdot(name):
                    raise self._dotdot(where, name)
                size = mtime = checksum = None
                for child in elem:
                    ctag = child.tag
                    if not isinstance(ctag, str):
                        continue
                    if '}' in ctag:
                        ctag = ctag.rsplit('}', 1)[1]
                    text = (child.text or '').strip()
                    if ctag == 'size':
                        size = _int_or_none(text)
                    elif ctag == 'checksum':
                        alg = child.get('algorithm')
                        checksum = normalise_adler32('%s:%s' % (alg, text) if alg else text)
                    elif ctag == 'mtime' or (mtime is None and ctag in ('last-modified', 'ctime')):
                        try:
                            mtime = int(float(text))
                        except (ValueError, OverflowError):
                            pass
                yield DumpEntry(name, size, mtime, checksum)
                # finished entries are dropped so memory stays flat on big dumps
                elem.clear()
                if HAS_LXML:
                    while elem.getprevious() is not None:
                        del elem.getparent()[0]
                elif container is not None:
                    container.clear()
        except (SyntaxError, _XML_LIB_ERROR) as exc:       # both parsers' syntax errors are SyntaxErrors
            raise VaporError("The dump '%s' is truncated or corrupt: its XML is not well formed (%s)."
                             % (self.path, str(exc).splitlines()[0].rstrip('.') if str(exc) else type(exc).__name__))
        except (LookupError, UnicodeError, ValueError) as exc:
            raise VaporError("The dump '%s' is corrupt: its XML cannot be decoded (%s)."
                             % (self.path, str(exc).splitlines()[0].rstrip('.') if str(exc) else type(exc).__name__))


def read_dump(path, fmt=None):
    """Yield the DumpEntry items of a dump file (any format, compressed or not)."""
    with DumpReader(path, fmt) as reader:
        yield from reader


def dump_digest(path, fmt):
    """Digest of an existing dump's records as this module would write them, or None if unreadable."""
    formatter = FORMATTERS[fmt]
    digest = Digest()
    try:
        with DumpReader(path, fmt) as reader:
            for e in reader:
                try:
                    digest.add(formatter(e.path, e.size or 0, e.mtime, e.checksum))
                except Unrepresentable:
                    return None
    except VaporError:
        return None
    return digest


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
