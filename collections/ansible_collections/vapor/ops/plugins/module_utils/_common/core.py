# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Pure Python (no Ansible import), so the same code runs inside a module and in the
# scheduled runner that the storage_dump role installs on storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import math
import os
import re
import time


class VaporError(Exception):
    """An error with a one-sentence, user-facing message that names the object and the cause."""

    def __init__(self, msg, **context):
        super(VaporError, self).__init__(msg)
        self.msg = msg
        self.context = context


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


# the ports a URL of each scheme has when it names none
DEFAULT_PORTS = {'srm': 8446, 'root': 1094, 'xroot': 1094, 'https': 443, 'davs': 443, 'http': 80, 'dav': 80,
                 'gsiftp': 2811}


def same_host(a, b):
    """Host names compare without case and without a trailing dot (DNS names are case-insensitive)."""
    if a is None or b is None:
        return a is b
    return a.rstrip('.').lower() == b.rstrip('.').lower()


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


_DURATION_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$')
_DURATION_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}


def parse_duration(value, name='duration'):
    """Seconds from an int or a string such as '30d', '12h', '90m', '45s' or '3600'."""
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise VaporError("The %s '%s' is not a finite number of seconds; give a value such as '7d'." % (name, value))
        if value < 0:
            raise VaporError("The %s '%s' is negative; give a number of seconds or a value such as '7d'." % (name, value))
        return int(value)
    m = _DURATION_RE.match(str(value))
    if not m:
        raise VaporError("The %s '%s' is not a duration; give a number of seconds or a value such as '7d', '12h'." % (name, value))
    return int(float(m.group(1)) * _DURATION_UNITS[m.group(2)])


def parse_mode(value):
    """File permissions from an int or an octal string such as '0644'."""
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise VaporError("The file mode '%s' is not an octal number such as '0644'." % value)


def file_sha256(path, label):
    """SHA-256 of a file's content; ``label`` names the file in the error sentence ('The lost list ...')."""
    h = hashlib.sha256()
    try:
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                h.update(block)
    except (IOError, OSError) as exc:
        raise VaporError("%s '%s' cannot be read: %s." % (label, path, exc.strerror or exc))
    return h.hexdigest()


def xrootd_environment(timeout, environ=None):
    """Bound the XRootD client (gfal2's root:// plugin) by ``timeout``: the variables it reads once, when it first
    starts in the process. Its defaults (a 120 s connection window, 5 connection retries, a 1800 s request
    timeout) kept a stat of a dead endpoint waiting about 8 minutes whatever the module's timeout; our own retries
    replace its connection retries. A variable the site set already is left as it is. The names set are returned."""
    environ = os.environ if environ is None else environ
    timeout = max(1, int(timeout))
    wanted = {'XRD_CONNECTIONWINDOW': timeout, 'XRD_CONNECTIONRETRY': 1, 'XRD_REQUESTTIMEOUT': timeout,
              'XRD_STREAMTIMEOUT': timeout, 'XRD_TIMEOUTRESOLUTION': 1}
    done = []
    for name, value in sorted(wanted.items()):
        if not xrootd_site_set(name, environ):
            environ[name] = str(value)
            if environ is os.environ:
                _XRD_OURS[name] = str(value)
            done.append(name)
    return done


_XRD_OURS = {}      # the XRD_* variables this process set itself (a later run in the process may set them again)


def xrootd_site_set(name, environ=None):
    """Did the site (not an earlier run in this process) set the XRootD client variable ``name``?"""
    environ = os.environ if environ is None else environ
    if name not in environ:
        return False
    return not (environ is os.environ and _XRD_OURS.get(name) == environ[name])
