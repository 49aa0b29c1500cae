# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sqlite3

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import cleanup as cat_cleanup
from ansible_collections.vapor.ops.plugins.module_utils._catalog import dump as cat_dump
from ansible_collections.vapor.ops.plugins.module_utils._catalog import entries as cat_entries
from ansible_collections.vapor.ops.plugins.module_utils._catalog import schema as cat_schema
from ansible_collections.vapor.ops.plugins.module_utils._catalog import sfn as cat_sfn
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import companion_path
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump

NOW = 1800000000          # 2027-01-15 08:00 UTC
OLD = NOW - 40 * 86400
ALICE = '/DC=org/DC=example/OU=people/CN=Alice'
BOB = '/DC=org/DC=example/OU=people/CN=Bob'
SE = 'se.example.org'
SRM = 'srm://se.example.org:8446/srm/managerv2?SFN='


# ------------------------------------------------------------------------------------------------
# SFN parsing and mapping

@pytest.mark.parametrize('sfn, expected', [
    (SRM + '/dpm/example.org/home/vo/a/f', ('srm', SE, 8446, '/dpm/example.org/home/vo/a/f', SRM)),
    ('srm://se.example.org/dpm/example.org/home/vo/f',
     ('srm', SE, None, '/dpm/example.org/home/vo/f', 'srm://se.example.org')),
    ('root://se.example.org:1094//store/mc/f.root', ('root', SE, 1094, '/store/mc/f.root',
                                                     'root://se.example.org:1094/')),
    ('xroot://se.example.org//store/f', ('xroot', SE, None, '/store/f', 'xroot://se.example.org/')),
    ('davs://se.example.org:443/vo/f', ('davs', SE, 443, '/vo/f', 'davs://se.example.org:443')),
    ('https://se.example.org/vo/f', ('https', SE, None, '/vo/f', 'https://se.example.org')),
    ('gsiftp://se.example.org:2811/data/f', ('gsiftp', SE, 2811, '/data/f', 'gsiftp://se.example.org:2811')),
    ('file:///srv/storage/f', ('file', '', None, '/srv/storage/f', 'file://')),
    ('disk01.example.org:/srv/fs01/vo/2024-01-01/f.1', (None, 'disk01.example.org', None,
                                                        '/srv/fs01/vo/2024-01-01/f.1', 'disk01.example.org:')),
    ('root://[2001:db8::1]:1094//store/f', ('root', '2001:db8::1', 1094, '/store/f', 'root://[2001:db8::1]:1094/')),
    ('https://user@se.example.org/with space/f', ('https', SE, None, '/with space/f', 'https://user@se.example.org')),
])
def test_parse_sfn_forms(sfn, expected):
    parts = cat_sfn.parse_sfn(sfn)
    assert tuple(parts) == expected
    assert parts.head + parts.path == sfn


@pytest.mark.parametrize('sfn', ['', 'not a url', 'srm://se.example.org', 'srm://se/srm/managerv2?SFN=relative',
                                 'disk01:relative/path', b'\xff\xfe'.decode('latin-1')])
def test_parse_sfn_unknown_forms(sfn):
    assert cat_sfn.parse_sfn(sfn) is None


def test_parse_sfn_collapses_repeated_slashes_in_the_path():
    parts = cat_sfn.parse_sfn('root://h///store//a/./b')
    assert parts.path == '/store/a/b' and parts.head == 'root://h//'     # head + path: root://h///store/a/b


def test_mapping_strip_and_add():
    m = cat_sfn.SfnMapping(SE, '/dpm/example.org/home/vo', '/vo')
    assert m.dump_path(SRM + '/dpm/example.org/home/vo/a/f') == ('/vo/a/f', None)
    assert m.dump_path(SRM + '/dpm/example.org/home/other/f') == (None, 'outside')
    assert m.dump_path(SRM + '/dpm/example.org/home/vo') == (None, 'outside')
    assert m.dump_path('junk') == (None, 'unparsable')
    assert m.storage_path('/vo/a/f') == '/dpm/example.org/home/vo/a/f'
    assert m.storage_path('/other/a/f') is None
    assert m.storage_path('/vo') is None
    assert m.candidates('/vo/a//f', [SRM, 'root://se.example.org/']) == [
        SRM + '/dpm/example.org/home/vo/a/f', 'root://se.example.org//dpm/example.org/home/vo/a/f']


