# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""service_catalog: validate the inventory's service catalog (incident_services) and derive what
every role reads from it: services by name, the restart order (dependencies first), the engine of
each service, the service in front (maintenance), the database and cache connections, the
diagnostics triage runs. Pure logic, unit-tested; see plugins/filter/service_catalog.yml."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

SEVERITIES = ("P0", "P1", "P2", "P3")
RUNTIMES = ("compose", "kubernetes")
KINDS = ("app", "proxy", "postgres", "redis", "external")
# The Docker connection options of the modules (group/incident.response.docker), plus the compose CLI.
ENGINE_FIELDS = ("docker_host", "tls", "validate_certs", "cert_path", "api_version", "use_ssh_client",
                 "docker_timeout", "compose_cli")
MAINTENANCE_METHODS = ("nginx", "http")
SERVICE_FIELDS = dict(
    name=str, runtime=str, engine=str, project=str, service=str, compose_files=list, project_dir=str,
    kind=str, health_url=str, public_url=str, depends_on=list, severity=str, playbook=str,
    maintenance=dict, checks=dict, connection=dict, owner=str, escalation=str, container_disks=bool,
    http=dict, k8s=dict,
)
MAINTENANCE_FIELDS = dict(
    method=str, site_link=str, live_config=str, maintenance_config=str, nginx_config=str,
    url=str, http_method=str, body_on=dict, body_off=dict, headers=dict, state_url=str, state_field=str,
    token=str, verify_url=str, verify_status=int, verify_marker=str,
)
# The connection options of the Kubernetes modules (doc fragment incident.response.k8s), per cluster.
K8S_CLUSTER_FIELDS = ("host", "api_key", "kubeconfig", "context", "validate_certs", "ca_cert", "client_cert", "client_key",
                      "proxy", "request_timeout")
# A kubernetes service's `k8s:` block: its cluster, namespace, exactly one workload, and the guard rails of its actions.
K8S_FIELDS = dict(cluster=str, namespace=str, deployment=str, statefulset=str, pod=str, container=str,
                  max_replicas=int, max_memory_limit=str, exec_check=list)
# Runbook 001's `kubectl exec <pod> -- psql / redis-cli`: what triage runs in a pod of a kubernetes postgres or
# redis service that has no `connection` of its own (rc 0 = answering).
EXEC_CHECKS = dict(postgres=["pg_isready", "-q"], redis=["redis-cli", "ping"])
K8S_WORKLOAD_KINDS = ("deployment", "statefulset", "pod")
CHECK_FIELDS = dict(sql=str, max=float, min=float, severity=str, description=str, service=str, playbook=str)
# Keys of a connection per kind (the options the postgres / redis modules take), with defaults.
CONNECTION_FIELDS = dict(
    postgres=dict(host=None, port=5432, user="postgres", password="", database="postgres"),
    redis=dict(host=None, port=6379, password=None),
)


class CatalogError(AnsibleFilterError):
    pass


def _where(index, entry):
    name = entry.get("name") if isinstance(entry, dict) else None
    return "incident_services[%d]%s" % (index, " (%s)" % name if name else "")


def _check_fields(where, value, fields):
    if not isinstance(value, dict):
        raise CatalogError("%s must be a mapping, got %s" % (where, type(value).__name__))
    for key, val in value.items():
        if key not in fields:
            raise CatalogError("%s: unknown field '%s' (known: %s)" % (where, key, ", ".join(sorted(fields))))
        want = fields[key]
        if val is None:
            continue
        if want in (int, float):
            ok = isinstance(val, (int, float)) and not isinstance(val, bool)
        else:
            ok = isinstance(val, want)
        if want is str and not ok and isinstance(val, (int, float)) and not isinstance(val, bool):
            ok = True  # a port-like number written without quotes
        if not ok:
            raise CatalogError("%s: field '%s' must be a %s, got %s %r" % (
                where, key, {str: "string", list: "list", dict: "mapping", bool: "boolean", int: "number", float: "number"}[want],
                type(val).__name__, val))


