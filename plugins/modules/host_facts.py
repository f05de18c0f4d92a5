#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_facts
short_description: Disk, memory, load and top processes of the host (and disks inside containers)
description:
  - Answers C(df -h), C(free -m), C(uptime) and C(top) from C(/proc) and C(statvfs), with thresholds turned into findings.
  - Optionally runs C(df -kP) inside the running containers of compose services (through the Docker Engine API,
    argv only, no shell) to see container-only filesystems such as tmpfs spool volumes.
  - Never changes anything.
version_added: "0.1.0"
author:
  - incident.response contributors (@incident-response)
options:
  mounts:
    description: Only these mount points of the host (default every real filesystem).
    type: list
    elements: path
    default: []
  disk_warn_percent:
    description: Disk usage at or above this is a warning finding.
    type: float
    default: 85
  disk_crit_percent:
    description: Disk usage at or above this is a critical finding.
    type: float
    default: 95
  memory_warn_percent:
    description: Memory in use (total minus available) at or above this is a warning finding.
    type: float
    default: 90
  load_warn_per_cpu:
    description: A 1-minute load average per CPU at or above this is a warning finding.
    type: float
    default: 2.0
  top:
    description: How many processes to list by CPU and by memory (0 skips the process scan).
    type: int
    default: 5
  project:
    description: Compose project whose containers' filesystems are also checked (with O(services)).
    type: str
  services:
    description: Compose services of O(project) whose running containers get C(df -kP) run inside.
    type: list
    elements: str
    default: []
  unreachable_ok:
    description: When the Docker engine does not answer, report it as a finding instead of failing.
    type: bool
    default: false
extends_documentation_fragment:
  - incident.response.attributes.info
  - incident.response.actions
notes:
  - Supports check mode (it never changes anything).
  - Reads the C(/proc) of the machine it runs on; with the collection's local connection that is the controller.
"""

EXAMPLES = r"""
- name: Host resources, and the API container's disks
  incident.response.host_facts:
    project: shop
    services: [api]
    disk_warn_percent: 80
  register: host

- name: Show the fullest filesystem
  ansible.builtin.debug:
    msg: "{{ (host.disks + host.container_disks) | sort(attribute='percent') | last }}"
"""

RETURN = r"""
disks:
  description: Host filesystems (mount, device, fstype, size_bytes, used_bytes, free_bytes, percent, inodes_percent).
  returned: always
  type: list
  elements: dict
container_disks:
  description: Filesystems seen inside containers (service, container, mount, device, size_bytes, used_bytes, free_bytes, percent).
  returned: always
  type: list
  elements: dict
memory:
  description: total_bytes, available_bytes, used_bytes, percent, swap_total_bytes, swap_used_bytes, swap_percent.
  returned: always
  type: dict
load:
  description: load1, load5, load15, cpus, per_cpu (load1 / cpus).
  returned: always
  type: dict
top_cpu:
  description: Top processes by CPU over a 0.2 s sample (pid, name, cpu_percent, rss_bytes, memory_percent).
  returned: always
  type: list
  elements: dict
top_memory:
  description: Top processes by resident memory (same keys as RV(top_cpu)).
  returned: always
  type: list
  elements: dict
