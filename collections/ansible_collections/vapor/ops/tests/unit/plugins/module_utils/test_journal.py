# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._journal import Journal

KEY = {'input': '/runs/x/confirmed_dark.list', 'sha256': 'abc'}


def test_records_survive_reopen(tmp_path):
    path = str(tmp_path / 'j')
    with Journal(path, KEY) as j:
        j.start('/a')
        j.finish('/a', 'deleted')
        j.start('/b')
    with Journal(path, KEY) as j:
        assert j.state('/a') == 'done' and j.outcome('/a') == 'deleted'
        assert j.in_doubt() == ['/b']
        assert j.counts() == {'deleted': 1, 'started': 1}


def test_torn_last_line_is_dropped(tmp_path):
    path = str(tmp_path / 'j')
    with Journal(path, KEY) as j:
        j.start('/a')
    with open(path, 'a') as f:
        f.write('{"item": "/b", "sta')          # killed mid-write
    with Journal(path, KEY) as j:
        assert j.in_doubt() == ['/a'] and j.state('/b') is None
        j.finish('/a', 'missing')
    with Journal(path, KEY) as j:
        assert j.outcome('/a') == 'missing'


def test_journal_of_another_run_is_refused(tmp_path):
    path = str(tmp_path / 'j')
    Journal(path, KEY).close()
    with pytest.raises(VaporError, match='belongs to another run'):
        Journal(path, {'input': 'other'})


def test_not_a_journal(tmp_path):
    p = tmp_path / 'j'
    p.write_text('hello\n')
    with pytest.raises(VaporError, match='not a vapor.ops journal'):
        Journal(str(p), KEY)


def test_readonly_writes_nothing(tmp_path):
    path = tmp_path / 'j'
    Journal(str(path), KEY, readonly=True).start('/a')
    assert not path.exists()
