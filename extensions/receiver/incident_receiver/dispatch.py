"""Dispatch backends. Local: `launch(job, attempt)` starts a detached ansible-runner and returns its
process; `adopt(job)` waits for a live run of the job to end and returns (status, rc, error), or None
when the current attempt left no outcome. AWX: `run(job, launched, on_external_id)` launches and
follows a job template; `adopt(job)` follows a known AWX job.

Alert content reaches the playbook only as data: extra vars are written to the run's env/extravars
file as JSON with every string from the alert marked `__ansible_unsafe`, so each arrives as the same
string (never re-typed) and Ansible never renders a `{{ ... }}` that a label or annotation carries;
nothing from the alert is put on a command line.
"""
import fcntl
import glob
import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from . import warm
from .runlock import LOCK_FILE, lock_held, process_start
from .routing import RouteError, safe_playbook

LOG = logging.getLogger("incident_receiver")


class Unsafe(str):
    """A string Ansible must treat as data: written as {"__ansible_unsafe": "..."} (see dump_extravars)."""


UNSAFE_KEY = "__ansible_unsafe"
RESERVED_PREFIX = "__ansible"      # keys Ansible's JSON decoder turns into objects (unsafe, vault, type)


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
    """Extra vars of a run: route vars stay templates (trusted config); the alert's content and every
    incident_* var the receiver sets are unsafe data (never rendered)."""
    extra = dict(job["extra_vars"])
    for key in extra:
        if key in ALERT_DATA_VARS or key.startswith("incident_"):
            extra[key] = unsafe(extra[key])
    return extra


def dump_extravars(extra):
    """The env/extravars file: JSON, which ansible-playbook (`-e @file`) reads with every type kept (a
    string stays a string: no YAML re-typing of 'yes', '0x10', '~', '007', timestamps...). An Unsafe
    string is written as {"__ansible_unsafe": "..."}, which Ansible loads as a plain str not trusted as
    a template; other strings (route vars) stay templates. ASCII only (\\u escapes), so the file reads
    the same in any locale.

    The leading tab is valid JSON but invalid YAML: ansible-playbook falls back to YAML when JSON
    decoding fails, and YAML would turn the unsafe markers into trusted strings; with the tab that
    fallback is an error instead. Raises ValueError for what Ansible could not load as given: a key
    starting with __ansible, a lone surrogate, NaN or infinity."""
    return "\t" + json.dumps(_marked(extra), ensure_ascii=True, allow_nan=False, sort_keys=True) + "\n"


def _marked(value):
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("extra vars: %s is not valid Unicode (lone surrogate)" % json.dumps(value)[:60]) from None
        return {UNSAFE_KEY: str(value)} if isinstance(value, Unsafe) else value
    if isinstance(value, dict):
        return {_key(k): _marked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_marked(v) for v in value]
    return value


def _key(key):
    if not isinstance(key, str) or key.startswith(RESERVED_PREFIX):
        raise ValueError("extra vars: key %s is not a string or is reserved by Ansible (%s...)"
                         % (json.dumps(key)[:60], RESERVED_PREFIX))
    _marked(key)                   # the Unicode check
    return str(key)


def run_dir(runs_dir, job_id):
    return os.path.join(runs_dir, "job-%d" % int(job_id))


def prune_runs(runs_dir, keep, active_ids=()):
    """Keep the newest `keep` run directories (never one that is still running)."""
    dirs = sorted((int(os.path.basename(d)[4:]), d) for d in glob.glob(os.path.join(runs_dir, "job-*"))
                  if os.path.basename(d)[4:].isdigit())
    for job_id, path in dirs[:max(0, len(dirs) - keep)]:
        if job_id not in active_ids:
            shutil.rmtree(path, ignore_errors=True)


def clear_stale_run_dir(pdd):
    """Before a queued job is claimed: remove a directory of that path left by an earlier database (its
    artifacts would pass for this job's). False while a process of that old run still holds its lock."""
    if not os.path.isdir(pdd):
        return True
    if lock_held(pdd):
        return False
    shutil.rmtree(pdd, ignore_errors=True)
    return True


RUNNER_DONE = {"successful": "succeeded", "failed": "failed", "timeout": "failed", "canceled": "failed"}


