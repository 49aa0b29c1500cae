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

import binascii
import datetime
import errno
import os
import re
import shutil
import stat

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_mode

# Published files keep the mode the site sets (the ``mode`` option), checked here once for every writer.
# Temporary files are created 0600 and get that mode only just before their rename, so a dump is never
# readable by others while it is being written. Companion files (the catalog dump's inactive list)
# follow their dump's mode. Bits beyond rwx for user, group and others (setuid, setgid, sticky) are
# refused, and so is a mode that hides the dump from its owner (the next run compares against it).
MODE_MAX = 0o777

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


def check_file_mode(value):
    """The permissions of published files as an int; one sentence when they are not plain rwx bits."""
    mode = parse_mode(value)
    if isinstance(value, bool) or mode < 0 or mode > MODE_MAX:
        hint = (" (an unquoted %d is read as a decimal number; quote it, as in '0%d')" % (value, value)
                if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 777 else '')
        raise VaporError("The file mode %s is not a permission between 0000 and 0777%s." % (_mode_text(value), hint))
    if not mode & 0o400:
        raise VaporError("The file mode %s leaves the published dump unreadable to its owner, so the next run "
                         "could not compare with it; give the owner read permission (such as '0640')."
                         % _mode_text(value))
    return mode


def _mode_text(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return "%d (octal %o)" % (value, value) if value >= 0 else str(value)
    return "'%s'" % value


def check_link_name(link_name, dest):
    """The latest link lives next to the dumps: a plain file name, no directory part."""
    if not link_name:
        return
    if '/' in link_name or link_name in ('.', '..') or '\0' in link_name:
        raise VaporError("The latest link name '%s' is not a plain file name in the dump directory '%s' "
                         "(no '/', not '.' or '..'); the link must be next to the dumps it points at."
                         % (link_name, dest))


def check_output_options(p, formats, compressions, counts=()):
    """The options every dump writer shares: format, compression, dest, name pattern, latest link, mode,
    non-negative counts. ``p['mode']`` becomes the checked int."""
    if p['format'] not in formats:
        raise VaporError("The dump format '%s' is not supported; use text, cms or syncat." % p['format'])
    if p['compression'] not in compressions:
        raise VaporError("The compression '%s' is not supported; use none, gzip or bzip2." % p['compression'])
    if not p['dest']:
        raise VaporError("No dump directory given (dest).")
    check_name_pattern(p['name'])
    check_link_name(p.get('latest_link'), p['dest'])
    p['mode'] = check_file_mode(p['mode'])
    for key in counts:
        if int(p[key]) < 0:
            raise VaporError("The option %s is %s; it must be zero or more." % (key, p[key]))


def ensure_dest(dest, check_mode, link_name=None):
    """The destination must be an existing writable directory (it is not created here: the role does it), and
    the latest link, if any, must be replaceable: checked before anything is written, so a run never publishes
    a dump and then fails on its link. Check mode asks the same, so it fails where the real run would.
    """
    try:
        st = os.stat(dest)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise VaporError("The dump directory '%s' does not exist; create it first (the storage_dump role does)."
                             % dest)
        raise VaporError("The dump directory '%s' cannot be reached: %s." % (dest, exc.strerror or exc))
    if not os.path.isdir(dest):
        raise VaporError("The dump directory '%s' is not a directory (it is %s); give the directory the dumps are "
                         "published in." % (dest, _kind(st.st_mode)))
    if not os.access(dest, os.W_OK | os.X_OK):
        raise VaporError("The dump directory '%s' is not writable by this user (uid %d)." % (dest, os.geteuid()))
    if link_name:
        link_state(dest, link_name)


def _kind(mode):
    if stat.S_ISREG(mode):
        return 'a file'
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return 'a device'
    if stat.S_ISFIFO(mode):
        return 'a named pipe'
    if stat.S_ISSOCK(mode):
        return 'a socket'
    return 'not a directory'


TEMP_SUFFIX = '.tmp'


def new_token():
    return binascii.hexlify(os.urandom(8)).decode('ascii')


def new_temp(dest, name):
    """A new temporary file ``dest/.<name>.<token>.tmp``, mode 0600, opened for writing.

    The 16 hex digits of the token name this run's file uniquely; temp_marker() gives the bytes a scan
    finds in its own output when the dump directory is inside the scanned namespace.
    """
    for _attempt in range(100):
        tmp = os.path.join(dest, '.%s.%s%s' % (name, new_token(), TEMP_SUFFIX))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o600)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                continue
            raise VaporError("A temporary file cannot be created in the dump directory '%s': %s."
                             % (dest, exc.strerror or exc))
        return os.fdopen(fd, 'wb'), tmp
    raise VaporError("No unused temporary file name could be found in the dump directory '%s'." % dest)


STALE_AFTER = 2 * 86400
_TEMP_RE = re.compile(r'^\.(.+)\.[0-9a-f]{16}\.tmp$')


def remove_stale_temps(dest, regex, check_mode, now, extra_dirs=(), age=STALE_AFTER):
    """Remove what runs killed mid-way left in ``dest``: temporary files of dumps named by ``regex`` and the
    scratch directories whose name starts with one of ``extra_dirs``, untouched for ``age`` seconds (a live
    run writes to its files all the time). Never follows a symbolic link. The removed names, sorted."""
    removed = []
    try:
        names = os.listdir(dest)
    except OSError:
        return removed
    for name in names:
        m = _TEMP_RE.match(name)
        is_temp = m is not None and regex.match(m.group(1)) is not None
        is_dir = any(name.startswith(prefix) for prefix in extra_dirs)
        if not (is_temp or is_dir):
            continue
        full = os.path.join(dest, name)
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode) or now - _newest_mtime(full, st) < age:
            continue
        if is_temp and not stat.S_ISREG(st.st_mode) or is_dir and not stat.S_ISDIR(st.st_mode):
            continue
        removed.append(name)
        if not check_mode:
            if is_dir:
                shutil.rmtree(full, ignore_errors=True)
            else:
                discard(full)
    return sorted(removed)


def _newest_mtime(path, st):
    """The newest modification time of a file, or of a directory and the files directly in it."""
    newest = st.st_mtime
    if stat.S_ISDIR(st.st_mode):
        try:
            with os.scandir(path) as it:
                for e in it:
                    try:
                        newest = max(newest, e.stat(follow_symlinks=False).st_mtime)
                    except OSError:
                        continue
        except OSError:
            pass
    return newest


def temp_marker(tmp):
    """The unique bytes of a temporary file's name (its token and suffix)."""
    base = os.path.basename(tmp)
    return base[base.rindex('.', 0, len(base) - len(TEMP_SUFFIX)) + 1:].encode('ascii')


def apply_mode(paths, mode, check_mode):
    """Give already published files the requested mode; True when any had another one."""
    changed = False
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        if (st.st_mode & 0o7777) == mode:
            continue
        changed = True
        if not check_mode:
            try:
                os.chmod(path, mode)
            except OSError as exc:
                raise VaporError("The mode of the published dump '%s' cannot be set to %04o: %s."
                                 % (path, mode, exc.strerror or exc))
    return changed


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
    tmp = os.path.join(dest, '.%s.%s%s' % (link_name, new_token(), TEMP_SUFFIX))
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
            except FileNotFoundError:      # a concurrent run removed it first
                pass
            except OSError as exc:
                raise VaporError("The old dump '%s' cannot be removed: %s." % (os.path.join(dest, name), exc.strerror))
    return sorted(removed)
