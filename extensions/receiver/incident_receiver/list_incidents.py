"""`incident-list [--root DIR] [--open | --all | --status S ...] [--json]`: the incidents under the
incident root, newest first - id, severity, status, age, services, last milestone, report path.

The listing is the collection's own (plugins/module_utils/incident_list.py, also behind the
incident.response.incident_list module), found in --collections, ANSIBLE_COLLECTIONS_PATH, the
checkout this package sits in, or Ansible's default collection paths."""
import argparse
import importlib
import json
import os
import sys

from . import __version__

SHARED = "ansible_collections.incident.response.plugins.module_utils.incident_list"
DEFAULT_PATHS = ("~/.ansible/collections", "/usr/share/ansible/collections")


def collection_paths(explicit=None, env=None):
    """Directories that may hold ansible_collections/incident/response, in the order they are tried."""
    env = os.environ if env is None else env
    found = [explicit] if explicit else []
    for name in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"):
        found += [p for p in env.get(name, "").split(os.pathsep) if p]
    # a checkout: <repo>/extensions/receiver/incident_receiver/ with <repo>/collections beside
    here = os.path.dirname(os.path.abspath(__file__))
    found.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))), "collections"))
    found += list(DEFAULT_PATHS)
    return [os.path.abspath(os.path.expanduser(p)) for p in found]


def shared(explicit=None):
    """The collection's module_utils.incident_list."""
    if not explicit:
        try:
            return importlib.import_module(SHARED)
        except ImportError:
            pass
    for path in collection_paths(explicit):
        if os.path.isfile(os.path.join(path, *SHARED.split(".")) + ".py"):
            if path not in sys.path:
                sys.path.insert(0, path)
            return importlib.import_module(SHARED)
    raise ImportError("the incident.response collection was not found in %s" % ", ".join(collection_paths(explicit)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="incident-list", description=__doc__.split("\n\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None,
                        help="incident root (default: env INCIDENT_ROOT, else ./incidents)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--open", action="store_true", help="only what still needs someone (open, escalated, mitigated, unknown)")
    which.add_argument("--all", action="store_true", help="also the runs that declared nothing (none) and check-mode runs (dry-run)")
    which.add_argument("--status", nargs="+", metavar="STATUS",
                       help="only these statuses: open escalated mitigated resolved dry-run none unknown")
    parser.add_argument("--json", action="store_true", help="machine-readable: {root, counts, incidents}")
    parser.add_argument("--collections", help="a collections path holding ansible_collections/incident/response")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    try:
        mod = shared(args.collections)
    except ImportError as exc:
        print("incident-list: %s" % exc, file=sys.stderr)
        return 2
    statuses = mod.OPEN_STATUSES if args.open else mod.STATUSES if args.all else args.status or mod.DEFAULT_STATUSES
    try:
        root, entries = mod.list_incidents(args.root or mod.default_root(), statuses)
    except mod.IncidentError as exc:
        print("incident-list: %s" % exc, file=sys.stderr)
        return 2
    if args.json:
        text = json.dumps({"root": root, "counts": mod.counts(entries), "incidents": entries}, indent=2, sort_keys=True)
    elif entries:
        text = "\n".join(mod.table(entries))
    else:
        text = "no incidents under %s (status: %s)" % (root, ", ".join(statuses))
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:     # `incident-list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
