# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The POSIX scanner (os.scandir, parallel across directories, never following symlinks) and the mount
# views it leaves out (bind mounts inside a root, declared mount points that are not mounted).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import multiprocessing
import os
import re
import shutil
import tempfile
import time
import zlib

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32
from ansible_collections.vapor.ops.plugins.module_utils._storage.sink import EntrySink

NO_SKIP = frozenset()
SCRATCH_PREFIX = '.vapor-scan-'      # the parallel scan's part files live in dest/.vapor-scan-XXXX/

STORM_XATTRS = ('user.storm.checksum.adler32',)


def _adler32_of(path):
    value = 1
    with open(path, 'rb') as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            value = zlib.adler32(block, value)
    return '%08x' % (value & 0xffffffff)


def _checksum_of(path, how, xattrs):
    if how == 'xattr':
        for name in xattrs:
            try:
                return normalise_adler32(os.getxattr(path, name, follow_symlinks=False).decode('ascii', 'replace'))
            except (OSError, AttributeError):
                continue
        return None
    if how == 'adler32':
        return _adler32_of(path)
    return None


def _walk(sink, root_idx, top, checksum, xattrs, max_depth=None, pending=None, skip=NO_SKIP):
    """Depth-first walk of ``top``; with max_depth, directories at that depth go to ``pending``.

    Directories whose path is in ``skip`` (the dump directory, when it is inside a root) are not entered.
    """
    stack = [(top, 0)]
    add_many = sink.add_many
    c = sink.c
    want_sum = checksum not in (None, 'none')
    while stack:
        d, depth = stack.pop()
        try:
            it = os.scandir(d)
        except OSError as exc:
            if exc.errno == errno.ENOENT and d != top:
                c['vanished'] += 1
                continue
            sink.error("The directory '%s' cannot be read: %s." % (d, exc.strerror or exc))
            continue
        subdirs = []
        files = []
        try:
            with it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            if not skip or e.path not in skip:
                                subdirs.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            st = e.stat(follow_symlinks=False)
                            files.append((e.path, st.st_size, int(st.st_mtime),
                                          _checksum_of(e.path, checksum, xattrs) if want_sum else None))
                        elif e.is_symlink():
                            c['symlinks'] += 1
                        else:
                            c['special'] += 1
                    except OSError as exc:
                        if exc.errno == errno.ENOENT:
                            c['vanished'] += 1
                        else:
                            sink.error("The file '%s' cannot be read: %s." % (e.path, exc.strerror or exc))
        except OSError as exc:
            sink.error("The directory '%s' cannot be listed to its end: %s." % (d, exc.strerror or exc))
            continue
        if files:
            add_many(root_idx, files)
        # sorted, then pushed reversed: a deterministic order for unchanged storage
        subdirs.sort(reverse=True)
        if max_depth is not None and depth + 1 >= max_depth:
            pending.extend(reversed(subdirs))
        else:
            stack.extend((s, depth + 1) for s in subdirs)


# worker-process state, set up before the fork so tasks carry only (index, root index, directory)
_WORKER = {}


def _worker_task(task):
    idx, root_idx, top = task
    w = _WORKER
    if w['partdir'] is not None:
        part_path = os.path.join(w['partdir'], 'part.%06d' % idx)
        stream = open(part_path, 'wb', 1 << 20)
    else:
        part_path, stream = None, None
    try:
        sink = EntrySink(w['fmt'], w['mapper'], w['efilter'], stream, w['nroots'], digest=w['digest'])
        if w['counter'] is not None:
            sink.progress = _CountToParent(w['counter'], w['interval'])
        _walk(sink, root_idx, top, w['checksum'], w['xattrs'], skip=w['skip'])
        if sink.progress is not None:
            sink.progress.update(sink.seen)
    finally:
        if stream is not None:
            stream.close()
    return idx, part_path, sink.export()


class _CountToParent:
    """A worker's stand-in for the progress record (what EntrySink.tick() calls): adds the worker's count to a
    counter shared with the parent, which writes the record."""

    def __init__(self, counter, interval):
        self.counter = counter
        self.interval = interval
        self.sent = 0
        self.next_at = 0.0

    def due(self):
        return time.time() >= self.next_at

    def update(self, done):
        with self.counter.get_lock():
            self.counter.value += done - self.sent
        self.sent = done
        self.next_at = time.time() + self.interval


