# -*- coding: utf-8 -*-
# Copyright: vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The catalog_dump job: the catalog's view of one storage element, in the storage-dump path form (to move to
# _catalog/dump.py on the one publisher). The rest of the file catalog is beside it:
#
#   schema.py   the Cns_* schema (SQLite), column constants, create_sqlite_catalog, mode/checksum helpers
#   access.py   the Catalog class (reading, the few writes) and open_catalog
#   sfn.py      SFN parsing, SfnMapping (selection and path mapping), ReplicaIndex, odd spellings
#   verify.py   verify_storage_sees: "absent" only from a storage that proves it can see
#   entries.py  the catalog_entries_info job
#   cleanup.py  the catalog_cleanup job
#   options.py  the option groups and the jobs' options tables

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import time

from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import open_catalog
from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import AVAILABLE
from ansible_collections.vapor.ops.plugins.module_utils._catalog.sfn import SfnMapping
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_mode
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    COMPRESSIONS, FORMATS, SUFFIXES, DumpWriter, companion_path, dump_digest, open_compressed_writer)
from ansible_collections.vapor.ops.plugins.module_utils._dump.publish import (
    apply_mode, check_output_options, commit, discard, ensure_dest, name_regex, new_temp, update_link)

# ----------------------------------------------------------------------------------------------
# catalog_dump

DUMP_DEFAULTS = {
    'catalog': None, 'se': None, 'sfn_prefix': None, 'strip_prefix': None, 'add_prefix': None, 'format': 'text',
    'compression': 'none', 'compression_suffix': True, 'dest': None, 'name': 'catalog_%Y%m%d_%H%M%S', 'keep': 0,
    'latest_link': '', 'min_files': 1, 'mode': '0640', 'vo': None, 'force': False,
}


def _merge(defaults, params):
    p = dict(defaults)
    p.update(dict((k, v) for k, v in (params or {}).items() if v is not None))
    return p


def _published(dest, pattern, suffixes):
    """[(datetime, name)] of the published dumps of this name pattern, newest first."""
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


def _printable(sfn):
    """An SFN for a message or a result: NULL said so, bytes that are not UTF-8 as backslash escapes."""
    if sfn is None:
        return '(NULL)'
    return sfn.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')


def _digest_state(path, fmt):
    if not os.path.isfile(path):
        return None
    d = dump_digest(path, fmt)
    return d.state() if d is not None else None


