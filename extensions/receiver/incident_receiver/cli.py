"""`incident-receiver --config receiver.yml [--check-config]`"""
import argparse
import logging
import sys

from aiohttp import web

from . import __version__
from .app import make_app
from .config import ConfigError, load
from .routing import RouteError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="incident-receiver", description=__doc__)
    parser.add_argument("--config", "-c", required=True, help="receiver.yml")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the config and routes (every playbook must exist), then exit")
    parser.add_argument("--port", type=int, help="override listen.port")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    try:
        cfg = load(args.config)
    except (ConfigError, RouteError, OSError) as exc:
        print("incident-receiver: %s" % exc, file=sys.stderr)
        return 2
    if args.port:
        cfg.port = args.port
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    missing = cfg.router.missing_playbooks()
    if args.check_config:
        for line in missing:
            print("missing playbook: " + line, file=sys.stderr)
        print("config ok: %d routes, backend %s, listening on %s:%d"
              % (len(cfg.router.routes), cfg.backend, cfg.host, cfg.port))
        return 1 if missing else 0
    for line in missing:
        logging.getLogger("incident_receiver").warning("route %s (its runs will fail until the file exists)", line)
    web.run_app(make_app(cfg), host=cfg.host, port=cfg.port, print=None,
                access_log=logging.getLogger("aiohttp.access") if cfg.log_level == "DEBUG" else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
