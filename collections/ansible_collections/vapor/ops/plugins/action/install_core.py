# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The action of vapor.ops.install_core: reads the listed files of this collection's plugins/module_utils (next to
# this plugin's own directory) on the controller and runs the module once on the host with their contents (base64)
# and SHA-256 sums, instead of a copy task per file.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.plugins.action import ActionBase

from ansible_collections.vapor.ops.plugins.module_utils._common.coretree import read_sources
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError

MODULE = 'vapor.ops.install_core'
# plugins/module_utils of the collection this plugin belongs to
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'module_utils')


class ActionModule(ActionBase):
    """Reads the core files on the controller, then runs the module on the host."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        args.pop('contents', None)
        files = args.get('files')
        if isinstance(files, str):
            files = [f.strip() for f in files.split(',') if f.strip()]
        if args.get('state', 'present') == 'present':
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                result.update(failed=True, msg="The option files must be a list of paths relative to plugins/module_utils.")
                return result
            try:
                args['contents'] = read_sources(MODULE_UTILS, files)
            except VaporError as exc:
                result.update(failed=True, msg=exc.msg)
                return result
        try:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        # the sources went to the host; they need not come back in the registered result
        invocation = result.get('invocation')
        if isinstance(invocation, dict) and isinstance(invocation.get('module_args'), dict) \
                and 'contents' in invocation['module_args']:
            invocation['module_args'] = dict(invocation['module_args'], contents='(set by the action plugin)')
        return result
