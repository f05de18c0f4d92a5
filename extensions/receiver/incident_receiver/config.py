"""receiver.yml -> Config. Relative paths are relative to the config file; secrets come from the
environment (`*_env`), a file (`*_file`) or, for throwaway labs only, the file itself."""
import os

import yaml

from . import dependencies, routing
from .routing import Router

DEFAULTS = {
    "listen": {"host": "127.0.0.1", "port": 19095},
    "max_body_bytes": 1024 * 1024,
    "repo": "../..",
    "playbooks_dir": "playbooks",
    "inventory": "inventory/lab.yml",
    "ansible_config": "ansible.cfg",
    "incidents_dir": "incidents",
    "state_dir": "~/.local/state/incident.response/receiver",
    "routes": "routes.yml",
    "durability": "FULL",
    "auth": {"token_env": "INCIDENT_RECEIVER_TOKEN", "hmac_secret_env": "INCIDENT_RECEIVER_HMAC_SECRET",
             "read_token_env": "INCIDENT_RECEIVER_READ_TOKEN", "signature_window_s": 300},
    # Webhook HTTP limits: a request's body must arrive within body_timeout_s; a connection that sends no
    # complete request headers within idle_timeout_s (or idles that long between requests) is closed; at
    # most max_unauthenticated signed requests may be read at once before their signature is checked.
    "http": {"body_timeout_s": 15, "idle_timeout_s": 15, "max_unauthenticated": 32},
    "dispatch": {"backend": "local", "max_concurrent": 2, "keep_runs": 50, "job_timeout_s": 1800,
                 "max_attempts": 3, "poll_s": 0.2, "launcher": "warm", "warm_ready_timeout_s": 15,
                 "awx": {"url": "", "token_env": "AWX_TOKEN", "job_templates": {}, "poll_s": 2.0,
                         "verify_tls": True, "timeout_s": 10}},
    "read_api_auth": True,
    "log_level": "INFO",
    # One incident per root cause: alerts of a service that depends on one with an open incident are
    # folded into that incident. depends_on: `inventory` (incident_services of the runs' inventory) or a
    # mapping service -> [services]. After its cause resolved, an incident absorbs its dependants' alerts
    # for settle_s more (their recovery lags), then symptoms still firing get their own response. An
    # unresolved incident older than max_open_s stops absorbing alerts.
    "folding": {"enabled": True, "depends_on": "inventory", "settle_s": 120, "max_open_s": 86400},
}
BACKENDS = ("local", "awx", "none")
LAUNCHERS = ("warm", "cold")


class ConfigError(ValueError):
    pass