def check_posix_root(root):
    try:
        st = os.stat(root)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(root):
            raise VaporError("The root '%s' is a symbolic link to '%s', which does not exist."
                             % (root, os.readlink(root)))
        raise VaporError("The root '%s' cannot be read: %s." % (root, exc.strerror or exc))
    if not os.path.isdir(root):
        raise VaporError("The root '%s' is not a directory." % root)
    try:
        with os.scandir(root) as it:
            next(it, None)
    except OSError as exc:
        raise VaporError("The root '%s' cannot be read: %s." % (root, exc.strerror or exc))
    return st


def scan_posix(sink, roots, workers=2, checksum='none', xattrs=STORM_XATTRS, partdir=None, durations=None,
               fmt=None, skip=()):
    """Scan POSIX roots into ``sink``.

    With more than one worker, the top of each root is listed here until there are enough
    subdirectories, which are then walked by forked worker processes; each writes its records to a
    part file in ``partdir`` and the parts are appended in task order (so the output order does not
    depend on timing). ``partdir`` None means check mode: nothing is written, only counted.
    """
    for root in roots:
        check_posix_root(root)
    skip = frozenset(skip or ())
    workers = max(1, int(workers or 1))
    forkable = workers > 1 and hasattr(os, 'fork') and 'fork' in multiprocessing.get_all_start_methods()
    for root_idx, root in enumerate(roots):
        t0 = time.time()
        if not forkable:
            _walk(sink, root_idx, root, checksum, xattrs, skip=skip)
        else:
            # breadth-first until there is work for every worker, then fan out
            frontier = [root]
            depth = 0
            while frontier and len(frontier) < workers * 8 and depth < 6:
                pending = []
                for d in frontier:
                    _walk(sink, root_idx, d, checksum, xattrs, max_depth=1, pending=pending, skip=skip)
                frontier = pending
                depth += 1
            if frontier:
                _fan_out(sink, root_idx, frontier, workers, checksum, xattrs, partdir, fmt, skip)
        if durations is not None:
            durations.append(round(time.time() - t0, 3))


def scan_source(p, sink, durations, partdir=None, skip=()):
    """The scanner registry's entry point: the se_dump parameters ``p``; ``partdir`` holds the workers' parts."""
    scan_posix(sink, p['roots'], workers=p['workers'], checksum=p['checksum'], partdir=partdir,
               durations=durations, fmt=p['format'], skip=skip)


def _fan_out(sink, root_idx, dirs, workers, checksum, xattrs, partdir, fmt, skip=NO_SKIP):
    own_partdir = None
    if sink.stream is not None:
        own_partdir = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=partdir)
    _WORKER.clear()
    _WORKER.update(fmt=fmt, mapper=sink.mapper, efilter=_FilterProxy(sink), nroots=len(sink.root_files),
                   checksum=checksum, xattrs=xattrs, partdir=own_partdir,
                   digest=sink.want_digest, skip=skip)
    ctx = multiprocessing.get_context('fork')
    progress = sink.progress
    counter = ctx.Value('q', 0) if progress is not None else None
    _WORKER.update(counter=counter, interval=progress.interval if progress is not None else None)
    base = sink.elsewhere
    tasks = [(i, root_idx, d) for i, d in enumerate(dirs)]
    try:
        pool = ctx.Pool(processes=min(workers, len(tasks)))
        try:
            results = []
            running = pool.imap_unordered(_worker_task, tasks, chunksize=1)
            while True:
                try:
                    results.append(running.next(timeout=progress.interval if progress is not None else None))
                except multiprocessing.TimeoutError:
                    pass
                except StopIteration:
                    break
                if counter is not None:     # the workers' count, between results and while waiting for one
                    sink.elsewhere = base + counter.value
                    sink.tick()
            results.sort(key=lambda r: r[0])
        finally:
            pool.close()
            pool.join()
        for _idx, part_path, exported in results:
            sink.absorb(exported, part_path)
    finally:
        if own_partdir is not None:
            shutil.rmtree(own_partdir, ignore_errors=True)
        _WORKER.clear()


class _FilterProxy:
    """What EntrySink needs of an EntryFilter, rebuilt from a sink (fork-safe)."""

    def __init__(self, sink):
        self.ignore_re = sink.ignore_re
        self.min_age = sink.min_age
        self.newest_mtime = sink.newest


