# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Notification channels for the notify module: payload builders (pure functions) and senders.

Every sender returns a delivery dict {channel, type, target, ok, status, attempts, error} and
never raises: a failed notification is information, not a reason to stop a remediation.
Targets are shown as scheme://host only (Slack-style webhook URLs carry their secret in the path)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import fcntl
import json
import os
import smtplib
import socket
import time

from email.message import EmailMessage

from ansible_collections.incident.response.plugins.module_utils.http_client import (
    backoff_delay, request_with_retries, safe_url)

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
STATUSPAGE_URL = "https://api.statuspage.io/v1"
STATE_FILE = "statuspage_incidents.json"

PD_ACTIONS = {"initial": "trigger", "update": "trigger", "resolution": "resolve"}
SP_STATUS = {"initial": "investigating", "update": "identified", "resolution": "resolved"}
# The words of severity_aliases in playbooks/vars/routes.yml (tests/unit/receiver/test_routing_table.py).
SEVERITY_LEVEL = {"p0": 0, "sev1": 0, "sev-1": 0, "critical": 0,
                  "p1": 1, "sev2": 1, "sev-2": 1, "high": 1, "major": 1, "error": 1, "page": 1,
                  "p2": 2, "sev3": 2, "sev-3": 2, "medium": 2, "minor": 2, "warning": 2,
                  "p3": 3, "sev4": 3, "sev-4": 3, "low": 3, "info": 3, "none": 3}
PD_SEVERITY = ("critical", "error", "warning", "info")
SP_IMPACT = ("critical", "major", "minor", "none")
SLACK_EMOJI = (":rotating_light:", ":red_circle:", ":large_orange_circle:", ":large_yellow_circle:")


def level(severity):
    """0 (worst) to 3 for P0-P3, SEV1-4 or PagerDuty words; 2 when unknown."""
    return SEVERITY_LEVEL.get(str(severity or "").strip().lower(), 2)


def heading(msg):
    """'[P1] INC-2026-01-01-001: API down' (parts left out when unknown)."""
    prefix = "[%s] " % msg["severity"] if msg.get("severity") else ""
    ident = "%s: " % msg["incident_id"] if msg.get("incident_id") else ""
    return prefix + ident + (msg.get("title") or "Incident update")


def slack_payload(msg, channel):
    """Slack (blocks + text fallback); Mattermost uses `text` and ignores `blocks`."""
    emoji = ":white_check_mark:" if msg["stage"] == "resolution" else SLACK_EMOJI[level(msg.get("severity"))]
    title = "%s %s" % (emoji, heading(msg))
    blocks = [dict(type="header", text=dict(type="plain_text", text=title[:150], emoji=True)),
              dict(type="section", text=dict(type="mrkdwn", text=(msg["message"] or " ")[:3000]))]
    fields = [dict(type="mrkdwn", text="*%s*\n%s" % (k, v)) for k, v in (msg.get("fields") or {}).items()]
    if fields:
        blocks.append(dict(type="section", fields=fields[:10]))
    context = "Stage: %s" % msg["stage"] + (" | Status: %s" % msg["status"] if msg.get("status") else "")
    for link in msg.get("links") or []:
        context += " | <%s|%s>" % (link["href"], link.get("text") or link["href"])
    blocks.append(dict(type="context", elements=[dict(type="mrkdwn", text=context)]))
    payload = dict(text="*%s*\n%s" % (title, msg["message"]), blocks=blocks)
    for key in ("channel", "username", "icon_emoji"):
        if channel.get(key):
            payload[key] = channel[key]
    return payload


def pagerduty_payload(msg, channel):
    """PagerDuty Events API v2 event; dedup_key = incident id so trigger/ack/resolve hit one alert."""
    action = channel.get("event_action") or PD_ACTIONS[msg["stage"]]
    event = dict(routing_key=channel.get("routing_key") or "", event_action=action, client="incident.response")
    if msg.get("incident_id"):
        event["dedup_key"] = msg["incident_id"]
    if action == "trigger":
        details = dict(msg.get("fields") or {}, message=msg["message"], stage=msg["stage"])
        event["payload"] = dict(summary=heading(msg)[:1024], source=msg.get("source") or "incident.response",
                                severity=PD_SEVERITY[level(msg.get("severity"))], custom_details=details)
        if channel.get("component"):
            event["payload"]["component"] = channel["component"]
        if msg.get("links"):
            event["links"] = [dict(href=lk["href"], text=lk.get("text") or lk["href"]) for lk in msg["links"]]
    return event


def statuspage_payload(msg, channel, create):
    """Atlassian Statuspage incident create (name, impact...) or update (status + body)."""
    incident = dict(status=msg.get("status") or SP_STATUS[msg["stage"]], body=msg.get("public_message") or msg["message"])
    if create:
        incident.update(name=msg.get("title") or heading(msg), impact_override=SP_IMPACT[level(msg.get("severity"))],
                        deliver_notifications=True)
    if channel.get("components"):
        incident["components"] = channel["components"]
    return dict(incident=incident)


def webhook_payload(msg):
    """Generic JSON: the message fields as they are, plus when it was sent."""
    payload = dict((k, msg.get(k)) for k in ("incident_id", "stage", "severity", "status", "title", "message",
                                             "public_message", "fields", "links", "source"))
    payload["sent_at"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return payload


def email_message(msg, channel):
    mail = EmailMessage()
    stage = {"initial": "", "update": " (update)", "resolution": " (resolved)"}[msg["stage"]]
    mail["Subject"] = heading(msg) + stage
    mail["From"] = channel.get("sender") or "incident-response@localhost"
    mail["To"] = ", ".join(channel.get("recipients") or [])
    lines = [msg["message"], ""]
    lines += ["%s: %s" % (k, v) for k, v in (msg.get("fields") or {}).items()]
    lines += ["%s: %s" % (lk.get("text") or "link", lk["href"]) for lk in msg.get("links") or []]
    mail.set_content("\n".join(lines).strip() + "\n")
    return mail


class StatuspageState(object):
    """Maps (page id, incident id) -> Statuspage incident id in a small JSON file, under flock."""

    def __init__(self, state_dir):
        self.path = os.path.join(state_dir, STATE_FILE)
        self.lock_path = self.path + ".lock"

    def _load(self):
        try:
            with open(self.path) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def get(self, page_id, incident_id):
        return self._load().get("%s/%s" % (page_id, incident_id))

    def put(self, page_id, incident_id, sp_id):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._load()
            data["%s/%s" % (page_id, incident_id)] = sp_id
            tmp = self.path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)


