# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local Pakiti collector for the tests: the protocol-5 feed as ../shared/reference/pakiti.md §2 documents it.

POST body = the report (plain text, or S/MIME enveloped DER that the collector decrypts with the real
`openssl smime -decrypt -binary -inform DER -inkey KEY`, as pakiti-server does); query `protocol` (default 5; 4 and
5 accepted, anything else is an error), `mode` (store-only, store-and-report, report-only, or the legacy 0/1/2).
Success: 200 with `OK\\n` followed, for a reporting mode over HTTPS, by one finding line per tagged CVE
(`name\\tversion-release\\tarch\\tCVE\\tTAG`). Any error: `ERROR` with HTTP 500. Every request is recorded.

Behaviours the tests switch on: 'pakiti' (the above), 'error' (always ERROR/500), 'html' (a 200 HTML page, as a
portal or a captive proxy answers), 'mwr' (the WLCG MW Readiness collector: 200 with body `th4nk y0u`), 'status'
(a given status and body), 'versions' (accepts only a version-only report, a JSON array of triples), 'hang' (waits `hang_seconds` before answering).
"""
from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from testca import TestCA

MODES = {"0": "store-only", "1": "store-and-report", "2": "report-only",
         "store-only": "store-only", "store-and-report": "store-and-report", "report-only": "report-only"}


@dataclass
class Received:
    path: str
    query: dict
    headers: dict
    body: bytes
    report: bytes | None = None
    encrypted: bool = False
    mode: str | None = None
    client_dn: str | None = None
    error: str | None = None


@dataclass
class CollectorState:
    behaviour: str = "pakiti"
    findings: list = field(default_factory=list)   # (name, version-release, arch, cve, tag)
    status: int = 200
    body: bytes = b""
    hang_seconds: float = 0.0
    received: list = field(default_factory=list)


def _looks_binary(data: bytes) -> bool:
    """libmagic calls a DER blob application/octet-stream: bytes a text file does not have."""
    if b"\0" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def parse_report(report: bytes) -> tuple[dict, list[bytes]]:
    """pakiti-server's reading: first line '#', 'key: value' headers until the next '#', then package lines."""
    lines = report.split(b"\n")
    if not lines or lines[0].strip() != b"#":
        raise ValueError("Bad format of the report, it should start with #")
    headers, i = {}, 1
    while i < len(lines) and lines[i].strip() != b"#":
        key, _sep, value = lines[i].partition(b":")
        headers[key.strip().decode()] = value.strip().decode("utf-8", "replace")
        i += 1
    packages = [ln for ln in lines[i + 1:] if ln and ln.strip() != b"#"]
    return headers, packages


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakePakiti/3"

    def log_message(self, *args):
        """Quiet: the tests read what the server recorded, not its log."""

    def _reply(self, status, body, ctype="text/plain", reason=None):
        self.send_response(status, reason)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply(405, b"POST a report\n")

    def do_POST(self):
        coll: PakitiCollector = self.server.collector
        st = coll.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        dn = None
        try:
            peer = self.connection.getpeercert()
            if peer:
                dn = "/" + "/".join("%s=%s" % (k if k != "organizationName" else "O", v)
                                    for rdn in peer.get("subject", ()) for k, v in rdn).replace("commonName", "CN")
        except (AttributeError, ValueError):
            dn = None
        rec = Received(path=parsed.path, query=query, headers=dict(self.headers.items()), body=body, client_dn=dn)
        with coll.lock:
            st.received.append(rec)
        if st.hang_seconds:
            time.sleep(st.hang_seconds)
        if st.behaviour == "error":
            return self._reply(500, b"ERROR")
        if st.behaviour == "html":
            return self._reply(200, b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>\n", "text/html")
        if st.behaviour == "status":
            return self._reply(st.status, st.body)
        if st.behaviour == "versions":
            # a collector of version-only reports: a JSON array of {hostname, service_type, version}
            try:
                rec.report, rec.encrypted = coll.decrypt(body)
                triples = json.loads(rec.report)
                if not isinstance(triples, list) or not all(
                        isinstance(t, dict) and set(t) == {"hostname", "service_type", "version"} for t in triples):
                    raise ValueError("not a list of triples")
            except (ValueError, RuntimeError) as exc:
                rec.error = str(exc)
                return self._reply(500, b"ERROR")
            return self._reply(200, b"OK\n")
        if st.behaviour == "mwr":
            rec.report, rec.encrypted = coll.decrypt(body)
            return self._reply(200, b"th4nk y0u", reason="th4nk y0u")
        try:
            protocol = query.get("protocol") or query.get("version") or "5"
            if protocol not in ("4", "5"):
                raise ValueError("Unsupported protocol version")
            mode = MODES.get(query.get("mode") or query.get("report") or "store-only")
            if mode is None:
                raise ValueError("Unsupported mode")
            rec.mode = mode
            if not body:
                raise ValueError("empty report")
            rec.report, rec.encrypted = coll.decrypt(body)
            parse_report(rec.report)
        except (ValueError, RuntimeError) as exc:
            rec.error = str(exc)
            return self._reply(500, b"ERROR")
        out = b"OK\n"
        if mode != "store-only" and coll.tls:
            out += b"".join(("\t".join(f) + "\n").encode() for f in st.findings)
        return self._reply(200, out)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that gave up (a timeout test) is not news."""


class PakitiCollector:
    """Start with start(); url is the feed URL; state.received records every request."""

    def __init__(self, ca: TestCA, tls: bool = True, client_ca: bool = True, path: str = "/pakiti/feed/"):
        self.ca = ca
        self.tls = tls
        self.path = path
        self.state = CollectorState()
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.collector = self
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(ca.server_cert), str(ca.server_key))
            if client_ca:
                ctx.load_verify_locations(cafile=str(ca.ca_file))
                ctx.verify_mode = ssl.CERT_OPTIONAL
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = None

    @property
    def url(self) -> str:
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, self.path)

    @property
    def received(self) -> list:
        return self.state.received

    def start(self) -> "PakitiCollector":
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def decrypt(self, body: bytes) -> tuple[bytes, bool]:
        """The report: the body itself, or the body decrypted by the real openssl when it looks binary."""
        if not _looks_binary(body):
            return body, False
        with tempfile.TemporaryDirectory() as tmp:
            blob = Path(tmp) / "in.der"
            blob.write_bytes(body)
            proc = subprocess.run(["openssl", "smime", "-decrypt", "-binary", "-inform", "DER",
                                   "-inkey", str(self.ca.enc_key), "-in", str(blob)],
                                  capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError("Cannot run openssl smime: %s" % proc.stderr.decode(errors="replace").strip())
        return proc.stdout, True
