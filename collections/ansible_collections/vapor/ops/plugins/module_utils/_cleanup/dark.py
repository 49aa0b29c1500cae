# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Dark data cleanup: delete (or quarantine) the confirmed dark files of one storage element through gfal2, and
# never a good file. Each path of the list is checked again just before acting, in this order:
#
#   1. ignore    the path matches no ignore pattern (and is not inside the quarantine);
#   2. catalog   the catalog holds no replica (of any status) on this storage element that maps to the path;
#   3. storage   a gfal2 stat finds the file (a file already gone is recorded as such; any other storage
#                answer skips the path and counts as an error: nothing is done on doubt);
#   4. type      it is not a directory;
#   5. age       its modification time is older than min_age.
#
# Only then is the action journalled ("started", fsync'ed), done, and journalled again ("done"). A run that was
# killed leaves at most `concurrency` items in doubt; the next run over the same list looks at the storage for
# them first (gone: the earlier run deleted it; in the quarantine: the earlier run moved it) and otherwise runs
# the full re-check again. Items done are never looked at again, so nothing is deleted twice and nothing skipped.
#
# Guards that stop a run before anything is deleted: a list path that is not a normalised absolute path or not
# under add_prefix, a storage element selection (se, sfn_prefix) that matches no replica in the catalog or a
# strip_prefix under which none lies (a typo would otherwise make the catalog re-check protect nothing), a
# quarantine on another endpoint than the storage, a storage URL that does not prove it sees the storage
# (verify_storage_sees: its base is a directory and catalogued files next to the listed ones show), another run
# holding the journal's lock. A run in which every path looked at ended in a storage error fails.
#
# The catalog re-check (step 2) finds every replica that catalog_dump maps to the path, whatever the spelling of
# its SFN: Catalog.find_replicas with the run's ReplicaIndex. file:// storage is handled natively (LocalStorage):
# nothing is deleted or renamed through a symbolic link (kept as 'symlink'). During a run: more than max_errors storage errors, a catalog
# or journal failure, or a storage that cannot rename in quarantine mode, stop it cleanly.
#
# Threads: each worker has its own gfal2 context (Storage) and its own catalog connection; the journal is written
# under one lock; the max_files budget and the rate limit are shared.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import queue
import threading
import time

from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import open_catalog
from ansible_collections.vapor.ops.plugins.module_utils._catalog.sfn import ReplicaIndex, SfnMapping
from ansible_collections.vapor.ops.plugins.module_utils._catalog.verify import verify_storage_sees
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.journal import DONE, STARTED, Journal, RunLock
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.options import DARK_DATA_CLEANUP
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.ratelimit import RateLimiter
from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import RenameUnsupported, ThroughSymlink, join_url, open_storage
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.files import file_sha256
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import (
    EntryFilter, normalise_path, path_components)
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_duration
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import split_url
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

# outcomes after which a path of the list is not looked at again by a later run over the same list
FINAL = ('deleted', 'quarantined', 'already_gone')
KEPT_REASONS = ('ignored', 'in_catalog', 'symlink', 'not_a_file', 'too_young', 'error')
LIST_CAP = 100
MAX_CONCURRENCY = 64

# what a worker tells the run about one path
_REMAINING = 'remaining'


def default_journal(dark):
    return dark + '.dark_data_cleanup.journal'


def read_dark(path, mapping):
    """The distinct dump paths of a dark list (any dump format, compressed or not), in list order.

    Every path is validated before anything is done: it must start with add_prefix (when set), and the rest must
    be a normalised absolute path. A '..' component could reach outside the storage URL, and the catalog re-check
    compares normalised paths, so '/a//b' would never match a catalogued '/a/b' and would not be protected.
    """
    if not os.path.isfile(path):
        raise VaporError("The dark list '%s' does not exist or is not a file." % path)
    seen = set()
    out = []
    add = mapping.add
    for n, e in enumerate(read_dump(path), 1):
        p = e.path
        if p in seen:
            continue
        if add and not p.startswith(add + '/'):
            raise VaporError("The dark list '%s' holds '%s' (entry %d), which does not start with add_prefix '%s', "
                             "so the catalog cannot be asked about it; nothing was deleted." % (path, p, n, add))
        rest = p[len(add):]
        if '\x00' in p:
            raise VaporError("The dark list '%s' holds a path with a NUL character (entry %d), which names no file; "
                             "nothing was deleted." % (path, n))
        if rest != normalise_path(rest) or rest == '/' or '..' in rest.split('/'):
            raise VaporError("The dark list '%s' holds '%s' (entry %d), which is not a normalised absolute file path "
                             "(no '.', '..' or empty components, no trailing '/'); nothing was deleted."
                             % (path, p, n))
        seen.add(p)
        out.append(p)
    return out


