# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The GOCDB programmatic interface (PI), read over the one HTTP client (_clients/http.py):
#
#   Gocdb(client, url)                   url: the PI base, https://goc.egi.eu/gocdbpi/public/ (or .../private/, where
#                                        GOCDB asks for an X.509 client certificate)
#     .service_endpoints(...)            get_service_endpoint, one dictionary per service endpoint
#     .sites(...)                        get_site_list (public, short), or get_site (detailed=True: needs
#                                        identification, so the private URL with a certificate or a proxy)
#     .downtimes(...)                    get_downtime_nested_services, one dictionary per downtime with its services
#   hosts_from_endpoints(endpoints)      the endpoints grouped by host name (the inventory plugin's hosts)
#   gocdb_info(params, check_mode)       the gocdb_info module's job
#
# How GOCDB answers, and what is done about it:
#   - Every answer is HTTP 200 with Content-Type application/xml, errors included: a bad parameter is a body
#     '<error>...</error>', other failures (unknown method, no identification for get_site) are a plain-text
#     message. Each of these, an HTML page (a login portal, a proxy), malformed XML, a document type declaration
#     (GOCDB never sends one; it is refused, never parsed) and a root other than <results> ends in one VaporError
#     naming the URL (without credentials) and the cause.
#   - XML is parsed by lxml when it is importable (resolve_entities=False, no_network=True, huge_tree=False), else
#     by the standard library's parser; in both cases only after the document type check above, and always as
#     UTF-8 (what GOCDB writes): an answer with NUL bytes (UTF-16, UTF-32) is refused unparsed, and an XML
#     declaration naming another encoding (UTF-7...) does not change how it is read, so no declaration can hide
#     from the check. An <error> element among the records of a <results> answer is GOCDB's error too.
#   - Host names: a trailing dot is removed (ce.example.org. is ce.example.org); hosts_from_endpoints() keeps only
#     names that are DNS names (letters, digits, '-', '_', dots; no label starting with '-'), because the inventory
#     plugin makes hosts of them and a name such as '-oProxyCommand=...' or '../x' would reach ssh or a path.
#   - Paging is cursor based and off unless a cursor is given. get_service_endpoint, get_site and
#     get_downtime_nested_services are always asked with next_cursor=0, then with the next_cursor of each page's
#     <link rel="next">, until a page has no next link, no records, or fewer records than its max_page_size. The
#     link's host is never contacted: only its next_cursor is taken, with this query's own URL. A next cursor seen
#     before is a paging loop, and more than max_pages pages are refused too (both a VaporError). A server that
#     answers '<error>Unsupported parameter: next_cursor</error>' (a GOCDB older than cursor paging) is asked again
#     without paging. get_site_list is never paged (GOCDB would cut it at the page size without saying so).
#   - GOCDB matches sitename, hostname and service_type with SQL LIKE ('_' and '%' are wildcards) and takes one
#     value each. So several sites, types or hosts are asked one query each, and every filter is applied again
#     here, exactly (ignoring case; GOCDB's own matching may depend on case, so names are best written as GOCDB
#     writes them). Filters GOCDB does not have are applied here only: the production status of endpoints, and the
#     host names of a downtime's services (GOCDB's topentity also matches sites, NGIs and countries).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
import time
import xml.etree.ElementTree as _std_etree
from urllib.parse import parse_qs, urlencode, urlsplit

try:
    from lxml import etree as _lxml_etree
    HAS_LXML = True
except ImportError:  # the standard library's parser is used without it
    _lxml_etree = None
    HAS_LXML = False

from ansible_collections.vapor.ops.plugins.module_utils._clients.http import HttpClient, http_settings, safe_url
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._infosys.options import GOCDB_INFO

MAX_PAGES = 1000                 # pages of one query: GOCDB's page is 100 to 500 records
ERROR_TEXT_LIMIT = 300           # characters of a GOCDB error text kept in a message

_DOCTYPE_RE = re.compile(br'<!DOCTYPE\s+([^\s>\[]+)', re.I)
_HTML_RE = re.compile(br'<(?:!DOCTYPE\s+html|html)[\s>]', re.I)
_DAY_RE = re.compile(r'^\d{4}-\d{2}-\d{2}$')
_CURSOR_RE = re.compile(r'^\d+$')
_YES = ('Y', 'YES', 'TRUE', '1')
_NO = ('N', 'NO', 'FALSE', '0')


class GocdbRefused(VaporError):
    """GOCDB's own error answer (an <error> body or a plain-text message); ``detail`` is its text."""

    def __init__(self, msg, detail=None, url=None):
        super(GocdbRefused, self).__init__(msg)
        self.detail = detail or ''
        self.url = url


