# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# What every module does around its core call: the libraries it needs, one sentence on failure, warnings, diff
# only in diff mode. run_module() is a module's whole main().

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import url_secrets


def run_core(module, what, fn, *args, **kwargs):
    """Call a core function and return its result dictionary, ready for exit_json.

    A VaporError fails the module with its sentence and its context (a partial result under the context key
    'result' is returned with it); any other exception fails with one sentence naming ``what`` and the trace
    for -vvv. The result's 'warnings' go through module.warn; its 'diff' is kept only in diff mode.
    """
    try:
        result = fn(*args, **kwargs)
    except VaporError as exc:
        context = dict(exc.context)
        partial = context.pop('result', None) or {}
        partial.pop('diff', None)
        partial.update(context)
        module.fail_json(msg=exc.msg, **partial)
    except Exception as exc:  # an unexpected failure still ends in one sentence, with the trace for -vvv
        module.fail_json(msg="%s failed unexpectedly: %s." % (what, exc), exception=traceback.format_exc())
    for warning in result.pop('warnings', None) or []:
        module.warn(warning)
    diff = result.pop('diff', None)
    if diff is not None and module._diff:
        result['diff'] = diff
    return result


def warn_kept(module, items, where, total=None, why='', limit=10):
    """One warning per path kept because of an error (the first ``limit``), then one for the rest.

    ``items``: the result's 'kept' entries with this reason (dicts with 'path' and 'detail');
    ``where``: where the paths were left ('in the catalog', 'on the storage'); ``total``: how many
    there were, when ``items`` may be a sample; ``why``: the cause named in the summary line.
    """
    for item in items[:limit]:
        module.warn("The path '%s' was left %s: %s" % (item['path'], where, item['detail']))
    total = len(items) if total is None else total
    if total > limit:
        module.warn("%d more paths were left %s because %s (see kept)." % (total - limit, where, why))


def warn_kept_reasons(module, result, where, reasons):
    """warn_kept for each (reason, why) of ``reasons``: the result's 'kept' entries with that reason, out of
    result['counts'][reason] (the kept list may be a sample)."""
    for reason, why in reasons:
        warn_kept(module, [item for item in result['kept'] if item['reason'] == reason], where,
                  total=result['counts'][reason], why=why)


def require_libraries(module, *needs):
    """Fail with Ansible's missing_required_lib sentence for the first library the run needs and cannot import.

    ``needs``: (requirement, importable) pairs, or (requirement, importable, import error text), such as the
    core's catalog_requirement() and storage_requirement(); a requirement of None is needed by nothing.
    """
    for need in needs:
        requirement, importable = need[0], need[1]
        if requirement and not importable:
            module.fail_json(msg=missing_required_lib(requirement), exception=need[2] if len(need) > 2 else None)


def url_option_secrets(params):
    """The secrets written inside the URL options of ``params`` (an option named url or ending in _url): a password
    in user:password@, a token or password in the query. A user name alone is not one (storage URLs have them)."""
    found = set()
    for name, value in (params or {}).items():
        if (name == 'url' or name.endswith('_url')) and isinstance(value, str):
            found |= url_secrets(value, bare_user=False)
    return found


def hiding_secrets(module_class, secrets):
    """A subclass of ``module_class`` (AnsibleModule) that also hides ``secrets(params)`` (a set of strings) as
    no_log values: in the invocation it returns and logs, and in every result and message. Ansible's no_log hides
    whole option values; a password written inside a URL needs this."""

    class Module(module_class):
        def __init__(self, *args, **kwargs):
            super(Module, self).__init__(*args, **kwargs)
            self._hide_secrets()

        def _hide_secrets(self):
            self.no_log_values.update(secrets(self.params or {}))

        def _log_invocation(self):
            # called by AnsibleModule.__init__ once the parameters are known: hide them before they are logged
            self._hide_secrets()
            super(Module, self)._log_invocation()

    return Module


def run_module(module_class, table, what, fn, needs=None, kept=None, secrets=url_option_secrets):
    """A vapor.ops module's whole main(): parse the options of ``table`` (an OptionSpec) with ``module_class``
    (AnsibleModule, passed by the module so that it imports it), check the libraries, call the core, exit.

    ``what``: the job in words, for an unexpected failure ('The catalog dump'); ``fn(params, check_mode=...)``:
    the core; ``needs(params)``: the (requirement, importable[, error]) of the libraries this run needs;
    ``kept``: (where, [(reason, why), ...]) for warn_kept_reasons; ``secrets(params)``: the strings to hide besides
    the no_log options (default: the credentials written inside URL options). A result with 'aborted' set fails
    with that sentence and everything else of the result; a result without 'changed' did not change anything.
    """
    if secrets is not None and isinstance(module_class, type):   # (tests pass a factory function instead)
        module_class = hiding_secrets(module_class, secrets)
    module = module_class(**table.module_kwargs(env_fallback=env_fallback, supports_check_mode=True))
    if needs is not None:
        require_libraries(module, *needs(module.params))
    result = run_core(module, what, fn, module.params, check_mode=module.check_mode)
    result.setdefault('changed', False)
    if kept:
        warn_kept_reasons(module, result, *kept)
    if result.get('aborted'):
        module.fail_json(msg=result['aborted'], **result)
    module.exit_json(**result)
