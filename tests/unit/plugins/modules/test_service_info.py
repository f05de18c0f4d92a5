"""Unit tests of the pure parts of service_info (module_utils/diag_docker.py): log counting, service
state and findings. The Engine API side is tested against the real engine in
tests/integration/test_docker_diagnostics.py."""
from ansible_collections.incident.response.plugins.module_utils.diag_docker import (
    container_findings, count_log_lines, current_run, fan_out,
    run_start_for_logs, health_output, service_state, sort_findings)


def c(**kw):
    base = dict(name="lab_api_1", status="running", running=True, restarting=False, health="healthy", exit_code=0,
                oom_killed=False, restart_count=0, log_errors={}, memory_percent=10.0)
    base.update(kw)
    return base


def test_count_log_lines_counts_words_not_substrings_and_keeps_the_latest_sample():
    lines = ["INFO ok", "ERROR db timeout", "FATAL config", "no ERRORS here", "ERROR again", "CRITICAL disk"]
    counts, sample = count_log_lines(lines, ["ERROR", "FATAL", "CRITICAL"], sample=2)
    assert counts == {"ERROR": 2, "FATAL": 1, "CRITICAL": 1}
    assert sample == ["ERROR again", "CRITICAL disk"]


def test_count_log_lines_accepts_regular_expressions():
    counts, sample = count_log_lines(["took 5012ms (timeout)", "ok"], [r"time(d )?out"], sample=5)
    assert counts == {r"time(d )?out": 1} and sample == ["took 5012ms (timeout)"]


def test_current_run_strips_timestamps_and_drops_the_previous_run():
    lines = ["2026-11-23T10:00:00.1Z FATAL old run", "2026-11-23T10:05:00.123456789Z started", "2026-11-23T10:06:00Z ERROR now"]
    assert current_run(lines, "2026-11-23T10:05:00.5Z") == ["started", "ERROR now"]
    assert current_run(lines) == ["FATAL old run", "started", "ERROR now"]


def test_a_crash_loop_keeps_the_previous_runs_last_words():
    # Caught just after its restart policy started it again, a crash-looping container has not yet
    # crashed in its current run: the count must still see the last run's FATAL line.
    assert run_start_for_logs(dict(running=True, restart_count=0, started_at="T1")) == "T1"
    assert run_start_for_logs(dict(running=True, restart_count=3, started_at="T1")) is None
    assert run_start_for_logs(dict(running=False, restart_count=0, started_at="T1")) is None


def test_service_state_counts_replicas():
    assert service_state([])["state"] == "missing"
    assert service_state([c(running=False, status="exited")])["state"] == "down"
    assert service_state([c(restarting=True, status="restarting")])["state"] == "down"
    mixed = service_state([c(), c(health="unhealthy")])
    assert (mixed["state"], mixed["replicas"], mixed["running"], mixed["healthy"]) == ("degraded", 2, 2, 1)
    assert service_state([c(), c(health="none")])["state"] == "running"


def test_findings_for_an_oom_killed_container():
    found = container_findings("worker", c(running=False, status="exited", exit_code=137, oom_killed=True))
    assert found == [dict(severity="critical", check="container_state", message="worker down: exited exit code 137, OOMKilled",
                          container="lab_api_1", oom_killed=True)]


def test_findings_for_a_restart_loop_health_and_logs():
    loop = container_findings("worker", c(restarting=True, status="restarting", restart_count=7, exit_code=1))
    assert [f["check"] for f in loop] == ["restart_loop"] and "7 restarts" in loop[0]["message"]
    sick = container_findings("api", c(health="unhealthy", health_output="curl: (22) 503", restart_count=4, restart_policy="always",
                                       log_errors={"ERROR": 3, "FATAL": 0}, memory_percent=95.0))
    assert [f["check"] for f in sick] == ["restart_count", "health", "log_errors", "memory"]
    assert "curl: (22) 503" in sick[1]["message"] and sick[2]["message"] == "api log errors: ERROR 3"
    assert container_findings("api", c()) == []
    old = container_findings("api", c(restart_count=9, restart_policy="no"))
    assert [(f["severity"], f["check"]) for f in old] == [("info", "restart_count")]


def test_sort_findings_most_severe_first_stable():
    items = [dict(severity="info", m=1), dict(severity="critical", m=2), dict(severity="warning", m=3), dict(severity="critical", m=4)]
    assert [f["m"] for f in sort_findings(items)] == [2, 4, 3, 1]


def test_health_output_is_the_last_check_on_one_line():
    info = {"State": {"Health": {"Log": [{"Output": "old"}, {"Output": "curl: (7)\n  refused  "}]}}}
    assert health_output(info) == "curl: (7) refused"
    assert health_output({"State": {}}) == ""


def test_fan_out_runs_everything_and_keeps_errors_per_call():
    def boom():
        raise OSError("socket gone")
    out = fan_out({"a": (lambda x: x * 2, (21,)), "b": (boom, ())})
    assert out == {"a": (42, None), "b": (None, "socket gone")}
    assert fan_out({}) == {}