def _choice(where, field, value, choices):
    if value not in choices:
        raise CatalogError("%s: field '%s' must be one of %s, got %r" % (where, field, ", ".join(choices), value))


def _url(where, field, value):
    if value and not str(value).startswith(("http://", "https://")):
        raise CatalogError("%s: field '%s' must be an http:// or https:// URL, got %r" % (where, field, value))


def _connections(variable, value, fields, what):
    """`value` (the inventory's `variable`): name -> connection options among `fields`; `default` always exists
    (empty: the library's own defaults). Empty values are dropped."""
    out = {"default": {}}
    if value is None:
        return out
    if not isinstance(value, dict):
        raise CatalogError("%s must be a mapping of %s name -> connection, got %s" % (variable, what, type(value).__name__))
    for name, conn in value.items():
        conn = conn or {}
        _check_fields("%s.%s" % (variable, name), conn, dict((f, object) for f in fields))
        out[name] = dict((k, v) for k, v in conn.items() if v not in (None, ""))
    return out


def _engines(engines):
    """Container engines by name (DOCKER_HOST or the local socket for `default`)."""
    out = _connections("incident_engines", engines, ENGINE_FIELDS, "engine")
    for name, conn in out.items():
        host = conn.get("docker_host")
        if host and not str(host).startswith(("unix://", "tcp://", "ssh://", "http://", "https://", "npipe://")):
            raise CatalogError("incident_engines.%s: field 'docker_host' must be a unix://, tcp:// or ssh:// URL, got %r"
                               % (name, host))
    return out


def _clusters(clusters):
    """Kubernetes clusters by name, each the k8s modules' connection options (`default`: $KUBECONFIG,
    ~/.kube/config, else the in-cluster service account)."""
    return _connections("incident_k8s_clusters", clusters, K8S_CLUSTER_FIELDS, "cluster")


def _k8s(where, k8s, clusters):
    """A kubernetes service's workload: kind, name, namespace, container, its cluster's connection, guard rails."""
    _check_fields(where + ".k8s", k8s, K8S_FIELDS)
    named = [kind for kind in K8S_WORKLOAD_KINDS if k8s.get(kind)]
    if len(named) != 1:
        raise CatalogError("%s: field 'k8s' needs exactly one of 'deployment', 'statefulset' or 'pod' for a kubernetes service"
                           % where)
    cluster = k8s.get("cluster") or "default"
    if cluster not in clusters:
        raise CatalogError("%s: field 'k8s.cluster': %r is not in incident_k8s_clusters (known: %s)"
                           % (where, cluster, ", ".join(sorted(clusters))))
    return dict(kind=named[0], name=str(k8s[named[0]]), namespace=str(k8s.get("namespace") or ""),
                exec_check=[str(a) for a in k8s.get("exec_check") or []],
                container=str(k8s.get("container") or ""), cluster=cluster, conn=dict(clusters[cluster]),
                max_replicas=int(k8s.get("max_replicas") or 10), max_memory_limit=str(k8s.get("max_memory_limit") or "4Gi"),
                **{named[0]: str(k8s[named[0]])})


def _connection(engine):
    """The module options of an engine (module_defaults of group/incident.response.docker)."""
    return dict((k, v) for k, v in engine.items() if k != "compose_cli")


def _connection_of(where, kind, conn, runtime="compose"):
    """A postgres / redis connection with its defaults; unknown keys (a typo) are an error. A kubernetes one may
    have none: it is then checked through exec in its pod (k8s.exec_check)."""
    if kind not in CONNECTION_FIELDS:
        if conn:
            raise CatalogError("%s: field 'connection' belongs on a service of kind postgres or redis" % where)
        return {}
    if runtime == "kubernetes" and not conn:
        return {}
    fields = CONNECTION_FIELDS[kind]
    _check_fields(where + ".connection", conn or {}, dict((k, object) for k in fields))
    if not (conn or {}).get("host"):
        raise CatalogError("%s: field 'connection.host' is required for a %s service" % (where, kind))
    out = dict((k, v) for k, v in fields.items() if v is not None)
    out.update((k, v) for k, v in conn.items() if v is not None)
    return out


