# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The 3-dump consistency check: catalog dump before, storage dump, catalog dump after.
#
#   dark = on storage and in neither catalog dump, whatever the replica state (dump + companion list)
#   lost = available in both catalog dumps and not on storage
#
# so a file registered, created, deleted or removed between the two catalog dumps is never flagged.
#
# Where things are: options.py (the options table, validate), times.py (times of dumps), inputs.py (choose, probe,
# prepare the dumps), engine.py (DuckDB, SQL normalisation, compare, the lists), gates.py (every check that stops a
# run, in order), confirm.py (the runs of OUTPUT_DIR, confirmation), files.py (modes, files and directories a run
# writes); this file: run(), the lock, the run id and the publication of a run directory.
#
# Pure Python + DuckDB (guarded import; no Ansible import).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import fcntl
import os
import shutil
import tempfile
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import Ticker
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import from_params as progress_from
from ansible_collections.vapor.ops.plugins.module_utils._consistency import gates
from ansible_collections.vapor.ops.plugins.module_utils._consistency.confirm import Run, confirm, mapping_key
from ansible_collections.vapor.ops.plugins.module_utils._consistency.engine import (
    Engine, ReadWatch, compare, duckdb, keepers, write_list)
from ansible_collections.vapor.ops.plugins.module_utils._consistency.files import (
    DIR_MODE, FILE_MODE, Writing, cannot_write, new_dir, umask_mode, write_json)
from ansible_collections.vapor.ops.plugins.module_utils._consistency.inputs import (
    Background, prepare, storage_digest)
from ansible_collections.vapor.ops.plugins.module_utils._consistency.times import utc

RUN_ID_FORMAT = '%Y%m%d_%H%M%S'
STATS_VERSION = 2                  # 2: inputs.storage_dump.digest; confirmation by distinct storage dumps
LOCK_NAME = '.lock'
LOCK_WAIT = 600                    # seconds a run waits for another run's confirm-and-publish step


class _Lock:
    """OUTPUT_DIR/.lock, held while a run reads the history, picks its run id and publishes its directory."""

    def __init__(self, output_dir, wait=LOCK_WAIT):
        self.path = os.path.join(output_dir, LOCK_NAME)
        self.wait = wait
        self.fd = None

    def __enter__(self):
        try:
            # never through a symbolic link planted in OUTPUT_DIR (O_CREAT would create its target elsewhere)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise VaporError("The lock '%s' is a symbolic link, not a file this module made; remove it."
                                 % self.path)
            raise cannot_write('output_dir', os.path.dirname(self.path), exc)
        deadline = time.time() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.time() > deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise VaporError("Another consistency run has held the lock '%s' for more than %d seconds, so "
                                     "this run was not published; run it again when the other one has finished."
                                     % (self.path, self.wait))
                time.sleep(0.1)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)         # releases the flock
            self.fd = None


def _free_run_id(output_dir, base):
    """``base`` if it does not exist, else base_1, base_2, ... (a given run_id that exists: gate run_id_free)."""
    if not os.path.lexists(os.path.join(output_dir, base)):
        return base
    i = 1
    while os.path.lexists(os.path.join(output_dir, '%s_%d' % (base, i))):
        i += 1
    return '%s_%d' % (base, i)


def _place(tmp, final, stats):
    """Publish a run directory assembled in ``tmp``: its stats.json, its mode, one rename to ``final``."""
    write_json(os.path.join(tmp, 'stats.json'), stats)
    os.chmod(tmp, umask_mode(DIR_MODE))       # mkdtemp made it 0700
    os.rename(tmp, final)


def _write_failed(output_dir, run_id, stats):
    """Best effort: <run_id>.failed/stats.json, through a temporary directory and a rename under the lock."""
    tmp = None
    try:
        tmp = tempfile.mkdtemp(prefix='.%s.' % run_id, suffix='.tmp', dir=output_dir)
        with _Lock(output_dir):
            final = os.path.join(output_dir, run_id + '.failed')
            stats['run']['id'] = run_id
            stats['run']['dir'] = final
            if os.path.isdir(final):
                shutil.rmtree(final)
            _place(tmp, final, stats)
        return final
    except (OSError, IOError, VaporError):
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return None


