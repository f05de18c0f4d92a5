"""The aiohttp app in process (real HTTP on loopback), dispatch disabled unless a test says otherwise."""
import asyncio
import json
import threading

from incident_receiver import auth

TOKEN = "unit-token"      # as in conftest.py
AUTH = {"Authorization": "Bearer " + TOKEN}


def am_alert(name, status="firing", fp="0123456789abcdef", **labels):
    return {"status": status, "labels": dict({"alertname": name}, **labels), "annotations": {"summary": name},
            "startsAt": "2026-11-23T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fp}


def am(*alerts):
    return {"version": "4", "status": alerts[0]["status"], "receiver": "r", "groupKey": "g", "alerts": list(alerts)}


def timeline(cfg, incident_id, receiver=None):
    if receiver is not None:                      # milestones are appended just after the ack
        receiver.timeline_pool.submit(lambda: None).result()
    with open("%s/%s/timeline.jsonl" % (cfg.incidents_dir, incident_id)) as fh:
        return [json.loads(line) for line in fh]


def test_size_auth_and_schema_errors(make_config, serve):
    cfg = make_config(max_body_bytes=2048)

    async def scenario(client, _receiver):
        big = json.dumps(am(am_alert("X", pad="a" * 3000)))
        resp = await client.post("/alertmanager", data=big, headers=AUTH)
        assert resp.status == 413 and "2048" in (await resp.json())["error"]

        async def chunks():                              # no Content-Length: enforced while reading
            for _chunk in range(10):
                yield b"x" * 1000
        resp = await client.post("/alert", data=chunks(), headers=AUTH)
        assert resp.status == 413

        body = json.dumps(am(am_alert("X")))
        assert (await client.post("/alertmanager", data=body)).status == 401
        assert (await client.post("/alertmanager", data=body, headers={"Authorization": "Bearer nope"})).status == 403
        resp = await client.post("/alertmanager", data="{nope", headers=AUTH)
        assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]
        resp = await client.post("/alertmanager", data=json.dumps(am(am_alert("X", sev=3))), headers=AUTH)
        assert resp.status == 400 and (await resp.json())["error"] == "alerts[0].labels.sev: expected a string, got a number"
        resp = await client.post("/alert", data='{"labels": {"service": "api"}}', headers=AUTH)
        assert resp.status == 400 and "alertname" in (await resp.json())["error"]
        metrics = await (await client.get("/metrics")).text()
        for code, count in (("413", 2), ("401", 1), ("403", 1), ("400", 3)):
            assert 'incident_receiver_requests_rejected_total{code="%s"} %d' % (code, count) in metrics
        assert "incident_receiver_alerts_received_total 0" in metrics
        assert receiver_jobs(_receiver) == []
    serve(cfg, scenario)


def receiver_jobs(receiver):
    return receiver.store.jobs()


def test_hmac_signed_generic_alert(make_config, serve):
    cfg = make_config(auth={"hmac_secret": "s3cret", "token": TOKEN, "token_env": "NO_SUCH_VAR"})

    async def scenario(client, receiver):
        body = json.dumps({"alertname": "DiskSpaceLow", "service": "api", "severity": "SEV2"}).encode()
        resp = await client.post("/alert", data=body, headers={auth.SIGNATURE_HEADER: auth.sign("s3cret", body)})
        assert resp.status == 200, await resp.text()
        resp = await client.post("/alert", data=body, headers={auth.SIGNATURE_HEADER: auth.sign("wrong", body)})
        assert resp.status == 403
        [job] = receiver.store.jobs()
        assert (job["playbook"], job["priority"], job["extra_vars"]["incident_sev"]) == ("disk-full.yml", "P1", "SEV2")
    serve(cfg, scenario)


def test_shell_metacharacters_are_stored_and_passed_as_data(make_config, serve):
    evil = "api; rm -rf / $(id) `id` {{ lookup('pipe','id') }} ../../etc/passwd"

    async def scenario(client, _receiver):
        resp = await client.post("/alertmanager", data=json.dumps(am(am_alert("StuckSagas", service=evil))),
                                 headers=AUTH)
        assert resp.status == 200
        job_id = (await resp.json())["queued"][0]["job"]
        detail = await (await client.get("/runs/%d" % job_id, headers=AUTH)).json()
        assert detail["service"] == evil and detail["playbook"] == "p1-saga-failures.yml"
        assert detail["extra_vars"]["incident_alert"]["labels"]["service"] == evil
        assert detail["extra_vars"]["alert_name"] == "StuckSagas" and detail["extra_vars"]["severity"] == "P2"
        assert detail["incident_id"].startswith("INC-") and "/" not in detail["incident_id"]
        assert detail["timeline_path"].startswith(cfg.incidents_dir + "/INC-")
    cfg = make_config()
    serve(cfg, scenario)


