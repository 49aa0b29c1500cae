# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A test certificate authority the tests make for themselves: a CA (as a file and as a directory of hashed
certificates, the way /etc/grid-security/certificates is laid out), a server certificate for 127.0.0.1, a client
certificate, a proxy-style PEM (certificate + key + chain in one file), encryption certificates for a Pakiti
collector (valid and expired), and a second CA that verifies nothing of the first."""
from __future__ import annotations

import datetime
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vapor.ops tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _issue(subject_cn, key, issuer_name, issuer_key, *, ca=False, days=(-1, 30), san=None, usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject_cn)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days[0]))
               .not_valid_after(now + datetime.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                      key_encipherment=False, data_encipherment=False,
                                                      key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                      encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if issuer_key is not key:
        # RFC 5280 wants it in every certificate a CA issues; Python 3.13's default TLS context (VERIFY_X509_STRICT)
        # refuses a server certificate without it
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class TestCA:
    root: Path
    ca_file: Path
    ca_dir: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_pem: Path          # certificate + key + CA chain in one file, laid out like a grid proxy
    client_dn: str
    enc_cert: Path            # a Pakiti collector's encryption certificate
    enc_key: Path
    enc_expired_cert: Path
    enc_expired_key: Path
    other_ca_file: Path       # a CA that signed none of the above
    other_ca_dir: Path


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def make_test_ca(root: Path) -> TestCA:
    root.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("vapor.ops test CA")
    ca = _issue("vapor.ops test CA", ca_key, ca_name, ca_key, ca=True, days=(-1, 365))
    ca_file = _write(root / "ca.pem", _pem_cert(ca))
    ca_dir = root / "certificates"
    ca_dir.mkdir(exist_ok=True)
    _write(ca_dir / "vapor-test-ca.pem", _pem_cert(ca))
    subprocess.run(["openssl", "rehash", str(ca_dir)], check=True, capture_output=True)

    server_key = _key()
    server = _issue("localhost", server_key, ca_name, ca_key,
                    san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                    usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    client_key = _key()
    client = _issue("vapor test user", client_key, ca_name, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    enc_key = _key()
    enc = _issue("pakiti collector", enc_key, ca_name, ca_key, days=(-1, 365))
    old_key = _key()
    old = _issue("pakiti collector (expired)", old_key, ca_name, ca_key, days=(-400, -30))

    other_key = _key()
    other_name = _name("another CA")
    other = _issue("another CA", other_key, other_name, other_key, ca=True, days=(-1, 365))
    other_dir = root / "other-certificates"
    other_dir.mkdir(exist_ok=True)
    _write(other_dir / "other.pem", _pem_cert(other))
    subprocess.run(["openssl", "rehash", str(other_dir)], check=True, capture_output=True)

    return TestCA(
        root=root, ca_file=ca_file, ca_dir=ca_dir,
        server_cert=_write(root / "server.pem", _pem_cert(server) + _pem_cert(ca)),
        server_key=_write(root / "server.key", _pem_key(server_key), 0o600),
        client_cert=_write(root / "client.pem", _pem_cert(client)),
        client_key=_write(root / "client.key", _pem_key(client_key), 0o600),
        client_pem=_write(root / "x509up", _pem_cert(client) + _pem_key(client_key) + _pem_cert(ca), 0o600),
        client_dn="/O=vapor.ops tests/CN=vapor test user",
        enc_cert=_write(root / "collector.pem", _pem_cert(enc)),
        enc_key=_write(root / "collector.key", _pem_key(enc_key), 0o600),
        enc_expired_cert=_write(root / "collector-expired.pem", _pem_cert(old)),
        enc_expired_key=_write(root / "collector-expired.key", _pem_key(old_key), 0o600),
        other_ca_file=_write(root / "other-ca.pem", _pem_cert(other)),
        other_ca_dir=other_dir,
    )
