# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Writing one dump in any registered format, with its content digest.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import Digest, Unrepresentable
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import get_format


class DumpWriter:
    """Writes one dump to an open binary stream: header, records, footer; keeps a Digest."""

    def __init__(self, stream, fmt, recorded=None, vo=None):
        self.format = get_format(fmt)
        self.stream = stream
        self.fmt = fmt
        self.formatter = self.format.record
        self.digest = Digest()
        self.rejected = 0
        if stream is not None:
            head = self.format.header(recorded or '', vo)
            if head:
                stream.write(head)

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
        if self.stream is not None:
            foot = self.format.footer()
            if foot:
                self.stream.write(foot)
