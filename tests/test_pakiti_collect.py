# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The package collection against the real rpm and dpkg-query: byte for byte what pakiti-client's commands give.

pakiti-client 3.0.4 runs ``rpm -qa --queryformat ...`` (or ``dpkg-query -W --showformat ...``), rewrites
``(none):`` epochs, drops ``gpg-pubkey`` (or keeps ``install ok installed``) and sorts with Perl's byte-order sort.
Here the same steps run as a shell pipeline (``LC_ALL=C sort`` is the byte order) on a real RPM database built by
tests/rpmdb.py (epochs none/0/non-zero, x86_64/i686/noarch, two versions of a name, a real imported gpg key) and on
this machine's dpkg database, and the report collect() makes must be the same bytes. The headers come from the
real commands too (uname, hostname, /proc/cpuinfo, /etc/os-release), cleaned by an independent shell version of
pakiti-client's strip().
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import rpmdb
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.collect import collect
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.filters import Filters
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.report import format_report, parse_report
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.versions import versions_report

HAVE_GPG = shutil.which("gpg") is not None
pytestmark = pytest.mark.skipif(not (shutil.which("rpm") and shutil.which("rpmbuild") and shutil.which("dpkg-query")),
                                reason="rpm, rpmbuild and dpkg-query are needed")

RPM_PIPELINE = (r"rpm --dbpath '%s' -qa --queryformat '%%{NAME}\t%%{EPOCH}:%%{VERSION}-%%{RELEASE}\t%%{ARCH}\n'"
                r" | sed 's/\t(none):/\t0:/' | grep -v $'^gpg-pubkey\t' | LC_ALL=C sort")
DPKG_PIPELINE = (r"dpkg-query %s -W --showformat='${Status}=${Package}\t${Version}\t${Architecture}\n'"
                 r" | { grep '^install ok installed' || true; } | sed 's/^[^=]*=//' | LC_ALL=C sort")

# The headers as pakiti-client finds them, from the real commands; s() is strip(): whitespace runs to one space,
# trimmed, then everything outside 0x20-0x7e deleted.
HEADERS_SCRIPT = r"""
set -o pipefail
s() { tr -s ' \t\n\v\f\r' ' ' | sed 's/^ //; s/ $//' | tr -cd '\040-\176'; }
host=$(hostname --fqdn 2>/dev/null | s) && [ -n "$host" ] || host=$(hostname --long 2>/dev/null | s) \
    && [ -n "$host" ] || host=$(uname -n | s)
if [ -f /etc/redhat-release ]; then system=$(s < /etc/redhat-release)
elif [ -f /etc/fedora-release ]; then system=$(s < /etc/fedora-release)
else system=$(sed 's/"//g' /etc/os-release | awk -F= '$1=="NAME"{n=$2} $1=="VERSION_ID"{v=$2} END{print n" "v}' | s)
fi
printf 'arch\t%s\n' "$(uname -m | s)"
printf 'cpu\t%s\n' "$(grep "model name" /proc/cpuinfo | LC_ALL=C sort -u | awk -F ":" '{print$2}' | s)"
printf 'host\t%s\n' "$host"
printf 'kernel\t%s\n' "$(uname -r | s)"
printf 'system\t%s\n' "$system"
"""


def _sh(script):
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _expected_report(packager, package_block, **extra):
    headers = dict(line.split("\t", 1) for line in _sh(HEADERS_SCRIPT).decode().splitlines())
    if not headers["cpu"]:
        del headers["cpu"]
    headers.update(packager=packager, version="1", **extra)
    text = "#\n" + "".join("%s: %s\n" % (k, headers[k]) for k in sorted(headers)) + "#\n"
    return text.encode() + package_block + b"#\n"


@pytest.fixture(scope="module")
def rpm_db(tmp_path_factory):
    return rpmdb.prepared_rpmdb(tmp_path_factory.getbasetemp(), gpg_keys=1 if HAVE_GPG else 0)


@pytest.fixture
def empty_rpm_db(tmp_path):
    db = tmp_path / "emptydb"
    db.mkdir()
    subprocess.run(["rpm", "--dbpath", str(db), "--initdb"], check=True)
    return db


def test_the_rpm_database_is_what_the_comparison_needs(rpm_db):
    """The database really holds what makes the comparison worth something, in rpm's own (unsorted) order."""
    raw = rpmdb.query_rpmdb(rpm_db)
    lines = raw.splitlines()
    assert len(lines) == len(rpmdb.FIXTURE_PACKAGES) + (1 if HAVE_GPG else 0)
    assert b"\t(none):" in raw and b"\t0:2013.0523" in raw and b"\t1:5.7.0" in raw
    assert {line.rsplit(b"\t", 1)[1] for line in lines} >= {b"x86_64", b"i686", b"noarch"}
    assert lines != sorted(lines)
    if HAVE_GPG:
        assert [line for line in lines if line.startswith(b"gpg-pubkey\t")][0].endswith(b"\t(none)")