findings:
  description:
    - Findings (severity, check, message), most severe first.
    - C(disk) and C(inodes) findings also carry C(mount) and C(service) (the compose service whose container
      filesystem it is, null for the host's own), so a reader decides without parsing the message.
  returned: always
  type: list
  elements: dict
  sample: [{severity: critical, check: disk, message: "api:/var/spool/app 100% full (0 B free)", mount: /var/spool/app,
            service: api}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DOCKER_ARGSPEC, DockerClient, DockerError)
from ansible_collections.incident.response.plugins.module_utils.diag_docker import fan_out, finding, sort_findings
from ansible_collections.incident.response.plugins.module_utils.diag_host import (
    disks, load, meminfo, parse_df, top_processes)


def human(num):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(num) < 1024 or unit == "TiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (num, unit)
        num /= 1024.0
    return str(num)


def container_disks(client, project, services, host_devices):
    """Filesystems only the containers see (the host's own disks and overlay roots are left out)."""
    listed = [c for c in client.containers(project=project, all_states=False)
              if (c.get("Labels") or {}).get("com.docker.compose.service") in services]
    results = fan_out(dict((c["Id"], (client.exec_run, (c["Id"], ["df", "-kP"], 10))) for c in listed))
    rows, errors = [], []
    for c in listed:
        out, err = results[c["Id"]]
        name = c["Names"][0].lstrip("/")
        service = c["Labels"]["com.docker.compose.service"]
        if out is None or out[0] not in (0, 1):  # df exits 1 when one mount is unreadable but prints the rest
            errors.append("df in %s failed: %s" % (name, err or (out[1].strip()[:200] if out else "")))
            continue
        for row in parse_df(out[1]):
            if row["device"] == "overlay" or row["device"] in host_devices:
                continue
            row.update(service=service, container=name)
            rows.append(row)
    return rows, errors


def disk_findings(rows, warn, crit, prefix=""):
    found = []
    for d in rows:
        where = "%s%s" % ((d["service"] + ":") if d.get("service") else prefix, d["mount"])
        sev = "critical" if d["percent"] >= crit else "warning" if d["percent"] >= warn else None
        if sev:
            found.append(finding(sev, "disk", "%s %.0f%% full (%s free)" % (where, d["percent"], human(d["free_bytes"])),
                                 mount=d["mount"], service=d.get("service")))
        if d.get("inodes_percent", 0) >= crit:
            found.append(finding("critical", "inodes", "%s inodes %.0f%% used" % (where, d["inodes_percent"]),
                                 mount=d["mount"], service=d.get("service")))
    return found


def main():
    spec = dict(
        mounts=dict(type="list", elements="path", default=[]),
        disk_warn_percent=dict(type="float", default=85),
        disk_crit_percent=dict(type="float", default=95),
        memory_warn_percent=dict(type="float", default=90),
        load_warn_per_cpu=dict(type="float", default=2.0),
        top=dict(type="int", default=5),
        project=dict(type="str"),
        services=dict(type="list", elements="str", default=[]),
        unreachable_ok=dict(type="bool", default=False),
    )
    spec.update(DOCKER_ARGSPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p["services"] and not p["project"]:
        module.fail_json(msg="services needs project: the compose project the services belong to")
    result = dict(changed=False, disks=disks(p["mounts"]), memory=meminfo(), load=load(), container_disks=[])
    findings = disk_findings(result["disks"], p["disk_warn_percent"], p["disk_crit_percent"])
    if p["project"] and p["services"]:
        try:
            result["container_disks"], errors = container_disks(
                DockerClient.from_module(module), p["project"], p["services"], set(d["device"] for d in result["disks"]))
            findings.extend(finding("warning", "container_df", e) for e in errors)
        except DockerError as exc:
            msg = "Docker engine at %s could not run df in %s services %s: %s" % (
                p["docker_host"], p["project"], ", ".join(p["services"]), exc)
            if not p["unreachable_ok"]:
                module.fail_json(msg=msg)
            findings.append(finding("warning", "docker", msg))
        findings.extend(disk_findings(result["container_disks"], p["disk_warn_percent"], p["disk_crit_percent"]))
    mem = result["memory"]
    if mem["percent"] >= p["memory_warn_percent"]:
        findings.append(finding("warning", "memory", "memory %.0f%% used (%s available)" % (mem["percent"], human(mem["available_bytes"]))))
    if result["load"]["per_cpu"] >= p["load_warn_per_cpu"]:
        findings.append(finding("warning", "load", "load %.2f on %d CPUs" % (result["load"]["load1"], result["load"]["cpus"])))
    result["top_cpu"], result["top_memory"] = top_processes(p["top"]) if p["top"] > 0 else ([], [])
    result["findings"] = sort_findings(findings)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