def test_duplicates_and_one_run_for_both_api_down_alerts(make_config, serve):
    async def scenario(client, receiver):
        both = am(am_alert("ServiceDown", fp="aaaa", job="api", severity="P0"),
                  am_alert("TaskSchedulerAPIDown", fp="bbbb", service="api", severity="P0"))
        first = await (await client.post("/alertmanager", data=json.dumps(both), headers=AUTH)).json()
        assert len(first["queued"]) == 1 and first["duplicates"] == 1
        for _resend in range(4):                                 # Alertmanager re-sends the group
            again = await (await client.post("/alertmanager", data=json.dumps(both), headers=AUTH)).json()
            assert again["queued"] == [] and again["duplicates"] == 2
        [job] = receiver.store.jobs()
        assert job["playbook"] == "p0-outage.yml" and job["duplicates"] == 9
        metrics = await (await client.get("/metrics")).text()
        assert "incident_receiver_alerts_deduplicated_total 9" in metrics
        assert 'incident_receiver_runs{status="queued"} 1' in metrics and "incident_receiver_queue_depth 1" in metrics
        assert 'incident_receiver_alerts_received_total{source="alertmanager",status="firing"} 10' in metrics
    serve(make_config(), scenario)


def test_resolved_is_recorded_in_the_timeline_and_never_starts_a_run(make_config, serve):
    cfg = make_config()

    async def scenario(client, receiver):
        fire = am(am_alert("ServiceDown", fp="aaaa", job="api"), am_alert("TaskSchedulerAPIDown", fp="bbbb", service="api"))
        job = (await (await client.post("/alertmanager", data=json.dumps(fire), headers=AUTH)).json())["queued"][0]
        one = am(am_alert("ServiceDown", "resolved", fp="aaaa", job="api"))
        out = await (await client.post("/alertmanager", data=json.dumps(one), headers=AUTH)).json()
        assert out["resolved"] == 1 and out["queued"] == []
        assert [e["event"] for e in timeline(cfg, job["incident_id"], receiver)] == ["detected"]   # bbbb still firing
        two = am(am_alert("TaskSchedulerAPIDown", "resolved", fp="bbbb", service="api"))
        await client.post("/alertmanager", data=json.dumps(two), headers=AUTH)
        await client.post("/alertmanager", data=json.dumps(two), headers=AUTH)           # repeated: no 2nd line
        events = timeline(cfg, job["incident_id"], receiver)
        assert [e["event"] for e in events] == ["detected", "resolved"]
        assert events[1]["type"] == "milestone" and events[1]["incident_id"] == job["incident_id"]
        assert events[0]["impact_started_at"] == "2026-11-23T10:00:00Z"
        unknown = am(am_alert("NeverSeen", "resolved", fp="cccc"))
        assert (await client.post("/alertmanager", data=json.dumps(unknown), headers=AUTH)).status == 200
        assert len(receiver.store.jobs()) == 1 and receiver.store.job(job["job"])["resolved_at"]
        assert receiver.store.counts()[1]["resolved"] == 4
    serve(cfg, scenario)


def test_flapping_within_the_cooldown_folds_after_it_runs_again(make_config, serve):
    routes = {"cooldown_s": 300, "routes": [{"name": "flappy", "match": {"alertname": "Flappy"}, "playbook": "x.yml"},
                                            {"name": "eager", "match": {"alertname": "Eager"}, "playbook": "x.yml",
                                             "cooldown_s": 0}]}

    async def scenario(client, receiver):
        for name in ("Flappy", "Eager"):
            for status in ("firing", "resolved", "firing", "resolved", "firing"):
                await client.post("/alertmanager", data=json.dumps(am(am_alert(name, status, fp=name.lower()))),
                                  headers=AUTH)
                for job in receiver.store.jobs("queued"):          # runs finish instantly
                    receiver.store.claim(job["id"], "/x")
                    receiver.store.finish(job["id"], "succeeded")
        jobs = receiver.store.jobs()
        assert sum(j["alertname"] == "Flappy" for j in jobs) == 1
        assert sum(j["alertname"] == "Eager" for j in jobs) == 3
    serve(make_config(routes), scenario)


