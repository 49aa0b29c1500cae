# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The text dump format: one path a line, nothing else on the line (what the Rucio auditor reads).
# Not representable: a name holding a newline or a carriage return (and what formats.name_problem refuses).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import DpmRecord, LineFormat


class TextFormat(LineFormat):
    name = 'text'
    has_mtime = False
    sniff_rank = 90             # the last one asked: what is neither XML nor cms is text
    forbidden = '\n\r'
    forbidden_why = 'the name holds a line break, which the text format cannot carry'
    dpm = DpmRecord(
        columns=lambda has_xattr: "CONCAT(name, '\\n')",
        checksum=False,
        separators=b'\n',
        name_end=b'\n',
        line_end=None,
        tail_ok=re.compile(br'(?!\.\.?\n)[^\n\r/]+\n').fullmatch,
        checksum_ok=None,
        name_of=lambda tail: tail[:-1],
    )

    def line(self, path, size, mtime, checksum):
        return path

    def join(self, kept):
        return '\n'.join([e[0] for e in kept]) + '\n' if kept else ''

    def read(self, reader):
        for lineno, line in reader.lines():
            if line:
                yield reader.entry(lineno, line)

    def sniff(self, head, first_line):
        return True

    def duckdb_rows(self, raw, with_mtime):
        return "SELECT line AS p, NULL::BIGINT AS m FROM %s WHERE line IS NOT NULL" % raw


TEXT = TextFormat()
