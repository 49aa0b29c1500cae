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
  catalog:
    description:
      - The file catalog, an LFC or DPM-DPNS namespace (the C(Cns_*) tables of schema 3.2.0).
      - V(mysql) is a real LFC or DPM head node's C(cns_db) on MySQL or MariaDB; V(sqlite) is a file with the same
        tables and columns, the embedded default used by the demo and by small VOs.
      - For V(mysql), values not given are read from O(catalog.config_file) when it is set.
    type: dict
    required: true
    suboptions:
      backend:
        description: Where the catalog lives.
        type: str
        choices: [sqlite, mysql]
        default: sqlite
      path:
        description: The SQLite catalog file (O(catalog.backend=sqlite)). It must exist.
        type: path
      host:
        description: Database server host name (V(mysql)); default C(localhost).
        type: str
      port:
        description: Database server port (V(mysql)); default 3306.
        type: int
      user:
        description: Database user (V(mysql)). Reading needs C(SELECT); the cleanup also needs C(DELETE) and C(UPDATE).
        type: str
      password:
        description: Password of O(catalog.user).
        type: str
      database:
        description: Database name (V(mysql)); default C(cns_db).
        type: str
      unix_socket:
        description: Path of the server's Unix socket (V(mysql)); used instead of O(catalog.host) and O(catalog.port).
        type: path
      config_file:
        description:
          - An LFC/DPM C(NSCONFIG) file holding C(user/password@host[/database]), such as C(/usr/etc/NSCONFIG).
        type: path
      connect_timeout:
        description: Seconds to wait for the database connection.
        type: int
        default: 30
notes:
  - The V(mysql) back end needs C(MySQLdb) (C(python3-mysqlclient) on EL, C(python3-mysqldb) on Debian) or C(PyMySQL).
"""

    STORAGE_ELEMENT = r"""
options:
  se:
    description:
      - The storage element whose replicas are meant, as the replica's C(host) column holds it (the SE host name in
        an LFC; the disk server in DPM). Compared without case (host names are case-insensitive).
      - At least one of O(se) and O(sfn_prefix) is needed; when both are set a replica must match both.
    type: str
  sfn_prefix:
    description:
      - Select the replicas whose SFN starts with this text, such as C(srm://se.example.org:8446/srm/managerv2?SFN=/dpm/example.org/home/vo/).
      - "Other spellings of the same place are selected too, so that no replica escapes by its spelling: the host in
        any case, the scheme's default port given or left out (srm 8446, root 1094, https/davs 443, http 80, gsiftp
        2811), SRM's C(?SFN=) or plain form, and a path with repeated slashes, C(.) or C(..) components."
    type: str
  strip_prefix:
    description:
      - Leading path removed from the storage path of every SFN (matched component by component), as
        C(vapor.ops.se_dump) does with storage paths; replicas outside it are left out and counted.
      - "The storage path of an SFN is the path after the host: C(srm://h/srm/managerv2?SFN=/p), C(srm://h/p),
        C(root://h//p), C(davs://h/p), C(https://h/p), C(gsiftp://h/p), C(file:///p), and DPM's C(diskserver:/p)
        all give C(/p)."
      - Repeated slashes and C(.) components are dropped and C(..) is resolved; an SFN whose C(..) climbs above the
        root is in no known form (left out of a catalog dump and counted; it protects the files whose name it holds
        from M(vapor.ops.dark_data_cleanup)).
    type: str
  add_prefix:
    description: A prefix put in front of every path after O(strip_prefix) was removed.
    type: str
"""
