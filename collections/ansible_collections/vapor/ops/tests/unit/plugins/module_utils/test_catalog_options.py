# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The catalog and cleanup modules give AnsibleModule exactly the options and constraints they gave before their
options tables existed: a frozen copy, written from the code as it was, that any drift fails against."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


import pytest

# frozen: the argument specs of catalog_cleanup, catalog_dump, catalog_entries_info and dark_data_cleanup as they
# were before the options tables (commit cbe9fe4); change them only together with the modules' documentation
FROZEN_CATALOG = {
    'catalog': {'options': {'backend': {'choices': ['sqlite', 'mysql'], 'default': 'sqlite', 'type': 'str'},
                            'config_file': {'type': 'path'},
                            'connect_timeout': {'default': 30, 'type': 'int'},
                            'database': {'type': 'str'},
                            'host': {'type': 'str'},
                            'password': {'no_log': True, 'type': 'str'},
                            'path': {'type': 'path'},
                            'port': {'type': 'int'},
                            'unix_socket': {'type': 'path'},
                            'user': {'type': 'str'}},
                'required': True,
                'required_if': [('backend', 'sqlite', ['path'])],
                'type': 'dict'},
}
FROZEN_SE = {'se': {'type': 'str'}, 'sfn_prefix': {'type': 'str'}}
FROZEN_MAPPING = {'strip_prefix': {'type': 'str'}, 'add_prefix': {'type': 'str'}}

FROZEN = {
    'catalog_cleanup': (dict(FROZEN_CATALOG, **dict(FROZEN_SE, **FROZEN_MAPPING)), {
        'journal': {'type': 'path'},
        'lost': {'required': True, 'type': 'path'},
        'max_entries': {'default': 10000, 'type': 'int'},
        'remove_orphan_entries': {'default': True, 'type': 'bool'},
        'retries': {'default': 2, 'type': 'int'},
        'storage_url': {'required': True, 'type': 'str'},
        'timeout': {'default': 60, 'type': 'int'},
        'trust_lost_areas': {'default': False, 'type': 'bool'},
    }, {'required_one_of': [('se', 'sfn_prefix')]}),
    'catalog_dump': (dict(FROZEN_CATALOG, **dict(FROZEN_SE, **FROZEN_MAPPING)), {
        'compression': {'choices': ['none', 'gzip', 'bzip2'], 'default': 'none', 'type': 'str'},
        'compression_suffix': {'default': True, 'type': 'bool'},
        'dest': {'required': True, 'type': 'path'},
        'force': {'default': False, 'type': 'bool'},
        'format': {'choices': ['text', 'cms', 'syncat'], 'default': 'text', 'type': 'str'},
        'keep': {'default': 0, 'type': 'int'},
        'latest_link': {'default': '', 'type': 'str'},
        'min_files': {'default': 1, 'type': 'int'},
        'mode': {'default': '0640', 'type': 'raw'},
        'name': {'default': 'catalog_%Y%m%d_%H%M%S', 'type': 'str'},
        'vo': {'type': 'str'},
        # added with the progress record (issue 10)
        'progress_file': {'type': 'path'},
        'progress_interval': {'default': 2.0, 'type': 'float'},
    }, {'required_one_of': [('se', 'sfn_prefix')]}),
    'catalog_entries_info': (dict(FROZEN_CATALOG, **FROZEN_SE), {
        'entry_type': {'choices': ['file', 'directory', 'any'], 'default': 'file', 'type': 'str'},
        'limit': {'default': 0, 'type': 'int'},
        'min_age': {'default': '0', 'type': 'str'},
        'owners': {'default': [], 'elements': 'str', 'type': 'list'},
        'path': {'default': '/', 'type': 'str'},
        'recursive': {'default': True, 'type': 'bool'},
        'replicas': {'default': True, 'type': 'bool'},
        'summary': {'default': False, 'type': 'bool'},
    }, {'required_if': [('summary', True, ('se', 'sfn_prefix'), True)]}),
    'dark_data_cleanup': (dict(FROZEN_CATALOG, **dict(FROZEN_SE, **FROZEN_MAPPING)), {
        'concurrency': {'default': 4, 'type': 'int'},
        'dark': {'required': True, 'type': 'path'},
        'ignore': {'default': [], 'elements': 'str', 'type': 'list'},
        'journal': {'type': 'path'},
        'max_errors': {'default': 10, 'type': 'int'},
        'max_files': {'default': 10000, 'type': 'int'},
        'min_age': {'default': '30d', 'type': 'str'},
        'quarantine': {'type': 'str'},
        'rate': {'default': 0, 'type': 'float'},
        'retries': {'default': 2, 'type': 'int'},
        'storage_url': {'required': True, 'type': 'str'},
        'timeout': {'default': 60, 'type': 'int'},
    }, {'required_one_of': [('se', 'sfn_prefix')]}),
}


def _normal(constraints):
    """Constraints as lists of tuples (AnsibleModule takes either)."""
    return dict((k, [tuple(v) for v in vs]) for k, vs in constraints.items())


@pytest.mark.parametrize('name', sorted(FROZEN))
def test_module_argument_spec_equals_the_frozen_copy(name, module_kwargs):
    shared, own, constraints = FROZEN[name]
    kwargs = module_kwargs(name)
    assert kwargs.pop('argument_spec') == dict(shared, **own)
    assert kwargs.pop('supports_check_mode') is True
    assert _normal(kwargs) == _normal(constraints)