def test_mapping_sfn_prefix_gives_the_head():
    m = cat_sfn.SfnMapping(sfn_prefix='root://se.example.org:1094//store/')
    assert m.heads == ['root://se.example.org:1094/']
    assert m.candidates('/store/f', m.heads) == ['root://se.example.org:1094//store/f']
    assert cat_sfn.SfnMapping(sfn_prefix='srm://se.example.org').heads is None     # not known: learnt from the catalog
    with pytest.raises(VaporError, match='No storage element is selected'):
        cat_sfn.SfnMapping()


def test_mapping_roundtrip_for_every_form():
    for head in (SRM, 'srm://se.example.org', 'root://se.example.org:1094/', 'https://se.example.org',
                 'disk01.example.org:', 'file://'):
        m = cat_sfn.SfnMapping(SE, '/data', None)
        sfn = head + '/data/x/y.root'
        path, why = m.dump_path(sfn)
        assert (path, why) == ('/x/y.root', None)
        assert m.candidates(path, [head]) == [sfn]


def test_normalise_group():
    assert cat_schema.normalise_group('/dteam/Role=NULL/Capability=NULL') == 'dteam'
    assert cat_schema.normalise_group('/dteam/Role=lcgadmin/Capability=NULL') == 'dteam/Role=lcgadmin'
    assert cat_schema.normalise_group('atlas') == 'atlas'


# ------------------------------------------------------------------------------------------------
# the SQLite catalog

@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / 'catalog.db')
    assert cat_schema.create_sqlite_catalog(path) is True
    return path


@pytest.fixture
def catalog(db):
    c = cat_access.open_catalog({'backend': 'sqlite', 'path': db})
    yield c
    c.close()


def seed(c):
    """An LFC with two SEs; returns {lfn: fileid}."""
    ids = {}
    files = [
        ('/grid/vo/data/f1', 10, '0a1b2c3d', [(SE, SRM + '/dpm/example.org/home/vo/data/f1', '-')], ALICE),
        ('/grid/vo/data/f2', 20, None, [(SE, SRM + '/dpm/example.org/home/vo/data/f2', '-'),
                                        ('other.example.org', 'root://other.example.org//vo/data/f2', '-')], ALICE),
        ('/grid/vo/data/f3', 30, '00000003', [(SE, 'srm://se.example.org/dpm/example.org/home/vo/data/f3', 'P')], BOB),
        ('/grid/vo/mc/f4', 40, '00000004', [(SE, SRM + '/dpm/example.org/home/vo/mc/f4', 'D')], BOB),
        ('/grid/vo/mc/f5', 50, '00000005', [(SE, 'srm://se.example.org/dpm/example.org/home/elsewhere/f5', '-')],
         BOB),
        ('/grid/vo/mc/f6', 60, None, [('other.example.org', 'root://other.example.org//vo/mc/f6', '-')], ALICE),
    ]
    for lfn, size, csum, reps, owner in files:
        ids[lfn] = c.register_file(lfn, size, OLD, csum, reps, owner_dn=owner, group='vo')[0]
    return ids


def test_create_is_idempotent_and_has_root_and_version(db):
    assert cat_schema.create_sqlite_catalog(db) is False
    c = cat_access.open_catalog({'backend': 'sqlite', 'path': db})
    try:
        assert c.version == (3, 2, 0)
        root = c.root()
        assert root.parent_fileid == 0 and root.name == '/' and (root.filemode & cat_schema.S_IFMT) == cat_schema.S_IFDIR
        assert c.lookup('/').fileid == root.fileid
        assert c.path_of(root.fileid) == '/'
    finally:
        c.close()


def test_open_errors(tmp_path):
    with pytest.raises(VaporError, match="The SQLite catalog '.*nope.db' does not exist"):
        cat_access.open_catalog({'backend': 'sqlite', 'path': str(tmp_path / 'nope.db')})
    other = tmp_path / 'other.db'
    sqlite3.connect(str(other)).execute('CREATE TABLE x (a INTEGER)')
    with pytest.raises(VaporError, match='has no LFC/DPNS namespace'):
        cat_access.open_catalog({'backend': 'sqlite', 'path': str(other)})
    with pytest.raises(VaporError, match="backend 'oracle' is not supported"):
        cat_access.open_catalog({'backend': 'oracle'})


def test_identities(catalog):
    assert catalog.add_user(ALICE) == (101, True)
    assert catalog.add_user(ALICE) == (101, False)
    assert catalog.add_user(BOB) == (102, True)
    assert catalog.add_user('/CN=fixed', uid=500) == (500, True)
    assert catalog.add_user('/CN=next')[0] == 501
    assert catalog.uid_of(BOB) == 102 and catalog.dn_of(102) == BOB and catalog.uid_of('/CN=nobody') is None
    assert catalog.add_group('/vo/Role=NULL/Capability=NULL') == (101, True)
    assert catalog.add_group('vo') == (101, False)
    assert catalog.gid_of('/vo') == 101 and catalog.group_of(101) == 'vo'
    with pytest.raises(VaporError, match='holds a quote'):
        catalog.add_user("/CN=O'Brien")


