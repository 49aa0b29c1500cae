# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: gocdb
short_description: Hosts of a grid infrastructure from the GOCDB programmatic interface
version_added: 0.1.0
description:
  - Builds an inventory from the service endpoints registered in GOCDB (the C(get_service_endpoint) method of its
    programmatic interface), optionally only those of some sites, service types or host names.
  - One host per host name, whatever number of services it runs. Each host is put in a group C(site_<SITE>) for
    its site and a group C(service_<TYPE>) for each of its service types, all children of O(parent_group). Group
    names keep only letters, digits and underscores (every other character becomes C(_), whatever
    C(TRANSFORM_INVALID_GROUP_CHARS) says), so C(ARC-CE) gives C(service_ARC_CE).
  - Host names are written in lower case, without the trailing dot of a fully qualified name. A GOCDB host name
    that is not a DNS name (letters, digits, C(-) and C(_) in dot-separated labels, none starting with C(-)) is
    left out with a warning, so that no such name reaches ssh or a path on the controller.
  - "Every host gets variables prefixed C(gocdb_): C(gocdb_site) (the site of its first service by type),
    C(gocdb_sites), C(gocdb_ngi), C(gocdb_country), C(gocdb_country_code), C(gocdb_service_types) (a list: a host
    can run several services), C(gocdb_in_production) and C(gocdb_monitored) (true when any of its services is),
    C(gocdb_scopes), C(gocdb_urls) (the services' URLs), C(gocdb_endpoints) (each with its C(service_type)),
    C(gocdb_extensions) (the services' extension properties; where two services give one key, the first by type
    wins), C(gocdb_host_dn) and C(gocdb_services) (every service endpoint as the module M(vapor.ops.gocdb_info)
    returns it). Their values are never templated."
  - Every page of GOCDB's cursor paging is read; a paging loop, malformed XML, an HTML page or GOCDB's
    C(<error>) answer (which comes with HTTP 200) fails the inventory source with one sentence.
  - The inventory cache is supported (O(cache)); the cache key depends on the file and on the query options, so a
    changed filter never reads another query's hosts.
  - O(compose), O(groups) and O(keyed_groups) work as in the P(ansible.builtin.constructed#inventory) plugin, on
    the C(gocdb_) variables.
  - The configuration file's name must end in C(gocdb.yml) or C(gocdb.yaml), for example C(site.gocdb.yml).
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - vapor.ops._http
options:
  plugin:
    description: The name of this plugin; it tells Ansible that the file is for it.
    type: str
    required: true
    choices: [vapor.ops.gocdb]
  url:
    description:
      - The base URL of the GOCDB programmatic interface.
      - The public interface needs no credentials. The private one (for example
        V(https://goc.egi.eu/gocdbpi/private/)) wants an X.509 client certificate or proxy (O(client_cert),
        O(proxy_file)).
    type: str
    default: https://goc.egi.eu/gocdbpi/public/
  sites:
    description:
      - Only the service endpoints of these sites (GOCDB short names such as V(CERN-PROD)), matched exactly but
        ignoring case. Empty takes every site.
    type: list
    elements: str
    default: []
  service_types:
    description:
      - Only the service endpoints of these service types (such as V(SRM), V(webdav), V(ARC-CE)), matched exactly
        but ignoring case. Empty takes every type.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - Only the service endpoints on these hosts, matched exactly but ignoring case. Empty takes every host.
    type: list
    elements: str
    default: []
  scope:
    description:
      - Only the service endpoints in these GOCDB scopes (such as V(EGI), V(Local), V(wlcg)); see O(scope_match).
      - Not set, GOCDB's default scope applies (V(EGI) on the EGI GOCDB). An empty list asks for every scope.
    type: list
    elements: str
  scope_match:
    description:
      - With O(scope), whether an endpoint needs V(any) of the scopes or V(all) of them. GOCDB's default is V(any).
    type: str
    choices: [any, all]
  production_only:
    description:
      - Only the service endpoints that are in production. GOCDB has no such filter, so it is applied to what
        GOCDB sends.
    type: bool
    default: true
  monitored_only:
    description:
      - Only the service endpoints that are monitored.
    type: bool
    default: false
  parent_group:
    description:
      - The group every C(site_*) and C(service_*) group is a child of.
    type: str
    default: gocdb
requirements:
  - lxml (Python library, optional; without it the standard library's XML parser is used)
notes:
  - GOCDB matches site names, host names and service types as SQL C(LIKE) patterns and takes one value of each
    per query, so the plugin sends one query per site, service type or host name given, and checks every filter
    again on the answers, exactly but ignoring case. GOCDB's own matching may depend on case, so write the names as
    GOCDB does.
seealso:
  - module: vapor.ops.gocdb_info
"""

EXAMPLES = r"""
# site.gocdb.yml: the production service nodes of one site, grouped by site and service type
plugin: vapor.ops.gocdb
sites:
  - VAPOR-ALPHA

---
# storage.gocdb.yml: the SRM and WebDAV endpoints of two sites, in the EGI scope, cached for an hour; a group per
# NGI, a group of the hosts nobody monitors, and the user Ansible logs in as
plugin: vapor.ops.gocdb
sites: [SITE-A, SITE-B]
service_types: [SRM, webdav]
scope: [EGI]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/vapor-gocdb
cache_timeout: 3600
keyed_groups:
  - key: gocdb_ngi
    prefix: ngi
groups:
  not_monitored: not gocdb_monitored
compose:
  ansible_user: "'root'"

---
# private.gocdb.yml: through GOCDB's private interface, with the X.509 proxy of X509_USER_PROXY
plugin: vapor.ops.gocdb
url: https://goc.egi.eu/gocdbpi/private/
hostnames:
  - se01.example.org
production_only: false
"""

import hashlib
import json

from ansible.errors import AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.vapor.ops.plugins.module_utils._clients.http import HTTP_OPTION_NAMES, HttpClient, http_settings
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._infosys.gocdb import Gocdb, endpoint_filters, hosts_from_endpoints
from ansible_collections.vapor.ops.plugins.module_utils._infosys.options import GOCDB_QUERY


def safe_group(name):
    """A group name of letters, digits and underscores (the prefix keeps it from starting with a digit)."""
    return to_safe_group_name(name, force=True, silent=True)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'vapor.ops.gocdb'

    def verify_file(self, path):
        if not super(InventoryModule, self).verify_file(path):
            return False
        return path.endswith(('gocdb.yml', 'gocdb.yaml'))

    def _query(self):
        """The options that decide what GOCDB is asked (the cache key is made from them)."""
        return dict((name, self.get_option(name)) for name in sorted(GOCDB_QUERY.options))

    def _fetch(self, query):
        settings = http_settings(dict((name, self.get_option(name)) for name in HTTP_OPTION_NAMES))
        try:
            with HttpClient(settings) as client:
                return Gocdb(client, query['url']).service_endpoints(**endpoint_filters(query))
        except VaporError as exc:
            raise AnsibleParserError(exc.msg)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        query = self._query()
        digest = hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode('utf-8')).hexdigest()[:12]
        cache_key = '%s_%s' % (self.get_cache_key(path), digest)
        use_cache = self.get_option('cache')
        endpoints = None
        if use_cache and cache:
            try:
                endpoints = self._cache[cache_key]
            except KeyError:
                endpoints = None
        if endpoints is None:
            endpoints = self._fetch(query)
            if use_cache:
                self._cache[cache_key] = endpoints
        self._populate(endpoints)

    def _populate(self, endpoints):
        strict = self.get_option('strict')
        parent = self.inventory.add_group(safe_group(self.get_option('parent_group')))
        skipped = []
        hosts = hosts_from_endpoints(endpoints, skipped)
        for name in skipped:
            self.display.warning("GOCDB's host name %r is not a DNS name; its services are left out of the inventory."
                                 % (name,))
        for name in sorted(hosts):
            host = hosts[name]
            self.inventory.add_host(name)
            groups = ['site_' + site for site in host['sites']] + ['service_' + t for t in host['service_types']]
            for group in groups:
                group = self.inventory.add_group(safe_group(group))
                self.inventory.add_child(parent, group)
                self.inventory.add_child(group, name)
            if not groups:
                self.inventory.add_child(parent, name)
            for key, value in host.items():
                self.inventory.set_variable(name, 'gocdb_' + key, wrap_var(value))
            hostvars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option('compose'), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, name, strict=strict)
