# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Reading a dump in any registered format, compressed or not (detected from the content); the digest of a
# published dump as this collection would write it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    MAX_LINE, UTF8_BOM, Digest, DumpEntry, Unrepresentable, has_dotdot, open_dump)
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import detect_format, get_format


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
            self.format = get_format(self.fmt)
        except VaporError:
            self.stream.close()
            raise
        except (OSError, IOError, EOFError, ValueError) as exc:
            self.stream.close()
            raise VaporError("The dump '%s' is corrupt: %s." % (path, exc))
        self.recorded = None
        self.count = 0

    def close(self):
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        for entry in self.format.read(self):
            self.count += 1
            yield entry

    # -- what the formats' read() use ------------------------------------------------------------
    def corrupt(self, lineno, why):
        return VaporError("The dump '%s' is corrupt: line %d %s." % (self.path, lineno, why))

    def not_in_format(self, lineno, why):
        return VaporError("The dump '%s' is not in the %s format: line %d %s." % (self.path, self.fmt, lineno, why))

    def refuse_dotdot(self, where, path):
        return VaporError("The dump '%s' is refused: %s holds '%s', which is not a normalised absolute file path (its "
                          "'..' component could name a file outside the area, so no reader accepts it)."
                          % (self.path, where, path[:200]))

    def entry(self, lineno, raw_path, size=None, mtime=None, checksum=None):
        """The DumpEntry of a line's path (bytes) and fields: refused when not UTF-8 or with a '..' component."""
        try:
            path = raw_path.decode('utf-8')
        except UnicodeDecodeError:
            raise self.corrupt(lineno, 'is not valid UTF-8')
        if has_dotdot(path):
            raise self.refuse_dotdot('line %d' % lineno, path)
        return DumpEntry(path, size, mtime, checksum)

    def lines(self):
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
                raise self.corrupt(lineno, 'is longer than %d bytes, the longest line a dump may hold' % MAX_LINE)
            if b'\r' in line:
                raise self.corrupt(lineno, 'holds a carriage return that does not end the line')
            yield lineno, line


def read_dump(path, fmt=None):
    """Yield the DumpEntry items of a dump file (any format, compressed or not)."""
    with DumpReader(path, fmt) as reader:
        yield from reader


def dump_digest(path, fmt):
    """Digest of an existing dump's records as this module would write them, or None if unreadable."""
    formatter = get_format(fmt).record
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
