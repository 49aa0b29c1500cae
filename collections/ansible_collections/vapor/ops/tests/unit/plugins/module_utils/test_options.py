# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options table machinery: groups add up, constraints travel with them, defaults come from one place."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec

DB = OptionSpec(dict(db=dict(type='dict', options=dict(host=dict(type='str', default='localhost')))))
SE = OptionSpec(dict(se=dict(type='str'), sfn_prefix=dict(type='str')), required_one_of=[('se', 'sfn_prefix')])
OUT = OptionSpec(dict(dest=dict(type='path', required=True), keep=dict(type='int', default=0)),
                 required_if=[('keep', 1, ['dest'])])


def test_groups_add_up_with_their_constraints():
    spec = DB + SE + OUT
    kwargs = spec.module_kwargs(supports_check_mode=True)
    assert sorted(kwargs['argument_spec']) == ['db', 'dest', 'keep', 'se', 'sfn_prefix']
    assert kwargs['required_one_of'] == [('se', 'sfn_prefix')]
    assert kwargs['required_if'] == [('keep', 1, ['dest'])]
    assert kwargs['supports_check_mode'] is True
    assert 'mutually_exclusive' not in kwargs
    # the same constraint declared by two groups is kept once
    assert (SE + OptionSpec(required_one_of=[('se', 'sfn_prefix')])).constraints['required_one_of'] == \
        [('se', 'sfn_prefix')]


def test_an_option_declared_twice_is_refused():
    with pytest.raises(ValueError, match='declared twice: se'):
        SE + OptionSpec(dict(se=dict(type='str')))
    with pytest.raises(TypeError, match='unknown constraint'):
        OptionSpec(requires_one=[('a', 'b')])


def test_defaults_and_merge_come_from_the_table():
    spec = DB + OUT
    assert spec.defaults() == {'db': None, 'dest': None, 'keep': 0}
    merged = spec.merge({'keep': None, 'dest': '/d', 'extra': 1})
    assert merged == {'db': None, 'dest': '/d', 'keep': 0, 'extra': 1}


def test_copies_handed_out_do_not_change_the_table():
    spec = DB + OUT
    spec.argument_spec()['db']['options']['host']['default'] = 'elsewhere'
    spec.module_kwargs()['required_if'].append(('x', 1, ['y']))
    assert spec.options['db']['options']['host']['default'] == 'localhost'
    assert spec.constraints['required_if'] == [('keep', 1, ['dest'])]


def test_env_fallback_marker_becomes_ansible_fallback_and_merge_reads_environment():
    from ansible_collections.vapor.ops.plugins.module_utils._common.options import ENV

    def fake_env_fallback(*names):
        return names

    spec = OptionSpec(dict(a=dict(type='path', fallback=(ENV, ['VAPOR_A', 'VAPOR_B'])),
                           d=dict(type='list', elements='dict',
                                  options=dict(x=dict(type='str', fallback=(ENV, ['VAPOR_X'])))),
                           n=dict(type='int', default=3)))
    kwargs = spec.module_kwargs(env_fallback=fake_env_fallback)
    assert kwargs['argument_spec']['a']['fallback'] == (fake_env_fallback, ['VAPOR_A', 'VAPOR_B'])
    assert kwargs['argument_spec']['d']['options']['x']['fallback'] == (fake_env_fallback, ['VAPOR_X'])
    assert spec.options['a']['fallback'][0] == ENV  # the table itself is untouched
    assert spec.merge({}, environ={'VAPOR_B': '/b'})['a'] == '/b'
    assert spec.merge({}, environ={'VAPOR_A': '/a', 'VAPOR_B': '/b'})['a'] == '/a'
    assert spec.merge({'a': '/given'}, environ={'VAPOR_A': '/a'})['a'] == '/given'
    assert spec.merge({}, environ={})['a'] is None and spec.merge({})['n'] == 3
