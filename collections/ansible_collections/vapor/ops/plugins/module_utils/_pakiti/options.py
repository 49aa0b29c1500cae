# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The options of package_report, declared once: the module's argument spec, the core's defaults, and the
# configuration the pakiti_client role writes for its scheduled run (checked equal by tests/test_options_tables.py).
# Names follow pakiti-client's where it has one (url, mode, site, tag, host, encrypt, output, input, expect,
# rndsleep -> splay), so a site carries its configuration over.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._clients.http import HTTP_OPTIONS
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.send import MODES

FORMATS = ('pakiti', 'versions')
PACKAGERS = ('auto', 'rpm', 'dpkg')

# what one collector gets: each option that is not set takes the module's top-level value (filters add up)
DESTINATION_OPTIONS = dict(
    name=dict(type='str', required=True),
    url=dict(type='str', required=True),
    mode=dict(type='str', choices=list(MODES)),
    format=dict(type='str', choices=list(FORMATS)),
    products=dict(type='dict'),
    include=dict(type='list', elements='str'),
    exclude=dict(type='list', elements='str'),
    kernel=dict(type='bool'),
    drop_headers=dict(type='list', elements='str'),
    encrypt=dict(type='str'),
    expect=dict(type='str'),
    protocol_version=dict(type='bool'),
    http=dict(type='dict'),
)

REPORT = OptionSpec(dict(
    url=dict(type='str'),
    mode=dict(type='str', choices=list(MODES)),
    destinations=dict(type='list', elements='dict', options=DESTINATION_OPTIONS),
    allow_partial=dict(type='bool', default=False),
    format=dict(type='str', default='pakiti', choices=list(FORMATS)),
    products=dict(type='dict'),
    site=dict(type='str'),
    tag=dict(type='str'),
    host=dict(type='str'),
    include=dict(type='list', elements='str'),
    exclude=dict(type='list', elements='str'),
    kernel=dict(type='bool', default=True),
    drop_headers=dict(type='list', elements='str', aliases=['headers']),
    encrypt=dict(type='str'),
    expect=dict(type='str'),
    protocol_version=dict(type='bool', default=True),
    output=dict(type='path'),
    input=dict(type='path'),
    splay=dict(type='int', default=0, aliases=['rndsleep']),
    packager=dict(type='str', default='auto', choices=list(PACKAGERS)),
    rpm_dbpath=dict(type='path'),
    dpkg_admindir=dict(type='path'),
    state_file=dict(type='path'),
), mutually_exclusive=[('url', 'destinations')])

TABLE = REPORT + HTTP_OPTIONS
