#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: catalog_entries_info
short_description: List file catalog entries by path, owner and age, or summarise a storage element's usage by owner
version_added: 0.1.0
description:
  - Lists the entries of an LFC or DPM-DPNS namespace under O(path), optionally only those owned by some certificate
    DNs and older than a minimum age, with their replicas. This is the input for handing an expired member's files
    over to the VO manager and for cleanups.
  - With O(summary=true) it returns instead, for one storage element (O(se) and/or O(sfn_prefix)), the number of
    files and bytes per owner DN, as C(LFCBrowseSE --summary) did. The counting happens in the database.
  - The directory tree is walked directory by directory through the catalog's parent index.
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
  - vapor.ops._attributes.INFO_MODULE
  - vapor.ops._catalog
attributes:
  idempotent:
    support: full
    details:
      - This action does not modify state.
options:
  path:
    description: The catalog directory (or file) to list; symbolic links in it are followed.
    type: str
    default: /
  recursive:
    description: List the whole tree under O(path); V(false) lists only its direct entries.
    type: bool
    default: true
  owners:
    description:
      - Only entries owned by one of these certificate DNs (slash form, as in C(Cns_userinfo)). DNs the catalog does
        not know are returned in RV(unknown_owners).
    type: list
    elements: str
    default: []
  min_age:
    description:
      - Only entries whose modification time is older than this, as seconds or with a unit (V(3600), V(12h), V(30d),
        V(2w)).
    type: str
    default: '0'
  entry_type:
    description: Which entries to return.
    type: str
    choices: [file, directory, any]
    default: file
  replicas:
    description: Return the replicas (host, SFN, status) of each file.
    type: bool
    default: true
  limit:
    description: Return at most this many entries (the first found); V(0) returns all. RV(truncated) tells when it cut.
    type: int
    default: 0
  summary:
    description:
      - Return the per-owner usage of one storage element in RV(summary) instead of entries; needs O(se) or
        O(sfn_prefix). O(path), O(owners), O(min_age) do not apply then.
    type: bool
    default: false
  se:
    description: For O(summary), the storage element as the replica's C(host) column holds it.
    type: str
  sfn_prefix:
    description: For O(summary), select the replicas whose SFN starts with this text.
    type: str
requirements:
  - "PyMySQL or mysqlclient (C(MySQLdb)) for O(catalog.backend=mysql) (C(python3-mysqlclient) on EL,
    C(python3-mysqldb) on Debian); an V(sqlite) catalog needs nothing beyond the Python standard library"
seealso:
  - module: vapor.ops.catalog_dump
  - module: vapor.ops.catalog_cleanup
"""

EXAMPLES = r"""
- name: Files of an expired member older than 30 days, with their replicas
  vapor.ops.catalog_entries_info:
    catalog:
      backend: mysql
      config_file: /usr/etc/NSCONFIG
    path: /grid/dteam
    owners:
      - /DC=org/DC=example/OU=people/CN=Jane Doe
    min_age: 30d
  register: expired_files

- name: Usage per user on one storage element
  vapor.ops.catalog_entries_info:
    catalog:
      path: /var/lib/vapor-ops/catalog.db
    se: se.example.org
    summary: true
  register: usage
"""

RETURN = r"""
entries:
  description: The matching entries, sorted by path (empty with O(summary=true)).
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Catalog path.
      type: str
    fileid:
      description: The entry's file id.
      type: int
    type:
      description: C(file), C(directory), C(symlink) or C(other).
      type: str
    mode:
      description: Permission bits, octal.
      type: str
    permissions:
      description: The mode as C(ls -l) shows it.
      type: str
    size:
      description: Size in bytes.
      type: int
    mtime:
      description: Modification time, seconds since the epoch.
      type: int
    ctime:
      description: Change time, seconds since the epoch.
      type: int
    owner:
      description: Owner DN, or null when the uid is not mapped.
      type: str
    owner_uid:
      description: Owner virtual uid.
      type: int
    group:
      description: Group name, or null when the gid is not mapped.
      type: str
    gid:
      description: Group virtual gid.
      type: int
    guid:
      description: The file's GUID.
      type: str
    status:
      description: File status (C(-) online, C(m) migrated).
      type: str
    adler32:
      description: The file's adler32, or null.
      type: str
    checksum:
      description: The catalog's checksum type and value, when set.
      type: dict
    replicas:
      description: The file's replicas (with O(replicas=true)).
      type: list
      elements: dict
  sample:
    - path: /grid/dteam/user/jane/run1.root
      fileid: 1234
      type: file
      mode: '0664'
      permissions: -rw-rw-r--
      size: 1048576
      mtime: 1700000000
      ctime: 1700000000
      owner: /DC=org/DC=example/OU=people/CN=Jane Doe
      owner_uid: 105
      group: dteam
      gid: 102
      guid: 3907202d-d11d-4ee5-864e-8fadbd57fb10
      status: '-'
      adler32: 0a1b2c3d
      checksum: {type: AD, value: 0a1b2c3d}
      replicas: [{host: se.example.org, sfn: 'srm://se.example.org:8446/srm/managerv2?SFN=/dpm/example.org/home/dteam/f', status: '-'}]
count:
  description: Number of entries returned.
  returned: success and not O(summary)
  type: int
  sample: 1
bytes:
  description: Total size of the files returned, or of the storage element's files with O(summary=true).
  returned: success
  type: int
  sample: 1048576
truncated:
  description: Whether O(limit) cut the list.
  returned: success and not O(summary)
  type: bool
unknown_owners:
  description: DNs of O(owners) that are not in the catalog's user table.
  returned: success and not O(summary)
  type: list
  elements: str
  sample: []
summary:
  description: Per owner, the files with a replica on the storage element and their bytes, largest first.
  returned: O(summary=true)
  type: list
  elements: dict
  sample: [{"dn": "/DC=org/DC=example/CN=Alice", "uid": 101, "files": 1200, "bytes": 5000000000}]
files:
  description: With O(summary=true), the number of files with a replica on the storage element.
  returned: O(summary=true)
  type: int
  sample: 1200
storage_element:
  description: With O(summary=true), how the storage element was selected.
  returned: O(summary=true)
  type: str
  sample: host 'se.example.org'
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import catalog_requirement
from ansible_collections.vapor.ops.plugins.module_utils._catalog.entries import entries_info
from ansible_collections.vapor.ops.plugins.module_utils._catalog.options import CATALOG_ENTRIES_INFO


def main():
    run_module(AnsibleModule, CATALOG_ENTRIES_INFO, 'Reading the catalog', entries_info,
               needs=lambda p: [catalog_requirement(p['catalog'])])


if __name__ == '__main__':
    main()