def _maintenance(where, m):
    where = where + ".maintenance"
    _check_fields(where, m, MAINTENANCE_FIELDS)
    method = m.get("method")
    if method is None:
        raise CatalogError("%s: field 'method' is required (%s)" % (where, ", ".join(MAINTENANCE_METHODS)))
    _choice(where, "method", method, MAINTENANCE_METHODS)
    if method == "http" and not m.get("url"):
        raise CatalogError("%s: field 'url' is required with method http (the admin endpoint)" % where)
    if method == "nginx":
        missing = [f for f in ("site_link", "live_config", "maintenance_config") if not m.get(f)]
        if missing:
            raise CatalogError("%s: method nginx needs the field(s) %s (paths inside the nginx container)"
                               % (where, ", ".join(missing)))
    for f in ("url", "state_url", "verify_url"):
        _url(where, f, m.get(f))
    return dict(m, http_method=str(m.get("http_method") or "POST").upper())


def _checks(where, service_name, checks):
    out = {}
    for name, check in (checks or {}).items():
        cwhere = "%s.checks.%s" % (where, name)
        _check_fields(cwhere, check, CHECK_FIELDS)
        if not check.get("sql"):
            raise CatalogError("%s: field 'sql' is required" % cwhere)
        sev = check.get("severity", "warning")
        _choice(cwhere, "severity", sev, ("critical", "warning", "info"))
        out[name] = dict(check, severity=sev, service=check.get("service") or service_name)
    return out


def _order(services):
    """Dependencies first (stable: catalog order among independent services); cycles are an error."""
    order, state = [], {}

    def visit(name, path):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise CatalogError("incident_services: depends_on has a cycle: %s" % " -> ".join(path + [name]))
        state[name] = "visiting"
        for dep in services[name]["depends_on"]:
            visit(dep, path + [name])
        state[name] = "done"
        order.append(name)

    for name in services:
        visit(name, [])
    return order


def service_catalog(entries, engines=None, project=None, clusters=None):
    """Validate the catalog and return the derived view (see service_catalog.yml)."""
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise CatalogError("incident_services must be a list of services, got %s" % type(entries).__name__)
    engines = _engines(engines)
    clusters = _clusters(clusters)
    services = {}
    for index, entry in enumerate(entries):
        where = _where(index, entry)
        _check_fields(where, entry, SERVICE_FIELDS)
        name = entry.get("name")
        if not name:
            raise CatalogError("%s: field 'name' is required" % where)
        name = str(name)
        if name in services:
            raise CatalogError("%s: field 'name': %s appears twice" % (where, name))
        runtime = entry.get("runtime") or "compose"
        _choice(where, "runtime", runtime, RUNTIMES)
        kind = entry.get("kind") or "app"
        _choice(where, "kind", kind, KINDS)
        severity = entry.get("severity") or "P2"
        _choice(where, "severity", severity, SEVERITIES)
        engine = entry.get("engine") or "default"
        if runtime == "compose" and engine not in engines:
            raise CatalogError("%s: field 'engine': %r is not in incident_engines (known: %s)"
                               % (where, engine, ", ".join(sorted(engines))))
        svc_project = entry.get("project") or project
        if runtime == "compose" and kind != "external" and not svc_project:
            raise CatalogError("%s: field 'project' is required for a compose service (or set incident_compose_project)" % where)
        if entry.get("k8s") and runtime != "kubernetes":
            raise CatalogError("%s: field 'k8s' belongs on a service with runtime kubernetes" % where)
        k8s = _k8s(where, entry.get("k8s") or {}, clusters) if runtime == "kubernetes" else {}
        for f in ("health_url", "public_url"):
            _url(where, f, entry.get(f))
        conn = _connection_of(where, kind, entry.get("connection"), runtime)
        svc = dict(
            name=name, runtime=runtime, kind=kind, severity=severity, engine=engine,
            docker=_connection(engines.get(engine, {})), docker_host=engines.get(engine, {}).get("docker_host", ""),
            compose_cli=engines.get(engine, {}).get("compose_cli", ""),
            project=str(svc_project or ""), service=str(entry.get("service") or name),
            compose_files=list(entry.get("compose_files") or []), project_dir=entry.get("project_dir") or "",
            health_url=entry.get("health_url") or "", public_url=entry.get("public_url") or "",
            depends_on=[str(d) for d in entry.get("depends_on") or []], playbook=entry.get("playbook") or "",
            maintenance=_maintenance(where, entry["maintenance"]) if entry.get("maintenance") else {},
            checks=_checks(where, name, entry.get("checks")), connection=conn, owner=entry.get("owner") or "",
            escalation=entry.get("escalation") or "", container_disks=bool(entry.get("container_disks")),
            http=entry.get("http") or {}, k8s=k8s,
        )
        if svc["checks"] and kind != "postgres":
            raise CatalogError("%s: field 'checks' (SQL) belongs on a service of kind postgres" % where)
        services[name] = svc
    for index, entry in enumerate(entries):
        for dep in services[str(entry["name"])]["depends_on"]:
            if dep not in services:
                raise CatalogError("%s: field 'depends_on': %r is not a service of the catalog" % (_where(index, entry), dep))
    for svc in services.values():
        for check in svc["checks"].values():
            if check["service"] not in services:
                raise CatalogError("incident_services (%s): checks: service %r is not in the catalog" % (svc["name"], check["service"]))
    return _derive(services, engines, clusters)


