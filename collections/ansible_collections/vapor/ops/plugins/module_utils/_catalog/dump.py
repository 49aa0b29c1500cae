# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The catalog_dump job: the catalog's view of one storage element, in the storage-dump path form, published
# with its companion list of inactive replicas through the one publisher (_dump/publish.Publisher).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import from_params as progress_from
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_mode
from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import open_catalog
from ansible_collections.vapor.ops.plugins.module_utils._catalog.options import CATALOG_DUMP
from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import AVAILABLE
from ansible_collections.vapor.ops.plugins.module_utils._catalog.sfn import SfnMapping
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    COMPRESSIONS, SUFFIXES, companion_path, count_lines, open_compressed_writer)
from ansible_collections.vapor.ops.plugins.module_utils._dump.publish import (
    Publisher, check_output_options, ensure_dest)
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import FORMATS
from ansible_collections.vapor.ops.plugins.module_utils._dump.writer import DumpWriter

# the companion list is always text: one path a line
COMPANION_FORMAT = 'text'


def _printable(sfn):
    """An SFN for a message or a result: NULL said so, bytes that are not UTF-8 as backslash escapes."""
    if sfn is None:
        return '(NULL)'
    return sfn.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')


def run_catalog_dump(params, check_mode=False, now=None):
    """Dump the catalog's view of one storage element (or, in check mode, count it); the result dictionary."""
    started = time.time()
    p = CATALOG_DUMP.merge(params)
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
    # the newest published dump with the same content (main and companion) is kept: no change (force: a new one)
    pub = Publisher(dest, p['name'], name, suffixes, mode, check_mode, latest_link=p['latest_link'], keep=p['keep'],
                    companions=(companion_path,), what='catalog dump')
    before = pub.before

    counts = {'replicas': 0, 'available': 0, 'inactive': 0, 'outside': 0, 'unparsable': 0, 'unrepresentable': 0,
              'companion_only': 0}
    nbytes = 0
    samples = []
    progress = progress_from(p, 'catalog_dump', 'replicas')
    if progress.path is not None:
        newest = before[0][1] if before else None      # newest first; its companion lists the other replicas
        expected = None
        if newest:
            expected = count_lines(os.path.join(dest, newest))
            side_lines = count_lines(companion_path(os.path.join(dest, newest)))
            if expected is not None and side_lines is not None:
                expected += side_lines
        if expected:
            progress.set_total(expected, 'the dump %s' % newest)
    catalog = open_catalog(p['catalog'])
    try:
        progress.update(0, stage='reading the replicas of %s' % mapping.describe(), force=True)
        raw, raw2 = pub.open()
        main_stream = open_compressed_writer(raw, p['compression']) if raw is not None else None
        side_stream = open_compressed_writer(raw2, p['compression']) if raw2 is not None else None
        writer = DumpWriter(main_stream, p['format'], recorded=when.strftime('%Y-%m-%dT%H:%M:%SZ'), vo=p['vo'])
        side = DumpWriter(side_stream, COMPANION_FORMAT)
        for _host, sfn, status, size, mtime, csum in catalog.se_replicas(mapping):
            counts['replicas'] += 1
            if not counts['replicas'] & 4095 and progress.due():
                progress.update(counts['replicas'])
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
        rate = progress.finish(counts['replicas'])
        writer.close()
        side.close()
        for s, r in ((main_stream, raw), (side_stream, raw2)):
            if s is not None and s is not r:
                s.close()
        pub.close_raw()
        if counts['available'] < int(p['min_files']):
            raise VaporError("The catalog %s has %d available replicas for %s (of %d selected), fewer than "
                             "min_files=%d; nothing was published (a wrong se or sfn_prefix must not publish an "
                             "empty catalog dump)." % (catalog.where, counts['available'], mapping.describe(),
                                                       counts['replicas'], int(p['min_files'])))
        out = pub.finish([writer.digest.state(), side.digest.state()], [p['format'], COMPANION_FORMAT],
                         force=p['force'])
    finally:
        catalog.close()
        pub.cleanup()
    published, dump, dump_name, pruned = out['published'], out['dump'], out['name'], out['pruned']

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
        'changed': bool(published or out['mode_changed'] or out['link_changed'] or pruned),
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
        'start_time': round(started, 3),
        'end_time': round(ended, 3),
        'recorded': when.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'duration': round(ended - started, 3),
        'rate': rate,
        'warnings': warnings + ([progress.warning] if progress.warning else []),
    }
