# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local GOCDB programmatic interface (PI) for the tests, as ../shared/reference/grid-apis.md §4 documents it.

GOCDB itself cannot be installed here, so this server implements the documented interface over a small dataset:
`GET <base>?method=<m>&...` on `/gocdbpi/public/` and `/gocdbpi/private/` (the private base wants a client
certificate: 403 without one), HTTPS with tests/testca.py, on 127.0.0.1 and a free port. Every answer is HTTP 200
with Content-Type application/xml, errors included, as GOCDB answers:

- methods get_service_endpoint / get_service, get_site_list (public, short, never paged: a cursor cuts it at the
  page size without a <meta>, as GOCDB does), get_site (needs identification: without a client certificate the
  plain-text message GOCDB sends), get_downtime (one <DOWNTIME> per affected service) and
  get_downtime_nested_services (one per downtime, its services nested); an unknown method is the plain text
  'Unable to find method: X';
- each method's own parameters; an unsupported parameter, a value with a quote, both cursors or a bad cursor is
  an `<error>...</error>` body; sitename, hostname, service_type, roc, country and topentity match as SQL LIKE
  ('%' and '_' are wildcards, case ignored); sitelist and service_type_list are exact comma lists;
- scope: absent -> the server's default scope ('EGI'), empty -> every scope, else a comma list with
  scope_match any (default) or all;
- cursor paging, off unless next_cursor or prev_cursor is given: records ordered by id, `page_size` a page
  (the test sets it), first child <meta> with the self, next, prev and start links (relative hrefs, as GOCDB's
  default) and <count>, <max_page_size>; a page with records always has a next link (the last page's leads to an
  empty page); services of Closed sites are left out of get_service_endpoint;
- elements in the documented order, empty ones left out as GOCDB's addIfNotEmpty does.

