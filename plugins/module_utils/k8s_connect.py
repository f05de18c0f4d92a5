# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the Kubernetes modules connect, resolved by the official `kubernetes` client's own config loaders:
kubeconfig in all its forms (token, client certificates, exec plugins, OIDC, tokenFile, relative CA paths,
proxy-url, tls-server-name; several files merged as with KUBECONFIG=a:b), in-cluster service accounts, or
host + api_key. Options and K8S_AUTH_* fallbacks follow kubernetes.core. No temp files of ours."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import logging
import os
import traceback

from ansible.module_utils.basic import env_fallback

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config import incluster_config
    from kubernetes.config.config_exception import ConfigException
    from urllib3.util.retry import Retry
    HAS_K8S = True
    K8S_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by require_k8s()
    HAS_K8S = False
    K8S_IMPORT_ERROR = traceback.format_exc()

    class ConfigException(Exception):
        """Stand-in so `except ConfigException` works without the library."""

DEFAULT_KUBECONFIG = "~/.kube/config"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _env(*names):
    return (env_fallback, list(names))


K8S_ARGSPEC = dict(
    host=dict(type="str", fallback=_env("K8S_AUTH_HOST")),
    api_key=dict(type="str", no_log=True, fallback=_env("K8S_AUTH_API_KEY")),
    kubeconfig=dict(type="str", fallback=_env("K8S_AUTH_KUBECONFIG")),
    context=dict(type="str", fallback=_env("K8S_AUTH_CONTEXT")),
    validate_certs=dict(type="bool", default=True, fallback=_env("K8S_AUTH_VERIFY_SSL")),
    ca_cert=dict(type="path", fallback=_env("K8S_AUTH_SSL_CA_CERT")),
    client_cert=dict(type="path", fallback=_env("K8S_AUTH_CERT_FILE")),
    client_key=dict(type="path", no_log=False, fallback=_env("K8S_AUTH_KEY_FILE")),
    proxy=dict(type="str", fallback=_env("K8S_AUTH_PROXY")),
    request_timeout=dict(type="float", default=10.0),
    namespace=dict(type="str"),
)


class K8sError(Exception):
    """A connection or API call failed; `status` is the HTTP status (0 when the API server did not answer)."""

    def __init__(self, message, status=0):
        super(K8sError, self).__init__(message)
        self.status = status


class Connection(object):
    """An official ApiClient, the namespace to use and `where` (context, kubeconfig or host, for messages)."""

    def __init__(self, api_client, namespace, where):
        self.api_client = api_client
        self.namespace = namespace
        self.where = where


def resolve_source(params, environ=None):
    """(kind, files) where kind is host|kubeconfig|incluster; raises K8sError naming what was tried."""
    environ = os.environ if environ is None else environ
    if params.get("host"):
        return "host", []
    if params.get("kubeconfig"):
        files = split_paths(params["kubeconfig"])
        if not [f for f in files if os.path.exists(f)]:
            raise K8sError("kubeconfig %s not found" % ", ".join(files))
        return "kubeconfig", files
    tried = []
    if environ.get("KUBECONFIG"):
        files = split_paths(environ["KUBECONFIG"])
        if [f for f in files if os.path.exists(f)]:
            return "kubeconfig", files
        tried.append("KUBECONFIG=%s (no such file)" % environ["KUBECONFIG"])
    default = os.path.expanduser(DEFAULT_KUBECONFIG)
    if os.path.exists(default):
        return "kubeconfig", [default]
    tried.append("%s (absent)" % DEFAULT_KUBECONFIG)
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return "incluster", []
    tried.append("in-cluster (KUBERNETES_SERVICE_HOST unset)")
    raise K8sError("no Kubernetes API to talk to: set host, kubeconfig or context; tried %s" % "; ".join(tried))


def split_paths(value):
    return [os.path.expanduser(os.path.expandvars(p)) for p in value.split(os.pathsep) if p]


def pick_context(contexts, current, wanted, files):
    """The kubeconfig context dict to use; a clear K8sError when it does not exist."""
    name = wanted or current
    found = next((c for c in contexts if c.get("name") == name), None) if name else None
    if found is None:
        known = ", ".join(sorted(c.get("name", "?") for c in contexts)) or "none"
        what = "context %r" % name if name else "a current-context"
        raise K8sError("%s not found in kubeconfig %s (contexts: %s)" % (what, ":".join(files), known))
    return found


def _overrides(cfg, params):
    """Explicit options win over what the kubeconfig says, as in kubernetes.core."""
    if params.get("api_key"):
        cfg.api_key = {"authorization": "Bearer " + params["api_key"]}
        cfg.refresh_api_key_hook = None
    if params.get("ca_cert"):
        cfg.ssl_ca_cert = params["ca_cert"]
    if params.get("client_cert"):
        cfg.cert_file = params["client_cert"]
    if params.get("client_key"):
        cfg.key_file = params["client_key"]
    if params.get("validate_certs") is False:
        cfg.verify_ssl = False
    if params.get("proxy"):
        cfg.proxy = params["proxy"]


def connect(params, environ=None):
    """A Connection for module params (the K8S_ARGSPEC options). An explicit namespace always wins; else the
    context's (or the service account's) namespace; else "default"."""
    if not HAS_K8S:
        raise K8sError("the kubernetes Python library is required (pip install kubernetes)")
    kind, files = resolve_source(params, environ)
    cfg = type.__call__(k8s_client.Configuration)
    namespace = None
    try:
        if kind == "host":
            cfg.host = params["host"].rstrip("/")
            where = cfg.host
        elif kind == "kubeconfig":
            path = os.pathsep.join(files)
            contexts, current = k8s_config.list_kube_config_contexts(path)
            ctx = pick_context(contexts, (current or {}).get("name"), params.get("context"), files)
            namespace = (ctx.get("context") or {}).get("namespace")
            with LogCapture() as errors:
                k8s_config.load_kube_config(config_file=path, context=ctx["name"], client_configuration=cfg, persist_config=False)
            if errors.messages and not (cfg.api_key or cfg.cert_file or params.get("api_key")):
                raise ConfigException("user of context %s has no credentials: %s" % (ctx["name"], "; ".join(errors.messages)))
            where = "context %s (%s) of kubeconfig %s" % (ctx["name"], cfg.host, ":".join(files))
        else:
            k8s_config.load_incluster_config(client_configuration=cfg)
            namespace = _read(os.path.join(os.path.dirname(incluster_config.SERVICE_TOKEN_FILENAME), "namespace"))
            where = "in-cluster service account (%s)" % cfg.host
    except (ConfigException, IOError, OSError, ValueError, TypeError, KeyError) as exc:
        raise K8sError("cannot load the Kubernetes %s configuration%s: %s"
                       % (kind, " from %s" % ":".join(files) if files else "", exc))
    _overrides(cfg, params)
    # only connection errors are retried down here; statuses (429/5xx, Retry-After) in K8sClient.call, redirects never
    cfg.retries = Retry(total=2, connect=2, read=0, redirect=False, status=0, other=0, respect_retry_after_header=False,
                        raise_on_status=False)
    return Connection(k8s_client.ApiClient(configuration=cfg), params.get("namespace") or namespace or "default", where)


class LogCapture(logging.Handler):
    """The official loader logs (and swallows) exec plugin failures: keep them for the error message."""

    def __init__(self):
        super(LogCapture, self).__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self)


def _read(path):
    try:
        with open(path) as fh:
            return fh.read().strip() or None
    except (IOError, OSError):
        return None
