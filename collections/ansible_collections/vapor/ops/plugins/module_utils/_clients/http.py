# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The one HTTP client for grid services (Pakiti collectors, GOCDB, VOMS-Admin, IAM, Mailman), on requests:
#   - TLS verified by default, against a CA file or a directory of hashed CA certificates (the grid's
#     /etc/grid-security/certificates when the host has it, else the system's store);
#   - client authentication by X.509 certificate and key, or a proxy file (X509_USER_PROXY), or a bearer token
#     (given, from a file, or from BEARER_TOKEN / BEARER_TOKEN_FILE as the WLCG token discovery has it);
#   - the HTTP(S) proxy of the environment (or one given), connect and read timeouts;
#   - retries with backoff on connection errors and 5xx answers only (never on 4xx; a read timeout only for
#     requests that are safe to repeat);
#   - a User-Agent naming the collection and its version;
#   - answers read in bounded memory and time: a body larger than ``max_bytes`` (after decompression, so a gzip bomb
#     is cut off too) or one that is still arriving ``timeout`` seconds after its headers (a server that drips its
#     answer byte by byte) is an error, not a hang; the body of a redirect is never read;
#   - a redirect from https:// to plain http:// is refused before anything is sent there (a report or a token
#     never leaves TLS because a server said so);
#   - errors in one sentence that name the URL (without credentials) and the cause; no secret in any message.
# Its options are HTTP_OPTIONS, documented once in the doc fragment vapor.ops._http.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.options import ENV, OptionSpec
from ansible_collections.vapor.ops.plugins.module_utils._common.retry import backoff_delay
from ansible_collections.vapor.ops.plugins.module_utils._common.urls import safe_url
from ansible_collections.vapor.ops.plugins.module_utils._common.version import COLLECTION, COLLECTION_VERSION

REQUIREMENT = 'requests'

# the CA directory grid hosts have (hashed CA certificates, kept current by fetch-crl and the IGTF packages)
GRID_CA_DIR = '/etc/grid-security/certificates'
# the largest answer body read by default (GOCDB's biggest unpaged answers are tens of MiB); callers may ask less
MAX_ANSWER = 128 << 20
# answers are read in pieces of this size; a compressed piece inflates to about a thousand times as much at most
READ_CHUNK = 8192
# redirects followed for one request (pakiti-client's LWP follows 7; requests would follow 30, re-sending a report
# each time a collector answers 307)
MAX_REDIRECTS = 10

HTTP_OPTIONS = OptionSpec(dict(
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path', fallback=(ENV, ['X509_CERT_DIR'])),
    client_cert=dict(type='path', fallback=(ENV, ['X509_USER_CERT'])),
    client_key=dict(type='path', no_log=False, fallback=(ENV, ['X509_USER_KEY'])),
    proxy_file=dict(type='path', fallback=(ENV, ['X509_USER_PROXY'])),
    token=dict(type='str', no_log=True, fallback=(ENV, ['BEARER_TOKEN'])),
    token_file=dict(type='path', fallback=(ENV, ['BEARER_TOKEN_FILE'])),
    use_proxy=dict(type='bool', default=True),
    proxy_url=dict(type='str', no_log=True),
    connect_timeout=dict(type='float', default=10.0),
    timeout=dict(type='float', default=60.0),
    retries=dict(type='int', default=3),
    retry_backoff=dict(type='float', default=2.0),
))

HTTP_OPTION_NAMES = tuple(sorted(HTTP_OPTIONS.options))


def user_agent():
    """The User-Agent every request sends (never containing 'GLPI', which Pakiti servers treat as another protocol)."""
    return '%s/%s' % (COLLECTION, COLLECTION_VERSION)


def requirement():
    """(requirement, importable, import error) for the modules' library check."""
    try:
        _requests()
    except ImportError:
        import traceback
        return REQUIREMENT, False, traceback.format_exc()
    return REQUIREMENT, True, None


def grid_ca_dir():
    """The grid CA directory when the host has one, else None."""
    return GRID_CA_DIR if os.path.isdir(GRID_CA_DIR) else None


def http_settings(params):
    """The HTTP options of ``params`` (defaults filled in, environment variables applied), as one dictionary."""
    return HTTP_OPTIONS.merge(dict((name, params.get(name)) for name in HTTP_OPTION_NAMES), environ=os.environ)


