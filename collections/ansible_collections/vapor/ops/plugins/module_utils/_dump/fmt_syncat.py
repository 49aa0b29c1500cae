# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The syncat dump format: the dCache/CMS "syncat" XML, <entry name=".."><size/><mtime/><checksum/></entry>.
# Newlines, tabs and carriage returns in names are written as character references (&#10; ...), which survive
# attribute normalisation. Not representable: other control characters, which XML 1.0 does not allow at all
# (and what formats.name_problem refuses). Read with lxml's iterparse (the stdlib parser as the fallback), with
# memory flat on big dumps; DuckDB cannot read it, so the consistency check converts it first.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    MAX_LINE, NOT_UTF8, DumpEntry, DumpFormat, Unrepresentable, has_dotdot, name_problem, normalise_adler32,
    suspect_name)

try:
    from lxml import etree as _lxml_etree
    HAS_LXML = True
except ImportError:  # pragma: no cover - the stdlib parser is the fallback
    _lxml_etree = None
    HAS_LXML = False
import xml.etree.ElementTree as _std_etree

_XML_LIB_ERROR = _lxml_etree.LxmlError if HAS_LXML else _std_etree.ParseError

SYNCAT_NS = 'http://www.dcache.org/PROPOSED/2008/01/Cat'
SYNCAT_FOOTER = b'</entry-set>\n</dump>\n</cat>\n'

_XML_BAD = re.compile(u'[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
_XML_ESC = {u'&': u'&amp;', u'<': u'&lt;', u'>': u'&gt;', u'"': u'&quot;',
            u'\n': u'&#10;', u'\r': u'&#13;', u'\t': u'&#9;'}
_XML_ESC_RE = re.compile(u'[&<>"\n\r\t]')


def _xml_attr(value):
    return _XML_ESC_RE.sub(lambda m: _XML_ESC[m.group(0)], value)


def _int_or_none(text):
    return int(text) if text.isdigit() and text.isascii() else None


def _local(tag):
    return tag.rsplit('}', 1)[1] if '}' in tag else tag


def _first_line(exc):
    return str(exc).splitlines()[0].rstrip('.') if str(exc) else type(exc).__name__


# the dump element's recorded attribute (any namespace prefix), in the first bytes of the file
_RECORDED_RE = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dump\b[^>]*?\brecorded\s*=\s*["\']([^"\']+)["\']')


class SyncatFormat(DumpFormat):
    name = 'syncat'
    line_format = False
    sniff_rank = 10
    duckdb_native = False

    def recorded(self, head):
        m = _RECORDED_RE.search(head)
        return m.group(1).decode('ascii', 'replace') if m else None

    def record(self, path, size, mtime, checksum):
        why = suspect_name(path) and name_problem(path, line_format=False)
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
        try:
            return u''.join(parts).encode('utf-8')
        except UnicodeEncodeError:
            raise Unrepresentable(NOT_UTF8)

    def header(self, recorded, vo):
        head = (u'<?xml version="1.0" encoding="UTF-8"?>\n<cat xmlns="%s">\n<dump recorded="%s">'
                % (SYNCAT_NS, recorded))
        if vo:
            head += u'<for>vo:%s</for>' % _xml_attr(vo)
        return (head + u'\n<entry-set>\n').encode('utf-8')

    def footer(self):
        return SYNCAT_FOOTER

    def sniff(self, head, first_line):
        return head.lstrip()[:1] == b'<'

    def read(self, reader):
        if HAS_LXML:
            ctx = _lxml_etree.iterparse(reader.stream, events=('start', 'end'), huge_tree=True)
        else:
            ctx = _std_etree.iterparse(reader.stream, events=('start', 'end'))
        container = None
        n = 0
        path = reader.path
        try:
            for event, elem in ctx:
                tag = elem.tag
                if not isinstance(tag, str):
                    continue
                tag = _local(tag)
                if event == 'start':
                    if tag == 'dump' and reader.recorded is None:
                        reader.recorded = elem.get('recorded')
                    if tag == 'entry-set' or (tag == 'dump' and container is None):
                        container = elem
                    continue
                if tag != 'entry':
                    continue
                n += 1
                where = 'entry %d (line %s)' % (n, getattr(elem, 'sourceline', None) or '?')
                name = elem.get('name')
                if name is None:
                    raise VaporError("The dump '%s' is corrupt: %s has no name attribute." % (path, where))
                if len(name) > MAX_LINE // 4 and len(name.encode('utf-8', 'surrogatepass')) > MAX_LINE:
                    raise VaporError("The dump '%s' is corrupt: %s has a name longer than %d bytes, the longest a "
                                     "dump may hold." % (path, where, MAX_LINE))
                if has_dotdot(name):
                    raise reader.refuse_dotdot(where, name)
                size = mtime = checksum = None
                for child in elem:
                    ctag = child.tag
                    if not isinstance(ctag, str):
                        continue
                    ctag = _local(ctag)
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
                             % (path, _first_line(exc)))
        except (LookupError, UnicodeError, ValueError) as exc:
            raise VaporError("The dump '%s' is corrupt: its XML cannot be decoded (%s)." % (path, _first_line(exc)))


SYNCAT = SyncatFormat()
