# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The catalog_cleanup job: removal of lost replicas (and of the entries left without any replica), each re-checked
# against the catalog and the storage just before, with a lock and a journal.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import open_catalog
from ansible_collections.vapor.ops.plugins.module_utils._catalog.options import CATALOG_CLEANUP
from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import AVAILABLE
from ansible_collections.vapor.ops.plugins.module_utils._catalog.sfn import ReplicaIndex, SfnMapping, odd_variants, parse_sfn
from ansible_collections.vapor.ops.plugins.module_utils._catalog.verify import verify_storage_sees
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.journal import DONE, Journal, RunLock
from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import MISSING, join_url, open_storage
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.files import file_sha256
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

# outcomes after which an item is not looked at again by a later run over the same list
FINAL = ('removed', 'absent')
SKIP_REASONS = ('on_storage', 'storage_error', 'not_available', 'changed', 'unproven')
# a directory whose every catalogued file is on the lost list, with this many listed files or more, is not believed
# (an unmounted area looks the same); see _prove_subtrees
WHOLE_AREA_MIN = 2


def default_journal(lost):
    return lost + '.catalog_cleanup.journal'


def read_lost(path, max_entries):
    """The distinct dump paths of a lost list (any dump format, compressed or not), in list order."""
    if not os.path.isfile(path):
        raise VaporError("The lost list '%s' does not exist or is not a file." % path)
    seen = set()
    out = []
    for n, e in enumerate(read_dump(path), 1):
        if e.path in seen:
            continue
        if '\x00' in e.path:
            raise VaporError("The lost list '%s' holds a path with a NUL character (entry %d), which names no file; "
                             "nothing was removed." % (path, n))
        seen.add(e.path)
        out.append(e.path)
        if max_entries and len(out) > max_entries:
            raise VaporError("The lost list '%s' holds more than max_entries=%d paths; nothing was removed (a list "
                             "that long usually comes from a wrong storage dump; raise max_entries if it is right)."
                             % (path, max_entries))
    return out


def _areas_still_unproven(storage, storage_url, mapping, paths, areas):
    """The areas of ``areas`` (storage directories whose every catalogued file is listed) in which no listed
    file shows on the storage: a listed file that is there proves its area is seen (and is kept as on_storage)."""
    left = set()
    for area in areas:
        low = area.rstrip('/') + '/'
        for path in paths:
            sp = mapping.storage_path(path)
            if sp is None or not sp.startswith(low):
                continue
            try:
                st = storage.stat(join_url(storage_url, path))
            except VaporError:
                continue
            if st.exists and not st.is_dir:
                break
        else:
            left.add(area)
    return left


def _under_any(sp, dirs):
    """The directory of ``dirs`` that holds the storage path ``sp``, or None."""
    if sp is None or not dirs:
        return None
    for d in dirs:
        if sp.startswith(d.rstrip('/') + '/'):
            return d
    return None


def _odd_spelling_present(storage, storage_url, mapping, path, reps):
    """(stat, url) of a file that a replica's SFN in an odd form may name instead of its literal path (a URL
    SFN 'my%20file' names 'my file'; see odd_variants), when one is on the storage; else (MISSING, None)."""
    for rep in reps:
        parts = parse_sfn(rep.sfn)
        if parts is None:
            continue
        for v in odd_variants(parts.path):
            vpath = mapping.mapper.map(v)
            if vpath is None or vpath == path:
                continue
            vurl = join_url(storage_url, vpath)
            st = storage.stat(vurl)
            if st.exists and not st.is_dir:
                return st, vurl
    return MISSING, None


