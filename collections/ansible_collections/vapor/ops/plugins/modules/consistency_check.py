#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: consistency_check
short_description: Compare a storage dump with two catalog dumps and list dark and lost files
version_added: 0.1.0
description:
  - Compares a storage dump of one storage element with two dumps of the file catalog, one taken before the storage
    dump (O(catalog_before)) and one after it (O(catalog_after)), and writes the dark and lost files of this run to a
    new run directory under O(output_dir).
  - "B(Dark): on storage and in neither catalog dump, whatever the replica state: a catalog dump written by
    C(vapor.ops.catalog_dump) lists its available replicas, and its companion list (the same name with C(.inactive)
    before any compression suffix) the replicas being populated or to be deleted; both count. A catalog dump without
    a companion list (from another tool) counts every entry as available."
  - "B(Lost): available in both catalog dumps and not on storage."
  - A file registered, created, deleted or unregistered between the two catalog dumps is never flagged; this is why
    three dumps are needed.
  - "Dumps may be in any format the collection reads (V(text) one path a line, the V(cms) pipe format, the V(syncat)
    XML), plain, gzip or bzip2 (detected from the content)."
  - "Safety gates: the module fails with one sentence, and writes nothing that looks like a complete run, when an
    input is missing, empty (the storage dump), truncated or corrupt (a compressed stream that ends early, XML that
    is not well formed, a text or cms dump whose last line has no line end, a line longer than 65536 bytes, a
    carriage return inside a line, malformed cms lines, bytes that are not UTF-8: the sentence names the file and
    the line); when a path in a dump has a C(..) component (it could name a file outside the area, so the dump is
    refused, as every reader of the collection refuses it); when a catalog dump lists no available file under the
    catalog prefix while the storage dump lists files (it would turn off the detection of lost files); when a
    dump is dated after the run (more than 5 minutes, for clocks of different hosts); when the storage dump is older
    than O(max_dump_age); when the catalog dumps do not bracket the storage dump in time; or when the dark or the
    lost fraction is above O(max_dark_fraction) or O(max_lost_fraction)."
  - "Gates, in the order a run checks them (the one that stops a run is named in the failure's RV(gate) and in
    C(stats.json)): B(option_values) (the options' values), B(output_dir) (O(output_dir) is a directory that can be
    written), B(run_id_free) (a given O(run_id) is not taken; checked again when the run is published),
    B(inputs_found) (a directory given for a dump holds one that fits), B(inputs_readable) (each dump and companion
    list is a readable regular file, not corrupt or truncated), B(dump_not_future) (no dump is dated after the run),
    B(dump_age) (the storage dump is not older than O(max_dump_age)), B(dump_times_ordered) (the catalog dumps
    bracket the storage dump), B(empty_storage) (the storage dump lists files), B(paths_comparable) (no malformed
    cms line, no path with a C(..) component), B(storage_prefix) (some storage entries are under the storage
    prefix), B(empty_catalog) (each catalog dump lists available files under the catalog prefix),
    B(inputs_unchanged) (no dump changed while the run read it; checked after the comparison and after the digest),
    B(dark_fraction), B(lost_fraction)."
  - "Paths are counted once: a path listed twice in a dump (or twice after normalisation) counts once in the
    fractions, and C(stats.json) reports the duplicates of each input (C(counts.duplicates))."
  - "Times of the dumps, in this order: the C(*_time) option; the date in the file name (C(%Y%m%d_%H%M%S),
    C(%Y%m%dT%H%M%SZ), or C(%Y%m%d), which covers the whole UTC day; the last such date in the name counts, and a
    C(latest)-style link is followed to its target's name); the C(recorded) attribute of a syncat dump; the file's
    modification time. The check needs C(catalog_before) <= C(storage_dump) <= C(catalog_after); a dump named by day
    counts as possibly taken at any moment of that day, so a catalog dump must then be from the day before or after."
  - "Each run writes C(OUTPUT_DIR/RUN_ID/) (RUN_ID is the UTC time C(%Y%m%d_%H%M%S) of the run, with C(_1),
    C(_2), ... appended when a run of the same second exists, unless O(run_id) is given) with
    C(dark.list) and C(lost.list) (the paths of the storage dump and of O(catalog_before) in normalised
    dump form, that is absolute with repeated slashes and C(.) components collapsed but without the prefix options of
    this module applied, which is what C(vapor.ops.dark_data_cleanup) and C(vapor.ops.catalog_cleanup) read; one a
    line, unique, sorted byte-wise as C(LC_ALL=C sort) does), C(confirmed_dark.list) and C(stats.json) (counts,
    fractions, thresholds, the inputs with their times, sizes and counts, the duration of each phase and the engine
    settings). The directory is assembled under a hidden temporary name and renamed into place at the end, so a run
    directory that exists is complete. Runs on the same O(output_dir) at the same time all succeed: the step that
    reads the earlier runs, picks the run id and publishes the directory holds the lock C(OUTPUT_DIR/.lock).
    C(dark.list) and C(lost.list) are in normalised dump form (absolute, repeated slashes and C(.) components
    collapsed) whether the dumps' paths had a leading slash or not."
  - "File modes: the lists and C(stats.json) name users' paths, so run directories (and O(output_dir) when the
    module creates it) are created with mode C(0750) and files with C(0640), less what the umask removes; nothing
    in O(output_dir) is world-readable unless the site widens it."
  - "A run that fails after its options were checked writes only C(OUTPUT_DIR/RUN_ID.failed/stats.json), with
    C(status: failed) and the message; those directories are never read as runs."
  - "C(confirmed_dark.list) holds the dark entries found in every counted run: at least O(confirm_runs) complete
    runs (this one included) over B(different) storage dumps whose dump times span at least O(confirm_days) days.
    Each run records the SHA-256 of its storage dump's uncompressed content and the dump's time in C(stats.json);
    runs whose storage dumps share the digest or the time (a dump named by day covers its day) count once, so
    comparing the same dump again, or a copy of it under a new date, never confirms anything; a storage element
    whose content did not change at all between dumps does not confirm either. The runs themselves must also have
    been made over O(confirm_days) (by the clock of the host when each ran, which no option sets,
    C(confirmation.run_times_span_days)): dump times come from names, options or modification times that anyone can
    back-date, so old dumps compared in one sitting never confirm. Runs compared with other prefix options and run
    directories that are symbolic links do not count. Only storage dumps not newer than
    this run's and at most O(confirm_days) + 10 days older are looked at; the span runs from the end of the oldest
    dump's time to the start of the newest. When the runs to count are fewer or span less, C(confirmed_dark.list)
    is written empty and C(stats.json) says why (C(confirmation.skipped_runs) lists the runs that counted once).
    Runs recorded by earlier versions of this module (C(stats.json) version 1, no digest) are not counted
    (C(confirmation.ignored_runs)); the window starts anew. Only confirmed entries should be handed to
    C(vapor.ops.dark_data_cleanup). Use one O(output_dir) per storage element."
  - "Names holding a line break cannot be written to a list; they are counted in C(stats.json) (C(excluded)) and
    never listed."