def test_rpm_report_is_byte_identical_to_pakiti_clients(rpm_db):
    inv = collect(packager="rpm", rpm_dbpath=str(rpm_db), site=" MY-SITE ", tag="MWR")
    report = format_report(inv.headers, inv.packages)
    expected = _expected_report("rpm", _sh(RPM_PIPELINE % rpm_db), site="MY-SITE", tag="MWR")
    assert report == expected
    assert b"gpg-pubkey\t" not in report and b"gpg-pubkey-helper\t0:1.0~rc1-1.el9\tnoarch\n" in report
    assert b"perl-Text-Tabs+Wrap\t0:2013.0523-460.el9\tnoarch\n" in report
    assert b"xrootd\t1:5.6.9-1.el9\tx86_64\nxrootd\t1:5.7.0-1.el9\tx86_64\nxrootd-server\t" in report
    assert inv.warnings == [] and inv.skipped == []
    assert parse_report(report, "collected")[0] == inv.headers


def test_auto_takes_rpm_before_dpkg(rpm_db):
    """This host has a non-empty dpkg database too: rpm is tried first and wins."""
    inv = collect(rpm_dbpath=str(rpm_db))
    assert inv.packager == "rpm" and inv.skipped == []
    assert len(inv.packages) == len(rpmdb.FIXTURE_PACKAGES)


def test_dpkg_report_is_byte_identical_to_pakiti_clients():
    inv = collect(packager="dpkg")
    expected = _expected_report("dpkg", _sh(DPKG_PIPELINE % ""))
    assert format_report(inv.headers, inv.packages) == expected
    assert len(inv.packages) > 100


def test_auto_falls_back_to_dpkg_when_rpm_lists_nothing(empty_rpm_db):
    inv = collect(rpm_dbpath=str(empty_rpm_db), host="wn1.example.org")
    assert inv.packager == "dpkg"
    assert inv.skipped == ["rpm listed no installed package"]
    assert format_report({}, inv.packages)[4:] == _sh(DPKG_PIPELINE % "") + b"#\n"


def test_forced_rpm_on_an_empty_database_fails(empty_rpm_db):
    with pytest.raises(VaporError) as exc:
        collect(packager="rpm", rpm_dbpath=str(empty_rpm_db))
    assert exc.value.msg == "No package list for this host: rpm listed no installed package."


STANZA = """Package: %s
Status: %s
Priority: optional
Section: misc
Installed-Size: 1
Maintainer: vapor.ops tests <test@example.org>
Architecture: all
Version: %s
Description: a vapor.ops test package
 test
"""


def test_held_and_removed_packages_are_not_reported(tmp_path):
    admindir = tmp_path / "dpkg"
    (admindir / "updates").mkdir(parents=True)
    (admindir / "info").mkdir()
    status = Path("/var/lib/dpkg/status").read_text(encoding="utf-8", errors="surrogateescape").rstrip("\n")
    status += "\n\n" + "\n".join([
        STANZA % ("vapor-held", "hold ok installed", "1.0-1"),
        STANZA % ("vapor-removed", "deinstall ok config-files", "2.0-1")
        + "Conffiles:\n /etc/vapor-removed.conf 0123456789abcdef0123456789abcdef\n",
        STANZA % ("vapor-present", "install ok installed", "1:3.0-1"),
    ])
    (admindir / "status").write_text(status, encoding="utf-8", errors="surrogateescape")
    raw = _sh("dpkg-query --admindir '%s' -W --showformat='${Status}=${Package}\\n'" % admindir)
    assert b"hold ok installed=vapor-held\n" in raw and b"deinstall ok config-files=vapor-removed\n" in raw

    inv = collect(packager="dpkg", dpkg_admindir=str(admindir))
    names = [p[0] for p in inv.packages]
    assert ("vapor-present", "1:3.0-1", "all") in inv.packages
    assert "vapor-held" not in names and "vapor-removed" not in names
    assert format_report({}, inv.packages)[4:] == _sh(DPKG_PIPELINE % ("--admindir '%s'" % admindir)) + b"#\n"


def test_filters_and_versions_on_the_real_database(rpm_db):
    inv = collect(packager="rpm", rpm_dbpath=str(rpm_db))
    headers, packages, counts = Filters(kernel=False, exclude=["re:^python3"]).apply(inv.headers, inv.packages)
    assert "kernel" not in headers
    assert not [p for p in packages if p[0].startswith(("kernel", "python3"))]
    assert counts == {"found": 23, "sent": 16, "filtered": 7}
    entries, missing = versions_report(inv.headers["host"], {"xrootd": "xrootd", "perl": "perl-*", "dcache": "dcache",
                                                             "storm": "storm-*"}, inv.packages)
    assert [(e["service_type"], e["version"]) for e in entries] == [
        ("dcache", "9.2.11-1"), ("perl", "2013.0523-460.el9"), ("xrootd", "1:5.6.9-1.el9"), ("xrootd", "1:5.7.0-1.el9")]
    assert missing == ["storm"]


def test_a_thousand_synthetic_packages(tmp_path_factory):
    """Byte order over many names (upper case, digits, '+', '-', '.', duplicates across archs and versions)."""
    db = rpmdb.prepared_rpmdb(tmp_path_factory.getbasetemp(), name="synthetic1000",
                              packages=rpmdb.synthetic_packages(1000), gpg_keys=0)
    inv = collect(packager="rpm", rpm_dbpath=str(db), host="h")
    assert len(inv.packages) == 1000
    assert format_report({}, inv.packages)[4:] == _sh(RPM_PIPELINE % db) + b"#\n"
