# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Storage operations through gfal2 (python3-gfal2), for any protocol it has a plugin for
# (file://, root://, davs://, https://, srm://, gsiftp://): stat, delete, rename (quarantine).
# Every call has a timeout and bounded retries on transient errors; errors end in one sentence.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat as stat_mod
import sys
import threading
from collections import namedtuple

from ansible_collections.vapor.ops.plugins.module_utils._clients.xrootd import xrootd_environment
from ansible_collections.vapor.ops.plugins.module_utils._common import urls
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.retry import with_retries

try:
    import gfal2
    HAS_GFAL2 = True
except ImportError:
    gfal2 = None
    HAS_GFAL2 = False

StatResult = namedtuple('StatResult', 'exists size mtime is_dir is_link')
StatResult.__new__.__defaults__ = (False,)


class RenameUnsupported(VaporError):
    """The storage protocol cannot rename (so quarantine is impossible there)."""


class ThroughSymlink(VaporError):
    """A directory between the storage root and the path is a symbolic link: nothing is done through it."""


MISSING = StatResult(False, None, None, False)

# errors worth another try: the storage may answer next time
TRANSIENT = frozenset([errno.ETIMEDOUT, errno.ECONNREFUSED, errno.ECONNRESET, errno.EAGAIN, errno.EBUSY,
                       errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECOMM])


def require_gfal2():
    if not HAS_GFAL2:
        raise VaporError("The gfal2 Python binding is not importable by %s; install python3-gfal2 (and the gfal2 "
                         "plugins for the protocols used) and run the module with the system Python "
                         "(ansible_python_interpreter=/usr/bin/python3)." % sys.executable)


def join_url(prefix, path):
    """The storage URL of a dump path: the prefix (such as root://se:1094//data/vo) then the path."""
    if not prefix:
        raise VaporError("No storage URL prefix is set, so the dump path '%s' cannot be turned into a URL." % path)
    return urls.join_url(prefix, path)


class Storage:
    """One gfal2 context per thread; stat/unlink/rename with timeout and retries."""

    def __init__(self, timeout=60, retries=2, backoff=1.0, options=None):
        require_gfal2()
        xrootd_environment(timeout)          # before the first context starts the XRootD client
        self.timeout = int(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.options = dict(options or {})
        self._local = threading.local()

    def ctx(self):
        ctx = getattr(self._local, 'ctx', None)
        if ctx is None:
            ctx = gfal2.creat_context()
            ctx.set_opt_integer('CORE', 'NAMESPACE_TIMEOUT', self.timeout)
            for key, value in self.options.items():
                group, _dot, name = key.partition(':')
                if isinstance(value, bool):
                    ctx.set_opt_boolean(group, name, value)
                elif isinstance(value, int):
                    ctx.set_opt_integer(group, name, value)
                else:
                    ctx.set_opt_string(group, name, str(value))
            self._local.ctx = ctx
        return ctx

    def _call(self, what, url, fn, *args):
        """fn(url, *args), tried again on a transient error (the one retry policy, _common/retry).

        ``what`` names the operation ('stat', 'unlink', 'mkdir', 'rename'), so a subclass can stand in for one
        of them (a protocol without rename, in the tests)."""
        return with_retries(lambda: fn(url, *args), self.retries, self.backoff,
                            lambda exc: isinstance(exc, gfal2.GError) and exc.code in TRANSIENT)

    def stat(self, url):
        """StatResult of url; MISSING when it does not exist; VaporError for any other failure."""
        try:
            st = self._call('stat', url, self.ctx().stat)
        except gfal2.GError as exc:
            if exc.code == errno.ENOENT:
                return MISSING
            raise VaporError("The storage cannot stat '%s': %s." % (url, _msg(exc)))
        return StatResult(True, st.st_size, int(st.st_mtime), stat_mod.S_ISDIR(st.st_mode))

    def unlink(self, url):
        """Delete a file: 'deleted', or 'missing' when it was already gone; VaporError otherwise."""
        try:
            self._call('unlink', url, self.ctx().unlink)
        except gfal2.GError as exc:
            if exc.code == errno.ENOENT:
                return 'missing'
            raise VaporError("The storage cannot delete '%s': %s." % (url, _msg(exc)))
        return 'deleted'

    def rename(self, src, dst, make_parents=True):
        """Rename src to dst (creating dst's parent directories when asked): 'renamed' or 'missing'."""
        if make_parents:
            parent = dst.rsplit('/', 1)[0]
            try:
                self._call('mkdir', parent, self.ctx().mkdir_rec, 0o755)
            except gfal2.GError as exc:
                if exc.code != errno.EEXIST:
                    raise VaporError("The storage cannot create the directory '%s': %s." % (parent, _msg(exc)))
        try:
            self._call('rename', src, self.ctx().rename, dst)
        except gfal2.GError as exc:
            if exc.code == errno.ENOENT:
                return 'missing'
            if exc.code in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EPROTONOSUPPORT):
                raise RenameUnsupported("The storage protocol of '%s' cannot rename, so files cannot be quarantined "
                                        "there; run without quarantine to delete them." % src)
            raise VaporError("The storage cannot rename '%s' to '%s': %s." % (src, dst, _msg(exc)))
        return 'renamed'