author:
  - vapor.ops developers (@vapor-ops)
extends_documentation_fragment:
  - vapor.ops._attributes
  - vapor.ops._attributes.ACTIONGROUP_VAPOR
  - vapor.ops._progress
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the dumps, classifies, applies every gate and returns the same counts, fractions and
        confirmation as a real run, and writes nothing in O(output_dir) (temporary files in O(temp_dir) are removed).
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run writes a new run directory and reports a change; the run directories are the history that the
        multi-run confirmation of dark files needs.
options:
  catalog_before:
    description:
      - The catalog dump taken before the storage dump. Its companion list, if present next to it, is read too.
      - A directory of catalog dumps (kept on a schedule) selects the newest one that ends before the storage dump
        starts.
    type: path
    required: true
  storage_dump:
    description:
      - The storage dump (for instance the one M(vapor.ops.se_dump) published, or its C(latest) link).
      - A directory selects the newest dump in it (by the date in the file names, else the modification time;
        companion lists, hidden files and links are passed over), as when a site publishes its dumps.
    type: path
    required: true
  catalog_after:
    description:
      - The catalog dump taken after the storage dump. Its companion list, if present next to it, is read too.
      - A directory of catalog dumps selects the oldest one that starts after the storage dump ends.
    type: path
    required: true
  output_dir:
    description:
      - The directory of the runs of this storage element; created if missing. Runs already in it are read for the
        confirmation of dark files.
    type: path
    required: true
  strip_prefix:
    description:
      - A leading path removed from the paths of all three dumps before they are compared, matched component by
        component after repeated slashes and C(.) components were collapsed (paths are always compared in that
        normalised form). Entries outside it are not compared and counted as C(outside) in C(stats.json).
    type: str
  add_prefix:
    description:
      - A prefix put in front of every compared path, after the prefix was stripped. Useful with the per-side
        options below; O(ignore) patterns do not see it.
    type: str
  storage_strip_prefix:
    description:
      - Replaces O(strip_prefix) for the storage dump, for a storage namespace that differs from the catalog's
        (for instance C(/dpm/example.org/home/vo) on storage and C(/grid/vo) in the catalog).
    type: str
  storage_add_prefix:
    description: Replaces O(add_prefix) for the storage dump.
    type: str
  catalog_strip_prefix:
    description: Replaces O(strip_prefix) for both catalog dumps and their companion lists.
    type: str
  catalog_add_prefix:
    description: Replaces O(add_prefix) for both catalog dumps and their companion lists.
    type: str
  ignore:
    description:
      - Regular expressions (Python syntax, searched anywhere; anchor with C(^)) matched against the compared path
        after the prefix was stripped and before a prefix is added. Dark or lost entries that match are never
        reported; they are counted in C(stats.json) and do not count in the fractions.
    type: list
    elements: str
    default: []
  min_age:
    description:
      - Storage files modified less than this before the storage dump's time are never dark, as seconds or with a
        unit (V(3600), V(12h), V(1d)). Applies only when the storage dump carries times (V(cms) and V(syncat)); a
        V(text) dump has none.
    type: str
    default: 1d
  max_dark_fraction:
    description:
      - Fail when the dark files are more than this fraction of the storage files compared (entries of the storage
        dump inside the prefix), because the inputs then look wrong (an unmounted area, a wrong prefix, a partial
        catalog dump).
    type: float
    default: 0.01
  max_lost_fraction:
    description:
      - Fail when the lost files are more than this fraction of the available files of the smaller of the two
        catalog dumps (entries inside the prefix).
    type: float
    default: 0.01
  max_dump_age:
    description:
      - Fail when the storage dump is older than this at the time of the run (a dump named by day counts from the
        start of its day). V(0) disables the check.
    type: str
    default: 7d
  confirm_runs:
    description:
      - How many complete runs over different storage dumps (this one included) must have found a file dark before
        it is confirmed.
    type: int
    default: 3
  confirm_days:
    description:
      - How many days the times of the confirming runs' storage dumps must span, and the times at which those runs
        were made too; storage dumps older than this plus ten days (before this run's storage dump) are not used.
    type: int
    default: 25
  run_id:
    description:
      - Name of the run directory. The default, the UTC time of the run as C(%Y%m%d_%H%M%S) (with C(_1), C(_2), ...
        appended when that directory exists), is what other tools expect; the module fails when a given O(run_id)
        exists.
      - The run always happens now (the former option C(run_time) is gone); to compare old dumps, set
        O(max_dump_age=0).
    type: str
  catalog_before_time:
    description:
      - The time of O(catalog_before), when its file name does not carry it (epoch seconds, UTC ISO 8601, or
        C(%Y%m%d) for a whole day).
    type: str
  storage_dump_time:
    description: The time of O(storage_dump), like O(catalog_before_time).
    type: str
  catalog_after_time:
    description: The time of O(catalog_after), like O(catalog_before_time).
    type: str
  memory_limit:
    description:
      - Memory the comparison engine may use for its tables and joins (DuckDB C(memory_limit)); beyond it, it spills
        to O(temp_dir). The module process peaks at up to about 250 MB more than this (measured 250 MB with the
        default for three dumps of 2 million paths; 850 MB with V(600MB) for 100 million).
      - For about 100 million paths per dump the default is too small (the run stops with one sentence that says
        so); V(600MB) completes.
    type: str
    default: 256MB
  threads:
    description: Threads of the comparison engine; default one per CPU.
    type: int
  temp_dir:
    description:
      - Where decompressed or converted dumps and the engine's spill files go during the run; default the system's
        temporary directory. Plain text and cms dumps are read in place; a compressed dump needs its uncompressed
        size here.
    type: path
notes:
  - "Speed and memory (benchmarks/RESULTS.md, 2 cores): three text dumps of 2 million paths compare in about 0.4 of
    the time C(LC_ALL=C sort) and C(comm) take on them, in 250 MB, whether the paths have a leading slash or not;
    three dumps of 100 million paths in 120 s (C(sort) and C(comm): 376 s) with O(memory_limit=600MB), a peak of
    850 MB and 8.5 GB of spill files in O(temp_dir)."
  - Paths are compared through 64-bit hashes of their normalised form. A hash collision can only hide a dark or lost
    entry, never add a dark one.
  - "Limits of the confirmation (what it cannot see): it tells storage dumps apart by their content digest and time,
    so a dump that differs from an earlier one by one line, or by line order, line ends or format, counts as a
    different dump; the history is the run directories in O(output_dir), so whoever can write there (edit a
    C(stats.json), copy in the runs of another storage element with the same prefix options) or set the host's clock
    can fake it. Keep O(output_dir) writable only by the account that runs the check, and one O(output_dir) per
    storage element. Only confirmed entries go to C(vapor.ops.dark_data_cleanup), which checks every file against
    the catalog again just before it acts."
  - "Names are compared byte for byte after the path normalisation: leading or trailing spaces and tabs are part of
    a name, and the same name in Unicode NFC in one dump and NFD in the other is two names (a file system stores
    bytes), so such a file is both dark and lost. A UTF-8 byte order mark at the start of a dump is skipped; a text
    or cms dump must be UTF-8. File names carry UTC times (C(%Y%m%d_%H%M%S)); a site that names its dumps in local
    time must give the time with an offset in O(storage_dump_time)."
  - "A dump that changes while the run reads it (replaced, appended to, its C(latest) link moved on) is refused:
    take dumps through a temporary name and a rename, as C(vapor.ops.se_dump) and C(vapor.ops.catalog_dump) do."
requirements:
  - "duckdb >= 1.1 on the host that runs the module (normally the controller or the execution environment,
    C(delegate_to: localhost))"
