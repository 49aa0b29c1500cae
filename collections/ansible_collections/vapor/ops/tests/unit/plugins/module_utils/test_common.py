# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common import (
    EntryFilter, PathMapper, VaporError, normalise_path, parse_duration)


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


@pytest.mark.parametrize('value', ['abc', '5y', '-1', -5])
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