# ----- reading one answer ---------------------------------------------------------------------------------------

def _one_line(text, limit=ERROR_TEXT_LIMIT):
    """A server's text as part of one sentence: one line, its inner sentences joined by semicolons, no final full
    stop, at most ``limit`` characters."""
    text = ' '.join(re.sub('[\x00-\x1f\x7f-\x9f]', ' ', str(text)).split()).rstrip('.').strip()
    text = re.sub(r'\.\s+(?=[A-Z])', '; ', text)
    if len(text) > limit:
        text = text[:limit].rstrip() + ' [...]'
    return text


def _local(tag):
    """The local name of an element's tag ('{ns}html' -> 'html'); '' for comments and processing instructions."""
    if not isinstance(tag, str):
        return ''
    return tag.rsplit('}', 1)[-1]


def _parse_xml(data):
    """The root element of ``data`` (bytes); ValueError with the parser's message when it is not well-formed."""
    if HAS_LXML:
        parser = _lxml_etree.XMLParser(encoding='utf-8', resolve_entities=False, no_network=True, huge_tree=False,
                                       load_dtd=False, remove_comments=True, remove_pis=True)
        try:
            return _lxml_etree.fromstring(data, parser)
        except _lxml_etree.XMLSyntaxError as exc:
            raise ValueError(str(exc))
    try:
        return _std_etree.fromstring(data, parser=_std_etree.XMLParser(encoding='utf-8'))
    except _std_etree.ParseError as exc:
        raise ValueError(str(exc))


def parse_answer(body, url, content_type=None):
    """The <results> root element of a GOCDB answer.

    ``body``: the answer's bytes (or text); ``url``: the request, named in messages (without credentials);
    ``content_type``: the answer's Content-Type header, if known. Raises GocdbRefused for GOCDB's own error
    answers and VaporError for anything else that is not a <results> document.
    """
    shown = safe_url(url)
    data = body.encode('utf-8') if isinstance(body, str) else bytes(body or b'')
    head = data.lstrip(b'\xef\xbb\xbf \t\r\n')
    if not head:
        raise VaporError("GOCDB at %s answered with an empty body." % shown)
    html = ("GOCDB at %s answered with an HTML page, not the XML of the programmatic interface; check that the URL "
            "is the interface's base, such as https://goc.egi.eu/gocdbpi/public/." % shown)
    if b'\x00' in head:
        raise VaporError("GOCDB at %s answered with NUL bytes (UTF-16 or UTF-32 text, or binary data), not the UTF-8 "
                         "XML of the programmatic interface; the answer was not parsed." % shown)
    if not head.startswith(b'<'):
        detail = _one_line(head[:4 * ERROR_TEXT_LIMIT].decode('utf-8', 'replace'))
        raise GocdbRefused("GOCDB at %s answered with an error instead of XML: %s." % (shown, detail), detail, shown)
    doctype = _DOCTYPE_RE.search(head)      # anywhere: markup in GOCDB's text values is always escaped
    if doctype:
        if doctype.group(1).lower() == b'html':
            raise VaporError(html)
        raise VaporError("GOCDB at %s answered with a document type declaration, which the programmatic interface "
                         "never sends; the answer was not parsed." % shown)
    ctype = (content_type or '').split(';')[0].strip().lower()
    if ctype in ('text/html', 'application/xhtml+xml'):
        raise VaporError(html)
    try:
        root = _parse_xml(head)
    except ValueError as exc:
        if _HTML_RE.search(head[:4096]):
            raise VaporError(html)
        raise VaporError("GOCDB at %s answered with malformed XML (%s)." % (shown, _one_line(exc)))
    name = _local(root.tag)
    if name == 'error':
        detail = _one_line(''.join(root.itertext())) or 'no reason given'
        raise GocdbRefused("GOCDB at %s refused the query: %s." % (shown, detail), detail, shown)
    if name == 'html':
        raise VaporError(html)
    if name != 'results':
        raise VaporError("GOCDB at %s answered with XML whose root element is <%s>, not <results>." % (shown, name))
    return root


class Page(object):
    """One answer's records (elements) and paging: ``paged`` (it had a <meta>), ``next_cursor`` (int or None),
    ``count`` and ``max_page_size`` (int or None)."""

    def __init__(self, records, paged=False, next_cursor=None, count=None, max_page_size=None):
        self.records = records
        self.paged = paged
        self.next_cursor = next_cursor
        self.count = count
        self.max_page_size = max_page_size

    @property
    def last(self):
        """Whether no page follows this one."""
        if not self.paged or not self.records or self.next_cursor is None:
            return True
        return self.count is not None and self.max_page_size is not None and self.count < self.max_page_size


