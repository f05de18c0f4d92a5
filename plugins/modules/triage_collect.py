#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: triage_collect
short_description: Run several incident.response diagnostics modules concurrently, as one task
description:
  - Runs each listed module exactly as its own task would, each in a thread of this one task, and returns all
    their results. Used by the C(triage) role so that seven diagnostics cost one task's overhead.
  - Only C(incident.response.*) modules are accepted. A module may run several times (for example service_info once
    per engine); without pipelining those runs go one after the other.
  - A module that fails is returned with C(failed=true) in RV(diagnostics); the task itself does not fail.
version_added: "0.1.0"
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.info
options:
  diagnostics:
    description: Name of each result -> C(module) (FQCN) and C(args). An empty entry is skipped.
    type: dict
    required: true
  workers:
    description: How many modules run at the same time.
    type: int
    default: 8
  prebuild:
    description:
      - Modules (FQCN, C(incident.response.*)) whose payload is built while the diagnostics run, so that the
        task running one of them next starts sooner (ansible-core keeps built payloads for the rest of the run).
      - Nothing is run; a module that cannot be built is left to its own task to report.
    type: list
    elements: str
    default: []
notes:
  - This is an action plugin; it runs on the controller and executes the modules through the task's connection.
  - Supports check mode (the modules run in check mode too).
"""

EXAMPLES = r"""
- name: Look at the containers and the database at once
  incident.response.triage_collect:
    diagnostics:
      service_info:
        module: incident.response.service_info
        args: {project: shop, unreachable_ok: true}
      postgres:
        module: incident.response.postgres_diagnostics
        args: {login_host: 127.0.0.1, login_port: 5432, unreachable_ok: true}
  register: collected
"""

RETURN = r"""
diagnostics:
  description: Each module's result under its name, plus C(triage_elapsed_ms).
  returned: always
  type: dict
prebuilt:
  description: Each module of O(prebuild) and whether its payload was built.
  returned: always
  type: list
  elements: dict
  sample: [{module: incident.response.service_restart, built: true}]
failed_diagnostics:
  description: Names of the modules that failed.
  returned: always
  type: list
  elements: str
elapsed_ms:
  description: Wall time of the whole fan-out.
  returned: always
  type: float
"""
