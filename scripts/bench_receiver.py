"""Receiver benchmark (prints figures, asserts nothing):
  1. ingestion: webhook acknowledgment latency p50/p99 at --rate alerts/s for --seconds, distinct
     fingerprints, lab routes, dispatch disabled (every alert is stored and queued, nothing runs);
     alerts lost = sent - stored in SQLite (read after the receiver stopped); with --signed every
     request is HMAC-signed (timestamp + nonce, the nonce recorded in SQLite) instead of a bearer token;
  2. webhook -> playbook start: --starts alerts through the local ansible-runner backend
     (tests/integration/playbooks/receiver_marker.yml): ack -> ansible-playbook spawned, and
     ack -> the playbook's first event;
  3. with --e2e: fault -> healthy through the whole loop on the lab (api-kill, the lab's Prometheus
     and Alertmanager, receiver on 127.0.0.1:19095, ansible-runner, P0 playbook), under the lab lock.
Usage: .venv/bin/python scripts/bench_receiver.py [--rate 200] [--seconds 30] [--starts 10] [--signed] [--e2e]"""
import argparse
import asyncio
import datetime
import fcntl
import glob
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time

import aiohttp
from incident_receiver import auth

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.integration import receiver_support as rs  # noqa: E402  pylint: disable=wrong-import-position

SECRET = "bench-hmac-secret"
LAB_ALERTS = ["ServiceDown", "TaskSchedulerAPIDown", "NoActiveWorkers", "DatabaseSlowQueries", "StuckSagas",
              "ConnectionPoolExhausted", "RedisMemoryHigh", "DiskSpaceLow", "HighErrorRate", "SomethingElse"]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))] if values else float("nan")


