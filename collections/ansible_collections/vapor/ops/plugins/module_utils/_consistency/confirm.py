# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# Confirmation of dark entries over runs of DIFFERENT storage dumps: the runs of OUTPUT_DIR, which count, and the
# intersection of their dark lists.
#
# Confirmation counts runs over DIFFERENT storage dumps: each run records the SHA-256 of its storage dump's
# uncompressed content and the dump's time; runs whose dumps share a digest or a time count once, and the dump
# times (not the times of the runs) must span confirm_days. A storage dump dated after its run is refused.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.vapor.ops.plugins.module_utils._consistency.files import create_file
from ansible_collections.vapor.ops.plugins.module_utils._consistency.times import DAY, utc

WINDOW_SLACK_DAYS = 10
MAPPING_KEYS = ('storage_strip_prefix', 'storage_add_prefix', 'catalog_strip_prefix', 'catalog_add_prefix')


class Run:
    """A complete run found in OUTPUT_DIR, as the confirmation sees it."""

    def __init__(self, run_id, path, time_, time_until, digest, run_time=None, mapping=None):
        self.id, self.path = run_id, path
        self.time, self.time_until, self.digest = time_, time_until, digest
        self.run_time = run_time        # the clock of the host when the run was made (no option sets it)
        self.mapping = mapping          # the prefix options the run compared with

    def interval(self):
        """[start, end) of the storage dump's time; an exact time is its second."""
        return self.time, max(self.time_until, self.time + 1)


def list_runs(output_dir):
    """(runs, ignored): the complete runs in output_dir as Run objects sorted by their storage dump's time, and
    (run id, reason) of complete runs that cannot count (recorded before stats version 2: no storage digest)."""
    runs, ignored = [], []
    try:
        names = os.listdir(output_dir)
    except OSError:
        return runs, ignored
    for name in names:
        if name.startswith('.') or name.endswith('.failed') or name.endswith('.tmp'):
            continue
        d = os.path.join(output_dir, name)
        stats_path = os.path.join(d, 'stats.json')
        if not os.path.isfile(stats_path) or not os.path.isfile(os.path.join(d, 'dark.list')):
            continue
        if os.path.islink(d):
            ignored.append((name, 'a symbolic link, not a run directory of this output_dir'))
            continue
        try:
            with open(stats_path) as f:
                stats = json.load(f)
            if stats.get('status') != 'ok' or stats['run'].get('check_mode'):
                continue
            if int(stats.get('version') or 1) < 2:
                ignored.append((name, 'recorded before stats version 2, without the digest of its storage dump'))
                continue
            sd = stats['inputs']['storage_dump']
            digest = sd['digest']
            if not isinstance(digest, str) or not digest:
                raise ValueError('no digest')
            mapping = stats.get('mapping')
            runs.append(Run(name, d, float(sd['time']), float(sd['time_until']), digest,
                            run_time=float(stats['run']['time']),
                            mapping=mapping_key(mapping) if isinstance(mapping, dict) else None))
        except (OSError, IOError, ValueError, KeyError, TypeError, AttributeError):
            ignored.append((name, 'its stats.json cannot be read'))
            continue
    runs.sort(key=lambda r: (r.time, r.id))
    return runs, sorted(ignored)


def mapping_key(mapping):
    return tuple(mapping.get(k) or '' for k in MAPPING_KEYS)


def _intersect_sorted(paths, dest):
    """Lines present in every one of the sorted files ``paths``, written to dest; returns their count.

    An unsorted input can only make the result smaller, never add a line that is not in every file.
    """
    files = [open(pth, 'rb') for pth in paths]
    n = 0
    try:
        with create_file(dest, binary=True) as out:
            heads = [f.readline() for f in files]
            while all(heads):
                top = max(heads)
                if all(h == top for h in heads):
                    out.write(top if top.endswith(b'\n') else top + b'\n')
                    n += 1
                    heads = [f.readline() for f in files]
                    continue
                for i, f in enumerate(files):
                    while heads[i] and heads[i] < top:
                        heads[i] = f.readline()
    finally:
        for f in files:
            f.close()
    return n