def read_page(root, url):
    """The Page of a <results> root: its records (every child element but <meta>) and its paging links."""
    records = [child for child in root if _local(child.tag) not in ('', 'meta')]
    for child in records:
        if _local(child.tag) == 'error':   # GOCDB's error in the middle of an answer: the records are not all there
            detail = _one_line(''.join(child.itertext())) or 'no reason given'
            raise GocdbRefused("GOCDB at %s refused the query: %s." % (safe_url(url), detail), detail, safe_url(url))
    meta = None
    for child in root:
        if _local(child.tag) == 'meta':
            meta = child
            break
    if meta is None:
        return Page(records)
    next_cursor = None
    for link in meta:
        if _local(link.tag) == 'link' and (link.get('rel') or '').strip().lower() == 'next':
            href = link.get('href') or ''
            values = parse_qs(urlsplit(href).query).get('next_cursor') or []
            if len(values) != 1 or not _CURSOR_RE.match(values[0].strip()):
                raise VaporError("GOCDB at %s sent a next-page link without a valid next_cursor (%s)."
                                 % (safe_url(url), _one_line(href, 120) or 'empty'))
            next_cursor = int(values[0])
    return Page(records, True, next_cursor, _int(_text(meta, 'count')), _int(_text(meta, 'max_page_size')))


# ----- values of the records -----------------------------------------------------------------------------------

def _text(elem, path, empty=None):
    """The stripped text of the first ``path`` under ``elem``; ``empty`` when it is missing or blank."""
    found = elem.find(path) if elem is not None else None
    if found is None or found.text is None:
        return empty
    text = found.text.strip()
    return text if text else empty


def _host(text):
    """A host name as GOCDB gives it, without the trailing dot of a fully qualified name; None stays None."""
    if text is None:
        return None
    return text.rstrip('.') or None


_HOSTNAME_RE = re.compile(r'\A(?=.{1,253}\Z)[a-z0-9_][a-z0-9_-]{0,62}(?:\.[a-z0-9_][a-z0-9_-]{0,62})*\Z')


def valid_hostname(name):
    """Whether ``name`` (lower case) is a DNS name an inventory may hold: labels of letters, digits, '-' and '_',
    none starting with '-', joined by dots."""
    return bool(name) and bool(_HOSTNAME_RE.match(name))


def _int(text):
    if text is None:
        return None
    text = str(text).strip()
    if re.match(r'^-?\d+$', text):
        return int(text)
    return None


def _flag(text):
    """GOCDB's Y/N as True/False; None when missing or unknown."""
    if text is None:
        return None
    value = text.strip().upper()
    if value in _YES:
        return True
    if value in _NO:
        return False
    return None


def _extensions(elem):
    """{KEY: VALUE} of an <EXTENSIONS> element (None gives {})."""
    found = {}
    if elem is None:
        return found
    for ext in elem.findall('EXTENSION'):
        key = _text(ext, 'KEY')
        if key:
            found[key] = _text(ext, 'VALUE', '')
    return found


def _scopes(elem):
    return [s.text.strip() for s in elem.findall('SCOPES/SCOPE') if s.text and s.text.strip()]


def iso_utc(epoch):
    """Seconds since the epoch as ISO 8601 UTC ('2023-11-14T22:13:20Z'); None stays None."""
    if epoch is None:
        return None
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def _formatted_epoch(text):
    """GOCDB's FORMATED_*_DATE ('Y-m-d H:i', UTC) as seconds since the epoch, or None."""
    if not text:
        return None
    try:
        return calendar.timegm(time.strptime(text.strip(), '%Y-%m-%d %H:%M'))
    except ValueError:
        return None


def _endpoint(ep, extensions=False):
    """An <ENDPOINT> of a service (with its extension properties) or of a downtime's affected endpoints."""
    record = dict(id=_text(ep, 'ID'), name=_text(ep, 'NAME'), url=_text(ep, 'URL'),
                  interface=_text(ep, 'INTERFACENAME'), monitored=_flag(_text(ep, 'ENDPOINT_MONITORED')))
    if extensions:
        record['extensions'] = _extensions(ep.find('EXTENSIONS'))
    return record


