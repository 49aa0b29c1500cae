#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: se_dump
short_description: Produce and publish a storage dump of one storage element
version_added: 0.1.0
description:
  - Scans one storage element and writes a dump of its files in a format the VO's consistency tools already read
    (Rucio auditor text, CMS pipe format, or the syncat XML), then publishes it atomically in O(dest).
  - "Scanners: a mounted file system (O(source=posix)), a remote XRootD server (O(source=xrootd)), the DPM/DPNS
    namespace database (O(source=dpm)) or the dCache Chimera database (O(source=dcache))."
  - The dump is written to a temporary file next to its final name and renamed into place; a C(latest) link is
    updated and dumps beyond O(keep) are removed. Nothing is published when the scan fails, when more directories
    failed than O(max_errors), or when fewer than O(min_files) files were found.
  - A run that finds the same content as the dump already published under today's name keeps that dump and reports
    no change, whatever order the parallel scan produced.
  - "Names a format cannot carry are left out with a warning: a line break in V(text); a line break or C(|) in V(cms);
    control characters other than tab, line feed and carriage return in V(syncat) (which writes those three as
    character references); and, in every format, names that are not valid UTF-8."
  - Dates in file names and in the syncat C(recorded) attribute are in UTC.
  - "File modes: the published dump gets O(mode), the mode the site sets, also when an unchanged dump is kept
    (that is a change, reported once). While it is written, the temporary file is C(0600), so a dump is never
    readable by others before it is published. Modes beyond C(0777) (setuid, setgid, sticky) and modes without
    read permission for the owner are refused."
  - "A dump never lists its own files. With O(source=posix), a O(dest) inside a root is left out of the scan and
    said so in RV(left_out) and a warning; a O(dest) that is a root itself is refused. With the other sources
    O(dest) is a local directory, which can still be inside the scanned namespace (a directory the XRootD server
    exports, a dCache NFS mount): a real run that finds its own temporary file in the scan refuses and publishes
    nothing (leave the directory out with O(ignore)). Check mode cannot see this for those sources, as it writes
    no temporary file."
  - Runs at the same time on the same O(dest) both succeed; the last to finish publishes a complete dump. The
    role's scheduled runner also holds a lock, so a second scheduled run is refused while one is going.
  - A run killed mid-way publishes nothing; the temporary file and the scratch directory of the parallel scan it
    leaves in O(dest) are removed by a later run once they have not changed for two days (RV(stale_removed)).
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
  - vapor.ops._progress
  - vapor.ops._db
attributes:
  check_mode:
    support: full
    details:
      - Check mode scans the storage and reports the counts and what would be published, renamed and pruned, and
        writes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows the dumps present in O(dest), the target of the C(latest) link, and the number of files and
        the mode of today's dump, before and after.
  idempotent:
    support: full
    details:
      - A second run on the same day with unchanged storage reports no change. With O(min_age), files that become old
        enough between two runs are a real change.
