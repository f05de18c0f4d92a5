"""The aiohttp app in process (real HTTP on loopback), dispatch disabled unless a test says otherwise."""
import asyncio
import json
import threading
import time

from incident_receiver import auth

TOKEN = "unit-token"      # as in conftest.py
JSON = {"Content-Type": "application/json"}
AUTH = dict(JSON, Authorization="Bearer " + TOKEN)


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
        resp = await client.post("/alert", data=body, headers=dict(JSON, **auth.signature_headers("s3cret", body)))
        assert resp.status == 200, await resp.text()
        resp = await client.post("/alert", data=body, headers=dict(JSON, **auth.signature_headers("wrong", body)))
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
        assert job["playbook"] == "api-down.yml" and job["duplicates"] == 9
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


# -- hardened HTTP: credentials before the body, limits, signed requests, read API ----------------------------

async def raw_exchange(client, data, wait_s=5.0):
    """Send raw bytes on a new connection; everything the server answers until it closes (or wait_s)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), wait_s)          # b"" read = the server closed
    finally:
        writer.close()


def head(path="/alertmanager", length=1000000, **headers):
    lines = ["POST %s HTTP/1.1" % path, "Host: x", "Content-Length: %d" % length]
    lines += ["%s: %s" % (k.replace("_", "-"), v) for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_credentials_are_checked_before_the_body_and_the_connection_is_closed(make_config, serve):
    async def scenario(client, receiver):
        started = time.monotonic()
        # 1 MB announced, 100 bytes sent: the 401/403 comes at once and the connection is closed.
        for headers, code in (({}, b"HTTP/1.1 401 "), ({"Authorization": "Bearer wrong"}, b"HTTP/1.1 403 ")):
            answer = await raw_exchange(client, head(Content_Type="application/json", **headers) + b"x" * 100)
            assert answer.startswith(code) and b"Connection: close" in answer, answer
        assert time.monotonic() - started < 2
        # Expect: 100-continue is refused without inviting the body; with the token it is invited.
        answer = await raw_exchange(client, head(Content_Type="application/json", Expect="100-continue"))
        assert answer.startswith(b"HTTP/1.1 401") and b"100 Continue" not in answer
        body = json.dumps(am(am_alert("X"))).encode()
        answer = await raw_exchange(client, head(length=len(body), Content_Type="application/json", Expect="100-continue",
                                                 Authorization="Bearer " + TOKEN, Connection="close") + body)
        assert answer.startswith(b"HTTP/1.1 100 Continue") and b"HTTP/1.1 200 OK" in answer
        assert len(receiver.store.jobs()) == 1
    serve(make_config(), scenario)


def test_body_and_idle_timeouts_close_slow_connections(make_config, serve):
    cfg = make_config(http={"body_timeout_s": 0.5, "idle_timeout_s": 0.5})

    async def scenario(client, receiver):
        started = time.monotonic()
        answer = await raw_exchange(client, head(Authorization="Bearer " + TOKEN, Content_Type="application/json")
                                    + b'{"version": "4", ')
        assert answer.startswith(b"HTTP/1.1 503") and b"not received within" in answer
        assert time.monotonic() - started < 3
        started = time.monotonic()
        assert await raw_exchange(client, b"POST /alertmanager HTTP/1.1\r\nHost: x\r\n") == b""   # headers never end
        assert 0.4 < time.monotonic() - started < 3
        assert receiver.store.jobs() == []
    serve(cfg, scenario)


def test_content_type_must_be_json(make_config, serve):
    async def scenario(client, receiver):
        body = json.dumps(am(am_alert("X")))
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"):
            resp = await client.post("/alertmanager", data=body, headers=dict(AUTH, **{"Content-Type": ctype}))
            assert resp.status == 415, ctype
        for ctype in ("application/json; charset=utf-8", "application/vnd.alert+json", "Application/JSON"):
            resp = await client.post("/alertmanager", data=body, headers=dict(AUTH, **{"Content-Type": ctype}))
            assert resp.status == 200, ctype
        assert len(receiver.store.jobs()) == 1
    serve(make_config(), scenario)


def test_hostile_json_is_a_400_never_a_5xx_and_is_not_acknowledged(make_config, serve):
    async def scenario(client, receiver):
        deep = '{"version": "4", "x": ' + "[" * 5000 + "]" * 5000 + "}"
        for body, reason in ((deep, "nested deeper"), ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper"),
                             (json.dumps(am(am_alert("X", evil="\ud800"))), "lone surrogate"),
                             (json.dumps(am(am_alert("X", __ansible_unsafe="x"))), "reserved")):
            resp = await client.post("/alertmanager", data=body, headers=AUTH)
            assert resp.status == 400 and reason in (await resp.json())["error"], await resp.text()
        assert receiver.store.jobs() == [] and receiver.store.counts()[1] == {}
    serve(make_config(), scenario)


def test_every_alert_of_a_large_notification_is_stored(make_config, serve):
    routes = {"routes": [{"name": "all", "match": {"alertname": "Many"}, "playbook": "x.yml"}]}

    async def scenario(client, receiver):
        alerts = [am_alert("Many", fp="fp%05d" % i, instance="i%d" % i, text="v" * 5000) for i in range(1200)]
        body = json.dumps(am(*alerts))
        assert len(body) < 8 * 1024 * 1024
        resp = await client.post("/alertmanager", data=body, headers=AUTH)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["accepted"] == 1200 and len(receiver.store.jobs(limit=5000)) == 1200
    serve(make_config(routes, max_body_bytes=8 * 1024 * 1024), scenario)


def test_signed_requests_carry_a_fresh_timestamp_and_are_not_replayed(make_config, serve):
    cfg = make_config(auth={"hmac_secret": "s3cret", "token_env": "NO_SUCH_VAR"})

    def signed(body, **kw):
        return dict(JSON, **auth.signature_headers("s3cret", body, **kw))

    async def scenario(client, receiver):
        body = json.dumps({"alertname": "DiskSpaceLow", "service": "api"}).encode()
        headers = signed(body)
        assert (await client.post("/alert", data=body, headers=headers)).status == 200
        resp = await client.post("/alert", data=body, headers=headers)                     # the same request again
        assert resp.status == 403 and "replayed" in (await resp.json())["error"]
        stale = signed(body, timestamp=int(time.time()) - 301)
        assert (await client.post("/alert", data=body, headers=stale)).status == 403
        assert (await client.post("/alert", data=body + b" ", headers=signed(body))).status == 403   # body changed
        missing = {k: v for k, v in signed(body).items() if k != auth.NONCE_HEADER}
        assert (await client.post("/alert", data=body, headers=missing)).status == 401
        # Not acknowledged (the store failed): the same signed request may be sent again.
        headers = signed(body)
        real = receiver.ingest_many
        receiver.ingest_many = lambda batch: [RuntimeError("disk full")] * len(batch)
        assert (await client.post("/alert", data=body, headers=headers)).status == 503
        receiver.ingest_many = real
        assert (await client.post("/alert", data=body, headers=headers)).status == 200
        assert len(receiver.store.counts()[1]) and sum(receiver.store.counts()[1].values()) == 2
    serve(cfg, scenario)


def test_signed_requests_read_at_once_are_capped(make_config, serve):
    cfg = make_config(auth={"hmac_secret": "s3cret", "token_env": "NO_SUCH_VAR"},
                      http={"max_unauthenticated": 2, "body_timeout_s": 2})

    async def scenario(client, _receiver):
        sig = auth.signature_headers("s3cret", b"never sent")
        slow = [asyncio.ensure_future(raw_exchange(client, head(Content_Type="application/json", **{
            k.replace("-", "_"): v for k, v in sig.items()}) + b"{")) for _n in range(2)]
        await asyncio.sleep(0.3)
        resp = await client.post("/alert", data=b"{}", headers=dict(JSON, **auth.signature_headers("s3cret", b"{}")))
        assert resp.status == 503 and resp.headers["Retry-After"] == "1"
        answers = [await s for s in slow]
        assert all(a.startswith(b"HTTP/1.1 503") and b"not received" in a for a in answers), answers
    serve(cfg, scenario)


def test_read_api_has_its_own_token(make_config, serve):
    cfg = make_config(auth={"token": TOKEN, "token_env": "NO_SUCH_VAR", "read_token": "reader",
                            "read_token_env": "NO_SUCH_VAR"})

    async def scenario(client, _receiver):
        assert (await client.get("/runs", headers={"Authorization": "Bearer reader"})).status == 200
        assert (await client.get("/runs", headers=AUTH)).status == 403              # the webhook token reads nothing
        assert (await client.get("/runs/1", headers=AUTH)).status == 403
        body = json.dumps(am(am_alert("X")))
        assert (await client.post("/alertmanager", data=body, headers=dict(JSON, Authorization="Bearer reader"))).status == 403
    serve(cfg, scenario)
