# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import gzip
import json
import os

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._consistency import confirm as cc_confirm
from ansible_collections.vapor.ops.plugins.module_utils._consistency import engine as cc_engine
from ansible_collections.vapor.ops.plugins.module_utils._consistency import inputs as cc_inputs
from ansible_collections.vapor.ops.plugins.module_utils._consistency import run as cc_run
from ansible_collections.vapor.ops.plugins.module_utils._consistency import times as cc_times
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import companion_path, open_compressed_writer
from ansible_collections.vapor.ops.plugins.module_utils._dump.writer import DumpWriter

pytest.importorskip('duckdb')

DAY = 86400
T_BEFORE = '20261120_000000'       # catalog_before
T_STORAGE = '20261120_120000'      # storage dump
T_AFTER = '20261121_000000'        # catalog_after
RUN_TIME = 1795222800              # 2026-11-21T01:00:00Z


def write_dump(path, paths, fmt='text', compression='none', mtimes=None, recorded='2026-11-20T12:00:00Z'):
    """Write a dump with the collection's own writer; returns its path."""
    path = str(path)
    with open(path, 'wb') as raw:
        stream = open_compressed_writer(raw, compression)
        w = DumpWriter(stream, fmt, recorded=recorded)
        for i, p in enumerate(paths):
            w.add(p, 100 + i, (mtimes or {}).get(p, 1700000000), '0000abcd')
        w.close()
        if stream is not raw:
            stream.close()
    return path


def write_lines(path, data):
    with open(str(path), 'wb') as f:
        f.write(data)
    return str(path)


def dumps(tmp_path, before, storage, after, before_inactive=None, after_inactive=None, fmt='text',
          compression='none', storage_fmt=None, mtimes=None, suffix=''):
    d = tmp_path / 'in'
    d.mkdir(exist_ok=True)
    b = write_dump(d / ('catalog_%s%s' % (T_BEFORE, suffix)), before, fmt, compression)
    s = write_dump(d / ('dump_%s%s' % (T_STORAGE, suffix)), storage, storage_fmt or fmt, compression, mtimes)
    a = write_dump(d / ('catalog_%s%s' % (T_AFTER, suffix)), after, fmt, compression)
    if before_inactive is not None:
        write_dump(companion_path(b), before_inactive, 'text', compression)
    if after_inactive is not None:
        write_dump(companion_path(a), after_inactive, 'text', compression)
    return b, s, a


def params(tmp_path, b, s, a, **extra):
    p = {'catalog_before': b, 'storage_dump': s, 'catalog_after': a, 'output_dir': str(tmp_path / 'out'),
         'temp_dir': str(tmp_path / 'tmp'), 'min_age': '0', 'max_dark_fraction': 1.0, 'max_lost_fraction': 1.0}
    p.update(extra)
    return p


