# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._storage import posix as _scan
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._dump.reader import read_dump
from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump import run

NOW = 1800000000          # 2027-01-15 08:00 UTC
OLD = NOW - 10 * 86400


def make_tree(root, files):
    for rel, size in files.items():
        p = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'wb') as f:
            f.write(b'x' * size)
        os.utime(p, (OLD, OLD))


@pytest.fixture
def site(tmp_path):
    root = tmp_path / 'storage'
    dest = tmp_path / 'dumps'
    dest.mkdir()
    make_tree(root, {'store/mc/a.root': 10, 'store/mc/b.root': 20, 'store/data/c.root': 30,
                     'store/data/deep/er/d.root': 40, 'top.root': 5})
    return root, dest


def params(root, dest, **kw):
    p = {'source': 'posix', 'roots': [str(root)], 'dest': str(dest), 'strip_prefix': str(root)}
    p.update(kw)
    return p


def names_in(path):
    return sorted(e.path for e in read_dump(path))


def listing(dest):
    return sorted(os.listdir(str(dest)))


def test_publish_then_no_change(site):
    root, dest = site
    r = run(params(root, dest), now=NOW)
    assert r['changed'] and r['published'] and r['files'] == 5 and r['bytes'] == 105
    assert r['name'] == 'dump_20270115'
    assert names_in(r['dump']) == ['/store/data/c.root', '/store/data/deep/er/d.root', '/store/mc/a.root',
                                   '/store/mc/b.root', '/top.root']
    assert os.readlink(str(dest / 'latest')) == 'dump_20270115'
    assert listing(dest) == ['dump_20270115', 'latest']       # no temporary file left
    again = run(params(root, dest), now=NOW + 60)
    assert not again['changed'] and not again['published']


def test_changed_storage_republishes_same_day(site):
    root, dest = site
    run(params(root, dest), now=NOW)
    make_tree(root, {'store/mc/new.root': 1})
    r = run(params(root, dest), now=NOW + 60)
    assert r['changed'] and r['published'] and r['files'] == 6
    assert '/store/mc/new.root' in names_in(r['dump'])


def test_check_mode_writes_nothing_and_predicts(site):
    root, dest = site
    r = run(params(root, dest), check_mode=True, now=NOW)
    assert r['changed'] and r['files'] == 5
    assert listing(dest) == []
    assert r['diff']['before'] == {'dumps': [], 'latest': None, 'today': None}
    assert r['diff']['after']['dumps'] == ['dump_20270115']
    run(params(root, dest), now=NOW)
    r = run(params(root, dest), check_mode=True, now=NOW)
    assert not r['changed']


def test_parallel_scan_equals_serial_scan(site, tmp_path):
    root, dest = site
    for i in range(40):
        make_tree(root, {'store/p%02d/q/f%d.root' % (i, j): j for j in range(5)})
    d1, d2 = tmp_path / 'd1', tmp_path / 'd2'
    d1.mkdir()
    d2.mkdir()
    r1 = run(params(root, d1, workers=1, format='cms'), now=NOW)
    r2 = run(params(root, d2, workers=3, format='cms'), now=NOW)
    assert r1['files'] == r2['files'] == 205
    with open(r1['dump'], 'rb') as a, open(r2['dump'], 'rb') as b:
        assert sorted(a.read().splitlines()) == sorted(b.read().splitlines())
    # parallel output order is deterministic for unchanged storage
    d3 = tmp_path / 'd3'
    d3.mkdir()
    r3 = run(params(root, d3, workers=3, format='cms'), now=NOW)
    with open(r2['dump'], 'rb') as a, open(r3['dump'], 'rb') as b:
        assert a.read() == b.read()


def test_filters_and_prefixes(site):
    root, dest = site
    young = os.path.join(str(root), 'store/mc/young.root')
    with open(young, 'wb') as f:
        f.write(b'y')
    os.utime(young, (NOW - 60, NOW - 60))
    r = run(params(root, dest, ignore=['^/store/data/deep/'], min_age='1h', add_prefix='/cms'), now=NOW)
    assert r['excluded']['young'] == 1 and r['excluded']['ignored'] == 1
    assert names_in(r['dump']) == ['/cms/store/data/c.root', '/cms/store/mc/a.root', '/cms/store/mc/b.root',
                                   '/cms/top.root']


def test_strip_prefix_outside_files_are_counted(site):
    root, dest = site
    r = run(params(root, dest, strip_prefix=os.path.join(str(root), 'store')), now=NOW)
    assert r['files'] == 4 and r['excluded']['outside'] == 1