def test_register_lookup_walk(catalog):
    ids = seed(catalog)
    e = catalog.lookup('/grid/vo/data/f1')
    assert e.fileid == ids['/grid/vo/data/f1'] and e.filesize == 10 and e.mtime == OLD
    assert cat_schema.checksum_of(e) == '0a1b2c3d' and e.csumtype == 'AD'
    assert catalog.dn_of(e.owner_uid) == ALICE and catalog.group_of(e.gid) == 'vo'
    assert catalog.lookup('/grid/vo/data/nope') is None and catalog.lookup('/grid/vo/data/f1/x') is None
    assert catalog.path_of(ids['/grid/vo/mc/f5']) == '/grid/vo/mc/f5'
    # parents' link counts are the number of entries in them
    assert catalog.lookup('/grid/vo/data').nlink == 3 and catalog.lookup('/grid/vo').nlink == 2
    # fileids come from Cns_unique_id
    top = catalog.one('SELECT id FROM Cns_unique_id')[0]
    assert top == max(r[0] for r in catalog.all('SELECT fileid FROM Cns_file_metadata'))
    walked = [p for p, _e in catalog.walk('/grid/vo')]
    assert sorted(walked) == ['/grid/vo/data', '/grid/vo/data/f1', '/grid/vo/data/f2', '/grid/vo/data/f3',
                              '/grid/vo/mc', '/grid/vo/mc/f4', '/grid/vo/mc/f5', '/grid/vo/mc/f6']
    assert sorted(p for p, _e in catalog.walk('/grid/vo', recursive=False)) == ['/grid/vo/data', '/grid/vo/mc']
    # registering again adds only missing replicas
    fid, changed = catalog.register_file('/grid/vo/data/f1', 10, OLD, '0a1b2c3d',
                                         [(SE, SRM + '/dpm/example.org/home/vo/data/f1', '-')], owner_dn=ALICE)
    assert (fid, changed) == (ids['/grid/vo/data/f1'], False)
    with pytest.raises(VaporError, match='is not a regular file'):
        catalog.register_file('/grid/vo/data', 1)
    with pytest.raises(VaporError, match='does not exist in the catalog'):
        list(catalog.walk('/grid/none'))


def test_symlinks_inside_a_path_are_followed(catalog):
    ids = seed(catalog)
    with catalog.transaction():
        parent = catalog.lookup('/grid')
        fid = catalog._insert_entry(parent.fileid, 'link', cat_schema.S_IFLNK | 0o777, 0, 0)
        catalog.execute('INSERT INTO Cns_symlinks (fileid, linkname) VALUES (%s, %s)', (fid, '/grid/vo/data'))
    assert catalog.lookup('/grid/link/f1').fileid == ids['/grid/vo/data/f1']
    assert (catalog.lookup('/grid/link').filemode & cat_schema.S_IFMT) == cat_schema.S_IFLNK
    assert catalog.lookup('/grid/link', follow=True).fileid == catalog.lookup('/grid/vo/data').fileid


def test_heads_and_replicas_for_path(catalog):
    ids = seed(catalog)
    m = cat_sfn.SfnMapping(SE, '/dpm/example.org/home/vo', None)
    assert catalog.learn_heads(m) == ['srm://se.example.org', SRM]
    reps = catalog.replicas_for_path('/data/f2', m)
    assert [(r.fileid, r.host, r.status) for r in reps] == [(ids['/grid/vo/data/f2'], SE, '-')]
    assert [r.status for r in catalog.replicas_for_path('/data/f3', m)] == ['P']     # any status
    assert catalog.replicas_for_path('/data/nope', m) == []
    assert catalog.replicas_for_path('/elsewhere/f5', m) == []                        # outside the prefix
    # the other SE's replica of f2 is not this SE's
    m2 = cat_sfn.SfnMapping('other.example.org', '/vo', None)
    assert [r.sfn for r in catalog.replicas_for_path('/data/f2', m2)] == ['root://other.example.org//vo/data/f2']


