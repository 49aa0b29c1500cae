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

import re
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError, normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._dumpfmt import normalise_adler32

XROOTD_IMP_ERR = None
try:
    from XRootD import client as xrd_client
    from XRootD.client.flags import DirListFlags, QueryCode, StatInfoFlags
    HAS_XROOTD = True
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

    def listdir(self, path):
        """[(name, size, mtime, is_dir)] of one directory, after retries; raises VaporError."""
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * (2 ** (attempt - 1)), 30))
            status, listing = self.fs().dirlist(path, DirListFlags.STAT, timeout=self.timeout)
            if status.ok:
                out = []
                for e in listing:
                    st = e.statinfo
                    if st is None:
                        continue
                    out.append((e.name, st.size, st.modtime, bool(st.flags & StatInfoFlags.IS_DIR)))
                return out
            last = status.message.strip().rstrip('.')
            if status.errno in (2, 3011):   # kXR_NotFound: the directory vanished, no retry helps
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
        try:
            entries = lister.listdir(path)
        except VaporError as exc:
            return exc.msg, None
        if entries is None:
            return None, None
        if want_sum:
            base = path.rstrip('/') + '/'
            entries = [(n, s, m, d, None if d else lister.checksum(base + n)) for n, s, m, d in entries]
        return None, entries

    for root_idx, root in enumerate(roots):
        t0 = time.time()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            inflight = {pool.submit(job, root): root}
            while inflight:
                done, _pending = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    d = inflight.pop(fut)
                    err, entries = fut.result()
                    if err:
                        sink.error(err)
                        continue
                    if entries is None:
                        sink.c['vanished'] += 1
                        continue
                    base = d.rstrip('/') + '/'
                    for ent in entries:
                        if ent[3]:
                            full = base + ent[0]
                            inflight[pool.submit(job, full)] = full
                        else:
                            sink.add(root_idx, base + ent[0], ent[1], ent[2], ent[4] if want_sum else None)
        if durations is not None:
            durations.append(round(time.time() - t0, 3))
