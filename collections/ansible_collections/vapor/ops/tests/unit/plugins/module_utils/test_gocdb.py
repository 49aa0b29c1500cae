# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GOCDB core (_infosys/gocdb.py) on XML strings in the documented shapes: reading answers (results, <error>
bodies, plain-text errors, HTML pages, malformed XML, document type declarations) with lxml and with the standard
library's parser; the records; cursor paging (followed to the end, loops, the page cap, a server without cursors)
through a client that hands out canned answers; the filters GOCDB does not apply exactly; hosts from endpoints;
the options the inventory plugin documents against the options table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest
import yaml

from ansible_collections.vapor.ops.plugins.module_utils._clients.http import HTTP_OPTIONS
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._infosys import gocdb
from ansible_collections.vapor.ops.plugins.module_utils._infosys.options import GOCDB_INFO, GOCDB_QUERY

URL = 'https://gocdb.example.org/gocdbpi/public/'
NOW = 1700000000
COLLECTION = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def one_sentence(msg):
    assert msg.endswith('.') and '\n' not in msg, msg
    assert '. ' not in msg.replace('e.g. ', ''), msg


def results(*records, **meta):
    """A <results> document; ``meta``: next (cursor or None), count, max_page_size (a <meta> when given)."""
    head = ''
    if meta:
        links = '<link rel="self" href="/gocdbpi/public/?method=m&amp;next_cursor=0"/>'
        if meta.get('next') is not None:
            links += ('<link rel="next" href="%s/gocdbpi/public/?method=m&amp;scope=&amp;next_cursor=%s"/>'
                      % (meta.get('authority', ''), meta['next']))
        links += '<link rel="start" href="/gocdbpi/public/?method=m&amp;next_cursor=0"/>'
        head = '<meta>%s<count>%d</count><max_page_size>%d</max_page_size></meta>' % (
            links, meta.get('count', len(records)), meta.get('max_page_size', 2))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<results>\n%s%s\n</results>\n' % (head, ''.join(records))).encode()


def endpoint(ident, host, stype, site='SITE-A', prod='Y', mon='Y', scopes=('EGI',), ngi='NGI_A', exts=None):
    scope_xml = ''.join('<SCOPE>%s</SCOPE>' % s for s in scopes)
    ext_xml = ''.join('<EXTENSION><LOCAL_ID>%d</LOCAL_ID><KEY>%s</KEY><VALUE>%s</VALUE></EXTENSION>' % (n, k, v)
                      for n, (k, v) in enumerate(sorted((exts or {}).items())))
    return (
        '<SERVICE_ENDPOINT PRIMARY_KEY="%(i)dG0"><PRIMARY_KEY>%(i)dG0</PRIMARY_KEY><HOSTNAME>%(h)s</HOSTNAME>'
        '<GOCDB_PORTAL_URL>https://goc.example.org/portal/index.php?Page_Type=Service&amp;id=%(i)d</GOCDB_PORTAL_URL>'
        '<HOSTDN>/DC=org/CN=%(h)s</HOSTDN><BETA>N</BETA><SERVICE_TYPE>%(t)s</SERVICE_TYPE><HOST_IP>192.0.2.1</HOST_IP>'
        '<CORE/><IN_PRODUCTION>%(p)s</IN_PRODUCTION><NODE_MONITORED>%(m)s</NODE_MONITORED>'
        '<NOTIFICATIONS>Y</NOTIFICATIONS><SITENAME>%(s)s</SITENAME><COUNTRY_NAME>Aland</COUNTRY_NAME>'
        '<COUNTRY_CODE>AL</COUNTRY_CODE><ROC_NAME>%(n)s</ROC_NAME><URL>https://%(h)s/%(t)s</URL>'
        '<ENDPOINTS><ENDPOINT><ID>%(i)d1</ID><NAME>ep</NAME><EXTENSIONS><EXTENSION><LOCAL_ID>1</LOCAL_ID>'
        '<KEY>k</KEY><VALUE>v &amp; w</VALUE></EXTENSION></EXTENSIONS><URL>https://%(h)s/ep</URL>'
        '<INTERFACENAME>%(t)s</INTERFACENAME><ENDPOINT_MONITORED>N</ENDPOINT_MONITORED></ENDPOINT></ENDPOINTS>'
        '<SCOPES>%(sc)s</SCOPES><EXTENSIONS>%(x)s</EXTENSIONS></SERVICE_ENDPOINT>'
        % dict(i=ident, h=host, t=stype, s=site, p=prod, m=mon, n=ngi, sc=scope_xml, x=ext_xml))


