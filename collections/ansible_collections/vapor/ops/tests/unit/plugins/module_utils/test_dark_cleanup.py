# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The dark data cleanup core on a file:// storage (gfal2's file plugin) and an SQLite catalog.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import threading
import time

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import schema as cat_schema
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import dark as dc
from ansible_collections.vapor.ops.plugins.module_utils._cleanup import ratelimit
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.files import file_sha256
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.journal import Journal
from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import Storage

NOW = int(time.time())
OLD = NOW - 60 * 86400
SE = 'se.example.org'
TOP = '/dpm/example.org/home/vo'
HEAD = 'root://se.example.org:1094/'


class World:
    """A storage directory reached through file:// and an SQLite catalog of the same storage element."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.root = tmp_path / 'storage'
        self.root.mkdir()
        self.db = str(tmp_path / 'catalog.db')
        cat_schema.create_sqlite_catalog(self.db)
        self.url = 'file://' + str(self.root)
        self.register('/catalogued/anchor')          # the storage element has replicas in the catalog
        self.put('/catalogued/anchor')               # ... and the storage shows them (it can see)

    def put(self, rel, mtime=OLD, data=b'x'):
        p = self.root / rel.lstrip('/')
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(str(p), (mtime, mtime))
        return p

    def register(self, rel, status='-', se=SE):
        with cat_access.open_catalog({'backend': 'sqlite', 'path': self.db}) as c:
            c.register_file('/grid/vo' + rel, 1, OLD, None, [(se, HEAD + TOP + rel, status)])

    def write_list(self, paths, name='confirmed_dark.list'):
        lst = self.tmp / name
        lst.write_text(''.join(p + '\n' for p in paths))
        return str(lst)

    def params(self, dark, **kw):
        p = {'dark': dark, 'catalog': {'backend': 'sqlite', 'path': self.db}, 'se': SE, 'strip_prefix': TOP,
             'storage_url': self.url, 'concurrency': 1}
        p.update(kw)
        return p

    def listing(self, root=None):
        root = str(root or self.root)
        out = []
        for d, dirs, files in os.walk(root):
            for name in dirs + files:
                full = os.path.join(d, name)
                out.append(('/' + os.path.relpath(full, root), os.path.isdir(full)))
        return sorted(out)


@pytest.fixture
def world(tmp_path):
    pytest.importorskip('gfal2')
    return World(tmp_path)


class CountingStorage(Storage):
    """The real gfal2 Storage, counting the deletions and renames it is asked for."""

    def __init__(self, *a, **kw):
        super(CountingStorage, self).__init__(*a, **kw)
        self.unlinked = []
        self.renamed = []
        self._lock = threading.Lock()

    def unlink(self, url):
        with self._lock:
            self.unlinked.append(url)
        return super(CountingStorage, self).unlink(url)

    def rename(self, src, dst, make_parents=True):
        with self._lock:
            self.renamed.append((src, dst))
        return super(CountingStorage, self).rename(src, dst, make_parents)


def scene(world):
    """Files of every kind; returns the list (in order) and the paths that must be deleted."""
    for rel in ('/data/dark1', '/data/dark2', '/mc/dark3', '/data/good', '/data/pending', '/data/deleting',
                '/user/keep.root', '/data/notlisted', '/data/good2'):
        world.put(rel)
    world.put('/data/young', mtime=NOW - 60)
    (world.root / 'data' / 'adir').mkdir()
    world.put('/odd')                                  # a file where a directory should be: stat fails ENOTDIR
    world.register('/data/good')
    world.register('/data/pending', status='P')       # any status protects a file
    world.register('/data/deleting', status='D')
    world.register('/data/good2')
    paths = ['/data/dark1', '/data/good', '/data/pending', '/data/deleting', '/data/young', '/user/keep.root',
             '/data/adir', '/data/never', '/odd/x', '/data/dark2', '/mc/dark3', '/data/dark1']
    return world.write_list(paths), ['/data/dark1', '/data/dark2', '/mc/dark3']


KEPT = [('/data/good', 'in_catalog'), ('/data/pending', 'in_catalog'), ('/data/deleting', 'in_catalog'),
        ('/data/young', 'too_young'), ('/user/keep.root', 'ignored'), ('/data/adir', 'not_a_file'),
        ('/odd/x', 'error')]


def test_check_real_again(world):
    dark, expected = scene(world)
    before = world.listing()
    params = world.params(dark, ignore=['^/user/'])

    check = dc.run_dark_cleanup(params, check_mode=True)
    assert world.listing() == before, 'check mode touched the storage'
    assert check['journal'] is None and not os.path.exists(dark + '.dark_data_cleanup.journal')
    assert check['changed'] and check['deleted'] == expected
    assert [(k['path'], k['reason']) for k in check['kept']] == KEPT
    assert check['already_gone'] == ['/data/never']

    storage = CountingStorage()
    real = dc.run_dark_cleanup(params, storage=storage)
    assert real['changed'] and real['deleted'] == expected
    assert [(k['path'], k['reason']) for k in real['kept']] == KEPT
    assert 'Not a directory' in real['kept'][-1]['detail']
    assert 'replica ' + HEAD + TOP + '/data/pending (status P)' == real['kept'][1]['detail']
    c = real['counts']
    assert (c['listed'], c['deleted'], c['already_gone'], c['in_catalog'], c['too_young'], c['ignored'],
            c['not_a_file'], c['error'], c['remaining'], c['already_done']) == (11, 3, 1, 3, 1, 1, 1, 1, 0, 0)
    assert real['diff']['before'] == ''.join(p + '\n' for p in expected) and real['diff']['after'] == ''
    assert world.listing() == [e for e in before if e[0] not in expected]
    assert sorted(storage.unlinked) == sorted(world.url + p for p in expected)
    assert real['journal'] == dark + '.dark_data_cleanup.journal'

    again = dc.run_dark_cleanup(params, storage=storage)
    assert not again['changed'] and again['deleted'] == []
    assert again['counts']['already_done'] == 4            # three deleted, one already gone
    assert len(storage.unlinked) == 3
    assert world.listing() == [e for e in before if e[0] not in expected]


def test_registered_after_the_list_was_made_is_kept(world):
    world.put('/data/late')
    dark = world.write_list(['/data/late'])
    world.register('/data/late')                       # the race: a transfer registered it meanwhile
    r = dc.run_dark_cleanup(world.params(dark, min_age=0))
    assert not r['changed'] and r['kept'][0]['reason'] == 'in_catalog'
    assert (world.root / 'data' / 'late').exists()


def test_min_age_zero_and_mtime_of_the_stat(world):
    world.put('/data/new', mtime=NOW - 5)
    dark = world.write_list(['/data/new'])
    assert dc.run_dark_cleanup(world.params(dark), check_mode=True)['kept'][0]['reason'] == 'too_young'
    assert dc.run_dark_cleanup(world.params(dark, min_age='1h'), check_mode=True)['kept'][0]['reason'] == 'too_young'
    assert dc.run_dark_cleanup(world.params(dark, min_age='2s', journal=str(world.tmp / 'j')))['deleted'] == \
        ['/data/new']


def test_compressed_cms_list(world):
    import gzip
    world.put('/data/a|b')          # not in a cms list (| is the separator) - only the path column is read
    world.put('/data/c')
    lst = world.tmp / 'confirmed_dark.list.gz'
    with gzip.open(str(lst), 'wb') as f:
        f.write(b'/data/c|1|1700000000|00000001\n')
    r = dc.run_dark_cleanup(world.params(str(lst)))
    assert r['deleted'] == ['/data/c']


def test_max_files_leaves_the_rest_for_the_next_run(world):
    names = ['/d/f%02d' % i for i in range(7)]
    for n in names:
        world.put(n)
    world.register('/d/f01')
    dark = world.write_list(names)
    r1 = dc.run_dark_cleanup(world.params(dark, max_files=3))
    assert r1['deleted'] == ['/d/f00', '/d/f02', '/d/f03']
    assert r1['kept'] == [{'path': '/d/f01', 'reason': 'in_catalog',
                           'detail': 'replica %s%s/d/f01 (status -)' % (HEAD, TOP)}]
    assert r1['remaining'] == 3 and r1['remaining_paths'] == ['/d/f04', '/d/f05', '/d/f06']
    r2 = dc.run_dark_cleanup(world.params(dark, max_files=3))
    assert r2['deleted'] == ['/d/f04', '/d/f05', '/d/f06'] and r2['remaining'] == 0
    assert r2['counts']['already_done'] == 3 and r2['counts']['in_catalog'] == 1
    r3 = dc.run_dark_cleanup(world.params(dark, max_files=3))
    assert not r3['changed'] and r3['counts']['already_done'] == 6


def test_concurrency_threads_each_with_their_own_catalog(world):
    names = ['/c/f%03d' % i for i in range(40)]
    for n in names:
        world.put(n)
    for n in names[::10]:
        world.register(n)
    dark = world.write_list(names)
    storage = CountingStorage()
    r = dc.run_dark_cleanup(world.params(dark, concurrency=4), storage=storage)
    expected = [n for n in names if n not in names[::10]]
    assert r['deleted'] == expected                      # reported in list order whatever the threads did
    assert sorted(storage.unlinked) == sorted(world.url + n for n in expected)
    assert sorted(os.listdir(str(world.root / 'c'))) == sorted(n.rsplit('/', 1)[1] for n in names[::10])


def test_quarantine_on_file_storage(world):
    for rel in ('/data/q1', '/data/sub/q2', '/data/kept'):
        world.put(rel)
    world.register('/data/kept')
    qdir = world.tmp / 'quarantine'
    dark = world.write_list(['/data/q1', '/data/sub/q2', '/data/kept'])
    params = world.params(dark, quarantine=str(qdir))

    check = dc.run_dark_cleanup(params, check_mode=True)
    assert check['quarantined'] == [{'path': '/data/q1', 'url': 'file://%s/data/q1' % qdir},
                                    {'path': '/data/sub/q2', 'url': 'file://%s/data/sub/q2' % qdir}]
    assert not qdir.exists()

    storage = CountingStorage()
    r = dc.run_dark_cleanup(params, storage=storage)
    assert r['changed'] and r['deleted'] == [] and [q['path'] for q in r['quarantined']] == ['/data/q1', '/data/sub/q2']
    assert storage.unlinked == []
    assert (qdir / 'data' / 'q1').read_bytes() == b'x' and (qdir / 'data' / 'sub' / 'q2').exists()
    assert not (world.root / 'data' / 'q1').exists() and (world.root / 'data' / 'kept').exists()
    assert r['diff']['after'] == 'file://%s/data/q1\nfile://%s/data/sub/q2\n' % (qdir, qdir)
    assert r['quarantine'] == 'file://%s' % qdir
    assert not dc.run_dark_cleanup(params)['changed']


def test_quarantine_never_overwrites(world):
    world.put('/data/q1', data=b'new')
    qdir = world.tmp / 'quarantine'
    (qdir / 'data').mkdir(parents=True)
    (qdir / 'data' / 'q1').write_bytes(b'quarantined earlier')
    dark = world.write_list(['/data/q1'])
    r = dc.run_dark_cleanup(world.params(dark, quarantine='file://%s' % qdir))
    assert not r['changed'] and r['kept'][0]['reason'] == 'error'
    assert 'already holds' in r['kept'][0]['detail']
    assert (qdir / 'data' / 'q1').read_bytes() == b'quarantined earlier'
    assert (world.root / 'data' / 'q1').read_bytes() == b'new'


def test_quarantine_prefix_forms():
    assert dc.quarantine_prefix('root://se:1094//data/vo', '/quarantine/vo') == (
        'root://se:1094//quarantine/vo', ['quarantine', 'vo'])
    assert dc.quarantine_prefix('file:///srv/data', '/srv/q/') == ('file:///srv/q', ['srv', 'q'])
    assert dc.quarantine_prefix('davs://se:443/vo', 'davs://SE:443/q')[0] == 'davs://SE:443/q'
    with pytest.raises(VaporError, match='not on the endpoint of the storage URL'):
        dc.quarantine_prefix('root://se:1094//data', 'root://other:1094//q')
    with pytest.raises(VaporError, match='not on the endpoint of the storage URL'):
        dc.quarantine_prefix('root://se:1094//data', 'file:///q')
    with pytest.raises(VaporError, match='holds the storage URL'):
        dc.quarantine_prefix('root://se:1094//data/vo', '/data')
    with pytest.raises(VaporError, match='neither a URL nor an absolute path'):
        dc.quarantine_prefix('root://se:1094//data/vo', 'q')


def test_paths_inside_the_quarantine_are_ignored(world):
    world.put('/q/old/f')
    dark = world.write_list(['/q/old/f'])
    r = dc.run_dark_cleanup(world.params(dark, quarantine=str(world.root / 'q')))
    assert r['kept'] == [{'path': '/q/old/f', 'reason': 'ignored', 'detail': 'inside the quarantine'}]


class NoRename(Storage):
    """gfal2 answers every rename with EPROTONOSUPPORT, as a protocol plugin without rename does."""

    def _call(self, what, url, fn, *args):
        if what == 'rename':
            import errno
            import gfal2
            raise gfal2.GError('Protocol not supported', errno.EPROTONOSUPPORT)
        return super(NoRename, self)._call(what, url, fn, *args)


def test_quarantine_where_the_protocol_cannot_rename_fails(world):
    world.put('/data/a')
    world.put('/data/b')
    dark = world.write_list(['/data/a', '/data/b'])
    with pytest.raises(VaporError, match='cannot rename, so files cannot be quarantined') as info:
        dc.run_dark_cleanup(world.params(dark, quarantine='/q'), storage=NoRename())
    partial = info.value.context['result']
    assert partial['counts']['quarantined'] == 0 and partial['remaining'] == 2
    assert (world.root / 'data' / 'a').exists() and (world.root / 'data' / 'b').exists()


def test_storage_errors_abort_after_max_errors(world):
    world.put('/odd')
    world.put('/data/z')
    names = ['/odd/e%d' % i for i in range(5)] + ['/data/z']
    dark = world.write_list(names)
    r = dc.run_dark_cleanup(world.params(dark, max_errors=2))
    assert r['aborted'].startswith('The dark data cleanup stopped after 3 storage errors (more than max_errors=2)')
    assert r['counts']['error'] == 3 and r['remaining'] == 3 and not r['changed']
    assert (world.root / 'data' / 'z').exists()


class FailingUnlink(Storage):
    def __init__(self, fail):
        super(FailingUnlink, self).__init__()
        self.fail = fail

    def unlink(self, url):
        if url.endswith(self.fail):
            raise VaporError("The storage cannot delete '%s': Permission denied." % url)
        return super(FailingUnlink, self).unlink(url)


def test_failed_deletion_is_journalled_and_retried(world):
    world.put('/data/a')
    world.put('/data/b')
    dark = world.write_list(['/data/a', '/data/b'])
    r = dc.run_dark_cleanup(world.params(dark), storage=FailingUnlink('/data/a'))
    assert r['deleted'] == ['/data/b'] and r['kept'][0]['reason'] == 'error'
    assert 'Permission denied' in r['kept'][0]['detail']
    recs = [json.loads(line) for line in open(r['journal'])][1:]
    assert [(x['item'], x['state'], x.get('outcome')) for x in recs] == [
        ('/data/a', 'started', None), ('/data/a', 'done', 'error'), ('/data/b', 'started', None),
        ('/data/b', 'done', 'deleted')]
    again = dc.run_dark_cleanup(world.params(dark))
    assert again['deleted'] == ['/data/a'] and again['counts']['already_done'] == 1


def journal_key(world, dark, quarantine=None):
    return {'kind': 'dark_data_cleanup', 'dark': dark, 'sha256': file_sha256(dark, 'The dark list'),
            'storage_url': world.url, 'quarantine': quarantine}


def test_items_in_doubt_are_settled_or_checked_again(world):
    """A journal left by a killed run: every kind of item in doubt."""
    for rel in ('/d/deleted_by_earlier', '/d/still_there', '/d/now_catalogued', '/d/done'):
        world.put(rel)
    dark = world.write_list(['/d/deleted_by_earlier', '/d/still_there', '/d/now_catalogued', '/d/done',
                             '/d/untouched_gone'])
    jpath = dark + '.dark_data_cleanup.journal'
    with Journal(jpath, journal_key(world, dark)) as j:
        j.start('/d/deleted_by_earlier', action='delete')
        j.start('/d/still_there', action='delete')
        j.start('/d/now_catalogued', action='delete')
        j.start('/d/done', action='delete')
        j.finish('/d/done', 'deleted')
    os.unlink(str(world.root / 'd' / 'deleted_by_earlier'))   # the earlier run deleted it, then was killed
    world.register('/d/now_catalogued')

    check = dc.run_dark_cleanup(world.params(dark), check_mode=True)
    assert check['resolved'] == [{'path': '/d/deleted_by_earlier', 'outcome': 'deleted'}]
    assert check['deleted'] == ['/d/still_there']

    storage = CountingStorage()
    r = dc.run_dark_cleanup(world.params(dark), storage=storage)
    assert r['resolved'] == [{'path': '/d/deleted_by_earlier', 'outcome': 'deleted'}]
    assert r['deleted'] == ['/d/still_there'] and r['already_gone'] == ['/d/untouched_gone']
    assert r['kept'] == [{'path': '/d/now_catalogued', 'reason': 'in_catalog',
                          'detail': 'replica %s%s/d/now_catalogued (status -)' % (HEAD, TOP)}]
    assert r['counts']['already_done'] == 1
    assert storage.unlinked == [world.url + '/d/still_there']     # /d/done is never looked at again
    assert (world.root / 'd' / 'done').exists()
    with Journal(jpath, journal_key(world, dark), readonly=True) as j:
        assert j.in_doubt() == []
        assert j.outcome('/d/deleted_by_earlier') == 'deleted' and j.outcome('/d/now_catalogued') == 'in_catalog'


def test_quarantine_in_doubt_is_settled_from_the_quarantine(world):
    world.put('/d/moved')
    qdir = world.tmp / 'q'
    dark = world.write_list(['/d/moved'])
    qurl = 'file://%s' % qdir
    with Journal(dark + '.dark_data_cleanup.journal', journal_key(world, dark, qurl)) as j:
        j.start('/d/moved', action='quarantine', dest=qurl + '/d/moved')
    (qdir / 'd').mkdir(parents=True)
    os.rename(str(world.root / 'd' / 'moved'), str(qdir / 'd' / 'moved'))
    r = dc.run_dark_cleanup(world.params(dark, quarantine=str(qdir)))
    assert r['resolved'] == [{'path': '/d/moved', 'outcome': 'quarantined'}] and not r['changed']


def test_guards_refuse_before_deleting_anything(world):
    world.put('/data/a')
    dark = world.write_list(['/data/a'])
    with pytest.raises(VaporError, match="holds no replica on the storage element selected by host 'typo.example.org'"):
        dc.run_dark_cleanup(world.params(dark, se='typo.example.org'))
    with pytest.raises(VaporError, match="is under strip_prefix '/dpm/example.org/home/VO'"):
        dc.run_dark_cleanup(world.params(dark, strip_prefix='/dpm/example.org/home/VO'))
    for bad in ('/data/../../etc/passwd', 'data/a', '/data//a', '/data/a/', '/data/./a'):
        lst = world.write_list(['/data/a', bad], name='bad.list')
        with pytest.raises(VaporError, match='is not a normalised absolute file path'):
            dc.run_dark_cleanup(world.params(lst))
    with pytest.raises(VaporError, match="does not start with add_prefix '/vo'"):
        dc.run_dark_cleanup(world.params(dark, add_prefix='/vo'))
    trunc = world.tmp / 'trunc.list'
    trunc.write_text('/data/a\n/data/b')
    with pytest.raises(VaporError, match='is truncated'):
        dc.run_dark_cleanup(world.params(str(trunc)))
    with pytest.raises(VaporError, match='does not exist or is not a file'):
        dc.run_dark_cleanup(world.params(str(world.tmp / 'nope.list')))
    with pytest.raises(VaporError, match='The option rate is -1'):
        dc.run_dark_cleanup(world.params(dark, rate=-1))
    with pytest.raises(VaporError, match='The option concurrency is 0; it must be between 1 and 64'):
        dc.run_dark_cleanup(world.params(dark, concurrency=0))
    with pytest.raises(VaporError, match="The storage URL '/srv' is not a URL"):
        dc.run_dark_cleanup(world.params(dark, storage_url='/srv'))
    assert (world.root / 'data' / 'a').exists()
    assert not os.path.exists(dark + '.dark_data_cleanup.journal')


def test_journal_of_another_list_is_refused(world):
    world.put('/data/a')
    dark = world.write_list(['/data/a'])
    jpath = str(world.tmp / 'j')
    dc.run_dark_cleanup(world.params(dark, journal=jpath, min_age=0))
    world.write_list(['/data/a', '/data/b'])
    with pytest.raises(VaporError, match='belongs to another run'):
        dc.run_dark_cleanup(world.params(dark, journal=jpath))
    dark2 = world.write_list(['/data/a'])
    with pytest.raises(VaporError, match='belongs to another run'):
        dc.run_dark_cleanup(world.params(dark2, journal=jpath, quarantine=str(world.tmp / 'quarantine')))


def test_sfn_prefix_selection(world):
    world.put('/data/a')
    world.put('/data/b')
    world.register('/data/b')
    dark = world.write_list(['/data/a', '/data/b'])
    r = dc.run_dark_cleanup(world.params(dark, se=None, sfn_prefix=HEAD + TOP + '/'))
    assert r['deleted'] == ['/data/a'] and r['kept'][0]['reason'] == 'in_catalog'


# ------------------------------------------------------------------------------------------------
# rate limit: the schedule, not the wall clock


class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, d):
        self.sleeps.append(round(d, 6))
        self.t += d


def test_rate_limiter_schedule():
    clock = FakeClock()
    lim = ratelimit.RateLimiter(4, clock=clock, sleep=clock.sleep)
    assert [round(lim.reserve(), 6) for i in range(5)] == [0, 0.25, 0.5, 0.75, 1.0]   # a burst is spread out
    clock.t += 10                                                                       # idle: no debt carried
    assert lim.reserve() == 0
    clock2 = FakeClock()
    lim2 = ratelimit.RateLimiter(2, clock=clock2, sleep=clock2.sleep)
    starts = []
    for i in range(4):
        lim2.wait()
        starts.append(clock2.t - 100)
    assert starts == [0, 0.5, 1.0, 1.5] and clock2.sleeps == [0.5, 0.5, 0.5]
    assert ratelimit.RateLimiter(0).reserve() == 0


def test_rate_is_applied_per_file_that_reaches_the_storage(world):
    names = ['/r/f%d' % i for i in range(5)]
    for n in names:
        world.put(n)
    world.register('/r/f0')                 # no storage call for a catalogued file: no slot used
    dark = world.write_list(names)
    clock = FakeClock()
    lim = ratelimit.RateLimiter(10, clock=clock, sleep=clock.sleep)
    r = dc.run_dark_cleanup(world.params(dark, rate=10), limiter=lim)
    assert r['deleted'] == names[1:]
    assert clock.sleeps == [0.1, 0.1, 0.1]


def test_empty_list_is_no_change_without_asking_anything(world):
    dark = world.write_list([])
    r = dc.run_dark_cleanup(world.params(dark, se='no-replica.example.org'))
    assert not r['changed'] and r['counts']['listed'] == 0 and r['journal'] is None


# ------------------------------------------------------------------------------------------------
# issue 8: file:// natively, never through a symbolic link

def test_local_storage_never_acts_through_a_link(tmp_path):
    from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import LocalStorage, ThroughSymlink
    root, outside = tmp_path / 'root', tmp_path / 'outside'
    (root / 'd').mkdir(parents=True)
    outside.mkdir()
    (outside / 'precious').write_text('p')
    (root / 'd' / 'f').write_text('f')
    os.symlink(str(outside), str(root / 'link'))
    os.symlink(str(outside / 'precious'), str(root / 'd' / 'alias'))
    (root / 'plain').write_text('not a directory')
    s = LocalStorage([str(root), str(tmp_path / 'q')])
    url = 'file://' + str(root)
    with pytest.raises(ThroughSymlink, match=r"goes through the symbolic link '.*/root/link'"):
        s.stat(url + '/link/precious')
    with pytest.raises(ThroughSymlink):
        s.unlink(url + '/link/precious')
    with pytest.raises(ThroughSymlink):
        s.rename(url + '/link/precious', 'file://' + str(tmp_path / 'q') + '/precious')
    st = s.stat(url + '/d/alias')
    assert st.exists and st.is_link and not st.is_dir
    with pytest.raises(VaporError, match='is not a regular file \\(a symbolic link\\)'):
        s.unlink(url + '/d/alias')
    with pytest.raises(VaporError, match='Not a directory'):
        s.stat(url + '/plain/x')
    assert s.stat(url + '/d/none') == (False, None, None, False, False)
    assert s.stat(url).is_dir
    assert s.rename(url + '/d/f', 'file://' + str(tmp_path / 'q') + '/d/f') == 'renamed'
    assert (tmp_path / 'q' / 'd' / 'f').read_text() == 'f'
    assert s.unlink(url + '/d/f') == 'missing'
    assert (outside / 'precious').read_text() == 'p' and os.path.islink(str(root / 'd' / 'alias'))
    with pytest.raises(VaporError, match='not under the storage or quarantine root'):
        s.stat('file:///etc/passwd')
