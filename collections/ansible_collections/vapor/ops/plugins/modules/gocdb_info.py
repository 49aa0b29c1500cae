#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gocdb_info
short_description: Read service endpoints, sites and downtimes from GOCDB
version_added: 0.1.0
description:
  - Reads the GOCDB programmatic interface (the EGI GOCDB by default) and returns, as O(what) asks, the service
    endpoints (RV(endpoints)), the sites (RV(sites)) and the downtimes, going on and scheduled
    (RV(downtimes)), of some sites, service types or host names.
  - Every page of GOCDB's cursor paging is read. GOCDB answers errors with HTTP 200 (an C(<error>) body, or a
    plain-text message); these, an HTML page, malformed XML and a paging loop end in one sentence that names the
    URL and the cause.
  - GOCDB matches site names, host names and service types as SQL C(LIKE) patterns and takes one value of each per
    query, so the module sends one query per site, service type or host name given (downtimes take lists of sites
    and types in one query) and checks every filter again on the answers, exactly but ignoring case. GOCDB's own
    matching may depend on case, so write the names as GOCDB does.
  - The same filters select the hosts of the inventory plugin P(vapor.ops.gocdb#inventory).
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
  - vapor.ops._attributes.INFO_MODULE
  - vapor.ops._http
attributes:
  idempotent:
    support: full
    details:
      - This action does not modify state.
options:
  url:
    description:
      - The base URL of the GOCDB programmatic interface.
      - The public interface needs no credentials. The private one (for example
        V(https://goc.egi.eu/gocdbpi/private/)) wants an X.509 client certificate or proxy (O(client_cert),
        O(proxy_file)); O(site_details=true) needs it.
    type: str
    default: https://goc.egi.eu/gocdbpi/public/
  what:
    description:
      - What to return. V(endpoints) gives RV(endpoints), V(sites) gives RV(sites), V(downtimes) gives
        RV(downtimes).
    type: list
    elements: str
    choices: [endpoints, sites, downtimes]
    default: [endpoints]
  sites:
    description:
      - Only these sites (GOCDB short names such as V(CERN-PROD)), and the endpoints and downtimes of their
        services. Empty takes every site.
    type: list
    elements: str
    default: []
  service_types:
    description:
      - Only the service endpoints of these types (such as V(SRM), V(webdav), V(ARC-CE)), the downtimes of such
        services, and, when O(sites) is empty, the sites that have such endpoints. Empty takes every type.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - Only the service endpoints on these hosts, their downtimes, and, when O(sites) is empty, their sites. Empty
        takes every host.
    type: list
    elements: str
    default: []
  scope:
    description:
      - Only what is in these GOCDB scopes (such as V(EGI), V(Local), V(wlcg)); see O(scope_match). Endpoints and
        downtimes are selected by the scopes of their services, sites by their own.
      - Not set, GOCDB's default scope applies (V(EGI) on the EGI GOCDB). An empty list asks for every scope.
    type: list
    elements: str
  scope_match:
    description:
      - With O(scope), whether V(any) of the scopes is enough or V(all) of them are needed. GOCDB's default is
        V(any).
    type: str
    choices: [any, all]
  production_only:
    description:
      - Only the service endpoints that are in production (and, when O(sites) is empty, the sites of such
        endpoints). GOCDB has no such filter, so it is applied to what GOCDB sends. Downtimes are not filtered
        by it.
    type: bool
    default: true
  monitored_only:
    description:
      - Only the service endpoints that are monitored (and, when O(sites) is empty, the sites of such endpoints).
        Downtimes are not filtered by it.
    type: bool
    default: false
  site_details:
    description:
      - Return the sites in full (contacts, certification status, tier, scopes, extensions) from GOCDB's
        C(get_site) method. GOCDB answers it only to an identified client, so O(url) must then be the private
        interface with a client certificate or proxy (or GOCDB must know the client's API credential).
      - V(false) reads the public short list (C(get_site_list)).
    type: bool
    default: false
  ongoing_only:
    description:
      - Only the downtimes going on now. O(window_start) and O(window_end) do not apply then.
    type: bool
    default: false
  window_start:
    description:
      - Only the downtimes that end after the start of this day (UTC), written V(YYYY-MM-DD) or V(today). The
        default returns downtimes going on and scheduled; give an earlier day for past ones, or an empty string
        for no bound.
    type: str
    default: today
  window_end:
    description:
      - Only the downtimes that start before the end of this day (UTC), written V(YYYY-MM-DD) or V(today). Not set,
        scheduled downtimes are returned however far ahead they are.
    type: str
requirements:
  - requests (Python library, on the host that sends the requests)
  - lxml (Python library, optional; without it the standard library's XML parser is used)
seealso:
  - plugin: vapor.ops.gocdb
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: The production service endpoints of a site
  vapor.ops.gocdb_info:
    sites: [VAPOR-ALPHA]
  register: site_services
  delegate_to: localhost
  run_once: true

- name: Downtimes going on now or scheduled on the storage of two sites
  vapor.ops.gocdb_info:
    what: [downtimes]
    sites: [SITE-A, SITE-B]
    service_types: [SRM, webdav]
  register: storage_downtimes

- name: Warn about the outages going on now on the hosts of this play
  ansible.builtin.debug:
    msg: "{{ item.hostnames | join(', ') }}: {{ item.description }} until {{ item.end_iso }}"
  loop: "{{ (storage_downtimes.downtimes | selectattr('ongoing') | selectattr('severity', 'equalto', 'OUTAGE')) }}"

- name: Sites in full, through the private interface with the user's proxy
  vapor.ops.gocdb_info:
    url: https://goc.egi.eu/gocdbpi/private/
    what: [sites]
    sites: [SITE-A]
    site_details: true
    proxy_file: /tmp/x509up_u1000
  register: site_details

- name: Last month's downtimes of some hosts, in every scope
  vapor.ops.gocdb_info:
    what: [downtimes]
    hostnames: [se01.example.org, ce01.example.org]
    scope: []
    window_start: "2024-05-01"
    window_end: "2024-05-31"
"""

RETURN = r"""
endpoints:
  description: The service endpoints, sorted by host name and service type.
  returned: V(endpoints) in O(what)
  type: list
  elements: dict
  contains:
    hostname:
      description: The host name.
      type: str
    service_type:
      description: The service type.
      type: str
    site:
      description: The site's short name.
      type: str
    ngi:
      description: The site's NGI (GOCDB's C(ROC_NAME)).
      type: str
    country:
      description: The site's country.
      type: str
    country_code:
      description: The site's country code.
      type: str
    in_production:
      description: Whether the service is in production.
      type: bool
    monitored:
      description: Whether the service is monitored.
      type: bool
    beta:
      description: Whether the service is a beta service.
      type: bool
    notifications:
      description: Whether notifications are on, or null when GOCDB does not say.
      type: bool
    scopes:
      description: The service's scopes.
      type: list
      elements: str
    url:
      description: The service URL, or null.
      type: str
    host_dn:
      description: The host certificate's DN, or null.
      type: str
    host_ip:
      description: The host's IPv4 address, or null.
      type: str
    host_ipv6:
      description: The host's IPv6 address, or null.
      type: str
    host_os:
      description: The host's operating system, or null.
      type: str
    host_arch:
      description: The host's architecture, or null.
      type: str
    primary_key:
      description: GOCDB's primary key of the service.
      type: str
    portal_url:
      description: The service's page in the GOCDB portal.
      type: str
    endpoints:
      description: The service's endpoints (C(id), C(name), C(url), C(interface), C(monitored), C(extensions)).
      type: list
      elements: dict
    extensions:
      description: The service's extension properties, key to value.
      type: dict
  sample:
    - hostname: se01.alpha.example.org
      service_type: SRM
      site: VAPOR-ALPHA
      ngi: NGI_ALPHA
      country: Alphaland
      country_code: AL
      in_production: true
      monitored: true
      beta: false
      notifications: true
      scopes: [EGI]
      url: httpg://se01.alpha.example.org:8446/srm/managerv2
      host_dn: /DC=org/DC=example/CN=se01.alpha.example.org
      host_ip: 192.0.2.11
      host_ipv6: null
      host_os: null
      host_arch: null
      primary_key: 101G0
      portal_url: https://goc.egi.eu/portal/index.php?Page_Type=Service&id=101
      endpoints:
        - {id: '1001', name: srm, url: 'httpg://se01.alpha.example.org:8446/srm/managerv2', interface: SRM,
           monitored: true, extensions: {SRM_VERSION: '2.2'}}
      extensions: {SE_PATH: /dpm/alpha.example.org/home}
sites:
  description:
    - The sites, sorted by name. With O(site_details=false), only the keys of the public short list (C(name),
      C(primary_key), C(id), C(country), C(country_code), C(ngi), C(subgrid), C(giis_url)).
  returned: V(sites) in O(what)
  type: list
  elements: dict
  contains:
    name:
      description: The site's short name.
      type: str
    primary_key:
      description: GOCDB's primary key of the site.
      type: str
    id:
      description: GOCDB's id of the site.
      type: str
    country:
      description: The country.
      type: str
    country_code:
      description: The country code.
      type: str
    ngi:
      description: The NGI (GOCDB's C(ROC)).
      type: str
    subgrid:
      description: The subgrid, or null.
      type: str
    giis_url:
      description: The site BDII URL, or null.
      type: str
    official_name:
      description: With O(site_details=true), the official name.
      type: str
    description:
      description: With O(site_details=true), the description.
      type: str
    portal_url:
      description: With O(site_details=true), the site's page in the GOCDB portal.
      type: str
    home_url:
      description: With O(site_details=true), the home page.
      type: str
    contact_email:
      description: With O(site_details=true), the contact address.
      type: str
    contact_tel:
      description: With O(site_details=true), the contact telephone.
      type: str
    alarm_email:
      description: With O(site_details=true), the alarm address.
      type: str
    csirt_email:
      description: With O(site_details=true), the security contact address.
      type: str
    tier:
      description: With O(site_details=true), the WLCG tier, or null.
      type: str
    infrastructure:
      description: With O(site_details=true), the production infrastructure (C(Production), C(Test)).
      type: str
    certification_status:
      description: With O(site_details=true), the certification status (C(Certified), C(Suspended), ...).
      type: str
    timezone:
      description: With O(site_details=true), the time zone.
      type: str
    latitude:
      description: With O(site_details=true), the latitude.
      type: str
    longitude:
      description: With O(site_details=true), the longitude.
      type: str
    domain:
      description: With O(site_details=true), the DNS domain.
      type: str
    site_ip:
      description: With O(site_details=true), the IPv4 range.
      type: str
    site_ipv6:
      description: With O(site_details=true), the IPv6 range.
      type: str
    scopes:
      description: With O(site_details=true), the site's scopes.
      type: list
      elements: str
    extensions:
      description: With O(site_details=true), the site's extension properties.
      type: dict
  sample:
    - {name: VAPOR-ALPHA, primary_key: 11G0, id: '11', country: Alphaland, country_code: AL, ngi: NGI_ALPHA,
       subgrid: null, giis_url: null}
downtimes:
  description: The downtimes, one per downtime with the services it affects, sorted by start.
  returned: V(downtimes) in O(what)
  type: list
  elements: dict
  contains:
    id:
      description: GOCDB's id of the downtime.
      type: int
    primary_key:
      description: GOCDB's primary key of the downtime.
      type: str
    classification:
      description: C(SCHEDULED) or C(UNSCHEDULED).
      type: str
    severity:
      description: C(OUTAGE) or C(WARNING).
      type: str
    description:
      description: What the site wrote.
      type: str
    insert_date:
      description: When it was declared, seconds since the epoch.
      type: int
    start:
      description: The start, seconds since the epoch.
      type: int
    end:
      description: The end, seconds since the epoch.
      type: int
    start_iso:
      description: The start, ISO 8601 in UTC.
      type: str
    end_iso:
      description: The end, ISO 8601 in UTC.
      type: str
    state:
      description: C(ongoing), C(upcoming) or C(ended), at the time the module ran.
      type: str
    ongoing:
      description: Whether it is going on.
      type: bool
    portal_url:
      description: The downtime's page in the GOCDB portal.
      type: str
    services:
      description:
        - The affected services that pass the O(sites), O(service_types) and O(hostnames) filters (C(hostname),
          C(service_type), C(site), C(primary_key), C(affected_endpoints)).
      type: list
      elements: dict
    sites:
      description: The sites of those services.
      type: list
      elements: str
    hostnames:
      description: The host names of those services.
      type: list
      elements: str
  sample:
    - id: 201
      primary_key: 201G0
      classification: SCHEDULED
      severity: OUTAGE
      description: Storage upgrade
      insert_date: 1700000000
      start: 1700003600
      end: 1700010800
      start_iso: '2023-11-14T23:13:20Z'
      end_iso: '2023-11-15T01:13:20Z'
      state: ongoing
      ongoing: true
      portal_url: https://goc.egi.eu/portal/index.php?Page_Type=Downtime&id=201
      services:
        - {hostname: se01.alpha.example.org, service_type: SRM, site: VAPOR-ALPHA, primary_key: 101G0,
           affected_endpoints: []}
      sites: [VAPOR-ALPHA]
      hostnames: [se01.alpha.example.org]
requests:
  description: How many requests were sent to GOCDB (one per page).
  returned: success
  type: int
  sample: 3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._clients.http import requirement
from ansible_collections.vapor.ops.plugins.module_utils._infosys.gocdb import gocdb_info
from ansible_collections.vapor.ops.plugins.module_utils._infosys.options import GOCDB_INFO


def main():
    run_module(AnsibleModule, GOCDB_INFO, 'Reading GOCDB', gocdb_info, needs=lambda p: [requirement()])


if __name__ == '__main__':
    main()
