# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one HTTP client (module_utils/_clients/http.py) against real local servers: TLS with a CA file and a
hashed CA directory, the wrong CA, client certificates and proxy-style PEM files, bearer tokens, an HTTP proxy,
refused connections, timeouts, 4xx never retried, 5xx retried with backoff, the User-Agent, and no secret in any
message."""
from __future__ import annotations

import http.server
import socket
import threading

import pytest

from ansible_collections.vapor.ops.plugins.module_utils._clients import http as vhttp
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.version import COLLECTION_VERSION
from pakiti_collector import PakitiCollector



@pytest.fixture
def collector(ca):
    c = PakitiCollector(ca).start()
    yield c
    c.stop()


def client(**options):
    sleeps = []
    settings = vhttp.http_settings(dict(options, use_proxy=options.get("use_proxy", False)))
    c = vhttp.HttpClient(settings, sleep=sleeps.append)
    c.sleeps = sleeps
    return c


REPORT = b"#\nhost: a.example.org\nversion: 1\n#\nbash\t0:5.1-1\tx86_64\n#\n"


def test_ca_file_and_hashed_ca_directory_both_verify(ca, collector):
    for path in (ca.ca_file, ca.ca_dir):
        r = client(ca_path=str(path)).post(collector.url, data=REPORT)
        assert r.text == "OK\n"
    assert [rec.body for rec in collector.received] == [REPORT, REPORT]


def test_given_ca_wins_over_requests_ca_bundle_of_the_environment(ca, collector, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.other_ca_file))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(ca.other_ca_file))
    assert client(ca_path=str(ca.ca_dir), use_proxy=True).post(collector.url, data=REPORT).ok


def test_wrong_ca_fails_in_one_sentence_naming_url_and_ca(ca, collector, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))  # the environment's bundle would verify: not used
    with pytest.raises(vhttp.HttpError) as exc:
        client(ca_path=str(ca.other_ca_dir), use_proxy=True).post(collector.url, data=REPORT)
    msg = exc.value.msg
    assert msg.startswith("The TLS connection to %s failed (CA directory %s)" % (collector.url, ca.other_ca_dir))
    assert "certificate verify failed" in msg and msg.endswith(".") and "\n" not in msg
    assert collector.received == []


def test_validate_certs_false_skips_the_check(ca, collector):
    assert client(validate_certs=False, ca_path=str(ca.other_ca_file)).post(collector.url, data=REPORT).ok


def test_missing_ca_path_is_named(tmp_path):
    with pytest.raises(VaporError, match=r"^The CA path '.*nowhere' does not exist\.$"):
        client(ca_path=str(tmp_path / "nowhere"))


def test_user_agent_names_collection_and_version(ca, collector):
    client(ca_path=str(ca.ca_file)).post(collector.url, data=REPORT)
    ua = collector.received[0].headers["User-Agent"]
    assert ua == "vapor.ops/%s" % COLLECTION_VERSION and "GLPI" not in ua


@pytest.mark.parametrize("how", ["pair", "pem", "proxy_env"])
def test_client_certificate_is_presented(ca, collector, monkeypatch, how):
    if how == "pair":
        c = client(ca_path=str(ca.ca_file), client_cert=str(ca.client_cert), client_key=str(ca.client_key))
    elif how == "pem":
        c = client(ca_path=str(ca.ca_file), client_cert=str(ca.client_pem))
    else:
        monkeypatch.setenv("X509_USER_PROXY", str(ca.client_pem))
        c = client(ca_path=str(ca.ca_file))
    c.post(collector.url, data=REPORT)
    assert collector.received[0].client_dn == ca.client_dn


def test_bearer_token_from_file_and_env_never_in_messages(ca, collector, tmp_path, monkeypatch):
    token_file = tmp_path / "bt"
    token_file.write_text("s3cr3t-t0ken\n")
    client(ca_path=str(ca.ca_file), token_file=str(token_file)).post(collector.url, data=REPORT)
    assert collector.received[-1].headers["Authorization"] == "Bearer s3cr3t-t0ken"
    monkeypatch.setenv("BEARER_TOKEN", "env-t0ken")
    client(ca_path=str(ca.ca_file)).post(collector.url, data=REPORT)
    assert collector.received[-1].headers["Authorization"] == "Bearer env-t0ken"
    collector.state.behaviour = "status"
    collector.state.status = 401
    with pytest.raises(vhttp.HttpError) as exc:
        client(ca_path=str(ca.ca_file), token="s3cr3t-t0ken").post(collector.url + "?access_token=s3cr3t-t0ken",
                                                                       data=REPORT)
    assert "s3cr3t-t0ken" not in exc.value.msg and "access_token=***" in exc.value.msg
    assert "refused the credentials (HTTP 401" in exc.value.msg


def test_token_file_with_more_than_a_token_is_refused(tmp_path):
    bad = tmp_path / "bt"
    bad.write_text("two words\n")
    with pytest.raises(VaporError, match=r"does not hold one bearer token\.$") as exc:
        client(token_file=str(bad))
    assert "two words" not in exc.value.msg


@pytest.mark.parametrize("status,words", [(401, "refused the credentials"), (403, "denied access"),
                                          (404, "was not found"), (400, "answered HTTP 400")])
def test_4xx_fails_at_once_without_retry(ca, collector, status, words):
    collector.state.behaviour, collector.state.status = "status", status
    c = client(ca_path=str(ca.ca_file), retries=3)
    with pytest.raises(vhttp.HttpError) as exc:
        c.post(collector.url, data=REPORT)
    assert words in exc.value.msg and exc.value.status == status
    assert len(collector.received) == 1 and c.sleeps == []


def test_5xx_is_retried_with_backoff_then_named(ca, collector):
    collector.state.behaviour = "error"
    c = client(ca_path=str(ca.ca_file), retries=2, retry_backoff=0.5)
    with pytest.raises(vhttp.HttpError) as exc:
        c.post(collector.url, data=REPORT)
    assert exc.value.msg == "%s answered HTTP 500 Internal Server Error after 3 tries." % collector.url
    assert len(collector.received) == 3 and c.sleeps == [0.5, 1.0]


def test_refused_connection_is_retried_and_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = client(retries=1, retry_backoff=0.1)
    url = "http://127.0.0.1:%d/feed/" % port
    with pytest.raises(vhttp.HttpError) as exc:
        c.get(url)
    assert exc.value.msg == "The connection to %s was refused (2 tries)." % url
    assert c.sleeps == [0.1]


def test_read_timeout_is_not_retried_for_a_post(ca, collector):
    collector.state.hang_seconds = 1.5
    c = client(ca_path=str(ca.ca_file), timeout=0.3, retries=3)
    with pytest.raises(vhttp.HttpError, match=r"did not answer within 0\.3 s\.$"):
        c.post(collector.url, data=REPORT)
    assert c.sleeps == []


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *args):
        """Quiet: the tests read what the server recorded, not its log."""

    def do_GET(self):
        type(self).seen.append((self.path, self.headers.get("Proxy-Authorization")))
        body = b"via proxy\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_http_proxy_from_environment_and_given(monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        proxy = "http://127.0.0.1:%d" % httpd.server_address[1]
        target = "http://gocdb.invalid/gocdbpi/public/?method=get_site"
        monkeypatch.setenv("http_proxy", proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert client(use_proxy=True).get(target).text == "via proxy\n"
        monkeypatch.delenv("http_proxy")
        given = "http://user:pw@127.0.0.1:%d" % httpd.server_address[1]
        assert client(proxy_url=given).get(target).text == "via proxy\n"
        assert [p for p, _a in _ForwardProxy.seen] == [target, target]
        assert _ForwardProxy.seen[1][1] is not None  # the given proxy's credentials were used
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_safe_url_hides_credentials():
    assert vhttp.safe_url("https://u:p@h:1/x?token=abc&a=1") == "https://h:1/x?token=***&a=1"


def test_destination_override_refuses_unknown_names():
    base = vhttp.http_settings({})
    assert vhttp.override(base, {"timeout": 5.0}, "x")["timeout"] == 5.0
    with pytest.raises(VaporError, match=r"^The destination 'site' has unknown HTTP option\(s\) verify; "):
        vhttp.override(base, {"verify": False}, "The destination 'site'")


def test_default_verifies_with_the_grid_ca_directory_and_the_default_bundle(ca, collector, monkeypatch):
    monkeypatch.delenv("X509_CERT_DIR", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.other_ca_file))  # the default bundle alone would not verify
    monkeypatch.setattr(vhttp, "GRID_CA_DIR", str(ca.ca_dir))
    assert client(use_proxy=True).post(collector.url, data=REPORT).ok
    monkeypatch.setattr(vhttp, "GRID_CA_DIR", str(ca.root / "no-grid-dir"))
    with pytest.raises(vhttp.HttpError) as exc:
        client(use_proxy=True).post(collector.url, data=REPORT)
    assert "failed (the default CA bundle): " in exc.value.msg
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))  # and the default bundle is used
    assert client(use_proxy=True).post(collector.url, data=REPORT).ok


# -- the head of an answer waited for in a thread (HttpClient._send): hostile review -------------------------------


def test_validate_certs_false_still_hides_urllib3s_warning_though_the_request_runs_in_a_thread(ca, collector):
    import warnings
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert client(validate_certs=False).post(collector.url, data=REPORT).ok
    assert [str(w.category.__name__) for w in seen] == []
    assert warnings.filters == filters_before            # the caller's filters are as they were


def test_no_thread_is_left_behind_by_a_request(ca, collector):
    """Neither the thread that waits for the head nor the watchdog of the body outlives a request (the collector's
    own threads, in this process too, are not counted; nor are threads that earlier tests in this process left on
    purpose, such as a request abandoned to a server that drips its head)."""
    before = set(threading.enumerate())

    def ours():
        return [t for t in threading.enumerate() if t not in before and (
            t.name == "vapor-http-request" or isinstance(t, threading.Timer))]

    c = client(ca_path=str(ca.ca_file))
    for _i in range(20):
        assert c.post(collector.url, data=REPORT).text == "OK\n"
        assert ours() == []
    collector.state.behaviour = "error"
    with pytest.raises(vhttp.HttpError):
        c.get(collector.url)
    assert ours() == []


@pytest.mark.parametrize("url, words", [
    ("http://[::1/feed/", "The URL http://[::1/feed/ is not valid: "),
    ("collector.example.org/feed/", "The URL collector.example.org/feed/ is not valid: "),
    ("ftp://127.0.0.1/feed/", "The URL ftp://127.0.0.1/feed/ is not valid: "),
])
def test_an_invalid_url_is_one_sentence_naming_it(url, words):
    c = client(retries=2)
    with pytest.raises(vhttp.HttpError) as exc:
        c.get(url)
    assert exc.value.msg.startswith(words) and exc.value.msg.endswith(".") and "\n" not in exc.value.msg
    assert c.sleeps == []                                # not retried


def test_an_exception_in_the_request_thread_reaches_the_caller_as_it_is(monkeypatch):
    class Odd(BaseException):
        pass
    raised = Odd("from the request")
    c = client()

    def request(*args, **kwargs):
        raise raised
    monkeypatch.setattr(c.session, "request", request)
    with pytest.raises(Odd) as exc:
        c.get("http://127.0.0.1:9/feed/")
    assert exc.value is raised