class RunLocked(RuntimeError):
    """Another process holds this run's lock: a run of this job is still alive."""


# What launch() raises when a run cannot start: a bad playbook name, an unwritable run directory, a live run.
LAUNCH_ERRORS = (RouteError, OSError, RunLocked)


class LocalBackend:
    """ansible-runner on this machine, detached from the receiver: `ansible-runner run` in its own session
    (no controlling terminal, stdin /dev/null, output in the run directory), so it outlives a SIGKILL of the
    receiver. One private_data_dir per job, one artifacts/attempt-N per launch, the repo as project dir.
    With dispatch.launcher: warm the same runner is forked by a pre-warmed zygote (warm.py) instead of
    started as a new Python; it falls back to the cold start above when the zygote is unavailable.

    The run's lock (`run.lock`, flock) is taken before the launch and handed to the runner process, which
    holds it to its end: a held lock means the run is alive, whatever pid it has; a free lock with no final
    status in artifacts/attempt-N means that attempt died (or never started)."""
    name = "local"

    def __init__(self, cfg):
        self.cfg = cfg
        self.env = child_env(cfg)
        self.warm = None
        if cfg.launcher == "warm":
            # The zygote imports Ansible once (warm.py); a run it cannot take is launched cold.
            zygote_env = dict(self.env, INCIDENT_WARM_PROJECT=cfg.repo, INCIDENT_WARM_INVENTORY=cfg.inventory or "")
            self.warm = warm.WarmLauncher(zygote_env, cfg.repo, os.path.join(cfg.state_dir, "warm.log"),
                                          ready_timeout_s=cfg.warm_ready_timeout_s, poll_s=max(0.02, cfg.poll_s))
            try:
                self.warm.start()
            except OSError as exc:
                LOG.warning("warm launcher: cannot start the zygote (%s): runs start cold until it starts", exc)

    def close(self):
        if self.warm is not None:
            self.warm.close()

    def launch(self, job, attempt):
        """Start attempt `attempt` of the job detached; returns the Popen (the caller reaps it)."""
        playbook = safe_playbook(self.cfg.playbooks_dir, job["playbook"])
        pdd = job["private_data_dir"]
        self.prepare(job)
        lock = os.open(os.path.join(pdd, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLocked("run directory %s is locked by a live run" % pdd) from None
            env = dict(self.env, INCIDENT_ID=job["incident_id"])
            log = os.path.join(pdd, "%s.log" % attempt_ident(attempt))
            command = self.command(pdd, playbook, attempt)
            if self.warm is not None:
                try:
                    return self.warm.launch(command[3:], env, pdd, log, lock)
                except warm.WarmUnavailable as exc:
                    LOG.warning("run %s: warm launcher unavailable (%s): cold launch", job["id"], exc)
            with open(log, "ab") as out:
                return subprocess.Popen(command, cwd=pdd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                        pass_fds=(lock,))
        finally:
            os.close(lock)       # the runner keeps its inherited copy of the lock until it exits

    def command(self, pdd, playbook, attempt):
        cmd = [sys.executable, "-m", "ansible_runner", "run", pdd, "--playbook", playbook,
               "--project-dir", self.cfg.repo, "--ident", attempt_ident(attempt), "--quiet"]
        return cmd + (["--inventory", self.cfg.inventory] if self.cfg.inventory else [])

    def prepare(self, job):
        """env/extravars (dump_extravars: alert data stays data) and env/settings (job timeout), rewritten
        for every attempt."""
        env_dir = os.path.join(job["private_data_dir"], "env")
        os.makedirs(env_dir, mode=0o700, exist_ok=True)
        _write_atomic(os.path.join(env_dir, "extravars"), dump_extravars(job_vars(job)))
        _write_atomic(os.path.join(env_dir, "settings"), json.dumps({"job_timeout": self.cfg.job_timeout_s}))

    def alive(self, job):
        """Anything of this run still running: the lock holder, the recorded pid (same start time), or a
        process whose command line names the run directory (an ansible-playbook left by a dead runner)."""
        pdd = job.get("private_data_dir")
        return bool(pdd) and (lock_held(pdd) or process_alive(job.get("pid"), job.get("pid_start"))
                              or bool(pids_using(pdd)))

    def adopt(self, job):
        """Wait for a live run of the job's current attempt to end, then (status, rc, error) from its
        artifacts; None when that attempt left no outcome (it died or never started: run it again)."""
        while self.alive(job):
            time.sleep(max(0.05, self.cfg.poll_s))
        return outcome(job.get("private_data_dir"), job.get("attempts") or 0)


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
        """After a restart: follow a known AWX job to its end; None if its launch was never recorded."""
        return self.follow(job["external_id"]) if job.get("external_id") else None


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def child_env(cfg):
    """Environment of a run: the receiver's, without its own secrets (ansible-runner writes a run's
    environment into artifacts/*/command), plus the incident root and config the playbook needs."""
    secrets = set()
    for section in (cfg.raw.get("auth", {}), cfg.awx):
        secrets.update(v for k, v in section.items() if k.endswith("_env") and isinstance(v, str))
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    # The ansible-playbook installed next to this Python (the venv) wins over any on PATH.
    env.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)]),
               INCIDENT_ROOT=cfg.incidents_dir, ANSIBLE_CONFIG=cfg.ansible_config, ANSIBLE_FORCE_COLOR="0",
               PYTHONUNBUFFERED="1")
    return env