def test_replicas_for_path_uses_the_sfn_index(catalog):
    seed(catalog)
    m = cat_sfn.SfnMapping(SE, '/dpm/example.org/home/vo', None)
    heads = catalog.learn_heads(m)
    cands = m.candidates('/data/f1', heads)
    plan = catalog.all('EXPLAIN QUERY PLAN SELECT rowid FROM Cns_file_replica WHERE sfn IN (%s, %s) AND host = %s',
                       cands + [SE])
    text = ' '.join(str(r[-1]) for r in plan)
    assert 'USING INDEX' in text and 'SCAN Cns_file_replica' not in text, text


def test_remove_replica_and_orphan_entry(catalog):
    ids = seed(catalog)
    m = cat_sfn.SfnMapping(SE, '/dpm/example.org/home/vo', None)
    rep = catalog.replicas_for_path('/data/f2', m)[0]
    assert catalog.remove_replica(rep) == ('removed', False)            # the other SE's replica is left
    assert catalog.lookup('/grid/vo/data/f2') is not None
    assert catalog.remove_replica(rep) == ('gone', False)
    rep = catalog.replicas_for_path('/data/f1', m)[0]
    with catalog.transaction():
        catalog.execute('INSERT INTO Cns_user_metadata (u_fileid, comments) VALUES (%s, %s)', (rep.fileid, 'hello'))
    assert catalog.remove_replica(rep) == ('removed', True)
    assert catalog.lookup('/grid/vo/data/f1') is None
    assert catalog.one('SELECT COUNT(*) FROM Cns_user_metadata')[0] == 0
    assert catalog.lookup('/grid/vo/data').nlink == 2
    # a replica that is not available any more is left alone
    rep = catalog.replicas_for_path('/data/f3', m)[0]
    assert catalog.remove_replica(rep) == ('changed', False)
    assert catalog.remove_entry_if_orphan(ids['/grid/vo/data/f3']) is False


def test_a_failed_transaction_changes_nothing(catalog):
    seed(catalog)
    before = catalog.all('SELECT fileid, name, nlink FROM Cns_file_metadata ORDER BY fileid')
    with pytest.raises(RuntimeError):
        with catalog.transaction():
            catalog.register_file('/grid/vo/new/deep/file', 1, OLD)
            raise RuntimeError('boom')
    assert catalog.all('SELECT fileid, name, nlink FROM Cns_file_metadata ORDER BY fileid') == before


# ------------------------------------------------------------------------------------------------
# catalog_dump

def dump_params(db, dest, **kw):
    p = {'catalog': {'backend': 'sqlite', 'path': db}, 'se': SE, 'strip_prefix': '/dpm/example.org/home/vo',
         'dest': str(dest)}
    p.update(kw)
    return p


def test_catalog_dump(catalog, db, tmp_path):
    seed(catalog)
    dest = tmp_path / 'dumps'
    dest.mkdir()
    check = cat_dump.run_catalog_dump(dump_params(db, dest, format='cms', compression='gzip'), check_mode=True, now=NOW)
    assert check['changed'] and check['published'] and os.listdir(str(dest)) == []
    assert (check['replicas'], check['available'], check['inactive'], check['outside']) == (5, 2, 2, 1)

    r = cat_dump.run_catalog_dump(dump_params(db, dest, format='cms', compression='gzip'), now=NOW)
    assert r['name'] == 'catalog_20270115_080000.gz' and r['changed'] and r['published']
    assert (r['replicas'], r['available'], r['inactive'], r['outside'], r['bytes']) == (5, 2, 2, 1, 30)
    entries = sorted(read_dump(r['dump']))
    assert [(e.path, e.size, e.mtime, e.checksum) for e in entries] == [
        ('/data/f1', 10, OLD, '0a1b2c3d'), ('/data/f2', 20, OLD, None)]
    assert r['inactive_list'] == companion_path(r['dump']) and r['inactive_list'].endswith('.inactive.gz')
    assert sorted(e.path for e in read_dump(r['inactive_list'])) == ['/data/f3', '/mc/f4']
    assert sorted(os.listdir(str(dest))) == ['catalog_20270115_080000.gz', 'catalog_20270115_080000.inactive.gz']

    again = cat_dump.run_catalog_dump(dump_params(db, dest, format='cms', compression='gzip'), now=NOW + 60)
    assert not again['changed'] and not again['published'] and again['dump'] == r['dump']
    assert len(os.listdir(str(dest))) == 2
    forced = cat_dump.run_catalog_dump(dump_params(db, dest, format='cms', compression='gzip', force=True), now=NOW + 120)
    assert forced['published'] and forced['name'] == 'catalog_20270115_080200.gz'


