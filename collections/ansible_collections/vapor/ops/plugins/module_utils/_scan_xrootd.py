# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Remote listing of an XRootD server with the distribution's python3-xrootd binding: one stat'ed
# directory listing per request, many directories in flight at once (threads: the binding's
# synchronous calls release the GIL), a per-directory timeout and retries with backoff.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import queue
import re
import threading
import time
import traceback

from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError, normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._dumpfmt import normalise_adler32

XROOTD_IMP_ERR = None
try:
    from XRootD import client as xrd_client
    from XRootD.client.flags import DirListFlags, QueryCode, StatInfoFlags
    HAS_XROOTD = True
    IS_DIR = StatInfoFlags.IS_DIR
except ImportError:
    xrd_client = None
    HAS_XROOTD = False
    XROOTD_IMP_ERR = traceback.format_exc()

_URL_RE = re.compile(r'^(?P<scheme>roots?|xroots?)://(?P<host>[^/]+)(?P<path>/.*)?$')


def parse_url(url):
    """Split 'root://host:port//path' into ('root://host:port', '/path' or None)."""
    m = _URL_RE.match(url or '')
    if not m:
        raise VaporError("The XRootD URL '%s' is not of the form root://host[:port][//path]." % url)
    server = '%s://%s' % (m.group('scheme'), m.group('host'))
    path = m.group('path')
    return server, (normalise_path(path) if path and path.strip('/') else None)


def require_binding():
    if not HAS_XROOTD:
        raise VaporError("The XRootD Python binding is not importable by %s; install python3-xrootd and run the "
                         "module with the system Python (ansible_python_interpreter=/usr/bin/python3)."
                         % __import__('sys').executable)


class XRootDLister:
    def __init__(self, server, timeout=300, retries=3, backoff=1.0):
        require_binding()
        self.server = server
        self.timeout = int(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self._local = threading.local()

    def fs(self):
        fs = getattr(self._local, 'fs', None)
        if fs is None:
            fs = self._local.fs = xrd_client.FileSystem(self.server)
        return fs

    def stat_dir(self, path):
        status, info = self.fs().stat(path, timeout=self.timeout)
        if not status.ok:
            raise VaporError("The XRootD root '%s' on %s cannot be read: %s." % (path, self.server, status.message.strip().rstrip('.')))
        if not info.flags & StatInfoFlags.IS_DIR:
            raise VaporError("The XRootD root '%s' on %s is not a directory." % (path, self.server))

    def _raw(self):
        """The binding's C-level FileSystem (skips the per-entry Python wrapper objects), or None."""
        fs = self.fs()
        return getattr(fs, '_FileSystem__fs', None)

    def listdir(self, path):
        """(files [(full path, size, mtime)], subdirectories [full path]) of one directory, after
        retries; None when the directory vanished; raises VaporError."""
        last = None
        base = path.rstrip('/') + '/'
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * (2 ** (attempt - 1)), 30))
            raw = self._raw()
            if raw is not None:
                st, resp = raw.dirlist(path, DirListFlags.STAT, self.timeout)
                ok, err, msg = st['ok'], st['errno'], st['message']
                listing = resp['dirlist'] if (ok and resp) else []
            else:
                status, resp = self.fs().dirlist(path, DirListFlags.STAT, timeout=self.timeout)
                ok, err, msg = status.ok, status.errno, status.message
                listing = [{'name': e.name, 'statinfo': None if e.statinfo is None else
                            {'size': e.statinfo.size, 'modtime': e.statinfo.modtime, 'flags': e.statinfo.flags}}
                           for e in (resp or [])] if ok else []
            if ok:
                files = []
                subdirs = []
                for e in listing:
                    st = e['statinfo']
                    if st is None:
                        continue
                    if st['flags'] & IS_DIR:
                        subdirs.append(base + e['name'])
                    else:
                        files.append((base + e['name'], st['size'], st['modtime'], None))
                return files, subdirs
            last = msg.strip().rstrip('.')
            if err in (2, 3011):   # kXR_NotFound: the directory vanished, no retry helps
                return None
        raise VaporError("The XRootD directory '%s' on %s could not be listed after %d attempts: %s."
                         % (path, self.server, self.retries + 1, last))

    def checksum(self, path):
        status, resp = self.fs().query(QueryCode.CHECKSUM, path, timeout=self.timeout)
        if not status.ok or not resp:
            return None
        text = resp.decode('ascii', 'replace').strip('\x00 \n').split()
        if len(text) == 2 and text[0].lower() == 'adler32':
            return normalise_adler32(text[1])
        return None


def scan_xrootd(sink, url, roots, workers=8, timeout=300, retries=3, checksum='none', durations=None, backoff=1.0):
    server, url_path = parse_url(url)
    roots = [normalise_path(r) for r in (roots or ([url_path] if url_path else []))]
    if not roots:
        raise VaporError("No root to scan: give roots, or a path in the XRootD URL '%s'." % url)
    lister = XRootDLister(server, timeout=timeout, retries=retries, backoff=backoff)
    for r in roots:
        lister.stat_dir(r)
    want_sum = checksum == 'server'
    workers = max(1, int(workers or 1))

    def job(path):
        """(error, files [(path, size, mtime, checksum)], subdirectories) of one directory."""
        try:
            listed = lister.listdir(path)
        except VaporError as exc:
            return exc.msg, None, None
        if listed is None:
            return None, None, None
        files, subdirs = listed
        if want_sum:
            files = [(p, s, m, lister.checksum(p)) for p, s, m, _c in files]
        return None, files, subdirs

    def worker(todo, done):
        while True:
            item = todo.get()
            if item is None:
                return
            try:
                done.put((item, job(item)))
            except BaseException as exc:   # never leave the main thread waiting
                done.put((item, ("The XRootD directory '%s' on %s could not be listed: %s."
                                 % (item, server, exc), None, None)))

    todo = queue.Queue()
    done = queue.Queue()
    threads = [threading.Thread(target=worker, args=(todo, done), daemon=True) for _i in range(workers)]
    for t in threads:
        t.start()
    try:
        for root_idx, root in enumerate(roots):
            t0 = time.time()
            todo.put(root)
            pending = 1
            while pending:
                path, (err, files, subdirs) = done.get()
                pending -= 1
                if err:
                    sink.error(err)
                    continue
                if files is None:
                    sink.c['vanished'] += 1
                    continue
                for sub in subdirs:
                    todo.put(sub)
                pending += len(subdirs)
                if files:
                    sink.add_many(root_idx, files)
            if durations is not None:
                durations.append(round(time.time() - t0, 3))
    finally:
        for t in threads:
            todo.put(None)
        for t in threads:
            t.join()