def parse_service_endpoint(elem):
    """A <SERVICE_ENDPOINT> (or <SERVICE>) record of get_service_endpoint as a dictionary."""
    endpoints = [_endpoint(ep, extensions=True) for ep in elem.findall('ENDPOINTS/ENDPOINT')]
    return dict(
        primary_key=_text(elem, 'PRIMARY_KEY') or (elem.get('PRIMARY_KEY') or '').strip() or None,
        hostname=_host(_text(elem, 'HOSTNAME')),
        service_type=_text(elem, 'SERVICE_TYPE'),
        site=_text(elem, 'SITENAME'),
        ngi=_text(elem, 'ROC_NAME'),
        country=_text(elem, 'COUNTRY_NAME'),
        country_code=_text(elem, 'COUNTRY_CODE'),
        in_production=_flag(_text(elem, 'IN_PRODUCTION')) is True,
        monitored=_flag(_text(elem, 'NODE_MONITORED')) is True,
        beta=_flag(_text(elem, 'BETA')) is True,
        notifications=_flag(_text(elem, 'NOTIFICATIONS')),
        scopes=_scopes(elem),
        url=_text(elem, 'URL'),
        host_dn=_text(elem, 'HOSTDN'),
        host_ip=_text(elem, 'HOST_IP'),
        host_ipv6=_text(elem, 'HOST_IPV6'),
        host_os=_text(elem, 'HOST_OS'),
        host_arch=_text(elem, 'HOST_ARCH'),
        portal_url=_text(elem, 'GOCDB_PORTAL_URL'),
        endpoints=endpoints,
        extensions=_extensions(elem.find('EXTENSIONS')),
    )


def parse_site_short(elem):
    """A <SITE> record of get_site_list (its values are attributes) as a dictionary."""
    def attr(name):
        value = (elem.get(name) or '').strip()
        return value or None
    return dict(
        name=attr('NAME'),
        primary_key=attr('PRIMARY_KEY'),
        id=attr('ID'),
        country=attr('COUNTRY'),
        country_code=attr('COUNTRY_CODE'),
        ngi=attr('ROC'),
        subgrid=attr('SUBGRID'),
        giis_url=attr('GIIS_URL'),
    )


def parse_site(elem):
    """A <SITE> record of get_site (the detailed rendering) as a dictionary."""
    site = dict(
        name=_text(elem, 'SHORT_NAME') or (elem.get('NAME') or '').strip() or None,
        primary_key=_text(elem, 'PRIMARY_KEY') or (elem.get('PRIMARY_KEY') or '').strip() or None,
        id=(elem.get('ID') or '').strip() or None,
        country=_text(elem, 'COUNTRY'),
        country_code=_text(elem, 'COUNTRY_CODE'),
        ngi=_text(elem, 'ROC'),
        subgrid=_text(elem, 'SUBGRID'),
        giis_url=_text(elem, 'GIIS_URL'),
        official_name=_text(elem, 'OFFICIAL_NAME'),
        description=_text(elem, 'SITE_DESCRIPTION'),
        portal_url=_text(elem, 'GOCDB_PORTAL_URL'),
        home_url=_text(elem, 'HOME_URL'),
        contact_email=_text(elem, 'CONTACT_EMAIL'),
        contact_tel=_text(elem, 'CONTACT_TEL'),
        alarm_email=_text(elem, 'ALARM_EMAIL'),
        csirt_email=_text(elem, 'CSIRT_EMAIL'),
        tier=_text(elem, 'TIER'),
        infrastructure=_text(elem, 'PRODUCTION_INFRASTRUCTURE'),
        certification_status=_text(elem, 'CERTIFICATION_STATUS'),
        timezone=_text(elem, 'TIMEZONE'),
        latitude=_text(elem, 'LATITUDE'),
        longitude=_text(elem, 'LONGITUDE'),
        domain=_text(elem, 'DOMAIN/DOMAIN_NAME') or _text(elem, 'DOMAIN'),
        site_ip=_text(elem, 'SITE_IP'),
        site_ipv6=_text(elem, 'SITE_IPV6'),
        scopes=_scopes(elem),
        extensions=_extensions(elem.find('EXTENSIONS')),
    )
    return site


def parse_downtime(elem, url, now):
    """A <DOWNTIME> record of get_downtime_nested_services as a dictionary (``now``: seconds since the epoch, for
    its state); a downtime without a start or an end is a VaporError naming ``url``."""
    ident = (elem.get('ID') or '').strip() or None
    start = _int(_text(elem, 'START_DATE'))
    if start is None:
        start = _formatted_epoch(_text(elem, 'FORMATED_START_DATE'))
    end = _int(_text(elem, 'END_DATE'))
    if end is None:
        end = _formatted_epoch(_text(elem, 'FORMATED_END_DATE'))
    if start is None or end is None:
        raise VaporError("GOCDB at %s sent the downtime %s without a valid start and end date."
                         % (safe_url(url), ident or '(without an ID)'))
    services = []
    for svc in elem.findall('SERVICES/SERVICE'):
        affected = [_endpoint(ep) for ep in svc.findall('AFFECTED_ENDPOINTS/ENDPOINT')]
        services.append(dict(
            primary_key=_text(svc, 'PRIMARY_KEY'),
            hostname=_host(_text(svc, 'HOSTNAME')),
            service_type=_text(svc, 'SERVICE_TYPE'),
            site=_text(svc, 'HOSTED_BY'),
            affected_endpoints=affected,
        ))
    if start <= now < end:
        state = 'ongoing'
    elif now < start:
        state = 'upcoming'
    else:
        state = 'ended'
    downtime = dict(
        id=_int(ident) if _int(ident) is not None else ident,
        primary_key=(elem.get('PRIMARY_KEY') or '').strip() or None,
        classification=(elem.get('CLASSIFICATION') or '').strip() or None,
        severity=_text(elem, 'SEVERITY'),
        description=_text(elem, 'DESCRIPTION'),
        insert_date=_int(_text(elem, 'INSERT_DATE')),
        start=start,
        end=end,
        start_iso=iso_utc(start),
        end_iso=iso_utc(end),
        state=state,
        ongoing=state == 'ongoing',
        portal_url=_text(elem, 'GOCDB_PORTAL_URL'),
        services=services,
    )
    _summarise_downtime(downtime)
    return downtime