def test_read_api(make_config, serve):
    async def scenario(client, _receiver):
        assert (await client.get("/runs")).status == 401
        assert (await client.get("/runs", headers={"Authorization": "Bearer x"})).status == 403
        assert (await client.get("/runs/999", headers=AUTH)).status == 404
        assert (await client.get("/runs/..%2F..%2Fetc", headers=AUTH)).status == 404
        assert (await client.get("/runs?limit=x", headers=AUTH)).status == 400
        await client.post("/alert", data='{"alertname": "RedisMemoryHigh", "service": "redis"}', headers=AUTH)
        runs = (await (await client.get("/runs?status=queued", headers=AUTH)).json())["runs"]
        assert [r["playbook"] for r in runs] == ["redis-memory.yml"]
        health = await (await client.get("/healthz")).json()
        assert health == {"status": "ok", "backend": "none", "queued": 1, "running": 0, "active_here": 0}
        resp = await client.get("/metrics")
        assert resp.content_type == "text/plain" and "# TYPE incident_receiver_ack_seconds histogram" in await resp.text()
    serve(make_config(), scenario)


class BlockingBackend:
    """Stands in for ansible-runner to observe the scheduler: each run waits until released."""
    name = "test"

    def __init__(self):
        self.started, self.release = [], threading.Event()

    def run(self, job, launched):
        launched()
        self.started.append(job["service"])
        self.release.wait(10)
        return "succeeded", 0, None


def test_per_service_lock_and_global_limit(make_config, serve):
    cfg = make_config(dispatch={"backend": "none", "max_concurrent": 2, "poll_s": 0.01})

    async def scenario(client, receiver):
        receiver.backend = backend = BlockingBackend()
        alerts = [am_alert("A%d" % i, fp="f%d" % i, service=svc) for i, svc in enumerate(["api", "api", "db", "redis"])]
        await client.post("/alertmanager", data=json.dumps(am(*alerts)), headers=AUTH)
        await asyncio.sleep(0.5)
        assert sorted(backend.started) == ["api", "db"]           # 2 at most, never two on api
        backend.release.set()
        for _poll in range(100):
            if len(receiver.store.jobs("succeeded")) == 4:
                break
            await asyncio.sleep(0.05)
        assert len(receiver.store.jobs("succeeded")) == 4 and sorted(backend.started) == ["api", "api", "db", "redis"]
        assert "incident_receiver_dispatch_latency_seconds_count 4" in await (await client.get("/metrics")).text()
    serve(cfg, scenario)


def test_resolved_before_the_run_started_cancels_it_and_a_refire_reopens(make_config, serve):
    cfg = make_config()

    async def scenario(client, receiver):
        fire = json.dumps(am(am_alert("StuckSagas", fp="s1", service="api")))
        resolve = json.dumps(am(am_alert("StuckSagas", "resolved", fp="s1", service="api")))
        first = (await (await client.post("/alertmanager", data=fire, headers=AUTH)).json())["queued"][0]
        out = await (await client.post("/alertmanager", data=resolve, headers=AUTH)).json()
        assert out["canceled"] == [first["job"]]                       # dispatch is off: it was still queued
        assert receiver.store.job(first["job"])["status"] == "canceled"
        second = (await (await client.post("/alertmanager", data=fire, headers=AUTH)).json())["queued"][0]
        assert second["job"] != first["job"]                          # a canceled run absorbs nothing
        receiver.store.claim(second["job"], "/x")                      # now it runs...
        await client.post("/alertmanager", data=resolve, headers=AUTH)  # ...resolves while running...
        await client.post("/alertmanager", data=fire, headers=AUTH)     # ...fires again (folded, reopened)
        await client.post("/alertmanager", data=resolve, headers=AUTH)
        assert receiver.store.job(second["job"])["status"] == "running"
        assert [(e["event"]) for e in timeline(cfg, second["incident_id"], receiver)] == ["detected", "resolved", "note", "resolved"]
        assert 'incident_receiver_runs{status="canceled"} 1' in await (await client.get("/metrics")).text()
    serve(cfg, scenario)
