# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# One storage dump, start to end: scan -> map/filter -> format -> temporary file -> compare with
# what is published -> atomic rename -> latest link -> prune. Used by the se_dump module and by
# the scheduled runner (vapor-se-dump) that the storage_dump role installs; both pass the same
# parameters, so the scheduled run executes this very code.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import math
import os
import stat
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.paths import EntryFilter, PathMapper, normalise_path
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import from_params as progress_from
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_duration
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import (
    COMPRESSIONS, SUFFIXES, count_lines, open_compressed_writer)
from ansible_collections.vapor.ops.plugins.module_utils._dump.publish import (
    Publisher, check_output_options, ensure_dest, name_regex, temp_marker)
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import FORMATS
from ansible_collections.vapor.ops.plugins.module_utils._dump.writer import DumpWriter
from ansible_collections.vapor.ops.plugins.module_utils._storage.posix import (
    SCRATCH_PREFIX, check_posix_root, mount_views, unmounted_mount_points)
from ansible_collections.vapor.ops.plugins.module_utils._storage.scanners import SCANNERS, SOURCES
from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump_options import SE_DUMP
from ansible_collections.vapor.ops.plugins.module_utils._storage.sink import COUNTERS, EntrySink

MAX_WORKERS = 256

# parameter defaults, from the options table the module's argument spec comes from (the runner's too)
DEFAULTS = SE_DUMP.defaults()


def validate(params):
    p = SE_DUMP.merge(params)
    if p['source'] not in SOURCES:
        raise VaporError("The source '%s' is not supported; use one of %s." % (p['source'], ', '.join(SOURCES)))
    check_output_options(p, FORMATS, COMPRESSIONS,
                         ('keep', 'min_files', 'max_errors', 'retries', 'timeout', 'listing_budget'))
    p['roots'] = list(p['roots'] or [])
    if p['source'] == 'posix':
        if not p['roots']:
            raise VaporError("The posix source needs at least one root directory (roots).")
        p['roots'] = [normalise_path(os.path.abspath(r)) for r in p['roots']]
        if p['strip_prefix']:
            p['strip_prefix'] = os.path.normpath(p['strip_prefix'])
    if p['source'] == 'xrootd' and not p['url']:
        raise VaporError("The xrootd source needs the server URL (url), such as root://host:1094.")
    if p['source'] in ('dpm', 'dcache') and not p['db']:
        raise VaporError("The %s source needs the database connection settings (db)." % p['source'])
    if isinstance(p['min_age'], float) and not math.isfinite(p['min_age']):
        raise VaporError("The min_age '%s' is not a duration; give a number of seconds or a value such as '7d', '12h'."
                         % p['min_age'])
    p['min_age'] = parse_duration(p['min_age'], 'min_age')
    if p['latest_link'] and p['name'] == p['latest_link']:
        raise VaporError("The name pattern '%s' is the latest link's name as well; give the dumps and the link "
                         "different names." % p['name'])
    if '\0' in p['name']:
        raise VaporError("The name pattern %r holds a NUL character, which no file name can hold." % p['name'])
    for key in ('strip_prefix', 'add_prefix'):
        if p[key] and '..' in str(p[key]).split('/'):
            raise VaporError("The %s '%s' has a '..' component; give the prefix without '..'." % (key, p[key]))
    if p['workers'] is not None and not 1 <= int(p['workers']) <= MAX_WORKERS:
        raise VaporError("The option workers is %s; it must be between 1 and %d (processes for posix, listings in "
                         "flight for xrootd)." % (p['workers'], MAX_WORKERS))
    if p['workers'] is None:
        p['workers'] = {'posix': min(4, os.cpu_count() or 1), 'xrootd': 8}.get(p['source'], 1)
    return p


def _roots_inside_strip(p):
    """A root that neither lies inside strip_prefix nor holds it has every file outside it: all would be left
    out of the dump (and look lost). Refused."""
    if not p['strip_prefix'] or not p['roots']:
        return
    strip = normalise_path(p['strip_prefix'])
    for root in p['roots']:
        r = normalise_path(root)
        if not (strip == '/' or r == strip or r.startswith(strip + '/') or strip.startswith(r.rstrip('/') + '/')):
            raise VaporError("The root '%s' is not inside strip_prefix '%s', so every one of its files would be left "
                             "out of the dump (and look lost); nothing was published. Give roots inside strip_prefix."
                             % (root, p['strip_prefix']))


