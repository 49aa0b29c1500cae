# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._catalog import access as cat_access
from ansible_collections.vapor.ops.plugins.module_utils._catalog import verify as cat_verify
from ansible_collections.vapor.ops.plugins.module_utils._common.options import OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._module import (
    require_libraries, run_core, run_module, url_option_secrets, warn_kept, warn_kept_reasons)


class Exit(Exception):
    """What FakeModule.fail_json raises, as AnsibleModule.fail_json ends the module."""


class FakeModule:
    def __init__(self, diff=False):
        self._diff = diff
        self.warnings = []
        self.failed = None

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **kw):
        self.failed = kw
        raise Exit()


def _kept(n):
    return [{'path': '/store/f%02d' % i, 'detail': 'timeout %d' % i, 'reason': 'error'} for i in range(n)]


def test_warn_kept_names_the_first_ten_and_counts_the_rest():
    m = FakeModule()
    warn_kept(m, _kept(13), 'on the storage', why='of storage errors')
    assert m.warnings[0] == "The path '/store/f00' was left on the storage: timeout 0"
    assert len(m.warnings) == 11
    assert m.warnings[-1] == "3 more paths were left on the storage because of storage errors (see kept)."


def test_warn_kept_counts_beyond_a_sample_and_stays_quiet_when_nothing_was_kept():
    m = FakeModule()
    warn_kept(m, _kept(10), 'in the catalog', total=25, why='the storage could not tell')
    assert m.warnings[-1] == "15 more paths were left in the catalog because the storage could not tell (see kept)."
    m = FakeModule()
    warn_kept(m, [], 'in the catalog')
    assert m.warnings == []


def test_run_core_fails_with_the_sentence_and_the_partial_result():
    def core():
        raise VaporError("The dump is empty.", result={'files': 0, 'diff': {'before': ''}}, dump='/x')
    m = FakeModule()
    with pytest.raises(Exit):
        run_core(m, 'The thing', core)
    assert m.failed == {'msg': "The dump is empty.", 'files': 0, 'dump': '/x'}


def test_run_core_passes_warnings_on_and_keeps_the_diff_only_in_diff_mode():
    def core():
        return {'changed': True, 'warnings': ['careful'], 'diff': {'before': 'a', 'after': 'b'}}
    m = FakeModule()
    assert run_core(m, 'The thing', core) == {'changed': True}
    assert m.warnings == ['careful']
    m = FakeModule(diff=True)
    assert run_core(m, 'The thing', core)['diff'] == {'before': 'a', 'after': 'b'}


def test_run_core_turns_an_unexpected_exception_into_one_sentence():
    def core():
        raise KeyError('boom')
    m = FakeModule()
    with pytest.raises(Exit):
        run_core(m, 'The thing', core)
    assert m.failed['msg'] == "The thing failed unexpectedly: 'boom'."
    assert 'Traceback' in m.failed['exception']


def test_warn_kept_reasons_warns_per_reason_out_of_the_counted_total():
    m = FakeModule()
    kept = _kept(10) + [{'path': '/store/link', 'detail': 'a link', 'reason': 'symlink'}]
    warn_kept_reasons(m, {'kept': kept, 'counts': {'error': 12, 'symlink': 1}}, 'on the storage',
                      [('error', 'of storage errors'), ('symlink', 'they are links')])
    assert m.warnings[10] == "2 more paths were left on the storage because of storage errors (see kept)."
    assert m.warnings[11] == "The path '/store/link' was left on the storage: a link"
    assert len(m.warnings) == 12


def test_require_libraries_fails_with_the_missing_library_sentence(monkeypatch):
    m = FakeModule()
    require_libraries(m, cat_access.catalog_requirement({'backend': 'sqlite', 'path': '/x'}),
                      cat_verify.storage_requirement('file:///data'))
    assert m.failed is None
    monkeypatch.setattr(cat_verify, 'HAS_GFAL2', False)
    require_libraries(m, cat_verify.storage_requirement('file:///data'),
                      cat_verify.storage_requirement('file://elsewhere/data'))
    assert m.failed is None
    with pytest.raises(Exit):
        require_libraries(m, cat_verify.storage_requirement('root://se.example.org//data'))
    assert 'Failed to import the required Python library (gfal2' in m.failed['msg']
    monkeypatch.setattr(cat_access, 'HAS_MYSQL', False)
    m = FakeModule()
    with pytest.raises(Exit):
        require_libraries(m, cat_access.catalog_requirement({'backend': 'mysql', 'user': 'u'}))
    assert 'Failed to import the required Python library (PyMySQL or mysqlclient' in m.failed['msg']


class FakeAnsibleModule(FakeModule):
    """Stands for AnsibleModule in run_module: records the keyword arguments and the exit."""

    def __init__(self, **kwargs):
        FakeModule.__init__(self)
        self.kwargs = kwargs
        self.params = {'a': 1}
        self.check_mode = True
        self.exited = None

    def exit_json(self, **kw):
        self.exited = kw
        raise Exit()


TABLE = OptionSpec(dict(a=dict(type='int', default=1)), required_one_of=[('a', 'b')])