def read_list(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8').splitlines()


def check(tmp_path, b, s, a, now=RUN_TIME, check_mode=False, **extra):
    return cc_run.run(params(tmp_path, b, s, a, **extra), check_mode=check_mode, now=now)


# ----------------------------------------------------------------------------------------------
# classification, including the races the third dump protects against

COMMON = ['/store/common/%d.root' % i for i in range(20)]


def test_three_dump_classification(tmp_path):
    before = COMMON + ['/store/lost.root', '/store/deleted_between.root', '/store/unregistered_after_scan.root']
    storage = COMMON + ['/store/dark.root', '/store/registered_between.root', '/store/unregistered_after_scan.root',
                        '/store/written_before_registration.root']
    after = COMMON + ['/store/lost.root', '/store/registered_between.root', '/store/written_before_registration.root']
    res = check(tmp_path, *dumps(tmp_path, before, storage, after))
    assert read_list(res['files']['dark']) == ['/store/dark.root']
    assert read_list(res['files']['lost']) == ['/store/lost.root']
    assert (res['dark'], res['lost']) == (1, 1)
    stats = res['stats']
    assert stats['status'] == 'ok'
    assert stats['counts']['storage_files'] == len(storage)
    assert stats['counts']['catalog_before_available'] == len(before)
    assert stats['fractions']['dark'] == pytest.approx(1.0 / len(storage))
    assert stats['fractions']['lost'] == pytest.approx(1.0 / len(before))
    with open(res['files']['stats']) as f:
        assert json.load(f) == json.loads(json.dumps(stats))


def test_registered_between_the_dumps_is_never_dark(tmp_path):
    res = check(tmp_path, *dumps(tmp_path, COMMON, COMMON + ['/new.root'], COMMON + ['/new.root']))
    assert res['dark'] == 0 and res['lost'] == 0


def test_deleted_between_the_dumps_is_never_lost(tmp_path):
    res = check(tmp_path, *dumps(tmp_path, COMMON + ['/gone.root'], COMMON, COMMON))
    assert res['dark'] == 0 and res['lost'] == 0


def test_companion_lists_count_for_dark_but_not_for_lost(tmp_path):
    before = COMMON + ['/both_av.root', '/av_then_inactive.root']
    storage = COMMON + ['/being_populated.root', '/to_delete_before.root']
    after = COMMON + ['/both_av.root']
    b, s, a = dumps(tmp_path, before, storage, after,
                    before_inactive=['/to_delete_before.root'],
                    after_inactive=['/being_populated.root', '/av_then_inactive.root'])
    res = check(tmp_path, b, s, a)
    assert read_list(res['files']['dark']) == []        # inactive replicas are known to the catalog
    assert read_list(res['files']['lost']) == ['/both_av.root']   # only available in both counts
    comp = res['stats']['inputs']['catalog_after']['companion']
    assert comp['entries'] == 2 and comp['path'] == companion_path(a)


def test_without_companion_every_entry_is_available(tmp_path):
    b, s, a = dumps(tmp_path, COMMON + ['/x.root'], COMMON, COMMON + ['/x.root'])
    res = check(tmp_path, b, s, a)
    assert res['lost'] == 1 and res['stats']['inputs']['catalog_before']['companion'] is None


@pytest.mark.parametrize('compression', ['gzip', 'bzip2'])
def test_compressed_dumps_and_companions(tmp_path, compression):
    b, s, a = dumps(tmp_path, COMMON + ['/lost.root'], COMMON + ['/dark.root', '/pop.root'], COMMON + ['/lost.root'],
                    before_inactive=[], after_inactive=['/pop.root'], compression=compression,
                    suffix='.gz' if compression == 'gzip' else '.bz2')
    res = check(tmp_path, b, s, a)
    assert read_list(res['files']['dark']) == ['/dark.root']
    assert read_list(res['files']['lost']) == ['/lost.root']
    assert res['stats']['inputs']['storage_dump']['compression'] == compression


@pytest.mark.parametrize('fmt', ['cms', 'syncat'])
def test_cms_and_syncat_dumps(tmp_path, fmt):
    odd = [u'/store/with space.root', u'/store/ünïcödé/数据.root', u'/store/"quoted" \'single\'.root']
    b, s, a = dumps(tmp_path, COMMON + odd + ['/lost.root'], COMMON + odd + ['/dark one.root'],
                    COMMON + odd + ['/lost.root'], fmt=fmt)
    res = check(tmp_path, b, s, a)
    assert read_list(res['files']['dark']) == ['/dark one.root']
    assert read_list(res['files']['lost']) == ['/lost.root']
    assert res['stats']['inputs']['storage_dump']['format'] == fmt


def test_special_names_in_text_dumps(tmp_path):
    odd = [u'/a b/c d.root', u'/ü/数据.root', u'/q/"x".root', u"/q/'y'.root", u'/p/a|b|1|2.root', u'/t/a\tb',
           u'/bs/a\\b', u'/c/a,b;c']
    dark = [u'/dark/with space', u'/dark/ü|1|2|x', u'/dark/"q"', u'/dark/\\n']
    lost = [u'/lost/ä b', u'/lost/|pipe']
    res = check(tmp_path, *dumps(tmp_path, COMMON + odd + lost, COMMON + odd + dark, COMMON + odd + lost))
    assert read_list(res['files']['dark']) == sorted(dark, key=lambda x: x.encode('utf-8'))
    assert read_list(res['files']['lost']) == sorted(lost, key=lambda x: x.encode('utf-8'))


def test_control_character_in_a_text_dump(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + [u'/x/\x01ctl'], COMMON)
    eng = cc_engine.Engine(str(tmp_path), '64MB', 1)
    nul_delimiter = eng.delim == '\\0'
    eng.close()
    if nul_delimiter:
        res = check(tmp_path, b, s, a)
        assert read_list(res['files']['dark']) == [u'/x/\x01ctl']
    else:   # older DuckDB: the line cannot be read, and the run says so
        with pytest.raises(VaporError, match="The storage_dump '.*' cannot be read: line 21: "):
            check(tmp_path, b, s, a)


def test_lists_are_sorted_bytewise_and_unique(tmp_path):
    dark = [u'/z', u'/a', u'/é', u'/B', u'/a b', u'/Z', u'/a']
    res = check(tmp_path, *dumps(tmp_path, COMMON, COMMON + dark, COMMON))
    assert read_list(res['files']['dark']) == sorted(set(dark), key=lambda x: x.encode('utf-8'))


def test_syncat_name_with_a_line_break_is_counted_not_listed(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + [u'/bad\nname', u'/ok'], COMMON, storage_fmt='syncat')
    res = check(tmp_path, b, s, a)
    assert read_list(res['files']['dark']) == ['/ok']
    assert res['stats']['counts']['excluded'] == {'dark_unlistable': 1}


def test_crlf_text_dump(tmp_path):
    d = tmp_path / 'in'
    d.mkdir()
    b = write_lines(d / ('catalog_%s' % T_BEFORE), b'/a\r\n/b\r\n/lost\r\n')
    s = write_lines(d / ('dump_%s' % T_STORAGE), b'/a\r\n/b\r\n/dark\r\n')
    a = write_lines(d / ('catalog_%s' % T_AFTER), b'/a\n/b\n/lost\n')
    res = check(tmp_path, b, s, a)
    assert read_list(res['files']['dark']) == ['/dark'] and read_list(res['files']['lost']) == ['/lost']


# ----------------------------------------------------------------------------------------------
# normalisation, prefixes, ignore, min_age

def test_paths_are_normalised_and_prefixes_stripped_per_side(tmp_path):
    before = ['/grid/vo/a', '/grid/vo//b/', '/grid/vo/lost', '/elsewhere/x']
    storage = ['/dpm/example.org/home/vo/a', '//dpm/example.org/home/vo/./b', '/dpm/example.org/home/vo//dark/',
               '/dpm/example.org/home/vo/dark', '/dpm/example.org/home/other/y']
    after = ['grid/vo/a', '/grid/vo/b', '/grid/vo/lost']
    res = check(tmp_path, *dumps(tmp_path, before, storage, after),
                storage_strip_prefix='/dpm/example.org/home/vo/', catalog_strip_prefix='/grid//vo')
    assert read_list(res['files']['dark']) == ['/dpm/example.org/home/vo/dark']   # the normalised dump path, once
    assert read_list(res['files']['lost']) == ['/grid/vo/lost']
    ins = res['stats']['inputs']
    # '/dpm/.../vo//dark/' and '/dpm/.../vo/dark' are one path: counted once, and once as a duplicate
    assert ins['storage_dump']['outside'] == 1 and ins['storage_dump']['compared'] == 3
    assert ins['storage_dump']['duplicates'] == 1 and res['stats']['counts']['duplicates']['storage_dump'] == 1
    assert ins['catalog_before']['outside'] == 1


def test_add_prefix_per_side(tmp_path):
    res = check(tmp_path, *dumps(tmp_path, ['/store/a', '/store/l'], ['/a', '/d'], ['/store/a', '/store/l']),
                storage_add_prefix='/store/')
    assert read_list(res['files']['dark']) == ['/d'] and read_list(res['files']['lost']) == ['/store/l']


def sql_normalised(tmp_path, path):
    """The path as the engine's SQL normalises it (None for a path with a '..' component)."""
    eng = cc_engine.Engine(str(tmp_path), '64MB', 1)
    try:
        return eng.scalar("SELECT %s FROM (SELECT %s::VARCHAR AS p)" % (cc_engine._NORM_SQL, cc_engine.sql_literal(path)))
    finally:
        eng.close()


@pytest.mark.parametrize('path', ['/a/b', 'a/b', '//a///b/', '/a/./b/.', './a', '/', '.', '/a/.hidden/..x/.../c',
                                  '/a//././/b//.', '/.', 'x/', '/.a/./.b/', '/a/...//./b', u'/ü//数据/./x', '',
                                  'a', '.a/b', 'a/.b', 'a/b/'])
def test_sql_normalisation_equals_python(tmp_path, path):
    got = sql_normalised(tmp_path, path)
    assert got == normalise_path(path)
    assert cc_engine.map_rel(path, '') == got


@pytest.mark.parametrize('path', ['..', '../a', '/a/..', '/a/../b', 'a/../../etc/passwd', '/a/./../b', '//..//'])
def test_sql_normalisation_marks_dotdot(tmp_path, path):
    got = sql_normalised(tmp_path, path)
    assert got is None


def test_ignore_patterns_hide_dark_and_lost(tmp_path):
    res = check(tmp_path, *dumps(tmp_path, COMMON + ['/tmp/l', '/keep/l'], COMMON + ['/tmp/d', '/keep/d'],
                                 COMMON + ['/tmp/l', '/keep/l']), ignore=['^/tmp/'])
    assert read_list(res['files']['dark']) == ['/keep/d'] and read_list(res['files']['lost']) == ['/keep/l']
    assert res['stats']['counts']['excluded'] == {'dark_ignored': 1, 'lost_ignored': 1}


def test_ignore_sees_the_path_after_strip_prefix(tmp_path):
    res = check(tmp_path, *dumps(tmp_path, ['/vo/a'], ['/site/vo/a', '/site/vo/tmp/x'], ['/vo/a']),
                storage_strip_prefix='/site/vo', catalog_strip_prefix='/vo', ignore=['^/tmp/'])
    assert res['dark'] == 0 and res['stats']['counts']['excluded'] == {'dark_ignored': 1}


def test_min_age_protects_young_files_when_the_dump_has_times(tmp_path):
    storage_time = cc_times.time_from_name(T_STORAGE)[0]
    mtimes = {'/young': storage_time - 3600, '/old': storage_time - 3 * DAY}
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/young', '/old'], COMMON, storage_fmt='cms', mtimes=mtimes)
    res = check(tmp_path, b, s, a, min_age='1d')
    assert read_list(res['files']['dark']) == ['/old']
    assert res['stats']['counts']['excluded'] == {'dark_young': 1}


def test_min_age_has_no_effect_on_text_dumps(tmp_path):
    res = check(tmp_path, *dumps(tmp_path, COMMON, COMMON + ['/d'], COMMON), min_age='30d')
    assert res['dark'] == 1


# ----------------------------------------------------------------------------------------------
# thresholds

def _no_run_dirs(out):
    return [n for n in os.listdir(out) if not n.endswith('.failed') and n != '.lock'] if os.path.isdir(out) else []


def test_dark_fraction_above_threshold_fails_and_writes_no_run(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d1', '/d2'], COMMON)
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a, max_dark_fraction=0.05)
    assert 'dark fraction 0.0909 (2 of 22 storage files) is above max_dark_fraction=0.05' in err.value.msg
    out = str(tmp_path / 'out')
    assert _no_run_dirs(out) == []
    failed = err.value.context['failed_stats']
    assert failed.endswith('20261121_010000.failed/stats.json')
    with open(failed) as f:
        stats = json.load(f)
    assert stats['status'] == 'failed' and stats['counts']['dark'] == 2 and 'max_dark_fraction' in stats['message']
    assert cc_confirm.list_runs(out) == ([], [])


def test_lost_fraction_uses_the_smaller_catalog_dump(tmp_path):
    b, s, a = dumps(tmp_path, COMMON + ['/l1', '/l2', '/gone1', '/gone2'], COMMON, COMMON + ['/l1', '/l2'])
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a, max_lost_fraction=0.05)
    assert 'lost fraction 0.0909 (2 of 22 available catalog files)' in err.value.msg
    res = check(tmp_path, b, s, a, max_lost_fraction=0.1, run_id='ok')
    assert res['lost'] == 2 and res['stats']['counts']['lost_denominator'] == 22


