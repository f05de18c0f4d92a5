"""Which services depend on which: the service catalog's `depends_on` (inventory variable
incident_services), taken transitively. The receiver folds the alerts of a service into an open
incident of a service it depends on (one incident per root cause)."""
import json
import os
import subprocess
import sys

_CACHE = {}


class GraphError(ValueError):
    """The dependency graph cannot be read or is not valid; the message says where."""


class Graph:
    def __init__(self, depends_on, where="depends_on"):
        if not isinstance(depends_on, dict):
            raise GraphError("%s: expected a mapping service -> [services it depends on]" % where)
        self.depends_on = {}
        for service, deps in depends_on.items():
            if not isinstance(deps, list) or not all(isinstance(d, str) and d for d in deps):
                raise GraphError("%s.%s: expected a list of service names, got %r" % (where, service, deps))
            self.depends_on[str(service)] = list(deps)
        self.causes = {name: self._closure(name, [], where) for name in self.depends_on}

    def _closure(self, name, path, where):
        if name in path:
            raise GraphError("%s has a cycle: %s" % (where, " -> ".join(path + [name])))
        out = set()
        for dep in self.depends_on.get(name, []):
            out.add(dep)
            out |= self._closure(dep, path + [name], where)
        return out

    def causes_of(self, service):
        """The services whose outage explains alerts of `service` (what it depends on, transitively)."""
        return self.causes.get(service, set())

    def dependants_of(self, service):
        """The services that depend on `service`, transitively."""
        return {name for name, causes in self.causes.items() if service in causes}

    def __bool__(self):
        return any(self.depends_on.values())


def from_catalog(services, where="incident_services"):
    """Graph of a catalog list [{name, depends_on}, ...]."""
    if not isinstance(services, list):
        raise GraphError("%s: expected a list of services, got %s" % (where, type(services).__name__))
    graph = {}
    for index, entry in enumerate(services):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise GraphError("%s[%d]: expected a mapping with a `name`" % (where, index))
        graph[entry["name"]] = entry.get("depends_on") or []
    for name, deps in graph.items():
        for dep in deps if isinstance(deps, list) else []:
            if dep not in graph:
                raise GraphError("%s (%s): depends_on %r is not a service of the catalog" % (where, name, dep))
    return Graph(graph, where)


def from_inventory(inventory, ansible_config=None, timeout=60):
    """The graph of `incident_services` in an Ansible inventory, read with `ansible-inventory --list
    --export` (so group_vars, several sources and inventory plugins count as they do for the runs).
    Cached per inventory while its files are unchanged."""
    key = (os.path.realpath(inventory), _signature(inventory))
    if key not in _CACHE:
        _CACHE[key] = from_catalog(_inventory_services(inventory, ansible_config, timeout),
                                   "incident_services of %s" % inventory)
    return _CACHE[key]


def _inventory_services(inventory, ansible_config, timeout):
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    argv = [binary if os.path.exists(binary) else "ansible-inventory", "-i", inventory, "--list", "--export"]
    env = dict(os.environ, ANSIBLE_CONFIG=ansible_config) if ansible_config else None
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphError("ansible-inventory -i %s: %s" % (inventory, exc)) from None
    if res.returncode != 0:
        raise GraphError("ansible-inventory -i %s failed (rc %d): %s"
                         % (inventory, res.returncode, res.stderr.strip()[-500:]))
    try:
        doc = json.loads(res.stdout)
    except ValueError as exc:
        raise GraphError("ansible-inventory -i %s: not JSON (%s)" % (inventory, exc)) from None
    return _find_services(doc)


def _find_services(doc):
    """incident_services from all.vars, else from the first group or host that sets it; [] if none."""
    groups = [doc.get("all") or {}] + [v for k, v in sorted(doc.items()) if k not in ("all", "_meta")]
    for group in groups:
        if isinstance(group, dict) and "incident_services" in (group.get("vars") or {}):
            return group["vars"]["incident_services"]
    for _host, hostvars in sorted(((doc.get("_meta") or {}).get("hostvars") or {}).items()):
        if "incident_services" in hostvars:
            return hostvars["incident_services"]
    return []


def _signature(path):
    """Latest mtime of the inventory's files (a directory: every file under it)."""
    if not os.path.isdir(path):
        return os.stat(path).st_mtime if os.path.exists(path) else None
    return max((os.stat(os.path.join(d, f)).st_mtime for d, _s, files in os.walk(path) for f in files), default=None)
