"""The lab application's feature flags, and its command to read and set them at run time.

A flag is on or off. Its value is the runtime override in Redis (key lab:feature:<name>, set by
`flags.py set`), else the environment variable LAB_FEATURE_<NAME> (the compose project's .env),
else off. The API reads it on every request, so `flags.py set` acts at once and an environment
change acts when the container is recreated.

  python3 /opt/lab/flags.py get new_scheduler          prints true or false (the effective value)
  python3 /opt/lab/flags.py set new_scheduler false    sets the runtime override
  python3 /opt/lab/flags.py clear new_scheduler        drops the override (the environment decides again)"""
import argparse
import os
import sys

import redis

FLAGS = {
    # new_scheduler: sagas go through the new scheduler, whose table (saga_executions_v2) was never
    # migrated: with it on, readiness fails and every POST /api/sagas answers 500.
    "new_scheduler": "sagas through the new scheduler (saga_executions_v2)",
}
TRUE = ("1", "true", "on", "yes", "enabled")
FALSE = ("0", "false", "off", "no", "disabled")
PREFIX = "lab:feature:"


def env_name(name):
    return "LAB_FEATURE_%s" % name.upper()


def parse(value):
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError("not a flag value: %r (one of %s)" % (value, ", ".join(TRUE + FALSE)))


def client():
    return redis.Redis(host=os.environ.get("LAB_BIND", "127.0.0.1"), port=int(os.environ.get("LAB_REDIS_PORT", "6379")),
                       socket_timeout=1, socket_connect_timeout=1)


def is_on(name, store=None):
    """The effective value: the Redis override, else the environment (Redis down: the environment)."""
    try:
        raw = (store or client()).get(PREFIX + name)
    except redis.exceptions.RedisError:
        raw = None
    if raw is not None:
        try:
            return parse(raw.decode())
        except ValueError:
            pass
    try:
        return parse(os.environ.get(env_name(name), "false"))
    except ValueError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["get", "set", "clear", "list"])
    parser.add_argument("name", nargs="?")
    parser.add_argument("value", nargs="?")
    args = parser.parse_args()
    if args.action == "list":
        for name, desc in sorted(FLAGS.items()):
            print("%s %s  %s" % (name, "true" if is_on(name) else "false", desc))
        return 0
    if args.name not in FLAGS:
        parser.error("unknown flag %r (known: %s)" % (args.name, ", ".join(sorted(FLAGS))))
    store = client()
    if args.action == "set":
        if args.value is None:
            parser.error("set needs a value (true or false)")
        try:
            value = parse(args.value)
        except ValueError as exc:
            parser.error(str(exc))
        store.set(PREFIX + args.name, "true" if value else "false")
    elif args.action == "clear":
        store.delete(PREFIX + args.name)
    print("true" if is_on(args.name, store) else "false")
    return 0


if __name__ == "__main__":
    sys.exit(main())
