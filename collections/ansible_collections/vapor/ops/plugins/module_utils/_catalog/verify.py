# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# "Absent" only from a storage that proves it can see: verify_storage_sees() refuses a storage URL that cannot be
# shown to see the storage element's files (its base is a directory, and files the catalog holds next to the
# listed ones show), before a cleanup believes that a listed file is absent. Used by both cleanups
# (catalog_cleanup, dark_data_cleanup).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vapor.ops.plugins.module_utils._catalog.schema import AVAILABLE
from ansible_collections.vapor.ops.plugins.module_utils._clients.gfal import HAS_GFAL2, join_url, local_path
from ansible_collections.vapor.ops.plugins.module_utils._common.errors import VaporError
from ansible_collections.vapor.ops.plugins.module_utils._common.text import to_text

GFAL2_REQUIREMENT = 'gfal2 (python3-gfal2 and the gfal2 plugins of the protocols used)'
SIBLINGS_PER_DIR = 3      # catalogued files stat'ed per directory of the list, until one shows
SIBLING_ROWS = 50         # rows read per head and directory to find them
GLOBAL_SAMPLE = 5         # files of the storage element stat'ed when no directory of the list has any


def _siblings(catalog, mapping, sdir, exclude, limit, rows=SIBLING_ROWS):
    """Dump paths of available replicas the catalog holds at or below the storage directory ``sdir``."""
    out = []
    for head in catalog.learn_heads(mapping):
        for host, sfn, status in catalog.replicas_under(mapping, head + sdir + '/', 'host, sfn, status', rows):
            host, sfn = to_text(host), to_text(sfn)
            if to_text(status) != AVAILABLE or not mapping.selects(host, sfn):
                continue
            path = mapping.dump_path(sfn)[0]
            if path is None or path in exclude or path in out:
                continue
            out.append(path)
            if len(out) >= limit:
                return out
    return out


def _prove(sample, shows, storage_url, nothing_done):
    why = None
    for dump_path in sample:
        ok, why = shows(dump_path)
        if ok:
            return
    raise VaporError("The storage at '%s' does not show '%s', which the catalog holds next to the listed "
                     "paths (%s), so it cannot be trusted to tell which files are absent (an unmounted area, "
                     "a wrong storage_url or prefix); %s."
                     % (storage_url, join_url(storage_url, sample[0]), why, nothing_done))


def _listed_under(listed, sdir):
    """How many of the listed storage paths lie below the storage directory ``sdir``."""
    low = sdir.rstrip('/') + '/'
    return sum(1 for sp in listed if sp.startswith(low))


def _prove_subtrees(catalog, mapping, storage_url, exclude, nothing_done, shows, leaves, listed, whole_min, proven):
    """catalog_cleanup's rule for the directories of the list that hold no catalogued file off the list.

    Each is proven by its nearest ancestor (up to the strip_prefix root) that holds, at or below it, catalogued
    files not on the list: one of them must show. The subtree between (the ancestor's child holding the directory)
    then has every catalogued file on the list: from the storage's side a wholly lost area and an unmounted one
    look the same, so when it holds ``whole_min`` or more listed files its paths are returned as unproven (the
    run keeps them). A lone lost file in its own directory (Rucio's layout) is believed. A list with nothing
    off it anywhere is refused.
    """
    unproven = set()
    cache = {}
    top = mapping.strip                  # '' for the storage root, else '/vo' (as the leaves start)
    for leaf in leaves:
        child = anc = leaf
        found = None
        while anc != top and len(anc) > len(top):
            child, anc = anc, anc.rsplit('/', 1)[0]
            if anc not in cache:
                cache[anc] = _siblings(catalog, mapping, anc, exclude, SIBLINGS_PER_DIR,
                                       rows=SIBLING_ROWS + 2 * _listed_under(listed, anc))
            if cache[anc]:
                found = cache[anc]
                break
        if found is None:
            raise VaporError("The catalog holds no available replica on %s outside the list, so nothing can show "
                             "that '%s' sees the storage; %s." % (mapping.describe(), storage_url, nothing_done))
        if ('proved', anc) not in cache:
            _prove(found, shows, storage_url, nothing_done)
            cache[('proved', anc)] = True
            proven += 1
        if _listed_under(listed, child) >= whole_min:
            unproven.add(child)
    return proven, unproven


