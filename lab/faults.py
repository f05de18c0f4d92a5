#!/usr/bin/env python3
"""Inject (and reset) the runbooks' faults into the running lab, for drills, molecule and tests.

  lab/faults.py list
  lab/faults.py inject api-kill          lab/faults.py reset api-kill
Each fault makes the runbook's symptom really happen; `reset` undoes it the quick way (the
collection's playbooks are the proper healers). Standard library only; talks to the docker CLI."""
import argparse
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = "incident-lab"
FAULTS_DIR = os.path.join(HERE, ".state", "faults")


def sh(*argv, check=True, env=None):
    res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if check and res.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(argv[:4]), res.returncode, res.stderr.strip()))
    return res.stdout.strip()


def containers(service, all_states=True):
    argv = ["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=" + PROJECT,
            "--filter", "label=com.docker.compose.service=" + service]
    ids = sh(*(argv + (["-a"] if all_states else []))).split()
    if not ids:
        sys.exit("no %s container in the lab: is it up? (make lab-up)" % service)
    return ids


def compose(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    base = ["docker", "compose"] if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0 \
        else ["docker-compose"]
    return sh(*(base + ["-f", os.path.join(HERE, "docker-compose.yml")] + list(args)), env=env)


def psql(sql, admin=False):
    (pg,) = containers("postgres")[:1]
    user, pw = ("postgres", "$LAB_POSTGRES_ADMIN_PASSWORD") if admin else ("$LAB_POSTGRES_USER", "$LAB_POSTGRES_PASSWORD")
    script = 'PGPASSWORD="%s" psql -qAt -v ON_ERROR_STOP=1 -h "$LAB_BIND" -p "$LAB_POSTGRES_PORT" -U "%s" -d "$LAB_POSTGRES_DB" -c "$1"' % (pw, user)
    return sh("docker", "exec", pg, "bash", "-c", script, "psql", sql)


def in_container(service, *argv, detach=False):
    (cid,) = containers(service)[:1]
    return sh(*(["docker", "exec"] + (["-d"] if detach else []) + [cid] + list(argv)))


def signal_all(service, sig):
    """Send a signal to every process of the service's containers, from the host (SIGSTOP = hung)."""
    for cid in containers(service, all_states=False):
        for line in sh("docker", "top", cid, "-eo", "pid").splitlines()[1:]:
            os.kill(int(line.strip()), sig)


def hold(mode, count):
    in_container("postgres", "env", "PYTHONPATH=/opt/lab", "python3", "/opt/lab/faults/hold_connections.py",
                 "--mode", mode, "--count", str(count), detach=True)


def unhold(mode):
    psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'lab-fault-%s'" % mode,
         admin=True)


def flag(name, present):
    os.makedirs(FAULTS_DIR, exist_ok=True)
    path = os.path.join(FAULTS_DIR, name)
    if present:
        open(path, "w").close()
    elif os.path.exists(path):
        os.unlink(path)


def env_line(name, value):
    """Set NAME=value in the project's .env (value None: drop the line), as a person enabling a feature would."""
    path = os.path.join(HERE, ".env")
    with open(path) as fh:
        lines = [ln for ln in fh.read().splitlines() if not ln.startswith(name + "=")]
    if value is not None:
        lines.append("%s=%s" % (name, value))
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def feature(on):
    """The api's feature flag new_scheduler (lab/apps/flags.py) on in .env, or back to its default
    with the runtime override dropped; the api is recreated to take it."""
    env_line("LAB_FEATURE_NEW_SCHEDULER", "true" if on else None)
    if not on:
        in_container("redis", "bash", "-c", 'redis-cli -h "$LAB_BIND" -p "$LAB_REDIS_PORT" DEL lab:feature:new_scheduler >/dev/null')
    compose("up", "-d", "--no-deps", "api", env_extra={"LAB_FEATURE_NEW_SCHEDULER": "true" if on else "false"})


def restart_policy(service, policy):
    for cid in containers(service):
        sh("docker", "update", "--restart", policy, cid)


