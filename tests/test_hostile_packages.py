# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile review of package reporting, the HTTP client and GOCDB, end to end: real sockets, real TLS with the test
CA, the real ansible-playbook and ansible-inventory.

A broken or malicious collector, proxy or GOCDB, and a site admin's odd settings:

- a collector that redirects the report from https:// to plain http:// (nothing may be sent in the clear), one that
  redirects in a loop, one whose answer is huge, a gzip bomb, or drips one byte at a time (none may hold the run or
  its memory), one that breaks off its answer, and one whose reason phrase carries terminal escape sequences;
  HTTP/1.0 and chunked answers still read;
- findings a collector names for packages the site filtered out (the result never names them);
- credentials written inside URLs (user:password@, ?token=) never in the job output, even at -vvv;
- a FIFO as the input report (must not hang the module) and a device or a FIFO where the report or the state file
  is to be written (left as it is, never replaced);
- GOCDB host names that are not DNS names ('-oProxyCommand=...', '../..') kept out of the inventory, and the
  trailing-dot spelling of a host merged with the plain one.

Every row that found a defect was written first as a failing test; the others guard what held.
"""
from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import subprocess
import threading
import time
import zlib

import pytest

import ansible_runner
from ansible_collections.vapor.ops.plugins.module_utils._clients import http as vhttp
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti import send as psend
from gocdb_server import Dataset, GocdbServer, Service, Site
from pakiti_collector import PakitiCollector

PLAYBOOK = "playbooks/package_report.yml"
TASK = "Collect, filter and send the package report"
REPORT = b"#\nhost: wn1.example.org\nversion: 1\n#\nbash\t0:5.1-1\tx86_64\n#\n"



@pytest.fixture
def inventory(tmp_path):
    return ansible_runner.write_local_inventory(tmp_path / "inventory.yml", group="packages")


@pytest.fixture
def servers():
    started = []

    def keep(server):
        started.append(server)
        return server
    yield keep
    for server in started:
        server.stop()


class RawServer:
    """An HTTP(S) server on 127.0.0.1 that answers each request with what ``respond(conn, request)`` writes on the
    socket itself (any bytes, at any pace). ``requests`` holds each request (head and body) as bytes."""

    def __init__(self, respond, ca=None):
        self.respond = respond
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.ctx = None
        if ca is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(str(ca.server_cert), str(ca.server_key))
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "%s://127.0.0.1:%d/feed/" % ("https" if self.ctx else "http", self.port)

    def _accept(self):
        while not self.stopped:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.ctx is not None:
                conn = self.ctx.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _sep, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _colon, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.requests.append(head + b"\r\n\r\n" + body)
            self.respond(conn, head + b"\r\n\r\n" + body)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        self.sock.close()


def within(seconds, fn, *args, **kwargs):
    """Call ``fn`` in a thread; fail if it is still running after ``seconds`` (it hangs), else its outcome."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the test
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "still running after %d s: it hangs" % seconds
    if "error" in box:
        raise box["error"]
    return box["value"]


def client(ca=None, **options):
    settings = dict(use_proxy=False, retries=0, timeout=30)
    if ca is not None:
        settings["ca_path"] = str(ca.ca_file)
    settings.update(options)
    return vhttp.HttpClient(vhttp.http_settings(settings), sleep=lambda s: None)


def one_sentence(msg):
    assert msg.endswith(".") and "\n" not in msg and "\x1b" not in msg, msg


# -- redirects --------------------------------------------------------------------------------------------------


def test_an_https_collector_redirecting_to_plain_http_gets_refused_and_nothing_goes_out_in_the_clear(
        run_playbook, servers, ca, inventory):
    plain = servers(PakitiCollector(ca, tls=False).start())

    def redirect(conn, request):
        conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                     % plain.url.encode())
    tls = servers(RawServer(redirect, ca=ca))
    ev = {"package_report_url": tls.url, "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
          "package_report_retries": 0, "package_report_token": "s3cr3t-t0ken"}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True)
    msg = res.result(TASK, "localhost")["msg"]
    assert plain.received == [], "the report went to the plain-HTTP collector"
    assert len(tls.requests) == 1
    assert ("%s?protocol=5 redirected the request to %s, which is not HTTPS; nothing was sent there."
            % (tls.url, plain.url)) in msg
    one_sentence(msg)