# ------------------------------------------------------------------------------------------------
# Mounts: the same directory seen twice (a bind mount inside a root, a loop) and mount points that
# the site declares but that are not mounted now.

MOUNTINFO = '/proc/self/mountinfo'
FSTAB = '/etc/fstab'
_OCTAL_ESCAPE = re.compile(r'\\([0-7]{3})')


def _unescape(field):
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def read_mountinfo(path=MOUNTINFO):
    """{mount point: (device, path of the mounted directory inside its filesystem)} of the mounts in force
    (a later mount on the same point hides an earlier one); {} where the kernel does not say."""
    mounts = {}
    try:
        with open(path, 'rb') as f:
            lines = f.read().decode('utf-8', 'surrogateescape').splitlines()
    except (IOError, OSError):
        return mounts
    for line in lines:
        fields = line.split(' ')
        if len(fields) < 5:
            continue
        mounts[_unescape(fields[4])] = (fields[2], _unescape(fields[3]))
    return mounts


def _under(path, top):
    """``path`` equals ``top`` or lies below it (both absolute and normalised)."""
    return path == top or top == '/' or path.startswith(top.rstrip('/') + '/')


def _fs_view(real, mounts):
    """(device, path inside the filesystem) of the real directory path ``real``."""
    best = max((mp for mp in mounts if _under(real, mp)), key=len, default=None)
    if best is None:
        return None
    dev, fsroot = mounts[best]
    rest = real[len(best.rstrip('/')):] if best != '/' else real
    return dev, (fsroot.rstrip('/') + rest) or '/'


def mount_views(roots, mounts=None):
    """The mount points inside the roots that show again a directory the scan already walks (a bind mount of
    a directory of a root, or of a directory holding a root: a loop), as (walked path, mount point, what it
    repeats). Their files would be listed twice, under a path that is not where they live, and the copies
    would look dark: the scan leaves them out. Roots that are the same directory, or one inside another
    (by their real paths or through a bind mount), are refused: their files would be listed twice."""
    if mounts is None:
        mounts = read_mountinfo()
    reals = [os.path.realpath(r) for r in roots]
    views = []          # (device, fs path, label) of what the scan walks, roots first
    for root, real in zip(roots, reals):
        view = _fs_view(real, mounts) if mounts else None
        for other, oreal, oview in views:
            same_fs = view is not None and oview is not None and view[0] == oview[0] and \
                (_under(view[1], oview[1]) or _under(oview[1], view[1]))
            if _under(real, oreal) or _under(oreal, real) or same_fs:
                raise VaporError("The roots '%s' and '%s' overlap (one is the other or lies inside it, by their "
                                 "real paths or through a bind mount), so their files would be listed twice; give "
                                 "each directory once." % (other, root))
        views.append((root, real, view))
    left_out = []
    if not mounts:
        return left_out
    seen = [(v[0], v[1], root) for root, _real, v in views if v is not None]
    for mp in sorted(mounts):
        for root, real in zip(roots, reals):
            if mp == real or not _under(mp, real):
                continue
            dev, fsroot = mounts[mp]
            walked = root.rstrip('/') + mp[len(real.rstrip('/')):]
            if any(w == walked or _under(walked, w) for w, _m, _r in left_out):
                break
            for sdev, spath, label in seen:
                if sdev == dev and (_under(fsroot, spath) or _under(spath, fsroot)):
                    left_out.append((walked, mp, label))
                    break
            else:
                seen.append((dev, fsroot, walked))
            break
    return left_out


def unmounted_mount_points(roots, fstab=FSTAB, mounts=None):
    """The mount points declared in /etc/fstab inside (or at) a root that are not mounted now: the empty
    directory left there would make every file of that file system look lost."""
    try:
        with open(fstab, 'rb') as f:
            lines = f.read().decode('utf-8', 'surrogateescape').splitlines()
    except (IOError, OSError):
        return []
    if mounts is None:
        mounts = read_mountinfo()
    if not mounts:
        return []
    reals = [os.path.realpath(r) for r in roots]
    missing = []
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith('#') or fields[2] in ('swap', 'none') or \
                not fields[1].startswith('/'):
            continue
        mp = os.path.normpath(_unescape(fields[1]))
        if any(_under(mp, real) for real in reals) and mp not in mounts:
            missing.append(mp)
    return missing
