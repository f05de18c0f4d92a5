#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: recent_changes
short_description: What changed lately - redeployed containers, moved image tags, compose files, deploy commits
description:
  - The first question of every incident, "what changed?", answered from the Docker engine (container created
    times, the image each container runs vs the image its tag points to now), compose file modification times
    and C(git log) of a deploy repository.
  - Flags whether anything changed within O(within_minutes). Never changes anything.
version_added: "0.1.0"
author:
  - incident.response contributors (@incident-response)
options:
  project:
    description: Compose project whose containers are examined. Omit to skip the container part.
    type: str
  service:
    description: Only these compose services of O(project) (default every service).
    type: list
    elements: str
    aliases: [services]
  within_minutes:
    description: A change newer than this many minutes is "recent" and flagged.
    type: int
    default: 30
  compose_files:
    description: Compose (or other deploy) files whose modification time is reported.
    type: list
    elements: path
    default: []
  git_repo:
    description: A deploy repository; its last commits are read with C(git log) (run as an argv list, no shell).
    type: path
  git_max_commits:
    description: How many commits of O(git_repo) are returned.
    type: int
    default: 10
  unreachable_ok:
    description: When the Docker engine does not answer, return RV(reachable=false) instead of failing.
    type: bool
    default: false
extends_documentation_fragment:
  - incident.response.attributes.info
  - incident.response.actions
notes:
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: What changed in the last 30 minutes
  incident.response.recent_changes:
    project: shop
    compose_files: ["{{ playbook_dir }}/../lab/docker-compose.yml"]
    git_repo: /srv/deploy
    within_minutes: 30
  register: changes

- name: Say so when a deploy is the likely cause
  ansible.builtin.debug:
    msg: "{{ changes.changes }}"
  when: changes.deployed_within
"""

RETURN = r"""
reachable:
  description: Whether the Docker engine answered (true when no O(project) was given).
  returned: always
  type: bool
error:
  description: Why the engine could not be reached (with O(unreachable_ok)).
  returned: when not reachable
  type: str
services:
  description:
    - Per compose service (first container), what it runs and since when.
    - C(tag_moved) is true when the image tag now points to another image than the container runs
      (a pull or build happened without a redeploy, or the reverse).
    - C(redeployed) is true when the container was created more than a minute after the oldest container of the project
      (it was recreated on its own, as a deploy does).
  returned: always
  type: dict
  sample:
    api: {container: shop_api_1, image: "shop/api:broken", image_id: "sha256:1b2c", tag_image_id: "sha256:1b2c",
          tag_moved: false, created: "2026-11-23T17:02:11Z", minutes_ago: 2.5, recent: true, redeployed: true}
compose_files:
  description: Modification time of each O(compose_files) entry (C(exists) false when it is missing).
  returned: always
  type: list
  elements: dict
  sample: [{path: /srv/lab/docker-compose.yml, exists: true, mtime: "2026-11-23T16:00:00Z", minutes_ago: 64.1, recent: false}]
git:
  description: Last commits of O(git_repo) (sha, author, date, minutes_ago, subject, recent), or C(error).
  returned: when git_repo is set
  type: dict
deployed_within:
  description: Whether any change is newer than O(within_minutes).
  returned: always
  type: bool
changes:
  description: The recent changes, one line each, newest first.
  returned: always
  type: list
  elements: str
findings:
  description: Findings (severity, check, message).
  returned: always
  type: list
  elements: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DOCKER_ARGSPEC, SERVICE_LABEL, DockerClient, DockerError)
from ansible_collections.incident.response.plugins.module_utils.diag_docker import fan_out, finding

REDEPLOY_GAP_S = 60


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def container_changes(client, params, now):
    listed = client.containers(project=params["project"])
    if params["service"]:
        listed = [c for c in listed if (c.get("Labels") or {}).get(SERVICE_LABEL) in params["service"]]
    first = {}
    for c in listed:  # one container per service: the newest
        svc = (c.get("Labels") or {}).get(SERVICE_LABEL) or c["Names"][0].lstrip("/")
        if svc not in first or c.get("Created", 0) > first[svc].get("Created", 0):
            first[svc] = c
    refs = sorted(set(c.get("Image") for c in first.values() if c.get("Image") and not c["Image"].startswith("sha256:")))
    tags = fan_out(dict((ref, (client.image, (ref,))) for ref in refs))
    oldest = min([c.get("Created", now) for c in listed] or [now])
    services = {}
    for svc, c in sorted(first.items()):
        created = c.get("Created") or now
        tag_info, _err = tags.get(c.get("Image"), (None, None))
        tag_id = (tag_info or {}).get("Id")
        services[svc] = dict(
            container=c["Names"][0].lstrip("/"), image=c.get("Image"), image_id=c.get("ImageID"),
            tag_image_id=tag_id, tag_moved=bool(tag_id and tag_id != c.get("ImageID")),
            image_created=(tag_info or {}).get("Created"),
            created=iso(created), minutes_ago=round((now - created) / 60.0, 1),
            recent=now - created < params["within_minutes"] * 60,
            redeployed=created - oldest > REDEPLOY_GAP_S)
    return services


