#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: catalog_cleanup
short_description: Remove lost replicas, and the entries left without any replica, from the file catalog
version_added: 0.1.0
description:
  - Reads a list of lost files of one storage element (dump paths, as the consistency check writes them in
    C(lost.list)) and removes their replicas on that storage element from the LFC or DPM-DPNS catalog. A file entry
    left without any replica is removed too (with O(remove_orphan_entries)).
  - "Each path is checked again just before acting: the catalog must still hold an available replica (status C(-))
    on the storage element whose SFN maps to that path, and the storage (a stat of O(storage_url) followed by the
    path) must answer that the file does not exist. A file found on the storage, or a storage answer other than
    \"not found\" (a path through a symbolic link on C(file://) storage among them), skips that path and reports
    it: nothing is removed on doubt."
  - A file is only taken as absent from a storage that proves it can see. Before anything is removed, the base of
    O(storage_url) must exist and be a directory, and for every directory of the list up to 3 files the catalog
    holds there and that are not on the list (available replicas on the storage element) are looked at until one
    shows as a file. A directory where none shows (an unmounted area, a wrong URL or prefix, a typo) stops the run
    with one sentence and nothing is removed. A list that holds every file the catalog has on the storage element
    is refused, because nothing could show that the storage is seen.
  - "A directory of the list that holds no catalogued file off the list is proven by its nearest parent directory
    that does. The area below that parent holding the directory then has every catalogued file on the list: when
    it holds two listed files or more and the storage shows none of them, it cannot be told from an area that is
    not mounted, and its paths are kept (reason C(unproven)) unless O(trust_lost_areas) is set. A lone lost file in
    a directory of its own is believed. What no rule can tell: a O(storage_url) that points at another copy of the
    tree (a backup, a snapshot) holding the same catalogued files shows them, so the site must point it at the
    live storage."
  - A run in which the storage could not be asked about any path it looked at (every stat failed) fails with one
    sentence.
  - Each removal runs in one database transaction that locks the entry and the replica row, checks them once more,
    deletes the replica and, when no replica is left, the entry (its C(Cns_user_metadata) row too) and lowers the
    parent directory's link count.
  - Every action is written first to a journal (fsync'ed JSON lines). A run that was killed resumes from it on the
    next run with the same list. Paths already done are not looked at again and paths in doubt are checked again,
    so nothing is removed twice and nothing is skipped.
  - The catalog lookup finds every replica that M(vapor.ops.catalog_dump) maps to the path, whatever the spelling of
    its SFN (repeated slashes, C(.) and C(..), host case, default port or not, SRM C(?SFN=) or plain), and all of
    them are removed. It is an index lookup per path (C(sfn IN (...)) over the few SFN forms used on the storage
    element, learnt once per run) plus an in-memory index of the SFNs in other forms, built by one pass over the
    replica table when the run starts; never a table scan per file.
  - "A replica whose SFN may name a file in another spelling than its literal path (percent escapes such as
    C(%20), parameters or a query after the name, trailing blanks or control characters, the name in Unicode NFC
    or NFD) is kept (C(on_storage)) when the storage shows a file under one of those spellings."
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
  - vapor.ops._catalog
  - vapor.ops._catalog.STORAGE_ELEMENT
attributes:
  check_mode:
    support: full
    details:
      - Check mode does every re-check (catalog and storage) and returns what would be removed; it changes nothing and
        writes no journal.
  diff_mode:
    support: full
    details:
      - The diff lists the replicas (catalog path and SFN) and the entries removed.
  idempotent:
    support: full
    details:
      - A second run over the same list removes nothing and reports no change.