def downtime(ident, start, end, services, severity='OUTAGE', classification='SCHEDULED', dates=True):
    svc_xml = ''.join(
        '<SERVICE><PRIMARY_KEY>%sG0</PRIMARY_KEY><HOSTNAME>%s</HOSTNAME><SERVICE_TYPE>%s</SERVICE_TYPE>'
        '<ENDPOINT>%s%s</ENDPOINT><HOSTED_BY>%s</HOSTED_BY><AFFECTED_ENDPOINTS><ENDPOINT><ID>7</ID><NAME>ep</NAME>'
        '<URL>https://%s/ep</URL><INTERFACENAME>%s</INTERFACENAME><ENDPOINT_MONITORED>Y</ENDPOINT_MONITORED>'
        '</ENDPOINT></AFFECTED_ENDPOINTS></SERVICE>' % (pk, h, t, h, t, site, h, t)
        for pk, h, t, site in services)
    date_xml = ('<INSERT_DATE>%d</INSERT_DATE><START_DATE>%d</START_DATE><END_DATE>%d</END_DATE>' % (start - 60, start, end)
                if dates else '')
    return (
        '<DOWNTIME ID="%d" PRIMARY_KEY="%dG0" CLASSIFICATION="%s"><SEVERITY>%s</SEVERITY>'
        '<DESCRIPTION>Upgrade &amp; reboot</DESCRIPTION>%s<FORMATED_START_DATE>%s</FORMATED_START_DATE>'
        '<FORMATED_END_DATE>%s</FORMATED_END_DATE>'
        '<GOCDB_PORTAL_URL>https://goc.example.org/portal/index.php?Page_Type=Downtime&amp;id=%d</GOCDB_PORTAL_URL>'
        '<SERVICES>%s</SERVICES></DOWNTIME>'
        % (ident, ident, classification, severity, date_xml, time.strftime('%Y-%m-%d %H:%M', time.gmtime(start)),
           time.strftime('%Y-%m-%d %H:%M', time.gmtime(end)), ident, svc_xml))


class Answer(object):
    def __init__(self, body, content_type='application/xml'):
        self.content = body if isinstance(body, bytes) else body.encode()
        self.headers = {'Content-Type': content_type}
        self.status_code = 200


class CannedClient(object):
    """Answers each GET with ``answer(url, params)`` (params: the query as a dict) and records the URLs."""

    def __init__(self, answer):
        self.answer = answer
        self.urls = []

    def get(self, url):
        self.urls.append(url)
        params = dict(gocdb.parse_qs(gocdb.urlsplit(url).query, keep_blank_values=True))
        params = dict((k, v[-1]) for k, v in params.items())
        got = self.answer(url, params)
        return got if isinstance(got, Answer) else Answer(got)

    def close(self):
        pass

    @property
    def params(self):
        out = []
        for url in self.urls:
            query = gocdb.parse_qs(gocdb.urlsplit(url).query, keep_blank_values=True)
            out.append(dict((k, v[-1]) for k, v in query.items()))
        return out


