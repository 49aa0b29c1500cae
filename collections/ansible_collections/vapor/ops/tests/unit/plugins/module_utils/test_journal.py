# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.journal import Journal

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


# issue 8: one run at a time, private files, a journal that records nothing done does not block a corrected rerun

def test_lock_refuses_a_second_holder_and_is_released(tmp_path):
    from ansible_collections.vapor.ops.plugins.module_utils._cleanup.journal import RunLock
    path = str(tmp_path / 'j')
    first = RunLock(path, 'dark data cleanup')
    with pytest.raises(VaporError, match=r"^Another dark data cleanup is running on the journal '.*j' \(it holds "
                                         r"'.*j.lock'\); wait for it to end, nothing was done\.$"):
        RunLock(path, 'dark data cleanup')
    first.release()
    RunLock(path, 'dark data cleanup').release()


def test_journal_and_lock_are_private(tmp_path):
    import os
    import stat
    from ansible_collections.vapor.ops.plugins.module_utils._cleanup.journal import RunLock
    path = str(tmp_path / 'j')
    old = os.umask(0)
    try:
        RunLock(path, 'x').release()
        Journal(path, KEY).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path + '.lock').st_mode) == 0o600


def test_journal_of_another_key_is_replaced_only_when_it_records_nothing_done(tmp_path):
    path = str(tmp_path / 'j')
    with Journal(path, KEY, final=('deleted',)) as j:
        j.finish('/a', 'error')                       # looked at, nothing done
    other = dict(KEY, storage_url='file:///corrected')
    with Journal(path, other, final=('deleted',)) as j:
        assert j.replaced == KEY and j.items == {}
        j.finish('/a', 'deleted')
    with pytest.raises(VaporError, match='belongs to another run'):
        Journal(path, KEY, final=('deleted',))
    with Journal(str(tmp_path / 'k'), KEY, final=('deleted',)) as j:
        j.start('/b')                                 # in doubt: never replaced
    with pytest.raises(VaporError, match='belongs to another run'):
        Journal(str(tmp_path / 'k'), other, final=('deleted',))