def attempt_ident(attempt):
    """artifacts/<ident> of a launch; `run` is where receivers before attempt counting wrote."""
    return "attempt-%d" % attempt if attempt else "run"


def outcome(pdd, attempt):
    """How an ended attempt finished: ansible-runner's status/rc files, else (runner killed after the play)
    the final stats event; None if it left neither."""
    artifacts = os.path.join(pdd or "", "artifacts", attempt_ident(attempt))
    status = _read(os.path.join(artifacts, "status"))
    if status in RUNNER_DONE:
        rc = _read(os.path.join(artifacts, "rc"))
        rc = int(rc) if rc and rc.lstrip("-").isdigit() else None
        mapped = RUNNER_DONE[status]
        return mapped, rc, None if mapped == "succeeded" else "ansible-runner status %s, rc %s" % (status, rc)
    stats = summary(pdd, attempt).get("stats") if pdd else None
    if stats is None:
        return None
    ok = not stats.get("failures") and not stats.get("dark")
    return ("succeeded" if ok else "failed"), None, None if ok else "playbook failed: %s" % stats


def _read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def summary(pdd, attempt=None):
    """Events of one local run (its latest attempt unless `attempt`): counts by event, failed tasks,
    final stats, from the runner artifacts."""
    out = {"events": {}, "failed_tasks": [], "stats": None}
    ident = attempt_ident(attempt) if attempt is not None else latest_ident(pdd)
    if ident is None:
        return out
    for path in event_files(os.path.join(pdd, "artifacts", ident, "job_events")):
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


def latest_ident(pdd):
    """The artifacts directory of the newest attempt of a run (None without artifacts)."""
    names = [os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(pdd), "artifacts", "*"))]
    numbered = [(int(n[8:]), n) for n in names if n.startswith("attempt-") and n[8:].isdigit()]
    if numbered:
        return max(numbered)[1]
    return names[0] if names else None


def event_files(events_dir):
    """One file per event, in order: `<counter>-<uuid>.json` as ansible-runner writes it, else the
    callback's `<uuid>-partial.json` (a runner killed before it processed the event leaves only that)."""
    final, partial = {}, {}
    for name in os.listdir(events_dir) if os.path.isdir(events_dir) else []:
        if name.endswith("-partial.json"):
            partial[name[:-len("-partial.json")]] = name
        elif name.endswith(".json") and name.split("-", 1)[0].isdigit():
            final[name.split("-", 1)[1][:-len(".json")]] = name
    ordered = sorted(final.values(), key=lambda n: int(n.split("-", 1)[0]))
    ordered += sorted(n for uuid, n in partial.items() if uuid not in final)
    return [os.path.join(events_dir, n) for n in ordered]


def process_alive(pid, start):
    return bool(pid) and start is not None and process_start(pid) == int(start)


def pids_using(pdd):
    """Live processes whose command line names a path inside this run's directory (an ansible-playbook)."""
    if not pdd:
        return []
    needle = pdd.rstrip("/").encode() + b"/"
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as fh:
                    if needle in fh.read() and process_start(int(entry)) is not None:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids
