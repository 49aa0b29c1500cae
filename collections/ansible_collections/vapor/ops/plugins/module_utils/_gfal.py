# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
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
import stat as stat_mod
import sys
import threading
import time
import traceback
from collections import namedtuple

from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError

GFAL2_IMP_ERR = None
try:
    import gfal2
    HAS_GFAL2 = True
except ImportError:
    gfal2 = None
    HAS_GFAL2 = False
    GFAL2_IMP_ERR = traceback.format_exc()

StatResult = namedtuple('StatResult', 'exists size mtime is_dir')


class RenameUnsupported(VaporError):
    """The storage protocol cannot rename (so quarantine is impossible there)."""


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
    return prefix.rstrip('/') + '/' + path.lstrip('/')


class Storage:
    """One gfal2 context per thread; stat/unlink/rename with timeout and retries."""

    def __init__(self, timeout=60, retries=2, backoff=1.0, options=None):
        require_gfal2()
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
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * (2 ** (attempt - 1)), 30))
            try:
                return fn(*args)
            except gfal2.GError as exc:
                if exc.code not in TRANSIENT:
                    raise
                last = exc
        raise last

    def stat(self, url):
        """StatResult of url; MISSING when it does not exist; VaporError for any other failure."""
        try:
            st = self._call('stat', url, self.ctx().stat, url)
        except gfal2.GError as exc:
            if exc.code == errno.ENOENT:
                return MISSING
            raise VaporError("The storage cannot stat '%s': %s." % (url, _msg(exc)))
        return StatResult(True, st.st_size, int(st.st_mtime), stat_mod.S_ISDIR(st.st_mode))

    def unlink(self, url):
        """Delete a file: 'deleted', or 'missing' when it was already gone; VaporError otherwise."""
        try:
            self._call('unlink', url, self.ctx().unlink, url)
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
                self._call('mkdir', parent, self.ctx().mkdir_rec, parent, 0o755)
            except gfal2.GError as exc:
                if exc.code != errno.EEXIST:
                    raise VaporError("The storage cannot create the directory '%s': %s." % (parent, _msg(exc)))
        try:
            self._call('rename', src, self.ctx().rename, src, dst)
        except gfal2.GError as exc:
            if exc.code == errno.ENOENT:
                return 'missing'
            if exc.code in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EPROTONOSUPPORT):
                raise RenameUnsupported("The storage protocol of '%s' cannot rename, so files cannot be quarantined "
                                        "there; run without quarantine to delete them." % src)
            raise VaporError("The storage cannot rename '%s' to '%s': %s." % (src, dst, _msg(exc)))
        return 'renamed'


def _msg(exc):
    return (getattr(exc, 'message', None) or str(exc)).strip().rstrip('.')