def run_catalog_cleanup(params, check_mode=False, storage=None, catalog=None):
    """Remove lost replicas (and entries left without replicas), re-checking each one; the result dictionary.

    ``storage`` (a _gfal.Storage) and ``catalog`` may be given by tests; otherwise they are made from params.
    """
    started = time.time()
    p = CATALOG_CLEANUP.merge(params)
    if not p['lost']:
        raise VaporError("No lost list given (lost).")
    if not p['storage_url']:
        raise VaporError("No storage URL given (storage_url): a lost replica is removed only after the storage "
                         "confirms the file is absent.")
    max_entries = int(p['max_entries'] or 0)
    if max_entries < 0:
        raise VaporError("The option max_entries is %s; it must be zero or more." % max_entries)
    mapping = SfnMapping(p['se'], p['strip_prefix'], p['add_prefix'], p['sfn_prefix'])
    lost = os.path.abspath(p['lost'])
    paths = read_lost(lost, max_entries)
    jpath = p['journal'] or default_journal(lost)
    key = {'kind': 'catalog_cleanup', 'lost': lost, 'sha256': file_sha256(lost, 'The lost list'), 'se': mapping.se,
           'sfn_prefix': mapping.sfn_prefix, 'strip_prefix': mapping.strip, 'add_prefix': mapping.add}

    if storage is None:
        storage = open_storage(p['storage_url'], timeout=p['timeout'], retries=p['retries'])
    own_catalog = catalog is None
    if own_catalog:
        catalog = open_catalog(p['catalog'])
    journal = lock = None
    counts = {'listed': len(paths), 'already_done': 0, 'absent': 0, 'removed_replicas': 0, 'removed_entries': 0}
    for r in SKIP_REASONS:
        counts[r] = 0
    removed, kept = [], []
    looked = 0               # paths stat'ed on the storage
    first_error = None
    try:
        catalog.learn_heads(mapping)
        unproven = set()
        if paths:
            unproven = verify_storage_sees(catalog, mapping, storage, p['storage_url'], paths, set(paths),
                                           'nothing was removed', whole_min=WHOLE_AREA_MIN)[1]
            unproven = set() if p['trust_lost_areas'] else _areas_still_unproven(
                storage, p['storage_url'], mapping, paths, unproven)
        index = ReplicaIndex(mapping).build(catalog)
        if not check_mode:
            lock = RunLock(jpath, 'catalog cleanup')
        journal = Journal(jpath, key, readonly=check_mode, final=FINAL)
        in_doubt = set(journal.in_doubt())
        planned_gone = {}        # check mode: fileid -> replicas it would lose
        for path in paths:
            if journal.state(path) == DONE and journal.outcome(path) in FINAL:
                counts['already_done'] += 1
                continue
            reps = catalog.replicas_for_path(path, mapping, index)
            if not reps:
                counts['absent'] += 1
                if path in in_doubt and not check_mode:
                    journal.finish(path, 'absent', note='in doubt after an interrupted run; already removed')
                continue
            usable = [r for r in reps if r.status == AVAILABLE]
            if not usable:
                counts['not_available'] += 1
                kept.append({'path': path, 'reason': 'not_available',
                             'detail': 'replica status %s' % ','.join(sorted(set(r.status or '?' for r in reps)))})
                continue
            area = _under_any(mapping.storage_path(path), unproven)
            if area is not None:
                counts['unproven'] += 1
                kept.append({'path': path, 'reason': 'unproven',
                             'detail': "every file the catalog holds under '%s' is on the list and none shows, and a "
                                       "wholly lost area cannot be told from an unmounted one; check the area, then "
                                       "run with trust_lost_areas"
                                       % join_url(p['storage_url'], mapping.mapper.map(area) or area)})
                continue
            url = join_url(p['storage_url'], path)
            looked += 1
            try:
                st = storage.stat(url)
            except VaporError as exc:
                counts['storage_error'] += 1
                first_error = first_error or exc.msg
                kept.append({'path': path, 'reason': 'storage_error', 'detail': exc.msg})
                continue
            if not st.exists:
                try:
                    st, url = _odd_spelling_present(storage, p['storage_url'], mapping, path, usable)
                except VaporError as exc:
                    counts['storage_error'] += 1
                    first_error = first_error or exc.msg
                    kept.append({'path': path, 'reason': 'storage_error', 'detail': exc.msg})
                    continue
            if st.exists:
                counts['on_storage'] += 1
                kept.append({'path': path, 'reason': 'on_storage', 'detail': url})
                continue
            if check_mode:
                for rep in usable:
                    lfn = catalog.path_of(rep.fileid)
                    gone = planned_gone.setdefault(rep.fileid, set())
                    gone.add(rep.rowid)
                    left = [x for x in catalog.replicas(rep.fileid) if x.rowid not in gone]
                    orphan = bool(p['remove_orphan_entries']) and not left
                    counts['removed_replicas'] += 1
                    counts['removed_entries'] += 1 if orphan else 0
                    removed.append({'path': path, 'lfn': lfn, 'sfn': rep.sfn, 'fileid': rep.fileid,
                                    'entry_removed': orphan})
                continue
            lfns = dict((rep.fileid, catalog.path_of(rep.fileid)) for rep in usable)
            journal.start(path, replicas=[{'rowid': r.rowid, 'fileid': r.fileid, 'sfn': r.sfn,
                                           'lfn': lfns[r.fileid]} for r in usable])
            outcomes = []
            for rep in usable:
                outcome, entry_removed = catalog.remove_replica(rep, remove_orphan=p['remove_orphan_entries'])
                outcomes.append(outcome)
                if outcome == 'removed':
                    counts['removed_replicas'] += 1
                    counts['removed_entries'] += 1 if entry_removed else 0
                    removed.append({'path': path, 'lfn': lfns[rep.fileid], 'sfn': rep.sfn, 'fileid': rep.fileid,
                                    'entry_removed': entry_removed})
            if 'changed' in outcomes:
                counts['changed'] += 1
                kept.append({'path': path, 'reason': 'changed',
                             'detail': 'a replica changed between the re-check and the removal'})
                journal.finish(path, 'changed')
            else:
                journal.finish(path, 'removed' if 'removed' in outcomes else 'absent',
                               replicas=outcomes.count('removed'))
        if not check_mode:
            for path in sorted(in_doubt - set(paths)):
                journal.finish(path, 'absent', note='not in the list any more')
    finally:
        if journal is not None:
            journal.close()
        if lock is not None:
            lock.release()
        if own_catalog:
            catalog.close()
    if looked and counts['storage_error'] == looked:
        raise VaporError("The catalog cleanup could check none of the %d paths it looked at on '%s' (the first "
                         "error: %s); nothing was removed." % (looked, p['storage_url'], first_error.rstrip('.')))
    before_lines = []
    for r in removed:
        before_lines.append('replica %s %s\n' % (r['lfn'], r['sfn']))
        if r['entry_removed']:
            before_lines.append('entry %s\n' % r['lfn'])
    ended = time.time()
    return {
        'changed': bool(removed),
        'diff': {'before': ''.join(before_lines), 'after': '',
                 'before_header': 'catalog (%s)' % mapping.describe(), 'after_header': 'catalog (after cleanup)'},
        'removed': removed,
        'kept': kept,
        'counts': counts,
        'removed_replicas': counts['removed_replicas'],
        'removed_entries': counts['removed_entries'],
        'journal': jpath if (not check_mode or os.path.exists(jpath)) else None,
        'start_time': round(started, 3),
        'end_time': round(ended, 3),
        'duration': round(ended - started, 3),
    }
