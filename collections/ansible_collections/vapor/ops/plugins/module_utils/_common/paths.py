# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Paths: canonical forms (normalise, resolve), the dump path mapping and the entry filter (ignore, min age).
#
# Pure Python (no Ansible import), so the same code runs inside a module and in the
# scheduled runner that the storage_dump role installs on storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError


def path_components(path):
    """Split a path into its non-empty components ('//a///b/' -> ['a', 'b'])."""
    return [c for c in path.split('/') if c and c != '.']


def normalise_path(path):
    """Collapse repeated slashes and drop '.' components; always absolute, no trailing slash."""
    return '/' + '/'.join(path_components(path))


def resolve_path(path):
    """normalise_path, and '..' resolved lexically ('/a/x/../b' -> '/a/b'); None when '..' climbs above the root.

    The one path canonicalisation of catalog SFNs: a storage path never keeps a '..' component, so nothing that
    comes from it (a catalog dump line, a re-check lookup) can name a place outside the storage path.
    """
    if '..' not in path:
        return normalise_path(path)
    out = []
    for c in path.split('/'):
        if not c or c == '.':
            continue
        if c == '..':
            if not out:
                return None
            out.pop()
        else:
            out.append(c)
    return '/' + '/'.join(out)


class PathMapper:
    """Maps a full storage path to the path written in a dump.

    ``strip_prefix`` is removed component by component (repeated slashes never matter); a path that
    does not start with it is reported as outside (``map`` returns None). ``add_prefix`` is then put
    in front. The result always starts with '/' unless ``add_prefix`` is a URL-like prefix.
    """

    def __init__(self, strip_prefix=None, add_prefix=None):
        self.strip = path_components(strip_prefix or '')
        self.nstrip = len(self.strip)
        self.add = (add_prefix or '').rstrip('/')
        self._strip_str = '/' + '/'.join(self.strip) if self.strip else ''

    def map(self, path):
        if '//' in path or path.endswith('/') or '/./' in path:
            path = normalise_path(path)
        if self.nstrip:
            s = self._strip_str
            if path == s:
                return None
            if not path.startswith(s) or path[len(s)] != '/':
                return None
            path = path[len(s):]
        return self.add + path if self.add else path


class EntryFilter:
    """Ignore patterns (regular expressions searched in the mapped path) and a minimum age."""

    def __init__(self, ignore=None, min_age=0, now=None):
        self.patterns = []
        for pat in ignore or []:
            try:
                self.patterns.append(re.compile(pat))
            except re.error as exc:
                raise VaporError("The ignore pattern '%s' is not a valid regular expression: %s." % (pat, exc))
        self.ignore_re = re.compile('|'.join('(?:%s)' % p.pattern for p in self.patterns)) if self.patterns else None
        self.min_age = int(min_age or 0)
        self.now = time.time() if now is None else now
        self.newest_mtime = self.now - self.min_age

    def ignored(self, path):
        return self.ignore_re is not None and self.ignore_re.search(path) is not None

    def too_young(self, mtime):
        return self.min_age > 0 and mtime is not None and mtime > self.newest_mtime
