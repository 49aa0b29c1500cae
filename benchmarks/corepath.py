# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where the benchmarked core functions live, in this tree and in the older trees measured as candidates.

The module_utils layout changed (issue 9: files moved into domain subpackages); a benchmark that compares this
tree with an older commit (``--candidate NAME=DIR``) imports the same function from whichever place that tree has.
The first entry is this tree's place.
"""

import importlib
import os
import sys

# this tree's collections directory (the benchmarks put it on sys.path)
COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "collections")

PREFIX = "ansible_collections.vapor.ops.plugins.module_utils."
PLACES = {
    "se_dump": ("_storage.se_dump", "_se_dump"),
    "consistency": ("_consistency.run", "_consistency.core", "_consistency"),
    "package_report": ("_pakiti.run",),
}


def import_run(job, collections=None):
    """The run() function of a job's core, from the first place that has it.

    ``collections``: import it from that collections tree instead of this one. The packages of a collection are
    namespace packages (no __init__.py), so with both trees on sys.path a name missing from the other tree would be
    found in this one: this tree is taken off sys.path first, and the module found must lie in the other tree.
    """
    if collections:
        mine = os.path.realpath(COLLECTIONS)
        sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != mine]
        sys.path.insert(0, collections)
    errors = []
    for place in PLACES[job]:
        try:
            module = importlib.import_module(PREFIX + place)
        except ImportError as exc:  # an older or newer layout: try the next place
            errors.append("%s: %s" % (place, exc))
            continue
        where = os.path.realpath(module.__file__)
        if collections and not where.startswith(os.path.realpath(collections) + os.sep):
            raise ImportError("run() of %s came from %s, not from the candidate %s" % (job, where, collections))
        return module.run
    raise ImportError("no run() of %s found: %s" % (job, "; ".join(errors)))


def parse_candidates(specs, taken=()):
    """[(name, collections dir)] of the --candidate NAME=DIR options (a bare DIR is named 'candidate'); a DIR
    without ansible_collections/vapor/ops, or a name already used (or in ``taken``), stops with one sentence."""
    out = []
    for spec in specs or []:
        name, _sep, path = spec.partition("=")
        if not path:
            name, path = "candidate", name
        path = os.path.abspath(path)
        if not os.path.isdir(os.path.join(path, "ansible_collections", "vapor", "ops")):
            raise SystemExit("--candidate %s: no ansible_collections/vapor/ops under %s" % (spec, path))
        if name in taken or name in dict(out):
            raise SystemExit("--candidate %s: the name %s is taken; give another" % (spec, name))
        out.append((name, path))
    return out