def _run(monkeypatch, fn, **kw):
    made = []

    def factory(**kwargs):
        made.append(FakeAnsibleModule(**kwargs))
        return made[-1]
    with pytest.raises(Exit):
        run_module(factory, TABLE, 'The job', fn, **kw)
    return made[0]


def test_run_module_builds_the_module_from_the_table_and_exits_unchanged_by_default(monkeypatch):
    seen = []
    m = _run(monkeypatch, lambda params, check_mode: seen.append((params, check_mode)) or {'files': 3})
    assert m.kwargs == dict(argument_spec=TABLE.argument_spec(), required_one_of=[('a', 'b')],
                            supports_check_mode=True)
    assert seen == [({'a': 1}, True)]
    assert m.exited == {'files': 3, 'changed': False} and m.failed is None


def test_run_module_fails_on_a_missing_library_before_the_core_runs(monkeypatch):
    m = _run(monkeypatch, lambda params, check_mode: pytest.fail('the core ran'),
             needs=lambda p: [(None, True), ('libfoo', False, 'Traceback: no libfoo')])
    assert 'Failed to import the required Python library (libfoo' in m.failed['msg']
    assert m.failed['exception'] == 'Traceback: no libfoo'


def test_run_module_warns_the_kept_and_fails_an_aborted_run_with_its_result(monkeypatch):
    result = {'changed': True, 'kept': _kept(2), 'counts': {'error': 2}, 'aborted': 'More than 1 storage errors.'}
    m = _run(monkeypatch, lambda params, check_mode: dict(result), kept=('on the storage', [('error', 'of errors')]))
    assert len(m.warnings) == 2 and "left on the storage" in m.warnings[0]
    assert m.failed['msg'] == 'More than 1 storage errors.' and m.failed['changed'] is True
    assert m.exited is None


def test_url_option_secrets_takes_passwords_and_secret_query_values_not_user_names():
    params = {'storage_url': 'davs://reader:S3cret-pw@se.example.org/dpm/x?authz=Bearer%20T0k&n=1',
              'url': 'root://atlas@se.example.org//atlas/data', 'gocdb_url': 'https://goc.example.org/?token=Abc',
              'other': 'https://u:not-a-url-option@h/', 'proxy_url': None, 'count_url': 3}
    assert url_option_secrets(params) == {'S3cret-pw', 'Bearer%20T0k', 'Abc'}


def _run_real_module(monkeypatch, capsys, args, table, fn):
    """run_module() with the real AnsibleModule and ``args``: the JSON result it printed."""
    import json
    from ansible.module_utils.basic import AnsibleModule
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core before 2.19
        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
        patch_module_args = None
    with pytest.raises(SystemExit):
        if patch_module_args is not None:
            with patch_module_args(args):
                run_module(AnsibleModule, table, 'The job', fn)
        else:
            run_module(AnsibleModule, table, 'The job', fn)
    return json.loads(capsys.readouterr().out)


def test_run_module_hides_secrets_written_inside_url_options(monkeypatch, capsys):
    """A password or token inside a URL option is masked in the invocation and the result, with the real
    AnsibleModule; a storage URL's user name stays readable."""
    args = {'storage_url': 'davs://reader:S3cret-pw@se.example.org/dpm/atlas?authz=T0k3n-value'}
    table = OptionSpec(dict(storage_url=dict(type='str', required=True)))

    def fn(params, check_mode):
        return {'echo': params['storage_url'], 'who': 'reader'}
    result = _run_real_module(monkeypatch, capsys, args, table, fn)
    assert 'S3cret-pw' not in str(result) and 'T0k3n-value' not in str(result)
    assert result['who'] == 'reader' and 'reader:' in result['echo'] and '@se.example.org/dpm/atlas' in result['echo']
    assert 'reader:' in result['invocation']['module_args']['storage_url']


def test_url_option_secrets_of_every_form_and_not_of_parameters_that_merely_end_in_key(monkeypatch, capsys):
    """An '@' inside a password (the user information ends at the last '@'), upper-case TOKEN=, a token in the
    fragment; a query parameter whose name only ends in key or token ('sortkey=1') is no secret: its value would
    be masked in every result and message of the module (each '1' of the output)."""
    import json
    assert url_option_secrets({'url': 'https://reporter:p@ss@c.example.org/feed/'}) == {'p@ss'}
    assert url_option_secrets({'gocdb_url': 'https://[2001:db8::1]/x?TOKEN=T0k#access_token=A1'}) == {'T0k', 'A1'}
    assert url_option_secrets({'url': 'https://goc.example.org/api/?sortkey=1&monkey=asc'}) == set()
    table = OptionSpec(dict(url=dict(type='str', required=True)))
    result = _run_real_module(monkeypatch, capsys, {'url': 'https://goc.example.org/api/?sortkey=1&monkey=asc'}, table,
                              lambda params, check_mode: {'summary': '1 site read in 1 s, ascending'})
    assert result['summary'] == '1 site read in 1 s, ascending'
    result = _run_real_module(monkeypatch, capsys, {'url': 'https://reporter:p@ss@c.example.org/feed/'}, table,
                              lambda params, check_mode: {'echo': params['url']})
    assert 'p@ss' not in json.dumps(result) and result['invocation']['module_args']['url'].startswith('https://reporter:')
