# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
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

import json
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import time

from ansible_collections.vapor.ops.plugins.module_utils._clients import xrootd as _xrd
from ansible_collections.vapor.ops.plugins.module_utils._clients.xrootd import require_binding, xrootd_site_set
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._common.retry import attempts
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import split_url
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import normalise_adler32

_XROOTD_SCHEMES = ('root', 'roots', 'xroot', 'xroots')


def parse_url(url):
    """Split 'root://host:port//path' into ('root://host:port', '/path' or None)."""
    if url and url.endswith('\n') and (split_url(url[:-1]) or ('', '', ''))[2].startswith('/'):
        url = url[:-1]          # one line end after the path (a YAML folded scalar) was always taken
    parts = split_url(url)
    if parts is None or parts[0] not in _XROOTD_SCHEMES or not parts[1] or '\n' in url \
            or (parts[2] and not parts[2].startswith('/')):
        raise VaporError("The XRootD URL '%s' is not of the form root://host[:port][//path]." % url)
    scheme, host, path = parts
    server = '%s://%s' % (scheme, host)
    return server, (normalise_path(path) if path and path.strip('/') else None)


def _bound_client(timeout):
    """Bound the XRootD client by ``timeout``: its defaults (a 120 s connection window, 5 connection retries, a
    15 s timeout resolution) kept a dead endpoint waiting far longer than asked. The binding read its environment
    when it was imported, so the settings go through EnvPutInt; a variable the site set (XRD_*) is kept."""
    for name, env, value in (('ConnectionWindow', 'XRD_CONNECTIONWINDOW', timeout), ('ConnectionRetry',
                             'XRD_CONNECTIONRETRY', 1), ('TimeoutResolution', 'XRD_TIMEOUTRESOLUTION', 1)):
        if xrootd_site_set(env):
            continue
        try:
            _xrd.xrd_client.EnvPutInt(name, max(1, int(value)))
        except Exception:  # pylint: disable=broad-except
            pass                              # an old binding without EnvPutInt: its defaults stay


class XRootDLister:
    def __init__(self, server, timeout=300, retries=3, backoff=1.0):
        require_binding()
        _bound_client(timeout)
        self.server = server
        self.timeout = int(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self._local = threading.local()

    def fs(self):
        fs = getattr(self._local, 'fs', None)
        if fs is None:
            fs = self._local.fs = _xrd.xrd_client.FileSystem(self.server)
        return fs

    def stat_dir(self, path):
        status, info = self.fs().stat(path, timeout=self.timeout)
        if not status.ok:
            raise VaporError("The XRootD root '%s' on %s cannot be read: %s." % (path, self.server, status.message.strip().rstrip('.')))
        if not info.flags & _xrd.StatInfoFlags.IS_DIR:
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
        for _attempt in attempts(self.retries, self.backoff):
            raw = self._raw()
            if raw is not None:
                st, resp = raw.dirlist(path, _xrd.DirListFlags.STAT, self.timeout)
                ok, err, msg = st['ok'], st['errno'], st['message']
                listing = resp['dirlist'] if (ok and resp) else []
            else:
                status, resp = self.fs().dirlist(path, _xrd.DirListFlags.STAT, timeout=self.timeout)
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
                    if st['flags'] & _xrd.IS_DIR:
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
        status, resp = self.fs().query(_xrd.QueryCode.CHECKSUM, path, timeout=self.timeout)
        if not status.ok or not resp:
            return None
        text = resp.decode('ascii', 'replace').strip('\x00 \n').split()
        if len(text) == 2 and text[0].lower() == 'adler32':
            return normalise_adler32(text[1])
        return None


# The python3-xrootd binding (5.5.3) keeps about 200 bytes for every entry dirlist(STAT) returns, and
# for every stat() call (benchmarks/xrootd_binding_leak.py). So one process lists at most this many
# entries; the rest of the tree is listed by fresh child processes, each with the same budget, which
# stream their results back and exit. Memory stays bounded whatever the size of the storage element.
LISTING_BUDGET = 500000
TICK = 2.0          # seconds a listing may take before the progress record is told (it stays current)


def _walk(lister, dirs, workers, want_sum, budget, emit):
    """List ``dirs`` and their subtrees with ``workers`` threads; emit('f', files), emit('e', msg) or
    emit('v', None) per directory. Once ``budget['left']`` entries were listed no further directory
    is started; the directories still to list are returned."""

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
                                 % (item, lister.server, exc), None, None)))

    todo = queue.Queue()
    done = queue.Queue()
    threads = [threading.Thread(target=worker, args=(todo, done), daemon=True) for _i in range(workers)]
    for t in threads:
        t.start()
    # directories are handed to the threads a few at a time (depth first), so the budget is checked
    # before each listing starts: at most 2 x workers listings overshoot it
    waiting = list(reversed(dirs))
    state = {'inflight': 0}

    def dispatch():
        while waiting and state['inflight'] < 2 * workers and budget['left'] > 0:
            todo.put(waiting.pop())
            state['inflight'] += 1

    try:
        dispatch()
        while state['inflight']:
            while True:
                try:
                    _path, (err, files, subdirs) = done.get(timeout=TICK)
                    break
                except queue.Empty:     # a listing that takes long: the progress record says so meanwhile
                    emit('t', None)
            state['inflight'] -= 1
            if err:
                emit('e', err)
            elif files is None:
                emit('v', None)
            else:
                budget['left'] -= len(files) + len(subdirs)
                waiting.extend(reversed(subdirs))
                if files:
                    emit('f', files)
            dispatch()
    finally:
        for t in threads:
            todo.put(None)
        for t in threads:
            t.join()
    return list(reversed(waiting))