def paged(records, page_size=2, loop=False):
    """An answer function that pages ``records`` (XML strings with ascending ids 1..n) as GOCDB does."""
    def answer(url, params):
        cursor = int(params.get('next_cursor', 0))
        rows = [(i + 1, r) for i, r in enumerate(records) if i + 1 > cursor][:page_size]
        nxt = rows[-1][0] if rows else None
        if loop and nxt is not None and cursor:
            nxt = page_size
        return results(*[r for _i, r in rows], next=nxt, count=len(rows), max_page_size=page_size)
    return answer


# ----- reading one answer ---------------------------------------------------------------------------------------

def test_results_document_is_read(parser):
    root = gocdb.parse_answer(b'\xef\xbb\xbf\n  ' + results(endpoint(1, 'h.example.org', 'SRM')), URL)
    assert gocdb.read_page(root, URL).records[0].find('HOSTNAME').text == 'h.example.org'


def test_error_body_with_http_200_is_one_sentence(parser):
    with pytest.raises(gocdb.GocdbRefused) as exc:
        gocdb.parse_answer(b"<error>Unsupported parameter: sitenam</error>", URL + '?method=get_site_list&sitenam=X')
    assert exc.value.msg == ("GOCDB at %s?method=get_site_list&sitenam=X refused the query: Unsupported parameter: "
                             "sitenam." % URL)
    assert exc.value.detail == 'Unsupported parameter: sitenam'


def test_plain_text_error_keeps_one_sentence(parser):
    with pytest.raises(gocdb.GocdbRefused) as exc:
        gocdb.parse_answer(b"No valid identifier found. Try accessing the resource through the private interface.",
                           URL)
    assert exc.value.msg == ("GOCDB at %s answered with an error instead of XML: No valid identifier found; Try "
                             "accessing the resource through the private interface." % URL)
    one_sentence(exc.value.msg)