def test_symlinks_are_never_followed(site, tmp_path):
    root, dest = site
    outside = tmp_path / 'outside'
    make_tree(outside, {'secret/x.root': 1, 'y.root': 1})
    os.symlink(str(outside), os.path.join(str(root), 'store', 'link_dir'))
    os.symlink(str(outside / 'y.root'), os.path.join(str(root), 'store', 'link_file'))
    r = run(params(root, dest), now=NOW)
    assert r['files'] == 5 and r['excluded']['symlinks'] == 2
    assert not [n for n in names_in(r['dump']) if 'link' in n or 'secret' in n]


@pytest.mark.parametrize('fmt,left_out', [('text', 1), ('cms', 2), ('syncat', 0)])
def test_odd_names_per_format(site, fmt, left_out):
    root, dest = site
    make_tree(root, {u'store/odd/with space.root': 1, u'store/odd/ünï.root': 1, u'store/odd/pi|pe.root': 1,
                     u'store/odd/new\nline.root': 1})
    r = run(params(root, dest, format=fmt), now=NOW)
    assert r['excluded']['unrepresentable'] == left_out
    assert r['files'] == 9 - left_out
    got = names_in(r['dump'])
    assert u'/store/odd/with space.root' in got and u'/store/odd/ünï.root' in got
    assert (u'/store/odd/new\nline.root' in got) == (fmt == 'syncat')
    assert (u'/store/odd/pi|pe.root' in got) == (fmt != 'cms')
    if left_out:
        assert r['warnings'] and r['unrepresentable']


def test_non_utf8_name_is_left_out(site):
    root, dest = site
    bad = os.path.join(str(root).encode(), b'store', b'bad\xff.root')
    with open(bad, 'wb') as f:
        f.write(b'1')
    os.utime(bad, (OLD, OLD))
    r = run(params(root, dest, format='syncat'), now=NOW)
    assert r['excluded']['unrepresentable'] == 1 and r['files'] == 5


@pytest.mark.parametrize('compression,suffix', [('gzip', '.gz'), ('bzip2', '.bz2')])
def test_compression_and_suffix(site, compression, suffix):
    root, dest = site
    r = run(params(root, dest, compression=compression), now=NOW)
    assert r['name'] == 'dump_20270115' + suffix
    assert len(names_in(r['dump'])) == 5
    r = run(params(root, dest, compression=compression, compression_suffix=False), now=NOW)
    assert r['name'] == 'dump_20270115' and len(names_in(r['dump'])) == 5


def test_keep_prunes_oldest(site):
    root, dest = site
    for day in ('20270101', '20270105', '20270110', '20270112'):
        (dest / ('dump_' + day)).write_bytes(b'/x\n')
    (dest / 'unrelated.txt').write_bytes(b'keep me')
    r = run(params(root, dest, keep=2), now=NOW)
    assert r['pruned'] == ['dump_20270101', 'dump_20270105', 'dump_20270110']
    assert listing(dest) == ['dump_20270112', 'dump_20270115', 'latest', 'unrelated.txt']
    again = run(params(root, dest, keep=2), now=NOW)
    assert not again['changed'] and again['pruned'] == []


def test_min_files_publishes_nothing(tmp_path):
    empty = tmp_path / 'mnt'
    empty.mkdir()
    dest = tmp_path / 'dumps'
    dest.mkdir()
    with pytest.raises(VaporError, match='found 0 files, fewer than min_files=1; nothing was published'):
        run(params(empty, dest), now=NOW)
    assert listing(dest) == []


@pytest.mark.parametrize('what', ['missing', 'file'])
def test_bad_root_is_one_sentence(tmp_path, what):
    dest = tmp_path / 'dumps'
    dest.mkdir()
    root = tmp_path / 'root'
    if what == 'file':
        root.write_bytes(b'')
    with pytest.raises(VaporError, match="The root '.*root' (cannot be read|is not a directory)"):
        run(params(root, dest), now=NOW)
    assert listing(dest) == []


def test_unreadable_directory_fails_unless_allowed(site, monkeypatch):
    root, dest = site
    real = os.scandir
    bad = os.path.join(str(root), 'store', 'data')

    def scandir(path='.'):
        if path == bad:
            raise PermissionError(13, 'Permission denied', path)
        return real(path)

    monkeypatch.setattr(_scan.os, 'scandir', scandir)
    with pytest.raises(VaporError, match="nothing was published: The directory '.*/store/data' cannot be read: "
                                         "Permission denied"):
        run(params(root, dest, workers=1), now=NOW)
    assert listing(dest) == []
    r = run(params(root, dest, workers=1, max_errors=1), now=NOW)
    assert r['files'] == 3 and len(r['errors']) == 1 and r['warnings']


def test_missing_dest_is_one_sentence(site, tmp_path):
    root, _dest = site
    with pytest.raises(VaporError, match="The dump directory '.*nowhere' does not exist"):
        run(params(root, tmp_path / 'nowhere'), now=NOW)