# ----------------------------------------------------------------------------------------------
# URLs

def _endpoint(url, what):
    """(scheme, authority, rest) of a storage URL, scheme and authority in lower case, xroot as root."""
    parts = split_url(url)
    if parts is None:
        raise VaporError("The %s '%s' is not a URL such as root://se.example.org:1094//data or file:///data."
                         % (what, url))
    scheme = parts[0].lower()
    scheme = 'root' if scheme == 'xroot' else scheme
    return scheme, parts[1].lower(), parts[2]


def quarantine_prefix(storage_url, quarantine):
    """The URL prefix of the quarantine: a URL on the storage's endpoint, or a path on it."""
    scheme, host, spath = _endpoint(storage_url, 'storage URL')
    if '://' in quarantine:
        qscheme, qhost, qpath = _endpoint(quarantine, 'quarantine')
        if (qscheme, qhost) != (scheme, host):
            raise VaporError("The quarantine '%s' is not on the endpoint of the storage URL '%s'; a rename cannot "
                             "move files between endpoints, so give a URL or a path on the same one."
                             % (quarantine, storage_url))
        url = quarantine
    else:
        if not quarantine.startswith('/'):
            raise VaporError("The quarantine '%s' is neither a URL nor an absolute path." % quarantine)
        sscheme, sauthority, _rest = split_url(storage_url)
        qpath = quarantine
        url = '%s://%s%s%s' % (sscheme, sauthority, '/' if scheme == 'root' else '', quarantine)
    qcomps, scomps = path_components(qpath), path_components(spath)
    if not qcomps:
        raise VaporError("The quarantine '%s' is the root of the storage; give a directory of its own." % quarantine)
    if scomps[:len(qcomps)] == qcomps:
        raise VaporError("The quarantine '%s' holds the storage URL '%s' itself; give a directory outside it."
                         % (quarantine, storage_url))
    return url.rstrip('/'), qcomps


def _url_components(url):
    parts = split_url(url)
    return path_components(parts[2]) if parts else []


# ----------------------------------------------------------------------------------------------
# one run

class _Run:
    """The state shared by the workers of one run: counts, lists, the action budget, the stop flags."""

    def __init__(self, p, check_mode, storage, mapping, entry_filter, journal, limiter, qprefix, qcomps, index=None):
        self.p = p
        self.index = index
        self.check_mode = check_mode
        self.storage = storage
        self.mapping = mapping
        self.filter = entry_filter
        self.journal = journal
        self.limiter = limiter
        self.qprefix = qprefix
        self.qcomps = qcomps
        self.max_files = int(p['max_files'] or 0)
        self.max_errors = int(p['max_errors'])
        self.lock = threading.Lock()
        self.jlock = threading.Lock()
        self.reserved = 0
        self.errors = 0
        self.unchecked = 0
        self.first_error = None
        self.examined = 0
        self.aborted = None
        self.fatal = None
        self.counts = dict((k, 0) for k in FINAL + KEPT_REASONS + ('resolved',))
        self.deleted, self.quarantined, self.gone, self.kept, self.resolved = [], [], [], [], []
        self.handled = set()

    # -- shared state --------------------------------------------------------------------------

    def budget_spent(self):
        return bool(self.max_files) and self.reserved >= self.max_files

    def stopping(self):
        return self.fatal is not None or self.aborted is not None or self.budget_spent()

    def reserve(self):
        """Book one action of the max_files budget; False when it is spent (the path is left for the next run)."""
        with self.lock:
            if self.fatal is not None or self.aborted is not None or self.budget_spent():
                return False
            self.reserved += 1
            return True

    def record(self, idx, outcome, item):
        with self.lock:
            self.examined += 1
            self.handled.add(idx)
            self.counts[outcome] += 1
            target = {'deleted': self.deleted, 'quarantined': self.quarantined, 'already_gone': self.gone,
                      'resolved': self.resolved}.get(outcome, self.kept)
            target.append((idx, item))

    def keep(self, idx, path, reason, detail):
        self.record(idx, reason, {'path': path, 'reason': reason, 'detail': detail})

    def error(self, idx, path, msg, unchecked=False):
        """A path kept because of a storage error; ``unchecked``: the storage could not even be asked about it."""
        self.keep(idx, path, 'error', msg)
        with self.lock:
            self.errors += 1
            self.unchecked += 1 if unchecked else 0
            if self.first_error is None:
                self.first_error = msg
            if self.errors > self.max_errors and self.aborted is None:
                self.aborted = ("The dark data cleanup stopped after %d storage errors (more than max_errors=%d); "
                                "the last one: %s." % (self.errors, self.max_errors, msg.rstrip('.')))

    def stop(self, exc):
        with self.lock:
            if self.fatal is None:
                self.fatal = exc

    # -- journal (one writer at a time; a journal that cannot be written stops the run) ----------

    def jstart(self, path, **info):
        self._journal('start', path, **info)

    def jfinish(self, path, outcome, **info):
        self._journal('finish', path, outcome, **info)

    def _journal(self, what, *args, **info):
        if self.check_mode:
            return
        with self.jlock:
            try:
                getattr(self.journal, what)(*args, **info)
            except (IOError, OSError) as exc:
                raise VaporError("The journal '%s' cannot be written: %s; the run stopped."
                                 % (self.journal.path, exc.strerror or exc))