def _service_key(service):
    return service['primary_key'] or (service['hostname'], service['service_type'])


def _summarise_downtime(downtime):
    downtime['sites'] = sorted(set(s['site'] for s in downtime['services'] if s['site']))
    downtime['hostnames'] = sorted(set(s['hostname'] for s in downtime['services'] if s['hostname']))


# ----- filters ---------------------------------------------------------------------------------------------------

def _names(values):
    """A list option's values, stripped, without blanks and duplicates, in order."""
    seen, out = set(), []
    for value in values or []:
        text = str(value).strip()
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out


def _matches(value, wanted):
    """Whether ``value`` is one of ``wanted`` (ignoring case); an empty ``wanted`` takes everything."""
    if not wanted:
        return True
    return value is not None and value.lower() in set(w.lower() for w in wanted)


def _scope_matches(scopes, wanted, match):
    """Whether a record's scopes satisfy ``wanted`` (any of them, or all with match='all'), ignoring case."""
    if not wanted:
        return True
    have = set(s.lower() for s in scopes or [])
    want = set(w.lower() for w in wanted)
    if (match or 'any') == 'all':
        return want <= have
    return bool(want & have)


def _scope_params(scope, scope_match):
    """GOCDB's scope parameters: none (GOCDB's default scope), scope= (empty: every scope), or scope=A,B."""
    params = {}
    if scope is not None:
        params['scope'] = ','.join(_names(scope))
    if scope_match:
        if scope_match not in ('any', 'all'):
            raise VaporError("The scope_match '%s' is neither 'any' nor 'all'." % scope_match)
        params['scope_match'] = scope_match
    return params


def parse_day(value, what, now):
    """(YYYY-MM-DD, seconds since the epoch of its midnight UTC) of a date option, None when not set.

    ``value``: 'YYYY-MM-DD' or 'today' (the UTC date of ``now``); ``what``: the option, for the message.
    """
    if value is None or str(value).strip() == '':
        return None
    text = str(value).strip()
    if text.lower() == 'today':
        text = time.strftime('%Y-%m-%d', time.gmtime(now))
    if not _DAY_RE.match(text):
        raise VaporError("The %s '%s' is not a date written YYYY-MM-DD or 'today'." % (what, value))
    try:
        return text, calendar.timegm(time.strptime(text, '%Y-%m-%d'))
    except ValueError:
        raise VaporError("The %s '%s' is not a valid date." % (what, value))


# ----- the interface ---------------------------------------------------------------------------------------------