def _check_target(target):
    """What is at the dump's own name today must be a published dump (a regular file) or nothing: a directory,
    a symbolic link or a special file there was put by someone else, and is neither read nor replaced."""
    try:
        st = os.lstat(target)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        raise VaporError("The dump '%s' cannot be looked at: %s." % (target, exc.strerror or exc))
    if not stat.S_ISREG(st.st_mode):
        kind = 'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'a directory' if stat.S_ISDIR(st.st_mode) \
            else 'a special file'
        raise VaporError("The dump's name '%s' is taken by %s, not by a published dump; nothing was published. "
                         "Move it away or choose another name pattern." % (target, kind))


def list_dumps(dest, pattern, suffixes):
    regex = name_regex(pattern, suffixes)
    try:
        names = os.listdir(dest)
    except OSError:
        return []
    return sorted(n for n in names if regex.match(n) and os.path.isfile(os.path.join(dest, n)))


def _link(dest, link_name):
    if not link_name:
        return None
    path = os.path.join(dest, link_name)
    return os.readlink(path) if os.path.islink(path) else None


def dump_name(p, when):
    name = when.strftime(p['name'])
    if p['compression_suffix']:
        name += SUFFIXES[p['compression']]
    return name


def dest_inside_roots(dest, roots):
    """The paths, as the posix scan walks them, at which ``dest`` lies inside a root (empty when it is outside).

    The walk never follows a symbolic link below a root, so it reaches ``dest`` only at the root's path
    plus the part of dest's real path below the root's real path. A dest that is a root itself is refused:
    the scan would hold nothing but the dumps.
    """
    real_dest = os.path.realpath(dest)
    inside = []
    for root in roots:
        real_root = os.path.realpath(root)
        if real_dest == real_root:
            raise VaporError("The dump directory '%s' is the root '%s' itself, so the dump would list its own files; "
                             "publish into a directory outside the roots." % (dest, root))
        head = real_root.rstrip('/') + '/'
        if real_dest.startswith(head):
            inside.append((root, root.rstrip('/') + '/' + real_dest[len(head):]))
    return inside


def _empty_roots(roots):
    """The roots that are empty directories, looked at before the scan (errors are the scan's to report)."""
    empty = []
    for root in roots:
        try:
            with os.scandir(root) as it:
                if next(it, None) is None:
                    empty.append(root)
        except OSError:
            continue
    return empty


class OwnFileWatch:
    """The sink's output stream, watched for the unique name of this run's own temporary file.

    Seeing it means the dump directory is inside the scanned namespace (an XRootD export or an NFS
    mount of the namespace that holds dest): the dump would list its own files, which would later look
    dark. Records may be split across writes, so the end of the previous write is kept.
    """

    def __init__(self, stream, marker):
        self.stream = stream
        self.marker = marker
        self.keep = len(marker) - 1
        self.tail = b''
        self.seen = False

    def write(self, data):
        if not self.seen:
            if self.marker in data or (self.tail and self.marker in self.tail + data[:self.keep]):
                self.seen = True
            self.tail = data[-self.keep:] if len(data) >= self.keep else (self.tail + data)[-self.keep:]
        return self.stream.write(data)


def scanned_roots(p):
    if p['roots']:
        return [normalise_path(r) for r in p['roots']]
    return SCANNERS[p['source']].roots(p)


def _expected_files(dest, dumps, latest_link):
    """(lines of the newest published dump, its name): the estimate of a scan's size; (None, None) without one."""
    newest = None
    if latest_link and os.path.islink(os.path.join(dest, latest_link)):
        target = os.readlink(os.path.join(dest, latest_link))
        if '/' not in target and target in dumps:
            newest = target
    if newest is None and dumps:
        try:
            newest = max(dumps, key=lambda n: os.stat(os.path.join(dest, n)).st_mtime)
        except OSError:          # removed meanwhile (another run's pruning): no estimate
            return None, None
    if newest is None:
        return None, None
    return count_lines(os.path.join(dest, newest)), newest


def run(params, check_mode=False, now=None):
    """Produce (or, in check mode, predict) one dump; return the result dictionary.

    Raises VaporError with one sentence when anything is wrong; nothing is published then.
    """
    started = time.time()
    p = validate(params)
    progress = progress_from(p, 'se_dump', 'files')
    now = started if now is None else now
    when = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
    dest = p['dest']
    ensure_dest(dest, check_mode, p['latest_link'])
    left_out = dest_inside_roots(dest, p['roots']) if p['source'] == 'posix' else []
    views = []
    if p['source'] == 'posix':
        for root in p['roots']:       # a missing or unreadable root is said first, in its own words
            check_posix_root(root)
    _roots_inside_strip(p)
    if p['source'] == 'posix':
        views = mount_views(p['roots'])
        if int(p['min_files']) > 0:
            for mp in unmounted_mount_points(p['roots']):
                raise VaporError("The mount point '%s' inside the roots is listed in /etc/fstab but not mounted, so "
                                 "every file of that file system would look lost; nothing was published. Mount it "
                                 "(or, if it is gone for good, remove it from /etc/fstab)." % mp)
    name = dump_name(p, when)
    target = os.path.join(dest, name)
    _check_target(target)
    roots = scanned_roots(p)
    mapper = PathMapper(p['strip_prefix'], p['add_prefix'])
    efilter = EntryFilter(p['ignore'], p['min_age'], now=now)

    suffixes = list(SUFFIXES.values()) if p['compression_suffix'] else ['']
    before = {'dumps': list_dumps(dest, p['name'], suffixes), 'latest': _link(dest, p['latest_link'])}

    # a storage dump is published under each run's own name (the date): unchanged means the same content as
    # the dump already published under this name
    pub = Publisher(dest, p['name'], name, suffixes, p['mode'], check_mode, latest_link=p['latest_link'],
                    keep=p['keep'], same_name=True, sweep=(SCRATCH_PREFIX,))
    stream = watch = None
    try:
        raw = pub.open()[0]
        writer = None
        if raw is not None:
            stream = open_compressed_writer(raw, p['compression'])
            writer = DumpWriter(stream, p['format'], recorded=when.strftime('%Y-%m-%dT%H:%M:%SZ'), vo=p['vo'])
            watch = OwnFileWatch(stream, temp_marker(pub.temps[0]))
        # the content digest is needed only to compare with a dump already published under this name
        sink = EntrySink(p['format'], mapper, efilter, watch, len(roots), digest=pub.baseline() is not None)
        sink.progress = progress
        if progress.path is not None:      # an estimate is worth reading the last dump only when someone watches
            expected, source = _expected_files(dest, before['dumps'], p['latest_link'])
            if expected:
                progress.set_total(expected, 'the dump %s' % source)
        progress.update(0, stage='scanning %s' % ', '.join(roots), force=True)
        durations = []
        empty = _empty_roots(p['roots']) if p['source'] == 'posix' and int(p['min_files']) > 0 else []
        SCANNERS[p['source']].scan(p, sink, durations, dest,
                                   skip=[walked for _root, walked in left_out] + [w for w, _m, _r in views])
        if watch is not None and watch.seen:
            raise VaporError("The dump directory '%s' is inside the scanned namespace (the scan listed this run's "
                             "own temporary file '%s'), so the dump would list its own files; nothing was "
                             "published. Publish outside the roots, or leave the directory out with ignore."
                             % (dest, os.path.basename(pub.temps[0])))
        # every entry looked at: listed, or left out for a counted reason (the running count is the scanners')
        rate = progress.finish(sink.files + sum(sink.c[k] for k in COUNTERS))
        if writer is not None:
            writer.close()
            if stream is not raw:
                stream.close()
            pub.close_raw()
        errors = sink.errors
        if len(errors) > p['max_errors']:
            more = ' (and %d more)' % (len(errors) - 1) if len(errors) > 1 else ''
            raise VaporError("The scan failed, nothing was published: %s%s" % (errors[0].rstrip('.'), more + '.'),
                             errors=errors)
        if sink.files < p['min_files']:
            skipped = ', '.join('%d %s' % (v, k) for k, v in sorted(sink.c.items()) if v)
            raise VaporError("The scan of %s found %d files%s, fewer than min_files=%d; nothing was published "
                             "(an unmounted or emptied storage area must not publish an empty dump)."
                             % (', '.join(roots), sink.files, ' (left out: %s)' % skipped if skipped else '',
                                p['min_files']))
        if empty:
            raise VaporError("The root '%s' is an empty directory (an unmounted mount point looks like this), so all "
                             "its files would look lost; nothing was published. Set min_files to 0 to publish a dump "
                             "with an empty root." % empty[0])
        today_mode = os.stat(target).st_mode & 0o7777 if pub.baseline() is not None else None
        out = pub.finish([sink.digest.state()], [p['format']])
        before['today'] = None
        if out['baseline'] is not None:
            old = out['baseline_states'][0]
            before['today'] = {'name': name, 'files': old[0] if old is not None else None, 'mode': '%04o' % today_mode}
    except OSError as exc:
        if not pub.pending:
            raise
        raise VaporError("The dump could not be written in the dump directory '%s': %s; nothing was published and "
                         "the dumps already there were kept." % (dest, exc.strerror or exc))
    finally:
        pub.cleanup()
    changed, pruned, stale = out['published'], out['pruned'], out['stale']

    skipped = dict((k, sink.c[k]) for k in COUNTERS)
    warnings = []
    if sink.c['unrepresentable']:
        warnings.append("%d entries were left out because the %s format cannot carry their names (first: %s)."
                        % (sink.c['unrepresentable'], p['format'],
                           '; '.join('%r: %s' % (path, why) for why, path in sink.samples[:3])))
    for root, walked in left_out:
        warnings.append("The dump directory '%s' is inside the root '%s'; it was left out of the scan (as '%s'), so "
                        "the dump does not list its own files." % (dest, root, walked))
    for walked, mp, shown in views:
        warnings.append("The directory '%s' is a mount point that shows again '%s' (a bind mount), which the scan "
                        "walks already; it was left out of the scan, so no file is listed twice." % (walked, shown))
    if sink.c['future']:
        warnings.append("%d files have a modification time later than now plus min_age (first: %s); they are "
                        "listed, since their age cannot be told." % (sink.c['future'], ', '.join(
                            '%r' % path for path, _mtime in sink.future_samples[:3])))
    if sink.c['outside']:
        warnings.append("%d files of the roots lie outside strip_prefix '%s' and are not in the dump."
                        % (sink.c['outside'], p['strip_prefix']))
    for e in sink.errors:
        warnings.append(e)
    if progress.warning:
        warnings.append(progress.warning)
    after_dumps = sorted((set(before['dumps']) | set([name])) - set(pruned))
    after = {'dumps': after_dumps, 'latest': name if p['latest_link'] else None,
             'today': {'name': name, 'files': sink.files, 'mode': '%04o' % p['mode']}}
    return {
        'changed': bool(changed or out['mode_changed'] or out['link_changed'] or pruned or stale),
        'diff': {'before': before, 'after': after},
        'dump': target,
        'name': name,
        'published': changed,
        'files': sink.files,
        'bytes': sink.nbytes,
        'format': p['format'],
        'compression': p['compression'],
        'source': p['source'],
        'roots': [{'root': r, 'files': sink.root_files[i], 'bytes': sink.root_bytes[i],
                   'duration': durations[i] if i < len(durations) else None} for i, r in enumerate(roots)],
        'excluded': skipped,
        'unrepresentable': [{'path': path, 'reason': why} for why, path in sink.samples],
        'errors': list(sink.errors),
        'latest': os.path.join(dest, p['latest_link']) if p['latest_link'] else None,
        'pruned': pruned,
        'mode': '%04o' % p['mode'],
        'left_out': [walked for _root, walked in left_out] + [walked for walked, _mp, _shown in views],
        'stale_removed': stale,
        'duration': round(time.time() - started, 3),
        'rate': rate,
        'warnings': warnings,
    }
