# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# File content: the SHA-256 of a file, read in blocks; a private file (mode 0600) replaced whole, never through a
# symbolic link, and only when its content changes.
#
# Pure Python (no Ansible import), so the same code runs inside a module and in the
# scheduled runner that the storage_dump role installs on storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError


def file_sha256(path, label):
    """SHA-256 of a file's content; ``label`` names the file in the error sentence ('The lost list ...')."""
    import hashlib
    h = hashlib.sha256()
    try:
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                h.update(block)
    except (IOError, OSError) as exc:
        raise VaporError("%s '%s' cannot be read: %s." % (label, path, exc.strerror or exc))
    return h.hexdigest()


_KINDS = ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISSOCK, 'a socket'),
          (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'))


def file_kind(mode):
    """What a file of this st_mode is, in words ('a FIFO', 'a character device'...), for a message."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return 'not a regular file'


def check_replaceable(path, label):
    """Refuse a path write_private() is to write where something other than a regular file or a symbolic link is
    (nothing there is fine): replacing /dev/null, a FIFO or a socket with a file is never wanted, and a directory
    cannot be. ``label`` names the file in the one-sentence error ('The report file')."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if stat.S_ISDIR(mode):
        raise VaporError("%s '%s' is a directory." % (label, path))
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise VaporError("%s '%s' is %s, not a regular file; it is left as it is." % (label, path, file_kind(mode)))


def read_regular_nofollow(path):
    """The bytes of the regular file at ``path`` (not through a symbolic link), or None when nothing, a link or
    anything but a regular file is there. Opened without blocking, so a FIFO there (with no writer) cannot hold the
    caller. Another reason it cannot be opened raises VaporError."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return None
        raise VaporError("The file '%s' cannot be read: %s." % (path, exc.strerror or exc))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def chmod_nofollow(path, mode, directory=False):
    """Set ``mode`` on the regular file (with ``directory``: the directory) at ``path``, never through a symbolic
    link: whether it was set. False, and nothing changed, when a link or anything else is there now (someone put it
    there after the caller looked). Opened without blocking (a FIFO cannot hold the caller); OSError otherwise."""
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0)
    if directory:
        flags |= getattr(os, 'O_DIRECTORY', 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return False
        raise
    try:
        if not (stat.S_ISDIR if directory else stat.S_ISREG)(os.fstat(fd).st_mode):
            return False
        os.fchmod(fd, mode)
        return True
    finally:
        os.close(fd)


def same_content(path, data):
    """Whether ``path`` is a regular file (not a symbolic link) holding exactly ``data`` (never blocking on a
    FIFO; a file that cannot be read holds nothing the same)."""
    try:
        return read_regular_nofollow(path) == data
    except VaporError:
        return False


def write_private(path, data, label, check_mode=False, mode=0o600):
    """Write ``data`` to ``path`` with ``mode`` (0600: package lists reveal a host's patch level); return whether
    the file changed.

    The file is replaced whole: a new temporary file next to it (created, never opened if there; not through a
    link), then renamed over the path, so a reader sees the old or the new content and a symbolic link at the path
    is replaced, not followed. A file that already holds ``data`` is left alone (its mode is still set).
    A directory, FIFO, socket or device at the path is refused and left alone (check_replaceable()).
    ``label`` names the file in the error sentence ('The report file').
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise VaporError("%s '%s' cannot be written: its directory does not exist." % (label, path))
    check_replaceable(path, label)
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    if same_content(path, data) and stat.S_IMODE(st.st_mode) == mode:
        return False
    if check_mode:
        return True
    if same_content(path, data):
        try:
            if chmod_nofollow(path, mode):
                return True
        except OSError as exc:
            raise VaporError("%s '%s' cannot be given the mode %04o: %s." % (label, path, mode, exc.strerror or exc))
        # a link or something else was put there after the look: replaced whole below, never followed
    tmp = None
    for attempt in range(100):
        candidate = os.path.join(directory, '.%s.%d.%d.tmp' % (os.path.basename(path), os.getpid(), attempt))
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), mode)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                continue
            raise VaporError("%s '%s' cannot be written: %s." % (label, path, exc.strerror or exc))
        tmp = candidate
        break
    if tmp is None:
        raise VaporError("%s '%s' cannot be written: no unused temporary name next to it." % (label, path))
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise VaporError("%s '%s' cannot be written: %s." % (label, path, exc.strerror or exc))
    return True