class Gocdb(object):
    """The GOCDB programmatic interface at ``url`` (its base, such as https://goc.egi.eu/gocdbpi/public/) through
    ``client`` (an HttpClient). ``requests`` counts the requests sent; ``clock`` gives the time for downtime states.
    """

    def __init__(self, client, url, max_pages=MAX_PAGES, clock=time.time):
        text = (url or '').strip()
        parts = urlsplit(text)
        if parts.scheme not in ('http', 'https') or not parts.netloc:
            raise VaporError("The GOCDB URL '%s' is not an http or https URL." % safe_url(url))
        self.client = client
        self.url = text
        self.max_pages = max_pages
        self.clock = clock
        self.requests = 0

    # ----- requests ---------------------------------------------------------------------------------------------
    def request_url(self, method, params):
        """The URL of one query: the base, then method= and the parameters in a stable order."""
        query = [('method', method)] + sorted((k, str(v)) for k, v in params.items() if v is not None)
        return self.url + ('&' if '?' in self.url else '?') + urlencode(query)

    def _get(self, url):
        self.requests += 1
        response = self.client.get(url)
        return parse_answer(response.content, url, response.headers.get('Content-Type'))

    def query(self, method, params, paged=True):
        """The record elements of a query, every page of it (see the paging notes at the top of this file)."""
        if not paged:
            url = self.request_url(method, params)
            return read_page(self._get(url), url).records
        records = []
        cursor = 0
        seen = set([cursor])
        for number in range(self.max_pages):
            url = self.request_url(method, dict(params, next_cursor=cursor))
            try:
                root = self._get(url)
            except GocdbRefused as exc:
                if number == 0 and 'next_cursor' in exc.detail and 'nsupported' in exc.detail:
                    return self.query(method, params, paged=False)
                raise
            page = read_page(root, url)
            records.extend(page.records)
            if page.last:
                return records
            if page.next_cursor in seen:
                raise VaporError("GOCDB at %s sent a paging loop: the next page goes back to next_cursor=%d, which "
                                 "was already read." % (safe_url(url), page.next_cursor))
            seen.add(page.next_cursor)
            cursor = page.next_cursor
        raise VaporError("GOCDB at %s sent more than %d pages for %s; the paging was stopped as a probable loop."
                         % (safe_url(self.url), self.max_pages, method))

    # ----- service endpoints ------------------------------------------------------------------------------------
    def service_endpoints(self, sites=None, service_types=None, hostnames=None, scope=None, scope_match=None,
                          production=None, monitored=None):
        """The service endpoints (get_service_endpoint) that pass every filter, sorted by host name and type.

        ``sites``, ``service_types``, ``hostnames``: lists (empty: any), matched exactly but ignoring case;
        GOCDB is asked one query per host name, else per site, else per service type. ``scope``: a list (None:
        GOCDB's default scope; []: every scope), ``scope_match``: 'any' or 'all', applied by GOCDB and here.
        ``production``, ``monitored``: True (only those that are), False (only those that are not) or None (any);
        GOCDB applies monitored itself, production is applied here. Each endpoint is a dictionary (see
        parse_service_endpoint): hostname, service_type, site, ngi, country, in_production, monitored, beta,
        scopes, url, host_dn, primary_key, portal_url, endpoints [{name, url, interface, monitored, extensions}],
        extensions {key: value}.
        """
        sites, service_types, hostnames = _names(sites), _names(service_types), _names(hostnames)
        base = _scope_params(scope, scope_match)
        if monitored is not None:
            base['monitored'] = 'Y' if monitored else 'N'
        if len(sites) == 1:
            base['sitename'] = sites[0]
        if len(service_types) == 1:
            base['service_type'] = service_types[0]
        if hostnames:
            queries = [dict(base, hostname=h) for h in hostnames]
        elif len(sites) > 1:
            queries = [dict(base, sitename=s) for s in sites]
        elif len(service_types) > 1:
            queries = [dict(base, service_type=t) for t in service_types]
        else:
            queries = [base]
        wanted_scope = _names(scope) if scope else []
        found = {}
        for params in queries:
            for elem in self.query('get_service_endpoint', params):
                ep = parse_service_endpoint(elem)
                if not (_matches(ep['site'], sites) and _matches(ep['service_type'], service_types)
                        and _matches(ep['hostname'], hostnames)):
                    continue
                if production is not None and ep['in_production'] != bool(production):
                    continue
                if monitored is not None and ep['monitored'] != bool(monitored):
                    continue
                if not _scope_matches(ep['scopes'], wanted_scope, scope_match):
                    continue
                key = ep['primary_key'] or (ep['hostname'], ep['service_type'], ep['url'])
                found.setdefault(key, ep)
        return sorted(found.values(), key=lambda e: ((e['hostname'] or '').lower(), (e['service_type'] or '').lower(),
                                                     e['primary_key'] or ''))

    # ----- sites -------------------------------------------------------------------------------------------------
    def sites(self, sites=None, scope=None, scope_match=None, detailed=False):
        """The sites, sorted by name; ``sites``: names (empty: every site), one query each, matched exactly.

        Without ``detailed``: get_site_list, public, one short record per site (name, primary_key, id, country,
        country_code, ngi, subgrid, giis_url). With ``detailed``: get_site, which GOCDB answers only to an
        identified client (the private URL with an X.509 certificate or proxy, or a registered API credential),
        with contacts, certification status, tier, scopes and extensions as well (see parse_site). ``scope``,
        ``scope_match`` as for service_endpoints (site scopes); applied here too for the detailed records.
        """
        names = _names(sites)
        base = _scope_params(scope, scope_match)
        queries = [dict(base, sitename=n) for n in names] or [base]
        wanted_scope = _names(scope) if scope else []
        found = {}
        for params in queries:
            if detailed:
                records = [parse_site(e) for e in self.query('get_site', params)]
            else:
                records = [parse_site_short(e) for e in self.query('get_site_list', params, paged=False)]
            for site in records:
                if not _matches(site['name'], names):
                    continue
                if detailed and not _scope_matches(site['scopes'], wanted_scope, scope_match):
                    continue
                found.setdefault(site['primary_key'] or site['name'], site)
        return sorted(found.values(), key=lambda s: ((s['name'] or '').lower(), s['primary_key'] or ''))

    # ----- downtimes ---------------------------------------------------------------------------------------------
    def downtimes(self, sites=None, service_types=None, hostnames=None, topentity=None, scope=None, scope_match=None,
                  ongoing_only=False, window_start=None, window_end=None):
        """The downtimes (get_downtime_nested_services), one dictionary per downtime with its services, sorted by
        start.

        ``sites`` and ``service_types`` are sent as GOCDB's sitelist and service_type_list; ``hostnames`` one
        query each (topentity), or ``topentity`` as given (a host, site, NGI or country name, SQL LIKE). Only the
        services that pass the site, type and host filters are kept, and a downtime with none of them is dropped.
        ``ongoing_only``: only downtimes going on now (GOCDB's ongoing_only=yes, checked here against the clock).
        Otherwise ``window_start`` / ``window_end`` ('YYYY-MM-DD' or 'today', UTC; None: no bound): downtimes
        that end after the start of the first day and begin before the end of the last day, as GOCDB's
        windowstart / windowend. ``scope`` / ``scope_match``: service scopes, as for service_endpoints.
        Each downtime: id, primary_key, classification (SCHEDULED / UNSCHEDULED), severity (OUTAGE / WARNING),
        description, start / end (seconds since the epoch) and start_iso / end_iso (UTC), state (ongoing,
        upcoming, ended), ongoing, portal_url, services [{hostname, service_type, site, primary_key,
        affected_endpoints}], sites and hostnames (of those services).
        """
        now = self.clock()
        sites, service_types, hostnames = _names(sites), _names(service_types), _names(hostnames)
        base = _scope_params(scope, scope_match)
        if sites:
            base['sitelist'] = ','.join(sites)
        if service_types:
            base['service_type_list'] = ','.join(service_types)
        low = high = None
        if ongoing_only:
            base['ongoing_only'] = 'yes'
        else:
            low = parse_day(window_start, 'window_start', now)
            high = parse_day(window_end, 'window_end', now)
            if low:
                base['windowstart'] = low[0]
            if high:
                base['windowend'] = high[0]
            if low and high and high[1] < low[1]:
                raise VaporError("The downtime window ends (%s) before it starts (%s)." % (high[0], low[0]))
        if hostnames:
            queries = [dict(base, topentity=h) for h in hostnames]
        elif topentity:
            queries = [dict(base, topentity=str(topentity).strip())]
        else:
            queries = [base]
        filtered = bool(sites or service_types or hostnames)
        found = {}
        for params in queries:
            for elem in self.query('get_downtime_nested_services', params):
                downtime = parse_downtime(elem, self.request_url('get_downtime_nested_services', params), now)
                if ongoing_only and not downtime['ongoing']:
                    continue
                if low and not downtime['end'] > low[1]:
                    continue
                if high and not downtime['start'] < high[1] + 86400:
                    continue
                key = downtime['primary_key'] or downtime['id']
                known = found.get(key)
                if known is None:
                    found[key] = downtime
                else:   # the same downtime from another query (one per host name): its other services
                    have = set(_service_key(s) for s in known['services'])
                    known['services'].extend(s for s in downtime['services'] if _service_key(s) not in have)
                    downtime = known
                downtime['services'] = [s for s in downtime['services']
                                        if _matches(s['site'], sites) and _matches(s['service_type'], service_types)
                                        and _matches(s['hostname'], hostnames)]
                _summarise_downtime(downtime)
        kept = [d for d in found.values() if d['services'] or not filtered]
        return sorted(kept, key=lambda d: (d['start'], str(d['id'])))