def test_catalog_dump_empty_companion_keep_and_link(catalog, db, tmp_path):
    seed(catalog)
    dest = tmp_path / 'dumps'
    dest.mkdir()
    p = dump_params(db, dest, se='other.example.org', strip_prefix='/vo', keep=2, latest_link='latest',
                    format='syncat')
    names = []
    for i in range(3):
        catalog.register_file('/grid/vo/extra/f%d' % i, 1, OLD, None,
                              [('other.example.org', 'root://other.example.org//vo/extra/f%d' % i, '-')])
        r = cat_dump.run_catalog_dump(p, now=NOW + i * 3600)
        names.append(r['name'])
        assert r['inactive'] == 0 and list(read_dump(r['inactive_list'])) == []
    assert r['pruned'] == [names[0]]
    assert sorted(os.listdir(str(dest))) == sorted(
        ['latest'] + names[1:] + [n + '.inactive' for n in names[1:]])
    assert os.readlink(str(dest / 'latest')) == names[2]
    assert sorted(e.path for e in read_dump(r['dump'])) == [
        '/data/f2', '/extra/f0', '/extra/f1', '/extra/f2', '/mc/f6']


def test_catalog_dump_prunes_what_check_mode_said_this_run_counting_as_newest(catalog, db, tmp_path):
    # the pre-refactor rule (_catalog._prune): the dumps published before the run, with this run's dump counted as
    # the newest; a dump dated after the run (a host whose clock was ahead) is pruned beyond keep, and the real
    # run prunes exactly what its check mode said it would
    seed(catalog)
    dest = tmp_path / 'dumps'
    dest.mkdir()
    p = dump_params(db, dest, keep=1)
    ahead = cat_dump.run_catalog_dump(p, now=NOW + 86400)
    catalog.register_file('/grid/vo/data/f7', 70, OLD, None, [(SE, SRM + '/dpm/example.org/home/vo/data/f7', '-')])
    check = cat_dump.run_catalog_dump(p, check_mode=True, now=NOW)
    assert check['published'] and check['pruned'] == [ahead['name']]
    r = cat_dump.run_catalog_dump(p, now=NOW)
    assert r['published'] and r['pruned'] == check['pruned'] == [ahead['name']]
    assert r['diff']['after'] == check['diff']['after'] == {'dumps': [r['name']]}
    assert sorted(os.listdir(str(dest))) == [r['name'], r['name'] + '.inactive']


def test_catalog_dump_refuses_an_empty_selection(catalog, db, tmp_path):
    seed(catalog)
    dest = tmp_path / 'dumps'
    dest.mkdir()
    with pytest.raises(VaporError, match=r"0 available replicas for host 'typo.example.org'.*min_files=1"):
        cat_dump.run_catalog_dump(dump_params(db, dest, se='typo.example.org'), now=NOW)
    assert os.listdir(str(dest)) == []


def test_catalog_dump_by_sfn_prefix(catalog, db, tmp_path):
    seed(catalog)
    dest = tmp_path / 'dumps'
    dest.mkdir()
    r = cat_dump.run_catalog_dump(dump_params(db, dest, se=None, sfn_prefix=SRM + '/dpm/example.org/home/vo/',
                                              add_prefix='/vo'), now=NOW)
    assert sorted(e.path for e in read_dump(r['dump'])) == ['/vo/data/f1', '/vo/data/f2']
    # f3's SFN is the plain srm form with the default port (srm://se.example.org/dpm/...): the same place as the
    # prefix's ?SFN= form on port 8446, so it is selected too (issue 8: no spelling lets a replica escape)
    assert sorted(e.path for e in read_dump(r['inactive_list'])) == ['/vo/data/f3', '/vo/mc/f4']


# ------------------------------------------------------------------------------------------------
# catalog_entries_info