options:
  source:
    description: Which scanner reads the storage.
    type: str
    choices: [posix, xrootd, dpm, dcache]
    default: posix
  url:
    description:
      - The XRootD server for O(source=xrootd), as C(root://host[:port]). A path after it
        (C(root://host:1094//store)) is the root to scan when O(roots) is empty.
    type: str
  roots:
    description:
      - Directories to scan. Absolute paths on the mounted file system for V(posix); paths on the server for
        V(xrootd); namespace paths (such as C(/dpm/example.org/home/vo)) for V(dpm) and V(dcache), where the default
        is the whole namespace.
      - Every root must exist and be readable, or the module fails.
    type: list
    elements: str
    default: []
  ignore:
    description:
      - Regular expressions; a file whose path, after O(strip_prefix) was removed and before O(add_prefix) is added,
        matches any of them (searched anywhere in the path; anchor with C(^)) is left out and counted as ignored.
    type: list
    elements: str
    default: []
  min_age:
    description:
      - Leave out files modified more recently than this, as seconds or with a unit (V(3600), V(12h), V(7d), V(2w)),
        so files still being transferred are never published.
    type: str
    default: '0'
  strip_prefix:
    description:
      - A leading path removed from every file path, matched component by component (repeated slashes do not
        matter). Files outside it are left out and counted.
    type: str
  add_prefix:
    description: A prefix put in front of every path after O(strip_prefix) was removed.
    type: str
  format:
    description:
      - V(text) is one path a line, as the Rucio auditor reads.
      - V(cms) is C(path|size|mtime|adler32), with C(N/A) when the checksum is unknown.
      - V(syncat) is the dCache/CMS XML with C(<entry name>), C(<size>), C(<mtime>) and C(<checksum>).
    type: str
    choices: [text, cms, syncat]
    default: text
  compression:
    description: Compression of the published dump. Readers in this collection detect it from the content.
    type: str
    choices: [none, gzip, bzip2]
    default: none
  compression_suffix:
    description:
      - Add C(.gz) or C(.bz2) to the file name when compressing.
      - The Rucio auditor parses listed names with the pattern C(dump_%Y%m%d) and detects compression from the
        content, so set V(false) for dumps it lists.
    type: bool
    default: true
  dest:
    description:
      - The directory dumps are published in. It must exist, be a directory and be writable by the user the module
        runs as (checked in check mode too); the role C(vapor.ops.storage_dump) creates it with the right owner and
        permissions.
      - It may be inside a O(roots) directory of a V(posix) scan (it is then left out of the scan), but not be one.
      - To be found by the Rucio auditor without configuration, this is the C(dumps) directory next to the VO's
        C(rucio) directory on the storage (C(<prefix without rucio/>/dumps)).
    type: path
    required: true
  name:
    description:
      - File name pattern, with C(strftime) date codes (numeric codes only), before any compression suffix.
    type: str
    default: dump_%Y%m%d
  keep:
    description: How many dumps of this name pattern to keep in O(dest), newest first; V(0) keeps all.
    type: int
    default: 0
  min_files:
    description:
      - Fail, and publish nothing, when fewer files than this were found, so an unmounted or emptied area never
        publishes an empty dump.
      - With V(posix), a root that is an empty directory (as an unmounted mount point is) also fails the run, even
        when the other roots hold enough files, since all its files would look lost. V(0) allows both.
    type: int
    default: 1
  latest_link:
    description:
      - Name of the symbolic link in O(dest) that points at the newest dump; an empty string disables it.
      - A plain file name (no C(/), not C(.) or C(..)), so the link lives next to the dumps. An existing file or
        directory of that name is refused before anything is published.
    type: str
    default: latest
  workers:
    description:
      - Parallelism of the scan. Processes across directories for V(posix) (default the number of CPUs, at most 4);
        directory listings in flight for V(xrootd) (default 8). The database scanners use one connection.
      - From 1 to 256.
    type: int
  timeout:
    description: Seconds one XRootD directory listing may take before it is retried.
    type: int
    default: 300
  retries:
    description: How many times a failed XRootD directory listing is retried, with exponential backoff.
    type: int
    default: 3
  listing_budget:
    description:
      - For V(xrootd), how many entries one process lists before the rest of the scan continues in fresh child
        processes, each with the same budget. The XRootD Python binding keeps about 200 bytes for every entry it
        lists, so this bounds the memory of a scan of any size (about 100 MB at the default).
      - V(0) lists everything in child processes.
    type: int
    default: 500000
  max_errors:
    description:
      - How many unreadable directories or files the scan tolerates. They are returned in RV(errors) and reported as
        warnings. The default V(0) publishes nothing when any part of the storage could not be read, because a hole
        in a dump makes good files look lost.
    type: int
    default: 0
  checksum:
    description:
      - Where checksums come from. V(none) writes none (the database sources always use the checksums they hold).
      - V(xattr) reads the StoRM extended attribute C(user.storm.checksum.adler32) (V(posix)).
      - V(adler32) reads every file to compute it (V(posix); slow).
      - V(server) asks the XRootD server for each file's adler32 (V(xrootd); one request a file).
    type: str
    choices: [none, xattr, adler32, server]
    default: none
  mode:
    description:
      - Permissions of the published dump file, as a quoted octal string (V('0644')); the site decides who may read
        its dumps. An unchanged dump kept from an earlier run is given this mode too.
      - At most V('0777'), with read permission for the owner (the next run compares with the published dump).
    type: raw
    default: '0644'
  vo:
    description: VO name written as C(<for>vo:NAME</for>) in the syncat format.
    type: str
notes:
  - The distribution's XRootD binding belongs to the system Python; on hosts scanned with O(source=xrootd) run the
    module with it (C(ansible_python_interpreter=/usr/bin/python3)).
  - The database scanners hold the directory tree (not the files) in memory and stream the files through a
    server-side cursor.
  - V(dpm) reads C(Cns_file_metadata) in one streaming scan, one consistent read of the namespace. The roots are
    looked up first through the C((parent_fileid, name)) index, so a missing root fails at once. Files of a
    directory whose row comes later in the table (a directory moved under a newer one) wait until it arrives;
    beyond 100,000 such rows they wait in an anonymous temporary file, so memory stays bounded. For O(format=cms)
    and O(format=text) without O(ignore), O(min_age) or a same-day digest, MariaDB/MySQL formats each record and
    the module takes it as raw bytes and checks whole chunks at once; any record it cannot vouch for (a checksum
    that is not 8 lowercase hex digits, NULL fields, a checksum only in the DOME xattr, names or directory names
    a format cannot carry, bytes that are not UTF-8) is read again by C(fileid) and normalised one by one, so the
    dump is the same either way.
  - The scan runs in the background on the host while the job output shows its progress (see the C(action)
    attribute), so a long scan from AWX is not cut by a connection timeout.
  - "Mounts (posix, Linux): a bind mount inside a root that shows again a directory the scan walks is left out (see
    RV(left_out)); overlapping roots are refused; a file system listed in C(/etc/fstab) below a root but not
    mounted is refused. Limits: a nested mount point that is not in C(/etc/fstab) (autofs, systemd mount units,
    a mount made by hand) and is unmounted is an empty directory like any other, and the dump then lacks its
    whole subtree with no error (only an empty root and O(min_files) are checked). The threshold
    O(vapor.ops.consistency_check#module:max_lost_fraction) catches that only when the subtree is a large
    enough share of the storage; set it low, list such mount points in C(/etc/fstab), or give each mounted file system as a root of its own (an
    empty root is refused)."
  - Symbolic links below a root are never followed and never listed (counted in RV(excluded)); fifos,
    sockets and devices are counted as special and not listed; hard links are listed under each name.
  - With O(min_age), a file whose modification time is later than now plus O(min_age) is listed (a warning names
    it), since its age cannot be told; files younger than O(min_age) are left out.
  - V(dpm) leaves out, as unrepresentable, namespace rows whose name is NULL, empty, C(.) or C(..) or holds C(/),
    and the files below such directories; files whose parent row is missing or is not a directory are not
    reachable by any path and are not listed.
requirements:
  - "the XRootD Python binding for O(source=xrootd) (the distribution's C(python3-xrootd), from EPEL on EL)"
  - "PyMySQL or mysqlclient (C(MySQLdb)) for O(source=dpm) (C(python3-mysqlclient) on EL, C(python3-mysqldb)
    on Debian)"
  - "psycopg (version 3) or psycopg2 for O(source=dcache) (C(python3-psycopg2) on EL and Debian)"
  - "nothing beyond the Python standard library for O(source=posix)"
seealso:
  - name: Rucio auditor dump location
    description: Where the auditor looks for dumps, and their format.
    link: https://rucio.github.io/documentation/
"""

EXAMPLES = r"""
- name: Dump a StoRM/GPFS area in the ATLAS format, where the Rucio auditor finds it
  vapor.ops.se_dump:
    source: posix
    roots: [/storage/atlas/atlasdatadisk/rucio]
    strip_prefix: /storage/atlas/atlasdatadisk/rucio
    dest: /storage/atlas/atlasdatadisk/dumps
    compression: bzip2
    compression_suffix: false
    min_age: 1d
    keep: 5

- name: Dump an XRootD server's /store in the CMS pipe format
  vapor.ops.se_dump:
    source: xrootd
    url: root://xrootd.example.org:1094
    roots: [/store/mc, /store/data]
    format: cms
    compression: gzip
    dest: /var/lib/vapor-ops/dumps
    ignore: ['^/store/(temp|unmerged)/']
  vars:
    ansible_python_interpreter: /usr/bin/python3

- name: Dump the DPM namespace of one VO from the DPNS database, in syncat XML
  vapor.ops.se_dump:
    source: dpm
    db:
      config_file: /usr/etc/NSCONFIG
    roots: [/dpm/example.org/home/cms]
    strip_prefix: /dpm/example.org/home/cms
    format: syncat
    vo: cms
    dest: /var/lib/vapor-ops/dumps
  no_log: false

- name: Dump a dCache instance from its Chimera database
  vapor.ops.se_dump:
    source: dcache
    db:
      host: chimera-db.example.org
      user: chimera_ro
      password: "{{ vault_chimera_password }}"
    roots: [/pnfs/example.org/data/atlas]
    strip_prefix: /pnfs/example.org/data/atlas
    dest: /var/lib/vapor-ops/dumps
    keep: 7
"""

RETURN = r"""
dump:
  description: Path of today's dump in O(dest) (unchanged when the content was already published).
  returned: success
  type: str
  sample: /var/lib/vapor-ops/dumps/dump_20261121.gz
name:
  description: File name of today's dump.
  returned: success
  type: str
  sample: dump_20261121.gz
published:
  description: Whether a new dump file was (or, in check mode, would be) renamed into place.
  returned: success
  type: bool
files:
  description: Number of files written to the dump.
  returned: success
  type: int
  sample: 200000
bytes:
  description: Total size of the files written to the dump.
  returned: success
  type: int
  sample: 1234567890
format:
  description: The dump format.
  returned: success
  type: str
  sample: text
compression:
  description: The compression of the dump.
  returned: success
  type: str
  sample: gzip
source:
  description: The scanner used.
  returned: success
  type: str
  sample: posix
roots:
  description: Per root, the files and bytes written and the scan duration in seconds.
  returned: success
  type: list
  elements: dict
  sample: [{"root": "/store", "files": 1000, "bytes": 5000000, "duration": 1.2}]
excluded:
  description:
    - Entries left out of the dump, by reason. C(young) newer than O(min_age); C(ignored) matched O(ignore); C(outside) not under
      O(strip_prefix); C(unrepresentable) a name the format cannot carry; C(symlinks) symbolic links (never followed);
      C(special) sockets, devices and the like; C(vanished) removed while the scan ran.
  returned: success
  type: dict
  sample: {"young": 3, "ignored": 10, "outside": 0, "unrepresentable": 1, "symlinks": 0, "special": 0, "vanished": 0}
unrepresentable:
  description: Up to ten names left out because the format cannot carry them, with the reason.
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/store/a|b.root", "reason": "the name holds '|' or a line break, which the cms format cannot carry"}]
errors:
  description: Directories or files that could not be read (only returned non-empty when O(max_errors) allowed them).
  returned: always
  type: list
  elements: str
  sample: []
latest:
  description: Path of the C(latest) link, or null when disabled.
  returned: success
  type: str
  sample: /var/lib/vapor-ops/dumps/latest
pruned:
  description: Names of the old dumps removed (or that would be removed in check mode).
  returned: success
  type: list
  elements: str
  sample: [dump_20261101.gz]
mode:
  description: The permissions of the published dump, in octal.
  returned: success
  type: str
  sample: '0644'
left_out:
  description: Paths, as the scan walks them, of the dump directory inside a root, left out of the V(posix) scan.
  returned: success
  type: list
  elements: str
  sample: [/storage/atlas/atlasdatadisk/dumps]
stale_removed:
  description:
    - Names of what killed runs left in O(dest) (temporary files of this name pattern, scratch directories of the
      parallel scan), removed (or, in check mode, that would be) because they had not changed for two days.
  returned: success
  type: list
  elements: str
  sample: [.dump_20261120.0123456789abcdef.tmp]
duration:
  description: Seconds the module took.
  returned: success
  type: float
  sample: 12.5
rate:
  description:
    - How fast the scan went; the same figures end the progress lines the action plugin shows.
  returned: success
  type: dict
  contains:
    unit:
      description: What was counted (V(files)).
      type: str
      returned: success
    done:
      description: "How many were counted: the entries of the storage looked at (files listed plus those left out by a filter)."
      type: int
      returned: success
    seconds:
      description: Seconds the scan took.
      type: float
      returned: success
    per_second:
      description: RV(rate.done) divided by RV(rate.seconds); null when no time was measured.
      type: float
      returned: success
  sample: {"unit": "files", "done": 1250000, "seconds": 61.2, "per_second": 20425}
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump import run
from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump_options import SE_DUMP, source_requirement


def main():
    run_module(AnsibleModule, SE_DUMP, 'The storage dump', run,
               needs=lambda p: [source_requirement(p['source'])])


if __name__ == '__main__':
    main()
