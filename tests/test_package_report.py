# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vapor.ops.package_report through playbooks/package_report.yml, against local HTTPS Pakiti collectors
(tests/pakiti_collector.py) with a test CA: what the collector receives is byte for byte the report pakiti-client's
commands give; filters apply before anything is sent and no filtered name shows anywhere; encrypted reports decrypt
with the real openssl; several destinations with one down; findings; older collectors through expect; check mode,
a real run, and a second run that reports no change; bad input ends in one sentence."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess

import pytest

from pakiti_collector import parse_report

PLAYBOOK = "playbooks/package_report.yml"




@pytest.fixture
def inventory(tmp_path):
    import ansible_runner
    return ansible_runner.write_local_inventory(tmp_path / "inventory.yml", group="packages")


def _sh(cmd: str) -> bytes:
    return subprocess.run(["sh", "-c", cmd], check=True, capture_output=True, env=dict(os.environ, LC_ALL="C")).stdout


def _strip(value: bytes) -> str:
    """pakiti-client's header clean-up: trim, collapse whitespace, keep printable ASCII."""
    text = " ".join(value.decode("utf-8", "replace").split())
    return "".join(ch for ch in text if 0x20 <= ord(ch) <= 0x7E)


def expected_dpkg_report(site=None, tag=None) -> bytes:
    """The report pakiti-client 3.0.4 writes on this (Debian) machine, from the commands it runs."""
    packages = _sh("dpkg-query -W --showformat='${Status}=${Package}\\t${Version}\\t${Architecture}\\n'"
                   " | grep '^install ok installed' | sed 's/^[^=]*=//' | sort")
    osr = dict(line.split("=", 1) for line in _sh("cat /etc/os-release").decode().splitlines() if "=" in line)
    system = "%s %s" % (osr["NAME"].replace('"', ""), osr.get("VERSION_ID", "").replace('"', ""))
    headers = {
        "arch": _strip(_sh("uname -m")), "host": _strip(_sh("hostname --fqdn 2>/dev/null || hostname --long "
                                                          "2>/dev/null || uname -n")),
        "kernel": _strip(_sh("uname -r")), "packager": "dpkg", "system": _strip(system.encode()), "version": "1",
    }
    cpu = _sh("grep 'model name' /proc/cpuinfo | sort -u | awk -F ':' '{print$2}' || true")
    if cpu.strip():
        headers["cpu"] = _strip(cpu)
    if site:
        headers["site"] = site
    if tag:
        headers["tag"] = tag
    head = "".join("%s: %s\n" % (k, headers[k]) for k in sorted(headers)).encode()
    return b"#\n" + head + b"#\n" + packages + b"#\n"


def installed_names() -> list[str]:
    lines = _sh("dpkg-query -W --showformat='${Status}=${Package}\\n' | grep '^install ok installed' "
                "| sed 's/^[^=]*=//'")
    return lines.decode().split()


def test_report_is_byte_for_byte_pakiti_clients_and_output_file_the_same(run_playbook, collectors, ca, inventory,
                                                                         tmp_path):
    c = collectors()
    out = tmp_path / "report.txt"
    ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_dir), "package_report_site": "TEST-SITE",
          "package_report_tag": "MWR", "package_report_output": str(out), "package_report_packager": "dpkg"}
    run_playbook(PLAYBOOK, ev, inventory=inventory)
    assert len(c.received) == 1
    rec = c.received[0]
    assert rec.query == {"protocol": "5"} and not rec.encrypted
    assert rec.body == expected_dpkg_report(site="TEST-SITE", tag="MWR")
    assert out.read_bytes() == rec.body
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_filters_apply_before_sending_and_no_filtered_name_shows(run_playbook, collectors, ca, inventory):
    c = collectors()
    names = installed_names()
    ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
          "package_report_include": ["lib*", "python3*"], "package_report_exclude": ["re:-dev$", "libc6"],
          "package_report_kernel": False, "package_report_drop_headers": ["cpu", "system"]}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory)
    headers, lines = parse_report(c.received[0].body)
    assert set(headers) == {"arch", "host", "packager", "version"}
    sent = [ln.split(b"\t")[0].decode() for ln in lines]
    assert sent and all(n.startswith(("lib", "python3")) for n in sent)
    assert not any(n.endswith("-dev") or n == "libc6" or n.startswith("linux-image") for n in sent)
    result = res.result("Collect, filter and send the package report", "localhost")
    assert result["counts"] == {"found": len(names), "sent": len(sent), "filtered": len(names) - len(sent)}
    filtered_out = sorted(set(names) - set(sent))
    assert filtered_out
    everything = res.stdout + res.stderr
    shown = [n for n in filtered_out if len(n) > 6 and ('"%s"' % n in everything or "\t%s\t" % n in everything)]
    assert shown == [], "filtered package names appear in the job output"