@pytest.mark.parametrize('bad,msg', [
    ({'format': 'xml'}, "dump format 'xml'"), ({'compression': 'xz'}, "compression 'xz'"),
    ({'name': 'a/b'}, 'not a plain file name'), ({'name': 'dump_%B'}, 'only numeric date codes'),
    ({'min_age': 'soon'}, "min_age 'soon'"), ({'keep': -1}, 'keep is -1'), ({'roots': []}, 'at least one root'),
    ({'mode': 'rw'}, "file mode 'rw'"), ({'source': 'srm'}, "source 'srm'")])
def test_bad_options_are_one_sentence(site, bad, msg):
    root, dest = site
    with pytest.raises(VaporError, match=msg):
        run(params(root, dest, **bad), now=NOW)


def test_latest_link_that_is_a_file_is_refused(site):
    root, dest = site
    (dest / 'latest').write_bytes(b'')
    with pytest.raises(VaporError, match='is not a symbolic link'):
        run(params(root, dest), now=NOW)


def test_syncat_header_and_vo(site):
    root, dest = site
    r = run(params(root, dest, format='syncat', vo='dteam'), now=NOW)
    data = open(r['dump'], 'rb').read()
    assert b'<dump recorded="2027-01-15T08:00:00Z"><for>vo:dteam</for>' in data
    assert data.endswith(b'</entry-set>\n</dump>\n</cat>\n')


def test_mode_is_applied(site):
    root, dest = site
    r = run(params(root, dest, mode='0640'), now=NOW)
    assert os.stat(r['dump']).st_mode & 0o777 == 0o640


def test_checksum_from_adler32_and_xattr(site):
    root, dest = site
    r = run(params(root, dest, format='cms', checksum='adler32'), now=NOW)
    sums = dict((e.path, e.checksum) for e in read_dump(r['dump']))
    assert sums['/top.root'] == '%08x' % (__import__('zlib').adler32(b'x' * 5) & 0xffffffff)
    f = os.path.join(str(root), 'top.root')
    try:
        os.setxattr(f, 'user.storm.checksum.adler32', b'12ab')
    except OSError:
        pytest.skip('this file system has no user extended attributes')
    r = run(params(root, dest, format='cms', checksum='xattr'), now=NOW)
    sums = dict((e.path, e.checksum) for e in read_dump(r['dump']))
    assert sums['/top.root'] == '000012ab' and sums['/store/mc/a.root'] is None


# -- the dump directory inside a root, the own-file watch, modes, stale leftovers (issue 8) ---------------

from ansible_collections.vapor.ops.plugins.module_utils._dump import publish as _publish  # noqa: E402
from ansible_collections.vapor.ops.plugins.module_utils._clients.db import connect_error  # noqa: E402
from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump import OwnFileWatch, dest_inside_roots  # noqa: E402


def test_dest_inside_roots_maps_to_the_walked_path(tmp_path):
    real = tmp_path / 'real'
    (real / 'vo' / 'dumps').mkdir(parents=True)
    link = tmp_path / 'link'
    link.symlink_to(real)
    assert dest_inside_roots(str(real / 'vo' / 'dumps'), [str(link)]) == [(str(link), str(link) + '/vo/dumps')]
    assert dest_inside_roots(str(link / 'vo' / 'dumps'), [str(real)]) == [(str(real), str(real) + '/vo/dumps')]
    assert dest_inside_roots(str(tmp_path / 'realx'), [str(real)]) == []      # a sibling with a common prefix
    assert dest_inside_roots(str(tmp_path), [str(real)]) == []                # the root inside dest is fine
    with pytest.raises(VaporError, match="is the root '.*/link' itself"):
        dest_inside_roots(str(real), [str(link)])


def test_dest_inside_root_is_left_out_in_check_mode_too(site):
    root, _dest = site
    dest = root / 'store' / 'dumps'
    dest.mkdir()
    (dest / 'dump_20000101').write_bytes(b'/x\n')
    r = run(params(root, dest), now=NOW, check_mode=True)
    assert r['files'] == 5 and r['left_out'] == [str(root) + '/store/dumps']
    r = run(params(root, dest), now=NOW)
    assert '/store/dumps/dump_20000101' not in [e.path for e in read_dump(r['dump'])] and r['files'] == 5


class _Sink(object):
    def __init__(self):
        self.data = b''

    def write(self, data):
        self.data += data


@pytest.mark.parametrize('cut', range(0, 21))
def test_own_file_watch_sees_the_marker_across_writes(cut):
    marker = b'0123456789abcdef.tmp'
    record = b'/store/dumps/.dump_20270115.' + marker + b'\n'
    start = len(b'/store/dumps/.dump_20270115.')
    out = _Sink()
    w = OwnFileWatch(out, marker)
    w.write(b'/a\n' * 3)
    w.write(record[:start + cut])
    w.write(record[start + cut:])
    w.write(b'/b\n')
    assert w.seen and out.data == b'/a\n' * 3 + record + b'/b\n'
    near = OwnFileWatch(_Sink(), marker)
    for chunk in (b'/store/0123456789abcde', b'f.tm', b'x\n', marker[:-1], b'\n'):
        near.write(chunk)
    assert not near.seen