Misbehaviours the tests switch on (state.behaviour; from the request numbered state.after + 1 on): 'malformed'
(XML cut short), 'loop' (every page's next link goes back to the first page's next cursor), 'html' (a login
page), 'status' (state.status, 500 by default), 'error' (an `<error>` body with state.error_text), 'text' (a
plain-text message), 'doctype' (XML with an entity-defining DTD), 'old' (a GOCDB from before cursor paging:
next_cursor and prev_cursor are unsupported parameters), 'empty' (an empty body). Every request is recorded.
"""
from __future__ import annotations

import calendar
import http.server
import re
import ssl
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from testca import TestCA

PORTAL = "https://gocdb.example.org/portal"
SERVICE_PARAMS = ("hostname", "sitename", "roc", "country", "service_type", "monitored", "scope", "scope_match",
                  "extensions", "next_cursor", "prev_cursor")
SITE_PARAMS = ("sitename", "roc", "country", "certification_status", "exclude_certification_status",
               "production_status", "scope", "scope_match", "extensions", "next_cursor", "prev_cursor")
DOWNTIME_PARAMS = ("topentity", "ongoing_only", "startdate", "enddate", "windowstart", "windowend", "scope",
                   "scope_match", "all_lastmonth", "site_extensions", "service_extensions", "id", "sitelist",
                   "servicelist", "ngilist", "severity", "classification", "production", "monitored",
                   "certification_status", "service_type_list", "next_cursor", "prev_cursor")
NO_IDENTIFIER = "No valid identifier found. Try accessing the resource through the private interface."


# -- the dataset -------------------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    id: int
    name: str
    url: str
    interface: str
    monitored: bool = True
    extensions: dict = field(default_factory=dict)


@dataclass
class Service:
    id: int
    hostname: str
    service_type: str
    site: str
    production: bool = True
    monitored: bool = True
    beta: bool = False
    scopes: tuple = ("EGI",)
    url: str = ""
    host_dn: str = ""
    host_ip: str = ""
    endpoints: list = field(default_factory=list)
    extensions: dict = field(default_factory=dict)


@dataclass
class Site:
    id: int
    name: str
    ngi: str
    country: str
    country_code: str
    scopes: tuple = ("EGI",)
    official_name: str = ""
    certification_status: str = "Certified"
    infrastructure: str = "Production"
    tier: str = ""
    contact_email: str = ""
    csirt_email: str = ""
    domain: str = ""
    extensions: dict = field(default_factory=dict)


@dataclass
class Downtime:
    id: int
    classification: str
    severity: str
    description: str
    start: int
    end: int
    services: tuple             # service ids
    endpoints: tuple = ()       # affected endpoint ids
    insert: int = 0


@dataclass
class Dataset:
    sites: list
    services: list
    downtimes: list
    default_scope: str = "EGI"

    def site(self, name):
        return next(s for s in self.sites if s.name == name)

    def service(self, ident):
        return next(s for s in self.services if s.id == ident)


def default_dataset(now: int) -> Dataset:
    """Four sites in two NGIs; nine service endpoints, some hosts with several service types; five downtimes:
    ongoing (OUTAGE SCHEDULED on two services of one host, WARNING UNSCHEDULED), upcoming (WARNING SCHEDULED,
    and an OUTAGE SCHEDULED over two sites on Local-scope services), and one that ended ten days ago."""
    hour, day = 3600, 86400
    sites = [
        Site(11, "VAPOR-ALPHA", "NGI_ALPHA", "Alphaland", "AL", ("EGI",), "Alpha University Grid Centre",
             tier="2", contact_email="grid@alpha.example.org", csirt_email="csirt@alpha.example.org",
             domain="alpha.example.org", extensions={"site_vo": "dteam"}),
        Site(12, "VAPOR_BETA", "NGI_BETA", "Betaland", "BE", ("EGI", "Local"), "Beta Institute",
             contact_email="ops@beta.example.org", domain="beta.example.org"),
        Site(13, "VAPORXBETA", "NGI_BETA", "Betaland", "BE", ("EGI",), "Not Beta (a LIKE 'VAPOR_BETA' match)",
             domain="xbeta.example.org"),
        Site(14, "VAPOR-GAMMA", "NGI_ALPHA", "Alphaland", "AL", ("Local",), "Gamma cloud",
             domain="gamma.example.org"),
    ]
    services = [
        Service(101, "se01.alpha.example.org", "SRM", "VAPOR-ALPHA", url="httpg://se01.alpha.example.org:8446/srm/managerv2",
                host_dn="/DC=org/DC=example/CN=se01.alpha.example.org", host_ip="192.0.2.11",
                endpoints=[Endpoint(1001, "srm", "httpg://se01.alpha.example.org:8446/srm/managerv2", "SRM",
                                    extensions={"SRM_VERSION": "2.2"})],
                extensions={"SE_PATH": "/dpm/alpha.example.org/home", "NOTE": "{{ 7 * 6 }}"}),
        Service(102, "se01.alpha.example.org", "webdav", "VAPOR-ALPHA", url="https://se01.alpha.example.org/dpm",
                host_dn="/DC=org/DC=example/CN=se01.alpha.example.org",
                endpoints=[Endpoint(1002, "davs", "davs://se01.alpha.example.org:443/dpm", "webdav"),
                           Endpoint(1003, "https", "https://se01.alpha.example.org:443/dpm", "webdav", False)],
                extensions={"SE_PATH": "/dpm/alpha.example.org/home/webdav"}),
        Service(103, "ce01.alpha.example.org", "ARC-CE", "VAPOR-ALPHA", url="https://ce01.alpha.example.org:443/arex"),
        Service(104, "ce02.alpha.example.org", "ARC-CE", "VAPOR-ALPHA", production=False, monitored=False),
        Service(105, "se.beta.example.org", "SRM", "VAPOR_BETA", monitored=False, scopes=("EGI", "Local"),
                url="httpg://se.beta.example.org:8443/srm/managerv2"),
        Service(106, "xrootd.beta.example.org", "XRootD", "VAPOR_BETA", scopes=("Local",),
                url="root://xrootd.beta.example.org:1094"),
        Service(107, "ui.beta.example.org", "org.example.vapor.ui", "VAPOR_BETA", beta=True),
        Service(108, "se.xbeta.example.org", "SRM", "VAPORXBETA"),
        Service(109, "cloud.gamma.example.org", "eu.egi.cloud.vm-management.occi", "VAPOR-GAMMA", scopes=("Local",),
                url="https://cloud.gamma.example.org:11443"),
    ]
    downtimes = [
        Downtime(201, "SCHEDULED", "OUTAGE", "Storage upgrade: DPM -> dCache & <new> disks", now - hour,
                 now + 2 * hour, (101, 102), (1001, 1002)),
        Downtime(202, "SCHEDULED", "WARNING", "CE reinstallation", now + 3 * day, now + 4 * day, (103,)),
        Downtime(203, "UNSCHEDULED", "WARNING", "Network at risk", now - 600, now + 3000, (105,)),
        Downtime(204, "SCHEDULED", "OUTAGE", "Power cut (ended)", now - 11 * day, now - 10 * day, (103,)),
        Downtime(205, "SCHEDULED", "OUTAGE", "Campus network maintenance", now + 2 * day, now + 2 * day + 4 * hour,
                 (106, 109)),
    ]
    for d in downtimes:
        d.insert = d.start - day
    return Dataset(sites, services, downtimes)


# -- rendering -----------------------------------------------------------------------------------------------------


def _add(parent, tag, value=None, always=False):
    """A child element (with text), left out when empty unless ``always`` (GOCDB's addIfNotEmpty)."""
    if value in (None, "") and not always:
        return None
    el = ET.SubElement(parent, tag)
    if value not in (None, ""):
        el.text = str(value)
    return el


def _yn(flag):
    return "Y" if flag else "N"


def _extensions(parent, extensions, first_id):
    xs = ET.SubElement(parent, "EXTENSIONS")
    for n, (key, value) in enumerate(sorted(extensions.items())):
        x = ET.SubElement(xs, "EXTENSION")
        _add(x, "LOCAL_ID", first_id + n, always=True)
        _add(x, "KEY", key, always=True)
        _add(x, "VALUE", value, always=True)


def render_service(root, ds: Dataset, svc: Service):
    site = ds.site(svc.site)
    el = ET.SubElement(root, "SERVICE_ENDPOINT", PRIMARY_KEY="%dG0" % svc.id)
    _add(el, "PRIMARY_KEY", "%dG0" % svc.id)
    _add(el, "HOSTNAME", svc.hostname)
    _add(el, "GOCDB_PORTAL_URL", "%s/index.php?Page_Type=Service&id=%d" % (PORTAL, svc.id))
    _add(el, "HOSTDN", svc.host_dn)
    _add(el, "BETA", _yn(svc.beta), always=True)
    _add(el, "SERVICE_TYPE", svc.service_type)
    _add(el, "HOST_IP", svc.host_ip)
    _add(el, "CORE", always=True)
    _add(el, "IN_PRODUCTION", _yn(svc.production), always=True)
    _add(el, "NODE_MONITORED", _yn(svc.monitored), always=True)
    _add(el, "NOTIFICATIONS", "Y", always=True)
    _add(el, "SITENAME", site.name)
    _add(el, "COUNTRY_NAME", site.country)
    _add(el, "COUNTRY_CODE", site.country_code)
    _add(el, "ROC_NAME", site.ngi)
    _add(el, "URL", svc.url, always=True)
    eps = ET.SubElement(el, "ENDPOINTS")
    for ep in svc.endpoints:
        e = ET.SubElement(eps, "ENDPOINT")
        _add(e, "ID", ep.id, always=True)
        _add(e, "NAME", ep.name, always=True)
        _extensions(e, ep.extensions, ep.id * 10)
        _add(e, "URL", ep.url, always=True)
        _add(e, "INTERFACENAME", ep.interface, always=True)
        _add(e, "ENDPOINT_MONITORED", _yn(ep.monitored), always=True)
    scopes = ET.SubElement(el, "SCOPES")
    for s in svc.scopes:
        _add(scopes, "SCOPE", s)
    _extensions(el, svc.extensions, svc.id * 10)


def render_site(root, site: Site):
    el = ET.SubElement(root, "SITE", ID=str(site.id), PRIMARY_KEY="%dG0" % site.id, NAME=site.name)
    _add(el, "PRIMARY_KEY", "%dG0" % site.id)
    _add(el, "SHORT_NAME", site.name)
    _add(el, "OFFICIAL_NAME", site.official_name)
    _add(el, "GOCDB_PORTAL_URL", "%s/index.php?Page_Type=Site&id=%d" % (PORTAL, site.id))
    _add(el, "CONTACT_EMAIL", site.contact_email)
    _add(el, "TIER", site.tier)
    _add(el, "COUNTRY_CODE", site.country_code)
    _add(el, "COUNTRY", site.country)
    _add(el, "ROC", site.ngi)
    _add(el, "PRODUCTION_INFRASTRUCTURE", site.infrastructure)
    _add(el, "CERTIFICATION_STATUS", site.certification_status)
    _add(el, "TIMEZONE", "UTC")
    _add(el, "CSIRT_EMAIL", site.csirt_email)
    domain = ET.SubElement(el, "DOMAIN")
    _add(domain, "DOMAIN_NAME", site.domain)
    scopes = ET.SubElement(el, "SCOPES")
    for s in site.scopes:
        _add(scopes, "SCOPE", s)
    _extensions(el, site.extensions, site.id * 10)


def render_site_short(root, site: Site):
    ET.SubElement(root, "SITE", ID=str(site.id), PRIMARY_KEY="%dG0" % site.id, NAME=site.name,
                  COUNTRY=site.country, COUNTRY_CODE=site.country_code, ROC=site.ngi, SUBGRID="", GIIS_URL="")


def _fmt(epoch):
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


def _affected(parent, ds, dt, svc):
    eps = ET.SubElement(parent, "AFFECTED_ENDPOINTS")
    for ep in svc.endpoints:
        if ep.id in dt.endpoints:
            e = ET.SubElement(eps, "ENDPOINT")
            _add(e, "ID", ep.id, always=True)
            _add(e, "NAME", ep.name, always=True)
            _add(e, "URL", ep.url, always=True)
            _add(e, "INTERFACENAME", ep.interface, always=True)
            _add(e, "ENDPOINT_MONITORED", _yn(ep.monitored), always=True)


def render_downtime_nested(root, ds: Dataset, dt: Downtime, services):
    el = ET.SubElement(root, "DOWNTIME", ID=str(dt.id), PRIMARY_KEY="%dG0" % dt.id, CLASSIFICATION=dt.classification)
    _add(el, "SEVERITY", dt.severity)
    _add(el, "DESCRIPTION", dt.description)
    _add(el, "INSERT_DATE", dt.insert)
    _add(el, "START_DATE", dt.start)
    _add(el, "END_DATE", dt.end)
    _add(el, "FORMATED_START_DATE", _fmt(dt.start))
    _add(el, "FORMATED_END_DATE", _fmt(dt.end))
    _add(el, "GOCDB_PORTAL_URL", "%s/index.php?Page_Type=Downtime&id=%d" % (PORTAL, dt.id))
    svcs = ET.SubElement(el, "SERVICES")
    for svc in services:
        s = ET.SubElement(svcs, "SERVICE")
        _add(s, "PRIMARY_KEY", "%dG0" % svc.id)
        _add(s, "HOSTNAME", svc.hostname)
        _add(s, "SERVICE_TYPE", svc.service_type)
        _add(s, "ENDPOINT", svc.hostname + svc.service_type)
        _add(s, "HOSTED_BY", svc.site)
        _affected(s, ds, dt, svc)


def render_downtime_flat(root, ds: Dataset, dt: Downtime, services):
    for svc in services:
        el = ET.SubElement(root, "DOWNTIME", ID=str(dt.id), PRIMARY_KEY="%dG0" % dt.id,
                           CLASSIFICATION=dt.classification)
        _add(el, "PRIMARY_KEY", "%dG0" % dt.id)
        _add(el, "HOSTNAME", svc.hostname)
        _add(el, "SERVICE_TYPE", svc.service_type)
        _add(el, "ENDPOINT", svc.hostname + svc.service_type)
        _add(el, "HOSTED_BY", svc.site)
        _add(el, "GOCDB_PORTAL_URL", "%s/index.php?Page_Type=Downtime&id=%d" % (PORTAL, dt.id))
        _affected(el, ds, dt, svc)
        _add(el, "SEVERITY", dt.severity)
        _add(el, "DESCRIPTION", dt.description)
        _add(el, "INSERT_DATE", dt.insert)
        _add(el, "START_DATE", dt.start)
        _add(el, "END_DATE", dt.end)
        _add(el, "FORMATED_START_DATE", _fmt(dt.start))
        _add(el, "FORMATED_END_DATE", _fmt(dt.end))


def to_xml(root) -> bytes:
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n").encode()


# -- query semantics -------------------------------------------------------------------------------------------------


class Refused(Exception):
    """An answer GOCDB gives instead of results: ``body`` (bytes)."""

    def __init__(self, body: bytes):
        super().__init__(body)
        self.body = body


def error_body(text: str) -> Refused:
    return Refused(("<error>%s</error>" % text.replace("&", "&amp;").replace("<", "&lt;")).encode())


def like(value: str, pattern: str) -> bool:
    """SQL LIKE, case ignored: '%' any text, '_' any one character."""
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value or "", re.I | re.S) is not None