class _Worker:
    """Re-checks and acts on one path at a time, with its own catalog connection."""

    def __init__(self, run, catalog):
        self.run = run
        self.catalog = catalog
        self.why = 'error'

    def handle(self, idx, path):
        run = self.run
        if run.stopping():
            return _REMAINING
        try:
            return self._handle(idx, path)
        except VaporError as exc:
            run.stop(exc)
            return _REMAINING

    def _stat(self, idx, path, url):
        """The stat of url, or None after recording why the path is kept (self.why: 'symlink' or 'error')."""
        try:
            return self.run.storage.stat(url)
        except ThroughSymlink as exc:
            self.why = 'symlink'
            self.run.keep(idx, path, 'symlink', exc.msg)
            return None
        except VaporError as exc:
            self.why = 'error'
            self.run.error(idx, path, exc.msg, unchecked=True)
            return None

    def _handle(self, idx, path):
        run = self.run
        url = join_url(run.p['storage_url'], path)
        rec = run.journal.items.get(path)
        if rec is not None and rec['state'] == STARTED:
            done = self._resolve(idx, path, url, rec)
            if done:
                return done
            outcome = self._recheck(idx, path, url)
            if outcome in KEPT_REASONS:      # settled for this run; a later run looks at it again
                run.jfinish(path, outcome, note='in doubt after an interrupted run; kept')
            return outcome
        return self._recheck(idx, path, url)

    def _recheck(self, idx, path, url):
        run = self.run
        # 1. ignore patterns, and the quarantine itself
        if run.filter.ignored(path):
            run.keep(idx, path, 'ignored', 'matches an ignore pattern')
            return 'ignored'
        if run.qcomps and _url_components(url)[:len(run.qcomps)] == run.qcomps:
            run.keep(idx, path, 'ignored', 'inside the quarantine')
            return 'ignored'
        # 2. the catalog, now (any replica status protects the file; so does an SFN in no known form naming it)
        reps, doubtful = self.catalog.find_replicas(path, run.mapping, run.index)
        if reps or doubtful:
            detail = '; '.join(['replica %s (status %s)' % (r.sfn, r.status or '?') for r in reps[:3]] +
                               ['replica %s (an SFN in no known form that may name this file)' % r.sfn
                                for r in doubtful[:3]])
            run.keep(idx, path, 'in_catalog', detail)
            return 'in_catalog'
        # 3. the storage
        run.limiter.wait()
        st = self._stat(idx, path, url)
        if st is None:
            return self.why
        if not st.exists:
            run.jfinish(path, 'already_gone')
            run.record(idx, 'already_gone', path)
            return 'already_gone'
        # 4. a file, not a directory nor a symbolic link
        if getattr(st, 'is_link', False):
            run.keep(idx, path, 'symlink', 'a symbolic link on the storage; nothing is deleted through a link')
            return 'symlink'
        if st.is_dir:
            run.keep(idx, path, 'not_a_file', 'a directory on the storage')
            return 'not_a_file'
        # 5. old enough
        if run.filter.min_age and (st.mtime is None or run.filter.too_young(st.mtime)):
            run.keep(idx, path, 'too_young', 'modified %s, less than min_age ago' % _iso(st.mtime))
            return 'too_young'
        dest = None
        if run.qprefix:
            dest = join_url(run.qprefix, path)
            dst = self._stat(idx, path, dest)
            if dst is None:
                return self.why
            if dst.exists:
                run.error(idx, path, "The quarantine already holds '%s'; the file was left in place." % dest)
                return 'error'
        if not run.reserve():
            return _REMAINING
        if run.check_mode:
            if dest:
                run.record(idx, 'quarantined', {'path': path, 'url': dest})
                return 'quarantined'
            run.record(idx, 'deleted', path)
            return 'deleted'
        return self._act(idx, path, url, dest)

    def _act(self, idx, path, url, dest):
        """Delete the file, or move it into the quarantine (dest), journalled before and after."""
        run = self.run
        if dest:
            run.jstart(path, action='quarantine', url=url, dest=dest)
            done, item, extra = 'quarantined', {'path': path, 'url': dest}, {'dest': dest}
        else:
            run.jstart(path, action='delete', url=url)
            done, item, extra = 'deleted', path, {}
        try:
            if dest:
                outcome = run.storage.rename(url, dest)
                if outcome == 'renamed':
                    self._verify_rename(url, dest)
            else:
                outcome = run.storage.unlink(url)
        except VaporError as exc:
            run.jfinish(path, 'error', detail=exc.msg)
            if isinstance(exc, RenameUnsupported):
                raise
            run.error(idx, path, exc.msg)
            return 'error'
        if outcome == 'missing':
            done, item, extra = 'already_gone', path, {}
        run.jfinish(path, done, **extra)
        run.record(idx, done, item)
        return done

    def _verify_rename(self, url, dest):
        """A rename that reported success must show the file at its destination and not at its source."""
        storage = self.run.storage
        if not storage.stat(dest).exists:
            raise VaporError("The storage reported '%s' renamed to '%s', but the destination does not exist."
                             % (url, dest))
        if storage.stat(url).exists:
            raise VaporError("The storage reported '%s' renamed to '%s', but the source still exists." % (url, dest))

    def _resolve(self, idx, path, url, rec):
        """An item an earlier run started and did not finish: settled from the storage, or None to re-check."""
        run = self.run
        run.limiter.wait()
        st = self._stat(idx, path, url)
        if st is None:
            return self.why
        if st.exists:
            return None                      # still there: the full re-check again
        outcome = 'deleted'
        if rec.get('action') == 'quarantine' and rec.get('dest'):
            dst = self._stat(idx, path, rec['dest'])
            if dst is None:
                return self.why
            outcome = 'quarantined' if dst.exists else 'already_gone'
        run.jfinish(path, outcome, note='settled after an interrupted run')
        run.record(idx, 'resolved', {'path': path, 'outcome': outcome})
        return 'resolved'


