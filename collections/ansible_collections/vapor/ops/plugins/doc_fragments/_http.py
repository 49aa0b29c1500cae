# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # the one HTTP client for grid services (module_utils/_clients/http.py, HTTP_OPTIONS)
    DOCUMENTATION = r"""
options:
  validate_certs:
    description:
      - Verify the server's TLS certificate and host name. Turn this off only for a test server.
    type: bool
    default: true
  ca_path:
    description:
      - A file of CA certificates, or a directory of hashed CA certificates (as C(openssl rehash) makes them), that
        verifies the servers.
      - If not set, the environment variable C(X509_CERT_DIR) is used. Without either, servers are verified against
        the default CA bundle (C(REQUESTS_CA_BUNDLE), else the one requests comes with) together with
        C(/etc/grid-security/certificates) when the host has that directory (the IGTF CAs of grid hosts).
      - A path given here is the only one used.
    type: path
  client_cert:
    description:
      - A PEM file with the X.509 client certificate (and its key, when O(client_key) is not set).
      - If not set, the environment variable C(X509_USER_CERT) is used.
      - O(proxy_file) wins when both are set.
    type: path
  client_key:
    description:
      - The PEM file with the key of O(client_cert), not protected by a passphrase.
      - If not set, the environment variable C(X509_USER_KEY) is used.
    type: path
  proxy_file:
    description:
      - An X.509 proxy (certificate, key and chain in one PEM file, as C(voms-proxy-init) writes it) for client
        authentication.
      - If not set, the environment variable C(X509_USER_PROXY) is used.
    type: path
  token:
    description:
      - A bearer token sent in the C(Authorization) header. It never appears in results or messages.
      - If not set, the environment variable C(BEARER_TOKEN) is used. It wins over O(token_file).
    type: str
  token_file:
    description:
      - A file holding one bearer token (as C(oidc-token) or C(htgettoken) write it).
      - If not set, the environment variable C(BEARER_TOKEN_FILE) is used.
    type: path
  use_proxy:
    description:
      - Use the HTTP(S) proxy of the environment (C(https_proxy), C(http_proxy), C(no_proxy)).
    type: bool
    default: true
  proxy_url:
    description:
      - An HTTP(S) proxy for every request (for example V(http://proxy.example.org:3128)), in place of the
        environment's. Credentials in it never appear in messages.
    type: str
  connect_timeout:
    description:
      - Seconds to wait for a connection to the server.
    type: float
    default: 10.0
  timeout:
    description:
      - Seconds to wait for the server's answer once connected.
      - The status line and headers of the answer must all have arrived within O(connect_timeout) + O(timeout)
        seconds of the request, and its body within O(timeout) seconds of its headers, however the server paces
        them (a server that sends a byte now and then does not hold the task).
    type: float
    default: 60.0
  retries:
    description:
      - How many times a request is tried again after a failed connection or an HTTP 5xx answer, waiting
        O(retry_backoff) seconds, then twice as long each time (at most 30 seconds). An HTTP 4xx answer is never
        retried, nor is a request that is not safe to repeat (a report that was sent) after a read timeout.
    type: int
    default: 3
  retry_backoff:
    description:
      - Seconds to wait before the first retry.
    type: float
    default: 2.0
requirements:
  - requests (Python library, on the host that sends the requests)
notes:
  - Every request names the client as C(vapor.ops/VERSION) in its User-Agent.
  - A failure ends in one sentence that names the URL (without credentials) and the cause; with a TLS failure,
    it names the CA file or directory used.
"""
