# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Makes the collection importable as ansible_collections.vapor.ops when pytest runs in place
# (ansible-test units sets this up by itself).
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_collections_root = os.path.abspath(os.path.join(_here, '..', '..', '..', '..', '..'))
if os.path.basename(_collections_root) == 'collections' and _collections_root not in sys.path:
    sys.path.insert(0, _collections_root)

import importlib  # noqa: E402

import pytest  # noqa: E402


class _Built(Exception):
    """Raised by the stand-in AnsibleModule once it has the keyword arguments."""


@pytest.fixture
def module_kwargs(monkeypatch):
    """module_kwargs(name): the keyword arguments the module's main() gives AnsibleModule (its options table)."""
    def get(name):
        module = importlib.import_module('ansible_collections.vapor.ops.plugins.modules.' + name)
        seen = {}

        def fake(**kwargs):
            seen.update(kwargs)
            raise _Built()
        monkeypatch.setattr(module, 'AnsibleModule', fake)
        with pytest.raises(_Built):
            module.main()
        return seen
    return get


@pytest.fixture(params=['lxml', 'stdlib'])
def parser(request, monkeypatch):
    """Run the test with each XML parser the GOCDB core can use (lxml when importable, else only the stdlib's)."""
    from ansible_collections.vapor.ops.plugins.module_utils._infosys import gocdb
    if request.param == 'lxml' and not gocdb.HAS_LXML:
        pytest.skip('lxml is not importable here')
    if request.param == 'stdlib':
        monkeypatch.setattr(gocdb, 'HAS_LXML', False)
    return request.param