# name: (description, inject, reset)
FAULTS = {
    "api-kill": ("API container killed (SIGKILL)",
                 lambda: sh("docker", "kill", *containers("api")),
                 lambda: compose("start", "api")),
    "api-hang": ("API processes frozen (SIGSTOP): port open, no answers",
                 lambda: signal_all("api", signal.SIGSTOP),
                 lambda: signal_all("api", signal.SIGCONT)),
    "db-stop": ("PostgreSQL stopped",
                lambda: compose("stop", "-t", "5", "postgres"),
                lambda: compose("start", "postgres")),
    "workers-stop": ("every worker stopped",
                     lambda: compose("stop", "-t", "5", "worker"),
                     lambda: compose("start", "worker")),
    "stuck-sagas": ("5 sagas RUNNING for 45 minutes",
                    lambda: psql("INSERT INTO saga_executions (saga_id, saga_name, status, correlation_id, created_at, updated_at) "
                                 "SELECT 'stuck-' || g || '-' || md5(random()::text), 'provision_service', 'RUNNING', 'stuck-' || g, "
                                 "now() - interval '50 minutes', now() - interval '45 minutes' FROM generate_series(1, 5) g"),
                    lambda: psql("DELETE FROM saga_executions WHERE saga_id LIKE 'stuck-%'")),
    "long-query": ("2 queries running pg_sleep for an hour",
                   lambda: hold("long-query", 2), lambda: unhold("long-query")),
    "idle-in-transaction": ("2 sessions idle in transaction holding a row lock",
                            lambda: hold("idle-in-transaction", 2), lambda: unhold("idle-in-transaction")),
    "pool-exhausted": ("every non-reserved connection slot held by idle sessions",
                       lambda: hold("idle", 60), lambda: unhold("idle")),
    "redis-full": ("Redis filled to 99% of maxmemory (noeviction: next writes fail with OOM)",
                   lambda: in_container("redis", "env", "PYTHONPATH=/opt/lab", "python3", "/opt/lab/faults/fill_redis.py"),
                   lambda: in_container("redis", "bash", "-c", 'redis-cli -h "$LAB_BIND" -p "$LAB_REDIS_PORT" --scan '
                                        '--pattern "lab:fault:ballast:*" | xargs -r -n 500 redis-cli -h "$LAB_BIND" -p "$LAB_REDIS_PORT" DEL >/dev/null')),
    "restart-loop": ("worker crashes at start-up under restart=always",
                     lambda: (restart_policy("worker", "always"), flag("worker-crash", True)),
                     lambda: (flag("worker-crash", False), restart_policy("worker", "no"), compose("up", "-d", "worker"))),
    "oom": ("worker allocates memory until the kernel OOM-kills it",
            lambda: sh("docker", "kill", "-s", "USR1", *containers("worker", all_states=False)),
            lambda: compose("start", "worker")),
    "bad-deploy": ("api redeployed with the broken image tag incident-lab/api:broken",
                   lambda: compose("up", "-d", "--no-deps", "api", env_extra={"LAB_API_TAG": "broken"}),
                   lambda: compose("up", "-d", "--no-deps", "api", env_extra={"LAB_API_TAG": "current"})),
    "feature-bad": ("the api's feature flag new_scheduler turned on in .env: readiness fails, sagas answer 500",
                    lambda: feature(True), lambda: feature(False)),
    "disk-full": ("the api's spool volume filled to the last byte",
                  lambda: in_container("api", "bash", "-c", "dd if=/dev/zero of=/var/spool/lab/ballast bs=1M 2>/dev/null; true"),
                  lambda: in_container("api", "rm", "-f", "/var/spool/lab/ballast")),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["list", "inject", "reset"])
    parser.add_argument("fault", nargs="?", choices=sorted(FAULTS))
    args = parser.parse_args()
    if args.action == "list":
        for name, (desc, _inject, _reset) in sorted(FAULTS.items()):
            print("%-20s %s" % (name, desc))
        return
    if not args.fault:
        parser.error("name a fault (see: faults.py list)")
    desc, inject, reset = FAULTS[args.fault]
    (inject if args.action == "inject" else reset)()
    print("%s %s: %s" % (args.action, args.fault, desc))


if __name__ == "__main__":
    main()