def scope_ok(scopes, params, default) -> bool:
    if "scope" not in params:
        wanted = [default]
    elif params["scope"] == "":
        return True
    else:
        wanted = [s for s in params["scope"].split(",") if s]
    match = params.get("scope_match", "any")
    if match not in ("any", "all"):
        raise error_body("Invalid scope_match value, must be 'any' or 'all'")
    have = set(scopes)
    return set(wanted) <= have if match == "all" else bool(set(wanted) & have)


def day(value: str) -> int:
    """A PHP DateTime-like reading of YYYY-MM-DD (midnight UTC); anything else is the exception text GOCDB dies with."""
    try:
        return calendar.timegm(time.strptime(value, "%Y-%m-%d"))
    except ValueError:
        raise Refused(("DateTime::__construct(): Failed to parse time string (%s) at position 0 (%s): "
                       "The timezone could not be found in the database" % (value, value[:1])).encode())


# -- the server ----------------------------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    method: str | None
    params: dict
    client_dn: str | None


@dataclass
class GocdbState:
    behaviour: str = "gocdb"
    after: int = 0               # misbehave only from the request numbered after + 1 on
    page_size: int = 100
    status: int = 500
    error_text: str = "Unsupported parameter: vapor"
    text: str = "Unable to find method: get_vapor"
    requests: list = field(default_factory=list)


