"""Dispatch backends. `run(job, launched)` blocks (it runs in a worker thread) and returns
(status, rc, error) with status succeeded|failed|interrupted; `launched()` is called once the
playbook process (or the AWX job) exists.

Alert content reaches the playbook only as data: extra vars are written to the run's
env/extravars file with every string from the alert tagged `!unsafe`, so Ansible never renders a
`{{ ... }}` that a label or annotation carries; nothing from the alert is put on a command line.
"""
import glob
import json
import os
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request

import yaml

from .routing import RouteError, safe_playbook


class Unsafe(str):
    """A string Ansible must treat as data (YAML `!unsafe`)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value), style="'"))


def unsafe(value):
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {k: unsafe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsafe(v) for v in value]
    return value


ALERT_DATA_VARS = ("incident_alert", "alert_name", "description")


def job_vars(job):
    """Extra vars of a run: route vars (trusted config), incident_*, and the alert's content as unsafe data."""
    extra = dict(job["extra_vars"])
    for key in ALERT_DATA_VARS:
        if key in extra:
            extra[key] = unsafe(extra[key])
    return extra


def dump_extravars(extra):
    return yaml.dump(extra, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True)


def run_dir(runs_dir, job_id):
    return os.path.join(runs_dir, "job-%d" % int(job_id))


def prune_runs(runs_dir, keep, active_ids=()):
    """Keep the newest `keep` run directories (never one that is still running)."""
    dirs = sorted((int(os.path.basename(d)[4:]), d) for d in glob.glob(os.path.join(runs_dir, "job-*"))
                  if os.path.basename(d)[4:].isdigit())
    for job_id, path in dirs[:max(0, len(dirs) - keep)]:
        if job_id not in active_ids:
            shutil.rmtree(path, ignore_errors=True)


class LocalBackend:
    """ansible-runner on this machine: one private_data_dir per run, the repo as project dir."""
    name = "local"

    def __init__(self, cfg):
        self.cfg = cfg
        # The ansible-playbook installed next to this Python (the venv) wins over any on PATH.
        self.path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)])

    def run(self, job, launched):
        import ansible_runner  # pylint: disable=import-outside-toplevel
        try:
            playbook = safe_playbook(self.cfg.playbooks_dir, job["playbook"])
        except RouteError as exc:
            return "failed", None, str(exc)
        pdd = job["private_data_dir"]
        os.makedirs(os.path.join(pdd, "env"), mode=0o700, exist_ok=True)
        with open(os.path.join(pdd, "env", "extravars"), "w") as fh:
            fh.write(dump_extravars(job_vars(job)))
        # INCIDENT_ID + INCIDENT_ROOT: the timeline callback records into the incident allocated at ack time.
        envvars = {"INCIDENT_ID": job["incident_id"], "INCIDENT_ROOT": self.cfg.incidents_dir,
                   "ANSIBLE_CONFIG": self.cfg.ansible_config,
                   "ANSIBLE_FORCE_COLOR": "0", "PYTHONUNBUFFERED": "1", "PATH": self.path}

        def status_handler(data, runner_config=None):  # pylint: disable=unused-argument
            if data.get("status") == "running":
                launched()

        kwargs = {"private_data_dir": pdd, "project_dir": self.cfg.repo, "playbook": playbook,
                  "ident": "run", "envvars": envvars, "quiet": True, "status_handler": status_handler,
                  "timeout": self.cfg.job_timeout_s, "rotate_artifacts": 1}
        if self.cfg.inventory:
            kwargs["inventory"] = self.cfg.inventory
        thread, runner = ansible_runner.run_async(**kwargs)
        thread.join()
        status = {"successful": "succeeded"}.get(runner.status, "failed")
        error = None if status == "succeeded" else "ansible-runner status %s, rc %s" % (runner.status, runner.rc)
        return status, runner.rc, error

    def adopt(self, job):
        """After a restart: wait for a playbook process that outlived the old receiver, then read how
        it ended from its events. None when no such process is alive (the job was interrupted)."""
        pdd = job.get("private_data_dir") or ""
        if not pdd or not pids_using(pdd):
            return None
        while pids_using(pdd):
            time.sleep(1)
        stats = summary(pdd).get("stats")
        if stats is None:
            return "interrupted", None, "the playbook process ended without final stats after a receiver restart"
        ok = not stats.get("failures") and not stats.get("dark")
        return ("succeeded" if ok else "failed"), None, None if ok else "adopted run failed: %s" % stats


