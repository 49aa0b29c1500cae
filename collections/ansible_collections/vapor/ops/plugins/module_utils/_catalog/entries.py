# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The catalog_entries_info job: entries under a path by owner DN and age (with replicas), or the per-DN usage
# summary of one storage element.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import open_catalog
from ansible_collections.vapor.ops.plugins.module_utils._catalog.options import CATALOG_ENTRIES_INFO
from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, checksum_of, is_kind, mode_string
from ansible_collections.vapor.ops.plugins.module_utils._catalog.sfn import SfnMapping
from ansible_collections.vapor.ops.plugins.module_utils._common.values import parse_duration


def entries_info(params, now=None, check_mode=False):
    """(Reads only: check mode changes nothing.) Entries under a path (by owner DN and age, with replicas), or a per-DN usage summary of one SE."""
    p = CATALOG_ENTRIES_INFO.merge(params)
    now = time.time() if now is None else now
    min_age = parse_duration(p['min_age'], 'min_age')
    catalog = open_catalog(p['catalog'])
    try:
        if p['summary']:
            mapping = SfnMapping(p['se'], None, None, p['sfn_prefix'])
            users = catalog.users()
            rows = catalog.usage_by_owner(mapping)
            summary = []
            for uid, files, nbytes in rows:
                summary.append({'dn': users.get(uid), 'uid': uid, 'files': files, 'bytes': nbytes})
            summary.sort(key=lambda s: (-s['bytes'], s['dn'] or '', s['uid'] if s['uid'] is not None else -1))
            return {'summary': summary, 'entries': [], 'files': sum(s['files'] for s in summary),
                    'bytes': sum(s['bytes'] for s in summary), 'storage_element': mapping.describe()}
        owners = list(p['owners'] or [])
        uids = set()
        unknown = []
        for dn in owners:
            uid = catalog.uid_of(dn)
            if uid is None:
                unknown.append(dn)
            else:
                uids.add(uid)
        entries = []
        truncated = False
        if not owners or uids:
            newest = now - min_age
            want = {'file': (S_IFREG,), 'directory': (S_IFDIR,), 'any': None}[p['entry_type']]
            limit = int(p['limit'] or 0)
            walk = catalog.walk(p['path'], recursive=p['recursive'])
            try:
                for path, e in walk:
                    if want is not None and (e.filemode & S_IFMT) not in want:
                        continue
                    if uids and e.owner_uid not in uids:
                        continue
                    if min_age and (e.mtime is None or e.mtime > newest):
                        continue
                    if limit and len(entries) >= limit:
                        truncated = True
                        break
                    entries.append((path, e))
            finally:
                walk.close()    # ends the open server-side cursor before the next query
        users, groups = catalog.users(), catalog.groups()
        reps = catalog.replicas_of(e.fileid for _p, e in entries if is_kind(e.filemode, S_IFREG)) if p['replicas'] else {}
    finally:
        catalog.close()
    out = []
    for path, e in sorted(entries, key=lambda x: x[0]):
        kind = {S_IFDIR: 'directory', S_IFREG: 'file', S_IFLNK: 'symlink'}.get(e.filemode & S_IFMT, 'other')
        item = {'path': path, 'fileid': e.fileid, 'type': kind, 'mode': '%04o' % (e.filemode & 0o7777),
                'permissions': mode_string(e.filemode), 'size': e.filesize, 'mtime': e.mtime, 'ctime': e.ctime,
                'owner': users.get(e.owner_uid), 'owner_uid': e.owner_uid, 'group': groups.get(e.gid), 'gid': e.gid,
                'guid': e.guid, 'status': e.status, 'adler32': checksum_of(e)}
        if e.csumtype and e.csumvalue:
            item['checksum'] = {'type': e.csumtype, 'value': e.csumvalue}
        if p['replicas'] and kind == 'file':
            item['replicas'] = [{'host': r.host, 'sfn': r.sfn, 'status': r.status} for r in reps.get(e.fileid, [])]
        out.append(item)
    return {'entries': out, 'count': len(out), 'bytes': sum(i['size'] for i in out if i['type'] == 'file'),
            'truncated': truncated, 'unknown_owners': unknown}
