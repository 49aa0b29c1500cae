# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The progress record of long work (_common/progress.py) and its writers: se_dump (the sink, the posix worker
# processes), catalog_dump, consistency_check. No timed assertion: a fake clock, forced writes at stage ends, and
# a worker that waits for the record instead of hoping the scan is slow.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common import progress as pr
from ansible_collections.vapor.ops.plugins.module_utils._storage import posix
from ansible_collections.vapor.ops.plugins.module_utils._storage import se_dump


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def load(path):
    with open(str(path)) as f:
        return json.load(f)


def test_record_is_written_at_start_then_only_when_due(tmp_path):
    clock = Clock()
    path = tmp_path / 'p.json'
    p = pr.Progress(str(path), 'se_dump', 'files', interval=2.0, clock=clock)
    first = load(path)
    assert (first['done'], first['finished'], first['job'], first['unit']) == (0, False, 'se_dump', 'files')
    assert first['version'] == pr.RECORD_VERSION and first['pid'] == os.getpid()
    p.update(100)                       # the first update is due at once
    assert load(path)['done'] == 100
    clock.t += 1.0
    assert not p.due()
    p.update(200)                       # not due: the record still says 100
    assert load(path)['done'] == 100
    clock.t += 1.0
    assert p.due()
    p.update(300)
    rec = load(path)
    assert rec['done'] == 300 and rec['elapsed'] == 2.0 and rec['rate'] == 150.0
    p.update(301, force=True)           # forced: written although not due
    assert load(path)['done'] == 301


def test_rate_over_the_run_and_over_the_last_minute_and_the_estimate(tmp_path):
    clock = Clock()
    path = tmp_path / 'p.json'
    p = pr.Progress(str(path), 'se_dump', 'files', interval=1.0, clock=clock)
    p.set_total(2000, 'the dump dump_20261128')
    for _second in range(60):           # 10 files/s for a minute
        clock.t += 1.0
        p.update(p.done + 10)
    for _second in range(60):           # then 1 file/s
        clock.t += 1.0
        p.update(p.done + 1)
    rec = load(path)
    assert rec['done'] == 660 and rec['elapsed'] == 120.0
    assert rec['rate'] == 5.5                       # over the whole run
    assert rec['recent_rate'] == 1.0                # over the last minute
    assert rec['eta'] == 1340.0                     # what is left at the recent rate
    assert rec['total'] == 2000 and rec['total_from'] == 'the dump dump_20261128'
    line = pr.describe(rec)
    assert line == '660 files of ~2,000 in 2m00s, 1.0 files/s, about 22m20s left'


def test_finish_marks_the_record_and_gives_the_rate(tmp_path):
    clock = Clock()
    path = tmp_path / 'p.json'
    p = pr.Progress(str(path), 'consistency_check', 'paths', clock=clock)
    p.update(10, stage='reading the storage_dump', fraction=0.25, force=True)
    assert pr.describe(load(path)) == 'reading the storage_dump 25%, 10 paths in 0s'
    clock.t += 4.0
    assert p.finish(1000) == {'unit': 'paths', 'done': 1000, 'seconds': 4.0, 'per_second': 250.0}
    rec = load(path)
    assert rec['finished'] is True and rec['done'] == 1000
    assert pr.describe(rec) == 'reading the storage_dump 25%, 1,000 paths in 4s, finished, 250 paths/s'


def test_without_a_path_only_counts(tmp_path):
    clock = Clock()
    p = pr.Progress(None, 'se_dump', 'files', clock=clock)
    assert not p.due()
    p.update(5, force=True)
    clock.t += 2.5
    assert p.finish(10) == {'unit': 'files', 'done': 10, 'seconds': 2.5, 'per_second': 4.0}
    assert os.listdir(str(tmp_path)) == []


def test_a_record_that_cannot_be_written_is_a_warning_and_the_work_goes_on(tmp_path):
    path = tmp_path / 'missing' / 'p.json'
    p = pr.Progress(str(path), 'se_dump', 'files')
    assert p.path is None
    assert p.warning.startswith("The progress record '%s' could not be written (" % path)
    assert p.warning.endswith('the work went on without it.')
    p.update(3, force=True)
    assert p.finish(4)['done'] == 4


