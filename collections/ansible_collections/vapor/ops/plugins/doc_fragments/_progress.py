# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # the progress record of long work (module_utils/_common/progress.py) and the action plugin that shows it
    DOCUMENTATION = r"""
options:
  progress_file:
    description:
      - A file on the host where the module keeps a small JSON record of its progress while it runs (stage, count
        so far, rate over the run and over the last minute, an estimate of the time left where the total is
        knowable); a new file is renamed over it every O(progress_interval) seconds, so a reader never sees half a
        record and a symbolic link there is replaced, not followed.
      - The module's action plugin sets this option itself (to a file in the task's temporary directory) and shows
        the record in the job output; give it by hand only to watch a run from a shell on the host.
      - A record that cannot be written is a warning, never a failure of the work.
    type: path
  progress_interval:
    description:
      - Seconds between two writes of the progress record. The action plugin sets it from C(vapor_progress_interval).
    type: float
    default: 2.0
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the work are done on the controller.
    support: full
    details:
      - "The action plugin runs the module in the background on the host (Ansible's async wrapper) and shows one
        progress line every C(vapor_progress_interval) seconds (default 15; 0 runs the module as a plain task)
        in the job output, in a terminal and in AWX (as job events). The result is the one a plain run returns."
      - "A task with its own C(async) is left to Ansible's polling (no progress lines). The task's C(timeout) is
        the background job's time limit (7 days when none is set)."
  async:
    description: Supports being used with the C(async) keyword.
    support: full
"""
