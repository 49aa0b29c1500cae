#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: catalog_dump
short_description: Dump the file catalog's view of one storage element
version_added: 0.1.0
description:
  - Writes every replica the file catalog (LFC or DPM-DPNS namespace) holds on one storage element, as the storage
    path form that storage dumps use, so a consistency check can compare the two sides.
  - The replicas are those whose C(host) is O(se) and/or whose SFN starts with O(sfn_prefix). Each SFN's storage path
    goes through O(strip_prefix) and O(add_prefix), exactly as C(vapor.ops.se_dump) maps storage paths.
  - Available replicas (status C(-)) go to the dump, with the file's size, modification time and adler32 (catalog
    checksum type C(AD), or DOME's C(checksum.adler32) extended attribute). Replicas in any other state (C(P) being
    populated, C(D) to be deleted) go to a companion list next to the dump, C(<dump>.inactive) before the
    compression suffix, in the V(text) format. The companion is always written, possibly empty, so a consistency
    check uses all states against dark data and available replicas only for lost files.
  - Both files are written to temporary files in O(dest) and renamed into place, the companion first. Dump file
    names come from O(name) with the run's start time in UTC.
  - When the content (dump and companion) equals the newest dump already published with this name pattern, that
    dump is kept and the module reports no change, unless O(force=true).
  - The replicas are streamed from the database; memory does not grow with the number of files.
  - "File modes: the dump and its companion get O(mode), also when an unchanged dump is kept (that is a change,
    reported once); while they are written the temporary files are C(0600). The default C(0640) keeps the list of
    the VO's paths (which can name users) from other users of the host."
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
  - vapor.ops._progress
  - vapor.ops._catalog
  - vapor.ops._catalog.STORAGE_ELEMENT
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the catalog and returns the counts, whether a new dump would be published and what would be
        pruned; it writes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows the catalog dumps present in O(dest) before and after.
  idempotent:
    support: full
    details:
      - A second run with an unchanged catalog keeps the newest dump and reports no change (unless O(force=true)).
options:
  format:
    description:
      - V(text) is one path a line; V(cms) is C(path|size|mtime|adler32); V(syncat) is the dCache/CMS XML.
      - The companion list of inactive replicas is always V(text).
    type: str
    choices: [text, cms, syncat]
    default: text
  compression:
    description: Compression of the dump and of its companion list.
    type: str
    choices: [none, gzip, bzip2]
    default: none
  compression_suffix:
    description: Add C(.gz) or C(.bz2) to the file names when compressing.
    type: bool
    default: true
  dest:
    description: The directory the dumps are published in. It must exist, be a directory and be writable (checked in check mode too).
    type: path
    required: true
  name:
    description: File name pattern with C(strftime) numeric date codes (UTC), before any compression suffix.
    type: str
    default: catalog_%Y%m%d_%H%M%S
  keep:
    description: How many catalog dumps of this name pattern to keep in O(dest), newest first, with their companions; V(0) keeps all.
    type: int
    default: 0
  latest_link:
    description:
      - Name of a symbolic link in O(dest) pointing at the newest dump; empty (the default) for none.
      - A plain file name (no C(/), not C(.) or C(..)); an existing file or directory of that name is refused before
        anything is published.
    type: str
    default: ''
  min_files:
    description:
      - Fail, and publish nothing, when fewer available replicas than this were found, so a wrong O(se) or
        O(sfn_prefix) never publishes an empty catalog dump (which would make every stored file look dark).
    type: int
    default: 1
  force:
    description: Publish a new dump even when its content equals the newest published one.
    type: bool
    default: false
  mode:
    description:
      - Permissions of the published dump and its companion, as a quoted octal string. A kept unchanged dump is
        given this mode too.
      - At most V('0777'), with read permission for the owner.
    type: raw
    default: '0640'
  vo:
    description: VO name written as C(<for>vo:NAME</for>) in the syncat format.
    type: str
notes:
  - The consistency check compares this dump with a storage dump taken between two catalog dumps (before and after),
    so files that appear or vanish meanwhile are never flagged. An unchanged catalog keeps the older dump, whose name
    carries the older time; for the dump taken after the storage dump set O(force=true), or give the check this
    run's RV(start_time) as the dump's time.
  - Replicas whose SFN is in no known form are left out, counted in RV(unparsable) and reported as a warning.
  - "The selection is the one the cleanups' re-checks use: the host without case or trailing dot, and the SFN prefix
    by endpoint (scheme, host without case, default or explicit port, the C(?SFN=) or plain srm form) and normalised
    path. With O(se), the host column's spellings are learnt first through its index; with O(sfn_prefix) alone,
    the whole replica table is read once and filtered, so that no spelling of the prefix is missed (on an LFC that
    serves many storage elements, give O(se) as well to keep the read to this one)."
  - An available replica whose name the chosen O(format) cannot carry (a C(|) in C(cms)) goes to the companion list,
    with a warning, so it still protects its file from being called dark.
