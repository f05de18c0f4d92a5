# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File checksums, read in chunks so a dump or an evidence bundle is never held in memory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib

CHUNK = 1 << 20


def sha256_file(path):
    """(SHA-256 hex digest, size in bytes) of the file at path."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