@pytest.mark.parametrize('body, ctype', [
    (b'<!DOCTYPE html>\n<html><body><form>Log in</form></body></html>', 'text/html'),
    (b'<!DOCTYPE html>\n<html><body><form>Log in<br></form></body></html>', 'application/xml'),
    (b'<html><head><title>Proxy</title></head><body><p>Blocked<br></body></html>', None),
    (b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', 'application/xml'),
    (results(), 'text/html; charset=UTF-8'),
])
def test_html_page_is_named(parser, body, ctype):
    with pytest.raises(VaporError) as exc:
        gocdb.parse_answer(body, URL, ctype)
    assert exc.value.msg.startswith('GOCDB at %s answered with an HTML page, not the XML' % URL)
    one_sentence(exc.value.msg)


@pytest.mark.parametrize('body', [
    b'<?xml version="1.0"?>\n<results>\n  <SERVICE_ENDPOINT PRIMARY_KEY="1G0">\n    <HOSTNAME>se',
    b'<results><a></b></results>',
    b'<results>&undefined;</results>',
])
def test_malformed_xml_is_named(parser, body):
    with pytest.raises(VaporError) as exc:
        gocdb.parse_answer(body, URL)
    assert exc.value.msg.startswith('GOCDB at %s answered with malformed XML (' % URL)
    one_sentence(exc.value.msg)


def test_document_type_declaration_is_refused_unparsed(parser):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE results [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b'<results>&b;</results>')
    with pytest.raises(VaporError, match=r'answered with a document type declaration, which the programmatic '
                                         r'interface never sends; the answer was not parsed\.$'):
        gocdb.parse_answer(bomb, URL)


@pytest.mark.parametrize('body, words', [
    (b'', 'answered with an empty body.'),
    (b'  \n', 'answered with an empty body.'),
    (b'<?xml version="1.0"?><Entities/>', 'answered with XML whose root element is <Entities>, not <results>.'),
])
def test_other_answers_are_named(parser, body, words):
    with pytest.raises(VaporError) as exc:
        gocdb.parse_answer(body, URL)
    assert exc.value.msg == 'GOCDB at %s %s' % (URL, words)


def test_credentials_never_appear_in_messages():
    with pytest.raises(VaporError) as exc:
        gocdb.parse_answer(b'<error>bad</error>', 'https://user:pw@gocdb.example.org/gocdbpi/?token=s3cr3t')
    assert 'pw@' not in exc.value.msg and 's3cr3t' not in exc.value.msg


def test_long_error_text_is_cut():
    with pytest.raises(gocdb.GocdbRefused) as exc:
        gocdb.parse_answer(b'PHP Fatal error: ' + b'x' * 5000, URL)
    assert exc.value.msg.endswith(' [...].') and len(exc.value.msg) < 500


# ----- records ---------------------------------------------------------------------------------------------------

def test_service_endpoint_record(parser):
    root = gocdb.parse_answer(results(endpoint(5, 'se.example.org', 'SRM', exts={'SE_PATH': '/dpm/x'})), URL)
    ep = gocdb.parse_service_endpoint(gocdb.read_page(root, URL).records[0])
    assert ep == dict(
        primary_key='5G0', hostname='se.example.org', service_type='SRM', site='SITE-A', ngi='NGI_A', country='Aland',
        country_code='AL', in_production=True, monitored=True, beta=False, notifications=True, scopes=['EGI'],
        url='https://se.example.org/SRM', host_dn='/DC=org/CN=se.example.org', host_ip='192.0.2.1', host_ipv6=None,
        host_os=None, host_arch=None, portal_url='https://goc.example.org/portal/index.php?Page_Type=Service&id=5',
        endpoints=[dict(id='51', name='ep', url='https://se.example.org/ep', interface='SRM', monitored=False,
                        extensions={'k': 'v & w'})],
        extensions={'SE_PATH': '/dpm/x'})


def test_site_records(parser):
    short = gocdb.parse_answer(b'<results><SITE ID="11" PRIMARY_KEY="11G0" NAME="SITE-A" COUNTRY="Aland" '
                               b'COUNTRY_CODE="AL" ROC="NGI_A" SUBGRID="" GIIS_URL="ldap://bdii:2170"/></results>', URL)
    assert gocdb.parse_site_short(short[0]) == dict(name='SITE-A', primary_key='11G0', id='11', country='Aland',
                                                    country_code='AL', ngi='NGI_A', subgrid=None,
                                                    giis_url='ldap://bdii:2170')
    full = gocdb.parse_answer(
        b'<results><SITE ID="11" PRIMARY_KEY="11G0" NAME="SITE-A"><PRIMARY_KEY>11G0</PRIMARY_KEY>'
        b'<SHORT_NAME>SITE-A</SHORT_NAME><OFFICIAL_NAME>Site A</OFFICIAL_NAME><CONTACT_EMAIL>a@example.org'
        b'</CONTACT_EMAIL><TIER>2</TIER><COUNTRY_CODE>AL</COUNTRY_CODE><COUNTRY>Aland</COUNTRY><ROC>NGI_A</ROC>'
        b'<PRODUCTION_INFRASTRUCTURE>Production</PRODUCTION_INFRASTRUCTURE><CERTIFICATION_STATUS>Certified'
        b'</CERTIFICATION_STATUS><DOMAIN><DOMAIN_NAME>a.example.org</DOMAIN_NAME></DOMAIN><SCOPES><SCOPE>EGI</SCOPE>'
        b'<SCOPE>wlcg</SCOPE></SCOPES><EXTENSIONS><EXTENSION><LOCAL_ID>1</LOCAL_ID><KEY>vo</KEY><VALUE>dteam</VALUE>'
        b'</EXTENSION></EXTENSIONS></SITE></results>', URL)
    site = gocdb.parse_site(full[0])
    assert (site['name'], site['tier'], site['certification_status'], site['domain'], site['scopes'],
            site['extensions'], site['contact_email']) == ('SITE-A', '2', 'Certified', 'a.example.org', ['EGI', 'wlcg'],
                                                           {'vo': 'dteam'}, 'a@example.org')


def test_downtime_record_states_and_dates(parser):
    xml = results(downtime(9, NOW - 60, NOW + 3600, [('1', 'a.example.org', 'SRM', 'SITE-A'),
                                                     ('2', 'b.example.org', 'webdav', 'SITE-B')]),
                  downtime(10, NOW + 86400, NOW + 90000, [('1', 'a.example.org', 'SRM', 'SITE-A')], 'WARNING',
                           'UNSCHEDULED', dates=False))
    first, second = gocdb.read_page(gocdb.parse_answer(xml, URL), URL).records
    dt = gocdb.parse_downtime(first, URL, NOW)
    assert (dt['id'], dt['primary_key'], dt['classification'], dt['severity'], dt['description']) == (
        9, '9G0', 'SCHEDULED', 'OUTAGE', 'Upgrade & reboot')
    assert (dt['start'], dt['end'], dt['insert_date']) == (NOW - 60, NOW + 3600, NOW - 120)
    assert (dt['start_iso'], dt['state'], dt['ongoing']) == ('2023-11-14T22:12:20Z', 'ongoing', True)
    assert dt['sites'] == ['SITE-A', 'SITE-B'] and dt['hostnames'] == ['a.example.org', 'b.example.org']
    assert dt['services'][0]['affected_endpoints'] == [dict(id='7', name='ep', url='https://a.example.org/ep',
                                                            interface='SRM', monitored=True)]
    later = gocdb.parse_downtime(second, URL, NOW)
    # only the formatted dates (minutes, UTC): the epoch comes from them
    assert later['start'] == (NOW + 86400) // 60 * 60 and later['state'] == 'upcoming'
    assert (later['severity'], later['classification']) == ('WARNING', 'UNSCHEDULED')
    assert gocdb.parse_downtime(first, URL, NOW + 7200)['state'] == 'ended'


def test_downtime_without_dates_is_an_error(parser):
    root = gocdb.parse_answer(b'<results><DOWNTIME ID="3" PRIMARY_KEY="3G0"><SEVERITY>OUTAGE</SEVERITY>'
                              b'</DOWNTIME></results>', URL)
    with pytest.raises(VaporError, match=r'sent the downtime 3 without a valid start and end date\.$'):
        gocdb.parse_downtime(root[0], URL, NOW)


# ----- paging ----------------------------------------------------------------------------------------------------

def five_endpoints():
    return [endpoint(i, 'h%d.example.org' % i, 'SRM') for i in range(1, 6)]


def test_paging_is_followed_to_the_end_with_the_cursor_of_each_next_link(parser):
    client = CannedClient(paged(five_endpoints()))
    eps = gocdb.Gocdb(client, URL).service_endpoints()
    assert [e['hostname'] for e in eps] == ['h%d.example.org' % i for i in range(1, 6)]
    assert [p.get('next_cursor') for p in client.params] == ['0', '2', '4']
    assert all(u.startswith(URL + '?method=get_service_endpoint&') for u in client.urls)


def test_a_full_last_page_is_followed_by_an_empty_one(parser):
    client = CannedClient(paged(five_endpoints()[:4]))
    assert len(gocdb.Gocdb(client, URL).service_endpoints()) == 4
    assert [p.get('next_cursor') for p in client.params] == ['0', '2', '4']


def test_the_next_link_host_is_never_contacted(parser):
    def answer(url, params):
        if params['next_cursor'] == '0':
            return results(*five_endpoints()[:2], next=2, authority='https://elsewhere.example.net')
        return results(*five_endpoints()[2:3], next=3)
    client = CannedClient(answer)
    assert len(gocdb.Gocdb(client, URL).service_endpoints()) == 3
    assert all(u.startswith(URL) for u in client.urls)


def test_paging_loop_is_an_error(parser):
    client = CannedClient(paged(five_endpoints(), loop=True))
    with pytest.raises(VaporError) as exc:
        gocdb.Gocdb(client, URL).service_endpoints()
    assert 'sent a paging loop: the next page goes back to next_cursor=2, which was already read.' in exc.value.msg
    one_sentence(exc.value.msg)
    assert len(client.urls) == 2


def test_page_cap(parser):
    def answer(url, params):
        n = int(params['next_cursor'])
        return results(endpoint(n + 1, 'h%d.example.org' % n, 'SRM'), next=n + 1, max_page_size=1)
    with pytest.raises(VaporError, match=r'sent more than 3 pages for get_service_endpoint; the paging was stopped'):
        gocdb.Gocdb(CannedClient(answer), URL, max_pages=3).service_endpoints()


def test_bad_next_link_is_an_error(parser):
    client = CannedClient(lambda url, params: results(*five_endpoints()[:2], next='x'))
    with pytest.raises(VaporError, match=r'sent a next-page link without a valid next_cursor'):
        gocdb.Gocdb(client, URL).service_endpoints()


def test_a_gocdb_without_cursor_paging_is_asked_again_without(parser):
    def answer(url, params):
        if 'next_cursor' in params:
            return b'<error>Unsupported parameter: next_cursor</error>'
        return results(*five_endpoints())
    client = CannedClient(answer)
    assert len(gocdb.Gocdb(client, URL).service_endpoints()) == 5
    assert ['next_cursor' in p for p in client.params] == [True, False]


def test_site_list_is_never_paged(parser):
    client = CannedClient(lambda url, params: b'<results><SITE ID="1" PRIMARY_KEY="1G0" NAME="A"/></results>')
    assert [s['name'] for s in gocdb.Gocdb(client, URL).sites()] == ['A']
    assert client.params == [{'method': 'get_site_list'}]


def test_url_must_be_http(parser):
    with pytest.raises(VaporError, match=r"^The GOCDB URL 'goc\.egi\.eu/gocdbpi' is not an http or https URL\.$"):
        gocdb.Gocdb(CannedClient(None), 'goc.egi.eu/gocdbpi')


# ----- filters ---------------------------------------------------------------------------------------------------

ENDPOINTS = [
    endpoint(1, 'se.a.example.org', 'SRM', 'SITE_A'),
    endpoint(2, 'se.a.example.org', 'webdav', 'SITE_A', scopes=('EGI', 'wlcg')),
    endpoint(3, 'ce.a.example.org', 'ARC-CE', 'SITE_A', prod='N', mon='N'),
    endpoint(4, 'se.x.example.org', 'SRM', 'SITEXA'),            # what GOCDB's LIKE 'SITE_A' also matches
    endpoint(5, 'ui.b.example.org', 'UI', 'SITE-B', mon='N', scopes=('Local',)),
]


def unfiltered(url, params):
    return results(*ENDPOINTS)


def test_filters_are_applied_exactly_ignoring_case(parser):
    client = CannedClient(unfiltered)
    eps = gocdb.Gocdb(client, URL).service_endpoints(sites=['site_a'], production=True)
    assert [(e['hostname'], e['service_type']) for e in eps] == [('se.a.example.org', 'SRM'),
                                                                 ('se.a.example.org', 'webdav')]
    assert client.params[0] == {'method': 'get_service_endpoint', 'sitename': 'site_a', 'next_cursor': '0'}


def test_several_sites_types_hosts_are_one_query_each(parser):
    client = CannedClient(unfiltered)
    g = gocdb.Gocdb(client, URL)
    eps = g.service_endpoints(sites=['SITE_A', 'SITE-B'], service_types=['SRM', 'UI'])
    assert [e['primary_key'] for e in eps] == ['1G0', '5G0']
    assert [p.get('sitename') for p in client.params] == ['SITE_A', 'SITE-B']
    assert all('service_type' not in p for p in client.params)
    client.urls[:] = []
    g.service_endpoints(service_types=['SRM', 'webdav'], hostnames=['SE.A.EXAMPLE.ORG'])
    assert client.params == [{'method': 'get_service_endpoint', 'hostname': 'SE.A.EXAMPLE.ORG', 'next_cursor': '0'}]


def test_monitored_is_sent_and_checked_and_scope_any_all(parser):
    client = CannedClient(unfiltered)
    g = gocdb.Gocdb(client, URL)
    assert [e['primary_key'] for e in g.service_endpoints(monitored=True)] == ['1G0', '2G0', '4G0']
    assert client.params[0]['monitored'] == 'Y'
    assert [e['primary_key'] for e in g.service_endpoints(scope=['wlcg', 'local'])] == ['2G0', '5G0']
    assert [e['primary_key'] for e in g.service_endpoints(scope=['EGI', 'wlcg'], scope_match='all')] == ['2G0']
    assert client.params[-1]['scope'] == 'EGI,wlcg' and client.params[-1]['scope_match'] == 'all'
    assert len(g.service_endpoints(scope=[])) == 5
    assert client.params[-1]['scope'] == ''
    assert 'scope' not in client.params[0]


def test_downtime_parameters_and_filters(parser):
    def answer(url, params):
        return results(
            downtime(1, NOW - 60, NOW + 60, [('1', 'se.a.example.org', 'SRM', 'SITE_A'),
                                             ('4', 'se.x.example.org', 'SRM', 'SITEXA')]),
            downtime(2, NOW + 86400, NOW + 90000, [('3', 'ce.a.example.org', 'ARC-CE', 'SITE_A')], 'WARNING'),
            downtime(3, NOW - 30 * 86400, NOW - 29 * 86400, [('1', 'se.a.example.org', 'SRM', 'SITE_A')]))
    client = CannedClient(answer)
    g = gocdb.Gocdb(client, URL, clock=lambda: NOW)
    dts = g.downtimes(sites=['SITE_A', 'SITE-B'], service_types=['SRM', 'ARC-CE'], window_start='today')
    assert client.params[0] == {'method': 'get_downtime_nested_services', 'sitelist': 'SITE_A,SITE-B',
                                'service_type_list': 'SRM,ARC-CE', 'windowstart': '2023-11-14', 'next_cursor': '0'}
    assert [d['id'] for d in dts] == [1, 2]
    assert dts[0]['hostnames'] == ['se.a.example.org'] and dts[0]['sites'] == ['SITE_A']
    assert [d['id'] for d in g.downtimes(ongoing_only=True)] == [1]
    assert client.params[-1]['ongoing_only'] == 'yes' and 'windowstart' not in client.params[-1]
    assert [d['id'] for d in g.downtimes(window_start='2023-10-01', window_end='2023-10-17')] == [3]
    assert (client.params[-1]['windowstart'], client.params[-1]['windowend']) == ('2023-10-01', '2023-10-17')
    client.urls[:] = []
    dts = g.downtimes(hostnames=['ce.a.example.org', 'se.x.example.org'])
    assert [p['topentity'] for p in client.params] == ['ce.a.example.org', 'se.x.example.org']
    # the same downtimes come for each host; each keeps only the services of the hosts asked for, and the one
    # with none of them (3, on se.a only) is dropped
    assert [(d['id'], d['hostnames']) for d in dts] == [(1, ['se.x.example.org']), (2, ['ce.a.example.org'])]


@pytest.mark.parametrize('start, end, words', [
    ('14/11/2023', None, "The window_start '14/11/2023' is not a date written YYYY-MM-DD or 'today'."),
    ('2023-02-30', None, "The window_start '2023-02-30' is not a valid date."),
    ('2023-11-14', '2023-11-01', 'The downtime window ends (2023-11-01) before it starts (2023-11-14).'),
])
def test_bad_windows(start, end, words):
    with pytest.raises(VaporError) as exc:
        gocdb.Gocdb(CannedClient(unfiltered), URL, clock=lambda: NOW).downtimes(window_start=start, window_end=end)
    assert exc.value.msg == words


# ----- hosts, the module's job -------------------------------------------------------------------------------------

def test_hosts_from_endpoints_one_host_many_services():
    eps = gocdb.Gocdb(CannedClient(unfiltered), URL).service_endpoints()
    srm, dav = [e for e in eps if e['hostname'] == 'se.a.example.org']
    assert (srm['service_type'], dav['service_type']) == ('SRM', 'webdav')
    srm['hostname'] = 'SE.A.example.org'
    srm['extensions'] = {'SE_PATH': '/srm', 'only_srm': '1'}
    dav['extensions'] = {'SE_PATH': '/dav'}
    hosts = gocdb.hosts_from_endpoints(eps)
    assert sorted(hosts) == ['ce.a.example.org', 'se.a.example.org', 'se.x.example.org', 'ui.b.example.org']
    se = hosts['se.a.example.org']
    assert se['service_types'] == ['SRM', 'webdav'] and se['site'] == 'SITE_A' and se['sites'] == ['SITE_A']
    assert se['scopes'] == ['EGI', 'wlcg'] and se['in_production'] and se['monitored']
    assert se['urls'] == ['https://se.a.example.org/SRM', 'https://se.a.example.org/webdav']
    assert [e['service_type'] for e in se['endpoints']] == ['SRM', 'webdav']
    assert se['extensions'] == {'SE_PATH': '/srm', 'only_srm': '1'} and len(se['services']) == 2
    ce = hosts['ce.a.example.org']
    assert not ce['in_production'] and not ce['monitored']


def test_gocdb_info_sites_for_a_service_type_are_the_sites_of_its_endpoints(parser):
    def answer(url, params):
        if params['method'] == 'get_site_list':
            name = params['sitename'].encode()
            return b'<results><SITE ID="1" PRIMARY_KEY="%sG0" NAME="%s"/></results>' % (name, name)
        return unfiltered(url, params)
    client = CannedClient(answer)
    out = gocdb.gocdb_info(dict(url=URL, what=['sites'], service_types=['SRM']), client=client)
    assert [s['name'] for s in out['sites']] == ['SITE_A', 'SITEXA'] and 'endpoints' not in out
    assert [(p['method'], p.get('sitename'), p.get('scope')) for p in client.params] == [
        ('get_service_endpoint', None, None), ('get_site_list', 'SITE_A', ''), ('get_site_list', 'SITEXA', '')]
    assert out['changed'] is False and out['requests'] == 3


def test_gocdb_info_refuses_unknown_what():
    with pytest.raises(VaporError, match=r'^The value\(s\) hosts of what are not endpoints, sites or downtimes\.$'):
        gocdb.gocdb_info(dict(url=URL, what=['hosts']), client=CannedClient(unfiltered))


# ----- options written once ----------------------------------------------------------------------------------------

def _doc_options(path):
    with open(os.path.join(COLLECTION, path)) as handle:
        source = handle.read()
    start = source.index('DOCUMENTATION = r"""') + len('DOCUMENTATION = r"""')
    return yaml.safe_load(source[start:source.index('"""', start)])['options']


@pytest.mark.parametrize('path, table', [
    ('plugins/inventory/gocdb.py', GOCDB_QUERY),
    ('plugins/doc_fragments/_http.py', HTTP_OPTIONS),
])
def test_documented_options_follow_the_table(path, table):
    documented = _doc_options(path)
    for name, spec in table.options.items():
        assert name in documented, '%s does not document %s' % (path, name)
        doc = documented[name]
        for key in ('type', 'default', 'choices', 'elements'):
            assert doc.get(key) == spec.get(key), '%s: %s %s is %r, the table says %r' % (
                path, name, key, doc.get(key), spec.get(key))


def test_module_table_holds_the_query_and_http_options():
    assert set(GOCDB_QUERY.options) | set(HTTP_OPTIONS.options) <= set(GOCDB_INFO.options)
