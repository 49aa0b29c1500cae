# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The gates of the consistency check, in one ordered list: every check that stops or refuses a run, with its
# name, the stages of the run at which it is checked, its sentences (the exact error texts) and the check.
# run() (and compare(), for the stages inside the comparison) calls check(stage, ctx) at each stage; the gates of
# that stage run in the order of GATES. A gate that fails raises its sentence; the failure carries the gate's
# name (VaporError.context['gate'], stats.json 'gate'). The module's documentation lists the same names in the same
# order (a unit test keeps them equal).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._consistency import files, inputs, options
from ansible_collections.vapor.ops.plugins.module_utils._consistency.times import DAY, describe_time, utc

FUTURE_SLACK = 300                 # seconds a dump may be dated after its run (clocks of different hosts)

# the stages of a run, in order
STAGES = (
    ('options', 'before anything is read: the option values'),
    ('output', 'before the inputs are read: the output directory and the run id'),
    ('inputs', 'the inputs chosen (a directory selects a dump) and probed (stat, compression, format, time)'),
    ('probed', 'after probing, before the engine loads anything: the dump times, an empty storage dump'),
    ('read', 'as the engine reads each input, before it counts the paths'),
    ('counted', 'after each input is counted'),
    ('compared', 'after the comparison, before the lists are written'),
    ('listed', 'after the lists are written and counted: the fractions'),
    ('digested', "after the storage dump's digest"),
    ('publish', 'under the lock, as the run directory is published'),
)
STAGE_NAMES = tuple(name for name, _what in STAGES)


class Context(object):
    """What the gates look at, filled in as the run goes on."""

    def __init__(self, params, now=None, check_mode=False, stats=None):
        self.params = params
        self.p = None                   # the validated options (option_values)
        self.now = now
        self.check_mode = check_mode
        self.stats = stats if stats is not None else {'inputs': {}}
        self.output_dir = self.run_id = None
        self.fixed_id = False
        self.inputs = None              # (before, before companion, storage, after, after companion)
        self.current = None             # the input the engine has just read or counted

    def dumps(self):
        """(catalog_before, storage_dump, catalog_after)."""
        return self.inputs[0], self.inputs[2], self.inputs[3]


class Gate(object):
    """One gate: name, the stages it is checked at, its sentences and its check(gate, ctx)."""

    def __init__(self, name, stages, sentences, check):
        unknown = [s for s in stages if s not in STAGE_NAMES]
        if unknown:
            raise ValueError('gate %s: unknown stage(s) %s' % (name, ', '.join(unknown)))
        self.name, self.stages, self.sentences, self._check = name, tuple(stages), tuple(sentences), check

    @property
    def sentence(self):
        return self.sentences[0]

    def refuse(self, *args):
        """The gate's (first) sentence as the error that stops the run."""
        return VaporError(self.sentence % args)

    def check(self, ctx):
        self._check(self, ctx)

    def __repr__(self):
        return 'Gate(%r, %r)' % (self.name, self.stages)


# ----------------------------------------------------------------------------------------------
# the checks (each gets its gate and the context; raises its sentence)

def _option_values(_gate, ctx):
    ctx.p = options.validate(ctx.params)


def _output_dir(_gate, ctx):
    files.prepare_output_dir(ctx.output_dir, ctx.check_mode)


def _run_id_free(gate, ctx):
    path = os.path.join(ctx.output_dir, ctx.run_id)
    if ctx.fixed_id and os.path.lexists(path):
        raise gate.refuse(path)


def _inputs_found(_gate, ctx):
    ctx.stats['selected'] = inputs.select_inputs(ctx.p)


def _inputs_readable(_gate, ctx):
    ctx.inputs = inputs.load_inputs(ctx.p, ctx.stats)


def _dump_not_future(gate, ctx):
    before, storage, after = ctx.dumps()
    for inp in (storage, before, after):
        if inp.time['time'] > ctx.now + FUTURE_SLACK:
            raise gate.refuse(inp.label, inp.path, describe_time(inp.time), utc(ctx.now))


def _dump_age(gate, ctx):
    storage = ctx.dumps()[1]
    p, now = ctx.p, ctx.now
    if p['max_dump_age'] and now - storage.time['time'] > p['max_dump_age']:
        raise gate.refuse(storage.path, describe_time(storage.time), (now - storage.time['time']) / DAY,
                          p['max_dump_age'])


def _dump_times_ordered(gate, ctx):
    before, storage, after = ctx.dumps()
    if not before.time['time_until'] <= storage.time['time']:
        raise gate.refuse('catalog_before', before.path, describe_time(before.time), 'before', storage.path,
                          describe_time(storage.time))
    if not storage.time['time_until'] <= after.time['time']:
        raise gate.refuse('catalog_after', after.path, describe_time(after.time), 'after', storage.path,
                          describe_time(storage.time))


def _empty_storage(gate, ctx):
    storage = ctx.dumps()[1]
    # before loading: an empty file; once counted: no entry (a compressed or XML dump of nothing)
    entries = storage.counts['entries'] if 'entries' in storage.counts else (0 if storage.size == 0 else None)
    if entries == 0:
        raise gate.refuse(storage.path)