async def blast(base, token, rate, seconds, signed=False):
    """Open-loop sender: request i leaves at t0 + i/rate whatever the previous ones do."""
    total = int(rate * seconds)
    latencies, statuses = [], {}
    bearer = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(i):
            name = LAB_ALERTS[i % len(LAB_ALERTS)]
            body = json.dumps(rs.am_payload(rs.am_alert(name, fingerprint="bench%011d" % i, service="svc%d" % (i % 7),
                                                        instance="host-%d" % i)))
            headers = dict(auth.signature_headers(SECRET, body.encode()), **{"Content-Type": "application/json"}) \
                if signed else bearer
            started = time.perf_counter()
            try:
                async with session.post(base + "/alertmanager", data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except aiohttp.ClientError:
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
        t0 = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return total, latencies, statuses, elapsed


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingestion(tmp, rate, seconds, durability, signed=False):
    cfg = rs.write_config(tmp, _lab_routes(), dispatch={"backend": "none"}, log_level="WARNING",
                          durability=durability, auth={"token": rs.TOKEN, "hmac_secret": SECRET})
    rcv = rs.ReceiverProcess(cfg).start()
    try:
        cpu = cpu_seconds(rcv.proc.pid)
        load = os.getloadavg()[0]
        sent, latencies, statuses, elapsed = asyncio.run(blast(rcv.base, rcv.token, rate, seconds, signed))
        cpu = cpu_seconds(rcv.proc.pid) - cpu
        load = max(load, os.getloadavg()[0])
        server = server_ack(rcv.get("/metrics")[1])
    finally:
        rcv.stop()
    db = sqlite3.connect(os.path.join(tmp, "state", "receiver.db"))
    stored = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    jobs = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    db.close()
    return {"sent": sent, "acked": statuses.get(200, 0), "stored": stored, "jobs": jobs, "lost": sent - stored,
            "rate": sent / elapsed, "p50": pct(latencies, 50), "p99": pct(latencies, 99), "max": max(latencies),
            "errors": {k: v for k, v in statuses.items() if k != 200}, "server": server,
            "cpu_ms": cpu / sent * 1e3, "load": load}


def server_ack(metrics):
    """Share of acknowledgments the receiver itself measured under 10 ms and under 50 ms."""
    buckets = {}
    for line in metrics.splitlines():
        if line.startswith("incident_receiver_ack_seconds_bucket"):
            buckets[line.split('le="')[1].split('"')[0]] = int(line.split()[-1])
    total = buckets.get("+Inf") or 1
    return {"le10": buckets.get("0.01", 0) / total, "le50": buckets.get("0.05", 0) / total}


def starts(tmp, count):
    marker = os.path.join(tmp, "markers")
    os.makedirs(marker)
    routes = {"routes": [{"name": "noop", "match": {"alertname": "BenchStart"}, "playbook": "receiver_marker.yml",
                          "extra_vars": {"receiver_test_marker_dir": marker}}], "default": {"playbook": None}}
    cfg = rs.write_config(tmp, routes, dispatch={"max_concurrent": 1}, log_level="WARNING")
    rcv = rs.ReceiverProcess(cfg).start()
    try:
        for i in range(count):
            rcv.post("/alertmanager", rs.am_payload(rs.am_alert("BenchStart", service="s%d" % i)))
            rcv.wait_runs(lambda runs: all(r["status"] in ("succeeded", "failed") for r in runs), 60)
        runs = rcv.runs()
    finally:
        rcv.stop()
    spawn = [r["launched_at"] - r["created_at"] for r in runs if r["launched_at"]]
    first_event = []
    for run in runs:
        events = sorted(glob.glob(os.path.join(run["private_data_dir"], "artifacts", "*", "job_events", "*.json")))
        for path in events:
            with open(path) as fh:
                event = json.load(fh)
            if event.get("event") == "playbook_on_start":
                created = datetime.datetime.fromisoformat(event["created"]).replace(tzinfo=datetime.timezone.utc)
                first_event.append(created.timestamp() - run["created_at"])
    return {"runs": len(runs), "ok": sum(r["status"] == "succeeded" for r in runs), "spawn": spawn,
            "first_event": first_event}


def e2e(tmp):
    from tests import lab  # pylint: disable=import-outside-toplevel
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert lab.lab("wait").returncode == 0, "lab not healthy"
        _rcv, run, timings = rs.lab_loop(tmp, lab)
        lab.lab("wait")
    timings["status"] = run["status"]
    return timings


def _lab_routes():
    import yaml  # pylint: disable=import-outside-toplevel
    with open(os.path.join(rs.REPO, "extensions", "receiver", "routes.yml")) as fh:
        return yaml.safe_load(fh)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--durability", choices=("FULL", "NORMAL"), default="FULL",
                        help="SQLite synchronous mode of the receiver (FULL: fsync per commit)")
    parser.add_argument("--signed", action="store_true", help="HMAC-signed webhooks instead of a bearer token")
    parser.add_argument("--e2e", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        os.makedirs(os.path.join(tmp, "ingest"))
        ing = ingestion(os.path.join(tmp, "ingest"), args.rate, args.seconds, args.durability, args.signed)
        rows += [("ack latency p50 (%d alerts/s, %ds, %s%s)" % (args.rate, args.seconds, args.durability,
                                                                ", signed" if args.signed else ""),
                  "%.1f ms" % (ing["p50"] * 1e3), ""),
                 ("ack latency p99", "%.1f ms" % (ing["p99"] * 1e3), "< 50 ms"),
                 ("ack latency max", "%.1f ms" % (ing["max"] * 1e3), ""),
                 ("server-side acks <= 10 ms / <= 50 ms",
                  "%.1f%% / %.1f%%" % (ing["server"]["le10"] * 100, ing["server"]["le50"] * 100), ""),
                 ("achieved rate", "%.0f alerts/s" % ing["rate"], ""),
                 ("receiver CPU per alert", "%.2f ms" % ing["cpu_ms"], ""),
                 ("machine load average (1 min, max)", "%.1f on %d cores" % (ing["load"], os.cpu_count()), ""),
                 ("sent / acked 200 / stored / jobs",
                  "%d / %d / %d / %d" % (ing["sent"], ing["acked"], ing["stored"], ing["jobs"]), ""),
                 ("alerts lost (sent - stored)", str(ing["lost"]), "0")]
        if ing["errors"]:
            rows.append(("non-200 answers", str(ing["errors"]), ""))
        os.makedirs(os.path.join(tmp, "starts"))
        st = starts(os.path.join(tmp, "starts"), args.starts)
        rows += [("runs (ansible-runner, no-op playbook)", "%d/%d succeeded" % (st["ok"], st["runs"]), ""),
                 ("webhook -> ansible-playbook spawned p50/max", "%.2f / %.2f s" % (
                     statistics.median(st["spawn"]), max(st["spawn"])), "< 1.5 s"),
                 ("webhook -> playbook_on_start p50/max", "%.2f / %.2f s" % (
                     statistics.median(st["first_event"]), max(st["first_event"])), "< 1.5 s")]
        if args.e2e:
            os.makedirs(os.path.join(tmp, "e2e"))
            loop = e2e(os.path.join(tmp, "e2e"))
            rows += [("e2e playbook / run status", "%s / %s" % (loop["playbook"], loop["status"]), ""),
                     ("fault -> alert at receiver", "%.1f s" % loop["fault_to_alert_s"], ""),
                     ("alert -> playbook spawned", "%.2f s" % (loop["alert_to_launch_s"] or float("nan")), ""),
                     ("fault -> api healthy", "%.1f s" % loop["fault_to_healthy_s"], "< 15 s"),
                     ("fault -> run finished", "%.1f s" % loop["fault_to_run_end_s"], ""),
                     ("fault -> resolved webhook", "%.1f s" % loop["fault_to_resolved_s"], "")]
    width = max(len(r[0]) for r in rows)
    print("%-*s  %-22s %s" % (width, "receiver benchmark", "measured", "target"))
    print("-" * (width + 34))
    for name, value, target in rows:
        print("%-*s  %-22s %s" % (width, name, value, target))
    print("lab timings: Prometheus scrape/eval 2 s, rule `for` 4 s, Alertmanager group_wait 1 s, group_interval 5 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
