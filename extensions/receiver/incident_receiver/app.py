"""The receiver: HTTP handlers (aiohttp), ingestion (store, dedupe, route) and the dispatcher.

Order of a webhook: credentials from the headers -> Content-Type -> size -> body (time limit) -> signature
and nonce (signed requests) -> JSON -> schema -> queued for the committer, which stores
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
GATE = web.AppKey("gate", object)


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
                  "canceled": [], "folded": []}
        self._release_due(store, now, milestones, result)     # also swept here: survives a restart
        for alert in alerts:
            self.router.enrich(alert)
            if alert["status"] == "resolved":
                self._resolved(store, alert, source, now, milestones, result)
            else:
                self._firing(store, alert, source, now, milestones, result)
        return result

    def _resolved(self, store, alert, source, now, milestones, result):
        result["resolved"] += 1
        cause = store.folded_into(alert["fingerprint"])
        if cause:                   # a symptom ended inside its cause's incident
            store.add_alert(alert, source, "folded", cause["id"], now)
            milestones.append((cause["incident_id"], "symptom_resolved", "symptom %s on %s resolved (Alertmanager)"
                               % (alert["alertname"], alert["service"]), alert))
            return
        job = store.job_for_fingerprint(alert["fingerprint"])
        store.add_alert(alert, source, "resolved", job and job["id"], now)
        if job and not store.own_alerts_firing(job["id"]) and store.mark_resolved(job["id"], now):
            if store.cancel_queued(job["id"], "every alert resolved before the run started", now):
                result["canceled"].append(job["id"])
            milestones.append((job["incident_id"], "resolved", "%s resolved (Alertmanager)" % alert["alertname"], alert))
            self._schedule_release(store, job, now, milestones, result)

    def _firing(self, store, alert, source, now, milestones, result, released_from=None):
        cause = self._open_cause(store, alert, now)
        if cause:
            self._fold(store, alert, source, cause, now, milestones, result)
            return
        route = self.router.route(alert)
        if not route.runs_unattended(alert):
            store.add_alert(alert, source, "recorded", None, now)
            result["recorded"] += 1
            return
        key = route.dedupe_key(alert)
        cooldown = route.cooldown_s if route.cooldown_s is not None else self.router.cooldown_s
        job = store.foldable_job(key, cooldown, now)
        if job:
            store.add_alert(alert, source, "duplicate", job["id"], now)
            store.count_duplicate(job["id"])
            result["duplicates"] += 1
            if store.reopen(job["id"]):        # fired again after resolving: the incident is open again
                milestones.append((job["incident_id"], "note", "%s firing again" % alert["alertname"], alert))
            return
        self._queue(store, alert, source, route, key, now, milestones, result, released_from)

    def _queue(self, store, alert, source, route, key, now, milestones, result, released_from=None):
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
        milestones.append((incident_id, "detected", "%s firing (%s, %s): %s%s" % (
            alert["alertname"], alert["priority"], alert["service"], alert["annotations"].get("summary", ""),
            "; released from %s, whose cause resolved" % released_from["incident_id"] if released_from else ""),
            alert))

    # -- one incident per root cause -------------------------------------------------------------
    def _open_cause(self, store, alert, now):
        """The open incident of a service this alert's service depends on (transitively), or None."""
        causes = self.cfg.graph.causes_of(alert["service"]) if self.cfg.folding else ()
        return store.open_incident_of(causes, self.cfg.max_open_s, self.cfg.settle_s, now) if causes else None

    def _fold(self, store, alert, source, cause, now, milestones, result):
        """Record a symptom in its cause's incident: no job, no declaration, no notice, no remediation."""
        again = store.folded_into(alert["fingerprint"])
        store.add_alert(alert, source, "folded", cause["id"], now)
        result["folded"].append({"job": cause["id"], "incident_id": cause["incident_id"], "cause": cause["service"]})
        if not again or again["id"] != cause["id"]:     # one line per symptom, not per repeat notification
            milestones.append((cause["incident_id"], "symptom", "symptom %s firing on %s (%s): %s; %s depends on %s,"
                               " whose incident this is" % (alert["alertname"], alert["service"], alert["priority"],
                                                            alert["annotations"].get("summary", ""), alert["service"],
                                                            cause["service"]), alert))

    def _schedule_release(self, store, cause, now, milestones, result):
        """The cause resolved: its symptoms still firing in settle_s get their own response then (their
        recovery lags the cause's; meanwhile the incident absorbs them). Durable: swept on each ingest."""
        if not store.folded_symptoms(cause["id"]):
            return
        store.schedule_release(cause["id"], now + self.cfg.settle_s)
        if self.cfg.settle_s <= 0:
            self._release_due(store, now, milestones, result)
            return
        import threading  # pylint: disable=import-outside-toplevel
        timer = threading.Timer(self.cfg.settle_s + 0.05, self._release_settled_soon)
        timer.daemon = True
        timer.start()

    def _release_settled_soon(self):
        try:
            self.ingest_pool.submit(self.release_settled)
        except RuntimeError:        # shutting down: the next start's first ingest sweeps it
            pass

    def release_settled(self):
        """Release what is due now, in a transaction of its own (the dispatcher polls for new jobs)."""
        milestones = []
        result = {"queued": [], "duplicates": 0, "recorded": 0, "folded": []}
        try:
            with self.store.transaction() as store:
                self._release_due(store, time.time(), milestones, result)
        except Exception:  # pylint: disable=broad-except
            LOG.exception("could not release folded symptoms (the next notification retries)")
            return result
        if milestones:
            self.timeline_pool.submit(self._write_milestones, milestones)
        return result

    def _release_due(self, store, now, milestones, result):
        for cause in store.take_due_releases(now):
            if cause["resolved_at"] is not None:        # else it fired again: its symptoms stay
                self._release_symptoms(store, cause, now, milestones, result)

    def _release_symptoms(self, store, cause, now, milestones, result):
        """The cause settled: each symptom still firing gets its own response (or folds into another
        open cause)."""
        for alert, source in store.folded_symptoms(cause["id"]):
            why = "symptom %s on %s still firing after %s resolved: released to its own response" % (
                alert["alertname"], alert["service"], cause["service"])
            milestones.append((cause["incident_id"], "symptom_released", why, alert))
            self._firing(store, alert, source, now, milestones, result, released_from=cause)

    SYMPTOM_NOTES = ("symptom", "symptom_resolved", "symptom_released")

    def _write_milestones(self, milestones):
        for incident_id, event, message, alert in milestones:
            data = {"alertname": alert["alertname"], "fingerprint": alert["fingerprint"]}
            if event in self.SYMPTOM_NOTES:
                # A note without `severity`: the incident keeps its cause's severity in the report.
                data.update(symptom=event, symptom_service=alert["service"], symptom_priority=alert["priority"])
                event = "note"
            else:
                data["severity"] = alert["priority"]
                if event == "detected" and alert["starts_at"]:
                    data["impact_started_at"] = alert["starts_at"]
            try:
                incidents.milestone(self.cfg.repo, self.cfg.incidents_dir, incident_id, event, message, **data)
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
            if not dispatch.clear_stale_run_dir(pdd) or not self.store.claim(job["id"], pdd):
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
        self._carry_out(job)

    def _carry_out(self, job):
        """Take a claimed or recovered job to a finished state, in a run-pool thread."""
        try:
            if isinstance(self.backend, dispatch.LocalBackend):
                status, rc, error = self._run_local(job)
            else:
                status, rc, error = self._run_followed(job)
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("run %s crashed", job["id"])
            status, rc, error = "failed", None, "receiver error: %s" % exc
        self._finish(job, status, rc, error)

    def _run_local(self, job):
        """Adopt a live run of the job's current attempt, or record how it ended; launch the next attempt
        when it left no outcome (died, or never started), at most max_attempts launches in all."""
        while True:
            job = self.store.job(job["id"])
            result = self.backend.adopt(job)
            if result is not None:
                return result
            if job["attempts"] >= self.cfg.max_attempts:
                return "interrupted", None, "%d launches ended without an outcome" % job["attempts"]
            if job["attempts"]:
                LOG.warning("run %s: attempt %d left no outcome (it died or never started); launching it again",
                            job["id"], job["attempts"])
            attempt = self.store.begin_attempt(job["id"])
            try:
                proc = self.backend.launch(job, attempt)
            except dispatch.LAUNCH_ERRORS as exc:
                return "failed", None, str(exc)
            self._launched(job, attempt, proc.pid, dispatch.process_start(proc.pid))
            proc.wait()           # reaps it; the next adopt() reads its outcome

    def _run_followed(self, job):
        """Backends that launch and follow in one call (AWX): follow the job's AWX job if its id was
        recorded, else launch it (again: a crash between the launch and recording the id means one more
        AWX job, never none)."""
        job = self.store.job(job["id"])
        adopt = getattr(self.backend, "adopt", None)
        result = adopt(job) if adopt else None
        if result is not None:
            return result
        if job["attempts"] >= self.cfg.max_attempts:
            return "interrupted", None, "%d launches left no AWX job id" % job["attempts"]
        attempt = self.store.begin_attempt(job["id"])
        extra = {}
        if isinstance(self.backend, dispatch.AwxBackend):
            extra["on_external_id"] = lambda ext: self.store.set_external_id(job["id"], ext)
        return self.backend.run(job, lambda: self._launched(job, attempt), **extra)

    def _launched(self, job, attempt, pid=None, pid_start=None):
        now = time.time()
        self.store.set_launched(job["id"], pid, pid_start, now)
        if not job["launched_at"]:
            self.metrics.observe("start", now - job["created_at"])
        LOG.info("run %s: attempt %d launched%s", job["id"], attempt, " (pid %s)" % pid if pid else "")

    def _finish(self, job, status, rc, error):
        self.store.finish(job["id"], status, rc, error)
        finished = self.store.job(job["id"])
        if finished and finished["started_at"]:
            self.metrics.observe("run", finished["finished_at"] - finished["started_at"])
        LOG.info("run %s %s (rc %s)%s", job["id"], status, rc, ": " + error if error else "")
        dispatch.prune_runs(self.cfg.runs_dir, self.cfg.keep_runs, set(self.active))

    def recover(self):
        """Jobs left `running` by a previous process, each to be carried on by _adopt_job: followed to its
        end if its run is alive, recorded if it ended meanwhile, launched again if it died or never started.
        Without a backend they are marked interrupted."""
        jobs = self.store.jobs("running", limit=10000)
        if self.backend is None:
            for job in jobs:
                self.store.finish(job["id"], "interrupted", None, "receiver restarted with dispatch disabled")
            return []
        return jobs

    def _adopt_job(self, job):
        LOG.info("run %s: recovering attempt %d (pid %s) after a restart", job["id"], job["attempts"], job["pid"])
        self._carry_out(job)

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
        close = getattr(self.backend, "close", None)
        if close:
            close()             # the warm launcher's zygote (its runs carry on)

    # -- HTTP ----------------------------------------------------------------------------------
    def reject(self, status, reason, headers=None):
        """An error answer. The connection is closed after it: an unread body is never drained."""
        self.metrics.inc("requests_rejected_total", (("code", str(status)),))
        if status == 401:
            headers = dict(headers or {}, **{"WWW-Authenticate": "Bearer"})
        resp = web.json_response({"status": "error", "error": reason}, status=status, headers=headers)
        resp.force_close()
        return resp

    async def post_alerts(self, request, parse, source):
        started = time.monotonic()
        gate = request.app[GATE]
        try:
            body, nonce = await gate.admit(request)
            alerts = parse(validate.parse_json(body))
        except Refused as exc:
            return self.reject(exc.status, exc.reason, exc.headers)
        except validate.Invalid as exc:
            return self.reject(400, str(exc))
        fut = asyncio.get_running_loop().create_future()
        await self.pending.put((alerts, source, fut))
        try:
            result = await fut
        except Exception:  # pylint: disable=broad-except
            gate.forget(nonce)          # not acknowledged: the same signed request may come again
            return self.reject(503, "could not store the alerts; retry")
        self.metrics.observe("ack", time.monotonic() - started)
        return web.json_response(dict({"status": "ok"}, **result))

    async def alertmanager(self, request):
        return await self.post_alerts(request, validate.alertmanager, "alertmanager")

    async def generic(self, request):
        return await self.post_alerts(request, validate.generic, "generic")

    def read_auth(self, request):
        """GET endpoints with run details: the read token (auth.read_token), else the webhook token."""
        if not self.cfg.read_api_auth:
            return None
        token = self.cfg.read_token or self.cfg.token
        if not token:
            return self.reject(403, "the read API needs auth.read_token or auth.token (or read_api_auth: false)")
        try:
            auth.check_bearer(request.headers, token)
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
    # keepalive_timeout: aiohttp closes a connection that has not sent complete request headers within
    # it (from the connection's start, or since its last request); lingering_time 0: the unread body of
    # a refused request is not drained, the connection is closed.
    app = web.Application(client_max_size=cfg.max_body_bytes + 1,
                          handler_args={"keepalive_timeout": cfg.idle_timeout_s, "lingering_time": 0})
    app[RECEIVER] = receiver
    gate = app[GATE] = Gate(cfg)
    for path, handler in (("/alertmanager", receiver.alertmanager), ("/alert", receiver.generic)):
        app.router.add_post(path, handler, expect_handler=gate.expect)
    app.router.add_get("/runs", receiver.runs)
    app.router.add_get("/runs/{id}", receiver.run)
    app.router.add_get("/healthz", receiver.healthz)
    app.router.add_get("/metrics", receiver.metrics_view)
    app.on_startup.append(receiver.start)
    app.on_cleanup.append(receiver.stop)
    app.on_cleanup.append(gate.close)
    return app


