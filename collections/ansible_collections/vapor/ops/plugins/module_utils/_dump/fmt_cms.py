# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The cms dump format: path|size|mtime|adler32 (adler32 as 8 lowercase hex digits, N/A when unknown). Lines
# starting with 'BEGIN TIME' or 'END TIME' are header lines, which readers skip; writers write none.
# Not representable: a name holding '|', a newline or a carriage return (and what formats.name_problem refuses).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    DpmRecord, LineFormat, normalise_adler32, sql_literal)

# one cms line: path, size, mtime (seconds, a fraction allowed), checksum
CMS_PATTERN = r'^(.*)\|([0-9]+)\|([0-9]+(?:\.[0-9]*)?)\|([^|]*)$'
CMS_LINE = re.compile(CMS_PATTERN.encode('ascii'), re.DOTALL)
HEADERS = (b'BEGIN TIME', b'END TIME')

# no separator or '/', not empty, not '.' or '..'
_DPM_NAME = br'(?!\.\.?[|\n])[^|\n\r/]+'


def _dpm_columns(has_xattr):
    # NULL (the row path then reads the row again) for an adler32 that is not 8 characters long and for a
    # file whose checksum is only in the xattr
    other = "IF(xattr LIKE '%adler32%', NULL, 'N/A')" if has_xattr else "'N/A'"
    return ("CONCAT(name, '|', filesize, '|', mtime, '|'), "
            "IF(csumtype = 'AD', IF(LENGTH(csumvalue) = 8, csumvalue, NULL), %s)" % other)


def _dpm_name(tail):
    return tail.rsplit(b'|', 3)[0] if tail.count(b'|') >= 3 else None


class CmsFormat(LineFormat):
    name = 'cms'
    sniff_rank = 20
    marks_malformed = True
    forbidden = '|\n\r'
    forbidden_why = "the name holds '|' or a line break, which the cms format cannot carry"
    dpm = DpmRecord(
        columns=_dpm_columns,
        checksum=True,
        separators=b'|||',
        name_end=b'|',
        line_end=b'\n',
        tail_ok=re.compile(_DPM_NAME + br'\|[0-9]+\|-?[0-9]+\|').fullmatch,
        checksum_ok=re.compile(b'[0-9a-f]{8}|N/A').fullmatch,
        name_of=_dpm_name,
    )

    def line(self, path, size, mtime, checksum):
        return '%s|%d|%d|%s' % (path, size, mtime or 0, checksum or 'N/A')

    def join(self, kept):
        return ''.join(['%s|%d|%d|%s\n' % (path, size, mtime or 0, checksum or 'N/A')
                        for path, size, mtime, checksum in kept])

    def read(self, reader):
        match = CMS_LINE.match
        for lineno, line in reader.lines():
            if not line or line.startswith(HEADERS):
                continue
            m = match(line)
            if m is None:
                raise reader.not_in_format(lineno, 'has not the four fields path|size|mtime|checksum')
            raw_path = m.group(1)
            if not raw_path:
                raise reader.not_in_format(lineno, 'has an empty path')
            yield reader.entry(lineno, raw_path, int(m.group(2)), int(float(m.group(3))),
                               normalise_adler32(m.group(4).decode('ascii', 'replace')))

    def sniff(self, head, first_line):
        return first_line.startswith(b'BEGIN TIME') or CMS_LINE.match(first_line) is not None

    def duckdb_rows(self, raw, with_mtime):
        """A malformed line gives p = '' (regexp_extract of no match); the header lines are left out."""
        m = ("CAST(floor(TRY_CAST(regexp_extract(line, %s, 3) AS DOUBLE)) AS BIGINT)" % sql_literal(CMS_PATTERN)
             if with_mtime else 'NULL::BIGINT')
        return ("SELECT regexp_extract(line, %s, 1) AS p, %s AS m FROM %s WHERE line IS NOT NULL "
                "AND NOT starts_with(line, 'BEGIN TIME') AND NOT starts_with(line, 'END TIME')"
                % (sql_literal(CMS_PATTERN), m, raw))


CMS = CmsFormat()