def verify_storage_sees(catalog, mapping, storage, storage_url, paths, exclude, nothing_done, whole_min=0):
    """Refuse (VaporError) a storage URL that cannot be shown to see the storage element's files.

    The rule: the base of ``storage_url`` exists and is a directory; then, for every directory of the listed
    ``paths`` (in the dump path form), up to SIBLINGS_PER_DIR files the catalog holds there or below (available
    replicas on the selected storage element, not in ``exclude``) are stat'ed until one shows as a file; a
    directory where none shows stops the run (an unmounted area, a wrong prefix). When no directory of the list
    has any such file, up to GLOBAL_SAMPLE files of the storage element are tried instead, and one must show; a
    storage element whose catalogued files are all on the list cannot prove anything and is refused.
    ``nothing_done`` ends the sentences ('nothing was removed').

    With ``whole_min`` (catalog_cleanup) the directories with no such file go through _prove_subtrees instead of
    the sample of the whole storage element, and the result is (proven, unproven storage directories): every
    listed path below an unproven directory must be kept.
    """
    base = storage_url.rstrip('/') or storage_url
    try:
        st = storage.stat(base)
    except VaporError as exc:
        raise VaporError("The storage URL '%s' cannot be checked (%s), so no file could be looked at; %s."
                         % (storage_url, exc.msg.rstrip('.'), nothing_done))
    if not st.exists:
        raise VaporError("The storage URL '%s' does not exist, so every file would look absent; check storage_url "
                         "(%s)." % (storage_url, nothing_done))
    if not st.is_dir:
        raise VaporError("The storage URL '%s' is not a directory, so it cannot hold the files of the list; check "
                         "storage_url (%s)." % (storage_url, nothing_done))

    def shows(dump_path):
        url = join_url(storage_url, dump_path)
        try:
            r = storage.stat(url)
        except VaporError as exc:
            return False, exc.msg.rstrip('.')
        return r.exists and not r.is_dir, 'not found' if not r.exists else 'a directory'

    memo = []

    def listed_sp():
        if not memo:
            memo.append([sp for sp in (mapping.storage_path(x) for x in paths) if sp is not None])
        return memo[0]

    dirs = []
    seen_dirs = set()
    for path in paths:
        sp = mapping.storage_path(path)
        if sp is None:
            continue
        sdir = sp.rsplit('/', 1)[0]
        if sdir not in seen_dirs:
            seen_dirs.add(sdir)
            dirs.append(sdir)
    proven = 0
    leaves = []                      # directories of the list with no catalogued file of their own to show
    for sdir in dirs:
        sample = _siblings(catalog, mapping, sdir, exclude, SIBLINGS_PER_DIR,
                           rows=SIBLING_ROWS + (2 * _listed_under(listed_sp(), sdir) if whole_min else 0))
        if not sample:
            leaves.append(sdir)
            continue
        _prove(sample, shows, storage_url, nothing_done)
        proven += 1
    if whole_min:
        return _prove_subtrees(catalog, mapping, storage_url, exclude, nothing_done, shows, leaves, listed_sp(),
                               whole_min, proven)
    if proven:
        return proven
    sample = _siblings(catalog, mapping, mapping.strip, exclude, GLOBAL_SAMPLE, rows=500)
    if not sample:
        raise VaporError("The catalog holds no available replica on %s outside the list, so nothing can show that "
                         "'%s' sees the storage; %s." % (mapping.describe(), storage_url, nothing_done))
    why = None
    for dump_path in sample:
        ok, why = shows(dump_path)
        if ok:
            return 1
    raise VaporError("The storage at '%s' shows none of %d files the catalog holds on %s (such as '%s': %s), so it "
                     "cannot be trusted to tell which files are absent; check storage_url and the prefixes (%s)."
                     % (storage_url, len(sample), mapping.describe(), join_url(storage_url, sample[0]), why,
                        nothing_done))


def storage_requirement(storage_url):
    """(requirement, importable) of the library a storage re-check of ``storage_url`` needs: the gfal2 binding
    for any scheme but file:// (read natively). For the modules' missing_required_lib."""
    try:
        native = local_path(storage_url or '') is not None
    except VaporError:
        native = True          # a file:// URL naming another host: the run refuses it with its own sentence
    return GFAL2_REQUIREMENT, HAS_GFAL2 or native
