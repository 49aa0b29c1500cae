# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The rate limit of a cleanup's storage actions: one schedule shared by every worker thread of a run.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time


class RateLimiter:
    """At most ``rate`` files a second, shared by every worker: file k may start at ``first + k / rate``.

    ``reserve()`` books the next slot and returns how long to wait for it (it never sleeps), so the schedule can
    be checked without a clock; ``wait()`` books and sleeps.
    """

    def __init__(self, rate, clock=time.monotonic, sleep=time.sleep):
        rate = float(rate or 0)
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self.next = None
        self._lock = threading.Lock()

    def reserve(self):
        if not self.interval:
            return 0.0
        with self._lock:
            now = self.clock()
            slot = now if self.next is None or self.next < now else self.next
            self.next = slot + self.interval
        return slot - now

    def wait(self):
        delay = self.reserve()
        if delay > 0:
            self.sleep(delay)
        return delay
