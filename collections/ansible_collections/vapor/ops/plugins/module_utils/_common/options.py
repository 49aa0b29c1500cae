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

import copy

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
        return copy.deepcopy(self.options)

    def module_kwargs(self, **extra):
        """Keyword arguments for AnsibleModule: the argument spec and every constraint."""
        kwargs = dict(argument_spec=self.argument_spec())
        kwargs.update(copy.deepcopy(self.constraints))
        kwargs.update(extra)
        return kwargs

    def defaults(self):
        """{option: default}, None where the option has no default (suboptions are not filled in)."""
        return dict((name, copy.deepcopy(spec.get('default'))) for name, spec in self.options.items())

    def merge(self, params):
        """The defaults overlaid with every option of ``params`` that is set (not None).

        What a core function does first with the parameters it is given, so that a runner that passes a
        partial dictionary gets the module's defaults. Keys that are not options are kept as given.
        """
        merged = self.defaults()
        merged.update(dict((k, v) for k, v in (params or {}).items() if v is not None))
        return merged