def test_fractions_exactly_at_the_threshold_pass(tmp_path):
    res = check(tmp_path, *dumps(tmp_path, COMMON, COMMON[:19] + ['/d'], COMMON[:19]),
                max_dark_fraction=0.05)
    assert res['dark_fraction'] == 0.05


@pytest.mark.parametrize('empty', ['catalog_before', 'catalog_after'])
def test_empty_catalog_dump_is_refused(tmp_path, empty):
    b, s, a = dumps(tmp_path, [] if empty == 'catalog_before' else COMMON, COMMON,
                    [] if empty == 'catalog_after' else COMMON)
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a)
    assert err.value.msg == ("The %s '%s' lists no available file under the catalog prefix '/' while the "
                             "storage_dump lists 20, so lost files could not be detected; give a complete catalog "
                             "dump." % (empty, b if empty == 'catalog_before' else a))
    assert _no_run_dirs(str(tmp_path / 'out')) == []


# ----------------------------------------------------------------------------------------------
# empty, truncated and corrupt inputs

def test_empty_storage_dump_fails(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, [], COMMON)
    with pytest.raises(VaporError, match="The storage_dump '.*' is empty"):
        check(tmp_path, b, s, a)


def test_storage_dump_with_only_blank_lines_fails(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, [], COMMON)
    write_lines(s, b'\n\n')
    with pytest.raises(VaporError, match="is empty"):
        check(tmp_path, b, s, a)