# ----- what the plugin and the module build on -------------------------------------------------------------------

def hosts_from_endpoints(endpoints, skipped=None):
    """{host name (lower case): host} from service endpoints: one host per host name, whatever its services.

    A host name that is not a DNS name (valid_hostname()) is left out; when ``skipped`` is a list, each such name
    is appended to it once (the inventory plugin warns about them).

    A host: site (of its first service by type), sites, ngi, country, country_code, service_types (sorted),
    in_production and monitored (true when any of its services is), scopes (all of its services'), urls (of its
    services), endpoints (each with its service_type), extensions (all of its services'; where two give one key,
    the first service by type wins), host_dn, services (the endpoint dictionaries themselves).
    """
    hosts = {}
    ordered = sorted(endpoints, key=lambda e: ((e.get('service_type') or '').lower(), e.get('primary_key') or ''))
    for ep in ordered:
        name = (ep.get('hostname') or '').strip().lower().rstrip('.')
        if not name:
            continue
        if not valid_hostname(name):
            if skipped is not None and ep.get('hostname') not in skipped:
                skipped.append(ep.get('hostname'))
            continue
        host = hosts.get(name)
        if host is None:
            host = hosts[name] = dict(site=ep.get('site'), sites=[], ngi=ep.get('ngi'), country=ep.get('country'),
                                      country_code=ep.get('country_code'), service_types=[], in_production=False,
                                      monitored=False, scopes=[], urls=[], endpoints=[], extensions={},
                                      host_dn=ep.get('host_dn'), services=[])
        if ep.get('site') and ep['site'] not in host['sites']:
            host['sites'].append(ep['site'])
        if ep.get('service_type') and ep['service_type'] not in host['service_types']:
            host['service_types'].append(ep['service_type'])
        host['in_production'] = host['in_production'] or bool(ep.get('in_production'))
        host['monitored'] = host['monitored'] or bool(ep.get('monitored'))
        for scope in ep.get('scopes') or []:
            if scope not in host['scopes']:
                host['scopes'].append(scope)
        if ep.get('url') and ep['url'] not in host['urls']:
            host['urls'].append(ep['url'])
        for endpoint in ep.get('endpoints') or []:
            host['endpoints'].append(dict(endpoint, service_type=ep.get('service_type')))
        for key, value in (ep.get('extensions') or {}).items():
            host['extensions'].setdefault(key, value)
        host['host_dn'] = host['host_dn'] or ep.get('host_dn')
        host['services'].append(ep)
    for host in hosts.values():
        host['service_types'].sort(key=lambda t: t.lower())
        host['scopes'].sort(key=lambda s: s.lower())
    return hosts