def _first(services, kind):
    """The catalog's first service of `kind` that can be reached directly (a kubernetes one may only have exec)."""
    found = [s for s in services.values() if s["kind"] == kind]
    found = [s for s in found if s["connection"]] + [s for s in found if not s["connection"]]
    return found[0] if found else None


def _k8s_groups(services):
    """One inspection per cluster and namespace: the workloads of the catalog's kubernetes services there."""
    groups = []
    for s in services.values():
        if s["runtime"] != "kubernetes":
            continue
        k = s["k8s"]
        gid = "%s/%s" % (k["cluster"], k["namespace"] or "-")
        group = next((g for g in groups if g["id"] == gid), None)
        if group is None:
            group = dict(id=gid, cluster=k["cluster"], namespace=k["namespace"], conn=k["conn"], workloads=[])
            groups.append(group)
        group["workloads"].append(k["name"])
    return groups


def _derive(services, engines, clusters=None):
    order = _order(services)
    fronts = [s["name"] for s in services.values() if s["maintenance"]]
    pg, rd = _first(services, "postgres"), _first(services, "redis")
    compose = [s for s in services.values() if s["runtime"] == "compose" and s["kind"] != "external"]
    groups = []
    for s in compose:
        key = dict(engine=s["engine"], project=s["project"], docker_host=s["docker_host"], docker=s["docker"])
        if key not in groups:
            groups.append(key)
    for i, g in enumerate(groups):
        g["id"] = "%s/%s" % (g["engine"], g["project"])
        g["services"] = [s["service"] for s in compose if s["engine"] == g["engine"] and s["project"] == g["project"]]
        g["compose_files"] = sorted(set(f for s in compose if s["engine"] == g["engine"] and s["project"] == g["project"]
                                        for f in s["compose_files"]))
    checks = {}
    for s in services.values():
        checks.update(s["checks"])
    return dict(
        services=services,
        names=list(services),
        docker_defaults=_connection(engines["default"]),
        order=order,
        engines=engines,
        clusters=clusters or {"default": {}},
        groups=groups,
        k8s_groups=_k8s_groups(services),
        front=fronts[0] if fronts else "",
        maintenance=services[fronts[0]]["maintenance"] if fronts else {},
        postgres=pg["connection"] if pg else {},
        postgres_service=pg["name"] if pg else "",
        redis=rd["connection"] if rd else {},
        redis_service=rd["name"] if rd else "",
        checks=checks,
        health_checks=[dict(s["http"], name=s["name"], url=s["health_url"]) for s in services.values() if s["health_url"]],
        public_checks=[dict(name="public" if len([x for x in services.values() if x["public_url"]]) == 1 else "public-" + s["name"],
                            url=s["public_url"]) for s in services.values() if s["public_url"]],
        triage=[_descriptor(s) for s in services.values()],
    )


