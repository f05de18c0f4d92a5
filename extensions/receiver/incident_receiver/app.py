"""The receiver: HTTP handlers (aiohttp), ingestion (store, dedupe, route) and the dispatcher.

Order of a webhook: size limit -> auth -> JSON -> schema -> queued for the committer, which stores
every waiting notification (alerts, new jobs, incident ids) in one SQLite transaction -> commit -> 200.
Only then is the dispatcher woken; timeline lines are appended just after.
"""
import asyncio
import concurrent.futures
import json
import logging
import os
import time

from aiohttp import web

from . import auth, dispatch, incidents, validate
from .metrics import Metrics
from .store import Store

LOG = logging.getLogger("incident_receiver")
RECEIVER = web.AppKey("receiver", object)


class Receiver:
    def __init__(self, cfg):
        self.cfg = cfg
        os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
        os.makedirs(cfg.runs_dir, mode=0o700, exist_ok=True)
        self.store = Store(cfg.db_path, cfg.durability)
        self.metrics = Metrics()
        self.router = cfg.router
        self.backend = {"local": lambda: dispatch.LocalBackend(cfg), "awx": lambda: dispatch.AwxBackend(cfg, cfg.router),
                        "none": lambda: None}[cfg.backend]()
        self.ingest_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ingest")
        self.timeline_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="timeline")
        self.allocator = incidents.Allocator(cfg.repo, cfg.incidents_dir)
        self.pending = None
        self.run_pool = concurrent.futures.ThreadPoolExecutor(max(1, cfg.max_concurrent) + 4,
                                                              thread_name_prefix="run")
        self.active = {}       # job id -> future of a run started or adopted by this process
        self.wake = None
        self.tasks = []

    # -- ingestion -----------------------------------------------------------------------------
    def ingest_many(self, batch):
        """Group commit: store every pending notification [(alerts, source)] in one transaction
        (each in its own savepoint, so one bad notification fails alone). Returns one result or
        exception per notification; nothing is acknowledged before the COMMIT returned."""
        now = time.time()
        results, milestones = [], []
        with self.store.transaction() as store:
            for alerts, source in batch:
                store.db.execute("SAVEPOINT notification")
                try:
                    results.append(self._ingest(store, alerts, source, now, milestones))
                    store.db.execute("RELEASE notification")
                except Exception as exc:  # pylint: disable=broad-except
                    LOG.exception("could not store a notification")
                    store.db.execute("ROLLBACK TO notification")
                    store.db.execute("RELEASE notification")
                    results.append(exc)
        for (alerts, source), result in zip(batch, results):
            if isinstance(result, dict):
                for alert in alerts:
                    self.metrics.inc("alerts_received_total", (("source", source), ("status", alert["status"])))
                if result["duplicates"]:
                    self.metrics.inc("alerts_deduplicated_total", value=result["duplicates"])
        if milestones:          # the queue is the record; the timeline lines follow the ack
            self.timeline_pool.submit(self._write_milestones, milestones)
        return results

    def ingest(self, alerts, source):
        result = self.ingest_many([(alerts, source)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def _ingest(self, store, alerts, source, now, milestones):
        result = {"accepted": len(alerts), "queued": [], "duplicates": 0, "resolved": 0, "recorded": 0,
                  "canceled": []}
        for alert in alerts:
            self.router.enrich(alert)
            if alert["status"] == "resolved":
                job = store.job_for_fingerprint(alert["fingerprint"])
                store.add_alert(alert, source, "resolved", job and job["id"], now)
                result["resolved"] += 1
                if job and not store.still_firing(job["id"]) and store.mark_resolved(job["id"], now):
                    if store.cancel_queued(job["id"], "every alert resolved before the run started", now):
                        result["canceled"].append(job["id"])
                    milestones.append((job["incident_id"], "resolved", "%s resolved (Alertmanager)" % alert["alertname"],
                                       alert))
                continue
            route = self.router.route(alert)
            if not route.playbook:
                store.add_alert(alert, source, "recorded", None, now)
                result["recorded"] += 1
                continue
            key = route.dedupe_key(alert)
            cooldown = route.cooldown_s if route.cooldown_s is not None else self.router.cooldown_s
            job = store.foldable_job(key, cooldown, now)
            if job:
                store.add_alert(alert, source, "duplicate", job["id"], now)
                store.count_duplicate(job["id"])
                result["duplicates"] += 1
                if store.reopen(job["id"]):        # fired again after resolving: the incident is open again
                    milestones.append((job["incident_id"], "note", "%s firing again" % alert["alertname"], alert))
                continue
            incident_id = self.allocator.allocate()
            # The scenario playbooks' own interface (alert_name, severity, description), then the route's
            # vars, then the incident_* vars every run gets.
            extra = {"alert_name": alert["alertname"], "severity": alert["priority"],
                     "description": alert["annotations"].get("summary") or alert["annotations"].get("description", "")}
            extra.update(route.extra_vars)
            extra.update(incident_id=incident_id, incident_priority=alert["priority"], incident_sev=alert["sev"],
                         incident_route=route.name, incident_alert=alert)
            job_id = store.add_job({"dedupe_key": key, "route": route.name, "playbook": route.playbook,
                                    "alertname": alert["alertname"], "fingerprint": alert["fingerprint"],
                                    "service": alert["service"], "priority": alert["priority"],
                                    "incident_id": incident_id, "extra_vars": extra,
                                    "backend": self.cfg.backend}, now)
            store.add_alert(alert, source, "queued", job_id, now)
            result["queued"].append({"job": job_id, "incident_id": incident_id, "playbook": route.playbook})
            milestones.append((incident_id, "detected", "%s firing (%s, %s): %s" % (
                alert["alertname"], alert["priority"], alert["service"],
                alert["annotations"].get("summary", "")), alert))
        return result

    def _write_milestones(self, milestones):
        for incident_id, event, message, alert in milestones:
            extra = {"impact_started_at": alert["starts_at"]} if event == "detected" and alert["starts_at"] else {}
            try:
                incidents.milestone(self.cfg.repo, self.cfg.incidents_dir, incident_id, event, message,
                                    severity=alert["priority"], alertname=alert["alertname"],
                                    fingerprint=alert["fingerprint"], **extra)
            except (OSError, ValueError) as exc:
                LOG.warning("could not append %s to the timeline of %s: %s", event, incident_id, exc)

    async def committer(self):
        """Single consumer of the ingest queue: takes everything waiting, commits it as one batch."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.pending.get()]
            while not self.pending.empty():
                batch.append(self.pending.get_nowait())
            try:
                results = await loop.run_in_executor(self.ingest_pool, self.ingest_many,
                                                     [(alerts, source) for alerts, source, _fut in batch])
            except Exception as exc:  # pylint: disable=broad-except
                LOG.exception("commit failed")
                results = [exc] * len(batch)
            for (_alerts, _source, fut), result in zip(batch, results):
                if not fut.done():
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
            if any(isinstance(r, dict) and r["queued"] for r in results):
                self.wake.set()

    # -- dispatch ------------------------------------------------------------------------------
    async def dispatcher(self):
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=max(0.05, self.cfg.poll_s * 5))
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            if self.backend is not None:
                self.dispatch_ready()

    def dispatch_ready(self):
        free = self.cfg.max_concurrent - len(self.active)
        if free <= 0:
            return
        busy = self.store.running_services()
        candidates = self.store.runnable(200)
        for job in candidates:
            if free <= 0:
                break
            if job["service"] in busy:
                continue          # per-service lock: one remediation per service at a time
            pdd = dispatch.run_dir(self.cfg.runs_dir, job["id"])
            if not self.store.claim(job["id"], pdd):
                continue
            job = self.store.job(job["id"])
            busy.add(job["service"])
            free -= 1
            self._start(job, self._run_job)

    def _start(self, job, target):
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.run_pool, target, job)
        self.active[job["id"]] = future

        def done(_fut, job_id=job["id"]):
            self.active.pop(job_id, None)
            self.wake.set()
        future.add_done_callback(done)

    def _run_job(self, job):
        LOG.info("run %s: %s for %s (%s) incident %s", job["id"], job["playbook"], job["alertname"], job["service"],
                 job["incident_id"])
        launched_once = []

        def launched():
            if not launched_once:
                launched_once.append(time.time())
                self.store.set_launched(job["id"], launched_once[0])
                self.metrics.observe("start", launched_once[0] - job["created_at"])
        try:
            if isinstance(self.backend, dispatch.AwxBackend):
                status, rc, error = self.backend.run(job, launched, lambda ext: self.store.set_external_id(job["id"], ext))
            else:
                status, rc, error = self.backend.run(job, launched)
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("run %s crashed", job["id"])
            status, rc, error = "failed", None, "receiver error: %s" % exc
        self._finish(job, status, rc, error)

    def _finish(self, job, status, rc, error):
        self.store.finish(job["id"], status, rc, error)
        finished = self.store.job(job["id"])
        if finished and finished["started_at"]:
            self.metrics.observe("run", finished["finished_at"] - finished["started_at"])
        LOG.info("run %s %s (rc %s)%s", job["id"], status, rc, ": " + error if error else "")
        dispatch.prune_runs(self.cfg.runs_dir, self.cfg.keep_runs, set(self.active))

    def recover(self):
        """Jobs left `running` by a previous process: adopt the ones whose playbook still runs (or
        whose AWX job is known), mark the others interrupted (re-queued only if configured)."""
        adopt = []
        for job in self.store.jobs("running", limit=10000):
            if self.backend is not None and (job.get("external_id") or dispatch.pids_using(job.get("private_data_dir"))):
                adopt.append(job)
                continue
            self.store.finish(job["id"], "interrupted", None, "receiver stopped while the run was in progress")
            LOG.warning("run %s marked interrupted (its runner is gone)%s", job["id"],
                        "; re-queued" if self.cfg.rerun_interrupted else "")
            if self.cfg.rerun_interrupted:
                self.store.requeue(job["id"])
        return adopt

    def _adopt_job(self, job):
        result = self.backend.adopt(job) or ("interrupted", None, "runner gone after a receiver restart")
        self._finish(job, *result)

    async def start(self, _app=None):
        self.wake = asyncio.Event()
        for job in self.recover():
            LOG.info("run %s: adopting the run that outlived the previous receiver", job["id"])
            self._start(job, self._adopt_job)
        self.pending = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self.dispatcher()), loop.create_task(self.committer())]
        self.wake.set()

    async def stop(self, _app=None):
        for task in self.tasks:
            task.cancel()
        self.ingest_pool.shutdown(wait=True)
        self.timeline_pool.shutdown(wait=True)
        self.run_pool.shutdown(wait=False)

    # -- HTTP ----------------------------------------------------------------------------------
    def reject(self, status, reason):
        self.metrics.inc("requests_rejected_total", (("code", str(status)),))
        return web.json_response({"status": "error", "error": reason}, status=status)

    async def read_body(self, request):
        length = request.content_length
        if length is not None and length > self.cfg.max_body_bytes:
            return None
        chunks, size = [], 0
        while True:
            chunk = await request.content.read(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.cfg.max_body_bytes:
                return None
            chunks.append(chunk)

    async def post_alerts(self, request, parse, source):
        started = time.monotonic()
        body = await self.read_body(request)
        if body is None:
            return self.reject(413, "body larger than %d bytes" % self.cfg.max_body_bytes)
        try:
            auth.check(request.headers, body, self.cfg.token, self.cfg.hmac_secret)
        except auth.AuthError as exc:
            return self.reject(exc.status, exc.reason)
        try:
            alerts = parse(validate.parse_json(body))
        except validate.Invalid as exc:
            return self.reject(400, str(exc))
        fut = asyncio.get_running_loop().create_future()
        await self.pending.put((alerts, source, fut))
        try:
            result = await fut
        except Exception:  # pylint: disable=broad-except
            return self.reject(503, "could not store the alerts; retry")
        self.metrics.observe("ack", time.monotonic() - started)
        return web.json_response(dict({"status": "ok"}, **result))

    async def alertmanager(self, request):
        return await self.post_alerts(request, validate.alertmanager, "alertmanager")

    async def generic(self, request):
        return await self.post_alerts(request, validate.generic, "generic")

    def read_auth(self, request):
        if not self.cfg.read_api_auth:
            return None
        if not self.cfg.token:
            return self.reject(403, "the read API needs auth.token (or read_api_auth: false)")
        try:
            auth.check(request.headers, None, self.cfg.token)
        except auth.AuthError as exc:
            return self.reject(exc.status, exc.reason)
        return None

    async def runs(self, request):
        denied = self.read_auth(request)
        if denied:
            return denied
        status = request.query.get("status")
        try:
            limit = min(1000, int(request.query.get("limit", "100")))
        except ValueError:
            return self.reject(400, "limit: expected an integer")
        jobs = self.store.jobs(status, limit)
        return web.json_response({"runs": [_public(j) for j in jobs]})

    async def run(self, request):
        denied = self.read_auth(request)
        if denied:
            return denied
        try:
            job = self.store.job(int(request.match_info["id"]))
        except ValueError:
            job = None
        if job is None:
            return self.reject(404, "no such run")
        out = _public(job)
        out["alerts"] = self.store.job_alerts(job["id"])
        out["extra_vars"] = job["extra_vars"]
        if job["private_data_dir"] and os.path.isdir(job["private_data_dir"]):
            out["summary"] = dispatch.summary(job["private_data_dir"])
        timeline = incidents.timeline_path(self.cfg.repo, self.cfg.incidents_dir, job["incident_id"])
        incident_dir = os.path.dirname(timeline)
        out["timeline_path"] = timeline
        out["timeline"] = _tail_jsonl(timeline, 200)
        reports = sorted(n for n in os.listdir(incident_dir) if n.startswith("report")) if os.path.isdir(incident_dir) else []
        out["report_path"] = os.path.join(incident_dir, reports[0]) if reports else None
        return web.json_response(out)

    async def healthz(self, _request):
        counts, _alerts = self.store.counts()
        return web.json_response({"status": "ok", "backend": self.cfg.backend, "queued": counts.get("queued", 0),
                                  "running": counts.get("running", 0), "active_here": len(self.active)})

    async def metrics_view(self, _request):
        counts, _alerts = self.store.counts()
        return web.Response(text=self.metrics.render(counts), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})


def make_app(cfg):
    receiver = Receiver(cfg)
    app = web.Application(client_max_size=cfg.max_body_bytes + 1)
    app[RECEIVER] = receiver
    app.router.add_post("/alertmanager", receiver.alertmanager)
    app.router.add_post("/alert", receiver.generic)
    app.router.add_get("/runs", receiver.runs)
    app.router.add_get("/runs/{id}", receiver.run)
    app.router.add_get("/healthz", receiver.healthz)
    app.router.add_get("/metrics", receiver.metrics_view)
    app.on_startup.append(receiver.start)
    app.on_cleanup.append(receiver.stop)
    return app


def _public(job):
    out = {k: v for k, v in job.items() if k not in ("extra_vars", "dedupe_key")}
    if job["started_at"] and job["finished_at"]:
        out["duration_s"] = round(job["finished_at"] - job["started_at"], 3)
    if job["launched_at"]:
        out["ack_to_launch_s"] = round(job["launched_at"] - job["created_at"], 3)
    return out


def _tail_jsonl(path, limit):
    try:
        with open(path) as fh:
            lines = fh.readlines()[-limit:]
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
