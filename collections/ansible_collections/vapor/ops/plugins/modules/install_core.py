#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: install_core
short_description: Install a copy of part of this collection's pure-Python core on a host, in one task
version_added: 0.1.0
description:
  - Installs the listed files of this collection's C(plugins/module_utils/) on the host, below
    C(<dest>/ansible_collections/vapor/ops/plugins/module_utils/), with an empty C(__init__.py) in every directory of
    the package path, so that a program that puts O(dest) first on C(sys.path) imports them under the very names the
    modules use. The roles P(vapor.ops.storage_dump#role) and P(vapor.ops.pakiti_client#role) install their runners'
    core with it.
  - The action plugin of the same name reads the files on the controller, from the collection the plugin belongs to,
    and the module runs once on the host with their contents and SHA-256 sums (instead of one C(copy) per file). A
    listed path that is absolute, has a C(..) part, is not a regular file or is reached through a symbolic link is
    refused in one sentence.
  - With O(state=present) every directory of the package path is made (mode C(0755)) with an empty C(__init__.py)
    (made once; an existing one keeps its content), and each listed file whose content or mode differs is replaced
    whole (a temporary file in the same directory, fsync, rename), so a program running the core never reads half a
    file. A symbolic link at a file's path is replaced, never followed; a symbolic link or anything else than a
    directory at a directory of the tree is refused in one sentence naming it, and nothing is written. Unchanged
    files are not touched (their times are kept). O(dest) and its missing parents are made too.
  - With O(state=absent) exactly the listed files go, then, deepest first, each directory of the package path that
    holds nothing else afterwards, with its C(__init__.py). A directory that holds anything else stays, with its
    C(__init__.py) and its parents; O(dest) itself always stays.
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the work are done on the controller.
    support: full
    details:
      - The action plugin reads the listed files from the collection on the controller and sets O(contents).
  async:
    description: Supports being used with the C(async) keyword.
    support: none
  check_mode:
    support: full
    details:
      - Check mode looks at the same files and returns the same lists, and writes or removes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows the sorted names of the changed paths (with a short SHA-256 and the mode of a file), before and
        after; never the source text.
  idempotent:
    support: full
    details:
      - A second run with the same files reports no change.
options:
  dest:
    description:
      - The install directory on the host. The core goes to
        C(<dest>/ansible_collections/vapor/ops/plugins/module_utils/<file>).
    type: path
    required: true
  files:
    description:
      - The core files, as paths relative to C(plugins/module_utils/) (for example V(_pakiti/run.py)).
      - Each must be a plain relative path of a regular file (no C(..), not absolute, no C(__init__.py), which the
        module writes empty itself).
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) installs the files, V(absent) removes them and the package directories that hold nothing else.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - The mode of the installed files and C(__init__.py) files, as octal text (V('0644')) or a number. Directories
        get C(0755).
    type: raw
    default: '0644'
  contents:
    description:
      - Internal, set by the action plugin (anything given is replaced); do not set it.
      - A dictionary of the listed file names to C(content) (base64) and C(sha256) (hex). The module refuses a
        content that does not match its SHA-256, or contents that do not match O(files).
    type: dict
requirements:
  - nothing beyond Python
seealso:
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Install the package_report core for a scheduled runner
  vapor.ops.install_core:
    dest: /usr/local/lib/vapor-pakiti-client
    files:
      - _common/errors.py
      - _pakiti/run.py
  register: core

- name: Remove it again (the directories go only when nothing else is in them)
  vapor.ops.install_core:
    dest: /usr/local/lib/vapor-pakiti-client
    files:
      - _common/errors.py
      - _pakiti/run.py
    state: absent
"""

RETURN = r"""
changed_files:
  description:
    - The listed files written or whose mode was set (V(present)), or removed (V(absent)), sorted; in check mode, those
      that would be.
  returned: always
  type: list
  elements: str
  sample: [_pakiti/run.py]
files:
  description:
    - The SHA-256 of the content of each listed file now on the host (in check mode, that would be there). Empty with
      V(absent).
  returned: always
  type: dict
  sample: {_common/errors.py: 9f1c0d4e..., _pakiti/run.py: 2b7e5a10...}
package_changed:
  description:
    - The directories and C(__init__.py) files of the package path made or whose mode was set, relative to O(dest),
      sorted.
  returned: O(state=present)
  type: list
  elements: str
  sample: [ansible_collections, ansible_collections/__init__.py]
removed:
  description:
    - Every path removed, relative to O(dest) (a directory with a trailing C(/)), sorted; in check mode, those that
      would be.
  returned: O(state=absent)
  type: list
  elements: str
  sample: [ansible_collections/vapor/ops/plugins/module_utils/_pakiti/, ansible_collections/vapor/ops/plugins/module_utils/_pakiti/run.py]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._common.coretree import INSTALL_CORE, install_core


def main():
    run_module(AnsibleModule, INSTALL_CORE, 'Installing the core', install_core)


if __name__ == '__main__':
    main()