@pytest.mark.parametrize('value,result', [
    ('0644', 0o644), (420, 0o644), ('0600', 0o600), ('640', 0o640),
    (644, "The file mode 644 (octal 1204) is not a permission between 0000 and 0777 (an unquoted 644 is read as a "
          "decimal number; quote it, as in '0644')."),
    ('04755', "The file mode '04755' is not a permission between 0000 and 0777."),
    (-1, 'The file mode -1 is not a permission between 0000 and 0777.'),
    ('0044', "The file mode '0044' leaves the published dump unreadable to its owner"),
    ('u+rw', "The file mode 'u+rw' is not an octal number such as '0644'.")])
def test_file_mode_rule(value, result):
    if isinstance(result, int):
        assert _publish.check_file_mode(value) == result
    else:
        with pytest.raises(VaporError) as exc:
            _publish.check_file_mode(value)
        assert exc.value.msg.startswith(result)


def test_temp_files_are_private_and_carry_a_unique_marker(tmp_path):
    f, tmp = _publish.new_temp(str(tmp_path), 'dump_20270115.gz')
    f.close()
    assert os.stat(tmp).st_mode & 0o777 == 0o600
    marker = _publish.temp_marker(tmp)
    assert len(marker) == 20 and marker.endswith(b'.tmp') and os.path.basename(tmp).endswith(marker.decode())


def test_stale_leftovers_only(tmp_path):
    import time
    now = time.time()
    regex = _publish.name_regex('dump_%Y%m%d', ['', '.gz'])
    old = now - 3 * 86400
    names = {'.dump_20270101.0123456789abcdef.tmp': old, '.dump_20270101.gz.0123456789abcdef.tmp': old,
             '.dump_20270102.fedcba9876543210.tmp': now - 60, '.other.0123456789abcdef.tmp': old,
             'dump_20270101': old, '.dump_20270101.xyz.tmp': old}
    for n, t in names.items():
        (tmp_path / n).write_bytes(b'x')
        os.utime(str(tmp_path / n), (t, t))
    (tmp_path / '.vapor-scan-live').mkdir()
    (tmp_path / '.vapor-scan-live' / 'part.000000').write_bytes(b'x')        # written just now
    os.utime(str(tmp_path / '.vapor-scan-live'), (old, old))
    (tmp_path / '.dump_20270103.0123456789abcdef.tmp').symlink_to('/etc/passwd')
    got = _publish.remove_stale_temps(str(tmp_path), regex, False, now, extra_dirs=('.vapor-scan-',))
    assert got == ['.dump_20270101.0123456789abcdef.tmp', '.dump_20270101.gz.0123456789abcdef.tmp']
    assert os.path.exists('/etc/passwd') and (tmp_path / '.vapor-scan-live').is_dir()


class _DriverError(Exception):
    pass


@pytest.mark.parametrize('args,sqlstate,starts', [
    ((2003, "Can't connect to MySQL server on '10.0.0.1' (111)"), None, 'The database server at h:1 cannot be reached'),
    ((1045, "Access denied for user 'u'@'x' (using password: YES)"), None,
     "The database 'd' on h:1 refused the connection of user 'u': Access denied"),
    ((1049, "Unknown database 'd'"), None, "The database 'd' does not exist on the server at h:1."),
    ((1044, "Access denied for user 'u'@'%' to database 'd'"), None,
     "The database 'd' on the server at h:1 does not exist, or the user 'u' may not use it"),
    (('connection failed: connection to server at "h", port 1 failed: Connection refused\n\tIs the server running?',),
     None, 'The database server at h:1 cannot be reached (is it running, and are host and port right?): '
           'Connection refused.'),
    (('connection failed: connection to server at "h", port 1 failed: FATAL:  password authentication failed for '
      'user "u"',), None,
     "The database 'd' on h:1 refused the connection of user 'u': password authentication failed for user \"u\"."),
    (('connection failed: connection to server at "h", port 1 failed: FATAL:  database "d" does not exist',), None,
     "The database 'd' does not exist on the server at h:1."),
    (('something odd',), None, "The connection to the database 'd' on h:1 as user 'u' failed: something odd."),
])
def test_connection_failures_are_told_apart(args, sqlstate, starts):
    exc = _DriverError(*args)
    exc.sqlstate = sqlstate
    msg = connect_error(exc, {'host': 'h', 'port': 1, 'user': 'u', 'database': 'd', 'password': 'pw'}).msg
    assert msg.startswith(starts), msg
    assert '\n' not in msg and 'pw' not in msg and msg.endswith('.')