def test_entries_info_filters_and_summary(catalog, db):
    seed(catalog)
    catalog.register_file('/grid/vo/data/young', 5, NOW - 60, None, [(SE, SRM + '/x/young', '-')], owner_dn=ALICE)
    base = {'catalog': {'backend': 'sqlite', 'path': db}}
    r = cat_entries.entries_info(dict(base, path='/grid/vo', owners=[ALICE], min_age='30d'), now=NOW)
    assert [e['path'] for e in r['entries']] == ['/grid/vo/data/f1', '/grid/vo/data/f2', '/grid/vo/mc/f6']
    f2 = r['entries'][1]
    assert f2['owner'] == ALICE and f2['group'] == 'vo' and f2['size'] == 20 and f2['type'] == 'file'
    assert f2['permissions'] == '-rw-rw-r--'
    assert sorted(x['host'] for x in f2['replicas']) == ['other.example.org', SE]
    r = cat_entries.entries_info(dict(base, path='/grid/vo', owners=[ALICE]), now=NOW)
    assert '/grid/vo/data/young' in [e['path'] for e in r['entries']]
    r = cat_entries.entries_info(dict(base, path='/grid/vo', owners=['/CN=nobody']), now=NOW)
    assert r['entries'] == [] and r['unknown_owners'] == ['/CN=nobody']
    r = cat_entries.entries_info(dict(base, path='/grid', entry_type='directory'), now=NOW)
    assert [e['path'] for e in r['entries']] == ['/grid/vo', '/grid/vo/data', '/grid/vo/mc']
    r = cat_entries.entries_info(dict(base, path='/grid', limit=2), now=NOW)
    assert r['count'] == 2 and r['truncated']
    s = cat_entries.entries_info(dict(base, summary=True, se=SE), now=NOW)
    assert s['summary'] == [{'dn': BOB, 'uid': 102, 'files': 3, 'bytes': 120},
                            {'dn': ALICE, 'uid': 101, 'files': 3, 'bytes': 35}]
    assert (s['files'], s['bytes']) == (6, 155)
    s = cat_entries.entries_info(dict(base, summary=True, sfn_prefix='root://other.example.org/'), now=NOW)
    assert s['summary'] == [{'dn': ALICE, 'uid': 101, 'files': 2, 'bytes': 80}]


# ------------------------------------------------------------------------------------------------
# catalog_cleanup (storage re-check through gfal2's file plugin)

def snapshot(c):
    """Everything the cleanup may touch: entries (path, nlink) and replicas (sfn, host, status)."""
    entries = sorted((c.path_of(r[0]), r[1]) for r in c.all('SELECT fileid, nlink FROM Cns_file_metadata'))
    replicas = sorted((r[0], r[1], r[2]) for r in c.all('SELECT sfn, host, status FROM Cns_file_replica'))
    return entries, replicas


@pytest.fixture
def storage_dir(tmp_path):
    pytest.importorskip('gfal2')
    root = tmp_path / 'storage'
    (root / 'data').mkdir(parents=True)
    (root / 'data' / 'f2').write_bytes(b'x' * 20)          # f2 is on the storage: protected
    (root / 'mc').write_bytes(b'not a directory')           # anything under mc/ makes stat fail with ENOTDIR
    (root / 'data' / 'ok').write_bytes(b'ok')                # a good file: the storage shows what the catalog holds
    return root


def anchor(c):
    """A good file of the storage element, in the catalog and (storage_dir) on the storage: the run's proof that
    storage_url sees the storage (issue 8)."""
    c.register_file('/grid/vo/data/ok', 2, OLD, None, [(SE, SRM + '/dpm/example.org/home/vo/data/ok', '-')])


def cleanup_params(db, lost, storage_root, **kw):
    p = {'catalog': {'backend': 'sqlite', 'path': db}, 'se': SE, 'strip_prefix': '/dpm/example.org/home/vo',
         'lost': str(lost), 'storage_url': 'file://' + str(storage_root)}
    p.update(kw)
    return p


def test_cleanup_removes_only_confirmed_lost_replicas(catalog, db, tmp_path, storage_dir):
    ids = seed(catalog)
    anchor(catalog)
    catalog.register_file('/grid/vo/data/two', 7, OLD, None, [(SE, SRM + '/dpm/example.org/home/vo/data/two', '-'),
                                                              ('other.example.org', 'root://other//vo/two', '-')])
    lost = tmp_path / 'lost.list'
    lost.write_text('/data/f1\n/data/f2\n/data/f3\n/mc/f5x\n/data/two\n/data/unknown\n/data/f1\n')
    before = snapshot(catalog)

    check = cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir), check_mode=True)
    assert snapshot(catalog) == before and check['journal'] is None
    assert not os.path.exists(str(lost) + '.catalog_cleanup.journal')
    assert [(r['lfn'], r['entry_removed']) for r in check['removed']] == [
        ('/grid/vo/data/f1', True), ('/grid/vo/data/two', False)]
    assert check['changed']
    assert 'replica /grid/vo/data/f1 ' + SRM + '/dpm/example.org/home/vo/data/f1\nentry /grid/vo/data/f1\n' \
        in check['diff']['before']

    r = cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir))
    assert r['changed'] and (r['removed_replicas'], r['removed_entries']) == (2, 1)
    assert [x['lfn'] for x in r['removed']] == [x['lfn'] for x in check['removed']]
    reasons = dict((s['path'], s['reason']) for s in r['kept'])
    assert reasons == {'/data/f2': 'on_storage', '/data/f3': 'not_available'}
    c = r['counts']
    assert (c['listed'], c['absent'], c['on_storage'], c['not_available']) == (6, 2, 1, 1)
    entries, replicas = snapshot(catalog)
    expected = [(p, n - 1 if p == '/grid/vo/data' else n) for p, n in before[0] if p != '/grid/vo/data/f1']
    assert entries == expected                      # f1's entry gone, its directory's link count lowered
    assert sorted(set(before[1]) - set(replicas)) == sorted([
        (SRM + '/dpm/example.org/home/vo/data/f1', SE, '-'), (SRM + '/dpm/example.org/home/vo/data/two', SE, '-')])
    assert catalog.lookup('/grid/vo/data/f2').fileid == ids['/grid/vo/data/f2']

    again = cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir))
    assert not again['changed'] and again['counts']['already_done'] == 2 and again['removed'] == []