def test_a_redirect_within_https_is_followed_and_a_redirect_loop_ends_in_one_sentence(servers, ca):
    target = servers(PakitiCollector(ca).start())

    def redirect(conn, request):
        # a redirect with a large body: it is not read
        conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: %s\r\nContent-Length: 50000000\r\n\r\n"
                     % target.url.encode() + b"x" * 65536)
    first = servers(RawServer(redirect, ca=ca))
    reply = psend.send(client(ca), first.url, REPORT)
    assert reply["reply"] == "OK" and [r.body for r in target.received] == [REPORT]

    def loop(conn, request):
        conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /feed/?again\r\nContent-Length: 0\r\n\r\n")
    looping = servers(RawServer(loop, ca=ca))
    with pytest.raises(VaporError) as exc:
        psend.send(client(ca), looping.url, REPORT)
    assert exc.value.msg == "The request to %s?protocol=5 failed: Exceeded %d redirects." % (looping.url,
                                                                                          vhttp.MAX_REDIRECTS)
    assert len(looping.requests) == vhttp.MAX_REDIRECTS + 1


# -- answers that are too big, too slow, broken ---------------------------------------------------------------


def _gzip_of_zeros(mib):
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    return b"".join([z.compress(b"OK\n")] + [z.compress(block) for _i in range(mib)] + [z.flush()])


def test_a_huge_answer_and_a_gzip_bomb_are_errors_not_a_silently_cut_or_memory_filling_read(servers):
    findings = b"".join(b"pkg%07d\t1.0-1\tx86_64\tCVE-2024-%d\tHigh\n" % (i, i) for i in range(450000))
    assert len(findings) > psend.MAX_REPLY

    def huge(conn, request):
        body = b"OK\n" + findings
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    big = servers(RawServer(huge))
    with pytest.raises(VaporError) as exc:
        psend.send(client(), big.url, REPORT)
    assert exc.value.msg == ("The answer of %s?protocol=5 is larger than 16 MiB, more than any answer it should give; "
                             "it was not read." % big.url)

    bomb = _gzip_of_zeros(64)

    def gzip_bomb(conn, request):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb) + bomb)
    bomber = servers(RawServer(gzip_bomb))
    with pytest.raises(VaporError) as exc:
        psend.send(client(), bomber.url, REPORT)
    assert exc.value.msg.startswith("The answer of %s?protocol=5 is larger than 16 MiB" % bomber.url)


def test_a_collector_that_drips_its_answer_is_cut_off_after_the_timeout(servers):
    def drip(conn, request):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _i in range(1000):
            conn.sendall(b"O")
            time.sleep(0.2)

    slow = servers(RawServer(drip))
    with pytest.raises(VaporError) as exc:
        within(120, psend.send, client(timeout=2), slow.url, REPORT)
    assert exc.value.msg == "%s?protocol=5 did not send its whole answer within 2 s." % slow.url


def test_a_collector_that_drips_its_status_line_and_headers_is_cut_off(servers):
    """Each byte of the head restarts the socket's read timeout: only a bound on the whole head stops it."""
    def drip(conn, request):
        for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"z" * 2000:
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    slow = servers(RawServer(drip))
    with pytest.raises(VaporError) as exc:
        within(60, psend.send, client(timeout=2, connect_timeout=1), slow.url, REPORT)
    assert exc.value.msg == "%s?protocol=5 did not send the head of its answer within 3 s." % slow.url
    gocdb_client = client(timeout=2, connect_timeout=1, retries=1)
    with pytest.raises(VaporError) as exc:       # a GET is safe to repeat: tried twice, then one sentence
        within(60, gocdb_client.get, slow.url)
    assert exc.value.msg == "%s did not send the head of its answer within 3 s (2 tries)." % slow.url
    assert len(slow.requests) == 3


EXTRA_TAB = b"openssl\t3.0.7-1\tx86_64\tCVE-2024-5535\tHigh\textra\n"


def test_an_answer_broken_off_is_one_sentence_and_http10_and_chunked_answers_read(servers):
    answers = {
        "broken": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nOK\n",
        "http10": b"HTTP/1.0 200 OK\r\n\r\nOK\r\nopenssl\t3.0.7-1\tx86_64\tCVE-2024-5535\tHigh\r\n",
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nOK\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                   % (len(EXTRA_TAB), EXTRA_TAB),
    }
    made = {name: servers(RawServer(lambda conn, request, a=a: conn.sendall(a))) for name, a in answers.items()}
    with pytest.raises(VaporError) as exc:
        psend.send(client(), made["broken"].url, REPORT)
    assert exc.value.msg == ("%s?protocol=5 broke off its answer: IncompleteRead(3 bytes read, 97 more expected)."
                             % made["broken"].url)
    reply = psend.send(client(), made["http10"].url, REPORT)
    assert reply["findings"] == [{"name": "openssl", "version": "3.0.7-1", "arch": "x86_64", "cve": "CVE-2024-5535",
                                  "tag": "High"}] and reply["odd_lines"] == 0
    reply = psend.send(client(), made["chunked"].url, REPORT)
    assert reply["findings"] == [] and reply["odd_lines"] == 1       # a finding with an extra field is not one


def test_escape_sequences_in_a_reason_phrase_never_reach_the_output(run_playbook, servers, collectors_ok, ca,
                                                                    inventory):
    def evil(conn, request):
        conn.sendall(b"HTTP/1.1 403 \x1b]0;owned\x07\x1b[2J Forbidden\r\nContent-Length: 0\r\n\r\n")
    bad = servers(RawServer(evil))
    good = collectors_ok
    ev = {"package_report_destinations": [{"name": "good", "url": good.url}, {"name": "evil", "url": bad.url}],
          "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
          "package_report_allow_partial": True, "package_report_retries": 0}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory)
    result = res.result(TASK, "localhost")
    warning = [w for w in result.get("warnings", []) if "'evil'" in w]
    assert warning and "denied access (HTTP 403 ]0;owned [2J Forbidden)" in warning[0]
    assert "\x1b" not in res.stdout + res.stderr and "\\u001b" not in res.stdout


@pytest.fixture
def collectors_ok(ca):
    c = PakitiCollector(ca).start()
    yield c
    c.stop()


# -- findings and secrets -------------------------------------------------------------------------------------


def test_findings_for_filtered_packages_are_never_named(run_playbook, ca, inventory):
    c = PakitiCollector(ca).start()
    try:
        # the collector names a package the site filtered out (it knows it from an earlier, unfiltered report)
        c.state.findings = [("coreutils", "9.1-1", "amd64", "CVE-2024-0001", "High"),
                            ("bash", "5.2.15-2+b2", "amd64", "CVE-2024-0002", "Critical")]
        ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_file),
              "package_report_packager": "dpkg", "package_report_mode": "report-only",
              "package_report_exclude": ["core*"]}
        res = run_playbook(PLAYBOOK, ev, inventory=inventory)
    finally:
        c.stop()
    result = res.result(TASK, "localhost")
    sent = [line.split(b"\t")[0] for line in c.received[0].report.split(b"\n") if b"\t" in line]
    assert b"coreutils" not in sent and b"bash" in sent
    assert result["destinations"][0]["findings"] == [{"name": "bash", "version": "5.2.15-2+b2", "arch": "amd64",
                                                      "cve": "CVE-2024-0002", "tag": "Critical"}]
    assert result["findings"] == 1
    assert ("The destination 'url' answered 1 finding(s) for packages that were filtered out of its report; they "
            "were left out.") in result["warnings"]
    assert "CVE-2024-0001" not in res.stdout + res.stderr


def test_credentials_inside_urls_never_show_even_at_vvv(run_playbook, ca, inventory, tmp_path):
    c = PakitiCollector(ca).start()
    try:
        c.state.behaviour = "status"
        c.state.status = 401
        user_url = c.url.replace("https://", "https://reporter:Pa55w0rd-in-url@") + "?token=T0ken-in-query"
        dest_url = c.url + "?apikey=Ap1key-in-query"
        ev = {"package_report_destinations": [{"name": "a", "url": user_url}, {"name": "b", "url": dest_url}],
              "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
              "package_report_retries": 0}
        res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True, verbosity=3)
    finally:
        c.stop()
    out = res.stdout + res.stderr
    for secret in ("Pa55w0rd-in-url", "T0ken-in-query", "Ap1key-in-query"):
        assert secret not in out, secret
    result = res.result(TASK, "localhost")
    assert sorted(result["failed_destinations"]) == ["a", "b"]
    assert "refused the credentials (HTTP 401" in result["msg"]
    assert len(c.received) == 2                        # both were sent, with their credentials
    assert c.received[0].query.get("token") == "T0ken-in-query"


# -- files -----------------------------------------------------------------------------------------------------


def test_a_fifo_as_input_fails_at_once_and_devices_or_fifos_are_never_written_over(run_playbook, ca, inventory,
                                                                                   tmp_path):
    fifo = tmp_path / "input.fifo"
    os.mkfifo(str(fifo))
    ev = {"package_report_output": str(tmp_path / "out"), "package_report_input": str(fifo)}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True, timeout=300)
    assert res.result(TASK, "localhost")["msg"] == "The input report '%s' is a FIFO, not a regular file." % fifo
    for option in ("package_report_output", "package_report_state_file"):
        target = tmp_path / ("%s.fifo" % option)
        os.mkfifo(str(target))
        ev = {"package_report_output": str(tmp_path / "out"), "package_report_packager": "dpkg", option: str(target)}
        res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True, timeout=300)
        label = "The report file" if option == "package_report_output" else "The state file"
        assert res.result(TASK, "localhost")["msg"] == ("%s '%s' is a FIFO, not a regular file; it is left as it is."
                                                        % (label, target))
        assert stat.S_ISFIFO(os.lstat(str(target)).st_mode)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_as_output_is_left_alone(run_playbook, inventory, tmp_path):
    null = tmp_path / "null"
    os.mknod(str(null), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    ev = {"package_report_output": str(null), "package_report_packager": "dpkg"}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True)
    assert res.result(TASK, "localhost")["msg"] == ("The report file '%s' is a character device, not a regular file; "
                                                    "it is left as it is." % null)
    st = os.lstat(str(null))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


# -- GOCDB -----------------------------------------------------------------------------------------------------


def test_gocdb_host_names_that_are_not_dns_names_stay_out_of_the_inventory(ca, tmp_path):
    dataset = Dataset(
        sites=[Site(11, "VAPOR-ALPHA", "NGI_ALPHA", "Alphaland", "AL")],
        services=[Service(101, "se01.alpha.example.org", "SRM", "VAPOR-ALPHA"),
                  Service(102, "SE01.Alpha.Example.Org.", "webdav", "VAPOR-ALPHA"),
                  Service(103, "-oProxyCommand=touch %s" % (tmp_path / "owned"), "ARC-CE", "VAPOR-ALPHA"),
                  Service(104, "../../etc", "ARC-CE", "VAPOR-ALPHA"),
                  Service(105, "ce 01.alpha.example.org", "ARC-CE", "VAPOR-ALPHA"),
                  Service(106, "ce01.alpha.example.org", "ARC-CE", "VAPOR-ALPHA")],
        downtimes=[])
    server = GocdbServer(ca, dataset=dataset, page_size=2).start()
    try:
        src = tmp_path / "site.gocdb.yml"
        src.write_text(json.dumps({"plugin": "vapor.ops.gocdb", "url": server.url, "ca_path": str(ca.ca_file),
                                   "use_proxy": False, "retries": 0}))
        env = dict(os.environ, ANSIBLE_CONFIG=str(ansible_runner.REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_INVENTORY_UNPARSED_FAILED="1")
        proc = subprocess.run([ansible_runner.ansible_tool("ansible-inventory"), "-i", str(src), "--list"],
                              cwd=str(ansible_runner.REPO), env=env, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    inv = json.loads(proc.stdout)
    hosts = sorted(inv["_meta"]["hostvars"])
    assert hosts == ["ce01.alpha.example.org", "se01.alpha.example.org"]
    se = inv["_meta"]["hostvars"]["se01.alpha.example.org"]
    types = se["gocdb_service_types"]
    types = [t["__ansible_unsafe"] if isinstance(t, dict) else t for t in types]
    assert types == ["SRM", "webdav"]
    warnings = " ".join(proc.stderr.split())
    for name in ("-oProxyCommand=touch", "../../etc", "ce 01.alpha.example.org"):
        assert "GOCDB's host name '%s" % name in warnings
    assert not (tmp_path / "owned").exists()
