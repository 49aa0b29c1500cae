#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mw_readiness
short_description: Write the middleware-readiness matrix of products under verification at volunteer sites
version_added: 0.1.0
description:
  - Compares what the volunteer sites run with a baseline (the products under verification and their expected
    versions) and writes the matrix product by site, with the installed versions and a status, as CSV, JSON and a
    self-contained HTML page in O(dest).
  - The sites' input is the C(versions) report, a JSON array of C({"hostname", "service_type", "version"}) objects,
    one per product installed on a host (a product missing on a host has no entry). Reports are given as data
    (O(reports), for instance collected from the hosts of an inventory) or as files received from the sites
    (O(report_files)). Reports of one site are taken together, whatever host or file they came from.
  - "Statuses, for a product at a site: B(as-expected) (every host of the site that has the product runs the
    expected version), B(older) or B(newer) (they run one version, older or newer than the expected one),
    B(several) (the hosts run different versions; each is listed with its own status and hosts), B(missing) (the
    site reported, and none of its hosts has the product), B(no-report) (nothing was received from the site)."
  - "Versions compare by rpm's rules or by dpkg's (Debian policy), by their scheme: the report's O(reports[].scheme)
    or O(report_files[].scheme), else the site's C(scheme) in the baseline, else the product's (default V(rpm)).
    rpm versions are C([EPOCH:]VERSION[-RELEASE]) (a missing epoch is 0); a version given without a release, in the
    baseline or in a report, matches every release of that version, as an rpm dependency without a release does.
    dpkg versions are C([EPOCH:]UPSTREAM[-REVISION])."
  - Reports of sites that are not in the baseline are not dropped, they are listed in RV(unexpected_sites) and in the
    outputs; so are service types of a report that no product of the baseline has (C(unexpected_products) in the
    JSON and the HTML page).
  - "Bad input fails with one sentence naming the object and the cause, and writes nothing: a baseline without
    products or sites, a version that is not a string (in YAML, quote C('2.10')) or not valid in its scheme, a report
    file that cannot be read, is not JSON, or is not an array of objects with exactly the keys C(hostname),
    C(service_type) and C(version), each a non-empty string."
  - Each file is written through a temporary file in O(dest) and a rename, with mode C(0644) (the matrix names
    products and versions, not package lists), and only when its content changes; the files hold no time stamp, so
    the same input gives the same files.
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads every input, builds the matrix, returns it and the files a real run would write
        (RV(changed_files)), and writes nothing (O(dest) is not created).
  diff_mode:
    support: full
    details:
      - The diff shows each file's text before and after, for the files that change.
  idempotent:
    support: full
    details:
      - A file is rewritten only when its content or its mode differs, so a second run with the same input reports
        no change.
options:
  baseline:
    description:
      - The baseline, as a mapping. C(products) is a list of products under verification, each with C(name),
        C(version) (the expected version, a string), C(service_type) (what the sites' reports call it; default the
        name) and C(scheme) (V(rpm) or V(dpkg), default V(rpm)). C(sites) is a list of the volunteer sites, each a
        name or a mapping with C(name) and, optionally, C(scheme) (the scheme of that site's versions, for every
        product). C(title) optionally names the matrix in the HTML page.
      - Exactly one of O(baseline) and O(baseline_file) is needed.
    type: dict
  baseline_file:
    description:
      - A file holding the baseline, as O(baseline) describes it, in JSON, or in YAML when PyYAML can be imported
        (it can wherever Ansible runs).
    type: path
  reports:
    description: Versions reports given as data.
    type: list
    elements: dict
    default: []
    suboptions:
      site:
        description: The site the report belongs to, as the baseline names it.
        type: str
        required: true
      hostname:
        description: The host that sent the report; listed among the site's hosts even when the report is empty.
        type: str
      scheme:
        description: The scheme of the report's versions; default the site's, else each product's.
        type: str
        choices: [rpm, dpkg]
      entries:
        description:
          - The report, a list of C({hostname, service_type, version}) mappings (each value a string). An empty
            list is a report that holds no product.
        type: list
        elements: dict
        required: true
  report_files:
    description: Versions report files received from the sites (on the host that runs the module).
    type: list
    elements: dict
    default: []
    suboptions:
      site:
        description: The site the file comes from, as the baseline names it.
        type: str
        required: true
      path:
        description: The file, a JSON array of C({hostname, service_type, version}) objects.
        type: path
        required: true
      scheme:
        description: The scheme of the file's versions; default the site's, else each product's.
        type: str
        choices: [rpm, dpkg]
  dest:
    description: The directory the files are written to; created (mode C(0755), less the umask) if missing.
    type: path
    required: true
  formats:
    description: The files to write, C(BASENAME.csv), C(BASENAME.json) and C(BASENAME.html).
    type: list
    elements: str
    choices: [csv, json, html]
    default: [csv, json, html]
  basename:
    description: The name of the files, without the extension.
    type: str
    default: mw_readiness
