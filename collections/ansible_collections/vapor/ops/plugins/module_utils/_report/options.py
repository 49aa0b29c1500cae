# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The options of the middleware-readiness matrix (vapor.ops.mw_readiness), once: the module's argument spec and the
# defaults of readiness.run().

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec

SCHEME_CHOICES = ['rpm', 'dpkg']
FORMATS = ['csv', 'json', 'html']

READINESS = OptionSpec(dict(
    baseline=dict(type='dict'),
    baseline_file=dict(type='path'),
    reports=dict(type='list', elements='dict', default=[], options=dict(
        site=dict(type='str', required=True),
        hostname=dict(type='str'),
        scheme=dict(type='str', choices=SCHEME_CHOICES),
        entries=dict(type='list', elements='dict', required=True),
    )),
    report_files=dict(type='list', elements='dict', default=[], options=dict(
        site=dict(type='str', required=True),
        path=dict(type='path', required=True),
        scheme=dict(type='str', choices=SCHEME_CHOICES),
    )),
    dest=dict(type='path', required=True),
    formats=dict(type='list', elements='str', choices=FORMATS, default=list(FORMATS)),
    basename=dict(type='str', default='mw_readiness'),
), mutually_exclusive=[('baseline', 'baseline_file')], required_one_of=[('baseline', 'baseline_file')])
