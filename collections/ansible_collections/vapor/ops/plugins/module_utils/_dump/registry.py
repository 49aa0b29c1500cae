# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The dump formats the collection reads and writes, one object each (fmt_<name>.py), in the order the options
# offer them. A new format: its file, one line here, its tests. Everything else (the options' choices, the
# writers, the readers, format detection, the error sentences, the DPM scanner's fast path, the consistency
# check's engine) asks this registry.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import UTF8_BOM, UTF16_BOMS
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_cms import CMS
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_syncat import SYNCAT
from ansible_collections.vapor.ops.plugins.module_utils._dump.fmt_text import TEXT

_ALL = (TEXT, CMS, SYNCAT)

FORMATS = tuple(f.name for f in _ALL)
_BY_NAME = dict((f.name, f) for f in _ALL)
_SNIFF_ORDER = sorted(_ALL, key=lambda f: f.sniff_rank)


def choices_text(names):
    """'a, b or c'."""
    names = list(names)
    return names[0] if len(names) == 1 else '%s or %s' % (', '.join(names[:-1]), names[-1])


def unsupported(fmt):
    """The sentence for a format that is not in the registry."""
    return VaporError("The dump format '%s' is not supported; use %s." % (fmt, choices_text(FORMATS)))


def get_format(fmt):
    """The format object of a name; one sentence when there is none."""
    try:
        return _BY_NAME[fmt]
    except (KeyError, TypeError):
        raise unsupported(fmt)


def detect_format(stream, name=None):
    """Guess the format's name from the start of a (peekable) stream.

    A UTF-8 byte order mark is skipped (every reader skips it). An XML dump may be in UTF-16 (its parser reads
    it); a line format in UTF-16 is refused with one sentence when ``name`` is given.
    """
    head = stream.peek(65536)[:65536] if hasattr(stream, 'peek') else b''
    if head[:2] in UTF16_BOMS:
        try:
            text = head[:4096 - len(head[:4096]) % 2].decode('utf-16')
        except UnicodeDecodeError:
            text = ''
        start = text.lstrip()[:1].encode('utf-8', 'surrogatepass')
        for fmt in _SNIFF_ORDER:
            if not fmt.line_format and fmt.sniff(start, start):
                return fmt.name
        if name is not None:
            raise VaporError("The dump '%s' is encoded in UTF-16 (it starts with a UTF-16 byte order mark); a %s "
                             "dump must be UTF-8." % (name, choices_text(f.name for f in _ALL if f.line_format)))
    if head[:3] == UTF8_BOM:
        head = head[3:]
    line = head.split(b'\n', 1)[0].rstrip(b'\r')
    for fmt in _SNIFF_ORDER:
        if fmt.sniff(head, line):
            return fmt.name
    return _SNIFF_ORDER[-1].name