def run_catalog_dump(params, check_mode=False, now=None):
    """Dump the catalog's view of one storage element (or, in check mode, count it); the result dictionary."""
    started = time.time()
    p = _merge(DUMP_DEFAULTS, params)
    check_output_options(p, FORMATS, COMPRESSIONS, ('keep', 'min_files'))
    mode = parse_mode(p['mode'])
    mapping = SfnMapping(p['se'], p['strip_prefix'], p['add_prefix'], p['sfn_prefix'])
    now = started if now is None else now
    when = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
    dest = p['dest']
    ensure_dest(dest, check_mode, p['latest_link'])
    suffix = SUFFIXES[p['compression']] if p['compression_suffix'] else ''
    suffixes = list(SUFFIXES.values()) if p['compression_suffix'] else ['']
    name = when.strftime(p['name']) + suffix
    target = os.path.join(dest, name)
    companion = companion_path(target)
    before = _published(dest, p['name'], suffixes)

    counts = {'replicas': 0, 'available': 0, 'inactive': 0, 'outside': 0, 'unparsable': 0, 'unrepresentable': 0,
              'companion_only': 0}
    nbytes = 0
    samples = []
    raw = tmp = raw2 = tmp2 = None
    streams = []
    catalog = open_catalog(p['catalog'])
    try:
        if not check_mode:
            raw, tmp = new_temp(dest, name)
            raw2, tmp2 = new_temp(dest, os.path.basename(companion))
        main_stream = open_compressed_writer(raw, p['compression']) if raw is not None else None
        side_stream = open_compressed_writer(raw2, p['compression']) if raw2 is not None else None
        streams = [s for s in (main_stream, side_stream) if s is not None]
        writer = DumpWriter(main_stream, p['format'], recorded=when.strftime('%Y-%m-%dT%H:%M:%SZ'), vo=p['vo'])
        side = DumpWriter(side_stream, 'text')
        for _host, sfn, status, size, mtime, csum in catalog.se_replicas(mapping):
            counts['replicas'] += 1
            path, why = mapping.dump_path(sfn)
            if path is None:
                counts[why] += 1
                if len(samples) < 10:
                    samples.append({'sfn': _printable(sfn), 'reason': why})
                continue
            if status == AVAILABLE:
                reason = writer.add(path, size, mtime, csum)
                if reason is None:
                    counts['available'] += 1
                    nbytes += size
                elif side.add(path, 0) is None:
                    # the format cannot carry it ('|' in cms): the companion (text) still does, so the file
                    # keeps its protection against dark data; counted as unrepresentable
                    counts['inactive'] += 1
                    counts['companion_only'] += 1
            else:
                reason = side.add(path, 0)
                if reason is None:
                    counts['inactive'] += 1
            if reason is not None:
                counts['unrepresentable'] += 1
                if len(samples) < 10:
                    samples.append({'sfn': _printable(sfn), 'reason': reason})
        writer.close()
        side.close()
        for s, r in ((main_stream, raw), (side_stream, raw2)):
            if s is not None:
                if s is not r:
                    s.close()
                r.close()
        if counts['available'] < int(p['min_files']):
            raise VaporError("The catalog %s has %d available replicas for %s (of %d selected), fewer than "
                             "min_files=%d; nothing was published (a wrong se or sfn_prefix must not publish an "
                             "empty catalog dump)." % (catalog.where, counts['available'], mapping.describe(),
                                                       counts['replicas'], int(p['min_files'])))
        # the newest published dump with the same content (main and companion) is kept: no change
        same_as = None
        if before and not p['force']:
            newest = os.path.join(dest, before[0][1])
            if (_digest_state(newest, p['format']) == writer.digest.state()
                    and _digest_state(companion_path(newest), 'text') == side.digest.state()):
                same_as = newest
        # a kept dump and its companion still get the mode the site asks for now
        mode_changed = same_as is not None and apply_mode([same_as, companion_path(same_as)], mode, check_mode)
        if tmp is not None:
            if same_as is not None:
                discard(tmp)
                discard(tmp2)
            else:
                # the companion first: a published dump always has its companion next to it
                commit(tmp2, companion, mode)
                commit(tmp, target, mode)
            tmp = tmp2 = None
        published = same_as is None
        dump = same_as or target
        dump_name = os.path.basename(dump)
        link_changed = update_link(dest, p['latest_link'], dump_name, check_mode)
        pruned = _prune(dest, before, dump_name, int(p['keep']), check_mode)
    finally:
        catalog.close()
        for r, t in ((raw, tmp), (raw2, tmp2)):
            if t is not None:
                try:
                    if r is not None:
                        r.close()
                finally:
                    discard(t)

    after_names = sorted((set(n for _w, n in before) | set([dump_name])) - set(pruned))
    ended = time.time()
    warnings = []
    if counts['unparsable']:
        warnings.append("%d replica SFNs of %s are in no known form and were left out (first: %s)."
                        % (counts['unparsable'], mapping.describe(),
                           ', '.join(s['sfn'] for s in samples if s['reason'] == 'unparsable')[:300]))
    if counts['unrepresentable']:
        warnings.append("%d replicas were left out because the %s format cannot carry their paths%s."
                        % (counts['unrepresentable'], p['format'],
                           "; %d of them, available, are in the companion list of inactive replicas instead, so "
                           "they still protect their files from being called dark" % counts['companion_only']
                           if counts['companion_only'] else ''))
    return {
        'changed': bool(published or mode_changed or link_changed or pruned),
        'diff': {'before': {'dumps': sorted(n for _w, n in before)}, 'after': {'dumps': after_names}},
        'dump': dump,
        'inactive_list': companion_path(dump),
        'name': dump_name,
        'published': published,
        'replicas': counts['replicas'],
        'available': counts['available'],
        'inactive': counts['inactive'],
        'outside': counts['outside'],
        'unparsable': counts['unparsable'],
        'unrepresentable': counts['unrepresentable'],
        'bytes': nbytes,
        'samples': samples,
        'format': p['format'],
        'compression': p['compression'],
        'latest': os.path.join(dest, p['latest_link']) if p['latest_link'] else None,
        'pruned': pruned,
        'started': round(started, 3),
        'ended': round(ended, 3),
        'recorded': when.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'duration': round(ended - started, 3),
        'warnings': warnings,
    }


def _prune(dest, before, current, keep, check_mode):
    """Remove the oldest dumps (and their companions) beyond ``keep``; the removed dump names."""
    if keep <= 0:
        return []
    names = [n for _w, n in before]
    if current not in names:
        names.insert(0, current)
    kept = set(names[:keep])
    kept.add(current)
    removed = sorted(n for n in names if n not in kept)
    if not check_mode:
        for n in removed:
            for victim in (os.path.join(dest, n), companion_path(os.path.join(dest, n))):
                try:
                    os.unlink(victim)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise VaporError("The old catalog dump '%s' cannot be removed: %s." % (victim, exc.strerror))
    return removed