def _paths_comparable(gate, ctx):
    inp = ctx.current
    malformed, dotdot = inp.marks
    if malformed or dotdot:
        inputs.python_check(inp)           # raises the sentence naming the first bad line
        what = ("%d lines have not the four cms fields path|size|mtime|checksum" % malformed if malformed
                else "%d paths have a '..' component" % dotdot)
        raise gate.refuse(inp.label, inp.path, what)


def _storage_prefix(gate, ctx):
    storage = ctx.dumps()[1]
    if storage.counts and storage.counts['compared'] == 0:
        raise gate.refuse(storage.counts['entries'], storage.path, ctx.p['_storage_map'][0])


def _empty_catalog(gate, ctx):
    before, storage, after = ctx.dumps()
    if not storage.counts:
        return
    for cat in (after, before):
        if cat.counts and cat.counts['compared'] == 0:
            raise gate.refuse(cat.label, cat.path, ctx.p['_catalog_map'][0] or '/', storage.counts['compared'])


def _inputs_unchanged(_gate, ctx):
    inputs.check_unchanged(ctx.inputs)


def _dark_fraction(gate, ctx):
    counts, fraction = ctx.stats['counts'], ctx.stats['fractions']['dark']
    if fraction > ctx.p['max_dark_fraction']:
        raise gate.refuse(fraction, counts['dark'], counts['storage_files'], ctx.p['max_dark_fraction'])


def _lost_fraction(gate, ctx):
    counts, fraction = ctx.stats['counts'], ctx.stats['fractions']['lost']
    if fraction > ctx.p['max_lost_fraction']:
        raise gate.refuse(fraction, counts['lost'], counts['lost_denominator'], ctx.p['max_lost_fraction'])


def _sentences(table, *keys):
    return tuple(table[k] for k in keys)


# ----------------------------------------------------------------------------------------------
# the list

GATES = (
    Gate('option_values', ('options',), tuple(options.SENTENCES.values()), _option_values),
    Gate('output_dir', ('output',), (files.NOT_A_DIRECTORY, files.CANNOT_WRITE), _output_dir),
    Gate('run_id_free', ('output', 'publish'), (
        "The run directory '%s' already exists; give another run_id.",), _run_id_free),
    Gate('inputs_found', ('inputs',), _sentences(
        inputs.SENTENCES, 'no_storage_dump', 'no_catalog_dump', 'directory_unreadable'), _inputs_found),
    Gate('inputs_readable', ('inputs',), _sentences(
        inputs.SENTENCES, 'unreadable', 'not_a_file', 'corrupt', 'xml_companion', 'truncated'), _inputs_readable),
    Gate('dump_not_future', ('probed',), (
        "The %s '%s' is from %s, after this run at %s; a dump cannot be newer than the run that reads it, so its "
        "time is wrong.",), _dump_not_future),
    Gate('dump_age', ('probed',), (
        "The storage_dump '%s' is from %s, %.1f days before this run, older than max_dump_age=%d seconds; use a "
        "fresh dump.",), _dump_age),
    Gate('dump_times_ordered', ('probed',), (
        "The catalog dumps do not bracket the storage dump in time: %s '%s' is from %s, not %s the storage_dump "
        "'%s' from %s.",), _dump_times_ordered),
    Gate('empty_storage', ('probed', 'counted'), (
        "The storage_dump '%s' is empty: it lists no files, so nothing can be compared.",), _empty_storage),
    Gate('paths_comparable', ('read',), (
        "The %s '%s' cannot be compared: %s.",), _paths_comparable),
    Gate('storage_prefix', ('counted',), (
        "None of the %d entries of the storage_dump '%s' is under the storage prefix '%s', so nothing can be "
        "compared.",), _storage_prefix),
    Gate('empty_catalog', ('counted',), (
        "The %s '%s' lists no available file under the catalog prefix '%s' while the storage_dump lists %d, so "
        "lost files could not be detected; give a complete catalog dump.",), _empty_catalog),
    Gate('inputs_unchanged', ('compared', 'digested'), _sentences(inputs.SENTENCES, 'changed'), _inputs_unchanged),
    Gate('dark_fraction', ('listed',), (
        "The dark fraction %.4f (%d of %d storage files) is above max_dark_fraction=%g, so the inputs look wrong "
        "and no list was written.",), _dark_fraction),
    Gate('lost_fraction', ('listed',), (
        "The lost fraction %.4f (%d of %d available catalog files) is above max_lost_fraction=%g, so the inputs "
        "look wrong and no list was written.",), _lost_fraction),
)


def check(stage, ctx):
    """Run the gates of ``stage`` in the order of GATES; the first that fails stops the run, naming itself."""
    if stage not in STAGE_NAMES:
        raise ValueError('unknown stage %s' % stage)
    for gate in GATES:
        if stage in gate.stages:
            try:
                gate.check(ctx)
            except VaporError as exc:
                exc.context.setdefault('gate', gate.name)
                raise