def test_encrypted_report_decrypts_with_openssl_to_the_plain_report(run_playbook, collectors, ca, inventory):
    c = collectors()
    ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
          "package_report_encrypt": str(ca.enc_cert), "package_report_site": "ENC"}
    run_playbook(PLAYBOOK, ev, inventory=inventory)
    rec = c.received[0]
    assert rec.encrypted and rec.body[:1] == b"\x30" and b"\ninstall" not in rec.body
    assert rec.headers["Content-Type"] == "application/octet-stream"
    assert rec.report == expected_dpkg_report(site="ENC")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_several_destinations_one_down(run_playbook, collectors, ca, inventory):
    site, csirt = collectors(), collectors()
    csirt.state.findings = [("openssl", "3.0.11-1~deb12u2", "amd64", "CVE-2024-5535", "High")]
    down = "https://127.0.0.1:%d/feed/" % _closed_port()
    dests = [{"name": "site", "url": site.url, "mode": "store-only"},
             {"name": "down", "url": down},
             {"name": "csirt", "url": csirt.url, "mode": "store-and-report", "include": ["openssl", "libssl*"]}]
    ev = {"package_report_destinations": dests, "package_report_ca_path": str(ca.ca_file),
          "package_report_packager": "dpkg", "package_report_retries": 1, "package_report_retry_backoff": 0.1}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True)
    result = res.result("Collect, filter and send the package report", "localhost")
    assert result["msg"] == ("The report did not reach the destination 'down' (1 of 3 failed): The connection to "
                             "%s?protocol=5 was refused (2 tries)." % down)
    assert result["failed_destinations"] == ["down"]
    assert len(site.received) == 1 and len(csirt.received) == 1
    assert site.received[0].query == {"mode": "store-only", "protocol": "5"}
    by_name = {d["name"]: d for d in result["destinations"]}
    assert by_name["csirt"]["findings"] == [{"name": "openssl", "version": "3.0.11-1~deb12u2", "arch": "amd64",
                                             "cve": "CVE-2024-5535", "tag": "High"}]
    assert by_name["site"]["findings"] == [] and by_name["down"]["sent"] is False
    _h, csirt_lines = parse_report(csirt.received[0].body)
    assert all(ln.split(b"\t")[0] == b"openssl" or ln.startswith(b"libssl") for ln in csirt_lines)
    # allow_partial: the same run succeeds, with a warning naming the destination
    ev["package_report_allow_partial"] = True
    res = run_playbook(PLAYBOOK, ev, inventory=inventory)
    result = res.result("Collect, filter and send the package report", "localhost")
    assert result["failed_destinations"] == ["down"]
    assert any("'down'" in w for w in result.get("warnings", []))
    assert len(site.received) == 2


def test_check_mode_then_real_then_no_change(run_playbook, collectors, ca, inventory, tmp_path):
    c = collectors()
    out, state = tmp_path / "r.txt", tmp_path / "state.json"
    ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
          "package_report_output": str(out), "package_report_state_file": str(state),
          "package_report_exclude": ["re:^lib"]}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory, check=True)
    result = res.result("Collect, filter and send the package report", "localhost")
    assert c.received == [] and not out.exists() and not state.exists()
    assert result["changed"] and result["report_size"] > 100 and result["destinations"][0]["sent"] is False
    res = run_playbook(PLAYBOOK, ev, inventory=inventory)
    assert res.changed >= 1 and len(c.received) == 1 and out.read_bytes() == c.received[0].body
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    res = run_playbook(PLAYBOOK, ev, inventory=inventory)
    assert res.changed == 0 and len(c.received) == 2
    artifact = res.json["global_custom_stats"]["vapor_package_report"]["localhost"] if res.json.get(
        "global_custom_stats") else None
    assert artifact is None or artifact["counts"]["sent"] == result["counts"]["sent"]


def test_older_collector_through_expect(run_playbook, collectors, ca, inventory):
    c = collectors()
    c.state.behaviour = "mwr"
    ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
          "package_report_protocol_version": False, "package_report_retries": 0}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True)
    assert res.result("Collect, filter and send the package report", "localhost")["msg"].endswith(
        "is not a Pakiti collector's reply (OK or ERROR) (it is text/plain).")
    ev["package_report_expect"] = "200 th4nk y0u"
    run_playbook(PLAYBOOK, ev, inventory=inventory)
    assert c.received[-1].query == {}