def _walk_in_child(settings, dirs, emit):
    """_walk() in a fresh interpreter (a fork of a live XRootD client is not safe); returns its leftover."""
    job = dict(settings, dirs=dirs, sys_path=[p for p in sys.path if isinstance(p, str)])
    code = ('import json, sys; job = json.loads(sys.stdin.readline()); sys.path[:0] = job["sys_path"]; '
            'from ansible_collections.vapor.ops.plugins.module_utils._storage.xrootd import child_main; child_main(job)')
    with tempfile.TemporaryFile() as errlog:
        proc = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                stderr=errlog)
        try:
            proc.stdin.write((json.dumps(job) + '\n').encode('utf-8'))
            proc.stdin.close()
            leftover = None
            while True:
                try:
                    kind, payload = pickle.load(proc.stdout)
                except EOFError:
                    break
                if kind == 'l':
                    leftover = payload
                else:
                    emit(kind, payload)
        finally:
            rc = proc.wait()
        if rc != 0 or leftover is None:
            errlog.seek(0)
            tail = errlog.read().decode('utf-8', 'replace').strip().splitlines()[-1:] or ['no message']
            raise VaporError("The XRootD listing process for %s failed (exit %s): %s."
                             % (settings['server'], rc, tail[0].rstrip('.')))
    return leftover


def child_main(job):
    """Entry point of a listing child process: lists job['dirs'] within its budget, pickles the results
    to stdout, then the directories left ('l', [...])."""
    out = sys.stdout.buffer
    lister = XRootDLister(job['server'], timeout=job['timeout'], retries=job['retries'], backoff=job['backoff'])

    def emit(kind, payload):
        pickle.dump((kind, payload), out, protocol=2)

    left = _walk(lister, job['dirs'], job['workers'], job['want_sum'], {'left': job['budget']}, emit)
    pickle.dump(('l', left), out, protocol=2)
    out.flush()


def scan_xrootd(sink, url, roots, workers=8, timeout=300, retries=3, checksum='none', durations=None, backoff=1.0,
                budget=LISTING_BUDGET):
    server, url_path = parse_url(url)
    roots = [normalise_path(r) for r in (roots or ([url_path] if url_path else []))]
    if not roots:
        raise VaporError("No root to scan: give roots, or a path in the XRootD URL '%s'." % url)
    lister = XRootDLister(server, timeout=timeout, retries=retries, backoff=backoff)
    for r in roots:
        lister.stat_dir(r)
    want_sum = checksum == 'server'
    workers = max(1, int(workers or 1))
    settings = {'server': server, 'timeout': timeout, 'retries': retries, 'backoff': backoff, 'workers': workers,
                'want_sum': want_sum, 'budget': max(1, int(budget))}   # a child always lists something
    own = {'left': budget}          # what this process may still list itself
    for root_idx, root in enumerate(roots):
        t0 = time.time()

        def emit(kind, payload, root_idx=root_idx):
            if kind == 'f':
                sink.add_many(root_idx, payload)
            elif kind == 'e':
                sink.error(payload)
            elif kind == 't':
                sink.tick()
            else:
                sink.c['vanished'] += 1

        left = [root]
        if own['left'] > 0:
            left = _walk(lister, left, workers, want_sum, own, emit)
        while left:
            left = _walk_in_child(settings, left, emit)
        if durations is not None:
            durations.append(round(time.time() - t0, 3))


def scan_source(p, sink, durations, partdir=None, skip=()):
    """The scanner registry's entry point: the se_dump parameters ``p``."""
    scan_xrootd(sink, p['url'], p['roots'], workers=p['workers'], timeout=p['timeout'], retries=p['retries'],
                checksum=p['checksum'], durations=durations, budget=int(p['listing_budget']))


def default_roots(p):
    """The roots scanned when none is given: the path of the URL, else '/'."""
    return [parse_url(p['url'])[1] or '/']
