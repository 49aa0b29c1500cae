#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Peak memory of se_dump's xrootd source with and without the per-process listing budget.

    .venv/bin/python benchmarks/xrootd_memory.py [--files 200000] [--budget 50000]

Generates the benchmark tree (gen_tree.py) if needed, serves it with a throwaway XRootD server and
runs the se_dump core in a child process twice: with the default budget (the whole scan in one
process) and with a small one (the scan continues in fresh child processes). Prints the peak RSS of
the core's process and of its listing children. The XRootD binding keeps ~200 bytes per listed entry
(xrootd_binding_leak.py), so without a budget peak memory grows with the number of files.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests'))
sys.path.insert(0, HERE)

import gen_tree  # noqa: E402
import servers  # noqa: E402

CHILD = r'''
import json, os, resource, shutil, sys, time
sys.path.insert(0, sys.argv[2])
from ansible_collections.vapor.ops.plugins.module_utils._storage.se_dump import run
p = json.loads(sys.argv[1]); shutil.rmtree(p["dest"], ignore_errors=True); os.makedirs(p["dest"])
t = time.time(); r = run(p)
print(json.dumps({"files": r["files"], "seconds": round(time.time() - t, 2),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                  "children_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1)}))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--files', type=int, default=200000)
    ap.add_argument('--budget', type=int, default=50000)
    args = ap.parse_args()
    tree = os.path.join(HERE, 'work', 'tree-%d' % args.files)
    gen_tree.generate(tree, args.files)
    with servers.XRootD() as x:
        os.symlink(tree, str(x.data_dir / 'tree'))
        for budget in (500000, args.budget):
            p = {'source': 'xrootd', 'url': x.url, 'roots': ['/tree'], 'format': 'cms', 'listing_budget': budget,
                 'dest': os.path.join(HERE, 'work', 'xrootd-memory-dest')}
            out = subprocess.run([sys.executable, '-c', CHILD, json.dumps(p), os.path.join(REPO, 'collections')],
                                 capture_output=True, text=True, check=True)
            print('listing_budget %7d: %s' % (budget, out.stdout.strip()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
