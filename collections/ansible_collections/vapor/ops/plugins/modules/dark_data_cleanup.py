#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dark_data_cleanup
short_description: Delete confirmed dark files from a storage element through gfal2, re-checking each one
version_added: 0.1.0
description:
  - Reads a list of confirmed dark files of one storage element (dump paths, such as the C(confirmed_dark.list) of a
    consistency run directory) and deletes them through gfal2 (any protocol it has a plugin for, such as C(root://),
    C(davs://), C(file://)), or moves them into a quarantine with O(quarantine).
  - "Each path is checked again just before acting, in this order, and left alone (reported in RV(kept) with the
    reason) when a check fails: it matches no O(ignore) pattern; the catalog holds no replica of it on the storage
    element now (any replica status protects a file); the storage (a stat of O(storage_url) followed by the path)
    still has it; it is a file, not a directory nor a symbolic link; and it was modified longer ago than O(min_age).
    A file already gone is reported in RV(already_gone), not as an error."
  - "The catalog re-check finds every replica that M(vapor.ops.catalog_dump) maps to the path, whatever the
    spelling of its SFN: repeated or trailing slashes, C(.) and C(..) components, the host in any case, the default
    port given or left out, the SRM C(?SFN=) or plain form (the C(SFN) parameter in any case and after other
    query parameters). A replica on the storage element whose SFN is in no known form but holds the file's name
    protects the file too, and so does one whose SFN may name the file in another spelling (percent escapes such as
    C(%20), parameters or a query after the name such as C(;v=1) or C(&x=1), trailing blanks or control characters,
    the name in Unicode NFC or NFD). Host names and SFN prefixes are compared the same lenient way by
    O(se)/O(sfn_prefix) here and in M(vapor.ops.catalog_dump)."
  - "The storage must prove it can see before anything is believed about it: the base of O(storage_url) must exist
    and be a directory, and for every directory of the list up to 3 files the catalog holds there (available
    replicas on the storage element) are looked at until one shows as a file. A directory where none shows (an
    unmounted area, a wrong URL or prefix) stops the run before anything is done; when no directory of the list
    has such a file, up to 5 files of the storage element are tried and one must show."
  - A storage answer other than "not found" skips the path and reports it as an error (nothing is done on doubt).
    More than O(max_errors) such errors stop the run cleanly, and the module fails with what was done so far.
  - "Before anything is deleted, the run refuses (failing with one sentence): a list path that is not a normalised
    absolute path or does not start with O(add_prefix); a storage element selection (O(se), O(sfn_prefix)) that
    matches no replica in the catalog, or a O(strip_prefix) under which none of them lies, because the catalog
    re-check would then protect nothing; a quarantine on another endpoint than O(storage_url); a storage that does
    not prove it can see (above); another run holding the lock of the same journal."
  - A run in which the storage could not be asked about any path it looked at (every stat failed) fails with one
    sentence; the journal it leaves records nothing done, so a rerun with a corrected O(storage_url) starts afresh.
  - Every action is written first to a journal (fsync'ed JSON lines) and again when it is done. A run that was killed
    resumes from it on the next run with the same list. Paths done are not looked at again; a path in doubt is
    looked up on the storage first (gone means the earlier run deleted it; found in the quarantine means it was
    moved) and otherwise goes through the full re-check again. Nothing is deleted twice and nothing is skipped.
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
      - Check mode does every re-check (catalog and storage) and returns what would be deleted or quarantined and why
        the other paths would be kept; it deletes nothing and writes no journal.
  diff_mode:
    support: full
    details:
      - The diff lists the dump paths deleted or quarantined (before) and the quarantine URLs (after).
  idempotent:
    support: full
    details:
      - A second run over the same list deletes nothing and reports no change.
options:
  dark:
    description:
      - The list of confirmed dark files, one dump path each (any dump format, compressed or not), such as the
        C(confirmed_dark.list) of a consistency run directory. The paths are in the storage-dump form that
        O(strip_prefix) and O(add_prefix) give.
    type: path
    required: true
  storage_url:
    description:
      - The URL prefix the dump paths are appended to, so that O(storage_url) followed by a dump path is the file's
        URL, such as C(root://se.example.org:1094//dpm/example.org/home/vo) or C(davs://se.example.org:443/vo). Any
        protocol gfal2 has a plugin for.
    type: str
    required: true
  quarantine:
    description:
      - Move each file under this URL or absolute path (on the endpoint of O(storage_url)), keeping its dump path,
        instead of deleting it. Missing directories are created. A path is put after the scheme and host of
        O(storage_url), so V(/quarantine/vo) on C(root://se:1094//data) means C(root://se:1094//quarantine/vo).
      - A file the quarantine already holds at that path is left in place and reported as an error (nothing is
        overwritten). Paths inside the quarantine are never acted on.
      - The run fails with one sentence when the storage protocol cannot rename.
    type: str
  max_files:
    description:
      - At most this many files are deleted or quarantined by one run, the first ones in list order that are not done
        yet and pass every re-check. The paths not looked at are reported in RV(remaining) and handled by the next
        run with the same list. V(0) sets no limit.
    type: int
    default: 10000
  rate:
    description:
      - At most this many files a second go to the storage (a stat and, when every check passes, the deletion),
        over all threads together. V(0) sets no limit.
    type: float
    default: 0
  concurrency:
    description:
      - Number of threads; each has its own gfal2 context and its own catalog connection.
    type: int
    default: 4
  min_age:
    description:
      - Keep files modified more recently than this (the storage's modification time, from the stat), as seconds or
        with a unit (V(3600), V(12h), V(30d), V(2w)). V(0) turns the check off.
    type: str
    default: 30d
  ignore:
    description:
      - Regular expressions searched in the dump path (anchor with C(^)); a matching path is never acted on.
    type: list
    elements: str
    default: []
  max_errors:
    description:
      - Stop the run cleanly when more than this many storage errors happened (a stat, delete or rename that failed
        with anything but "not found").
    type: int
    default: 10
  journal:
    description:
      - The journal file. The default is the list's path followed by C(.dark_data_cleanup.journal). A journal of
        another list (by path and SHA-256), storage URL or quarantine is refused.
    type: path
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
  - The distribution's gfal2 binding belongs to the system Python; where the storage goes through gfal2, run the
    module with it (C(ansible_python_interpreter=/usr/bin/python3)). Credentials (an X.509 proxy in
    C(X509_USER_PROXY), a token) are found by gfal2 as usual.
  - The paths of the list are held in memory, and so are the dump paths of the storage element's replicas whose SFN
    is in an unusual form. The replica table is read once when the run starts (about 6 s for 1,000,000 replicas
    on MariaDB); each re-check is then a few index lookups (about 0.4 ms a file at that size).
  - The catalog connection needs only C(SELECT).
  - "What the catalog re-check does not see: a replica row whose SFN is rewritten in place during the run (an
    C(UPDATE) of an existing row, as C(lfc_modreplica) could do) into an unusual spelling of a listed path; replicas
    registered during the run (new rows, as LFC and DPM register them) are seen. A last C(LIKE) search for the
    file's name before each deletion would close this, but it reads every replica of the storage element (even
    restricted by the host index, about 90 ms a file at 300,000 replicas on MariaDB against 0.2 ms for the
    re-check, growing with the storage element), so it is not done: do not rewrite SFNs while a cleanup runs."
  - "What the storage check does not see: a O(storage_url) that points at another copy of the tree (a backup, a
    snapshot) showing the same catalogued files passes the check; the dark files then look already gone there and
    nothing is deleted, but the journal records them as gone, so run again with a new journal once the URL is
    right."
  - "A directory swapped for a link (or renamed away) while a C(file://) run looks at it is never followed: paths
    below it are kept (C(symlink)) or, when the directory is away at that instant, reported already gone."
  - "Symbolic links: for C(file://) the module works natively (not through gfal2). Every directory between the
    storage root and the file is opened relative to its parent without following links (C(O_NOFOLLOW),
    C(dir_fd)), and the stat, deletion or rename use those same directory descriptors. A link anywhere below the
    root, or a file that is itself a link, is kept (reason C(symlink)) and nothing is deleted, renamed or
    quarantined through it. The root of O(storage_url) and of O(quarantine) are the site's own and may be links."
  - "For other protocols (C(root://), C(davs://), C(srm://), ...) the server resolves the path and none of them lets
    a client refuse links below a root: the site must guarantee that the exported namespace holds no symbolic link
    that leads out of the storage area (XRootD C(oss.localroot)/C(all.export) without such links, WebDAV servers with
    link following turned off)."
  - "Files the module writes: the journal and its lock file C(<journal>.lock) are created with mode C(0600), because
    the paths they hold can name users. A second run over the same journal while one holds the lock (an fcntl lock,
    released when the process ends, also when it is killed) fails with one sentence and does nothing."
requirements:
  - "PyMySQL or mysqlclient (C(MySQLdb)) for O(catalog.backend=mysql) (C(python3-mysqlclient) on EL,
    C(python3-mysqldb) on Debian); an V(sqlite) catalog needs nothing beyond the Python standard library"
  - "the gfal2 Python binding for a O(storage_url) other than C(file://), which is read natively (the
    distribution's C(python3-gfal2), from EPEL on EL), with the gfal2 plugins of the protocols used (such as
    C(gfal2-plugin-xrootd), C(gfal2-plugin-http))"
seealso:
  - module: vapor.ops.consistency_check
  - module: vapor.ops.catalog_cleanup
"""

EXAMPLES = r"""
- name: Show what would be deleted from the storage element
  vapor.ops.dark_data_cleanup:
    dark: /var/lib/vapor-ops/consistency/se.example.org/2026_11_21_10_15/confirmed_dark.list
    catalog:
      backend: mysql
      host: lfc-db.example.org
      user: lfc_reader
      password: "{{ vault_lfc_password }}"
    se: se.example.org
    strip_prefix: /dpm/example.org/home/vo
    storage_url: root://se.example.org:1094//dpm/example.org/home/vo
  vars:
    ansible_python_interpreter: /usr/bin/python3
  check_mode: true
  diff: true

- name: Delete at most 5000 dark files, 20 a second, keeping /user/ areas
  vapor.ops.dark_data_cleanup:
    dark: "{{ run_dir }}/confirmed_dark.list"
    catalog:
      path: /var/lib/vapor-ops/catalog.db
    sfn_prefix: root://xrootd.example.org:1094//store/
    strip_prefix: /store
    storage_url: root://xrootd.example.org:1094//store
    ignore: ['^/user/']
    max_files: 5000
    rate: 20
  register: cleanup

- name: Move the dark files into a quarantine instead
  vapor.ops.dark_data_cleanup:
    dark: "{{ run_dir }}/confirmed_dark.list"
    catalog:
      path: /var/lib/vapor-ops/catalog.db
    se: se.example.org
    strip_prefix: /dpm/example.org/home/vo
    storage_url: davs://se.example.org:443/dpm/example.org/home/vo
    quarantine: /dpm/example.org/home/vo-quarantine
"""

RETURN = r"""
deleted:
  description: The dump paths deleted (or that would be, in check mode), in list order; at most 100.
  returned: success
  type: list
  elements: str
  sample: ["/data/2024/run1/f1.root"]
quarantined:
  description: The files moved into the quarantine (or that would be, in check mode); at most 100.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The dump path.
      type: str
    url:
      description: Its URL in the quarantine.
      type: str
  sample: [{"path": "/data/f1", "url": "root://se:1094//quarantine/data/f1"}]
already_gone:
  description: The dump paths the storage did not have any more when they were checked; at most 100.
  returned: success
  type: list
  elements: str
  sample: ["/data/f3"]
kept:
  description:
    - The paths left alone, with the reason; at most 100. C(ignored) matches O(ignore) or lies inside the
      quarantine; C(in_catalog) the catalog holds a replica (the detail names it); C(symlink) the file, or a directory
      between the storage root and it, is a symbolic link (C(file://)); C(not_a_file) a directory on the
      storage; C(too_young) modified less than O(min_age) ago; C(error) the storage did not answer as expected (the
      detail has its answer).
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/data/f2", "reason": "in_catalog",
            "detail": "replica root://se:1094//dpm/x/home/vo/data/f2 (status -)"}]
resolved:
  description:
    - Paths an interrupted earlier run had started and not recorded as done, settled from the storage by this run
      (C(outcome) is C(deleted), C(quarantined) or C(already_gone)); at most 100.
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/data/f4", "outcome": "deleted"}]
counts:
  description:
    - Per path of the list. C(listed) distinct paths; C(already_done) done by an earlier run (journal); C(deleted),
      C(quarantined), C(already_gone) and C(resolved) as the lists above; the reasons of RV(kept); C(remaining) the
      paths not looked at (O(max_files) reached, or the run stopped).
  returned: success
  type: dict
  sample: {"listed": 12, "already_done": 0, "deleted": 8, "quarantined": 0, "already_gone": 1, "resolved": 0,
           "ignored": 1, "in_catalog": 1, "symlink": 0, "not_a_file": 0, "too_young": 1, "error": 0,
           "remaining": 0}
remaining:
  description: Number of paths not looked at by this run; a next run with the same list handles them.
  returned: success
  type: int
  sample: 0
remaining_paths:
  description: The first 100 of those paths.
  returned: success
  type: list
  elements: str
  sample: []
truncated:
  description: Whether any of the lists above holds only the first 100 of its paths (RV(counts) has the totals).
  returned: success
  type: bool
  sample: false
aborted:
  description: Why the run stopped early (more than O(max_errors) storage errors); null when it did not. The module
    fails in that case, returning everything else too.
  returned: always
  type: str
  sample: null
journal:
  description: Path of the journal; null when none exists (in check mode before a real run, or for an empty list).
  returned: success
  type: str
  sample: /var/lib/vapor-ops/consistency/se/2026_11_21_10_15/confirmed_dark.list.dark_data_cleanup.journal
quarantine:
  description: The quarantine URL prefix, or null when files are deleted.
  returned: success
  type: str
  sample: root://se.example.org:1094//quarantine/vo
catalog_index:
  description:
    - What the run learnt from its one pass over the replica table. C(scanned) rows read; C(unusual_forms) replicas
      of the storage element whose SFN is not in the usual form (found through this index); C(odd_forms) replicas
      whose SFN may name a file in another spelling (percent escapes, parameters, blanks, NFC/NFD; they protect
      those files); C(unparsable) replicas whose SFN is in no known form (they protect the files whose name they
      hold).
  returned: success
  type: dict
  sample: {"scanned": 1000000, "unusual_forms": 12, "odd_forms": 0, "unparsable": 0}
catalog_selection:
  description: The replicas the catalog re-check looks at, in words.
  returned: success
  type: str
  sample: host 'se.example.org'
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
from ansible_collections.vapor.ops.plugins.module_utils._catalog.verify import storage_requirement
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.dark import run_dark_cleanup
from ansible_collections.vapor.ops.plugins.module_utils._cleanup.options import DARK_DATA_CLEANUP


def main():
    run_module(AnsibleModule, DARK_DATA_CLEANUP, 'The dark data cleanup', run_dark_cleanup,
               needs=lambda p: [catalog_requirement(p['catalog']), storage_requirement(p['storage_url'])],
               kept=('on the storage', [
                   ('error', 'of storage errors'),
                   ('symlink', 'they are symbolic links or reached through one'),
               ]))


if __name__ == '__main__':
    main()
