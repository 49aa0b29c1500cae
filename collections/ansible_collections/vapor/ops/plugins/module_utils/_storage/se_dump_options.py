# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The options table of the se_dump job, written once. From it come the se_dump module's AnsibleModule
# arguments (SE_DUMP.module_kwargs()), the core's defaults (_storage/se_dump.DEFAULTS, SE_DUMP.merge()) that
# the role's node-side runner relies on, and, checked equal by tests/test_options_tables.py, the
# storage_dump role's copies (meta/argument_specs.yml, defaults/main.yml, the parameters it writes).
# Pure Python (no Ansible import): the role copies this file to the storage nodes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._clients import xrootd as _xrootd
from ansible_collections.vapor.ops.plugins.module_utils._clients import db as _db
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import PROGRESS_OPTIONS
from ansible_collections.vapor.ops.plugins.module_utils._dump.options import output_options
from ansible_collections.vapor.ops.plugins.module_utils._storage.scanners import SCANNERS, SOURCES

CHECKSUMS = ('none', 'xattr', 'adler32', 'server')

# what is scanned, and how
SCANNER = OptionSpec(dict(
    source=dict(type='str', default='posix', choices=list(SOURCES)),
    url=dict(type='str'),
    roots=dict(type='list', elements='str', default=[]),
    ignore=dict(type='list', elements='str', default=[]),
    min_age=dict(type='str', default='0'),
    strip_prefix=dict(type='str'),
    add_prefix=dict(type='str'),
    workers=dict(type='int'),
    timeout=dict(type='int', default=300),
    retries=dict(type='int', default=3),
    max_errors=dict(type='int', default=0),
    listing_budget=dict(type='int', default=500000),
    checksum=dict(type='str', default='none', choices=list(CHECKSUMS)),
), required_if=[
    # the option each source cannot do without, from the scanner registry; the posix roots (a list that
    # defaults to empty) are checked by validate(), which names them
    ('source', name, [SCANNERS[name].requires]) for name in SOURCES if SCANNERS[name].requires != 'roots'
])

SE_DUMP = (SCANNER
           + _db.connection_option('db', host_default='localhost')
           + output_options(name='dump_%Y%m%d', mode='0644', latest_link='latest')
           + PROGRESS_OPTIONS)


def source_requirement(source):
    """(requirement, importable) of the Python library a source needs, for the module's missing_required_lib; a
    requirement of None for a source that needs none."""
    if source == 'xrootd':
        return _xrootd.XROOTD_REQUIREMENT, _xrootd.HAS_XROOTD
    if source == 'dpm':
        return _db.MYSQL_REQUIREMENT, _db.HAS_MYSQL
    if source == 'dcache':
        return _db.PG_REQUIREMENT, _db.HAS_PG
    return None, True
