# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Small helpers the benchmark scripts share (kept free of heavy imports: benchmark children load it)."""

from __future__ import annotations

import sys


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def vm_hwm_kb():
    """Peak resident set of this process (VmHWM: since exec, so untouched by the parent's size)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None