def _new_stats(p, run_id, now, check_mode):
    return {
        'version': STATS_VERSION, 'status': 'running',
        'run': {'id': run_id, 'time': now, 'time_utc': utc(now), 'check_mode': bool(check_mode),
                'output_dir': p['output_dir'], 'modes': {'directories': '%04o' % DIR_MODE, 'files': '%04o' % FILE_MODE}},
        'thresholds': {'max_dark_fraction': p['max_dark_fraction'], 'max_lost_fraction': p['max_lost_fraction'],
                       'max_dump_age': p['max_dump_age'], 'min_age': p['min_age'],
                       'confirm_runs': p['confirm_runs'], 'confirm_days': p['confirm_days']},
        'mapping': {'storage_strip_prefix': p['_storage_map'][0], 'storage_add_prefix': p['_storage_map'][1],
                    'catalog_strip_prefix': p['_catalog_map'][0], 'catalog_add_prefix': p['_catalog_map'][1],
                    'ignore': list(p.get('ignore') or [])},
        'durations': {},
        'engine': {'name': 'duckdb', 'version': getattr(duckdb, '__version__', None),
                   'memory_limit': p['memory_limit'], 'threads': p.get('threads'), 'temp_dir': None},
        'inputs': {},
    }


def run(params, check_mode=False, now=None):
    """Compare the three dumps; write (or, in check mode, only report) one run; return the result dictionary.

    Raises VaporError with one sentence when an input is wrong or a safety gate trips. Nothing that looks like a
    complete run is written then; the stats of the failed run go to ``<run_id>.failed/stats.json``. ``now`` is
    for tests only (the module always runs now).
    """
    started = time.time()
    if now is None:
        now = started
    ctx = gates.Context(params, now=now, check_mode=check_mode)
    gates.check('options', ctx)
    p = ctx.p
    progress = progress_from(p, 'consistency_check', 'paths')
    ctx.fixed_id = bool(p.get('run_id'))
    run_id = p.get('run_id') or datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).strftime(RUN_ID_FORMAT)
    ctx.run_id = run_id
    p['output_dir'] = ctx.output_dir = output_dir = os.path.abspath(p['output_dir'])
    run_dir = os.path.join(output_dir, run_id)
    ctx.stats = stats = _new_stats(p, run_id, now, check_mode)
    timings = stats['durations']
    gates.check('output', ctx)
    workdir = eng = tmp_run = digest_job = None
    try:
        if not check_mode:              # an output_dir that cannot be written fails now, not after the comparison
            tmp_run = new_dir(output_dir, '.%s.' % run_id, '.tmp', 'output_dir')
        t = time.time()
        progress.update(0, stage='looking at the inputs', force=True)
        gates.check('inputs', ctx)
        inputs = ctx.inputs
        before, _bc, storage, after, _ac = inputs
        timings['probe'] = round(time.time() - t, 3)
        gates.check('probed', ctx)

        t = time.time()
        progress.update(0, stage='preparing the inputs', force=True)
        workdir = new_dir(p.get('temp_dir') or tempfile.gettempdir(), 'vapor-consistency-', '', 'temp_dir')
        for i, inp in enumerate(inputs):
            if inp is not None:
                prepare(inp, workdir, i)
        timings['prepare'] = round(time.time() - t, 3)
        digest_job = Background(storage_digest, storage)
        digest_job.start()

        eng = Engine(workdir, p['memory_limit'], p.get('threads'), watched=progress.path is not None)
        stats['engine'].update(version=eng.version, threads=eng.threads, temp_dir=workdir)
        ctx.watch = watch = ReadWatch(progress, eng, inputs)
        with Ticker(progress, watch.poll):
            dark_sql, lost_sql = compare(eng, p, inputs, timings, workdir, ctx)
            gates.check('compared', ctx)
            for inp in inputs:
                if inp is not None:
                    target_stats = stats['inputs'][inp.role]
                    if inp.companion_of is not None:
                        target_stats = target_stats['companion']
                    target_stats.update(inp.counts)

            # the lists go into the temporary run directory (in check mode: into the work directory, then away)
            t = time.time()
            target = workdir if check_mode else tmp_run
            keep_dark, keep_lost = keepers(p, storage)
            excluded = {}
            dark_path = os.path.join(target, 'dark.list')
            watch.stage('writing the lists')
            with Writing(target, 'temp_dir' if check_mode else 'output_dir', p):
                n_dark = write_list(eng, dark_sql, dark_path, keep_dark, excluded)
                n_lost = write_list(eng, lost_sql, os.path.join(target, 'lost.list'), keep_lost, excluded)
        rate = progress.finish(watch.read)
        eng.close()
        eng = None
        timings['write_lists'] = round(time.time() - t, 3)

        n_storage = storage.counts['compared']
        denom_lost = min(before.counts['compared'], after.counts['compared'])
        dark_fraction = n_dark / float(n_storage)
        lost_fraction = n_lost / float(denom_lost) if denom_lost else 0.0
        stats['counts'] = {'storage_files': n_storage, 'catalog_before_available': before.counts['compared'],
                           'catalog_after_available': after.counts['compared'], 'lost_denominator': denom_lost,
                           'dark': n_dark, 'lost': n_lost, 'excluded': excluded,
                           'duplicates': dict((inp.label.replace(' ', '_'), inp.counts['duplicates'])
                                              for inp in inputs if inp is not None)}
        stats['fractions'] = {'dark': dark_fraction, 'lost': lost_fraction, 'dark_denominator': 'storage_files',
                              'lost_denominator': 'min(catalog_before_available, catalog_after_available)'}
        gates.check('listed', ctx)

        t = time.time()
        digest = digest_job.result()
        digest_job = None
        stats['inputs']['storage_dump']['digest'] = digest
        gates.check('digested', ctx)
        timings['digest_wait'] = round(time.time() - t, 3)
        this = Run(run_id, None, storage.time['time'], storage.time['time_until'], digest, run_time=now,
                   mapping=mapping_key(stats['mapping']))
        stats['status'] = 'ok'
        stats['files'] = {'dark': 'dark.list', 'lost': 'lost.list', 'confirmed_dark': 'confirmed_dark.list',
                          'stats': 'stats.json'}
        confirmed_path = os.path.join(target, 'confirmed_dark.list')
        if check_mode:
            with Writing(target, 'temp_dir', p):
                conf = confirm(p, this, output_dir, dark_path, confirmed_path)
        else:
            # the history is read, the run id picked and the run published under one lock
            with _Lock(output_dir), Writing(target, 'output_dir', p):
                gates.check('publish', ctx)
                run_id = this.id = _free_run_id(output_dir, run_id)
                run_dir = os.path.join(output_dir, run_id)
                conf = confirm(p, this, output_dir, dark_path, confirmed_path)
                stats['run']['id'] = run_id
                stats['confirmation'] = conf
                stats['counts']['confirmed_dark'] = conf['count']
                timings['confirm'] = round(time.time() - t, 3)
                timings['total'] = round(time.time() - started, 3)
                _place(tmp_run, run_dir, stats)
                tmp_run = None
        if check_mode:
            stats['confirmation'] = conf
            stats['counts']['confirmed_dark'] = conf['count']
            timings['confirm'] = round(time.time() - t, 3)
            timings['total'] = round(time.time() - started, 3)
    except VaporError as exc:
        stats['status'] = 'failed'
        stats['message'] = exc.msg
        if exc.context.get('gate'):
            stats['gate'] = exc.context['gate']
        timings['total'] = round(time.time() - started, 3)
        if not check_mode and os.path.isdir(output_dir):
            failed = _write_failed(output_dir, run_id, stats)
            if failed:
                exc.context['failed_stats'] = os.path.join(failed, 'stats.json')
        exc.context.pop('engine_read', None)
        exc.context['stats'] = stats
        raise
    finally:
        if digest_job is not None:
            digest_job.join()
        if eng is not None:
            eng.close()
        if tmp_run is not None:
            shutil.rmtree(tmp_run, ignore_errors=True)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    return {
        'changed': True,
        'run_id': run_id,
        'run_dir': run_dir,
        'dark': stats['counts']['dark'],
        'lost': stats['counts']['lost'],
        'confirmed_dark': stats['counts']['confirmed_dark'],
        'confirmed': stats['confirmation']['confirmed'],
        'dark_fraction': stats['fractions']['dark'],
        'lost_fraction': stats['fractions']['lost'],
        'files': dict((k, os.path.join(run_dir, v)) for k, v in stats['files'].items()),
        'stats': stats,
        'duration': round(time.time() - started, 3),
        'rate': rate,
        'warnings': [progress.warning] if progress.warning else [],
    }