def _iso(mtime):
    if mtime is None:
        return 'at an unknown time'
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(mtime))


def _check_selection(catalog, mapping):
    """Refuse a storage element selection or mapping under which the catalog re-check would protect nothing.

    A mistyped se or sfn_prefix selects no replica, and a wrong strip_prefix maps none of them to a dump path:
    either way every path of the list would look absent from the catalog. Both are index lookups.
    """
    if catalog.any_replica(mapping) is None:
        raise VaporError("The catalog %s holds no replica on the storage element selected by %s, so its re-check "
                         "would protect nothing; check se and sfn_prefix (nothing was deleted)."
                         % (catalog.where, mapping.describe()))
    if not mapping.strip:
        return
    for head in catalog.learn_heads(mapping):
        rows = catalog.replicas_under(mapping, head + mapping.strip + '/', 'sfn', 1)
        if rows and mapping.dump_path(to_text(rows[0][0]))[0] is not None:
            return
    raise VaporError("None of the catalog's replicas on the storage element selected by %s is under strip_prefix "
                     "'%s', so its re-check would protect nothing; check strip_prefix (nothing was deleted)."
                     % (mapping.describe(), mapping.strip))


def _validate(p):
    if not p['dark']:
        raise VaporError("No dark list given (dark).")
    if not p['storage_url']:
        raise VaporError("No storage URL given (storage_url): the dark paths are deleted through it.")
    _endpoint(p['storage_url'], 'storage URL')
    for name, low, high in (('max_files', 0, None), ('max_errors', 0, None), ('concurrency', 1, MAX_CONCURRENCY),
                            ('timeout', 1, None), ('retries', 0, None)):
        try:
            value = int(p[name])
        except (TypeError, ValueError):
            raise VaporError("The option %s is '%s'; it must be a whole number." % (name, p[name]))
        if value < low or (high is not None and value > high):
            raise VaporError("The option %s is %d; it must be %s." % (
                name, value, 'between %d and %d' % (low, high) if high else 'at least %d' % low))
    try:
        rate = float(p['rate'])
    except (TypeError, ValueError):
        raise VaporError("The option rate is '%s'; it must be a number of files per second." % p['rate'])
    if rate < 0:
        raise VaporError("The option rate is %s; it must be zero (no limit) or more." % p['rate'])


