"""http_check, prometheus_query and alertmanager_silence against the real lab."""
import uuid

import pytest

from tests.ansible import run_module

pytestmark = pytest.mark.lab


def lab_checks(lab, timeout=5.0):
    return dict(timeout=timeout, checks=[
        dict(name="api", url=lab.url("api", "/health"), json_path="status", json_equals="ok"),
        dict(name="nginx", url=lab.url("nginx", "/nginx-health")),
        dict(name="public", url=lab.url("nginx", "/health"), expect_status=[200]),
    ])


def prometheus(lab, **extra):
    return run_module("prometheus_query", dict(prometheus_url=lab.url("prometheus"), alertmanager_url=lab.url("alertmanager"), **extra))


def test_http_check_on_a_healthy_lab(healthy_lab):
    res = run_module("http_check", lab_checks(healthy_lab))
    assert res["healthy"] is True and res["unhealthy"] == [] and res["findings"] == []
    assert res["checks"]["api"]["json_value"] == "ok" and res["checks"]["public"]["status"] == 200
    assert all(c["latency_ms"] > 0 for c in res["checks"].values())


def test_api_kill_is_seen_by_http_check_and_monitoring(healthy_lab):
    healthy_lab.faults("inject", "api-kill")
    try:
        res = run_module("http_check", lab_checks(healthy_lab))
        checks = res["checks"]
        assert res["unhealthy"] == ["api", "public"] and res["healthy"] is False, checks
        assert (checks["api"]["status"], checks["api"]["reason"]) == (0, "connection refused")
        # nginx answers its upstream's failure itself: 502 Bad Gateway (connection refused upstream).
        assert (checks["public"]["status"], checks["public"]["reason"]) == (502, "unexpected status 502"), checks
        assert checks["nginx"]["healthy"] is True
        assert {f["check"] for f in res["findings"]} == {"http:api", "http:public"}

        def api_down_alert():
            res = prometheus(healthy_lab)
            return res if "TaskSchedulerAPIDown" in res["firing"] else None

        prom = healthy_lab.wait_for(api_down_alert, timeout=30, interval=1, what="TaskSchedulerAPIDown firing")
        api_up = [s["value"] for s in prom["query_results"]["up"] if s["metric"]["job"] == "api"]
        assert api_up == [0.0]
        finding = [f for f in prom["findings"] if f["check"] == "alert:TaskSchedulerAPIDown"][0]
        assert finding["severity"] == "critical" and "P0" in finding["message"]
        sources = {a["source"] for a in prom["alerts"] if a["name"] == "TaskSchedulerAPIDown"}
        assert "prometheus" in sources
    finally:
        healthy_lab.faults("reset", "api-kill")


def test_api_hang_is_a_timeout(healthy_lab):
    healthy_lab.faults("inject", "api-hang")
    try:
        res = run_module("http_check", dict(checks=[dict(name="api", url=healthy_lab.url("api", "/health"))], timeout=1.0))
    finally:
        healthy_lab.faults("reset", "api-hang")
    api = res["checks"]["api"]
    assert (api["healthy"], api["status"], api["reason"]) == (False, 0, "timeout after 1.0s")
    assert 900 <= api["latency_ms"] < 3000


def test_prometheus_up_query_on_a_healthy_lab(healthy_lab):
    res = prometheus(healthy_lab, queries={"up": "up", "targets": "count(up)"})
    assert res["reachable"] is True and not res.get("failed")
    jobs = {s["metric"]["job"]: s["value"] for s in res["query_results"]["up"]}
    assert jobs["api"] == 1.0 and jobs["postgres"] == 1.0 and res["query_results"]["targets"][0]["value"] == float(len(jobs))


def test_prometheus_down_is_a_clear_error_or_a_finding(lab):
    res = run_module("prometheus_query", dict(prometheus_url="http://127.0.0.1:1", timeout=2))
    assert res["failed"] and res["msg"].startswith("Prometheus at http://127.0.0.1:1 is unreachable: connection refused")
    res = run_module("prometheus_query", dict(prometheus_url="http://127.0.0.1:1", unreachable_ok=True, timeout=2))
    assert not res.get("failed") and res["reachable"] is False and "connection refused" in res["error"]
    assert res["findings"][0]["severity"] == "critical"
    res = run_module("prometheus_query", dict(prometheus_url=lab.url("prometheus"), queries={"bad": "sum(("}))
    assert res["failed"] and res["msg"].startswith("Prometheus at %s rejected query bad: " % lab.url("prometheus"))
    assert "parse error" in res["msg"]


def test_alertmanager_silence_lifecycle(lab):
    am = lab.url("alertmanager")
    matchers = [dict(name="alertname", value="HelperTest-%s" % uuid.uuid4().hex[:8]), dict(name="service", value="api")]
    args = dict(url=am, matchers=matchers, duration="10m", comment="integration test")

    def live_ids():
        _status, silences = lab.http(am + "/api/v2/silences")
        return {s["id"] for s in silences if s["status"]["state"] == "active"
                and any(m["value"] == matchers[0]["value"] for m in s["matchers"])}

    try:
        preview = run_module("alertmanager_silence", args, check=True)
        assert preview["changed"] and preview["silence_id"] is None and live_ids() == set()
        created = run_module("alertmanager_silence", args)
        assert created["changed"] and live_ids() == {created["silence_id"]}
        again = run_module("alertmanager_silence", dict(args, matchers=list(reversed(matchers))))
        assert (again["changed"], again["silence_id"]) == (False, created["silence_id"])
        assert again["silence"]["createdBy"] == "incident.response" and again["silence"]["state"] == "active"
        expire_check = run_module("alertmanager_silence", dict(url=am, silence_id=created["silence_id"], state="absent"), check=True)
        assert expire_check["changed"] and live_ids() == {created["silence_id"]}
        expired = run_module("alertmanager_silence", dict(args, state="absent"))
        assert expired["expired"] == [created["silence_id"]] and live_ids() == set()
        gone = run_module("alertmanager_silence", dict(url=am, silence_id=created["silence_id"], state="absent"))
        assert gone["changed"] is False
    finally:
        run_module("alertmanager_silence", dict(args, state="absent"))