def test_storage_dump_entirely_outside_the_prefix_fails(tmp_path):
    with pytest.raises(VaporError, match="None of the 20 entries of the storage_dump"):
        check(tmp_path, *dumps(tmp_path, COMMON, COMMON, COMMON), storage_strip_prefix='/nowhere')


def _truncate(path, fmt, compression):
    with open(path, 'rb') as f:
        data = f.read()
    if compression == 'none' and fmt != 'syncat':
        cut = data[:-3]                      # the last line loses its line end
    elif compression == 'none':
        cut = data[:data.rindex(b'</entry-set>')]    # XML without its closing tags
    else:
        cut = data[:len(data) * 2 // 3]      # a compressed stream that ends early
    with open(path, 'wb') as f:
        f.write(cut)


MANY = ['/store/file/%04d.root' % i for i in range(3000)]


@pytest.mark.parametrize('role', ['catalog_before', 'storage_dump', 'catalog_after'])
@pytest.mark.parametrize('compression', ['none', 'gzip', 'bzip2'])
@pytest.mark.parametrize('fmt', ['text', 'cms', 'syncat'])
def test_truncated_inputs_fail_with_one_sentence(tmp_path, role, compression, fmt):
    b, s, a = dumps(tmp_path, MANY, MANY, MANY, fmt=fmt, compression=compression)
    target = {'catalog_before': b, 'storage_dump': s, 'catalog_after': a}[role]
    _truncate(target, fmt, compression)
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a)
    msg = err.value.msg
    assert msg.startswith("The %s '%s' " % (role, target)), msg
    assert 'truncated' in msg or 'corrupt' in msg, msg
    assert msg.count('. ') == 0 and msg.endswith('.'), msg
    assert _no_run_dirs(str(tmp_path / 'out')) == []
    assert os.listdir(str(tmp_path / 'tmp')) == [] if os.path.isdir(str(tmp_path / 'tmp')) else True


@pytest.mark.parametrize('compression', ['none', 'gzip'])
def test_truncated_companion_fails(tmp_path, compression):
    b, s, a = dumps(tmp_path, MANY, MANY, MANY, compression=compression, after_inactive=MANY[:500])
    _truncate(companion_path(a), 'text', compression)
    with pytest.raises(VaporError, match="The catalog_after companion '.*' is (truncated|corrupt)"):
        check(tmp_path, b, s, a)


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    write_lines(s, b'/ok\n/bad\xff\xfe\n')
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a)
    assert err.value.msg == "The storage_dump '%s' is corrupt: line 2 is not valid UTF-8." % s


def test_malformed_cms_line(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON, fmt='cms')
    with open(s, 'ab') as f:
        f.write(b'/broken|line\n')
    with pytest.raises(VaporError, match=r"^The storage_dump '.*' is not in the cms format: line 21 has not the "
                                         r"four fields path\|size\|mtime\|checksum\.$"):
        check(tmp_path, b, s, a)


