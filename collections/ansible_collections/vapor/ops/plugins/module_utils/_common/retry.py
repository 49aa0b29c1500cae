# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The one retry policy: a call that fails with a transient error is tried again after an exponential
# backoff (backoff, 2 x backoff, 4 x backoff, ... seconds, at most MAX_DELAY), at most 'retries' more times.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

MAX_DELAY = 30.0


def backoff_delay(attempt, backoff):
    """Seconds to wait before try number 'attempt' (0 is the first try, which does not wait)."""
    if attempt <= 0:
        return 0.0
    return min(float(backoff) * (2 ** (attempt - 1)), MAX_DELAY)


def attempts(retries, backoff, sleep=time.sleep):
    """Yield the try numbers 0..retries, sleeping the backoff before each but the first.

    For loops whose outcome is not an exception (a status object): for attempt in attempts(r, b): ...; break.
    """
    for attempt in range(int(retries) + 1):
        delay = backoff_delay(attempt, backoff)
        if delay:
            sleep(delay)
        yield attempt


def with_retries(call, retries, backoff, transient, sleep=time.sleep):
    """call() until it returns; an exception for which transient(exc) is true is retried, any other is raised.

    After the last try the last transient exception is raised.
    """
    last = None
    for _attempt in attempts(retries, backoff, sleep):
        try:
            return call()
        except Exception as exc:  # filtered by transient() just below
            if not transient(exc):
                raise
            last = exc
    raise last
