# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The options of the catalog jobs, written once (see _common/options.py). The shared groups:
#
#   CATALOG          the 'catalog' dict: backend and SQLite path, plus the database connection of _clients/db.py
#                    (documented by the vapor.ops._catalog doc fragment)
#   SE_SELECTION     se, sfn_prefix: which replicas belong to the storage element
#   MAPPING          strip_prefix, add_prefix: SFN path -> the storage-dump path form
#   STORAGE_ELEMENT  SE_SELECTION + MAPPING, one of se/sfn_prefix required (vapor.ops._catalog.STORAGE_ELEMENT)
#   STORAGE_ACCESS   storage_url, timeout, retries: the storage a cleanup re-checks each path on
#
# One table per job, from which the module's argument spec and the core's defaults come:
#
#   CATALOG_DUMP          catalog_dump (_catalog/dump.py run_catalog_dump)
#   CATALOG_CLEANUP       catalog_cleanup (_catalog/cleanup.py run_catalog_cleanup)
#   CATALOG_ENTRIES_INFO  catalog_entries_info (_catalog/entries.py entries_info)
#
# The dark data cleanup's table, DARK_DATA_CLEANUP, is in _cleanup/options.py (built from these groups).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import BACKENDS
from ansible_collections.vapor.ops.plugins.module_utils._clients.db import connection_option
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._common.progress import PROGRESS_OPTIONS
from ansible_collections.vapor.ops.plugins.module_utils._dump.options import output_options


def _catalog_group():
    spec = connection_option('catalog', required=True, required_if=[('backend', 'sqlite', ['path'])]).argument_spec()
    spec['catalog']['options'].update(
        backend=dict(type='str', default='sqlite', choices=list(BACKENDS)),
        path=dict(type='path'),
    )
    return OptionSpec(spec)


CATALOG = _catalog_group()

SE_SELECTION = OptionSpec(dict(
    se=dict(type='str'),
    sfn_prefix=dict(type='str'),
))

MAPPING = OptionSpec(dict(
    strip_prefix=dict(type='str'),
    add_prefix=dict(type='str'),
))

STORAGE_ELEMENT = SE_SELECTION + MAPPING + OptionSpec(required_one_of=[('se', 'sfn_prefix')])

STORAGE_ACCESS = OptionSpec(dict(
    storage_url=dict(type='str', required=True),
    timeout=dict(type='int', default=60),
    retries=dict(type='int', default=2),
))

CATALOG_DUMP = (CATALOG + STORAGE_ELEMENT
                + output_options(name='catalog_%Y%m%d_%H%M%S', mode='0640', latest_link='')
                + OptionSpec(dict(force=dict(type='bool', default=False)))
                + PROGRESS_OPTIONS)

CATALOG_CLEANUP = CATALOG + STORAGE_ELEMENT + STORAGE_ACCESS + OptionSpec(dict(
    lost=dict(type='path', required=True),
    max_entries=dict(type='int', default=10000),
    journal=dict(type='path'),
    remove_orphan_entries=dict(type='bool', default=True),
    trust_lost_areas=dict(type='bool', default=False),
))

CATALOG_ENTRIES_INFO = CATALOG + SE_SELECTION + OptionSpec(dict(
    path=dict(type='str', default='/'),
    recursive=dict(type='bool', default=True),
    owners=dict(type='list', elements='str', default=[]),
    min_age=dict(type='str', default='0'),
    entry_type=dict(type='str', default='file', choices=['file', 'directory', 'any']),
    replicas=dict(type='bool', default=True),
    limit=dict(type='int', default=0),
    summary=dict(type='bool', default=False),
), required_if=[('summary', True, ('se', 'sfn_prefix'), True)])
