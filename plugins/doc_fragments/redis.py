# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options of the redis_* modules (module_utils/redis_client.py REDIS_ARGSPEC)."""

    DOCUMENTATION = r"""
options:
  host:
    description: Host name or address of the Redis server.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port of the Redis server.
    type: int
    default: 6379
  password:
    description: Password (C(AUTH)). Never logged nor put in messages.
    type: str
  username:
    description: ACL user name (Redis 6+), with O(password).
    type: str
  db:
    description: Database number.
    type: int
    default: 0
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for the connection and for each command.
    type: float
    default: 5.0
requirements:
  - redis (redis-py, on the host that runs the module, usually the controller)
"""
