"""Receiver benchmark (prints figures, asserts nothing):
  1. ingestion: webhook acknowledgment latency p50/p99 at --rate alerts/s for --seconds, distinct
     fingerprints, lab routes, dispatch disabled (every alert is stored and queued, nothing runs);
     alerts lost = sent - stored in SQLite (read after the receiver stopped); with --signed every
     request is HMAC-signed (timestamp + nonce, the nonce recorded in SQLite) instead of a bearer token;
  2. webhook -> playbook start: --starts alerts through the local ansible-runner backend
     (tests/integration/playbooks/receiver_marker.yml): ack -> ansible-playbook spawned, and
     ack -> the playbook's first event;
  3. start-up, measured in one run, interleaved round by round (--startup rounds, same one-task-first
     playbook receiver_marker.yml, same ansible.cfg and inventory): a bare `ansible-playbook` start ->
     its first task, against webhook -> first task through a receiver with the warm launcher and through
     one with the cold launcher (first task = the `start` of the first task in the incident timeline);
  4. with --e2e: fault -> healthy through the whole loop on the lab (api-kill, the lab's Prometheus
     and Alertmanager, receiver on 127.0.0.1:19095, ansible-runner, P0 playbook), under the lab lock,
     with the alert pipeline's share (fault -> firing in Prometheus -> at Alertmanager -> webhook
     received) apart from ours (webhook -> first task -> api healthy).
Usage: .venv/bin/python scripts/bench_receiver.py [--rate 200] [--seconds 30] [--starts 10] [--startup 5]
       [--signed] [--e2e] [--only startup,e2e]"""
import argparse
import asyncio
import datetime
import fcntl
import glob
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
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


def _iso_ts(value):
    """ISO 8601 -> epoch; a time without a zone is UTC (ansible-runner's `created`)."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)).timestamp()


FIRST_TASK_PLAYBOOK = """---
- name: Start-up benchmark
  hosts: localhost
  gather_facts: false
  tasks:
    - name: First task (notes when it ran)
      ansible.builtin.set_fact:
        bench_first_task_at: "{{ now().timestamp() }}"

    - name: Write it down
      ansible.builtin.copy:
        dest: "{{ bench_out_dir }}/{{ incident_id }}.t"
        content: "{{ bench_first_task_at }}"
        mode: "0600"
"""


def first_task_at(out_dir, incident_id, timeout=60):
    """Wall time the first task of the incident's run ran (it notes it; read from the file it wrote)."""
    path = os.path.join(out_dir, incident_id + ".t")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as fh:
                return float(fh.read())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError("the first task of %s left no %s" % (incident_id, path))


