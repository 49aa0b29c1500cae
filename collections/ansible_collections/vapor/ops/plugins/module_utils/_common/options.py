# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# One options table per job. A job's options are written once, as an OptionSpec, in the manner of
# community.crypto's ArgumentSpec: Ansible-style option dictionaries plus their constraints. From it come
#   - the module's AnsibleModule arguments (OptionSpec.module_kwargs()),
#   - the core's defaults (OptionSpec.defaults(), OptionSpec.merge(params)) for the node-side runners
#     that call the core without Ansible,
#   - the roles' copies, which tests/test_options_tables.py checks equal to the table.
# Shared groups (database connection, catalog, storage element, output) are OptionSpecs of their own,
# added together with ``+``. Nothing here imports Ansible.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# An option whose value, when not given, comes from the first of some environment variables that is set, is written
# 'fallback': (ENV, ['VAR', ...]); module_kwargs() turns the marker into Ansible's env_fallback (which the caller,
# a module, imports) and merge() reads the environment itself for the runners that call the core without Ansible.
ENV = 'env'

_CONSTRAINTS = ('mutually_exclusive', 'required_together', 'required_one_of', 'required_if', 'required_by')


class OptionSpec(object):
    """A group of options and the constraints between them."""

    def __init__(self, options=None, **constraints):
        unknown = set(constraints) - set(_CONSTRAINTS)
        if unknown:
            raise TypeError('unknown constraint(s): %s' % ', '.join(sorted(unknown)))
        self.options = dict(options or {})
        self.constraints = {}
        for name in _CONSTRAINTS:
            value = constraints.get(name)
            if value:
                self.constraints[name] = dict(value) if name == 'required_by' else [tuple(v) for v in value]

    def __add__(self, other):
        clash = set(self.options) & set(other.options)
        if clash:
            raise ValueError('options declared twice: %s' % ', '.join(sorted(clash)))
        merged = OptionSpec(dict(self.options, **other.options))
        for name in _CONSTRAINTS:
            mine, theirs = self.constraints.get(name), other.constraints.get(name)
            if name == 'required_by':
                value = dict(mine or {}, **(theirs or {}))
            else:
                value = list(mine or []) + [v for v in theirs or [] if v not in (mine or [])]
            if value:
                merged.constraints[name] = value
        return merged

    def argument_spec(self):
        """The options as an AnsibleModule argument_spec (a copy the caller may change)."""
        import copy
        return copy.deepcopy(self.options)

    def module_kwargs(self, env_fallback=None, **extra):
        """Keyword arguments for AnsibleModule: the argument spec and every constraint.

        ``env_fallback``: Ansible's env_fallback, which replaces every (ENV, names) fallback marker.
        """
        spec = self.argument_spec()
        if env_fallback is not None:
            _resolve_env(spec, env_fallback)
        import copy
        kwargs = dict(argument_spec=spec)
        kwargs.update(copy.deepcopy(self.constraints))
        kwargs.update(extra)
        return kwargs

    def defaults(self):
        """{option: default}, None where the option has no default (suboptions are not filled in)."""
        return dict((name, _copied(spec.get('default'))) for name, spec in self.options.items())

    def merge(self, params, environ=None):
        """The defaults overlaid with every option of ``params`` that is set (not None).

        What a core function does first with the parameters it is given, so that a runner that passes a
        partial dictionary gets the module's defaults. Keys that are not options are kept as given.
        With ``environ`` (os.environ), an option left unset takes the value of its environment fallback.
        """
        merged = self.defaults()
        merged.update(dict((k, v) for k, v in (params or {}).items() if v is not None))
        if environ is not None:
            for name, spec in self.options.items():
                if merged.get(name) is None:
                    value = env_value(spec, environ)
                    if value is not None:
                        merged[name] = value
        return merged


def _copied(value):
    """A copy of a default (None, a scalar, or lists and dictionaries of them) that the caller may change; without
    the copy module, which a core run would load for nothing else."""
    if isinstance(value, dict):
        return dict((k, _copied(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def env_value(spec, environ):
    """The value an option's (ENV, names) fallback gives from ``environ``, or None."""
    fallback = spec.get('fallback')
    if not fallback or fallback[0] != ENV:
        return None
    for var in fallback[1]:
        if var in environ:
            return environ[var]
    return None


def _resolve_env(options, env_fallback):
    """Replace the (ENV, names) fallback markers of an argument spec (and of its suboptions) in place."""
    for spec in options.values():
        fallback = spec.get('fallback')
        if fallback and fallback[0] == ENV:
            spec['fallback'] = (env_fallback, list(fallback[1]))
        if spec.get('options'):
            _resolve_env(spec['options'], env_fallback)
