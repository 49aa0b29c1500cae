# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The action of vapor.ops.se_dump: the module runs on the host in the background while its progress is shown in the
# job output (plugin_utils/progress_action.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.plugin_utils.progress_action import ProgressAction


class ActionModule(ProgressAction):
    pass