def startup(tmp, rounds):
    """Bare ansible-playbook vs webhook (warm, cold) -> first task, interleaved, same playbook."""
    out_dir, playbooks = os.path.join(tmp, "out"), os.path.join(tmp, "playbooks")
    os.makedirs(out_dir)
    os.makedirs(playbooks)
    with open(os.path.join(playbooks, "bench_first_task.yml"), "w") as fh:
        fh.write(FIRST_TASK_PLAYBOOK)
    routes = {"routes": [{"name": "noop", "match": {"alertname": "BenchStart"}, "playbook": "bench_first_task.yml",
                          "extra_vars": {"bench_out_dir": out_dir}}], "default": {"playbook": None}}
    receivers = {}
    for launcher in ("warm", "cold"):
        os.makedirs(os.path.join(tmp, launcher))
        cfg = rs.write_config(os.path.join(tmp, launcher), routes, log_level="WARNING", playbooks_dir=playbooks,
                              dispatch={"max_concurrent": 1, "launcher": launcher})
        receivers[launcher] = rs.ReceiverProcess(cfg).start()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(rs.REPO, "ansible.cfg"),
               INCIDENT_ROOT=os.path.join(tmp, "bare-incidents"), PYTHONUNBUFFERED="1")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
               os.path.join(rs.REPO, "inventory", "lab.yml"), os.path.join(playbooks, "bench_first_task.yml")]
    out = {"bare": [], "warm": [], "cold": [], "fallbacks": 0}
    try:
        warm_log = os.path.join(tmp, "warm", "state", "warm.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (os.path.exists(warm_log) and "ready" in open(warm_log).read()):
            time.sleep(0.1)
        for i in range(rounds):
            incident_id = "INC-2026-01-01-%03d" % (i + 1)
            started = time.time()
            subprocess.run(command + ["-e", json.dumps({"incident_id": incident_id, "bench_out_dir": out_dir})],
                           env=env, cwd=rs.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            out["bare"].append(first_task_at(out_dir, incident_id) - started)
            for launcher in ("warm", "cold"):
                rcv = receivers[launcher]
                started = time.time()
                status, body = rcv.post("/alertmanager", rs.am_payload(rs.am_alert("BenchStart", service="s%d" % i)))
                assert status == 200 and body["queued"], body
                rcv.wait_runs(lambda runs: all(r["status"] in ("succeeded", "failed") for r in runs), 60)
                out[launcher].append(first_task_at(out_dir, body["queued"][0]["incident_id"]) - started)
        out["fallbacks"] = receivers["warm"].read_log().count("warm launcher unavailable")
    finally:
        for rcv in receivers.values():
            rcv.stop()
    return out


def launch_mode(run):
    """How the run's last attempt started: warm (in-process), warm runner + cold ansible-playbook, or cold."""
    path = os.path.join(run.get("private_data_dir") or "", "attempt-%d.log" % (run.get("attempts") or 1))
    try:
        with open(path) as fh:
            log = fh.read()
    except OSError:
        return "?"
    if "warm launch: ansible-playbook in-process" in log:
        return "warm"
    return "warm runner, cold ansible-playbook" if "warm launch: runner" in log else "cold"


def run_first_task(run):
    """Wall time of the first playbook_on_task_start in a local run's artifacts (NaN without one)."""
    pdd = run.get("private_data_dir")
    for path in sorted(glob.glob(os.path.join(pdd or "", "artifacts", "*", "job_events", "*.json")),
                       key=lambda p: int(os.path.basename(p).split("-", 1)[0]) if os.path.basename(p)[0].isdigit() else 0):
        with open(path) as fh:
            event = json.load(fh)
        if event.get("event") == "playbook_on_task_start":
            return _iso_ts(event["created"])
    return float("nan")


class PipelineWatch:
    """Polls Prometheus and Alertmanager (20/s) for the api's down alerts: wall time first seen firing."""
    NAMES = ("ServiceDown", "TaskSchedulerAPIDown")

    def __init__(self, lab):
        self.lab, self.seen, self.stop = lab, {}, threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self):
        while not self.stop.is_set():
            now = time.time()
            status, body = self.lab.http(self.lab.url("prometheus", "/api/v1/alerts"), timeout=1)
            if status == 200 and any(a["labels"].get("alertname") in self.NAMES and a["state"] == "firing"
                                     and a["labels"].get("service", a["labels"].get("job")) == "api"
                                     for a in body["data"]["alerts"]):
                self.seen.setdefault("prometheus_firing", now)
            status, body = self.lab.http(self.lab.url("alertmanager", "/api/v2/alerts?active=true"), timeout=1)
            if status == 200 and any(a["labels"].get("alertname") in self.NAMES and a["labels"].get("service") == "api"
                                     for a in body):
                self.seen.setdefault("alertmanager", now)
            if len(self.seen) == 2:
                return
            time.sleep(0.05)


def e2e(tmp):
    from tests import lab  # pylint: disable=import-outside-toplevel
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert lab.lab("wait").returncode == 0, "lab not healthy"
        watch = PipelineWatch(lab)
        original = lab.faults

        def faults(action, name):       # the watch starts with the fault
            if action == "inject":
                watch.thread.start()
            return original(action, name)
        lab.faults = faults
        try:
            _rcv, run, timings = rs.lab_loop(tmp, lab)
        finally:
            lab.faults = original
            watch.stop.set()
        lab.lab("wait")
    timings["status"] = run["status"]
    injected = timings.get("injected_at")
    if injected:
        timings["prometheus_firing_s"] = watch.seen.get("prometheus_firing", float("nan")) - injected
        timings["alertmanager_s"] = watch.seen.get("alertmanager", float("nan")) - injected
        timings["webhook_s"] = run["created_at"] - injected
        timings["first_task_s"] = run_first_task(run) - injected
    timings["launch"] = launch_mode(run)
    return timings


def lab_pipeline_settings():
    """The lab's alert-pipeline timers as configured (lab/config), with the real-world defaults."""
    import yaml  # pylint: disable=import-outside-toplevel
    conf = os.path.join(rs.REPO, "lab", "config")
    with open(os.path.join(conf, "prometheus", "prometheus.yml")) as fh:
        prom = yaml.safe_load(fh)["global"]
    with open(os.path.join(conf, "prometheus", "rules.yml")) as fh:
        rules = {r["alert"]: r.get("for") for g in yaml.safe_load(fh)["groups"] for r in g["rules"]}
    with open(os.path.join(conf, "alertmanager", "alertmanager.yml")) as fh:
        route = yaml.safe_load(fh)["route"]
    return ("lab alert pipeline: scrape %s, eval %s, rule `for` %s (ServiceDown), Alertmanager group_wait %s, "
            "group_interval %s\nreal-world defaults: scrape 1m (15-30s common), eval 1m, `for` 1-5m, group_wait 30s, "
            "group_interval 5m" % (prom["scrape_interval"], prom["evaluation_interval"], rules.get("ServiceDown"),
                                   route["group_wait"], route["group_interval"]))


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
    parser.add_argument("--startup", type=int, default=5, help="rounds of bare / warm / cold start-up")
    parser.add_argument("--e2e", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated sections: ingest,starts,startup,e2e")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    if args.e2e and only:
        only.add("e2e")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        if not only or "ingest" in only:
            rows += ingest_rows(tmp, args)
        if not only or "starts" in only:
            rows += starts_rows(tmp, args)
        if not only or "startup" in only:
            rows += startup_rows(tmp, args)
        if args.e2e:
            rows += e2e_rows(tmp)
    width = max(len(r[0]) for r in rows)
    print("%-*s  %-22s %s" % (width, "receiver benchmark", "measured", "target"))
    print("-" * (width + 34))
    for name, value, target in rows:
        print("%-*s  %-22s %s" % (width, name, value, target))
    print(lab_pipeline_settings())
    return 0


def ingest_rows(tmp, args):
    rows = []
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
    return rows


def starts_rows(tmp, args):
    os.makedirs(os.path.join(tmp, "starts"))
    st = starts(os.path.join(tmp, "starts"), args.starts)
    return [("runs (ansible-runner, no-op playbook, default launcher)", "%d/%d succeeded" % (st["ok"], st["runs"]), ""),
            ("webhook -> runner launched p50/max", "%.2f / %.2f s" % (
                statistics.median(st["spawn"]), max(st["spawn"])), "< 1.5 s"),
            ("webhook -> playbook_on_start p50/max", "%.2f / %.2f s" % (
                statistics.median(st["first_event"]), max(st["first_event"])), "< 1.5 s")]


def startup_rows(tmp, args):
    os.makedirs(os.path.join(tmp, "startup"))
    su = startup(os.path.join(tmp, "startup"), args.startup)
    bare, warm, cold = (statistics.median(su[k]) for k in ("bare", "warm", "cold"))
    spread = {k: "%.2f s (%.2f-%.2f)" % (statistics.median(su[k]), min(su[k]), max(su[k])) for k in ("bare", "warm", "cold")}
    return [("bare ansible-playbook start -> first task p50 (min-max)", spread["bare"], ""),
            ("webhook -> first task, warm launcher p50 (min-max)", spread["warm"], ""),
            ("webhook -> first task, cold launcher p50 (min-max)", spread["cold"], ""),
            ("warm / bare (same run, %d rounds interleaved)" % args.startup, "%.2fx" % (warm / bare), "<= 0.5x"),
            ("cold / bare", "%.2fx" % (cold / bare), ""),
            ("warm launches that fell back to cold", str(su["fallbacks"]), "0")]


def e2e_rows(tmp):
    os.makedirs(os.path.join(tmp, "e2e"))
    loop = e2e(os.path.join(tmp, "e2e"))
    nan = float("nan")
    pipeline = loop.get("webhook_s", nan)
    healthy = loop["fault_to_healthy_s"]
    how = "%s / %s / %s" % (loop["playbook"], loop["status"], loop.get("launch"))
    return [("e2e playbook / run status / launch", how, ""),
            ("fault -> firing in Prometheus", "%.1f s" % loop.get("prometheus_firing_s", nan), ""),
            ("fault -> active in Alertmanager", "%.1f s" % loop.get("alertmanager_s", nan), ""),
            ("fault -> webhook received (alert pipeline)", "%.1f s" % pipeline, ""),
            ("webhook -> runner launched", "%.2f s" % (loop["alert_to_launch_s"] or nan), ""),
            ("webhook -> first task", "%.2f s" % (loop.get("first_task_s", nan) - pipeline), ""),
            ("webhook -> api healthy (ours)", "%.1f s" % (healthy - pipeline), ""),
            ("fault -> api healthy", "%.1f s" % healthy, "<= 10 s"),
            ("alert pipeline share of fault -> healthy", "%.0f%%" % (100.0 * pipeline / healthy), ""),
            ("fault -> run finished", "%.1f s" % loop["fault_to_run_end_s"], ""),
            ("fault -> resolved webhook", "%.1f s" % loop["fault_to_resolved_s"], "")]


if __name__ == "__main__":
    sys.exit(main())