def _peer_dn(connection) -> str | None:
    try:
        peer = connection.getpeercert()
    except (AttributeError, ValueError):
        return None
    if not peer:
        return None
    names = {"organizationName": "O", "commonName": "CN"}
    return "/" + "/".join("%s=%s" % (names.get(k, k), v) for rdn in peer.get("subject", ()) for k, v in rdn)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"

    def log_message(self, *args):
        """Quiet: the tests read what the server recorded, not its log."""

    def _reply(self, status, body: bytes, ctype="application/xml"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv: GocdbServer = self.server.gocdb
        parsed = urllib.parse.urlsplit(self.path)
        pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
        params = dict(pairs)
        method = params.pop("method", None)
        dn = _peer_dn(self.connection)
        with srv.lock:
            srv.state.requests.append(Request(parsed.path, method, dict(params), dn))
            number = len(srv.state.requests)
        if parsed.path not in ("/gocdbpi/public/", "/gocdbpi/private/"):
            return self._reply(404, b"<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>\n", "text/html")
        if parsed.path == "/gocdbpi/private/" and dn is None:
            return self._reply(403, b"<!DOCTYPE html><html><body><h1>Forbidden</h1></body></html>\n", "text/html")
        st = srv.state
        if st.behaviour != "gocdb" and number > st.after:
            odd = self._misbehave(st, method, params)
            if odd is not None:
                return odd
        try:
            body = srv.answer(method, params, dn, parsed.path, loop=st.behaviour == "loop" and number > st.after)
        except Refused as exc:
            body = exc.body
        return self._reply(200, body)

    def _misbehave(self, st: GocdbState, method, params):
        b = st.behaviour
        if b == "malformed":
            return self._reply(200, b'<?xml version="1.0" encoding="UTF-8"?>\n<results>\n  <SERVICE_ENDPOINT PRIMARY_KEY="1G0">\n    <HOSTNAME>se')
        if b == "html":
            return self._reply(200, b"<!DOCTYPE html>\n<html><head><title>EGI Check-in</title></head><body><form>Log in</form></body></html>\n",
                               "text/html; charset=UTF-8")
        if b == "status":
            return self._reply(st.status, b"<html><body>Internal Server Error</body></html>\n", "text/html")
        if b == "error":
            return self._reply(200, error_body(st.error_text).body)
        if b == "text":
            return self._reply(200, st.text.encode())
        if b == "empty":
            return self._reply(200, b"")
        if b == "doctype":
            return self._reply(200, b'<?xml version="1.0"?>\n<!DOCTYPE results [<!ENTITY a "aaaaaaaaaa">]>\n<results>&a;</results>\n')
        if b == "old" and ("next_cursor" in params or "prev_cursor" in params):
            key = "next_cursor" if "next_cursor" in params else "prev_cursor"
            return self._reply(200, error_body("Unsupported parameter: " + key).body)
        return None


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that gave up (a timeout test) is not news."""


class GocdbServer:
    """start() it; ``url`` is the public PI base, ``private_url`` the private one; ``state`` switches behaviours
    and records requests; ``dataset`` is what it serves (default_dataset() around the time it was made)."""

    def __init__(self, ca: TestCA, tls: bool = True, dataset: Dataset | None = None, page_size: int = 100):
        self.ca = ca
        self.tls = tls
        self.now = int(time.time())
        self.dataset = dataset or default_dataset(self.now)
        self.state = GocdbState(page_size=page_size)
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.gocdb = self
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(ca.server_cert), str(ca.server_key))
            ctx.load_verify_locations(cafile=str(ca.ca_file))
            ctx.verify_mode = ssl.CERT_OPTIONAL
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = None

    @property
    def base(self) -> str:
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    @property
    def url(self) -> str:
        return self.base + "/gocdbpi/public/"

    @property
    def private_url(self) -> str:
        return self.base + "/gocdbpi/private/"

    @property
    def requests(self) -> list:
        return self.state.requests

    def start(self) -> "GocdbServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread = None
        self.httpd.server_close()

    # -- the PI -------------------------------------------------------------------------------------------------

    @staticmethod
    def _validate(params, supported):
        for key in params:
            if key not in supported:
                raise error_body("Unsupported parameter: " + key)
        for value in params.values():
            if re.search("[\"'`]", value):
                raise error_body("Unsuported chracter in value: " + value)
        if "next_cursor" in params and "prev_cursor" in params:
            raise error_body("It is invalid to specify both 'next_cursor' and 'prev_cursor' parameters in the same query")
        for key in ("next_cursor", "prev_cursor"):
            if key in params and not re.fullmatch(r"\d+", params[key]):
                raise error_body("Invalid '%s' parameter - must be a whole number greater than or equal to zero" % key)

    def answer(self, method, params, dn, path, loop=False) -> bytes:
        ds = self.dataset
        if method in ("get_service_endpoint", "get_service"):
            self._validate(params, SERVICE_PARAMS)
            rows = [s for s in ds.services if self._service_ok(s, params)]
            return self._paged(rows, params, path, method, lambda root, s: render_service(root, ds, s), loop)
        if method == "get_site_list":
            self._validate(params, SITE_PARAMS)
            rows = [s for s in ds.sites if self._site_ok(s, params)]
            if "next_cursor" in params or "prev_cursor" in params:
                rows = self._page(rows, params)        # GOCDB cuts the list at the page size, without a <meta>
            root = ET.Element("results")
            for site in rows:
                render_site_short(root, site)
            return to_xml(root)
        if method == "get_site":
            if dn is None:
                raise Refused(NO_IDENTIFIER.encode())
            self._validate(params, SITE_PARAMS)
            rows = [s for s in ds.sites if self._site_ok(s, params)]
            return self._paged(rows, params, path, method, render_site, loop)
        if method in ("get_downtime", "get_downtime_nested_services"):
            self._validate(params, DOWNTIME_PARAMS)
            rows = []
            for dt in ds.downtimes:
                services = self._downtime_services(dt, params)
                if services is not None:
                    rows.append((dt, services))
            render = render_downtime_nested if method == "get_downtime_nested_services" else render_downtime_flat
            return self._paged(rows, params, path, method, lambda root, row: render(root, ds, row[0], row[1]), loop,
                               ident=lambda row: row[0].id)
        raise Refused(("Unable to find method: %s" % (method or "")).encode())

    def _service_ok(self, svc: Service, p) -> bool:
        site = self.dataset.site(svc.site)
        if site.certification_status == "Closed":
            return False
        for key, value in (("hostname", svc.hostname), ("sitename", site.name), ("roc", site.ngi),
                           ("country", site.country), ("service_type", svc.service_type)):
            if key in p and not like(value, p[key]):
                return False
        if p.get("monitored", "").upper() in ("Y", "N") and svc.monitored != (p["monitored"].upper() == "Y"):
            return False
        return scope_ok(svc.scopes, p, self.dataset.default_scope)

    def _site_ok(self, site: Site, p) -> bool:
        for key, value in (("sitename", site.name), ("roc", site.ngi), ("country", site.country),
                           ("certification_status", site.certification_status),
                           ("production_status", site.infrastructure)):
            if key in p and not like(value, p[key]):
                return False
        if "exclude_certification_status" in p and like(site.certification_status, p["exclude_certification_status"]):
            return False
        return scope_ok(site.scopes, p, self.dataset.default_scope)

    def _downtime_services(self, dt: Downtime, p):
        """The downtime's services that pass the service-level filters (GOCDB fetch-joins them under the same
        conditions), or None when the downtime is not selected."""
        now = int(time.time())
        if "ongoing_only" in p:
            if p["ongoing_only"] not in ("yes", "no"):
                raise error_body("Invalid ongoing_only value - must be 'yes' or 'no'")
            if p["ongoing_only"] == "yes" and ("startdate" in p or "enddate" in p):
                raise error_body("Invalid parameter combination - do not specify startdate or enddate with ongoing_only")
            if not dt.start < now < dt.end:          # GOCDB adds the condition for 'no' as well
                return None
        if "startdate" in p and not dt.start > day(p["startdate"]):
            return None
        if "enddate" in p and not dt.end < day(p["enddate"]):
            return None
        if "windowstart" in p and not dt.end > day(p["windowstart"]):
            return None
        if "windowend" in p and not dt.start < day(p["windowend"]) + 86400:
            return None
        if "severity" in p and dt.severity != p["severity"]:
            return None
        if "classification" in p and dt.classification != p["classification"]:
            return None
        if "id" in p and str(dt.id) != p["id"]:
            return None
        services = []
        for sid in dt.services:
            svc = self.dataset.service(sid)
            site = self.dataset.site(svc.site)
            if "sitelist" in p and site.name not in p["sitelist"].split(","):
                continue
            if "service_type_list" in p and svc.service_type not in p["service_type_list"].split(","):
                continue
            if "ngilist" in p and site.ngi not in p["ngilist"].split(","):
                continue
            if "topentity" in p and not any(like(v, p["topentity"])
                                            for v in (svc.hostname, site.name, site.ngi, site.country)):
                continue
            if not scope_ok(svc.scopes, p, self.dataset.default_scope):
                continue
            services.append(svc)
        return services or None

    def _page(self, rows, p, ident=lambda r: r.id):
        rows = sorted(rows, key=ident)
        if "next_cursor" in p:
            cursor = int(p["next_cursor"])
            return [r for r in rows if ident(r) > cursor][: self.state.page_size]
        cursor = int(p["prev_cursor"])
        return [r for r in rows if ident(r) < cursor][-self.state.page_size:]

    def _paged(self, rows, p, path, method, render, loop, ident=lambda r: r.id) -> bytes:
        root = ET.Element("results")
        paging = "next_cursor" in p or "prev_cursor" in p
        if paging:
            first_next = None
            ordered = sorted(rows, key=ident)
            if len(ordered) >= self.state.page_size:
                first_next = ident(ordered[self.state.page_size - 1])
            rows = self._page(rows, p, ident)
            meta = ET.SubElement(root, "meta")

            def link(rel, **cursor):
                query = {"method": method, **{k: v for k, v in p.items() if k not in ("next_cursor", "prev_cursor")},
                         **cursor}
                ET.SubElement(meta, "link", rel=rel, href=path + "?" + urllib.parse.urlencode(query))

            link("self", **{k: p[k] for k in ("next_cursor", "prev_cursor") if k in p})
            if rows:
                nxt = first_next if loop and first_next is not None else ident(rows[-1])
                link("next", next_cursor=nxt)
                link("prev", prev_cursor=ident(rows[0]))
            link("start", next_cursor=0)
            _add(meta, "count", len(rows), always=True)
            _add(meta, "max_page_size", self.state.page_size, always=True)
        else:
            rows = sorted(rows, key=ident)
        for row in rows:
            render(root, row)
        return to_xml(root)