def override(settings, overrides, what):
    """``settings`` with the HTTP options of ``overrides`` (a destination's own) laid over them.

    Names that are not HTTP options are refused in one sentence naming ``what``.
    """
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(HTTP_OPTION_NAMES))
    if unknown:
        raise VaporError("%s has unknown HTTP option(s) %s; the HTTP options are %s."
                         % (what, ', '.join(unknown), ', '.join(HTTP_OPTION_NAMES)))
    merged = dict(settings)
    merged.update(dict((k, v) for k, v in overrides.items() if v is not None))
    return merged


class _HeadTooSlow(Exception):
    """The head of an answer did not arrive in time (HttpClient._send)."""


class HttpError(VaporError):
    """A request that did not give the expected answer: msg is the one sentence; status the HTTP status or None."""

    def __init__(self, msg, url=None, status=None, **context):
        super(HttpError, self).__init__(msg, **context)
        self.url = url
        self.status = status


_LIB = {}


def _requests():
    """requests, its exceptions and the two classes built on it, imported on first use (ImportError when requests is
    missing): a run that never speaks HTTP, such as a scheduled package report written to a file, does not pay for
    loading requests, urllib3 and ssl (benchmarks/bench_package_report.py)."""
    if _LIB:
        return _LIB
    from urllib.parse import urljoin, urlsplit

    import requests
    from requests import exceptions as rexc
    from requests.adapters import HTTPAdapter

    class AlsoGridCAs(HTTPAdapter):
        """With no CA path given: the CA bundle requests would use (REQUESTS_CA_BUNDLE, else its own) and, as well, the
        host's grid CA directory, so that a grid host verifies both IGTF-certified services and commercially certified
        ones."""

        extra_ca_dir = None

        def cert_verify(self, conn, url, verify, cert):
            super(AlsoGridCAs, self).cert_verify(conn, url, verify, cert)
            if self.extra_ca_dir and getattr(conn, 'cert_reqs', None) == 'CERT_REQUIRED' and not getattr(conn, 'ca_cert_dir', None):
                conn.ca_cert_dir = self.extra_ca_dir

    class GuardedSession(requests.Session):
        """A requests session that refuses a redirect from https:// to http:// before following it, and never reads the
        body of a redirect (requests would read all of it, whatever its size)."""

        def get_redirect_target(self, resp):
            target = super(GuardedSession, self).get_redirect_target(resp)
            if target is None:
                return None
            # requests calls this more than once per response: everything here may run again
            if not resp._content_consumed:
                # its connection is closed instead (requests then puts it back into its pool closed, to be reconnected)
                if resp.raw is not None:
                    resp.raw.close()
                resp._content = b''
                resp._content_consumed = True
            where = target
            if where.startswith('//'):
                where = '%s:%s' % (urlsplit(resp.url).scheme, where)
            where = urljoin(resp.url, where)
            if urlsplit(resp.url).scheme.lower() == 'https' and urlsplit(where).scheme.lower() != 'https':
                raise HttpError("%s redirected the request to %s, which is not HTTPS; nothing was sent there."
                                % (safe_url(resp.url), safe_url(where)), url=safe_url(resp.url), status=resp.status_code)
            return target

    # requests 2.25 (EL9's) has InvalidProxyURL; an empty tuple catches nothing should an older one lack it
    _LIB.update(requests=requests, rexc=rexc, AlsoGridCAs=AlsoGridCAs, GuardedSession=GuardedSession,
                invalid_proxy_url=getattr(rexc, 'InvalidProxyURL', ()))
    return _LIB


def _socket_of(response):
    """The socket an answer is read from (so that a watchdog can cut it off), or None."""
    raw = getattr(response, 'raw', None)
    conn = getattr(raw, '_connection', None) or getattr(raw, 'connection', None)
    sock = getattr(conn, 'sock', None)
    if sock is None:
        fp = getattr(getattr(getattr(raw, '_fp', None), 'fp', None), 'raw', None)
        sock = getattr(fp, '_sock', None)
    return sock if hasattr(sock, 'shutdown') else None


_CONTROL_RE = re.compile('[\x00-\x1f\x7f-\x9f]')


def _clean(text):
    """An exception's (or a server's) text without credentials in URLs, on one line, without control characters
    (a server's reason phrase could hold terminal escape sequences)."""
    text = safe_url(text)
    return ' '.join(_CONTROL_RE.sub(' ', text).split()).rstrip('.')