def run_dark_cleanup(params, check_mode=False, storage=None, now=None, limiter=None):
    """Delete (or quarantine) the confirmed dark files of a list, re-checking each one; the result dictionary.

    ``storage`` (a _gfal.Storage or a wrapper of one), ``now`` (for min_age) and ``limiter`` (a RateLimiter)
    may be given by tests; otherwise they are made from params.
    """
    started = time.time()
    p = DARK_DATA_CLEANUP.merge(params)
    _validate(p)
    mapping = SfnMapping(p['se'], p['strip_prefix'], p['add_prefix'], p['sfn_prefix'])
    entry_filter = EntryFilter(p['ignore'], parse_duration(p['min_age'], 'min_age'), now)
    qprefix, qcomps = (quarantine_prefix(p['storage_url'], p['quarantine']) if p['quarantine'] else (None, None))
    dark = os.path.abspath(p['dark'])
    paths = read_dark(dark, mapping)
    jpath = p['journal'] or default_journal(dark)
    key = {'kind': 'dark_data_cleanup', 'dark': dark, 'sha256': file_sha256(dark, 'The dark list'),
           'storage_url': p['storage_url'].rstrip('/'), 'quarantine': qprefix}
    concurrency = int(p['concurrency'])
    if not paths:                         # nothing confirmed dark (yet): nothing to ask the catalog or storage
        run = _Run(p, check_mode, None, mapping, entry_filter, None, None, qprefix, qcomps)
        return _result(run, paths, 0, jpath, started, mapping)
    if storage is None:
        storage = open_storage(p['storage_url'], qprefix, timeout=p['timeout'], retries=p['retries'])
    if limiter is None:
        limiter = RateLimiter(p['rate'])

    catalog = open_catalog(p['catalog'])
    journal = lock = None
    try:
        _check_selection(catalog, mapping)
        catalog.learn_heads(mapping)          # once; the workers' connections reuse mapping.heads
        verify_storage_sees(catalog, mapping, storage, p['storage_url'], paths, set(), 'nothing was deleted')
        index = ReplicaIndex(mapping).build(catalog)
        if not check_mode:
            lock = RunLock(jpath, 'dark data cleanup')
        journal = Journal(jpath, key, readonly=check_mode, final=FINAL)
        run = _Run(p, check_mode, storage, mapping, entry_filter, journal, limiter, qprefix, qcomps, index)
        already_done = _process(run, paths, catalog, concurrency)
    finally:
        if journal is not None:
            journal.close()
        if lock is not None:
            lock.release()
        catalog.close()
    result = _result(run, paths, already_done, jpath, started, mapping)
    result['catalog_index'] = index.describe()
    if run.fatal is None and run.aborted is None and run.examined and run.unchecked == run.examined:
        run.fatal = VaporError("The dark data cleanup could check none of the %d paths it looked at on '%s' (the "
                               "first error: %s); nothing was deleted."
                               % (run.examined, p['storage_url'], run.first_error.rstrip('.')))
    if run.fatal is not None:
        # what was done before the stop goes with the error (the module returns it next to the message)
        run.fatal.context['result'] = result
        raise run.fatal
    return result