class AwxBackend:
    """AWX / Ansible Automation Platform: launch a job template, then follow the job."""
    name = "awx"
    DONE = {"successful": "succeeded", "failed": "failed", "error": "failed", "canceled": "failed"}

    def __init__(self, cfg, router):
        self.cfg, self.router = cfg, router
        self.url = cfg.awx["url"].rstrip("/")
        self.token = cfg.awx["token"]
        self.context = None if cfg.awx.get("verify_tls", True) else ssl._create_unverified_context()  # pylint: disable=protected-access

    def template_for(self, job):
        route = next((r for r in self.router.routes + [self.router.default] if r.name == job["route"]), None)
        template = route.awx_job_template if route else None
        template = template or self.cfg.awx.get("job_templates", {}).get(job["playbook"])
        if template is None:
            raise RuntimeError("no AWX job template for route %s / playbook %s (set awx_job_template on the route "
                               "or dispatch.awx.job_templates)" % (job["route"], job["playbook"]))
        return int(template)

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=float(self.cfg.awx.get("timeout_s", 10)),
                                        context=self.context) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise RuntimeError("AWX at %s answered %s %s on %s %s: %s"
                               % (self.url, exc.code, exc.reason, method, path, detail)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError("AWX at %s unreachable (%s %s): %s"
                               % (self.url, method, path, getattr(exc, "reason", exc))) from None

    def run(self, job, launched, on_external_id=None):
        try:
            template = self.template_for(job)
            # AWX marks launch-time extra vars unsafe by default (ALLOW_JINJA_IN_EXTRA_VARS=template).
            launch = self.request("POST", "/api/v2/job_templates/%d/launch/" % template,
                                  {"extra_vars": job["extra_vars"]})
        except RuntimeError as exc:
            return "failed", None, str(exc)
        awx_job = launch.get("job") or launch.get("id")
        if on_external_id:
            on_external_id(awx_job)
        launched()
        return self.follow(awx_job)

    def follow(self, awx_job):
        deadline = time.monotonic() + self.cfg.job_timeout_s
        while time.monotonic() < deadline:
            try:
                state = self.request("GET", "/api/v2/jobs/%d/" % int(awx_job))
            except RuntimeError:
                time.sleep(float(self.cfg.awx.get("poll_s", 2)))
                continue
            if state.get("status") in self.DONE:
                status = self.DONE[state["status"]]
                return status, None, None if status == "succeeded" else "AWX job %s %s" % (awx_job, state["status"])
            time.sleep(float(self.cfg.awx.get("poll_s", 2)))
        return "failed", None, "AWX job %s still running after %ss" % (awx_job, self.cfg.job_timeout_s)

    def adopt(self, job):
        """After a restart the AWX job is still known: follow it to the end."""
        return self.follow(job["external_id"]) if job.get("external_id") else None


def summary(pdd):
    """Events of one local run: counts by event, failed tasks, final stats, from the runner artifacts."""
    out = {"events": {}, "failed_tasks": [], "stats": None}
    for path in sorted(glob.glob(os.path.join(pdd, "artifacts", "*", "job_events", "*.json"))):
        try:
            with open(path) as fh:
                event = json.load(fh)
        except (OSError, ValueError):
            continue
        name = event.get("event", "?")
        out["events"][name] = out["events"].get(name, 0) + 1
        data = event.get("event_data", {})
        if name == "runner_on_failed" and not data.get("ignore_errors"):
            out["failed_tasks"].append({"task": data.get("task"), "host": data.get("host")})
        if name == "playbook_on_stats":
            out["stats"] = {k: data.get(k) for k in ("ok", "changed", "failures", "dark", "skipped", "rescued")}
    return out


def pids_using(pdd):
    """Live processes whose command line names this run's directory (an orphaned ansible-playbook)."""
    if not pdd:
        return []
    needle = pdd.rstrip("/").encode() + b"/"
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as fh:
                    if needle in fh.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids
