#!/usr/bin/env python3
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reproducer: memory growth of the python3-xrootd binding (5.5.3 on Debian 12) per listed entry.

    .venv/bin/python benchmarks/xrootd_binding_leak.py [--files 500] [--calls 2000]

Starts a throwaway XRootD server (tests/servers.py), lists one directory of N files many times with
dirlist(STAT) and with dirlist(NONE), and stat()s it many times, discarding every answer; prints the
resident-memory growth per listed entry. A non-zero figure means se_dump's xrootd source grows with
the number of files scanned (about 2 GiB at 10^7 entries at ~220 bytes an entry): the fix is to list in
child processes that are recycled, or a binding without the leak.
"""
import argparse
import gc
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))

import servers  # noqa: E402
from XRootD import client  # noqa: E402
from XRootD.client.flags import DirListFlags  # noqa: E402


def rss_kb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS'):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--files', type=int, default=500)
    ap.add_argument('--calls', type=int, default=2000)
    args = ap.parse_args()
    with servers.XRootD() as x:
        x.seed({'leak/f%06d.root' % i: 1 for i in range(args.files)})
        fs = client.FileSystem(x.url)
        for flags, label in ((DirListFlags.STAT, 'dirlist(STAT)'), (DirListFlags.NONE, 'dirlist(NONE)')):
            status, listing = fs.dirlist('/leak', flags, timeout=30)
            n = listing.size
            del listing
            gc.collect()
            before = rss_kb()
            for _i in range(args.calls):
                status, listing = fs.dirlist('/leak', flags, timeout=30)
                del listing
            gc.collect()
            grown = rss_kb() - before
            print('%-14s %d entries a call, %d calls: +%d kB = %.0f bytes per entry'
                  % (label, n, args.calls, grown, grown * 1024.0 / (args.calls * n)))
        before = rss_kb()
        for _i in range(args.calls * 10):
            fs.stat('/leak', timeout=30)
        gc.collect()
        grown = rss_kb() - before
        print('%-14s %d calls: +%d kB = %.0f bytes per call' % ('stat()', args.calls * 10, grown,
                                                               grown * 1024.0 / (args.calls * 10)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
