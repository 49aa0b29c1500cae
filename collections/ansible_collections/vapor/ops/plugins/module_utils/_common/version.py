# -*- coding: utf-8 -*-
# Copyright (c) vapor.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the vapor.ops collection: no compatibility promise for other users.
#
# The collection's version where code on a host needs it (the HTTP client's User-Agent): a module runs without
# galaxy.yml, so the version is written here too, and tests/test_collection_build.py proves it equal to galaxy.yml.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

COLLECTION = 'vapor.ops'
COLLECTION_VERSION = '0.1.0'
