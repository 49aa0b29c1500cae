# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import EntryFilter, PathMapper, normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_duration


@pytest.mark.parametrize('strip,add,path,expected', [
    (None, None, '/store/a', '/store/a'),
    ('/data/cms', None, '/data/cms/store/a', '/store/a'),
    ('//data///cms/', None, '/data/cms/store/a', '/store/a'),
    ('/data/cms', None, '/data//cms///store/a', '/store/a'),
    ('/data/cms', None, '/data/cmsX/store/a', None),      # component-wise, not a string prefix
    ('/data/cms', None, '/other/store/a', None),
    ('/data/cms', '/cms', '/data/cms/store/a', '/cms/store/a'),
    (None, 'root://se.example.org:1094/', '/store/a', 'root://se.example.org:1094/store/a'),
])
def test_path_mapper(strip, add, path, expected):
    assert PathMapper(strip, add).map(path) == expected


def test_normalise_path():
    assert normalise_path('//a/./b///c/') == '/a/b/c'
    assert normalise_path('') == '/'


@pytest.mark.parametrize('value,seconds', [(None, 0), (0, 0), (90, 90), ('3600', 3600), ('2h', 7200), ('7d', 604800),
                                           ('1w', 604800), ('1.5d', 129600), (' 30m ', 1800)])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize('value', ['abc', '5y', '-1', -5, float('nan'), float('inf'), float('-inf')])
def test_parse_duration_rejects(value):
    with pytest.raises(VaporError, match='min_age'):
        parse_duration(value, 'min_age')


def test_entry_filter():
    f = EntryFilter(['^/store/temp/', r'\.tmp$'], min_age=100, now=1000)
    assert f.ignored('/store/temp/x') and f.ignored('/store/a.tmp') and not f.ignored('/store/a')
    assert f.too_young(901) and not f.too_young(900)


def test_entry_filter_bad_regex_is_one_sentence():
    with pytest.raises(VaporError, match="ignore pattern '\\(' is not a valid regular expression"):
        EntryFilter(['('])


# issue 8: the one path canonicalisation of SFNs resolves '..' lexically and refuses to climb above the root
@pytest.mark.parametrize('path,expected', [
    ('/a/b', '/a/b'),
    ('//a///b/', '/a/b'),
    ('/a/./b/.', '/a/b'),
    ('/a/x/../b', '/a/b'),
    ('/a/x/y/../../b/', '/a/b'),
    ('/a/..', '/'),
    ('/..', None),
    ('/a/../../etc/passwd', None),
    ('/a/..b/c', '/a/..b/c'),            # '..b' is a name, not '..'
])
def test_resolve_path(path, expected):
    from ansible_collections.vapor.ops.plugins.module_utils._common.paths import resolve_path
    assert resolve_path(path) == expected


def test_same_host_ignores_case_and_a_trailing_dot():
    from ansible_collections.vapor.ops.plugins.module_utils._common.urls import same_host
    assert same_host('SE.Example.org', 'se.example.org.') and not same_host('se.example.org', 'se.example.com')