seealso:
  - module: vapor.ops.se_dump
"""

EXAMPLES = r"""
- name: Compare the site's published dump with two catalog dumps taken around it
  vapor.ops.consistency_check:
    catalog_before: /var/lib/vapor-ops/catalog/catalog_20261120_000000.gz
    storage_dump: /var/lib/vapor-ops/site-dumps/EXAMPLE-DISK/dump_20261120
    catalog_after: /var/lib/vapor-ops/catalog/catalog_20261121_000000.gz
    output_dir: /var/lib/vapor-ops/consistency/EXAMPLE-DISK
    storage_strip_prefix: /dpm/example.org/home/vo
    catalog_strip_prefix: /grid/vo
    ignore: ['^/(tmp|scratch)/']
  register: check

- name: Show the result
  ansible.builtin.debug:
    msg: "{{ check.dark }} dark ({{ check.confirmed_dark }} confirmed), {{ check.lost }} lost in {{ check.run_dir }}"

- name: See what a run would find, without writing anything
  vapor.ops.consistency_check:
    catalog_before: /data/catalog_before.txt
    storage_dump: /data/dump_20261120.bz2
    catalog_after: /data/catalog_after.txt
    catalog_before_time: '2026-11-19T22:00:00Z'
    catalog_after_time: '2026-11-21T02:00:00Z'
    output_dir: /var/lib/vapor-ops/consistency/EXAMPLE-DISK
    max_dark_fraction: 0.05
  check_mode: true
