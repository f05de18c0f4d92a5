#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: notify
short_description: Send an incident notice to Slack/Mattermost, PagerDuty, Statuspage, webhooks and e-mail
version_added: "0.1.0"
description:
  - Sends one message to every channel in O(channels). Each channel is tried with retries and
    exponential backoff (network errors, HTTP 408/429/5xx); the result lists every delivery.
  - A failed delivery is reported (RV(deliveries), RV(failed_channels) and a warning) but does not
    fail the task unless O(fail_on_error=true), so a notification outage never aborts a remediation.
  - PagerDuty (Events API v2) uses the incident id as C(dedup_key), so trigger, acknowledge and
    resolve act on one alert. Statuspage incidents are created once per incident id and then
    updated; the mapping is kept in a small file under O(state_dir).
  - Secrets never appear in results; targets are shown as scheme and host only.
  - In check mode nothing is sent; each delivery carries the payload it would send as C(preview).
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
options:
  channels:
    description: Where to send the message.
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description:
          - C(slack) and C(mattermost) post to an incoming webhook, C(pagerduty) to the Events API v2,
            C(statuspage) to an Atlassian Statuspage-style API, C(webhook) posts generic JSON, C(email) uses SMTP.
        type: str
        required: true
        choices: [slack, mattermost, pagerduty, statuspage, webhook, email]
      name:
        description: Name of the channel in the results (default the type, numbered when repeated).
        type: str
      url:
        description:
          - Webhook URL (slack, mattermost, webhook; required for them), Events API URL for pagerduty
            (default C(https://events.pagerduty.com/v2/enqueue)), API base URL for statuspage
            (default C(https://api.statuspage.io/v1)).
        type: str
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
      channel:
        description: Slack/Mattermost channel override.
        type: str
      username:
        description: Slack/Mattermost display name of the sender.
        type: str
      icon_emoji:
        description: Slack/Mattermost icon.
        type: str
      routing_key:
        description: PagerDuty integration (routing) key; required for pagerduty.
        type: str
      event_action:
        description:
          - PagerDuty action; default from O(stage) (initial and update trigger, resolution resolves).
        type: str
        choices: [trigger, acknowledge, resolve]
      component:
        description: PagerDuty component of the event.
        type: str
      page_id:
        description: Statuspage page id; required for statuspage.
        type: str
      api_key:
        description: Statuspage API key (sent in the C(Authorization) header as C(OAuth <key>)).
        type: str
      components:
        description: Statuspage component statuses to set, as component id -> status (for example C(major_outage)).
        type: dict
      method:
        description: HTTP method of a generic webhook.
        type: str
        choices: [POST, PUT]
        default: POST
      headers:
        description: Extra headers of a generic webhook (for example C(Authorization)); never returned.
        type: dict
      host:
        description: SMTP server; required for email.
        type: str
      port:
        description: SMTP port (default 25, or 465 with O(channels[].ssl)).
        type: int
      starttls:
        description: Upgrade the SMTP connection with STARTTLS.
        type: bool
        default: false
      ssl:
        description: Connect with SMTP over TLS (SMTPS).
        type: bool
        default: false
      login_user:
        description: SMTP user name.
        type: str
      login_password:
        description: SMTP password.
        type: str
      sender:
        description: From address of the e-mail.
        type: str
        default: incident-response@localhost
      recipients:
        description: To addresses of the e-mail; required for email.
        type: list
        elements: str
  msg:
    description: The text of the notice (internal audience).
    type: str
    required: true
  public_msg:
    description: Customer-facing text for statuspage (default O(msg)).
    type: str
  title:
    description: Short title of the incident (Slack header, PagerDuty summary, Statuspage name, e-mail subject).
    type: str
  incident_id:
    description: Incident id (PagerDuty dedup key, Statuspage mapping key).
    type: str
  stage:
    description: Which notice this is; sets the PagerDuty action and the default Statuspage status.
    type: str
    choices: [initial, update, resolution]
    default: update
  severity:
    description: Incident severity (P0-P3, SEV1-SEV4 or critical/error/warning/info); mapped per channel.
    type: str
  status:
    description:
      - Statuspage status; default from O(stage) (investigating, identified, resolved).
    type: str
    choices: [investigating, identified, monitoring, resolved]
  fields:
    description: Extra facts shown with the message (Slack fields, PagerDuty custom details, e-mail lines).
    type: dict
    default: {}
  links:
    description: Links to include (runbook, dashboard...), each with C(href) and optional C(text).
    type: list
    elements: dict
    default: []
  source:
    description: Source reported to PagerDuty and webhooks.
    type: str
    default: incident.response
  retries:
    description: Extra attempts per channel after a retryable failure.
    type: int
    default: 3
  backoff:
    description: Base delay in seconds of the exponential backoff (with jitter) between attempts.
    type: float
    default: 1.0
  timeout:
    description: Per-attempt timeout in seconds.
    type: float
    default: 10.0
  fail_on_error:
    description: Fail the task when any delivery failed (default is to report and carry on).
    type: bool
    default: false
  state_dir:
    description:
      - Directory of the Statuspage incident mapping; default C($INCIDENT_STATE_DIR) or
        C(~/.local/state/incident.response).
    type: path
"""

EXAMPLES = r"""
- name: Tell everyone
  incident.response.notify:
    incident_id: "{{ incident_id }}"
    stage: initial
    severity: P1
    title: API down
    msg: "The API is down since 03:12 UTC. Restart in progress. Next update in 30 minutes."
    public_msg: "We are investigating errors on the API."
    channels:
      - {type: slack, url: "{{ vault_slack_webhook }}"}
      - {type: pagerduty, routing_key: "{{ vault_pagerduty_key }}"}
      - {type: statuspage, page_id: abc123, api_key: "{{ vault_statuspage_key }}"}
      - {type: email, host: smtp.example.com, port: 587, starttls: true, login_user: sre,
         login_password: "{{ vault_smtp_password }}", recipients: [oncall@example.com]}
  register: notice

- name: Resolve the PagerDuty alert
  incident.response.notify:
    incident_id: "{{ incident_id }}"
    stage: resolution
    msg: Resolved
    channels:
      - {type: pagerduty, routing_key: "{{ vault_pagerduty_key }}"}
"""

RETURN = r"""
deliveries:
  description:
    - One entry per channel, in order.
    - C(redirects) (only when the endpoint redirected) lists each redirect as status, location (scheme://host)
      and cross_origin; credentials are never sent to another origin.
  returned: always
  type: list
  elements: dict
  sample:
    - {channel: slack, type: slack, target: "https://hooks.slack.com", ok: true, status: 200, attempts: 1, error: null}
    - {channel: pagerduty, type: pagerduty, target: "https://events.pagerduty.com", ok: false, status: 0,
       attempts: 4, error: "timed out after 10.0s", event_action: trigger, dedup_key: INC-2026-01-01-001}
    - {channel: statuspage, type: statuspage, target: "https://api.statuspage.io",
       ok: true, status: 201, attempts: 1, error: null, action: create, statuspage_incident_id: p31zjtct2jer}
delivered:
  description: Number of successful deliveries.
  returned: always
  type: int
failed_channels:
  description: Names of the channels whose delivery failed.
  returned: always
  type: list
  elements: str
all_delivered:
  description: True when every channel was delivered (false in check mode).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.guard import state_dir_of
from ansible_collections.incident.response.plugins.module_utils.notify import Notifier

CHANNEL_SPEC = dict(
    type=dict(type="str", required=True, choices=["slack", "mattermost", "pagerduty", "statuspage", "webhook", "email"]),
    name=dict(type="str"),
    url=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    channel=dict(type="str"),
    username=dict(type="str"),
    icon_emoji=dict(type="str"),
    routing_key=dict(type="str", no_log=True),
    event_action=dict(type="str", choices=["trigger", "acknowledge", "resolve"]),
    component=dict(type="str"),
    page_id=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    components=dict(type="dict"),
    method=dict(type="str", default="POST", choices=["POST", "PUT"]),
    headers=dict(type="dict", no_log=True),
    host=dict(type="str"),
    port=dict(type="int"),
    starttls=dict(type="bool", default=False),
    ssl=dict(type="bool", default=False),
    login_user=dict(type="str"),
    login_password=dict(type="str", no_log=True),
    sender=dict(type="str", default="incident-response@localhost"),
    recipients=dict(type="list", elements="str"),
)

CHANNEL_REQUIRED_IF = [
    ["type", "slack", ["url"]],
    ["type", "mattermost", ["url"]],
    ["type", "webhook", ["url"]],
    ["type", "pagerduty", ["routing_key"]],
    ["type", "statuspage", ["page_id"]],
    ["type", "email", ["host", "recipients"]],
]


def name_channels(channels):
    seen = {}
    for channel in channels:
        base = channel.get("name") or channel["type"]
        seen[base] = seen.get(base, 0) + 1
        channel["name"] = base if seen[base] == 1 else "%s-%d" % (base, seen[base])
    return channels


def main():
    module = AnsibleModule(
        argument_spec=dict(
            channels=dict(type="list", elements="dict", required=True, options=CHANNEL_SPEC,
                          required_if=CHANNEL_REQUIRED_IF),
            msg=dict(type="str", required=True),
            public_msg=dict(type="str"),
            title=dict(type="str"),
            incident_id=dict(type="str"),
            stage=dict(type="str", default="update", choices=["initial", "update", "resolution"]),
            severity=dict(type="str"),
            status=dict(type="str", choices=["investigating", "identified", "monitoring", "resolved"]),
            fields=dict(type="dict", default={}),
            links=dict(type="list", elements="dict", default=[]),
            source=dict(type="str", default="incident.response"),
            retries=dict(type="int", default=3),
            backoff=dict(type="float", default=1.0),
            timeout=dict(type="float", default=10.0),
            fail_on_error=dict(type="bool", default=False),
            state_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for link in p["links"]:
        if not link.get("href"):
            module.fail_json(msg="every entry of links needs an href: %r" % (link,))
    msg = dict((k, p[k]) for k in ("title", "incident_id", "stage", "severity", "status", "fields", "links", "source"))
    msg.update(message=p["msg"], public_message=p["public_msg"])
    notifier = Notifier(dict(retries=max(0, p["retries"]), backoff=p["backoff"], timeout=p["timeout"],
                             state_dir=state_dir_of(module), check_mode=module.check_mode))
    deliveries = [notifier.send(channel, msg) for channel in name_channels(p["channels"])]
    failed = [d["channel"] for d in deliveries if d["ok"] is False]
    for d in deliveries:
        if d["ok"] is False:
            module.warn("notification to %s (%s) failed after %d attempt(s): %s"
                        % (d["channel"], d.get("target", d["type"]), d["attempts"], d["error"]))
    result = dict(changed=module.check_mode or any(d["ok"] for d in deliveries), deliveries=deliveries,
                  delivered=sum(1 for d in deliveries if d["ok"]), failed_channels=failed,
                  all_delivered=not module.check_mode and not failed)
    if failed and p["fail_on_error"]:
        module.fail_json(msg="notification failed on %s" % ", ".join(failed), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
