# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Publishing a dump: a temporary file in the destination directory, an atomic rename, a "latest"
# link replaced atomically, and pruning of older dumps of the same name pattern.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re
import tempfile

from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError

_STRFTIME_RE = {
    'Y': r'\d{4}', 'y': r'\d{2}', 'm': r'\d{2}', 'd': r'\d{2}', 'H': r'\d{2}', 'M': r'\d{2}',
    'S': r'\d{2}', 'j': r'\d{3}', 'U': r'\d{2}', 'W': r'\d{2}', 'G': r'\d{4}', 'V': r'\d{2}', 'u': r'\d', 's': r'\d+',
}


def name_regex(pattern, suffixes):
    """A regex matching the file names a strftime pattern produces, with any of the suffixes."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == '%' and i + 1 < len(pattern):
            code = pattern[i + 1]
            if code == '%':
                out.append('%')
            elif code in _STRFTIME_RE:
                out.append(_STRFTIME_RE[code])
            else:
                raise VaporError("The name pattern '%s' uses %%%s; only numeric date codes (%s) are supported."
                                 % (pattern, code, ', '.join('%' + k for k in sorted(_STRFTIME_RE))))
            i += 2
            continue
        out.append(re.escape(c))
        i += 1
    suff = '|'.join(re.escape(s) for s in suffixes if s)
    return re.compile('^(%s)(%s)?$' % (''.join(out), suff) if suff else '^(%s)()$' % ''.join(out))


def check_name_pattern(pattern):
    if not pattern or '/' in pattern or pattern in ('.', '..'):
        raise VaporError("The name pattern '%s' is not a plain file name pattern (no '/', not empty)." % pattern)
    name_regex(pattern, ())


def check_output_options(p, formats, compressions, counts=()):
    """The options every dump writer shares: format, compression, dest, name pattern, non-negative counts."""
    if p['format'] not in formats:
        raise VaporError("The dump format '%s' is not supported; use text, cms or syncat." % p['format'])
    if p['compression'] not in compressions:
        raise VaporError("The compression '%s' is not supported; use none, gzip or bzip2." % p['compression'])
    if not p['dest']:
        raise VaporError("No dump directory given (dest).")
    check_name_pattern(p['name'])
    for key in counts:
        if int(p[key]) < 0:
            raise VaporError("The option %s is %s; it must be zero or more." % (key, p[key]))


def ensure_dest(dest, check_mode):
    """The destination must be an existing writable directory (it is not created here: the role does it)."""
    if not os.path.isdir(dest):
        raise VaporError("The dump directory '%s' does not exist; create it first (the storage_dump role does)." % dest)
    if not check_mode and not os.access(dest, os.W_OK | os.X_OK):
        raise VaporError("The dump directory '%s' is not writable by this user." % dest)


def new_temp(dest, name):
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=dest)
    return os.fdopen(fd, 'wb'), tmp


def discard(tmp):
    try:
        os.unlink(tmp)
    except OSError:
        pass


def commit(tmp, target, mode):
    """fsync and atomically rename the temporary file onto the target."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.rename(tmp, target)
    try:
        dfd = os.open(os.path.dirname(target) or '.', os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def link_state(dest, link_name):
    path = os.path.join(dest, link_name)
    if os.path.islink(path):
        return os.readlink(path)
    if os.path.exists(path):
        raise VaporError("The latest link '%s' exists and is not a symbolic link; remove it or choose another link name." % path)
    return None


def update_link(dest, link_name, target_name, check_mode):
    """Point dest/link_name at target_name (relative); return True when that is a change."""
    if not link_name:
        return False
    if link_state(dest, link_name) == target_name:
        return False
    if check_mode:
        return True
    path = os.path.join(dest, link_name)
    tmp = os.path.join(dest, '.%s.%d.tmp' % (link_name, os.getpid()))
    discard(tmp)
    os.symlink(target_name, tmp)
    os.rename(tmp, path)
    return True


def _when(name, pattern_re, pattern, full_path):
    m = pattern_re.match(name)
    try:
        return datetime.datetime.strptime(m.group(1), pattern)
    except (ValueError, AttributeError):
        return datetime.datetime.fromtimestamp(os.lstat(full_path).st_mtime)


def prune(dest, pattern, suffixes, keep, current, check_mode):
    """Remove the oldest dumps of this pattern beyond ``keep`` (0 keeps all); return the removed names."""
    if not keep or keep <= 0:
        return []
    regex = name_regex(pattern, suffixes)
    found = []
    for name in os.listdir(dest):
        full = os.path.join(dest, name)
        if not regex.match(name) or os.path.islink(full) or not os.path.isfile(full):
            continue
        found.append((_when(name, regex, pattern, full), name))
    found.sort(reverse=True)
    newest = [name for _when_, name in found]
    kept = set(newest[:keep])
    kept.add(current)
    removed = [name for name in newest if name not in kept]
    if not check_mode:
        for name in removed:
            try:
                os.unlink(os.path.join(dest, name))
            except OSError as exc:
                raise VaporError("The old dump '%s' cannot be removed: %s." % (os.path.join(dest, name), exc.strerror))
    return sorted(removed)
