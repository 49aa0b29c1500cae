# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# S/MIME encryption of a package report to a collector's certificate, as pakiti-client does it: enveloped data,
# AES-256-CBC, DER, the whole report as binary content — what `openssl smime -decrypt -binary -inform DER` reads.
# With the Python library cryptography when it has PKCS7EnvelopeBuilder, else with the
# openssl command (`openssl smime -encrypt -binary -aes-256-cbc -outform DER`), the command pakiti-client runs.
# The certificate is checked first: it must be one X.509 certificate that is valid now and holds an RSA key.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._pakiti.report import read_regular

try:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    HAS_CRYPTOGRAPHY = True
except ImportError:  # the openssl command does the work then
    HAS_CRYPTOGRAPHY = False

try:
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
    HAS_ENVELOPE = hasattr(pkcs7, 'PKCS7EnvelopeBuilder')
except ImportError:
    HAS_ENVELOPE = False

_PEM_RE = re.compile(b'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', re.S)
OPENSSL_DIRS = ('/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin')


def find_openssl():
    for directory in OPENSSL_DIRS:
        path = os.path.join(directory, 'openssl')
        if os.access(path, os.X_OK):
            return path
    return shutil.which('openssl')


class Recipient(object):
    """A collector's encryption certificate: ``pem`` (bytes), ``what`` (how to name it), ``subject``, ``not_after``."""

    def __init__(self, pem, what, subject=None, not_after=None):
        self.pem = pem
        self.what = what
        self.subject = subject
        self.not_after = not_after


def load_recipient(value, now=None):
    """The certificate of an ``encrypt`` option: a file path, or the PEM text itself (a value with a newline, as
    pakiti-client takes it). Refuses, in one sentence, a file that cannot be read, text that is not one PEM
    certificate, a certificate not valid now, or one without an RSA key."""
    if '\n' in value or value.lstrip().startswith('-----BEGIN'):
        what = 'The encryption certificate given inline'
        data = value.encode('utf-8')
    else:
        what = "The encryption certificate '%s'" % value
        data = read_regular(value, what, 1 << 20)
    found = _PEM_RE.findall(data)
    if not found:
        raise VaporError("%s is not a PEM certificate." % what)
    if len(found) > 1:
        raise VaporError("%s holds %d certificates; give the collector's certificate alone." % (what, len(found)))
    pem = found[0] + b'\n'
    if not HAS_CRYPTOGRAPHY:
        return _check_with_openssl(pem, what, now)
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise VaporError("%s cannot be parsed: %s." % (what, str(exc).rstrip('.')))
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    not_before = _naive(getattr(cert, 'not_valid_before_utc', None) or cert.not_valid_before)
    not_after = _naive(getattr(cert, 'not_valid_after_utc', None) or cert.not_valid_after)
    if now > not_after:
        raise VaporError("%s expired on %s UTC." % (what, not_after.strftime('%Y-%m-%d %H:%M')))
    if now < not_before:
        raise VaporError("%s is not valid before %s UTC." % (what, not_before.strftime('%Y-%m-%d %H:%M')))
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise VaporError("%s does not hold an RSA key, which S/MIME enveloped reports need." % what)
    return Recipient(pem, what, subject=cert.subject.rfc4514_string(), not_after=not_after)


def _naive(moment):
    return moment.replace(tzinfo=None) if moment.tzinfo else moment


def _check_with_openssl(pem, what, now):
    openssl = find_openssl()
    if not openssl:
        raise VaporError("%s cannot be checked: neither the Python library cryptography nor the openssl command "
                         "is available." % what)
    proc = subprocess.run([openssl, 'x509', '-noout', '-subject', '-enddate', '-checkend', '0'],
                          input=pem, capture_output=True, check=False)
    out = proc.stdout.decode('utf-8', 'replace')
    if 'notAfter=' not in out:
        raise VaporError("%s cannot be parsed: %s." % (what, proc.stderr.decode('utf-8', 'replace').strip() or 'openssl refused it'))
    if proc.returncode != 0:
        end = out.split('notAfter=', 1)[1].splitlines()[0].strip()
        raise VaporError("%s expired on %s." % (what, end))
    subject = out.split('subject=', 1)[1].splitlines()[0].strip() if 'subject=' in out else None
    return Recipient(pem, what, subject=subject)


def encrypt(report, recipient, prefer_library=True):
    """The report (bytes) as S/MIME enveloped data (DER, AES-256-CBC) for ``recipient`` (load_recipient())."""
    if prefer_library and HAS_ENVELOPE:
        cert = x509.load_pem_x509_certificate(recipient.pem)
        builder = pkcs7.PKCS7EnvelopeBuilder().set_data(report).add_recipient(cert)
        builder = builder.set_content_encryption_algorithm(algorithms.AES256)
        return builder.encrypt(Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return encrypt_with_openssl(report, recipient)


def encrypt_with_openssl(report, recipient):
    """The same with the openssl command (pakiti-client's way), for hosts whose cryptography is older."""
    openssl = find_openssl()
    if not openssl:
        raise VaporError("%s cannot be used: the report needs the Python library cryptography (with PKCS7EnvelopeBuilder) or the "
                         "openssl command to be encrypted, and the host has neither." % recipient.what)
    workdir = tempfile.mkdtemp(prefix='vapor-pakiti-')
    try:
        cert = os.path.join(workdir, 'recipient.pem')
        with open(cert, 'wb') as handle:
            handle.write(recipient.pem)
        env = dict(os.environ, RANDFILE=os.path.join(workdir, 'rnd'))
        proc = subprocess.run([openssl, 'smime', '-encrypt', '-binary', '-aes-256-cbc', '-outform', 'DER', cert],
                              input=report, capture_output=True, check=False, env=env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode != 0 or not proc.stdout:
        raise VaporError("%s could not be used by openssl smime: %s."
                         % (recipient.what, _last_line(proc.stderr) or 'it wrote nothing'))
    return proc.stdout


def _last_line(data):
    lines = data.decode('utf-8', 'replace').strip().splitlines()
    return lines[-1].strip().rstrip('.') if lines else ''