def test_cleanup_skips_on_storage_error(catalog, db, tmp_path, storage_dir):
    anchor(catalog)
    catalog.register_file('/grid/vo/mc/f9', 1, OLD, None, [(SE, SRM + '/dpm/example.org/home/vo/mc/f9', '-')])
    catalog.register_file('/grid/vo/data/f8', 1, OLD, None, [(SE, SRM + '/dpm/example.org/home/vo/data/f8', '-')])
    lost = tmp_path / 'lost.list'
    lost.write_text('/mc/f9\n/data/f8\n')
    before = snapshot(catalog)
    r = cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir))
    assert r['changed'] and [x['lfn'] for x in r['removed']] == ['/grid/vo/data/f8']
    assert r['kept'][0]['reason'] == 'storage_error'
    assert 'Not a directory' in r['kept'][0]['detail'] and '/mc/f9' in r['kept'][0]['detail']
    assert catalog.lookup('/grid/vo/mc/f9') is not None
    # a run in which no path could be checked fails, and removes nothing
    lost.write_text('/mc/f9\n')
    before = snapshot(catalog)
    with pytest.raises(VaporError, match=r"could check none of the 1 paths it looked at .*Not a directory.*"
                                         r"nothing was removed\.$"):
        cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir, journal=str(tmp_path / 'j2')))
    assert snapshot(catalog) == before


def test_cleanup_guards(catalog, db, tmp_path, storage_dir):
    seed(catalog)
    anchor(catalog)
    lost = tmp_path / 'lost.list'
    lost.write_text(''.join('/data/x%d\n' % i for i in range(5)))
    with pytest.raises(VaporError, match='holds more than max_entries=3 paths; nothing was removed'):
        cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir, max_entries=3))
    with pytest.raises(VaporError, match='No storage URL given'):
        cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir, storage_url=''))
    trunc = tmp_path / 'trunc.list'
    trunc.write_text('/data/f1\n/data/f')
    with pytest.raises(VaporError, match='is truncated'):
        cat_cleanup.run_catalog_cleanup(cleanup_params(db, trunc, storage_dir))
    # a journal of another list is refused (once it records something done)
    lost.write_text('/data/f1\n')
    assert cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir, journal=str(tmp_path / 'j')))['changed']
    lost.write_text('/data/f1\n/data/f3\n')
    with pytest.raises(VaporError, match='belongs to another run'):
        cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir, journal=str(tmp_path / 'j')))


def test_cleanup_without_orphan_removal_keeps_entries(catalog, db, tmp_path, storage_dir):
    seed(catalog)
    anchor(catalog)
    lost = tmp_path / 'lost.list'
    lost.write_text('/data/f1\n')
    r = cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir, remove_orphan_entries=False))
    assert (r['removed_replicas'], r['removed_entries']) == (1, 0)
    assert catalog.lookup('/grid/vo/data/f1') is not None and catalog.replicas(
        catalog.lookup('/grid/vo/data/f1').fileid) == []


