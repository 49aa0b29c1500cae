# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The consistency check's options table and its named, ordered gates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest
import yaml

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._consistency import gates, inputs, options

MODULE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'plugins', 'modules',
                      'consistency_check.py')
DAY = 86400
NOW = 1795222800                   # 2026-11-21T01:00:00Z

# the module's argument spec as it was written in the module before the table (issue 9): frozen
FROZEN_ARGUMENT_SPEC = dict(
    catalog_before={'type': 'path', 'required': True},
    storage_dump={'type': 'path', 'required': True},
    catalog_after={'type': 'path', 'required': True},
    output_dir={'type': 'path', 'required': True},
    strip_prefix={'type': 'str'},
    add_prefix={'type': 'str'},
    storage_strip_prefix={'type': 'str'},
    storage_add_prefix={'type': 'str'},
    catalog_strip_prefix={'type': 'str'},
    catalog_add_prefix={'type': 'str'},
    ignore={'type': 'list', 'elements': 'str', 'default': []},
    min_age={'type': 'str', 'default': '1d'},
    max_dark_fraction={'type': 'float', 'default': 0.01},
    max_lost_fraction={'type': 'float', 'default': 0.01},
    max_dump_age={'type': 'str', 'default': '7d'},
    confirm_runs={'type': 'int', 'default': 3},
    confirm_days={'type': 'int', 'default': 25},
    run_id={'type': 'str'},
    catalog_before_time={'type': 'str'},
    storage_dump_time={'type': 'str'},
    catalog_after_time={'type': 'str'},
    memory_limit={'type': 'str', 'default': '256MB'},
    threads={'type': 'int'},
    temp_dir={'type': 'path'},
    # added with the progress record (issue 10)
    progress_file={'type': 'path'},
    progress_interval={'type': 'float', 'default': 2.0},
)

ORDER = ['option_values', 'output_dir', 'run_id_free', 'inputs_found', 'inputs_readable', 'dump_not_future',
         'dump_age', 'dump_times_ordered', 'empty_storage', 'paths_comparable', 'storage_prefix', 'empty_catalog',
         'inputs_unchanged', 'dark_fraction', 'lost_fraction']


def test_argument_spec_is_the_frozen_one():
    kwargs = options.TABLE.module_kwargs(supports_check_mode=True)
    assert kwargs == {'argument_spec': FROZEN_ARGUMENT_SPEC, 'supports_check_mode': True}


def test_validate_takes_its_defaults_from_the_table(tmp_path):
    p = options.validate(dict(catalog_before='b', storage_dump='s', catalog_after='a', output_dir='o'))
    assert (p['max_dark_fraction'], p['max_lost_fraction'], p['confirm_runs'], p['confirm_days']) == \
        (0.01, 0.01, 3, 25.0)
    assert (p['min_age'], p['max_dump_age'], p['memory_limit']) == (DAY, 7 * DAY, '256MB')


# ----------------------------------------------------------------------------------------------
# the list

def test_gates_are_ordered_as_documented_and_named_once():
    names = [g.name for g in gates.GATES]
    assert names == ORDER
    assert len(set(names)) == len(names)
    stage_index = [gates.STAGE_NAMES.index(g.stages[0]) for g in gates.GATES]
    assert stage_index == sorted(stage_index), 'the list is ordered by the stage a gate is first checked at'
    for gate in gates.GATES:
        assert gate.sentences and all(isinstance(s, str) and s.endswith('.') for s in gate.sentences)
        assert [gates.STAGE_NAMES.index(s) for s in gate.stages] == \
            sorted(gates.STAGE_NAMES.index(s) for s in gate.stages)


def test_module_documentation_lists_the_gates_in_order():
    with open(MODULE) as f:
        tree = ast.parse(f.read())
    doc = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
           and node.targets[0].id == 'DOCUMENTATION'][0]
    items = [d for d in yaml.safe_load(doc)['description'] if d.startswith('Gates, in the order')]
    assert len(items) == 1
    assert re.findall(r'B\(([a-z_]+)\)', items[0]) == [g.name for g in gates.GATES]


# ----------------------------------------------------------------------------------------------
# each gate can fail, with its sentence