def _root_cause(exc):
    """The innermost reason of a requests/urllib3 exception (the socket or TLS error), as text."""
    seen = exc
    for _depth in range(6):
        nxt = None
        args = getattr(seen, 'args', ()) or ()
        if args and isinstance(args[0], BaseException):
            nxt = args[0]
        reason = getattr(seen, 'reason', None)
        if isinstance(reason, BaseException):
            nxt = reason
        if nxt is None or nxt is seen:
            break
        seen = nxt
    text = str(seen)
    # urllib3 wraps socket errors as '<urllib3.connection.HTTPConnection object at 0x..>: Failed to ...'
    text = re.sub(r'^<[^>]*>:\s*', '', text)
    return _clean(text)


def _innermost(exc):
    """The text of the innermost exception among the arguments of ``exc`` (urllib3 wraps a broken read as
    ProtocolError('Connection broken: ...', IncompleteRead(...)))."""
    seen = exc
    for _depth in range(6):
        inner = [arg for arg in getattr(seen, 'args', ()) or () if isinstance(arg, BaseException)]
        if not inner:
            break
        seen = inner[-1]
    return _clean(re.sub(r'^<[^>]*>:\s*', '', str(seen)))


class HttpClient(object):
    """One configured session. ``settings``: HTTP option values (http_settings()); ``sleep`` for tests."""

    def __init__(self, settings, sleep=time.sleep):
        try:
            self._lib = _requests()
        except ImportError:
            raise VaporError('The Python library requests is needed to speak HTTP and cannot be imported.')
        self.settings = dict(settings)
        self.sleep = sleep
        self.session = self._lib['GuardedSession']()
        self.session.max_redirects = MAX_REDIRECTS
        self.session.headers['User-Agent'] = user_agent()
        self.session.trust_env = bool(self.settings.get('use_proxy', True))
        self._ca = None
        self._grid = None
        self._configure()

    # ----- configuration --------------------------------------------------------------------------------
    def _configure(self):
        s = self.settings
        if s.get('validate_certs', True):
            ca = s.get('ca_path')
            if ca:
                if not os.path.exists(ca):
                    raise VaporError("The CA path '%s' does not exist." % ca)
                self._ca = ca
                self.session.verify = ca
            else:
                self.session.verify = True
                self._grid = grid_ca_dir()
                if self._grid:
                    adapter = self._lib['AlsoGridCAs']()
                    adapter.extra_ca_dir = self._grid
                    self.session.mount('https://', adapter)
        else:
            self.session.verify = False
        if s.get('proxy_file'):
            self._readable(s['proxy_file'], 'proxy file')
            self.session.cert = s['proxy_file']
        elif s.get('client_cert'):
            self._readable(s['client_cert'], 'client certificate')
            if s.get('client_key'):
                self._readable(s['client_key'], 'client key')
                self.session.cert = (s['client_cert'], s['client_key'])
            else:
                self.session.cert = s['client_cert']
        token = s.get('token')
        if not token and s.get('token_file'):
            token = self._read_token(s['token_file'])
        if token:
            self.session.headers['Authorization'] = 'Bearer ' + token
        if s.get('proxy_url'):
            self.session.proxies = {'http': s['proxy_url'], 'https': s['proxy_url']}

    @staticmethod
    def _readable(path, what):
        if not os.path.isfile(path):
            raise VaporError("The %s '%s' is not a file." % (what, path))
        if not os.access(path, os.R_OK):
            raise VaporError("The %s '%s' cannot be read." % (what, path))

    def _read_token(self, path):
        self._readable(path, 'token file')
        with open(path, 'r') as handle:
            token = handle.read().strip()
        if not token or any(ch.isspace() for ch in token):
            raise VaporError("The token file '%s' does not hold one bearer token." % path)
        return token

    def describe_ca(self):
        """Which CAs verify the servers, for a TLS error message."""
        if not self.session.verify:
            return 'certificate checks disabled'
        if self._ca:
            return '%s %s' % ('CA directory' if os.path.isdir(self._ca) else 'CA file', self._ca)
        if self._grid:
            return "the default CA bundle and the CA directory %s" % self._grid
        return 'the default CA bundle'

    # ----- requests -------------------------------------------------------------------------------------
    def request(self, method, url, expect=(200,), safe=None, max_bytes=MAX_ANSWER, **kwargs):
        """Send a request and return the response whose status is in ``expect`` (a tuple, or None for any 2xx).

        Retries connection failures and 5xx answers (``retries`` times, backoff doubling from ``retry_backoff``);
        a read timeout is retried only when ``safe`` (default: GET/HEAD/OPTIONS). Anything else raises HttpError.
        The body of the returned response is read already (``.content``), at most ``max_bytes`` bytes of it after
        decompression and within ``timeout`` seconds of its headers; a longer or slower one raises HttpError.
        """
        method = method.upper()
        kwargs['stream'] = True
        if safe is None:
            safe = method in ('GET', 'HEAD', 'OPTIONS')
        # given with each request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE of the environment win over a
        # session's CA path otherwise (trust_env), and the CA the user named must be the one that verifies
        kwargs.setdefault('verify', self.session.verify)
        kwargs.setdefault('timeout', (self.settings.get('connect_timeout') or 10.0, self.settings.get('timeout') or 60.0))
        import warnings
        shown = safe_url(url)
        rexc = self._lib['rexc']
        timeout = kwargs['timeout']
        # the status line and headers must all have come within the connect and the read timeout together
        head_limit = sum(timeout) if isinstance(timeout, (tuple, list)) else 2 * timeout
        tries = int(self.settings.get('retries') or 0) + 1
        last = None
        for attempt in range(tries):
            delay = backoff_delay(attempt, self.settings.get('retry_backoff') or 0)
            if delay:
                self.sleep(delay)
            try:
                with warnings.catch_warnings():
                    # validate_certs=false is the user's choice, documented; urllib3 would warn on every request
                    warnings.simplefilter('ignore')
                    response = self._send(method, url, kwargs, head_limit)
            except _HeadTooSlow:
                last = HttpError("%s did not send the head of its answer within %g s." % (shown, head_limit), url=shown)
                if safe:
                    continue
                raise last
            except rexc.SSLError as exc:
                raise HttpError("The TLS connection to %s failed (%s): %s." % (shown, self.describe_ca(), _root_cause(exc)),
                                url=shown)
            except rexc.ConnectTimeout:
                last = HttpError("%s could not be reached within %g s." % (shown, kwargs['timeout'][0]), url=shown)
                continue
            except rexc.ReadTimeout:
                last = HttpError("%s did not answer within %g s." % (shown, kwargs['timeout'][1]), url=shown)
                if safe:
                    continue
                raise last
            except rexc.ProxyError as exc:
                last = HttpError("The HTTP proxy refused or failed the request to %s: %s." % (shown, _root_cause(exc)), url=shown)
                continue
            except rexc.ConnectionError as exc:
                cause = _root_cause(exc)
                if 'refused' in cause.lower():
                    last = HttpError("The connection to %s was refused." % shown, url=shown)
                else:
                    last = HttpError("%s could not be reached: %s." % (shown, cause), url=shown)
                continue
            except self._lib['invalid_proxy_url']:
                # requests says so for a proxy URL without a scheme or a host; the proxy URL may hold a password
                raise HttpError("The HTTP proxy URL for %s is not valid (it needs http:// or https:// and a host)."
                                % shown, url=shown)
            except (rexc.InvalidURL, rexc.MissingSchema, rexc.InvalidSchema, rexc.URLRequired) as exc:
                raise HttpError("The URL %s is not valid: %s." % (shown, _clean(exc)), url=shown)
            except rexc.RequestException as exc:
                raise HttpError("The request to %s failed: %s." % (shown, _root_cause(exc)), url=shown)
            status = response.status_code
            if (expect is None and 200 <= status < 300) or (expect is not None and status in expect):
                timeout = kwargs['timeout']
                self._read_body(response, shown, max_bytes, timeout[1] if isinstance(timeout, (tuple, list)) else timeout)
                return response
            response.close()
            if status >= 500:
                last = self.status_error(response, shown)
                continue
            raise self.status_error(response, shown)
        if last is not None and last.status is not None and last.status >= 500:
            raise HttpError("%s answered HTTP %d %s after %d tries." % (shown, last.status, last.reason, tries),
                            url=shown, status=last.status)
        if tries > 1:
            raise HttpError("%s (%d tries)." % (last.msg.rstrip('.'), tries), url=shown, status=last.status)
        raise last

    def _send(self, method, url, kwargs, limit):
        """session.request() (which returns once the head of the answer is read: stream=True), waited for at most
        ``limit`` seconds: a server that sends its status line and headers a byte at a time would otherwise hold it
        for ever, each byte restarting the socket's read timeout, and requests has no bound on the whole head. It
        runs in a daemon thread; when the time is up, _HeadTooSlow is raised and the thread is left to end with its
        connection (it holds no lock; a module or runner process exits soon after)."""
        import threading
        box = {}

        def call():
            try:
                box['response'] = self.session.request(method, url, **kwargs)
            except BaseException as exc:  # handed to the caller's thread as it is
                box['error'] = exc

        worker = threading.Thread(target=call, name='vapor-http-request', daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            raise _HeadTooSlow()
        if 'error' in box:
            raise box['error']
        return box['response']

    def _read_body(self, response, shown, max_bytes, seconds):
        """Read the body of a streamed ``response`` into ``response.content``: at most ``max_bytes`` bytes, and all
        of it within ``seconds`` (a watchdog shuts the socket down then: a server that sends one byte now and then
        would otherwise keep the reader for ever, each byte restarting the read timeout)."""
        rexc = self._lib['rexc']
        sock = _socket_of(response)
        fired = []
        timer = None
        if sock is not None and seconds:
            import socket
            import threading

            def cut_off():
                fired.append(True)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except (OSError, ValueError):
                    pass
            timer = threading.Timer(seconds, cut_off)
            timer.daemon = True
            timer.start()
        late = HttpError("%s did not send its whole answer within %g s." % (shown, seconds), url=shown,
                         status=response.status_code)
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(READ_CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise HttpError("The answer of %s is larger than %s, more than any answer it should give; it "
                                    "was not read." % (shown, _size(max_bytes)), url=shown, status=response.status_code)
                chunks.append(chunk)
                if fired:
                    raise late
        except (rexc.RequestException, OSError) as exc:
            if fired:
                raise late
            cause = _innermost(exc)
            if 'timed out' in cause.lower():
                raise HttpError("%s did not answer within %g s." % (shown, seconds), url=shown,
                                status=response.status_code)
            raise HttpError("%s broke off its answer: %s." % (shown, cause), url=shown, status=response.status_code)
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()      # ended, not just told to end: no thread outlives the request
            response.close()
        if fired:   # a cut-off body without a length looks complete: it is not
            raise late
        # urllib3 1.x (EL9's) takes a body shorter than its Content-Length for a whole one
        length = (response.headers.get('Content-Length') or '').strip()
        received = _raw_bytes_read(response)
        if length.isdigit() and received is not None and received < int(length) and getattr(
                getattr(response, 'request', None), 'method', None) != 'HEAD':
            raise HttpError("%s broke off its answer: %d of %s bytes received." % (shown, received, length), url=shown,
                            status=response.status_code)
        response._content = b''.join(chunks)
        response._content_consumed = True

    @staticmethod
    def status_error(response, shown):
        """The HttpError of an unexpected status."""
        status, reason = response.status_code, _clean(response.reason or '') or 'no reason given'
        if status == 401:
            msg = "%s refused the credentials (HTTP 401 %s)." % (shown, reason)
        elif status == 403:
            msg = "%s denied access (HTTP 403 %s)." % (shown, reason)
        elif status == 404:
            msg = "%s was not found (HTTP 404 %s)." % (shown, reason)
        else:
            msg = "%s answered HTTP %d %s." % (shown, status, reason)
        error = HttpError(msg, url=shown, status=status)
        error.reason = reason
        return error

    def get(self, url, **kwargs):
        return self.request('GET', url, **kwargs)

    def post(self, url, **kwargs):
        return self.request('POST', url, **kwargs)

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _raw_bytes_read(response):
    """How many bytes of the body came over the wire (before decompression), or None when unknown."""
    try:
        return int(response.raw.tell())
    except (AttributeError, TypeError, ValueError, OSError):
        return None


def _size(count):
    """A byte count in words ('16 MiB', '512 KiB', '100 bytes')."""
    for unit, shift in (('GiB', 30), ('MiB', 20), ('KiB', 10)):
        if count >= 1 << shift and count % (1 << shift) == 0:
            return '%d %s' % (count >> shift, unit)
    return '%d bytes' % count


def unexpected_body(url, what, response=None):
    """The HttpError for an answer whose body is not what was expected (``what``: what it should have been)."""
    kind = ''
    if response is not None:
        ctype = (response.headers.get('Content-Type') or '').split(';')[0].strip()
        if ctype:
            kind = ' (it is %s)' % ctype
    return HttpError("The answer of %s is not %s%s." % (safe_url(url), what, kind), url=safe_url(url),
                     status=getattr(response, 'status_code', None))
