# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  db:
    description:
      - Connection settings of a namespace database (DPM/LFC C(cns_db) on MySQL/MariaDB, dCache Chimera on PostgreSQL).
      - Values not given are read from O(db.config_file) when it is set.
    type: dict
    suboptions:
      host:
        description: Database server host name.
        type: str
        default: localhost
      port:
        description: Database server port (default 3306 for MySQL/MariaDB, 5432 for PostgreSQL).
        type: int
      user:
        description: Database user; a read-only account is enough.
        type: str
      password:
        description: Password of O(db.user).
        type: str
      database:
        description: Database name (default C(cns_db) for DPM/LFC, C(chimera) for dCache).
        type: str
      unix_socket:
        description:
          - Path of the server's Unix socket (MySQL/MariaDB), or the socket directory (PostgreSQL).
          - When set it is used instead of O(db.host) and O(db.port).
        type: path
      config_file:
        description:
          - A DPM/LFC C(NSCONFIG) or C(DPMCONFIG) file holding C(user/password@host[/database]), such as
            C(/usr/etc/NSCONFIG).
        type: path
      connect_timeout:
        description: Seconds to wait for the connection.
        type: int
        default: 30
"""
