# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The se_dump module's options, frozen: what AnsibleModule receives must stay exactly this.

Written from the module's argument spec as it was before the options table (issue 9), so a change of
the table (a group's default, a choice, a constraint) that would change the module shows here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._storage import se_dump as core

FROZEN_ARGUMENT_SPEC = dict(
    source=dict(type='str', default='posix', choices=['posix', 'xrootd', 'dpm', 'dcache']),
    url=dict(type='str'),
    db=dict(type='dict', options=dict(
        host=dict(type='str', default='localhost'),
        port=dict(type='int'),
        user=dict(type='str'),
        password=dict(type='str', no_log=True),
        database=dict(type='str'),
        unix_socket=dict(type='path'),
        config_file=dict(type='path'),
        connect_timeout=dict(type='int', default=30),
    )),
    roots=dict(type='list', elements='str', default=[]),
    ignore=dict(type='list', elements='str', default=[]),
    min_age=dict(type='str', default='0'),
    strip_prefix=dict(type='str'),
    add_prefix=dict(type='str'),
    format=dict(type='str', default='text', choices=['text', 'cms', 'syncat']),
    compression=dict(type='str', default='none', choices=['none', 'gzip', 'bzip2']),
    compression_suffix=dict(type='bool', default=True),
    dest=dict(type='path', required=True),
    name=dict(type='str', default='dump_%Y%m%d'),
    keep=dict(type='int', default=0),
    min_files=dict(type='int', default=1),
    latest_link=dict(type='str', default='latest'),
    workers=dict(type='int'),
    timeout=dict(type='int', default=300),
    retries=dict(type='int', default=3),
    max_errors=dict(type='int', default=0),
    listing_budget=dict(type='int', default=500000),
    checksum=dict(type='str', default='none', choices=['none', 'xattr', 'adler32', 'server']),
    mode=dict(type='raw', default='0644'),
    vo=dict(type='str'),
    # added with the progress record (issue 10)
    progress_file=dict(type='path'),
    progress_interval=dict(type='float', default=2.0),
)
FROZEN_REQUIRED_IF = [('source', 'xrootd', ['url']), ('source', 'dpm', ['db']), ('source', 'dcache', ['db'])]

# the core's defaults before the table (min_age was the number 0 there; '0' is the same duration)
FROZEN_CORE_DEFAULTS = {
    'source': 'posix', 'url': None, 'db': None, 'roots': [], 'ignore': [], 'min_age': 0,
    'strip_prefix': None, 'add_prefix': None, 'format': 'text', 'compression': 'none', 'dest': None,
    'name': 'dump_%Y%m%d', 'compression_suffix': True, 'keep': 0, 'min_files': 1, 'latest_link': 'latest',
    'workers': None, 'timeout': 300, 'retries': 3, 'checksum': 'none', 'max_errors': 0, 'mode': '0644',
    'vo': None, 'listing_budget': 500000, 'progress_file': None, 'progress_interval': 2.0,
}


def _plain(value):
    """Constraint lists compare whatever sequence type holds them."""
    return [tuple(v) for v in value]


def test_the_module_argument_spec_is_frozen(module_kwargs):
    kwargs = module_kwargs('se_dump')
    assert kwargs['argument_spec'] == FROZEN_ARGUMENT_SPEC
    assert _plain(kwargs.pop('required_if')) == _plain(FROZEN_REQUIRED_IF)
    assert kwargs.pop('supports_check_mode') is True
    kwargs.pop('argument_spec')
    assert kwargs == {}                      # no other constraint


def test_the_core_defaults_are_the_module_defaults():
    assert sorted(core.DEFAULTS) == sorted(FROZEN_CORE_DEFAULTS)
    for name, value in FROZEN_CORE_DEFAULTS.items():
        if name == 'min_age':
            continue
        assert core.DEFAULTS[name] == value, name
    assert core.validate(dict(dest='/d', roots=['/r']))['min_age'] == 0
    for name, spec in FROZEN_ARGUMENT_SPEC.items():
        if name != 'min_age':
            assert core.DEFAULTS[name] == spec.get('default'), name


@pytest.mark.parametrize('source, flags, needed', [
    ('xrootd', {'_xrootd.HAS_XROOTD': False}, 'XRootD'),
    ('dpm', {'_db.HAS_MYSQL': False}, 'PyMySQL'),
    ('dcache', {'_db.HAS_PG': False}, 'psycopg2'),
])
def test_a_missing_library_is_named_for_missing_required_lib(monkeypatch, source, flags, needed):
    from ansible_collections.vapor.ops.plugins.module_utils._storage import se_dump_options as opts
    assert opts.source_requirement('posix') == (None, True)
    for dotted, value in flags.items():
        mod, name = dotted.split('.')
        monkeypatch.setattr(getattr(opts, mod), name, value)
    requirement, importable = opts.source_requirement(source)
    assert needed in requirement and importable is False
    assert opts.source_requirement('posix') == (None, True)
