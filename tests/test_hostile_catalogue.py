# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hostile catalogue of issue 8 as a whole: at least 80 distinct bad inputs and faults across the modules.

Each domain keeps its own table (tests/test_hostile_dumps.py, test_hostile_consistency.py,
test_hostile_cleanup.py, test_hostile_cleanup_more.py, test_hostile_dumps_more.py,
test_hostile_catalog_dump.py); this test counts them together, so a table that shrinks or two cases that are the same
case under two names show up here.
"""

from __future__ import annotations

import test_hostile_catalog_dump
import test_hostile_cleanup
import test_hostile_cleanup_more
import test_hostile_consistency
import test_hostile_dumps
import test_hostile_dumps_more

MINIMUM = 80


def _ids():
    ids = []
    ids += ["dumps:%s" % test_hostile_dumps._case_id(c) for c in test_hostile_dumps.CASES]
    ids += ["dumps-more:%s" % c.__name__ for c in test_hostile_dumps_more.CASES]
    ids += ["consistency:%s" % c[0] for c in test_hostile_consistency.CASES]
    ids += ["consistency-playbook:%s" % c[0] for c in test_hostile_consistency.PLAYBOOK_CASES]
    ids += ["catalog-dump:%s" % c.__name__ for c in test_hostile_catalog_dump.CASES]
    ids += ["cleanup:%s" % name for name in test_hostile_cleanup.CASES]
    ids += ["cleanup-sfn-probe:%s" % name for name in test_hostile_cleanup_more.CASES]
    ids += ["cleanup-catalog:%s" % name for name in test_hostile_cleanup_more.CC_CASES]
    ids += ["cleanup-more:%s" % name for name in test_hostile_cleanup_more.MORE]
    return ids


def test_catalogue_ids_are_distinct():
    ids = _ids()
    dupes = sorted(set(i for i in ids if ids.count(i) > 1))
    assert not dupes, dupes


def test_catalogue_covers_every_domain_and_is_large_enough():
    ids = _ids()
    per_domain = {}
    for i in ids:
        per_domain.setdefault(i.split(":", 1)[0], 0)
        per_domain[i.split(":", 1)[0]] += 1
    assert set(per_domain) == {"dumps", "consistency", "consistency-playbook", "cleanup",
                               "cleanup-sfn-probe", "cleanup-catalog", "cleanup-more", "dumps-more",
                               "catalog-dump"}, per_domain
    assert all(per_domain[d] >= 5 for d in ("dumps", "consistency", "cleanup", "cleanup-sfn-probe")), per_domain
    assert len(set(ids)) >= MINIMUM, (len(set(ids)), per_domain)
