# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The output options of every job that publishes dump files (se_dump, catalog_dump), declared once. The
# choices come from the format and compression registries, so a new format is offered everywhere at once.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._dump.formats import COMPRESSIONS
from ansible_collections.vapor.ops.plugins.module_utils._dump.registry import FORMATS


def output_options(name, mode, latest_link):
    """The output group, with the job's own defaults for the file name pattern, the file mode and the link."""
    return OptionSpec(dict(
        format=dict(type='str', default='text', choices=list(FORMATS)),
        compression=dict(type='str', default='none', choices=list(COMPRESSIONS)),
        compression_suffix=dict(type='bool', default=True),
        dest=dict(type='path', required=True),
        name=dict(type='str', default=name),
        keep=dict(type='int', default=0),
        latest_link=dict(type='str', default=latest_link),
        min_files=dict(type='int', default=1),
        mode=dict(type='raw', default=mode),
        vo=dict(type='str'),
    ))
