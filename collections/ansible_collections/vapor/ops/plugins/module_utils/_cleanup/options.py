# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The options table of the dark_data_cleanup job (see _common/options.py): the module's argument spec and the
# defaults of run_dark_cleanup (_cleanup/dark.py). The catalog and storage element groups, and the storage a
# cleanup re-checks on, are the catalog's (_catalog/options.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._catalog.options import (
    CATALOG, STORAGE_ACCESS, STORAGE_ELEMENT)
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec

DARK_DATA_CLEANUP = CATALOG + STORAGE_ELEMENT + STORAGE_ACCESS + OptionSpec(dict(
    dark=dict(type='path', required=True),
    quarantine=dict(type='str'),
    max_files=dict(type='int', default=10000),
    rate=dict(type='float', default=0),
    concurrency=dict(type='int', default=4),
    min_age=dict(type='str', default='30d'),
    ignore=dict(type='list', elements='str', default=[]),
    max_errors=dict(type='int', default=10),
    journal=dict(type='path'),
))