requirements:
  - "PyMySQL or mysqlclient (C(MySQLdb)) for O(catalog.backend=mysql) (C(python3-mysqlclient) on EL,
    C(python3-mysqldb) on Debian); an V(sqlite) catalog needs nothing beyond the Python standard library"
seealso:
  - module: vapor.ops.se_dump
  - module: vapor.ops.catalog_cleanup
"""

EXAMPLES = r"""
- name: Catalog view of a DPM-backed SE in an LFC, in the path form of its storage dumps
  vapor.ops.catalog_dump:
    catalog:
      backend: mysql
      host: lfc-db.example.org
      user: lfc_reader
      password: "{{ vault_lfc_password }}"
    se: se.example.org
    strip_prefix: /dpm/example.org/home/vo
    dest: /var/lib/vapor-ops/consistency/se.example.org
    compression: gzip
    keep: 6
  register: before

- name: The same from the embedded SQLite catalog, selecting by SFN prefix, in the CMS format
  vapor.ops.catalog_dump:
    catalog:
      path: /var/lib/vapor-ops/catalog.db
    sfn_prefix: root://xrootd.example.org:1094//store/
    strip_prefix: /
    format: cms
    dest: /var/lib/vapor-ops/consistency/xrootd.example.org
"""

RETURN = r"""
dump:
  description: Path of the catalog dump (the newest published one when the content was unchanged).
  returned: success
  type: str
  sample: /var/lib/vapor-ops/consistency/se/catalog_20261121_101500.gz
inactive_list:
  description: Path of the companion list of replicas that are not available (text format, same compression).
  returned: success
  type: str
  sample: /var/lib/vapor-ops/consistency/se/catalog_20261121_101500.inactive.gz
name:
  description: File name of the dump.
  returned: success
  type: str
  sample: catalog_20261121_101500.gz
published:
  description: Whether a new dump was (or, in check mode, would be) renamed into place.
  returned: success
  type: bool
replicas:
  description: Replicas of the storage element read from the catalog.
  returned: success
  type: int
  sample: 120000
available:
  description: Available replicas written to the dump.
  returned: success
  type: int
  sample: 119500
inactive:
  description: Replicas in another state written to the companion list.
  returned: success
  type: int
  sample: 12
outside:
  description: Replicas whose storage path is not under O(strip_prefix), left out.
  returned: success
  type: int
  sample: 0
unparsable:
  description: Replicas whose SFN is in no known form, left out.
  returned: success
  type: int
  sample: 0
unrepresentable:
  description: Replicas left out because the format cannot carry their path.
  returned: success
  type: int
  sample: 0
samples:
  description: Up to ten SFNs left out, with the reason.
  returned: success
  type: list
  elements: dict
  sample: [{"sfn": "gsiftp//broken", "reason": "unparsable"}]
bytes:
  description: Total size of the files of the available replicas.
  returned: success
  type: int
  sample: 98765432100
format:
  description: The dump format.
  returned: success
  type: str
  sample: text
compression:
  description: The compression of the dump and its companion.
  returned: success
  type: str
  sample: gzip
latest:
  description: Path of the latest link, or null when none is kept.
  returned: success
  type: str
  sample: null
pruned:
  description: Names of the old dumps removed with their companions (or that would be, in check mode).
  returned: success
  type: list
  elements: str
  sample: [catalog_20261101_101500.gz]
start_time:
  description: When the run started, seconds since the epoch (UTC); the catalog was read after this.
  returned: success
  type: float
  sample: 1795262266.125
end_time:
  description: When the run ended, seconds since the epoch; the catalog was read before this.
  returned: success
  type: float
  sample: 1795262301.5
recorded:
  description: The run's start time as written in the dump name and the syncat header (ISO 8601, UTC).
  returned: success
  type: str
  sample: '2026-11-21T10:15:00Z'
duration:
  description: Seconds the module took.
  returned: success
  type: float
  sample: 35.4
rate:
  description:
    - How fast the read went; the same figures end the progress lines the action plugin shows.
  returned: success
  type: dict
  contains:
    unit:
      description: What was counted (V(replicas)).
      type: str
      returned: success
    done:
      description: "How many were counted: the replicas of the storage element read from the catalog."
      type: int
      returned: success
    seconds:
      description: Seconds the read took.
      type: float
      returned: success
    per_second:
      description: RV(rate.done) divided by RV(rate.seconds); null when no time was measured.
      type: float
      returned: success
  sample: {"unit": "replicas", "done": 830000, "seconds": 33.9, "per_second": 24484}
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._catalog.access import catalog_requirement
from ansible_collections.vapor.ops.plugins.module_utils._catalog.dump import run_catalog_dump
from ansible_collections.vapor.ops.plugins.module_utils._catalog.options import CATALOG_DUMP


def main():
    run_module(AnsibleModule, CATALOG_DUMP, 'The catalog dump', run_catalog_dump,
               needs=lambda p: [catalog_requirement(p['catalog'])])


if __name__ == '__main__':
    main()
