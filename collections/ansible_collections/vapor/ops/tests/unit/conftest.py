# -*- coding: utf-8 -*-
# Makes the collection importable as ansible_collections.vapor.ops when pytest runs in place
# (ansible-test units sets this up by itself).
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_collections_root = os.path.abspath(os.path.join(_here, '..', '..', '..', '..', '..'))
if os.path.basename(_collections_root) == 'collections' and _collections_root not in sys.path:
    sys.path.insert(0, _collections_root)