options:
  lost:
    description:
      - The list of lost files, one dump path a line (any dump format, compressed or not), such as the C(lost.list)
        of a consistency run directory. The paths are in the storage-dump form that O(strip_prefix) and
        O(add_prefix) give.
    type: path
    required: true
  storage_url:
    description:
      - The storage URL prefix the dump paths are appended to for the storage re-check, such as
        C(root://se.example.org:1094//dpm/example.org/home/vo) or C(davs://se.example.org:443/vo). Any protocol
        gfal2 has a plugin for.
    type: str
    required: true
  max_entries:
    description:
      - Refuse a list that holds more paths than this, removing nothing, because a list that long usually comes
        from a wrong storage dump. V(0) sets no limit.
    type: int
    default: 10000
  journal:
    description:
      - The journal file. The default is the list's path followed by C(.catalog_cleanup.journal). A journal that
        belongs to another list is refused.
    type: path
  trust_lost_areas:
    description:
      - An area (a directory and what is below it) whose every file the catalog holds on the storage element is on
        the list, two files or more, and none of which the storage shows, cannot be told from an area that is not
        mounted, so by default its paths are kept (reason C(unproven)). Set V(true), after checking that the area
        is really lost (such as a disk that died), to remove them.
    type: bool
    default: false
  remove_orphan_entries:
    description: Remove a file entry whose last replica was removed.
    type: bool
    default: true
  timeout:
    description:
      - Seconds one storage request may take. For C(root://) it also bounds the XRootD client's connection window
        and request and stream timeouts (C(XRD_CONNECTIONWINDOW), C(XRD_REQUESTTIMEOUT), C(XRD_STREAMTIMEOUT), with
        C(XRD_CONNECTIONRETRY=1)), unless the environment sets them already; its defaults would wait about 8
        minutes for an endpoint that does not answer.
    type: int
    default: 60
  retries:
    description: How many times a storage request that failed with a transient error is retried.
    type: int
    default: 2
notes:
  - The distribution's gfal2 binding belongs to the system Python; where the storage re-check goes through gfal2,
    run the module with it (C(ansible_python_interpreter=/usr/bin/python3)).
  - The paths of the list are held in memory (at most O(max_entries)).
  - For C(file://) the storage is read natively, never through a symbolic link below the root of O(storage_url).
    For other protocols the server resolves paths; the site must make sure the exported namespace holds no link
    that leads out of the storage area.
  - "Files the module writes: the journal and its lock file C(<journal>.lock), created with mode C(0600) because the
    paths they hold can name users. A second run over the same journal while one holds the lock (an fcntl lock,
    released when the process ends, also when it is killed) fails with one sentence and removes nothing."
requirements:
  - "PyMySQL or mysqlclient (C(MySQLdb)) for O(catalog.backend=mysql) (C(python3-mysqlclient) on EL,
    C(python3-mysqldb) on Debian); an V(sqlite) catalog needs nothing beyond the Python standard library"
  - "the gfal2 Python binding for a O(storage_url) other than C(file://), which is read natively (the
    distribution's C(python3-gfal2), from EPEL on EL), with the gfal2 plugins of the protocols used (such as
    C(gfal2-plugin-xrootd), C(gfal2-plugin-http))"
seealso:
  - module: vapor.ops.catalog_dump
  - module: vapor.ops.catalog_entries_info
"""

EXAMPLES = r"""
- name: Remove the lost replicas found by the consistency run from the LFC
  vapor.ops.catalog_cleanup:
    lost: /var/lib/vapor-ops/consistency/se.example.org/2026_11_21_10_15/lost.list
    catalog:
      backend: mysql
      host: lfc-db.example.org
      user: lfc_writer
      password: "{{ vault_lfc_password }}"
    se: se.example.org
    strip_prefix: /dpm/example.org/home/vo
    storage_url: root://se.example.org:1094//dpm/example.org/home/vo
  vars:
    ansible_python_interpreter: /usr/bin/python3
  register: cleanup

- name: Show what would be removed from the embedded catalog
  vapor.ops.catalog_cleanup:
    lost: "{{ run_dir }}/lost.list"
    catalog:
      path: /var/lib/vapor-ops/catalog.db
    sfn_prefix: root://xrootd.example.org:1094//store/
    storage_url: root://xrootd.example.org:1094/
  check_mode: true
  diff: true
"""

RETURN = r"""
removed:
  description: The replicas removed (or that would be, in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The dump path of the list.
      type: str
    lfn:
      description: The catalog path of the file.
      type: str
    sfn:
      description: The replica's SFN.
      type: str
    fileid:
      description: The file's id.
      type: int
    entry_removed:
      description: Whether the file's entry was removed too (no replica left).
      type: bool
  sample: [{"path": "/data/f1", "lfn": "/grid/vo/data/f1", "sfn": "root://se//dpm/x/home/vo/data/f1", "fileid": 12,
            "entry_removed": true}]
kept:
  description:
    - Paths left alone, with the reason. C(on_storage) the file exists on the storage; C(storage_error) the storage
      did not answer "not found" (the detail has its answer); C(not_available) the catalog's replica is not
      available (being populated or to be deleted); C(changed) the replica changed between the re-check and the
      removal; C(unproven) every file the catalog holds in its area is on the list and none shows, as in an area
      that is not mounted (see O(trust_lost_areas)).
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/data/f2", "reason": "on_storage", "detail": "root://se//dpm/x/home/vo/data/f2"}]
removed_replicas:
  description: Number of replicas removed.
  returned: success
  type: int
  sample: 10
removed_entries:
  description: Number of file entries removed because no replica was left.
  returned: success
  type: int
  sample: 9
counts:
  description:
    - Per path of the list. C(listed) distinct paths; C(already_done) done by an earlier run (journal); C(absent)
      no replica in the catalog any more; and the reasons of RV(kept); plus the replica and entry counts.
  returned: success
  type: dict
  sample: {"listed": 12, "already_done": 0, "absent": 0, "removed_replicas": 10, "removed_entries": 9,
           "on_storage": 1, "storage_error": 1, "not_available": 0, "changed": 0, "unproven": 0}
journal:
  description: Path of the journal (null in check mode when none exists yet).
  returned: success
  type: str
  sample: /var/lib/vapor-ops/consistency/se/2026_11_21_10_15/lost.list.catalog_cleanup.journal
start_time:
  description: When the run started, seconds since the epoch.
  returned: success
  type: float
  sample: 1795262266.1
end_time:
  description: When the run ended, seconds since the epoch.
  returned: success
  type: float
  sample: 1795262270.4
duration:
  description: Seconds the module took.
  returned: success
  type: float
  sample: 4.3
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import catalog_requirement
from ansible_collections.vapor.ops.plugins.module_utils._catalog.cleanup import run_catalog_cleanup
from ansible_collections.vapor.ops.plugins.module_utils._catalog.options import CATALOG_CLEANUP
from ansible_collections.vapor.ops.plugins.module_utils._catalog.verify import storage_requirement


def main():
    run_module(AnsibleModule, CATALOG_CLEANUP, 'The catalog cleanup', run_catalog_cleanup,
               needs=lambda p: [catalog_requirement(p['catalog']), storage_requirement(p['storage_url'])],
               kept=('in the catalog', [
                   ('storage_error', 'the storage could not tell whether they exist'),
                   ('unproven', 'every file of their area is on the list and none shows, as in an unmounted area'),
               ]))


if __name__ == '__main__':
    main()