def _process(run, paths, catalog, concurrency):
    """Feed the paths not done yet to the workers, in list order; the number already done."""
    already_done = 0
    if concurrency == 1:
        worker = _Worker(run, catalog)
        for idx, path in enumerate(paths):
            rec = run.journal.items.get(path)
            if rec is not None and rec['state'] == DONE and rec.get('outcome') in FINAL:
                already_done += 1
                continue
            if not run.stopping():         # once stopped, the loop only counts what is done already
                worker.handle(idx, path)
        return already_done

    work = queue.Queue(maxsize=concurrency)
    threads = [threading.Thread(target=_work, args=(run, work), name='dark-cleanup-%d' % i)
               for i in range(concurrency)]
    for t in threads:
        t.daemon = True
        t.start()
    try:
        for idx, path in enumerate(paths):
            rec = run.journal.items.get(path)
            if rec is not None and rec['state'] == DONE and rec.get('outcome') in FINAL:
                already_done += 1
                continue
            if not run.stopping():
                _put(run, work, (idx, path))
    except BaseException:
        run.stop(VaporError("The dark data cleanup was interrupted."))
        raise
    finally:
        for _t in threads:
            work.put(None)
        for t in threads:
            t.join()
    return already_done


def _put(run, work, item):
    while True:
        try:
            work.put(item, timeout=0.5)
            return
        except queue.Full:
            if run.fatal is not None:
                return


def _work(run, work):
    catalog = None
    try:
        try:
            catalog = open_catalog(run.p['catalog'])
        except VaporError as exc:
            run.stop(exc)
        worker = _Worker(run, catalog)
        while True:
            item = work.get()
            if item is None:
                return
            if catalog is None:
                continue
            try:
                worker.handle(*item)
            except Exception as exc:  # pylint: disable=broad-except
                run.stop(VaporError("The dark data cleanup failed unexpectedly on '%s': %s." % (item[1], exc)))
    finally:
        if catalog is not None:
            catalog.close()


def _ordered(items):
    return [item for _idx, item in sorted(items, key=lambda x: x[0])]


def _result(run, paths, already_done, jpath, started, mapping):
    counts = dict(run.counts)
    counts['listed'] = len(paths)
    counts['already_done'] = already_done
    remaining = len(paths) - already_done - run.examined
    counts['remaining'] = remaining
    deleted = _ordered(run.deleted)
    quarantined = _ordered(run.quarantined)
    lists = {'deleted': deleted, 'quarantined': quarantined, 'already_gone': _ordered(run.gone),
             'kept': _ordered(run.kept), 'resolved': _ordered(run.resolved)}
    truncated = any(len(v) > LIST_CAP for v in lists.values())
    remaining_paths = []
    if remaining:
        for idx, path in enumerate(paths):
            if len(remaining_paths) >= LIST_CAP:
                break
            rec = run.journal.items.get(path)
            if idx in run.handled or (rec is not None and rec['state'] == DONE and rec.get('outcome') in FINAL):
                continue
            remaining_paths.append(path)
    ended = time.time()
    result = {
        'changed': bool(deleted or quarantined),
        'diff': {'before': ''.join(path + '\n' for path in deleted) + ''.join(q['path'] + '\n' for q in quarantined),
                 'after': ''.join(q['url'] + '\n' for q in quarantined),
                 'before_header': 'storage %s' % run.p['storage_url'],
                 'after_header': 'storage (after cleanup)'},
        'counts': counts,
        'remaining': remaining,
        'remaining_paths': remaining_paths,
        'truncated': truncated or remaining > LIST_CAP,
        'aborted': run.aborted,
        'journal': jpath if os.path.exists(jpath) else None,
        'quarantine': run.qprefix,
        'catalog_selection': mapping.describe(),
        'start_time': round(started, 3),
        'end_time': round(ended, 3),
        'duration': round(ended - started, 3),
    }
    for name, items in lists.items():
        result[name] = items[:LIST_CAP]
    return result
