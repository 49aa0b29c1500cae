#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: package_report
short_description: Report a host's installed packages to Pakiti collectors, or its service versions, filtered first
version_added: 0.1.0
description:
  - Collects the host's installed packages the way pakiti-client 3.0.4 does (rpm, else dpkg; the same query formats,
    the same headers C(arch), C(cpu), C(host), C(kernel), C(packager), C(site), C(system), C(tag), C(version)), and
    sends the report to one or more collectors, writes it to a file, or both. Nothing needs to be installed on the
    host; the report is made in Python from the package manager's own output.
  - The report is byte for byte what pakiti-client would send for the same packages and headers (Pakiti protocol 5 -
    sorted headers, C(#) separator lines, sorted TAB-separated package lines), unless filters leave some out.
  - Filters apply on the host before anything leaves it (O(include), O(exclude), O(kernel), O(drop_headers)); each
    destination may filter further. The result counts the packages found, sent and filtered out, never their names.
  - O(format=versions) sends instead the version-only report the WLCG Tier-0 asked for, a JSON list of
    C({"hostname", "service_type", "version"}) for the products of O(products).
  - Option names follow pakiti-client's where it has one (O(url), O(mode), O(site), O(tag), O(host), O(encrypt),
    O(output), O(input), O(expect); its C(--rndsleep) is O(splay)), so a site's configuration carries over.
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
  - vapor.ops._http
requirements:
  - rpm or dpkg-query on the host (whichever package manager it has)
  - requests (Python library on the host) to send a report; not needed for O(output) alone
  - cryptography (Python library, with C(PKCS7EnvelopeBuilder)) or the openssl command on the host, for O(encrypt)
attributes:
  check_mode:
    support: full
    details:
      - Collects, filters and formats the report, sends nothing and writes nothing; returns the report's size and
        package counts per destination.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Every run sends the report again (collectors count a host as alive by its reports). With O(state_file),
        C(changed) says whether a destination received a report different from the last one delivered to it; without
        it, every delivery counts as a change. O(output) changes only when its content does (an encrypted file is
        new every time).
options:
  url:
    description:
      - The collector's feed URL, as pakiti-client's C(--url) (for example V(https://pakiti.example.org/feed/)); a
        shorthand for one destination named V(url) with the module's own settings.
      - C(mode=MODE) and C(protocol=5) are added to the query, as pakiti-client does.
    type: str
  mode:
    description:
      - What the collector does with the report; not sent when not set (the collector's default is V(store-only)).
      - V(store-and-report) and V(report-only) make a Pakiti collector answer with the host's findings (tagged CVEs),
        which come back in the C(findings) of RV(destinations).
    type: str
    choices: [store-only, store-and-report, report-only]
  destinations:
    description:
      - Any number of collectors that each get the report in one run (the site's own Pakiti, the EGI CSIRT, the WLCG
        collector). A setting a destination does not give is the module's own.
      - A destination's filters apply after the module's own (a package reaches a destination only when both let it
        through).
      - A destination that fails (collector down, TLS failure, error answer) does not stop the others. The task
        fails afterwards, naming the destinations that failed, unless O(allow_partial=true).
    type: list
    elements: dict
    suboptions:
      name:
        description: A name for the destination, used in the result and in messages; unique.
        type: str
        required: true
      url:
        description: The collector's URL.
        type: str
        required: true
      mode:
        description: As O(mode), for this destination.
        type: str
        choices: [store-only, store-and-report, report-only]
      format:
        description: As O(format), for this destination.
        type: str
        choices: [pakiti, versions]
      products:
        description: As O(products), for this destination.
        type: dict
      include:
        description: As O(include), applied after the module's own.
        type: list
        elements: str
      exclude:
        description: As O(exclude), applied after the module's own.
        type: list
        elements: str
      kernel:
        description: V(false) leaves the kernel header and kernel packages out of this destination's report.
        type: bool
      drop_headers:
        description: As O(drop_headers), applied after the module's own.
        type: list
        elements: str
      encrypt:
        description: As O(encrypt), for this destination (the certificate of this collector).
        type: str
      expect:
        description: As O(expect), for this destination.
        type: str
      protocol_version:
        description: As O(protocol_version), for this destination.
        type: bool
      http:
        description:
          - HTTP client settings for this destination only, with the names of the module's HTTP options
            (O(ca_path), O(validate_certs), O(client_cert), O(client_key), O(proxy_file), O(token_file),
            O(use_proxy), O(connect_timeout), O(timeout), O(retries), O(retry_backoff)).
          - Another name is refused, and so are O(token) and O(proxy_url), which may hold a secret and are hidden from
            logs only as the module's own options.
        type: dict
  allow_partial:
    description:
      - Succeed when at least one destination received the report, with a warning naming the others.
      - When no destination received it, the task fails anyway.
    type: bool
    default: false
  format:
    description:
      - V(pakiti) is the Pakiti protocol-5 report (text, what pakiti-client sends).
      - V(versions) is a JSON list of C({"hostname", "service_type", "version"}), one per product of O(products)
        installed on the host (one per distinct version when several are); rpm versions are C(VERSION-RELEASE), with
        the epoch only when it is not 0.
    type: str
    default: pakiti
    choices: [pakiti, versions]
  products:
    description:
      - For O(format=versions), the products to report, as service type to package name or pattern (the syntax of
        O(include)), or to a list of them; for example V(webdav) to V(dcache) and V(org.opensciencegrid.htcondorce)
        to V(re:^htcondor-ce$).
      - The service types are the GOCDB ones when the inventory comes from the P(vapor.ops.gocdb#inventory) plugin.
    type: dict
  site:
    description:
      - The C(site) header (pakiti-client's C(--site)); collectors group hosts by it, so use the site's GOCDB name,
        or the volunteer site name the WLCG collector knows.
      - With O(input), it replaces the prepared report's site, as pakiti-client does.
    type: str
  tag:
    description: The C(tag) header (pakiti-client's C(--tag)), for example V(MWR).
    type: str
  host:
    description:
      - The C(host) header, and the host name of the version report. By default the host's fully qualified name,
        found as pakiti-client finds it (C(hostname --fqdn), then C(hostname --long), then C(uname -n)).
    type: str
  include:
    description:
      - Report only the packages whose name matches one of these patterns (all packages when not set).
      - A pattern is a shell-style glob matched against the whole name (V(xrootd*)), or a regular expression written
        V(re:PATTERN) and searched in the name (V(re:^(dcache|xrootd)\b)). A pattern that does not compile fails
        the task before anything is sent.
    type: list
    elements: str
  exclude:
    description: Leave out the packages whose name matches one of these patterns (the syntax of O(include)); wins over O(include).
    type: list
    elements: str
  kernel:
    description: V(false) leaves out the C(kernel) header and every kernel package (C(kernel*), C(linux-image-*), ...).
    type: bool
    default: true
  drop_headers:
    description:
      - Headers left out of the report, for example V(cpu) or V(system). C(host) and C(version) cannot be left out
        (a collector needs them).
    type: list
    elements: str
    aliases: [headers]
  encrypt:
    description:
      - Encrypt the report to this certificate (the collector's), as pakiti-client's C(--encrypt) does - S/MIME
        enveloped data, AES-256-CBC, DER, which C(openssl smime -decrypt -binary -inform DER) reads.
      - A path to the PEM certificate, or the PEM text itself. A file that is not one certificate, or a certificate
        that has expired or is not valid yet, fails the task before anything is sent.
    type: str
  expect:
    description:
      - For older collectors (the WLCG Middleware Readiness collector, pakiti2), a regular expression searched in the
        answer's status line (V(200 th4nk y0u)) and body, in place of the Pakiti C(OK) check. Of a body longer than
        16 KiB only its last 16 KiB are searched (pakiti2 ends its answer with C(OK)).
    type: str
  protocol_version:
    description: V(false) does not add C(protocol=5) to the URL (pakiti-client's C(--no-protocol-version)).
    type: bool
    default: true
  output:
    description:
      - Also write the report (O(format), the module's filters, encrypted when O(encrypt) is set) to this file, mode
        0600; alone, without O(url) or O(destinations), nothing is sent. The file is replaced whole, and a symbolic
        link at the path is replaced, not followed. A FIFO, a device or a socket at the path fails the task before
        anything is collected, and is left as it is.
    type: path
  input:
    description:
      - Send this prepared report file instead of collecting (the edit-then-send workflow, pakiti-client's
        C(--input)). A file that is not a Pakiti report, or not a regular file (a FIFO, a device), fails the task.
        Sent byte for byte when no filter applies.
    type: path
  splay:
    description:
      - Wait a random number of seconds up to this many before collecting (pakiti-client's C(--rndsleep)), so that
        the scheduled runs of many hosts spread out. Check mode does not wait.
    type: int
    default: 0
    aliases: [rndsleep]
  packager:
    description: V(auto) tries rpm, then dpkg, as pakiti-client does (the first with packages wins).
    type: str
    default: auto
    choices: [auto, rpm, dpkg]
  rpm_dbpath:
    description: Read this RPM database (C(rpm --dbpath)) instead of the host's, for example a container image's.
    type: path
  dpkg_admindir:
    description: Read this dpkg database directory (C(dpkg-query --admindir)) instead of the host's.
    type: path
  state_file:
    description:
      - A file (mode 0600) where the module keeps, per destination, the digest of the last report delivered, so that
        C(changed) says whether a destination received something new. Like O(output), it must be a regular file (or
        not exist yet).
    type: path
notes:
  - Package lists reveal a host's patch level. Send them over HTTPS or encrypted; O(output) files are mode 0600. A
    collector that redirects a report from C(https://) to C(http://) is refused before anything is sent there.
  - A password or token written inside a URL (C(user:password@), C(?token=)) is hidden from the task's invocation,
    its messages and its results.
  - Nothing the host sends depends on the controller; the report goes from the host to the collectors.
  - The role C(vapor.ops.pakiti_client) runs the same report on a schedule, installed on the host.
seealso:
  - name: pakiti-client
    description: The Pakiti reporting client this module is compatible with.
    link: https://github.com/CESNET/pakiti-client
"""

EXAMPLES = r"""
- name: Report to the site's Pakiti and to the EGI CSIRT, nothing but middleware to the WLCG collector
  vapor.ops.package_report:
    site: EXAMPLE-SITE
    ca_path: /etc/grid-security/certificates
    exclude: ["re:-(devel|doc|debuginfo)$"]
    drop_headers: [cpu]
    destinations:
      - name: site
        url: https://pakiti.example.org/feed/
        mode: store-and-report
      - name: egi-csirt
        url: https://pakiti.egi.eu/feed/
      - name: wlcg
        url: https://wlcg-mwr.example.org/package-report
        format: versions
        products: {webdav: dcache, xrootd: xrootd-server}
        encrypt: /etc/vapor-pakiti/wlcg-collector.pem
    state_file: /var/lib/vapor-pakiti/state.json
  register: packages

- name: Save a filtered report to a file to look at it first (nothing is sent)
  vapor.ops.package_report:
    output: /root/packages.report
    include: ["xrootd*", "dcache*", "re:^(globus|voms)"]
    kernel: false

- name: Send the edited file, under the site's registered name
  vapor.ops.package_report:
    input: /root/packages.report
    site: EXAMPLE-SITE
    url: https://pakiti.example.org/feed/
"""

RETURN = r"""
host:
  description: The host name in the report.
  returned: always
  type: str
  sample: wn001.example.org
packager:
  description: The package manager the packages come from (V(rpm) or V(dpkg)).
  returned: always
  type: str
  sample: rpm
counts:
  description: "Packages after the module's own filters: C(found) on the host, C(sent), C(filtered) out."
  returned: always
  type: dict
  sample: {"found": 1342, "sent": 1200, "filtered": 142}
headers_sent:
  description: The names of the headers in the report (after O(drop_headers)).
  returned: always
  type: list
  elements: str
  sample: [arch, host, kernel, packager, site, system, version]
report_size:
  description: Bytes of the report in O(format) with the module's filters, before encryption.
  returned: always
  type: int
  sample: 61234
versions:
  description: The version report's entries (O(format=versions) with O(products)).
  returned: when O(products) is set and O(format=versions)
  type: list
  elements: dict
  sample: [{"hostname": "se.example.org", "service_type": "webdav", "version": "9.2.6-1"}]
missing_products:
  description: Service types of O(products) with no matching package on the host.
  returned: when O(products) is set and O(format=versions)
  type: list
  elements: str
  sample: []
output:
  description: What was written to O(output).
  returned: when O(output) is set
  type: dict
  sample: {"path": "/root/packages.report", "changed": true, "size": 61234, "encrypted": false, "format": "pakiti"}
destinations:
  description:
    - One entry per destination, in order - C(name), C(url) (with the query sent, without credentials), C(format),
      C(mode), C(counts) (found, sent, filtered for this destination), C(size) (bytes sent), C(encrypted), C(sent),
      C(changed), C(status) (HTTP), C(reply), C(findings), C(error) (the sentence, when it failed), and for the versions
      format C(versions) and C(missing_products).
    - C(findings) are the collector's answer in reporting modes, one per tagged CVE - C(name), C(version), C(arch),
      C(cve), C(tag). A finding that names a package filtered out of that destination's report is left out (a
      warning counts them), so the result never names a filtered package.
  returned: always
  type: list
  elements: dict
  sample:
    - name: site
      url: https://pakiti.example.org/feed/?mode=store-and-report&protocol=5
      format: pakiti
      mode: store-and-report
      counts: {"found": 1342, "sent": 1200, "filtered": 142}
      size: 61234
      encrypted: false
      sent: true
      changed: true
      status: 200
      reply: OK
      findings: [{"name": "openssl", "version": "1:3.0.7-24.el9", "arch": "x86_64", "cve": "CVE-2024-5535", "tag": "High"}]
      error: null
failed_destinations:
  description: The names of the destinations that did not receive the report.
  returned: always
  type: list
  elements: str
  sample: []
findings:
  description: How many findings all destinations answered.
  returned: always
  type: int
  sample: 1
splay_seconds:
  description: Seconds waited before collecting (O(splay)).
  returned: always
  type: float
  sample: 12.5
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._clients.http import requirement
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import url_secrets
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.options import TABLE
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.run import run


def _needs(params):
    sends = bool(params.get('url') or params.get('destinations'))
    return [requirement() if sends else (None, True)]


def _url_secrets(params):
    """Secrets written inside the URLs of the options (a password in user:password@, a token in the query), and
    the secret HTTP settings a destination is refused for: none of them may show in the invocation or the logs."""
    found = set(url_secrets(params.get('url'))) | set(url_secrets(params.get('proxy_url')))
    for dest in params.get('destinations') or []:
        if not isinstance(dest, dict):
            continue
        found |= url_secrets(dest.get('url'))
        http = dest.get('http') if isinstance(dest.get('http'), dict) else {}
        found |= url_secrets(http.get('proxy_url'))
        for name in ('token', 'proxy_url'):
            if http.get(name):
                found.add(str(http[name]))
    return found


def main():
    run_module(AnsibleModule, TABLE, 'The package report', run, needs=_needs, secrets=_url_secrets)


if __name__ == '__main__':
    main()