def endpoint_filters(p):
    """service_endpoints() keyword arguments from the GOCDB_QUERY options ``p``."""
    return dict(sites=p.get('sites'), service_types=p.get('service_types'), hostnames=p.get('hostnames'),
                scope=p.get('scope'), scope_match=p.get('scope_match'),
                production=True if p.get('production_only') else None,
                monitored=True if p.get('monitored_only') else None)


def gocdb_info(params, check_mode=False, client=None, clock=time.time):
    """The gocdb_info job: endpoints, sites and/or downtimes (``what``) for the filters of ``params``.

    Reads only, so check mode changes nothing. ``client``: an HttpClient (default: one made from the HTTP options).
    Returns {changed: False, requests: n, endpoints|sites|downtimes: [...] as asked}.
    """
    p = GOCDB_INFO.merge(params)
    what = _names(p.get('what')) or ['endpoints']
    unknown = [w for w in what if w not in ('endpoints', 'sites', 'downtimes')]
    if unknown:
        raise VaporError("The value(s) %s of what are not endpoints, sites or downtimes." % ', '.join(unknown))
    own = client is None
    if own:
        client = HttpClient(http_settings(p))
    try:
        gocdb = Gocdb(client, p['url'], clock=clock)
        result = dict(changed=False)
        site_names = _names(p.get('sites'))
        # sites 'for a service type or host names' are the sites of the matching endpoints
        by_endpoints = not site_names and bool(_names(p.get('service_types')) or _names(p.get('hostnames')))
        endpoints = None
        if 'endpoints' in what or ('sites' in what and by_endpoints):
            endpoints = gocdb.service_endpoints(**endpoint_filters(p))
        if 'endpoints' in what:
            result['endpoints'] = endpoints
        if 'sites' in what:
            detailed = bool(p.get('site_details'))
            if by_endpoints:
                # the endpoints were selected by scope already (a site's own scopes may differ from its services'),
                # so their sites are asked in every scope
                site_names = _names(ep['site'] for ep in endpoints if ep['site'])
                result['sites'] = gocdb.sites(site_names, scope=[], detailed=detailed) if site_names else []
            else:
                result['sites'] = gocdb.sites(site_names, scope=p.get('scope'), scope_match=p.get('scope_match'),
                                              detailed=detailed)
        if 'downtimes' in what:
            result['downtimes'] = gocdb.downtimes(
                sites=p.get('sites'), service_types=p.get('service_types'), hostnames=p.get('hostnames'),
                scope=p.get('scope'), scope_match=p.get('scope_match'), ongoing_only=bool(p.get('ongoing_only')),
                window_start=p.get('window_start'), window_end=p.get('window_end'))
        result['requests'] = gocdb.requests
        return result
    finally:
        if own:
            client.close()