def _overlap(a, b):
    (a0, a1), (b0, b1) = a.interval(), b.interval()
    return a0 < b1 and b0 < a1


def confirm(p, this, output_dir, dark_list, dest):
    """Write the confirmed dark entries to dest (empty when not confirmed); return the stats section.

    ``this`` is the current run (a Run whose path is None). The runs that count are complete runs of OUTPUT_DIR
    over DIFFERENT storage dumps: newest first, a run is taken only if its storage dump's content digest and its
    time (an interval for a dump named by day) differ from those of every run already taken. Only storage dumps
    not newer than this run's and within confirm_days + 10 days of it are looked at. The dump times of the runs
    taken must span confirm_days (from the end of the oldest dump's time to the start of the newest).
    """
    window_days = p['confirm_days'] + WINDOW_SLACK_DAYS
    earliest = this.time - window_days * DAY
    runs, ignored = list_runs(output_dir)
    used, skipped = [this], []
    for r in sorted(runs, key=lambda r: (-r.time, r.id)):
        if r.id == this.id or r.time < earliest or r.time > this.time:
            continue
        if r.mapping is not None and this.mapping is not None and r.mapping != this.mapping:
            skipped.append({'run': r.id, 'reason': 'compared with other prefix options (%s)' % ', '.join(
                '%s=%s' % (k, v or "''") for k, v in zip(MAPPING_KEYS, r.mapping))})
            continue
        same = [u for u in used if u.digest == r.digest]
        if same:
            skipped.append({'run': r.id, 'reason': 'the same storage dump content (digest) as %s'
                            % ('this run' if same[0] is this else 'run ' + same[0].id)})
            continue
        same = [u for u in used if _overlap(u, r)]
        if same:
            skipped.append({'run': r.id, 'reason': 'a storage dump of the same time as %s'
                            % ('this run' if same[0] is this else 'run ' + same[0].id)})
            continue
        used.append(r)
    used.sort(key=lambda r: r.time)
    span = max(0.0, this.time - min(u.time_until for u in used)) if len(used) > 1 else 0.0
    span_days = span / DAY
    # the runs themselves must have been made over the window too: a dump's time comes from its name, an option
    # or its modification time, which anyone can back-date; the time of a run is the host's clock when it ran
    run_span_days = (max(0.0, this.run_time - min(u.run_time for u in used)) / DAY
                     if len(used) > 1 and this.run_time is not None else 0.0)
    info = {'confirm_runs': p['confirm_runs'], 'confirm_days': p['confirm_days'], 'window_days': window_days,
            'runs': [u.id for u in used], 'skipped_runs': skipped,
            'ignored_runs': [{'run': rid, 'reason': why} for rid, why in ignored],
            'dump_times_span_days': round(span_days, 3), 'run_times_span_days': round(run_span_days, 3),
            'storage_dumps': [{'run': u.id, 'time_utc': utc(u.time), 'digest': u.digest} for u in used]}
    if len(used) < p['confirm_runs']:
        info.update(confirmed=False, reason='%d runs over distinct storage dumps within %g days of this storage '
                    'dump (this one included), fewer than confirm_runs=%d'
                    % (len(used), window_days, p['confirm_runs']))
    elif span_days < p['confirm_days']:
        info.update(confirmed=False, reason='the storage dumps of the %d runs span %.1f days, less than '
                    'confirm_days=%g' % (len(used), span_days, p['confirm_days']))
    elif run_span_days < p['confirm_days']:
        info.update(confirmed=False, reason='the %d runs were made over %.1f days (by the clock of the host), less '
                    'than confirm_days=%g, whatever the times of their storage dumps'
                    % (len(used), run_span_days, p['confirm_days']))
    else:
        info.update(confirmed=True, reason='dark in every one of %d runs over distinct storage dumps spanning %.1f '
                    'days' % (len(used), span_days))
    if not info['confirmed']:
        create_file(dest).close()
        info['count'] = 0
        return info
    info['count'] = _intersect_sorted([dark_list] + [u.path and os.path.join(u.path, 'dark.list')
                                                     for u in used if u.path], dest)
    return info