"""

RETURN = r"""
run_id:
  description: The id of the run, the name of its directory.
  returned: success
  type: str
  sample: '20261121_010000'
run_dir:
  description: The run directory (not created in check mode).
  returned: success
  type: str
  sample: /var/lib/vapor-ops/consistency/EXAMPLE-DISK/20261121_010000
dark:
  description: Number of dark files listed in C(dark.list).
  returned: success
  type: int
  sample: 20
lost:
  description: Number of lost files listed in C(lost.list).
  returned: success
  type: int
  sample: 3
confirmed_dark:
  description: Number of dark files confirmed over the runs of the window (C(confirmed_dark.list)).
  returned: success
  type: int
  sample: 0
confirmed:
  description: Whether the confirmation window is complete (enough runs, old enough); C(confirmed_dark.list) is empty otherwise.
  returned: success
  type: bool
  sample: false
dark_fraction:
  description: Dark files divided by the storage files compared.
  returned: success
  type: float
  sample: 0.0001
lost_fraction:
  description: Lost files divided by the available files of the smaller catalog dump.
  returned: success
  type: float
  sample: 0.00002
files:
  description: Paths of the files of the run.
  returned: success
  type: dict
  sample:
    dark: /var/lib/vapor-ops/consistency/EXAMPLE-DISK/20261121_010000/dark.list
    lost: /var/lib/vapor-ops/consistency/EXAMPLE-DISK/20261121_010000/lost.list
    confirmed_dark: /var/lib/vapor-ops/consistency/EXAMPLE-DISK/20261121_010000/confirmed_dark.list
    stats: /var/lib/vapor-ops/consistency/EXAMPLE-DISK/20261121_010000/stats.json
