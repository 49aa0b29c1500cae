# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The options of the consistency check: the one table (module argument spec and the core's defaults) and
# validate(), which checks their values (the first gate) and derives what the run uses.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_duration
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import PROGRESS_OPTIONS
from ansible_collections.vapor.ops.plugins.module_utils._consistency.times import parse_time

ROLES = ('catalog_before', 'storage_dump', 'catalog_after')
SAFE_RUN_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
MEMORY_RE = re.compile(r'^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*$', re.IGNORECASE)

# The module's options, once: the argument spec of vapor.ops.consistency_check and the defaults of run().
TABLE = OptionSpec(dict(
    catalog_before=dict(type='path', required=True),
    storage_dump=dict(type='path', required=True),
    catalog_after=dict(type='path', required=True),
    output_dir=dict(type='path', required=True),
    strip_prefix=dict(type='str'),
    add_prefix=dict(type='str'),
    storage_strip_prefix=dict(type='str'),
    storage_add_prefix=dict(type='str'),
    catalog_strip_prefix=dict(type='str'),
    catalog_add_prefix=dict(type='str'),
    ignore=dict(type='list', elements='str', default=[]),
    min_age=dict(type='str', default='1d'),
    max_dark_fraction=dict(type='float', default=0.01),
    max_lost_fraction=dict(type='float', default=0.01),
    max_dump_age=dict(type='str', default='7d'),
    confirm_runs=dict(type='int', default=3),
    confirm_days=dict(type='int', default=25),
    run_id=dict(type='str'),
    catalog_before_time=dict(type='str'),
    storage_dump_time=dict(type='str'),
    catalog_after_time=dict(type='str'),
    memory_limit=dict(type='str', default='256MB'),
    threads=dict(type='int'),
    temp_dir=dict(type='path'),
)) + PROGRESS_OPTIONS

# The sentences of the option_values gate (gates.py), in the order validate() checks; parse_time() and
# parse_duration() add their own for a time or a duration that is not one.
SENTENCES = dict(
    dump_required="The option %s is required: give the path of the dump.",
    output_dir_required="The option output_dir is required: give the directory the runs are written to.",
    not_a_number="The %s '%s' is not %s.",
    fraction="The %s %s is not a fraction between 0 and 1.",
    duration="The %s '%s' is not a duration; give a number of seconds or a value such as '7d', '12h'.",
    confirm_runs="The confirm_runs %s is not a positive number of runs.",
    confirm_days="The confirm_days %s is negative.",
    ignore="The ignore pattern '%s' is not a valid regular expression: %s.",
    memory_limit="The memory_limit '%s' is not a size such as 512MB or 2GB.",
    threads="The threads %s is not a positive number.",
    run_id="The run_id '%s' is not a plain directory name (letters, digits, '_', '.', '-').",
    run_time="The option run_time was removed: a run always happens now, and its storage dump's own time is what "
             "the confirmation counts.",
)


def _refuse(key, *args):
    return VaporError(SENTENCES[key] % args if args else SENTENCES[key])


def _prefix(value):
    if value is None or str(value).strip() in ('', '/'):
        return ''
    return normalise_path(str(value))


def _number(value, name, what):
    """A finite float from an option, or one sentence (NaN would pass every comparison of the gates)."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        v = float('nan')
    if not math.isfinite(v):
        raise _refuse('not_a_number', name, value, what)
    return v


def validate(params):
    """The options with the table's defaults, checked (one sentence for the first wrong value) and what the run
    derives from them (the compiled ignore pattern, the prefix mappings, the dump times given as options)."""
    p = TABLE.merge(params)
    for role in ROLES:
        if not p.get(role):
            raise _refuse('dump_required', role)
    if not p.get('output_dir'):
        raise _refuse('output_dir_required')
    for name in ('max_dark_fraction', 'max_lost_fraction'):
        v = _number(p[name], name, 'a fraction between 0 and 1')
        if not 0 <= v <= 1:
            raise _refuse('fraction', name, v)
        p[name] = v
    for name in ('min_age', 'max_dump_age'):
        value = p[name]
        if isinstance(value, float) and not math.isfinite(value):
            raise _refuse('duration', name, value)
        p[name] = parse_duration(value, name)
    runs = _number(p['confirm_runs'], 'confirm_runs', 'a positive whole number of runs')
    if runs != int(runs) or runs < 1:
        raise _refuse('confirm_runs', p['confirm_runs'])
    p['confirm_runs'] = int(runs)
    p['confirm_days'] = _number(p['confirm_days'], 'confirm_days', 'a number of days')
    if p['confirm_days'] < 0:
        raise _refuse('confirm_days', p['confirm_days'])
    patterns = []
    for pat in p.get('ignore') or []:
        try:
            patterns.append(re.compile(pat))
        except re.error as exc:
            raise _refuse('ignore', pat, exc)
    p['_ignore'] = re.compile('|'.join('(?:%s)' % r.pattern for r in patterns)) if patterns else None
    common_strip, common_add = p.get('strip_prefix'), p.get('add_prefix')
    for side in ('storage', 'catalog'):
        strip = p.get(side + '_strip_prefix')
        add = p.get(side + '_add_prefix')
        p['_%s_map' % side] = (_prefix(strip if strip is not None else common_strip),
                               (add if add is not None else common_add or '').rstrip('/'))
    mem = p.get('memory_limit') or TABLE.options['memory_limit']['default']
    if not MEMORY_RE.match(str(mem)):
        raise _refuse('memory_limit', mem)
    p['memory_limit'] = str(mem).strip()
    threads = p.get('threads')
    if threads is not None and int(threads) < 1:
        raise _refuse('threads', threads)
    run_id = p.get('run_id')
    if run_id and (not SAFE_RUN_ID_RE.match(run_id) or run_id.endswith('.failed') or run_id.endswith('.tmp')):
        raise _refuse('run_id', run_id)
    p['_times'] = {}
    for role in ROLES:
        p['_times'][role] = parse_time(p.get(role + '_time'), role + '_time')
    if p.get('run_time') not in (None, ''):
        raise _refuse('run_time')
    return p