class Config:
    def __init__(self, doc, base_dir):
        doc = _merge(DEFAULTS, doc or {})
        self.raw = doc
        self.base_dir = base_dir
        self.host = str(doc["listen"]["host"])
        self.port = int(doc["listen"]["port"])
        self.max_body_bytes = int(doc["max_body_bytes"])
        self.repo = self.path(doc["repo"])
        self.playbooks_dir = self.path(doc["playbooks_dir"], self.repo)
        self.inventory = self.path(doc["inventory"], self.repo) if doc["inventory"] else None
        self.ansible_config = self.path(doc["ansible_config"], self.repo)
        self.incidents_dir = self.path(doc["incidents_dir"], self.repo)
        self.state_dir = self.path(os.environ.get("INCIDENT_RECEIVER_STATE_DIR") or doc["state_dir"])
        self.durability = str(doc["durability"]).upper()
        self.log_level = doc["log_level"]
        self.read_api_auth = bool(doc["read_api_auth"])
        auth = doc["auth"]
        self.token = secret(auth, "token")
        self.hmac_secret = secret(auth, "hmac_secret")
        self.read_token = secret(auth, "read_token")       # GET /runs; falls back to `token` when unset
        self.signature_window_s = int(auth["signature_window_s"])
        http = doc["http"]
        self.body_timeout_s = float(http["body_timeout_s"])
        self.idle_timeout_s = float(http["idle_timeout_s"])
        self.max_unauthenticated = int(http["max_unauthenticated"])
        if not self.token and not self.hmac_secret and not auth.get("disabled"):
            raise ConfigError("auth: set a token (auth.token_env / auth.token_file) or an HMAC secret "
                              "(auth.hmac_secret_env / auth.hmac_secret_file), or `auth.disabled: true`")
        dispatch = doc["dispatch"]
        self.backend = dispatch["backend"]
        if self.backend not in BACKENDS:
            raise ConfigError("dispatch.backend: %r not in %s" % (self.backend, BACKENDS))
        self.max_concurrent = int(dispatch["max_concurrent"])
        self.keep_runs = int(dispatch["keep_runs"])
        self.job_timeout_s = int(dispatch["job_timeout_s"])
        # Launches of one job at most: an attempt that left no outcome (its runner died, or the receiver
        # died before launching it) is launched again. `rerun_interrupted` (older configs) is ignored.
        self.max_attempts = int(dispatch["max_attempts"])
        if self.max_attempts < 1:
            raise ConfigError("dispatch.max_attempts: expected at least 1, got %d" % self.max_attempts)
        self.poll_s = float(dispatch["poll_s"])
        # warm: runs are forked from a zygote that imported Ansible once (warm.py); cold: a new
        # `python -m ansible_runner` per run. A warm launch that cannot happen falls back to cold.
        self.launcher = str(dispatch["launcher"])
        if self.launcher not in LAUNCHERS:
            raise ConfigError("dispatch.launcher: %r not in %s" % (self.launcher, LAUNCHERS))
        self.warm_ready_timeout_s = float(dispatch["warm_ready_timeout_s"])
        self.awx = dict(dispatch["awx"])
        self.awx["token"] = secret(self.awx, "token")
        if self.backend == "awx" and not (self.awx["url"] and self.awx["token"]):
            raise ConfigError("dispatch.awx: `url` and a token (dispatch.awx.token_env / token_file) are required")
        self.router = Router(routing.load(self.path(doc["routes"]), self.repo), self.playbooks_dir)
        self.folding, self.settle_s, self.max_open_s, self.graph = _folding(doc["folding"], self)

    def path(self, value, base=None):
        value = os.path.expanduser(str(value))
        return os.path.normpath(os.path.join(base or self.base_dir, value))

    @property
    def db_path(self):
        return os.path.join(self.state_dir, "receiver.db")

    @property
    def runs_dir(self):
        return os.path.join(self.state_dir, "runs")


def _folding(section, cfg):
    """(enabled, settle_s, max_open_s, dependency Graph); a graph that cannot be read stops the start."""
    enabled, source = bool(section["enabled"]), section["depends_on"]
    try:
        settle_s, max_open_s = float(section["settle_s"]), float(section["max_open_s"])
        if settle_s < 0 or max_open_s < 0:
            raise ValueError("settle_s and max_open_s must be >= 0")
        if not enabled:
            graph = dependencies.Graph({})
        elif source == "inventory":
            graph = dependencies.from_inventory(cfg.inventory, cfg.ansible_config) if cfg.inventory \
                else dependencies.Graph({})
        else:
            graph = dependencies.Graph(source, "folding.depends_on")
    except (dependencies.GraphError, TypeError, ValueError) as exc:
        raise ConfigError("folding: %s (fix the graph, or set folding.enabled: false)" % exc) from None
    return enabled, settle_s, max_open_s, graph


def secret(section, name):
    """`<name>_env` (environment) wins over `<name>_file` over `<name>` written in the file."""
    env = section.get(name + "_env")
    if env and os.environ.get(env):
        return os.environ[env]
    path = section.get(name + "_file")
    if path:
        with open(os.path.expanduser(path)) as fh:
            return fh.read().strip()
    return section.get(name) or None


def load(path):
    path = os.path.abspath(path)
    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError("config %s: %s" % (path, exc)) from None
    return Config(doc, os.path.dirname(path))


def _merge(base, override):
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(base[key], value) if isinstance(base.get(key), dict) and isinstance(value, dict) else value
    return out