def test_versions_report(run_playbook, collectors, ca, inventory):
    c = collectors()
    c.state.behaviour = "versions"
    dpkg_version = _sh("dpkg-query -W --showformat='${Version}' dpkg").decode()
    ev = {"package_report_destinations": [{"name": "wlcg", "url": c.url, "format": "versions"}],
          "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg", "package_report_host": "se.example.org",
          "package_report_products": {"packaging": "dpkg", "shell": "re:^(bash|dash)$", "nothing": "no-such-package"}}
    res = run_playbook(PLAYBOOK, ev, inventory=inventory)
    triples = json.loads(c.received[0].body)
    assert {"hostname": "se.example.org", "service_type": "packaging", "version": dpkg_version} in triples
    assert {t["service_type"] for t in triples} == {"packaging", "shell"}
    assert all(set(t) == {"hostname", "service_type", "version"} for t in triples)
    result = res.result("Collect, filter and send the package report", "localhost")
    assert result["destinations"][0]["missing_products"] == ["nothing"]
    assert c.received[0].headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("case", ["wrong_ca", "error_500", "html", "bad_pattern", "not_a_report", "expired_cert",
                                  "key_as_cert", "nowhere"])
def test_bad_input_fails_in_one_sentence_and_sends_nothing_wrong(run_playbook, collectors, ca, inventory, tmp_path,
                                                                 case):
    c = collectors()
    ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_file), "package_report_packager": "dpkg",
          "package_report_retries": 1, "package_report_retry_backoff": 0.05}
    expected = {
        "wrong_ca": "The TLS connection to %s?protocol=5 failed (CA directory %s): " % (c.url, ca.other_ca_dir),
        "error_500": "%s?protocol=5 answered HTTP 500 Internal Server Error after 2 tries." % c.url,
        "html": "is not a Pakiti collector's reply (OK or ERROR) (it is text/html).",
        "bad_pattern": "The include pattern 're:(' does not compile: ",
        "not_a_report": "The report file '%s' " % (tmp_path / "x.report"),
        "expired_cert": "The encryption certificate '%s' expired on " % ca.enc_expired_cert,
        "key_as_cert": "The encryption certificate '%s' is not a PEM certificate." % ca.enc_key,
        "nowhere": "The package report has nowhere to go: give url, destinations or output.",
    }[case]
    if case == "wrong_ca":
        ev["package_report_ca_path"] = str(ca.other_ca_dir)
    elif case == "error_500":
        c.state.behaviour = "error"
    elif case == "html":
        c.state.behaviour = "html"
    elif case == "bad_pattern":
        ev["package_report_include"] = ["re:("]
    elif case == "not_a_report":
        (tmp_path / "x.report").write_bytes(b"<html>not a report</html>\n")
        ev["package_report_input"] = str(tmp_path / "x.report")
    elif case == "expired_cert":
        ev["package_report_encrypt"] = str(ca.enc_expired_cert)
    elif case == "key_as_cert":
        ev["package_report_encrypt"] = str(ca.enc_key)
    elif case == "nowhere":
        del ev["package_report_url"]
    res = run_playbook(PLAYBOOK, ev, inventory=inventory, expect_failure=True)
    msg = res.result("Collect, filter and send the package report", "localhost")["msg"]
    assert expected in msg and msg.endswith(".") and "\n" not in msg, msg
    if case in ("bad_pattern", "not_a_report", "expired_cert", "key_as_cert", "nowhere"):
        assert c.received == []  # refused before anything was sent


def test_input_report_sent_byte_for_byte_with_site_replaced(run_playbook, collectors, ca, inventory, tmp_path):
    c = collectors()
    prepared = b"#\narch: x86_64\nhost: wn1.example.org\nsite: OLD\nversion: 1\n#\nbash\t0:5.1-2\tx86_64\n#\n"
    (tmp_path / "edited.report").write_bytes(prepared)
    ev = {"package_report_url": c.url, "package_report_ca_path": str(ca.ca_file),
          "package_report_input": str(tmp_path / "edited.report")}
    run_playbook(PLAYBOOK, ev, inventory=inventory)
    assert c.received[0].body == prepared
    ev["package_report_site"] = "NEW-SITE"
    run_playbook(PLAYBOOK, ev, inventory=inventory)
    assert c.received[1].body == prepared.replace(b"site: OLD", b"site: NEW-SITE")