def test_cleanup_resumes_an_interrupted_run(catalog, db, tmp_path, storage_dir, monkeypatch):
    """A crash after a removal was committed but before the journal said so: the re-run finishes it."""
    seed(catalog)
    lost = tmp_path / 'lost.list'
    for i in range(4):
        catalog.register_file('/grid/vo/data/k%d' % i, 1, OLD, None,
                              [(SE, SRM + '/dpm/example.org/home/vo/data/k%d' % i, '-')])
    lost.write_text(''.join('/data/k%d\n' % i for i in range(4)))
    real = cat_access.Catalog.remove_replica
    calls = []

    class Crash(Exception):
        pass

    def crashing(self, rep, **kw):
        out = real(self, rep, **kw)
        calls.append(rep.sfn)
        if len(calls) == 2:
            raise Crash()
        return out

    monkeypatch.setattr(cat_access.Catalog, 'remove_replica', crashing)
    with pytest.raises(Crash):
        cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir))
    monkeypatch.setattr(cat_access.Catalog, 'remove_replica', real)
    r = cat_cleanup.run_catalog_cleanup(cleanup_params(db, lost, storage_dir))
    assert r['counts']['already_done'] == 1 and r['counts']['absent'] == 1 and r['removed_replicas'] == 2
    for i in range(4):
        assert catalog.lookup('/grid/vo/data/k%d' % i) is None
    journal = (tmp_path / 'lost.list.catalog_cleanup.journal').read_text().splitlines()
    # k1 was removed but the crash came before its "done": the re-run found it absent and closed it
    assert [line.count('"state": "started"') for line in journal[1:]].count(1) == 4


# ------------------------------------------------------------------------------------------------
# issue 8: one SFN mapping, lenient selection, the run's replica index

@pytest.mark.parametrize('sfn,expected', [
    (SRM + '/vo//store/f', ('/store/f', None)),
    (SRM + '/vo/./store/f', ('/store/f', None)),
    (SRM + '/vo/x/../store/f/', ('/store/f', None)),
    ('srm://SE.EXAMPLE.ORG/vo/store/f', ('/store/f', None)),
    ('root://se.example.org:1094///vo//store/f', ('/store/f', None)),
    ('disk01.example.org://vo/store/f', ('/store/f', None)),        # DPM host:/path with a doubled slash
    (SRM + '/vo/../../store/f', (None, 'unparsable')),               # '..' above the root
    (SRM + '/other/store/f', (None, 'outside')),
])
def test_dump_path_is_the_one_mapping(sfn, expected):
    assert cat_sfn.SfnMapping(SE, '/vo').dump_path(sfn) == expected


def test_selects_is_lenient_about_spellings_of_the_same_place():
    m = cat_sfn.SfnMapping(None, None, None, SRM + '/vo/')
    for sfn in (SRM + '/vo/f', 'srm://SE.Example.Org:8446/srm/managerv2?SFN=/vo/f', 'srm://se.example.org/vo/f',
                'srm://se.example.org:8446//vo/./f'):
        assert m.selects('h', sfn), sfn
    for sfn in ('srm://se.example.org:8447/vo/f', 'srm://other.example.org/vo/f', SRM + '/vox/f',
                'root://se.example.org//vo/f'):
        assert not m.selects('h', sfn), sfn
    assert cat_sfn.SfnMapping('SE.example.org').selects('se.EXAMPLE.org', 'x')
    assert not cat_sfn.SfnMapping('se.example.org').selects('se.example.com', 'x')


def test_prefix_variants_are_index_ranges_of_the_same_place():
    v = cat_sfn.prefix_variants(SRM + '/vo/')
    assert v[0] == SRM + '/vo/'
    assert 'srm://se.example.org/srm/managerv2?SFN=/vo/' in v and 'srm://se.example.org:8446/vo/' in v


def test_replica_index_finds_unusual_forms_and_rows_registered_later(catalog):
    catalog.register_file('/grid/a', 1, OLD, None, [(SE, SRM + '/vo/d/a', '-')])
    catalog.register_file('/grid/b', 1, OLD, None, [(SE, SRM + '/vo//d/b', '-')])
    catalog.register_file('/grid/c', 1, OLD, None, [(SE, SRM + '/../vo/d/c', '-')])
    m = cat_sfn.SfnMapping(SE, '/vo')
    index = cat_sfn.ReplicaIndex(m).build(catalog)
    assert index.describe() == {'scanned': 3, 'unusual_forms': 1, 'odd_forms': 0, 'unparsable': 1}
    assert [r.sfn for r in catalog.find_replicas('/d/a', m, index)[0]] == [SRM + '/vo/d/a']
    assert [r.sfn for r in catalog.find_replicas('/d/b', m, index)[0]] == [SRM + '/vo//d/b']
    found, doubtful = catalog.find_replicas('/d/c', m, index)
    assert found == [] and [r.sfn for r in doubtful] == [SRM + '/../vo/d/c']
    assert catalog.find_replicas('/d/e', m, index) == ([], [])
    catalog.register_file('/grid/e', 1, OLD, None, [(SE.upper(), SRM + '/vo/d/./e', '-')])   # after the build
    assert [r.sfn for r in catalog.find_replicas('/d/e', m, index)[0]] == [SRM + '/vo/d/./e']