def file_changes(paths, within_s, now):
    out = []
    for path in paths:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            out.append(dict(path=path, exists=False))
            continue
        out.append(dict(path=path, exists=True, mtime=iso(mtime), minutes_ago=round((now - mtime) / 60.0, 1),
                        recent=now - mtime < within_s))
    return out


def git_changes(module, repo, count, within_s, now):
    git = module.get_bin_path("git")
    if not git:
        return dict(path=repo, error="git is not installed on the controller", commits=[])
    argv = [git, "-C", repo, "log", "-n", str(count), "--format=%H%x1f%an%x1f%at%x1f%s"]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        return dict(path=repo, error="git log in %s failed (rc %d): %s" % (repo, rc, err.strip()), commits=[])
    commits = []
    for line in out.splitlines():
        parts = line.split("\x1f")
        if len(parts) != 4:
            continue
        sha, author, stamp, subject = parts
        ts = int(stamp)
        commits.append(dict(sha=sha[:12], author=author, date=iso(ts), minutes_ago=round((now - ts) / 60.0, 1),
                            subject=subject, recent=now - ts < within_s))
    return dict(path=repo, commits=commits)


def summarize(services, files, git, within):
    """(changes newest first, findings)."""
    dated, findings = [], []
    created = sorted(svc for svc, s in services.items() if s["recent"] and not s["redeployed"])
    if created:  # brought up together (compose up): one line, not one per service
        age = max(services[svc]["minutes_ago"] for svc in created)
        dated.append((age, "%d services created %.0f min ago (%s)" % (len(created), age, ", ".join(created))))
    for svc, s in services.items():
        if s["recent"] and s["redeployed"]:
            what = "%s redeployed %.0f min ago: %s (%s)" % (svc, s["minutes_ago"], s["image"], (s["image_id"] or "")[7:19])
            dated.append((s["minutes_ago"], what))
            findings.append(finding("warning", "recent_deploy", what))
        if s["tag_moved"]:
            findings.append(finding("info", "tag_moved", "%s runs %s but the tag %s now points to %s" % (
                svc, (s["image_id"] or "")[7:19], s["image"], s["tag_image_id"][7:19])))
    for f in files:
        if f.get("recent"):
            what = "%s modified %.0f min ago" % (f["path"], f["minutes_ago"])
            dated.append((f["minutes_ago"], what))
            findings.append(finding("info", "compose_file", what))
    for c in (git or {}).get("commits", []):
        if c["recent"]:
            what = "commit %s by %s %.0f min ago: %s" % (c["sha"][:8], c["author"], c["minutes_ago"], c["subject"])
            dated.append((c["minutes_ago"], what))
            findings.append(finding("info", "git_commit", what))
    if git and git.get("error"):
        findings.append(finding("warning", "git", git["error"]))
    changes = [what for _age, what in sorted(dated)]
    if not changes:
        findings.append(finding("info", "no_change", "nothing changed in the last %d minutes" % within))
    return changes, findings


def main():
    spec = dict(
        project=dict(type="str"),
        service=dict(type="list", elements="str", aliases=["services"]),
        within_minutes=dict(type="int", default=30),
        compose_files=dict(type="list", elements="path", default=[]),
        git_repo=dict(type="path"),
        git_max_commits=dict(type="int", default=10),
        unreachable_ok=dict(type="bool", default=False),
    )
    spec.update(DOCKER_ARGSPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_by={"service": "project"})
    p = module.params
    now = time.time()
    within_s = p["within_minutes"] * 60
    result = dict(changed=False, reachable=True, services={})
    if p["project"]:
        try:
            result["services"] = container_changes(DockerClient.from_module(module), p, now)
        except DockerError as exc:
            msg = "Docker engine at %s could not list project %s: %s" % (p["docker_host"], p["project"], exc)
            if not p["unreachable_ok"] or exc.status:
                module.fail_json(msg=msg)
            result.update(reachable=False, error=msg)
    result["compose_files"] = file_changes(p["compose_files"], within_s, now)
    git = git_changes(module, p["git_repo"], p["git_max_commits"], within_s, now) if p["git_repo"] else None
    if git is not None:
        result["git"] = git
    result["changes"], result["findings"] = summarize(result["services"], result["compose_files"], git, p["within_minutes"])
    if not result["reachable"]:
        result["findings"].insert(0, finding("warning", "docker", result["error"]))
    result["deployed_within"] = bool(result["changes"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