class Refused(Exception):
    """A webhook request refused before its body is parsed: (status, reason, headers)."""

    def __init__(self, status, reason, headers=None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers


class Gate:
    """What a webhook request passes before its body is parsed, in this order: credentials from the
    headers alone (no byte of the body is read for a missing or wrong one), a JSON Content-Type, the
    size limit, the whole body within body_timeout_s; for a signed request also: at most
    max_unauthenticated of them read at once, then its signature, then its nonce (no replay)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.nonces = auth.NonceCache(os.path.join(cfg.state_dir, "nonces.db")) if cfg.hmac_secret else None
        self.unverified = 0       # signed requests whose body is being read, signature not yet checked

    def check_headers(self, request):
        """auth.BEARER, auth.SIGNED or None (auth disabled), from the headers; Refused otherwise."""
        try:
            kind = auth.from_headers(request.headers, self.cfg.token, self.cfg.hmac_secret,
                                     self.cfg.signature_window_s)
        except auth.AuthError as exc:
            raise Refused(exc.status, exc.reason) from None
        if not _is_json(request):
            raise Refused(415, "Content-Type: expected application/json (UTF-8), got %s"
                          % json.dumps(request.headers.get("Content-Type", ""))[:80])
        if request.content_length is not None and request.content_length > self.cfg.max_body_bytes:
            raise Refused(413, "body larger than %d bytes" % self.cfg.max_body_bytes)
        return kind

    async def admit(self, request):
        """(body, the nonce it used or None) of a request that passed every check; Refused otherwise."""
        if self.check_headers(request) != auth.SIGNED:
            return await self.read_body(request), None
        if self.unverified >= self.cfg.max_unauthenticated:
            raise Refused(503, "too many signed requests being read; retry", {"Retry-After": "1"})
        self.unverified += 1
        try:
            body = await self.read_body(request)
        finally:
            self.unverified -= 1
        try:
            auth.check_signature(request.headers, body, self.cfg.hmac_secret)
        except auth.AuthError as exc:
            raise Refused(exc.status, exc.reason) from None
        nonce = request.headers[auth.NONCE_HEADER].strip()
        if not self.nonces.claim(nonce, int(request.headers[auth.TIMESTAMP_HEADER]) + self.cfg.signature_window_s):
            raise Refused(403, "%s already used: a replayed request" % auth.NONCE_HEADER)
        return body, nonce

    async def read_body(self, request):
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.cfg.body_timeout_s):
                while True:
                    chunk = await request.content.read(65536)
                    if not chunk:
                        return b"".join(chunks)
                    size += len(chunk)
                    if size > self.cfg.max_body_bytes:
                        raise Refused(413, "body larger than %d bytes" % self.cfg.max_body_bytes)
                    chunks.append(chunk)
        except TimeoutError:
            # 503, not 408: Alertmanager does not retry a 4xx, and a late body must not lose its alerts.
            raise Refused(503, "body not received within %g s; retry" % self.cfg.body_timeout_s,
                          {"Retry-After": "1"}) from None

    def forget(self, nonce):
        if nonce and self.nonces:
            self.nonces.release(nonce)

    async def expect(self, request):
        """`Expect: 100-continue`: a request that would be refused gets the refusal, not an invitation to
        send its body."""
        try:
            self.check_headers(request)
            if request.headers.get("Expect", "").lower() != "100-continue":
                raise Refused(417, "unknown Expect: %s" % json.dumps(request.headers.get("Expect", ""))[:60])
        except Refused as exc:
            return request.app[RECEIVER].reject(exc.status, exc.reason, exc.headers)
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        return None

    async def close(self, _app=None):
        if self.nonces:
            self.nonces.close()


def _is_json(request):
    ctype = request.content_type.lower()
    json_type = ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))
    return json_type and (request.charset or "utf-8").lower() in ("utf-8", "utf8")


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
