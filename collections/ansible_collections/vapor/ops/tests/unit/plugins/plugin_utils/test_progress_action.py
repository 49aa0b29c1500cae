# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The parts of the progress action plugin that decide (no host needed): the interval, the waits, the state of the
# background job, which line to show when. A fake clock; the runs through ansible-playbook are in tests/.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import json

import pytest

from ansible.errors import AnsibleError

from ansible_collections.vapor.ops.plugins.plugin_utils import progress_action as pa


class Clock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


def test_interval_from_the_variable():
    assert pa.poll_interval({}) == pa.DEFAULT_INTERVAL == 15.0
    assert pa.poll_interval(None) == 15.0
    assert pa.poll_interval({'vapor_progress_interval': '2.5'}) == 2.5
    assert pa.poll_interval({'vapor_progress_interval': 0}) == 0.0


@pytest.mark.parametrize('value', ['abc', None, [], float('nan')])
def test_an_interval_that_is_no_number_is_one_sentence(value):
    with pytest.raises(AnsibleError) as exc:
        pa.poll_interval({'vapor_progress_interval': value})
    msg = str(exc.value)
    assert msg.startswith('The variable vapor_progress_interval ') and msg.endswith('(0 to show no progress).')


def test_short_waits_first_then_the_interval():
    assert list(itertools.islice(pa.check_delays(15.0), 9)) == [0.2, 0.3, 0.5, 1.0, 2.0, 4.0, 15.0, 15.0, 15.0]
    assert list(itertools.islice(pa.check_delays(0.4), 4)) == [0.2, 0.3, 0.4, 0.4]
    assert list(itertools.islice(pa.check_delays(0.1), 3)) == [0.1, 0.1, 0.1]


@pytest.mark.parametrize('text, running', [
    ('', True),                                                             # not written yet
    ('{"started": 1, "finished": 0, "ansible_job_id": "j1"}', True),       # the async wrapper's first record
    ('{"started": true, "finished": false}', True),
    ('{"changed": true, "files": 3}', False),                              # the module's result
    ('{"failed": 1, "msg": "Timeout exceeded"}', False),                   # the wrapper's own failure
    ('{"started": 1, "finished": 1}', False),
    ('not json', True),
])
def test_job_running(text, running):
    assert pa.job_running(text) is running


def record(done, finished=False):
    return {'version': 1, 'unit': 'files', 'done': done, 'elapsed': 10, 'rate': 1.0, 'recent_rate': 1.0,
            'stage': 'scanning /a', 'finished': finished}


def test_lines_come_once_per_interval_and_a_finished_count_is_left_to_the_last_line():
    clock = Clock()
    lines = pa.ProgressLines(10.0, clock=clock)
    clock.t = 5.0
    assert lines.line(record(100)) is None                  # before the first interval
    clock.t = 10.0
    assert lines.line(None) is None                         # no record yet: nothing to say
    assert lines.line(record(200)) == 'scanning /a, 200 files in 10s, 1.0 files/s'
    clock.t = 15.0
    assert lines.line(record(300)) is None                  # the next one is due at 20 s
    clock.t = 20.0
    assert lines.line(record(300, finished=True)) is None   # said by the last line of the task
    assert lines.shown == 1


def test_a_count_that_stands_still_is_said_with_the_controllers_clock():
    clock = Clock()
    lines = pa.ProgressLines(30.0, clock=clock)
    clock.t = 30.0
    assert 'no new count' not in lines.line(record(7))
    clock.t = 60.0
    assert 'no new count' not in lines.line(record(7))       # 30 s without change: not yet said
    clock.t = 120.0
    assert lines.line(record(7)).endswith('no new count for 1m30s')
    clock.t = 150.0
    assert 'no new count' not in lines.line(record(8))


def test_the_record_separator_is_not_json():
    with pytest.raises(ValueError):
        json.loads(pa.SEPARATOR)
