# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Login options of the postgres_* modules (module_utils/postgres.py POSTGRES_ARGSPEC)."""

    DOCUMENTATION = r"""
options:
  login_host:
    description: Host name or address of the PostgreSQL server.
    type: str
    default: 127.0.0.1
  login_port:
    description: TCP port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user). Never logged nor put in messages.
    type: str
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
  connect_timeout:
    description: Seconds to wait for the connection to be established.
    type: int
    default: 5
  ssl_mode:
    description: libpq C(sslmode) of the connection.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
requirements:
  - psycopg2 (on the host that runs the module, usually the controller)
"""