def test_a_symbolic_link_at_the_record_is_replaced_not_followed(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('keep me\n')
    link = tmp_path / 'p.json'
    link.symlink_to(victim)
    p = pr.Progress(str(link), 'se_dump', 'files')
    p.finish(1)
    assert victim.read_text() == 'keep me\n'
    assert not link.is_symlink() and load(link)['finished'] is True
    assert sorted(os.listdir(str(tmp_path))) == ['p.json', 'victim']      # no temporary file left


def test_describe_says_a_count_that_stands_still():
    rec = {'unit': 'files', 'done': 5, 'elapsed': 400, 'rate': 0.0125, 'recent_rate': 0.0, 'stage': 'scanning /a'}
    assert pr.describe(rec, stalled=30) == 'scanning /a, 5 files in 6m40s, 0.0 files/s'
    assert pr.describe(rec, stalled=125) == 'scanning /a, 5 files in 6m40s, 0.0 files/s, no new count for 2m05s'


@pytest.mark.parametrize('text', ['', '{', '[]', '{"version": 99, "done": 1}', 'null'])
def test_read_record_refuses_what_is_not_a_record(text):
    assert pr.read_record(text) is None


def test_durations_in_words():
    assert [pr.duration_text(s) for s in (0, 59.4, 60, 3599, 3600, 86399, 90000)] == \
        ['0s', '59s', '1m00s', '59m59s', '1h00m', '23h59m', '1d01h']


def test_from_params_takes_the_interval_and_refuses_nonsense(tmp_path):
    p = pr.from_params({'progress_file': None, 'progress_interval': 0.5}, 'se_dump', 'files')
    assert p.interval == 0.5 and p.path is None
    assert pr.from_params({'progress_interval': -1}, 'x', 'files').interval == pr.INTERVAL
    assert pr.from_params({'progress_interval': float('nan')}, 'x', 'files').interval == pr.INTERVAL
    assert pr.from_params({'progress_interval': 1e9}, 'x', 'files').interval == 3600.0


def test_ticker_polls_while_the_block_runs(tmp_path):
    p = pr.Progress(str(tmp_path / 'p.json'), 'x', 'paths', interval=0.01)
    polls = []
    with pr.Ticker(p, lambda: polls.append(1)):
        deadline = time.time() + 60         # a guard against a hang, not a measurement
        while not polls and time.time() < deadline:
            time.sleep(0.01)
    assert polls
    n = len(polls)
    time.sleep(0.05)
    assert len(polls) == n                  # stopped with the block


def test_ticker_without_a_record_starts_no_thread():
    p = pr.Progress(None, 'x', 'paths', interval=0.01)
    with pr.Ticker(p, lambda: pytest.fail('polled')) as t:
        assert t.thread is None


# ------------------------------------------------------------------------------------------------
# se_dump: the count while the scan runs, in the parent and in worker processes

def make_tree(root, ndirs, nfiles):
    (root.parent / 'dest').mkdir(exist_ok=True)
    for d in range(ndirs):
        sub = root / ('d%03d' % d)
        sub.mkdir(parents=True)
        for f in range(nfiles):
            (sub / ('f%03d' % f)).write_bytes(b'')


def test_posix_workers_count_into_the_record_while_the_scan_runs(tmp_path, monkeypatch):
    """One worker waits until the parent's record shows the other workers' files (it would wait forever if the
    workers' counts reached the parent only at the end); then the scan ends."""
    root = tmp_path / 'root'
    make_tree(root, 40, 25)
    record = tmp_path / 'progress.json'
    seen = tmp_path / 'seen.json'
    walk = posix._walk

    def waiting_walk(sink, root_idx, top, *args, **kwargs):
        # in a worker process (whose sink counts into the parent's shared counter); the parent lists the root only,
        # which holds no file, so every file the record counts comes from the workers
        if top.endswith('/d039') and isinstance(sink.progress, posix._CountToParent):
            deadline = time.time() + 120                            # a guard against a hang, not a measurement
            while time.time() < deadline:
                rec = pr.read_record(record.read_text())
                if rec and rec['done'] > 0 and not rec['finished']:
                    seen.write_text(json.dumps(rec))
                    break
                time.sleep(0.01)
        return walk(sink, root_idx, top, *args, **kwargs)

    monkeypatch.setattr(posix, '_walk', waiting_walk)
    res = se_dump.run({'roots': [str(root)], 'dest': str(tmp_path / 'dest'), 'workers': 2,
                       'progress_file': str(record), 'progress_interval': 0.01})
    mid = json.loads(seen.read_text())
    assert 0 < mid['done'] < 1000 and mid['stage'] == 'scanning %s' % root
    end = load(record)
    assert end['finished'] is True and end['done'] == 1000
    assert res['files'] == 1000 and res['rate']['done'] == 1000 and res['rate']['unit'] == 'files'


def test_se_dump_estimates_from_the_last_dump_and_counts_what_it_leaves_out(tmp_path):
    root = tmp_path / 'root'
    make_tree(root, 3, 10)
    (root / 'd000' / 'skip.tmp').write_bytes(b'')
    dest = tmp_path / 'dest'
    base = {'roots': [str(root)], 'dest': str(dest), 'workers': 1, 'ignore': [r'\.tmp$']}
    first = se_dump.run(dict(base, name='dump_1'))
    assert first['files'] == 30 and first['rate']['done'] == 31        # the ignored file was looked at too
    record = tmp_path / 'p.json'
    se_dump.run(dict(base, name='dump_%Y%m%d', latest_link='latest', progress_file=str(record)))
    rec = load(record)
    assert rec['total'] is None                     # no earlier dump of this name pattern: no estimate
    res = se_dump.run(dict(base, name='dump_%Y%m%d', latest_link='latest', progress_file=str(record)))
    rec = load(record)
    assert (rec['total'], rec['total_from']) == (30, 'the dump %s' % res['name'])
    assert rec['done'] == 31 and rec['finished'] is True


def test_se_dump_check_mode_counts_too(tmp_path):
    root = tmp_path / 'root'
    make_tree(root, 2, 5)
    record = tmp_path / 'p.json'
    res = se_dump.run({'roots': [str(root)], 'dest': str(tmp_path / 'dest'), 'progress_file': str(record)},
                      check_mode=True)
    assert res['rate']['done'] == 10 and load(record)['done'] == 10


def test_se_dump_with_an_unwritable_record_still_publishes(tmp_path):
    root = tmp_path / 'root'
    make_tree(root, 1, 3)
    res = se_dump.run({'roots': [str(root)], 'dest': str(tmp_path / 'dest'),
                       'progress_file': str(tmp_path / 'no' / 'p.json')})
    assert res['published'] is True and res['files'] == 3
    assert any('progress record' in w for w in res['warnings'])


# ------------------------------------------------------------------------------------------------
# consistency_check: paths read, stage by stage, the total estimated from the input sizes

def test_consistency_check_counts_paths_stage_by_stage(tmp_path, monkeypatch):
    pytest.importorskip('duckdb')
    from ansible_collections.vapor.ops.plugins.module_utils._consistency import run as cc_run
    from ansible_collections.vapor.ops.plugins.module_utils._dump.writer import DumpWriter

    def dump(name, paths):
        path = str(tmp_path / name)
        with open(path, 'wb') as raw:
            w = DumpWriter(raw, 'text', recorded='2026-11-20T12:00:00Z')
            for i, p in enumerate(paths):
                w.add(p, 100 + i, 1700000000, None)
            w.close()
        return path

    common = ['/store/f%04d.root' % i for i in range(300)]
    b = dump('catalog_20261120_000000', common + ['/store/lost.root'])
    s = dump('dump_20261120_120000', common + ['/store/dark%d.root' % i for i in range(3)])
    a = dump('catalog_20261121_000000', common + ['/store/lost.root', '/store/new.root'])
    written = []
    monkeypatch.setattr(pr.Progress, '_write', lambda self, record: written.append(record))
    res = cc_run.run({'catalog_before': b, 'storage_dump': s, 'catalog_after': a, 'output_dir': str(tmp_path / 'out'),
                      'temp_dir': str(tmp_path), 'min_age': '0', 'max_dark_fraction': 1.0, 'max_lost_fraction': 1.0,
                      'progress_file': str(tmp_path / 'p.json')}, now=1795222800)
    stages = [r['stage'] for r in written]
    for stage in ('looking at the inputs', 'preparing the inputs', 'reading the catalog_after',
                  'reading the storage_dump', 'reading the catalog_before', 'classifying', 'writing the lists'):
        assert stage in stages, stage
    # the storage dump is read once the catalog_after (302 paths) is: its stage starts at that count, with a
    # total estimated from the sizes of the three inputs (all the same per path here)
    at_storage = [r for r in written if r['stage'] == 'reading the storage_dump']
    assert at_storage[0]['done'] == 302 and not at_storage[0]['finished']
    assert at_storage[0]['total_from'] == 'the input sizes' and 880 <= at_storage[0]['total'] <= 930
    end = written[-1]
    assert end['finished'] is True and end['done'] == 302 + 303 + 301 == res['rate']['done']
    assert res['rate']['unit'] == 'paths' and end['unit'] == 'paths'
    assert [r['done'] for r in written] == sorted(r['done'] for r in written)     # never counts backwards