def _dump(tmp_path, name, data=b'/a\n/b\n'):
    path = str(tmp_path / name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def _input(role, path, time_=NOW - DAY, until=None, size=10, counts=None):
    inp = inputs.Input(role, path)
    inp.time = {'time': time_, 'time_until': until if until is not None else time_, 'time_source': 'option'}
    inp.size = size
    inp.counts = counts or {}
    inp.fmt = 'text'
    return inp


def _ctx(tmp_path, before=None, storage=None, after=None, **options_):
    params = dict(catalog_before=str(tmp_path / 'b'), storage_dump=str(tmp_path / 's'),
                  catalog_after=str(tmp_path / 'a'), output_dir=str(tmp_path / 'out'))
    params.update(options_)
    ctx = gates.Context(params, now=NOW, stats={'inputs': {}})
    ctx.p = options.validate(params)
    ctx.output_dir, ctx.run_id = ctx.p['output_dir'], '20261121_010000'
    ctx.inputs = (before or _input('catalog_before', 'b', NOW - 2 * DAY), None,
                  storage or _input('storage_dump', 's', NOW - 1.5 * DAY),
                  after or _input('catalog_after', 'a', NOW - DAY), None)
    return ctx


def _fails(name, ctx, stage=None):
    gate = [g for g in gates.GATES if g.name == name][0]
    with pytest.raises(VaporError) as err:
        if stage:
            gates.check(stage, ctx)
        else:
            gate.check(ctx)
    msg = err.value.msg
    assert any(re.match('^%s$' % re.escape(s).replace('%s', '.*').replace('%d', '[0-9]+').replace(
        '%\\.1f', '[0-9.]+').replace('%\\.4f', '[0-9.]+').replace('%g', '[0-9.e-]+'), msg, re.S)
        for s in gate.sentences), msg
    if stage:
        assert err.value.context['gate'] == name
    return msg


def test_gate_option_values(tmp_path):
    ctx = gates.Context(dict(storage_dump='s', catalog_after='a', output_dir='o'))
    assert _fails('option_values', ctx, 'options') == "The option catalog_before is required: give the path of the dump."


def test_gate_output_dir(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.output_dir = _dump(tmp_path, 'not-a-dir')
    assert _fails('output_dir', ctx, 'output') == (
        "The output_dir '%s' is not a directory; give the directory the runs are written to." % ctx.output_dir)


def test_gate_run_id_free(tmp_path):
    ctx = _ctx(tmp_path, run_id='mine')
    ctx.fixed_id, ctx.run_id = True, 'mine'
    os.makedirs(os.path.join(ctx.output_dir, 'mine'))
    assert _fails('run_id_free', ctx, 'publish') == (
        "The run directory '%s' already exists; give another run_id." % os.path.join(ctx.output_dir, 'mine'))


def test_gate_inputs_found(tmp_path):
    os.makedirs(str(tmp_path / 's'))
    ctx = _ctx(tmp_path)
    assert _fails('inputs_found', ctx, 'inputs') == "The storage_dump directory '%s' holds no dump." % (tmp_path / 's')


def test_gate_inputs_readable(tmp_path):
    ctx = _ctx(tmp_path)
    assert _fails('inputs_readable', ctx, 'inputs') == (
        "The catalog_before '%s' cannot be read: No such file or directory." % (tmp_path / 'b'))


def test_gate_dump_not_future(tmp_path):
    ctx = _ctx(tmp_path, after=_input('catalog_after', 'a', NOW + 3600))
    assert _fails('dump_not_future', ctx, 'probed') == (
        "The catalog_after 'a' is from 2026-11-21T02:00:00Z (from its option), after this run at 2026-11-21T01:00:00Z; "
        "a dump cannot be newer than the run that reads it, so its time is wrong.")


def test_gate_dump_age(tmp_path):
    ctx = _ctx(tmp_path, before=_input('catalog_before', 'b', NOW - 11 * DAY),
               storage=_input('storage_dump', 's', NOW - 10 * DAY))
    assert _fails('dump_age', ctx, 'probed') == (
        "The storage_dump 's' is from 2026-11-11T01:00:00Z (from its option), 10.0 days before this run, older than "
        "max_dump_age=604800 seconds; use a fresh dump.")


def test_gate_dump_times_ordered(tmp_path):
    ctx = _ctx(tmp_path, after=_input('catalog_after', 'a', NOW - 3 * DAY))
    assert _fails('dump_times_ordered', ctx, 'probed') == (
        "The catalog dumps do not bracket the storage dump in time: catalog_after 'a' is from 2026-11-18T01:00:00Z "
        "(from its option), not after the storage_dump 's' from 2026-11-19T13:00:00Z (from its option).")


@pytest.mark.parametrize('stage', ['probed', 'counted'])
def test_gate_empty_storage(tmp_path, stage):
    storage = _input('storage_dump', 's', NOW - 1.5 * DAY, size=0 if stage == 'probed' else 30,
                     counts={'entries': 0, 'compared': 0} if stage == 'counted' else {})
    ctx = _ctx(tmp_path, storage=storage)
    assert _fails('empty_storage', ctx, stage) == (
        "The storage_dump 's' is empty: it lists no files, so nothing can be compared.")


def test_gate_paths_comparable(tmp_path):
    storage = _input('storage_dump', _dump(tmp_path, 'dump'))
    storage.marks = (0, 2)
    ctx = _ctx(tmp_path, storage=storage)
    ctx.current = storage
    assert _fails('paths_comparable', ctx, 'read') == (
        "The storage_dump '%s' cannot be compared: 2 paths have a '..' component." % storage.path)


def test_gate_storage_prefix(tmp_path):
    ctx = _ctx(tmp_path, storage=_input('storage_dump', 's', counts={'entries': 3, 'compared': 0}),
               storage_strip_prefix='/store')
    assert _fails('storage_prefix', ctx, 'counted') == (
        "None of the 3 entries of the storage_dump 's' is under the storage prefix '/store', so nothing can be "
        "compared.")


def test_gate_empty_catalog(tmp_path):
    ctx = _ctx(tmp_path, storage=_input('storage_dump', 's', counts={'entries': 5, 'compared': 5}),
               after=_input('catalog_after', 'a', counts={'entries': 0, 'compared': 0}))
    assert _fails('empty_catalog', ctx, 'counted') == (
        "The catalog_after 'a' lists no available file under the catalog prefix '/' while the storage_dump lists 5, "
        "so lost files could not be detected; give a complete catalog dump.")


def test_gate_inputs_unchanged(tmp_path):
    path = _dump(tmp_path, 'dump')
    storage = inputs.probe(inputs.Input('storage_dump', path))
    with open(path, 'ab') as f:
        f.write(b'/c\n')
    ctx = _ctx(tmp_path)
    ctx.inputs = (None, None, storage, None, None)
    assert _fails('inputs_unchanged', ctx, 'digested') == (
        "The storage_dump '%s' changed while this run read it (it was replaced, written or removed), so the "
        "comparison would mix two dumps; run again when the dump is complete." % path)


@pytest.mark.parametrize('which', ['dark', 'lost'])
def test_gate_fractions(tmp_path, which):
    ctx = _ctx(tmp_path)
    ctx.stats['counts'] = {'storage_files': 100, 'dark': 50 if which == 'dark' else 0,
                           'lost': 10 if which == 'lost' else 0, 'lost_denominator': 40}
    ctx.stats['fractions'] = {'dark': 0.5 if which == 'dark' else 0.0, 'lost': 0.25 if which == 'lost' else 0.0}
    msg = _fails(which + '_fraction', ctx, 'listed')
    if which == 'dark':
        assert msg == ("The dark fraction 0.5000 (50 of 100 storage files) is above max_dark_fraction=0.01, so the "
                       "inputs look wrong and no list was written.")
    else:
        assert msg == ("The lost fraction 0.2500 (10 of 40 available catalog files) is above max_lost_fraction=0.01, "
                       "so the inputs look wrong and no list was written.")


def test_every_gate_has_a_failing_case_here():
    tested = set(re.findall(r"_fails\('([a-z_]+)'", open(__file__).read()))
    tested |= {'dark_fraction', 'lost_fraction'}          # test_gate_fractions, by parameter
    assert tested == set(ORDER)