stats:
  description:
    - The content of C(stats.json). Also returned when the module fails, with C(status=failed) and the message.
    - "Sections: C(run), C(inputs) (per dump: path, size, mtime, format, compression, time, time_until, time_source,
      entries, compared (unique paths), duplicates, outside, companion), C(counts) (storage_files, catalog_before_available,
      catalog_after_available, dark, lost, confirmed_dark, excluded by reason, duplicates per input), C(fractions),
      C(thresholds), C(confirmation) (confirmed, reason, runs, skipped_runs, ignored_runs, storage_dumps,
      dump_times_span_days, window_days), C(mapping), C(durations) (seconds per phase), C(engine); for a run
      stopped by a gate, C(gate) (its name, as RV(gate))."
    - "C(inputs.storage_dump.digest) is the C(sha256:) digest of the storage dump's uncompressed content."
  returned: always
  type: dict
  sample:
    status: ok
    counts: {storage_files: 2000000, dark: 20, lost: 3, confirmed_dark: 0, excluded: {}}
    confirmation:
      confirmed: false
      reason: "1 runs over distinct storage dumps within 35 days of this storage dump (this one included), fewer than
        confirm_runs=3"
gate:
  description:
    - The name of the gate that stopped the run (the list and its order are in the description); absent when the run
      failed for another reason (a file that cannot be written, the engine out of memory).
  returned: failure by a gate
  type: str
  sample: dark_fraction
failed_stats:
  description: Path of the C(stats.json) of a failed run (in C(RUN_ID.failed/)).
  returned: failure after the options were checked, outside check mode
  type: str
  sample: /var/lib/vapor-ops/consistency/EXAMPLE-DISK/20261121_010000.failed/stats.json
duration:
  description: Seconds the module took.
  returned: success
  type: float
  sample: 3.2
rate:
  description:
    - How fast the comparison went; the same figures end the progress lines the action plugin shows.
  returned: success
  type: dict
  contains:
    unit:
      description: What was counted (V(paths)).
      type: str
      returned: success
    done:
      description: "How many were counted: the entries of the three dumps (and their companion lists) read."
      type: int
      returned: success
    seconds:
      description: Seconds the comparison took.
      type: float
      returned: success
    per_second:
      description: RV(rate.done) divided by RV(rate.seconds); null when no time was measured.
      type: float
      returned: success
  sample: {"unit": "paths", "done": 60000000, "seconds": 41.8, "per_second": 1435406}
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vapor.ops.plugins.module_utils._module import run_module
from ansible_collections.vapor.ops.plugins.module_utils._consistency.engine import (
    DUCKDB_IMPORT_ERROR, DUCKDB_REQUIREMENT, HAS_DUCKDB)
from ansible_collections.vapor.ops.plugins.module_utils._consistency.options import TABLE
from ansible_collections.vapor.ops.plugins.module_utils._consistency.run import run


def main():
    run_module(AnsibleModule, TABLE, 'The consistency check', run,
               needs=lambda p: [(DUCKDB_REQUIREMENT, HAS_DUCKDB, DUCKDB_IMPORT_ERROR)])


if __name__ == '__main__':
    main()
