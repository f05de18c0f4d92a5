#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: maintenance_mode
short_description: Serve the maintenance page (nginx site switch or an admin HTTP endpoint), and back
version_added: "0.1.0"
description:
  - "V(nginx) method: in every running nginx container of the target (Docker exec, no shell), re-link the enabled
    site O(site_link) to O(maintenance_config) or O(live_config), validate with C(nginx -t) (on failure the link is
    put back and the module fails with nginx's message), reload, then poll O(verify_url) until it serves the
    maintenance page (O(verify_status) and O(verify_marker) in the body) or stops serving it."
  - "V(http) method: read the state from O(admin_state_url) (default O(admin_url); JSON key O(admin_state_field),
    true/false or a word such as C(enabled)/C(disabled)); when it differs, send O(admin_method) to O(admin_url) with
    O(admin_body_on) / O(admin_body_off) (by default O(admin_field) set to true or false), O(admin_headers) and the bearer
    O(token), then verify the same way."
  - Idempotent (C(changed) only when the state was switched), check mode, diff of the state.
  - Holds the per-target lock of the other action modules.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.diff
  - incident.response.actions
  - incident.response.actions.target
  - incident.response.actions.guard
options:
  state:
    description: V(true) (or V(on)) serves the maintenance page, V(false) (or V(off)) the live site.
    type: bool
    required: true
  method:
    description: Switch the nginx site (V(nginx), needs O(service) or O(container)) or call an admin endpoint (V(http)).
    type: str
    default: nginx
    choices: [nginx, http]
  site_link:
    description: Path, in the nginx container, of the symlink nginx includes as its enabled site. Required with V(nginx).
    type: str
  live_config:
    description: Site configuration served normally (the symlink target when the state is off). Required with V(nginx).
    type: str
  maintenance_config:
    description: Site configuration that serves the maintenance page. Required with V(nginx).
    type: str
  nginx_config:
    description: Main nginx configuration, passed as C(nginx -c) to the test and the reload; empty for nginx's default.
    type: str
    default: ""
  admin_url:
    description: Admin endpoint of the application (V(http) method), for example C(https://shop.example.com/admin/maintenance-mode).
    type: str
  admin_method:
    description: HTTP method that switches the state at O(admin_url).
    type: str
    default: POST
    choices: [POST, PUT, PATCH]
  admin_body_on:
    description:
      - "JSON body that switches maintenance on, for example C({\"mode\": \"enabled\", \"message\": \"{message}\"});
        C({message}) in any string is replaced by O(notice)."
      - "Default C({O(admin_field): true})."
    type: dict
  admin_body_off:
    description: "JSON body that switches maintenance off, for example C({\"mode\": \"disabled\"}). Default C({O(admin_field): false})."
    type: dict
  admin_headers:
    description: Extra request headers, for example an API key header. Never logged.
    type: dict
    default: {}
  admin_state_url:
    description: URL whose JSON answer tells the current state (O(admin_state_field)); default O(admin_url).
    type: str
  notice:
    description: "Text for C({message}) in O(admin_body_on) / O(admin_body_off)."
    type: str
    default: Incident response in progress
  token:
    description: Bearer token for O(admin_url).
    type: str
  admin_field:
    description: JSON key of the POST body that carries the wanted state.
    type: str
    default: enabled
  admin_state_field:
    description: JSON key of the admin endpoint's answer that tells the current state.
    type: str
    default: maintenance
  verify_url:
    description:
      - Public URL that must serve (or stop serving) the maintenance page afterwards, for example C(http://127.0.0.1:8080/).
      - Without it nothing is verified (a warning says so).
    type: str
  verify_status:
    description: HTTP status of the maintenance page.
    type: int
    default: 503
  verify_marker:
    description: Text (case-insensitive) the maintenance page contains.
    type: str
    default: maintenance
  verify_timeout:
    description:
      - Seconds to wait for O(verify_url) to show the new state (polled every 100 ms).
      - With O(method=nginx), also the longest wait for the workers of the old configuration to exit after the reload.
    type: float
    default: 10.0
"""

EXAMPLES = r"""
- name: Serve the maintenance page by switching the nginx site
  incident.response.maintenance_mode:
    project: shop
    service: web
    state: true
    site_link: /etc/nginx/sites-enabled/shop.conf
    live_config: /etc/nginx/sites-available/shop-live.conf
    maintenance_config: /etc/nginx/sites-available/shop-maintenance.conf
    verify_url: https://shop.example.com/

- name: Application-level maintenance switch (runbook 003's API)
  incident.response.maintenance_mode:
    method: http
    state: true
    admin_url: https://shop.example.com/admin/maintenance-mode
    admin_body_on: {mode: enabled, message: "{message}"}
    admin_body_off: {mode: disabled}
    admin_state_field: mode
    admin_headers: {X-Admin-Key: "{{ vault_shop_admin_key }}"}
    notice: Incident response in progress
"""

RETURN = r"""
maintenance:
  description: Whether the maintenance page is served now (the wanted state in check mode).
  returned: success
  type: bool
previous:
  description: Whether it was served before (null when it could not be told).
  returned: always
  type: bool
containers:
  description: For the nginx method, per container the symlink target before and after.
  returned: when method is nginx
  type: list
  elements: dict
  sample: [{name: shop_web_1, before: /etc/nginx/sites-available/shop-live.conf,
            after: /etc/nginx/sites-available/shop-maintenance.conf}]
verified:
  description: Whether O(verify_url) showed the new state (null when not verified).
  returned: always
  type: bool
verify:
  description: Last status and seconds taken by the verification.
  returned: when verified
  type: dict
  sample: {status: 503, marker_found: true, elapsed_s: 0.12}
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.compose import (
    TARGET_ARGSPEC, describe_target, find_target, lock_key_of)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DOCKER_ARGSPEC, DockerClient, DockerError)
from ansible_collections.incident.response.plugins.module_utils.guard import GUARD_ARGSPEC, target_key
from ansible_collections.incident.response.plugins.module_utils.guarded_action import guarded_action
from ansible_collections.incident.response.plugins.module_utils.wait import POLL_S, http_status

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    pass


class SwitchError(Exception):
    pass


ACTION_ERRORS = (DockerError, SwitchError)


def switching(p, where):
    """What the guarded action is called in a failure: "maintenance mode on via nginx (<where>)"."""
    return "maintenance mode %s via %s (%s)" % ("on" if p["state"] else "off", p["method"], where)


def exec_ok(client, cid, argv, what):
    rc, out = client.exec_run(cid, argv, timeout=30)
    if rc != 0:
        raise SwitchError("%s failed (rc %s): %s" % (what, rc, " ".join(out.split())[:500]))
    return out.strip()


def nginx_argv(p, *args):
    return ["nginx"] + (["-c", p["nginx_config"]] if p["nginx_config"] else []) + list(args)


def nginx_workers(client, cid):
    """PIDs of the container's nginx worker processes (from the Engine's `top`)."""
    top = client.call("GET", "/containers/%s/top" % cid, query={"ps_args": "-eo pid,args"}) or {}
    return set(row[0] for row in top.get("Processes") or [] if "nginx: worker process" in row[-1])


def switch_nginx(client, cid, p, wanted, previous):
    """Re-link the site, `nginx -t` (re-linking back if it fails), reload, and wait until every worker
    of the old configuration has exited: until then an old worker may still accept a request and
    answer it with the previous site, so verifying earlier could pass on a half-done switch."""
    exec_ok(client, cid, ["ln", "-sfn", wanted, p["site_link"]], "re-linking %s" % p["site_link"])
    try:
        exec_ok(client, cid, nginx_argv(p, "-t"), "nginx -t with %s" % wanted)
    except SwitchError:
        if previous:
            exec_ok(client, cid, ["ln", "-sfn", previous, p["site_link"]], "restoring %s" % p["site_link"])
        raise
    old = nginx_workers(client, cid)
    exec_ok(client, cid, nginx_argv(p, "-s", "reload"), "nginx reload")
    deadline = time.monotonic() + p["verify_timeout"]
    while True:
        workers = nginx_workers(client, cid)
        if workers and not workers & old:
            return
        if time.monotonic() >= deadline:
            raise SwitchError("nginx reloaded but workers of the old configuration (%s) were still running after %ss"
                              % (", ".join(sorted(workers & old)), p["verify_timeout"]))
        time.sleep(POLL_S)


def nginx_method(module, client, p, result):
    """Switch the site link of every running replica of the front service, under its lock."""
    listed = find_target(module, client, p, running_only=True)
    wanted = p["maintenance_config"] if p["state"] else p["live_config"]
    with guarded_action(module, lock_key_of(listed[0]), switching(p, describe_target(p)), ACTION_ERRORS, result):
        rows = []
        for c in listed:
            current = exec_ok(client, c["Id"], ["readlink", p["site_link"]], "reading %s" % p["site_link"])
            rows.append(dict(name=c["Names"][0].lstrip("/"), id=c["Id"], before=current, after=current))
        before = set(r["before"] for r in rows)
        result.update(previous=True if before == {p["maintenance_config"]} else False if before == {p["live_config"]}
                      else None, containers=rows)
        for row in rows:
            if row["before"] != wanted:
                result["changed"] = True
                if not module.check_mode:
                    switch_nginx(client, row["id"], p, wanted, row["before"])
                row["after"] = wanted
        for row in rows:
            row["id"] = row["id"][:12]


ON_WORDS = ("enabled", "enable", "on", "true", "active", "maintenance", "yes")


def is_on(value):
    """The admin endpoint's state as a bool: true, or a word such as "enabled"; None when absent."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).strip().lower() in ON_WORDS


def fill(value, message):
    """The body template with {message} replaced in every string (nested dicts and lists too)."""
    if isinstance(value, dict):
        return dict((k, fill(v, message)) for k, v in value.items())
    if isinstance(value, list):
        return [fill(v, message) for v in value]
    return value.replace("{message}", message) if isinstance(value, str) else value


def admin_body(p):
    template = p["admin_body_on"] if p["state"] else p["admin_body_off"]
    return fill(template, p["notice"]) if template is not None else {p["admin_field"]: p["state"]}


def admin_request(p, method, body=None, url=None):
    url = url or p["admin_url"]
    headers = dict(p["admin_headers"] or {})
    if p["token"]:
        headers["Authorization"] = "Bearer %s" % p["token"]
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    status, text, error = http_status(url, timeout=10, method=method, headers=headers, data=data)
    if not 200 <= status < 300:
        raise SwitchError("%s %s answered %s" % (method, url, error or "HTTP %d %s" % (status, text[:200])))
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def http_method(module, p, result):
    """Switch the application's admin endpoint, under a lock named after its host."""
    with guarded_action(module, target_key(container="http-" + urlsplit(p["admin_url"]).netloc),
                        switching(p, p["admin_url"]), ACTION_ERRORS, result):
        current = is_on(admin_request(p, "GET", url=p["admin_state_url"]).get(p["admin_state_field"]))
        result["previous"] = current
        if current is not p["state"]:
            result["changed"] = True
            if not module.check_mode:
                answer = admin_request(p, p["admin_method"], admin_body(p))
                reported = is_on(answer.get(p["admin_state_field"]))
                if reported is not None and reported is not p["state"]:
                    raise SwitchError("%s still reports %s=%s" % (p["admin_url"], p["admin_state_field"],
                                                                  answer.get(p["admin_state_field"])))


def verify(p):
    """Poll verify_url until it shows the wanted state; (ok, details)."""
    began = time.monotonic()
    while True:
        tick = time.monotonic()
        status, body, error = http_status(p["verify_url"], timeout=2)
        marker = p["verify_marker"].lower() in body.lower()
        serving = status == p["verify_status"] and marker
        ok = serving if p["state"] else (status != 0 and not serving)
        elapsed = time.monotonic() - began
        if ok or elapsed >= p["verify_timeout"]:
            return ok, dict(status=status, marker_found=marker, error=error, elapsed_s=round(elapsed, 3))
        time.sleep(max(0.0, POLL_S - (time.monotonic() - tick)))


def main():
    argument_spec = dict(
        state=dict(type="bool", required=True),
        method=dict(type="str", default="nginx", choices=["nginx", "http"]),
        site_link=dict(type="str"),
        live_config=dict(type="str"),
        maintenance_config=dict(type="str"),
        nginx_config=dict(type="str", default=""),
        admin_url=dict(type="str"),
        admin_method=dict(type="str", default="POST", choices=["POST", "PUT", "PATCH"]),
        admin_body_on=dict(type="dict"),
        admin_body_off=dict(type="dict"),
        admin_headers=dict(type="dict", default={}, no_log=True),
        admin_state_url=dict(type="str"),
        notice=dict(type="str", default="Incident response in progress"),
        token=dict(type="str", no_log=True),
        admin_field=dict(type="str", default="enabled"),
        admin_state_field=dict(type="str", default="maintenance"),
        verify_url=dict(type="str"),
        verify_status=dict(type="int", default=503),
        verify_marker=dict(type="str", default="maintenance"),
        verify_timeout=dict(type="float", default=10.0),
    )
    for spec in (DOCKER_ARGSPEC, TARGET_ARGSPEC, GUARD_ARGSPEC):
        argument_spec.update(spec)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[["service", "container"]], required_by={"service": "project"},
                           required_if=[("method", "nginx", ["service", "container"], True),
                                        ("method", "nginx", ["site_link", "live_config", "maintenance_config"]),
                                        ("method", "http", ["admin_url"])])
    p = module.params
    where = describe_target(p) if p["method"] == "nginx" else p["admin_url"]
    word = "on" if p["state"] else "off"
    result = dict(changed=False, previous=None, verified=None)
    if p["method"] == "nginx":
        nginx_method(module, DockerClient.from_module(module), p, result)
    else:
        http_method(module, p, result)

    result.update(maintenance=p["state"], diff=dict(
        before="maintenance: %s\n" % {True: "on", False: "off", None: "unknown"}[result["previous"]],
        after="maintenance: %s\n" % word))
    if module.check_mode:
        module.exit_json(msg="maintenance mode would be %s" % ("switched " + word if result["changed"] else "left " + word),
                         **result)
    if not p["verify_url"]:
        module.warn("maintenance mode %s was not verified: pass verify_url" % word)
    else:
        result["verified"], result["verify"] = verify(p)
        if not result["verified"]:
            module.fail_json(msg="maintenance mode is %s via %s but %s does not show it after %ss: %s"
                             % (word, p["method"], p["verify_url"], p["verify_timeout"], result["verify"]), **result)
    module.exit_json(msg="maintenance mode %s%s (%s)" % (word, "" if result["changed"] else " already", where), **result)


if __name__ == "__main__":
    main()