class Notifier(object):
    """Sends one message to channels. `opts`: retries, backoff, timeout, state_dir, check_mode."""

    def __init__(self, opts, sleep=time.sleep):
        self.opts = opts
        self.sleep = sleep

    def _post(self, channel, url, payload, method="POST", headers=None):
        resp = request_with_retries(url, retries=self.opts["retries"], backoff=self.opts["backoff"],
                                    sleep=self.sleep, method=method, headers=headers, json_body=payload,
                                    timeout=self.opts["timeout"], validate_certs=channel.get("validate_certs", True))
        result = dict(ok=resp.ok, status=resp.status, attempts=resp.attempts, error=None)
        if resp.redirects:  # shown like the target: scheme://host only
            result["redirects"] = [dict(r, location=safe_url(r["location"], keep_path=False)) for r in resp.redirects]
        if not resp.ok:
            result["error"] = resp.detail if resp.status == 0 else "HTTP %d: %s" % (resp.status, resp.body[:200])
        return result, resp

    def send(self, channel, msg):
        kind = channel["type"]
        delivery = dict(channel=channel["name"], type=kind, ok=False, status=None, attempts=0, error=None)
        try:
            getattr(self, "_" + kind)(channel, msg, delivery)
        except Exception as exc:  # pylint: disable=broad-except  # a channel bug must not stop the others
            delivery.update(ok=False, error="%s: %s" % (type(exc).__name__, exc))
        return delivery

    def _preview(self, delivery, payload):
        delivery.update(ok=None, error=None, preview=payload, skipped="check mode")

    def _slack(self, channel, msg, delivery):
        payload = slack_payload(msg, channel)
        delivery["target"] = safe_url(channel["url"], keep_path=False)
        if self.opts["check_mode"]:
            return self._preview(delivery, payload)
        delivery.update(self._post(channel, channel["url"], payload)[0])
        return None

    _mattermost = _slack

    def _webhook(self, channel, msg, delivery):
        payload = webhook_payload(msg)
        delivery["target"] = safe_url(channel["url"], keep_path=False)
        if self.opts["check_mode"]:
            return self._preview(delivery, payload)
        delivery.update(self._post(channel, channel["url"], payload, channel.get("method") or "POST",
                                   channel.get("headers"))[0])
        return None

    def _pagerduty(self, channel, msg, delivery):
        url = channel.get("url") or PAGERDUTY_URL
        event = pagerduty_payload(msg, channel)
        delivery.update(target=safe_url(url, keep_path=False), event_action=event["event_action"], dedup_key=event.get("dedup_key"))
        if event["event_action"] != "trigger" and not event.get("dedup_key"):
            delivery["error"] = "PagerDuty %s needs incident_id (the dedup key)" % event["event_action"]
            return None
        if self.opts["check_mode"]:
            return self._preview(delivery, dict(event, routing_key="********"))
        result, resp = self._post(channel, url, event)
        delivery.update(result)
        if resp.ok and isinstance(resp.json(), dict):
            delivery["dedup_key"] = resp.json().get("dedup_key") or delivery["dedup_key"]
        return None

    def _statuspage(self, channel, msg, delivery):
        base = (channel.get("url") or STATUSPAGE_URL).rstrip("/")
        page = channel["page_id"]
        state = StatuspageState(self.opts["state_dir"])
        known = state.get(page, msg.get("incident_id")) if msg.get("incident_id") else None
        payload = statuspage_payload(msg, channel, create=not known)
        url = "%s/pages/%s/incidents" % (base, page) + ("/%s" % known if known else "")
        delivery.update(target=safe_url(url, keep_path=False), statuspage_incident_id=known, action="update" if known else "create")
        if self.opts["check_mode"]:
            return self._preview(delivery, payload)
        headers = {"Authorization": "OAuth %s" % channel["api_key"]} if channel.get("api_key") else {}
        result, resp = self._post(channel, url, payload, "PATCH" if known else "POST", headers)
        delivery.update(result)
        created = resp.json() if resp.ok else None
        if not known and isinstance(created, dict) and created.get("id"):
            delivery["statuspage_incident_id"] = created["id"]
            if msg.get("incident_id"):
                state.put(page, msg["incident_id"], created["id"])
        return None

    def _email(self, channel, msg, delivery):
        mail = email_message(msg, channel)
        port = channel.get("port") or (465 if channel.get("ssl") else 25)
        delivery["target"] = "smtp://%s:%d" % (channel["host"], port)
        if self.opts["check_mode"]:
            return self._preview(delivery, dict(subject=mail["Subject"], to=mail["To"], body=mail.get_content()))
        for attempt in range(1, self.opts["retries"] + 2):
            delivery["attempts"] = attempt
            try:
                self._smtp_send(channel, port, mail)
                delivery.update(ok=True, error=None)
                return None
            except smtplib.SMTPAuthenticationError as exc:
                delivery["error"] = "SMTP authentication failed: %s" % exc.smtp_code
                return None
            except (smtplib.SMTPException, OSError, socket.timeout) as exc:
                delivery["error"] = "SMTP %s:%d: %s" % (channel["host"], port, exc or type(exc).__name__)
            if attempt <= self.opts["retries"]:
                self.sleep(backoff_delay(attempt, self.opts["backoff"]))
        return None

    def _smtp_send(self, channel, port, mail):
        cls = smtplib.SMTP_SSL if channel.get("ssl") else smtplib.SMTP
        with cls(channel["host"], port, timeout=self.opts["timeout"]) as smtp:
            if channel.get("starttls"):
                smtp.starttls()
            if channel.get("login_user"):
                smtp.login(channel["login_user"], channel.get("login_password") or "")
            smtp.send_message(mail)