# ----------------------------------------------------------------------------------------------
# file:// natively: nothing is deleted, renamed or quarantined through a symbolic link

def local_path(url):
    """The local path of a file:// URL (file:///data or file://localhost/data), or None for another scheme."""
    low = url[:7].lower()
    if low != 'file://':
        return None
    rest = url[7:]
    if rest.startswith('/'):
        return rest
    host, _sep, path = rest.partition('/')
    if host.lower() not in ('', 'localhost'):
        raise VaporError("The file URL '%s' names the host '%s'; a file:// URL must be local (file:///path)."
                         % (url, host))
    return '/' + path


class LocalStorage:
    """stat/unlink/rename of file:// URLs with no symbolic link followed below a root.

    ``roots`` are the local paths of the storage URL and of the quarantine (the site's own paths: a link in
    them is the site's choice and is followed). Below a root every directory is opened relative to its parent
    (``O_DIRECTORY | O_NOFOLLOW``, ``dir_fd``): a symbolic link anywhere between the root and the file raises
    ThroughSymlink, a file that is itself a link stats as ``is_link`` and is never unlinked or renamed. The
    checks and the action use the same directory descriptors, so a link swapped in meanwhile cannot redirect
    them.
    """

    def __init__(self, roots):
        self.roots = sorted(set(os.path.normpath(r) for r in roots if r), key=len, reverse=True)

    def _split(self, url):
        path = local_path(url)
        if path is None:
            raise VaporError("The URL '%s' is not a file:// URL." % url)
        path = os.path.normpath(path)
        for root in self.roots:
            if path == root:
                return root, []
            if path.startswith(root.rstrip('/') + '/'):
                rest = [c for c in path[len(root.rstrip('/')):].split('/') if c]
                if '..' in rest:
                    break
                return root, rest
        raise VaporError("The path '%s' is not under the storage or quarantine root." % path)

    def _open_dir(self, url, root, comps, create=False):
        """An fd of the directory root/comps..., every component opened without following links."""
        if create and not os.path.isdir(root):
            try:
                os.makedirs(root, 0o755)     # the quarantine root: the site's own path
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise VaporError("The storage cannot create the directory '%s': %s." % (root, exc.strerror))
        try:
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise VaporError("The storage cannot open '%s': %s." % (root, exc.strerror))
        done = root
        for name in comps:
            done = done.rstrip('/') + '/' + name
            try:
                nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                err = exc.errno
                if err == errno.ENOENT and create:
                    try:
                        os.mkdir(name, 0o755, dir_fd=fd)
                    except OSError as exc2:
                        if exc2.errno != errno.EEXIST:
                            os.close(fd)
                            raise VaporError("The storage cannot create the directory '%s': %s."
                                             % (done, exc2.strerror))
                    try:
                        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                        err = None
                    except OSError as exc3:
                        err = exc3.errno
                if err is not None:
                    is_link = False
                    if err in (errno.ELOOP, errno.ENOTDIR):
                        try:
                            is_link = stat_mod.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
                        except OSError:
                            is_link = False
                    os.close(fd)
                    if is_link:
                        raise ThroughSymlink("The path '%s' goes through the symbolic link '%s', and nothing is "
                                             "deleted, renamed or quarantined through a link." % (url, done))
                    if err == errno.ENOENT:
                        return None
                    raise VaporError("The storage cannot stat '%s': %s." % (url, os.strerror(err)))
            os.close(fd)
            fd = nfd
        return fd

    def _lstat(self, fd, name):
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise VaporError("The storage cannot stat '%s': %s." % (name, exc.strerror))

    def stat(self, url):
        root, comps = self._split(url)
        if not comps:
            try:
                st = os.stat(root)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return MISSING
                raise VaporError("The storage cannot stat '%s': %s." % (url, exc.strerror))
            return StatResult(True, st.st_size, int(st.st_mtime), stat_mod.S_ISDIR(st.st_mode))
        fd = self._open_dir(url, root, comps[:-1])
        if fd is None:
            return MISSING
        try:
            st = self._lstat(fd, comps[-1])
        finally:
            os.close(fd)
        if st is None:
            return MISSING
        return StatResult(True, st.st_size, int(st.st_mtime), stat_mod.S_ISDIR(st.st_mode),
                          stat_mod.S_ISLNK(st.st_mode))

    def unlink(self, url):
        root, comps = self._split(url)
        if not comps:
            raise VaporError("The storage root '%s' is not a file." % url)
        fd = self._open_dir(url, root, comps[:-1])
        if fd is None:
            return 'missing'
        try:
            st = self._lstat(fd, comps[-1])          # checked on the same directory fd, just before acting
            if st is None:
                return 'missing'
            if not stat_mod.S_ISREG(st.st_mode):
                raise VaporError("The storage path '%s' is not a regular file (%s); it was left in place."
                                 % (url, 'a symbolic link' if stat_mod.S_ISLNK(st.st_mode) else 'a directory'
                                    if stat_mod.S_ISDIR(st.st_mode) else 'a special file'))
            try:
                os.unlink(comps[-1], dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return 'missing'
                raise VaporError("The storage cannot delete '%s': %s." % (url, exc.strerror))
        finally:
            os.close(fd)
        return 'deleted'

    def rename(self, src, dst, make_parents=True):
        sroot, scomps = self._split(src)
        droot, dcomps = self._split(dst)
        if not scomps or not dcomps:
            raise VaporError("The storage cannot rename '%s' to '%s': a root is not a file." % (src, dst))
        sfd = self._open_dir(src, sroot, scomps[:-1])
        if sfd is None:
            return 'missing'
        dfd = None
        try:
            dfd = self._open_dir(dst, droot, dcomps[:-1], create=make_parents)
            if dfd is None:
                raise VaporError("The storage cannot rename '%s' to '%s': the destination directory does not exist."
                                 % (src, dst))
            st = self._lstat(sfd, scomps[-1])
            if st is None:
                return 'missing'
            if not stat_mod.S_ISREG(st.st_mode):
                raise VaporError("The storage path '%s' is not a regular file; it was left in place." % src)
            if self._lstat(dfd, dcomps[-1]) is not None:
                raise VaporError("The quarantine already holds '%s'; the file was left in place." % dst)
            try:
                os.rename(scomps[-1], dcomps[-1], src_dir_fd=sfd, dst_dir_fd=dfd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return 'missing'
                if exc.errno == errno.EXDEV:
                    raise RenameUnsupported("The quarantine '%s' is on another file system than '%s', so files "
                                            "cannot be moved there by a rename." % (dst, src))
                raise VaporError("The storage cannot rename '%s' to '%s': %s." % (src, dst, exc.strerror))
        finally:
            os.close(sfd)
            if dfd is not None:
                os.close(dfd)
        return 'renamed'


def open_storage(storage_url, quarantine_url=None, timeout=60, retries=2):
    """The storage of a run: LocalStorage for file:// (native, no link followed), gfal2 for any other scheme."""
    root = local_path(storage_url)
    if root is not None:
        roots = [root]
        if quarantine_url:
            qroot = local_path(quarantine_url)
            if qroot is not None:
                roots.append(qroot)
        return LocalStorage(roots)
    return Storage(timeout=timeout, retries=retries)


def _msg(exc):
    return (getattr(exc, 'message', None) or str(exc)).strip().rstrip('.')
