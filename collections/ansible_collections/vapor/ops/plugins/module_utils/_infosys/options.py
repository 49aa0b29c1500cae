# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The options of the information-system jobs, written once (see _common/options.py):
#
#   GOCDB_QUERY  which service endpoints to read from GOCDB: the interface's URL and the filters. The inventory
#                plugin vapor.ops.gocdb documents the same options (a unit test proves them equal), and the
#                module vapor.ops.gocdb_info takes them too.
#   GOCDB_INFO   the gocdb_info module: GOCDB_QUERY, what to return, the downtime window, the HTTP options.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._clients.http import HTTP_OPTIONS
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec

# The public programmatic interface of the EGI GOCDB (the private one, for X.509 clients, ends in /private/).
EGI_GOCDB_URL = 'https://goc.egi.eu/gocdbpi/public/'

WHAT = ('endpoints', 'sites', 'downtimes')
SCOPE_MATCH = ('any', 'all')

GOCDB_QUERY = OptionSpec(dict(
    url=dict(type='str', default=EGI_GOCDB_URL),
    sites=dict(type='list', elements='str', default=[]),
    service_types=dict(type='list', elements='str', default=[]),
    hostnames=dict(type='list', elements='str', default=[]),
    scope=dict(type='list', elements='str'),
    scope_match=dict(type='str', choices=list(SCOPE_MATCH)),
    production_only=dict(type='bool', default=True),
    monitored_only=dict(type='bool', default=False),
))

GOCDB_INFO = GOCDB_QUERY + OptionSpec(dict(
    what=dict(type='list', elements='str', choices=list(WHAT), default=['endpoints']),
    site_details=dict(type='bool', default=False),
    ongoing_only=dict(type='bool', default=False),
    window_start=dict(type='str', default='today'),
    window_end=dict(type='str'),
)) + HTTP_OPTIONS
