# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The `attributes` of every module, one fragment per kind of module (each is complete: list only one)."""

    # A module that acts: check mode reports what it would change; no diff.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode) when in diff mode.
    support: none
"""

    # A module that acts and returns the state before and after in diff mode.
    DIFF = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode) when in diff mode.
    support: full
"""

    # A read-only module: it changes nothing, so it runs the same in check mode.
    INFO = r"""
attributes:
  check_mode:
    description: Runs in check mode exactly as without it; the module only reads.
    support: full
  diff_mode:
    description: The module changes nothing, so there is nothing to diff.
    support: N/A
"""
