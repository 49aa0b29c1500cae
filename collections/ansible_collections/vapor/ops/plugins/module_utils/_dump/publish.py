# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Publishing a dump, for every job that publishes one (se_dump, catalog_dump): the output options' checks, a
# temporary file in the destination directory, the comparison with what is published, an atomic rename, a
# "latest" link replaced atomically, and pruning of older dumps of the same name pattern (Publisher).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import datetime
import errno
import os
import re
import shutil
import stat
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_mode
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import dump_digest
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import unsupported

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
        raise unsupported(p['format'])
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


def published(dest, pattern, suffixes):
    """[(datetime, name)] of the dumps of this name pattern in ``dest`` (regular files, not links), newest first:
    by the date in the name, or the file's modification time when the name holds none that parses."""
    regex = name_regex(pattern, suffixes)
    found = []
    try:
        names = os.listdir(dest)
    except OSError:
        return []
    for name in names:
        full = os.path.join(dest, name)
        m = regex.match(name)
        if not m or os.path.islink(full) or not os.path.isfile(full):
            continue
        try:
            when = datetime.datetime.strptime(m.group(1), pattern)
        except ValueError:
            when = datetime.datetime.fromtimestamp(os.lstat(full).st_mtime)
        found.append((when, name))
    found.sort(reverse=True)
    return found


def prune(dest, pattern, suffixes, keep, current, check_mode, companions=(), what='dump', count_current=False,
          listing=None):
    """Remove the oldest dumps of this pattern (and their companion files) beyond ``keep`` (0 keeps all); return
    the removed names. ``current`` is always kept; with ``count_current`` it counts as the newest dump even when it
    is not written yet (check mode). ``listing``: the published() list to prune from (default: listed now)."""
    if not keep or keep <= 0:
        return []
    if listing is None:
        listing = published(dest, pattern, suffixes)
    newest = [name for _when, name in listing]
    if count_current and current not in newest:
        newest.insert(0, current)
    kept = set(newest[:keep])
    kept.add(current)
    removed = sorted(name for name in newest if name not in kept)
    if not check_mode:
        for name in removed:
            full = os.path.join(dest, name)
            for victim in [full] + [companion(full) for companion in companions]:
                try:
                    os.unlink(victim)
                except FileNotFoundError:      # a concurrent run removed it first
                    pass
                except OSError as exc:
                    raise VaporError("The old %s '%s' cannot be removed: %s." % (what, victim, exc.strerror))
    return removed


def _digest_state(path, fmt):
    """The content digest's state of a published file, or None when there is none or it cannot be read."""
    if not os.path.isfile(path):
        return None
    d = dump_digest(path, fmt)
    return d.state() if d is not None else None


class Publisher:
    """One publication of a dump, and of its companion files, in ``dest``, for every job that publishes dumps:
    temporary files (mode 0600) -> the job writes them and checks its gates -> unchanged? -> commit (the
    companions first, so a published dump always has them next to it) -> latest link -> prune.

    The one rule for "unchanged": the content digests of the new files (the dump and each companion) equal those
    of the baseline, the published dump this run would stand for, and its companions. The baseline is the newest
    published dump of the name pattern; with ``same_name`` it is the dump already published under this run's
    own name (a job whose every run must leave a dump under its own name, such as a daily storage dump). An
    unchanged run discards its temporary files, keeps the baseline (giving it the mode asked for now) and points
    the link at it.

    ``companions``: functions giving a companion file's path from its dump's path. ``what``: how error sentences
    call the files. ``sweep``: also remove what killed runs left (stale temporary files, and the scratch
    directories whose name starts with one of ``sweep``).
    """

    def __init__(self, dest, pattern, name, suffixes, mode, check_mode, latest_link=None, keep=0, companions=(),
                 what='dump', same_name=False, sweep=None):
        self.dest, self.pattern, self.name, self.suffixes = dest, pattern, name, suffixes
        self.mode, self.check_mode, self.latest_link, self.keep = mode, check_mode, latest_link, int(keep or 0)
        self.companions, self.what, self.same_name, self.sweep = tuple(companions), what, same_name, sweep
        self.target = os.path.join(dest, name)
        self.before = published(dest, pattern, suffixes)
        self.files = [self.target] + [c(self.target) for c in self.companions]
        self.raws = [None] * len(self.files)
        self.temps = []

    def open(self):
        """The binary streams the job writes the dump and its companions to (temporary files), or Nones in check
        mode."""
        if not self.check_mode:
            for i, path in enumerate(self.files):
                self.raws[i], tmp = new_temp(self.dest, os.path.basename(path))
                self.temps.append(tmp)
        return list(self.raws)

    @property
    def pending(self):
        """True while temporary files are there (neither committed nor discarded yet)."""
        return bool(self.temps)

    def close_raw(self):
        """Close the temporary files once the job has written them (and closed its compressors)."""
        for i, raw in enumerate(self.raws):
            if raw is not None:
                raw.close()
                self.raws[i] = None

    def baseline(self, force=False):
        """The published dump an unchanged run stands for, or None."""
        if force:
            return None
        if self.same_name:
            return self.target if os.path.isfile(self.target) else None
        return os.path.join(self.dest, self.before[0][1]) if self.before else None

    def finish(self, states, fmts, force=False):
        """Compare, commit or discard, link, prune. ``states``: the digest states of the new dump and of each
        companion; ``fmts``: their formats. A dict: published, dump (its path), name, baseline and
        baseline_states (None when there was no baseline), mode_changed, link_changed, pruned, stale."""
        base = self.baseline(force)
        base_states = None
        same = False
        if base is not None:
            base_files = [base] + [c(base) for c in self.companions]
            base_states = [_digest_state(path, fmt) for path, fmt in zip(base_files, fmts)]
            same = base_states == list(states)
        # a kept dump and its companions still get the mode the site asks for now
        mode_changed = same and apply_mode(base_files, self.mode, self.check_mode)
        if self.temps:
            if same:
                for tmp in self.temps:
                    discard(tmp)
            else:
                for tmp, path in reversed(list(zip(self.temps, self.files))):
                    commit(tmp, path, self.mode)
            self.temps = []
        dump = base if same else self.target
        name = os.path.basename(dump)
        link_changed = update_link(self.dest, self.latest_link, name, self.check_mode)
        # a job whose runs each publish a new name (catalog_dump) prunes from the dumps published before the run,
        # this run's dump counted as the newest: the same set in check mode and in a real run, whatever the dates
        # in the names (a dump dated after the run, by a host whose clock was ahead, is not kept over it)
        pruned = prune(self.dest, self.pattern, self.suffixes, self.keep, name, self.check_mode,
                       companions=self.companions, what=self.what, count_current=not self.same_name,
                       listing=None if self.same_name else self.before)
        stale = []
        if self.sweep is not None:
            stale = remove_stale_temps(self.dest, name_regex(self.pattern, self.suffixes), self.check_mode,
                                       time.time(), extra_dirs=self.sweep)
        return {'published': not same, 'dump': dump, 'name': name, 'baseline': base, 'baseline_states': base_states,
                'mode_changed': mode_changed, 'link_changed': link_changed, 'pruned': pruned, 'stale': stale}

    def cleanup(self):
        """Close and remove what is left of the temporary files (a failed run publishes nothing)."""
        temps, self.temps = self.temps, []
        for raw, tmp in zip(self.raws, temps):
            try:
                if raw is not None:
                    raw.close()
            except OSError:
                pass
            finally:
                discard(tmp)
        self.raws = [None] * len(self.files)