def test_missing_input(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    with pytest.raises(VaporError, match="The catalog_after '/nonexistent' cannot be read: No such file"):
        check(tmp_path, b, s, '/nonexistent')


def test_long_line_is_a_clear_error(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    write_lines(b, b'/' + b'x' * 70000 + b'\n')
    with pytest.raises(VaporError, match="^The catalog_before '.*' is corrupt: line 1 is longer than 65536 bytes, "
                                         "the longest line a dump may hold.$"):
        check(tmp_path, b, s, a)


# ----------------------------------------------------------------------------------------------
# times: bracketing and max_dump_age

def test_time_from_name():
    assert cc_times.time_from_name('dump_20261120') == (1795132800, 1795132800 + DAY)
    assert cc_times.time_from_name('catalog_20261120_120000.gz') == (1795176000, 1795176000)
    assert cc_times.time_from_name('x_20261120T120000Z.bz2') == (1795176000, 1795176000)
    assert cc_times.time_from_name('latest') is None
    assert cc_times.time_from_name('dump_20261399') is None


def test_parse_time_option():
    assert cc_times.parse_time('2026-11-20T12:00:00Z', 'x') == (1795176000, 1795176000)
    assert cc_times.parse_time('2026-11-20T13:00:00+01:00', 'x') == (1795176000, 1795176000)
    assert cc_times.parse_time('2026-11-20', 'x') == (1795132800, 1795132800 + DAY)
    assert cc_times.parse_time('1795176000', 'x') == (1795176000, 1795176000)
    with pytest.raises(VaporError, match="The run_time 'soon' is not a time"):
        cc_times.parse_time('soon', 'run_time')


def test_catalog_before_after_the_storage_dump_fails(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a, catalog_before_time='2026-11-20T12:00:01Z')
    assert err.value.msg.startswith("The catalog dumps do not bracket the storage dump in time: catalog_before")
    assert _no_run_dirs(str(tmp_path / 'out')) == []


def test_catalog_after_before_the_storage_dump_fails(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    with pytest.raises(VaporError, match="catalog_after '.*' is from 2026-11-20T11:00:00Z .*not after"):
        check(tmp_path, b, s, a, catalog_after_time='2026-11-20T11:00:00Z')


def test_equal_times_bracket(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    res = check(tmp_path, b, s, a, catalog_before_time='2026-11-20T12:00:00Z', catalog_after_time=T_STORAGE)
    assert res['dark'] == 0


def test_storage_dump_named_by_day_covers_the_whole_day(tmp_path):
    d = tmp_path / 'in'
    d.mkdir()
    s = write_dump(d / 'dump_20261120', COMMON)
    same_day_b = write_dump(d / 'catalog_20261120_000000', COMMON)
    same_day_a = write_dump(d / 'catalog_20261120_235959', COMMON)
    next_day_a = write_dump(d / 'catalog_20261121_000000', COMMON)
    prev_day_b = write_dump(d / 'catalog_20261119_230000', COMMON)
    with pytest.raises(VaporError, match=r"catalog_after .* not after the storage_dump .* 2026-11-20 \(the whole UTC "
                                         r"day, from its file name\)"):
        check(tmp_path, same_day_b, s, same_day_a)
    res = check(tmp_path, same_day_b, s, next_day_a)          # 00:00:00 of the day is not after any of it ...
    assert res['dark'] == 0                                    # ... but equal to its start: allowed
    res = check(tmp_path, prev_day_b, s, next_day_a, run_id='second')
    assert res['stats']['inputs']['storage_dump']['time_until'] - res['stats']['inputs']['storage_dump']['time'] == DAY


def test_syncat_recorded_then_mtime(tmp_path):
    d = tmp_path / 'in'
    d.mkdir()
    s = write_dump(d / 'storage.xml', COMMON, 'syncat', recorded='2026-11-20T12:00:00Z')
    b = write_dump(d / 'before.txt', COMMON)
    a = write_dump(d / 'after.txt', COMMON)
    os.utime(b, (1795132800, 1795132800))          # 2026-11-20T00:00:00Z
    os.utime(a, (1795219200, 1795219200))          # 2026-11-21T00:00:00Z
    res = check(tmp_path, b, s, a)
    ins = res['stats']['inputs']
    assert ins['storage_dump']['time_source'] == 'recorded attribute'
    assert ins['storage_dump']['time'] == 1795176000
    assert ins['catalog_before']['time_source'] == 'file modification time'
    os.utime(a, (1795170000, 1795170000))          # before the storage dump
    with pytest.raises(VaporError, match="from its file modification time"):
        check(tmp_path, b, s, a, run_id='again')


def test_latest_link_uses_the_target_name(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    link = str(tmp_path / 'in' / 'latest')
    os.symlink(os.path.basename(s), link)
    res = check(tmp_path, b, link, a)
    assert res['stats']['inputs']['storage_dump']['time_source'] == 'file name'


def test_old_storage_dump_fails(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    with pytest.raises(VaporError, match=r"The storage_dump '.*' is from 2026-11-20T12:00:00Z \(from its file name\), "
                                         r"8\.0 days before this run, older than max_dump_age=604800 seconds"):
        check(tmp_path, b, s, a, now=RUN_TIME + 7.5 * DAY)
    res = check(tmp_path, b, s, a, now=RUN_TIME + 7.5 * DAY, max_dump_age='0')
    assert res['dark'] == 0


# ----------------------------------------------------------------------------------------------
# runs: atomic directory, check mode, confirmation

def test_check_mode_writes_nothing(tmp_path):
    b, s, a = dumps(tmp_path, COMMON + ['/l'], COMMON + ['/d'], COMMON + ['/l'])
    res = check(tmp_path, b, s, a, check_mode=True)
    assert (res['dark'], res['lost'], res['confirmed_dark']) == (1, 1, 0)
    assert not os.path.exists(str(tmp_path / 'out'))
    assert os.listdir(str(tmp_path / 'tmp')) == []
    assert not os.path.exists(res['run_dir'])


def test_check_mode_failure_writes_nothing(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d'], COMMON)
    with pytest.raises(VaporError):
        check(tmp_path, b, s, a, check_mode=True, max_dark_fraction=0.0)
    assert not os.path.exists(str(tmp_path / 'out'))


def test_run_directory_is_complete_private_and_not_reused(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d'], COMMON)
    umask = os.umask(0o022)
    try:
        res = check(tmp_path, b, s, a)
        out = str(tmp_path / 'out')
        assert sorted(os.listdir(out)) == ['.lock', '20261121_010000']
        assert sorted(os.listdir(res['run_dir'])) == ['confirmed_dark.list', 'dark.list', 'lost.list', 'stats.json']
        assert os.stat(res['run_dir']).st_mode & 0o777 == 0o750        # not world-readable: paths can name users
        for name in os.listdir(res['run_dir']):
            assert os.stat(os.path.join(res['run_dir'], name)).st_mode & 0o777 == 0o640, name
        assert os.stat(os.path.join(out, '.lock')).st_mode & 0o777 == 0o640
        assert res['stats']['durations']['total'] > 0 and res['stats']['engine']['threads'] >= 1
        # the same second again: a new, unique run directory
        again = check(tmp_path, b, s, a)
        assert again['run_id'] == '20261121_010000_1' and again['stats']['run']['id'] == '20261121_010000_1'
        with open(again['files']['stats']) as f:
            assert json.load(f)['run']['id'] == '20261121_010000_1'
        # a run_id given by the user is never reused
        with pytest.raises(VaporError, match='already exists; give another run_id'):
            check(tmp_path, b, s, a, run_id='20261121_010000')
    finally:
        os.umask(umask)


def test_umask_only_narrows_the_modes(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d'], COMMON)
    umask = os.umask(0o077)
    try:
        res = check(tmp_path, b, s, a)
    finally:
        os.umask(umask)
    assert os.stat(res['run_dir']).st_mode & 0o777 == 0o700
    assert os.stat(res['files']['dark']).st_mode & 0o777 == 0o600


def test_output_dir_that_is_a_file(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    f = tmp_path / 'out'
    f.write_text(u'x')
    for check_mode in (False, True):
        with pytest.raises(VaporError) as err:
            check(tmp_path, b, s, a, check_mode=check_mode)
        assert err.value.msg == ("The output_dir '%s' is not a directory; give the directory the runs are written "
                                 "to." % f)
    assert f.read_text() == u'x'


def test_unwritable_output_dir_is_one_sentence(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    blocker = tmp_path / 'file'
    blocker.write_text(u'x')
    with pytest.raises(VaporError, match="The output_dir '%s/out' cannot be written: " % blocker):
        check(tmp_path, b, s, a, output_dir=str(blocker / 'out'))
    with pytest.raises(VaporError, match="The temp_dir '%s' cannot be written: " % blocker):
        check(tmp_path, b, s, a, temp_dir=str(blocker))


def fake_run(out, run_id, storage_time, dark, digest=None, status='ok', version=2, until=None):
    """A complete run directory as run() writes it (stats version 2 unless told)."""
    d = os.path.join(out, run_id)
    os.makedirs(d)
    with open(os.path.join(d, 'dark.list'), 'w') as f:
        f.write(''.join(p + '\n' for p in sorted(dark)))
    stats = {'status': status, 'version': version,
             'run': {'id': run_id, 'time': storage_time + 3600, 'check_mode': False}}
    if version >= 2:
        stats['inputs'] = {'storage_dump': {'time': storage_time, 'time_until': until or storage_time,
                                            'digest': digest or 'sha256:%s' % run_id}}
    with open(os.path.join(d, 'stats.json'), 'w') as f:
        json.dump(stats, f)


STORAGE_TIME = cc_times.time_from_name(T_STORAGE)[0]


def test_confirmation_needs_enough_distinct_dumps_over_enough_days(tmp_path):
    dark = ['/d/a', '/d/b', '/d/c']
    b, s, a = dumps(tmp_path, COMMON, COMMON + dark, COMMON)
    out = str(tmp_path / 'out')
    fake_run(out, 'old', STORAGE_TIME - 32 * DAY, ['/d/a', '/d/b', '/old/only'])
    res = check(tmp_path, b, s, a, run_id='r1')
    assert not res['confirmed'] and res['confirmed_dark'] == 0
    assert 'fewer than confirm_runs=3' in res['stats']['confirmation']['reason']
    assert read_list(res['files']['confirmed_dark']) == []

    fake_run(out, 'mid', STORAGE_TIME - 11 * DAY, ['/d/a', '/d/b', '/d/c'])
    res = check(tmp_path, b, s, a, run_id='r2')
    conf = res['stats']['confirmation']
    # r1 compared the very same storage dump: it counts once (as this run), whatever its run time
    assert conf['runs'] == ['old', 'mid', 'r2']
    assert conf['skipped_runs'] == [{'run': 'r1', 'reason': 'the same storage dump content (digest) as this run'}]
    assert res['confirmed'] and read_list(res['files']['confirmed_dark']) == ['/d/a', '/d/b']
    assert conf['dump_times_span_days'] == 32
    res = check(tmp_path, b, s, a, run_id='r3', confirm_runs=4)
    assert not res['confirmed'] and '3 runs over distinct storage dumps' in res['stats']['confirmation']['reason']


def test_runs_over_the_same_dump_or_the_same_dump_time_count_once(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d/a'], COMMON)
    out = str(tmp_path / 'out')
    digest = cc_inputs.storage_digest(cc_inputs.prepare(cc_inputs.probe(cc_inputs.Input('storage_dump', s)), str(tmp_path), 9))
    # the same content under another date (a copy renamed), and another content under the same date
    fake_run(out, 'copy', STORAGE_TIME - 15 * DAY, ['/d/a'], digest=digest)
    fake_run(out, 'redated', STORAGE_TIME, ['/d/a'])
    fake_run(out, 'sameday', STORAGE_TIME - 12 * DAY, ['/d/a'], until=STORAGE_TIME - 11 * DAY)
    fake_run(out, 'sameday2', STORAGE_TIME - 12 * DAY + 7200, ['/d/a'])
    res = check(tmp_path, b, s, a, confirm_runs=3, confirm_days=10)
    conf = res['stats']['confirmation']
    assert conf['runs'] == ['sameday2', '20261121_010000'] and not res['confirmed']
    assert conf['window_days'] == 20
    assert {x['run']: x['reason'] for x in conf['skipped_runs']} == {
        'copy': 'the same storage dump content (digest) as this run',
        'redated': 'a storage dump of the same time as this run',
        'sameday': 'a storage dump of the same time as run sameday2'}


def test_older_run_records_do_not_count(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d/a'], COMMON)
    out = str(tmp_path / 'out')
    fake_run(out, 'v1a', STORAGE_TIME - 30 * DAY, ['/d/a'], version=1)
    fake_run(out, 'v1b', STORAGE_TIME - 15 * DAY, ['/d/a'], version=1)
    res = check(tmp_path, b, s, a, confirm_runs=3, confirm_days=25)
    conf = res['stats']['confirmation']
    assert not res['confirmed'] and conf['runs'] == ['20261121_010000']
    assert [x['run'] for x in conf['ignored_runs']] == ['v1a', 'v1b']
    assert 'recorded before stats version 2' in conf['ignored_runs'][0]['reason']


def test_confirmed_dark_is_the_intersection_over_the_window(tmp_path):
    dark = ['/d/a', '/d/b', '/d/c']
    b, s, a = dumps(tmp_path, COMMON, COMMON + dark, COMMON)
    out = str(tmp_path / 'out')
    fake_run(out, 'outside', STORAGE_TIME - 51 * DAY, [])                    # outside the 35-day window
    fake_run(out, 'r32', STORAGE_TIME - 32 * DAY, ['/d/a', '/d/b', '/x'])
    fake_run(out, 'r11', STORAGE_TIME - 11 * DAY, ['/d/a', '/d/b', '/d/c'])
    fake_run(out, 'x.failed', STORAGE_TIME - 6 * DAY, [], status='failed')
    fake_run(out, 'failed', STORAGE_TIME - 5 * DAY, [], status='failed')
    fake_run(out, 'later', STORAGE_TIME + 1 * DAY, [])                        # a newer storage dump: not used
    res = check(tmp_path, b, s, a, now=RUN_TIME + DAY)
    conf = res['stats']['confirmation']
    assert res['confirmed'] and conf['runs'] == ['r32', 'r11', '20261122_010000']
    assert read_list(res['files']['confirmed_dark']) == ['/d/a', '/d/b']
    assert res['confirmed_dark'] == 2 and conf['dump_times_span_days'] == 32


def test_confirmation_span_too_short(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d/a'], COMMON)
    out = str(tmp_path / 'out')
    fake_run(out, 'r20', STORAGE_TIME - 20 * DAY, ['/d/a'])
    fake_run(out, 'r11', STORAGE_TIME - 11 * DAY, ['/d/a'])
    res = check(tmp_path, b, s, a)
    assert not res['confirmed'] and 'span 20.0 days, less than confirm_days=25' in res['stats']['confirmation']['reason']
    res = check(tmp_path, b, s, a, confirm_days=20, run_id='again')
    assert res['confirmed'] and read_list(res['files']['confirmed_dark']) == ['/d/a']


def test_successive_real_runs_over_new_dumps_confirm(tmp_path):
    """Three runs 13 days apart, each over a new storage dump (a new file besides the dark one each time)."""
    for days in (0, 13, 26):
        d = tmp_path / ('d%d' % days)
        d.mkdir()
        t = RUN_TIME + days * DAY
        b = write_dump(d / 'before', COMMON)
        s = write_dump(d / 'storage', COMMON + ['/d/a', '/new/%d' % days])
        a = write_dump(d / 'after', COMMON + ['/new/%d' % days])
        res = check(tmp_path, b, s, a, now=t, catalog_before_time=t - 7200, storage_dump_time=t - 3600,
                    catalog_after_time=t - 60)
    assert res['confirmed'] and read_list(res['files']['confirmed_dark']) == ['/d/a']
    assert len(cc_confirm.list_runs(str(tmp_path / 'out'))[0]) == 3


def test_repeated_runs_on_the_same_dumps_never_confirm(tmp_path):
    """The issue's reproducer: the same dumps compared again and again, later and later, never confirm."""
    b, s, a = dumps(tmp_path, COMMON, COMMON + ['/d/a'], COMMON)
    for days in (0, 1, 2, 3, 6):
        res = check(tmp_path, b, s, a, now=RUN_TIME + days * DAY, confirm_runs=3, confirm_days=0)
    conf = res['stats']['confirmation']
    assert not res['confirmed'] and conf['runs'] == [res['run_id']] and len(conf['skipped_runs']) == 4
    assert read_list(res['files']['confirmed_dark']) == []


def test_run_time_is_gone(tmp_path):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    with pytest.raises(VaporError, match='^The option run_time was removed'):
        check(tmp_path, b, s, a, run_time='2026-12-30T00:00:00Z')
    assert not os.path.exists(str(tmp_path / 'out'))


@pytest.mark.parametrize('role', ['storage_dump', 'catalog_after'])
def test_dump_newer_than_its_run_is_refused(tmp_path, role):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    extra = {'storage_dump_time': '2026-12-20T12:00:00Z', 'catalog_after_time': '2026-12-21T00:00:00Z'}
    if role == 'catalog_after':
        extra = {'catalog_after_time': '2026-11-21T01:06:00Z'}      # 6 minutes after the run
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a, **extra)
    assert err.value.msg.startswith("The %s '%s' is from " % (role, {'storage_dump': s, 'catalog_after': a}[role]))
    assert err.value.msg.endswith(", after this run at 2026-11-21T01:00:00Z; a dump cannot be newer than the run "
                                  "that reads it, so its time is wrong.")
    assert _no_run_dirs(str(tmp_path / 'out')) == []
    # within five minutes (clocks of different hosts) it is accepted
    res = check(tmp_path, b, s, a, catalog_after_time='2026-11-21T01:04:00Z')
    assert res['dark'] == 0


def test_intersect_sorted(tmp_path):
    files = []
    for i, lines in enumerate([['a', 'b', 'c', 'e'], ['b', 'c', 'd', 'e'], ['c', 'e', 'f']]):
        p = str(tmp_path / str(i))
        with open(p, 'w') as f:
            f.write(''.join(x + '\n' for x in lines))
        files.append(p)
    dest = str(tmp_path / 'out')
    assert cc_confirm._intersect_sorted(files, dest) == 2
    assert read_list(dest) == ['c', 'e']


# ----------------------------------------------------------------------------------------------
# options

@pytest.mark.parametrize('bad, match', [
    ({'max_dark_fraction': 1.5}, 'not a fraction'),
    ({'ignore': ['(']}, 'not a valid regular expression'),
    ({'min_age': 'soon'}, 'not a duration'),
    ({'memory_limit': 'lots'}, 'not a size'),
    ({'confirm_runs': 0}, 'not a positive number'),
    ({'run_id': '../x'}, 'not a plain directory name'),
    ({'storage_dump_time': 'yesterday'}, 'is not a time'),
])
def test_bad_options(tmp_path, bad, match):
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    with pytest.raises(VaporError, match=match):
        check(tmp_path, b, s, a, **bad)
    assert not os.path.exists(str(tmp_path / 'out'))


def test_out_of_memory_is_one_sentence(tmp_path):
    many = ['/m/%06d/with/a/longer/path/name/to/use/memory' % i for i in range(200000)]
    b, s, a = dumps(tmp_path, many, many, many)
    with pytest.raises(VaporError) as err:
        check(tmp_path, b, s, a, memory_limit='1MB', threads=1)
    assert err.value.msg == ("The comparison ran out of memory while reading the catalog_after '%s' (memory_limit=1MB); "
                             "raise memory_limit or point temp_dir at a file system with more free space." % a)


def test_gzip_and_bz2_helpers_are_readable(tmp_path):
    # the writer used above really produces what the module reads (guards the test helpers themselves)
    p = write_dump(tmp_path / 'x.gz', ['/a'], 'text', 'gzip')
    with gzip.open(p) as f:
        assert f.read() == b'/a\n'
    p = write_dump(tmp_path / 'x.bz2', ['/a'], 'text', 'bzip2')
    with bz2.open(p) as f:
        assert f.read() == b'/a\n'


# ----------------------------------------------------------------------------------------------
# directories as inputs: site-published dumps with scheduled catalog dumps

def test_directories_select_newest_storage_dump_and_bracketing_catalog_dumps(tmp_path):
    cat = tmp_path / 'catalog'
    site = tmp_path / 'site'
    cat.mkdir()
    site.mkdir()
    files = COMMON + ['/store/dark.root']
    for stamp in ('20261118_000000', '20261119_230000', '20261121_000100', '20261122_000000'):
        write_dump(cat / ('catalog_%s' % stamp), COMMON)
    write_dump(companion_path(str(cat / 'catalog_20261119_230000')), [])
    write_dump(site / 'dump_20261119', COMMON)
    write_dump(site / 'dump_20261120', files)
    os.symlink('dump_20261120', str(site / 'latest'))
    r = cc_run.run(params(tmp_path, str(cat), str(site), str(cat)), now=RUN_TIME + DAY)
    sel = r['stats']['selected']
    assert sel == {'storage_dump': str(site / 'dump_20261120'),
                   'catalog_before': str(cat / 'catalog_20261119_230000'),
                   'catalog_after': str(cat / 'catalog_20261121_000100')}
    assert r['dark'] == 1 and read_list(os.path.join(r['run_dir'], 'dark.list')) == ['/store/dark.root']


def test_directory_without_a_bracketing_catalog_dump_fails(tmp_path):
    cat = tmp_path / 'catalog'
    site = tmp_path / 'site'
    cat.mkdir()
    site.mkdir()
    write_dump(cat / 'catalog_20261119_230000', COMMON)
    write_dump(site / 'dump_20261120', COMMON)
    with pytest.raises(VaporError, match="No catalog dump in '.*catalog' starts after the storage dump"):
        cc_run.run(params(tmp_path, str(cat), str(site), str(cat)), now=RUN_TIME + DAY)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(VaporError, match="The storage_dump directory '.*empty' holds no dump"):
        cc_run.run(params(tmp_path, str(cat), str(empty), str(cat)), now=RUN_TIME + DAY)


def test_a_line_of_exactly_max_line_bytes_is_read_by_the_engine(tmp_path):
    from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import MAX_LINE
    long_path = '/' + 'y' * (MAX_LINE - 1)
    b, s, a = dumps(tmp_path, COMMON, COMMON, COMMON)
    write_lines(s, ''.join(p + '\n' for p in COMMON + [long_path]).encode())
    res = check(tmp_path, b, s, a)
    assert res['dark'] == 1 and res['stats']['inputs']['storage_dump'].get('read_by') is None
    write_lines(s, ''.join(p + '\n' for p in COMMON + [long_path + 'z']).encode())
    with pytest.raises(VaporError, match='line 21 is longer than 65536 bytes'):
        check(tmp_path, b, s, a, run_id='again')