notes:
  - "The CSV has one line per product and site with the columns C(product), C(service_type), C(site), C(scheme),
    C(expected), C(status), C(installed) and C(hosts) (values joined by C(; )) and C(detail) (for B(several): each
    version with its status and hosts). The JSON holds the whole matrix (RV(matrix)). The HTML page has the matrix
    with coloured statuses, a summary per site, the detail and what was not expected; it needs no script and loads
    nothing from elsewhere."
  - The module runs where the report files are, usually the controller (C(delegate_to) or a play on C(localhost)).
requirements:
  - Python only, no library beyond the standard one (PyYAML for a YAML O(baseline_file))
"""

EXAMPLES = r"""
- name: Write the readiness matrix from the report files the sites sent
  vapor.ops.mw_readiness:
    baseline:
      title: MW readiness, products under verification
      products:
        - {name: StoRM, service_type: storm, version: '1.11.22-1.el9'}
        - {name: dCache, service_type: dcache, version: '9.2.5'}
        - {name: ARC CE, service_type: nordugrid-arc, version: '6.18.0-1', scheme: dpkg}
      sites:
        - CERN-PROD
        - INFN-T1
        - {name: EXAMPLE-DEBIAN, scheme: dpkg}
    report_files:
      - {site: CERN-PROD, path: /srv/mwr/incoming/cern-prod.json}
      - {site: INFN-T1, path: /srv/mwr/incoming/infn-t1.json}
    dest: /srv/mwr/reports/2026-11-21
  delegate_to: localhost
  register: readiness

- name: Say what is behind
  ansible.builtin.debug:
    msg: "{{ readiness.summary.by_status.older }} products are older than expected somewhere"

- name: See what would change, from a baseline file, only the JSON
  vapor.ops.mw_readiness:
    baseline_file: /srv/mwr/baseline.yml
    reports:
      - site: INFN-T1
        hostname: se01.example.org
        entries:
          - {hostname: se01.example.org, service_type: storm, version: '1.11.21-1.el9'}
    dest: /srv/mwr/reports/latest
    formats: [json]
  check_mode: true
  diff: true
"""

RETURN = r"""
dest:
  description: The directory of the files.
  returned: success
  type: str
  sample: /srv/mwr/reports/2026-11-21
files:
  description: The path of each file, by format (in check mode, where a real run writes it).
  returned: success
  type: dict
  sample:
    csv: /srv/mwr/reports/2026-11-21/mw_readiness.csv
    json: /srv/mwr/reports/2026-11-21/mw_readiness.json
    html: /srv/mwr/reports/2026-11-21/mw_readiness.html
changed_files:
  description: The files written (their content or mode changed), or that a real run would write in check mode.
  returned: success
  type: list
  elements: str
  sample: [/srv/mwr/reports/2026-11-21/mw_readiness.html]
summary:
  description:
    - How many (product, site) pairs have each status, over all sites (C(by_status)), per site (C(by_site)) and per
      product (C(by_product)); C(rows) is the number of pairs.
  returned: success
  type: dict
  sample:
    rows: 6
    by_status: {as-expected: 3, older: 1, newer: 0, missing: 1, several: 0, no-report: 1}
    by_site:
      CERN-PROD: {as-expected: 2, older: 1, newer: 0, missing: 0, several: 0, no-report: 0}
    by_product:
      StoRM: {as-expected: 1, older: 0, newer: 0, missing: 0, several: 0, no-report: 1}
unexpected_sites:
  description: The sites that sent reports but are not in the baseline (their reports are in the matrix's C(unexpected_sites)).
  returned: success
  type: list
  elements: str
  sample: [EXAMPLE-OTHER]
matrix:
  description:
    - The whole matrix, as the JSON file holds it.
    - "C(rows): one per product and site, sorted by product and site name: C(product), C(service_type), C(site),
      C(scheme), C(expected), C(status), C(installed) (the distinct versions, oldest first), C(versions) (each with
      C(version), C(scheme), C(status) and C(hosts)), C(hosts). Also C(products) and C(sites) (with C(reported),
      C(hosts) and C(sources), the report files) as the baseline orders them, C(statuses), C(title), C(summary),
      C(unexpected_sites) (C(site), C(hosts), C(entries), C(sources)) and C(unexpected_products) (C(site),
      C(service_type), C(versions), C(hosts)), and C(version), the version of this layout (1)."
  returned: success
  type: dict
  sample:
    version: 1
    title: Middleware readiness
    rows:
      - product: StoRM
        service_type: storm
        site: INFN-T1
        scheme: rpm
        expected: 1.11.22-1.el9
        status: several
        installed: [1.11.21-1.el9, 1.11.22-1.el9]
        hosts: [se01.example.org, se02.example.org]
        versions:
          - {version: 1.11.21-1.el9, scheme: rpm, status: older, hosts: [se01.example.org]}
          - {version: 1.11.22-1.el9, scheme: rpm, status: as-expected, hosts: [se02.example.org]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._report.options import READINESS
from ansible_collections.vapor.ops.plugins.module_utils._report.readiness import run


def main():
    run_module(AnsibleModule, READINESS, 'The middleware-readiness matrix', run)


if __name__ == '__main__':
    main()
