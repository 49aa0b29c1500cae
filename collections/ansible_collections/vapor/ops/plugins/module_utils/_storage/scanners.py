# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The storage scanners se_dump can read, by source name, in the order the options offer them. Each scanner is
# one file with a scan_source(p, sink, durations, partdir, skip) entry point that feeds an EntrySink (sink.py).
# A new scanner: its file, one entry here, its tests.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.vapor.ops.plugins.module_utils._storage import dcache, dpm, posix, xrootd

# name      the source option's value
# requires  the option the source cannot do without
# scan      scan_source(p, sink, durations, partdir, skip)
# roots     default_roots(p): what is scanned when no root is given
Scanner = namedtuple('Scanner', 'name requires scan roots')


def _namespace_root(p):
    return ['/']


_ALL = (
    Scanner('posix', 'roots', posix.scan_source, _namespace_root),
    Scanner('xrootd', 'url', xrootd.scan_source, xrootd.default_roots),
    Scanner('dpm', 'db', dpm.scan_source, _namespace_root),
    Scanner('dcache', 'db', dcache.scan_source, _namespace_root),
)

SOURCES = tuple(s.name for s in _ALL)
SCANNERS = dict((s.name, s) for s in _ALL)