def _descriptor(s):
    """The triage role's service descriptor for one catalog service."""
    kind = {"postgres": "postgres", "redis": "redis", "external": "http"}.get(s["kind"], "docker")
    group = "%s/%s" % (s["engine"], s["project"])
    if s["runtime"] == "kubernetes":  # its workload is read from the API; its URL, when it has one, too
        kind, group = "k8s", "%s/%s" % (s["k8s"]["cluster"], s["k8s"]["namespace"] or "-")
    d = dict(name=s["name"], kind=kind, down_severity=s["severity"], group=group,
             container_disks=s["container_disks"], depends_on=s["depends_on"])
    if s["runtime"] == "kubernetes":
        d.update(workload=s["k8s"]["name"], workload_kind=s["k8s"]["kind"])
        argv = s["k8s"]["exec_check"] or (EXEC_CHECKS.get(s["kind"]) if not s["connection"] else None)
        if argv:
            d["exec_check"] = argv
    if s["runtime"] == "compose" and s["kind"] != "external":
        d["service"] = s["service"]
    if s["health_url"]:
        d["url"] = s["health_url"]
        if s["http"]:
            d["http"] = s["http"]
    if s["playbook"] or s["runtime"] == "kubernetes":
        d["down_playbook"] = s["playbook"] or "k8s-service-down"
    return d


def service_order(names, catalog):
    """`names` sorted dependencies first, by the catalog's order; names not in the catalog come last."""
    order = (catalog or {}).get("order") or []
    names = list(names or [])
    return [n for n in order if n in names] + [n for n in names if n not in order]


def compose_services(names, catalog, dependants=False):
    """Compose service names of catalog services (with `dependants`, also of the services that depend
    on them), in catalog order, each once; names the catalog does not know are left out."""
    services = (catalog or {}).get("services") or {}
    wanted = set(n for n in names or [] if n in services)
    if dependants:
        wanted |= set(n for n, s in services.items() if wanted & set(s["depends_on"]))
    out = []
    for name in services:
        if name in wanted and services[name]["runtime"] == "compose" and services[name]["service"] not in out:
            out.append(services[name]["service"])
    return out


def catalog_scope(names, catalog):
    """The part of the catalog one incident owns: the triage descriptors, compose groups (their
    services cut to the scope) and health checks of `names` (unknown and empty names are left out),
    with every public check. Another service's outage is another incident: it must neither slow
    this one's triage nor fail its verification."""
    catalog = catalog or {}
    scope = set(n for n in names or [] if n in (catalog.get("services") or {}))
    triage = [d for d in catalog.get("triage") or [] if d["name"] in scope]
    groups = []
    for g in catalog.get("groups") or []:  # two projects may both have a compose service `web`
        mine = set(d.get("service") for d in triage if d["group"] == g["id"])
        if mine & set(g["services"]):
            groups.append(dict(g, services=[s for s in g["services"] if s in mine]))
    k8s_groups = []
    for g in catalog.get("k8s_groups") or []:
        mine = [d["workload"] for d in triage if d["kind"] == "k8s" and d["group"] == g["id"]]
        if mine:
            k8s_groups.append(dict(g, workloads=mine))
    return dict(names=[n for n in catalog.get("names") or [] if n in scope],
                triage=triage,
                groups=groups,
                k8s_groups=k8s_groups,
                health_checks=[c for c in catalog.get("health_checks") or [] if c["name"] in scope],
                public_checks=list(catalog.get("public_checks") or []))


class FilterModule(object):
    def filters(self):
        return {"service_catalog": service_catalog, "service_order": service_order, "compose_services": compose_services,
                "catalog_scope": catalog_scope}
