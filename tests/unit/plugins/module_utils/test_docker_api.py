"""Unit tests of the Docker Engine API helpers that need no engine."""
import struct

import pytest

from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerClient, DockerError, container_summary, demux, stats_summary


def frame(stream, payload):
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_demux_joins_stdout_and_stderr_frames_in_order():
    data = frame(1, b"out 1\n") + frame(2, b"ERROR boom\n") + frame(1, b"out 2\n")
    assert demux(data) == b"out 1\nERROR boom\nout 2\n"


def test_demux_passes_tty_output_through():
    assert demux(b"plain tty output\n") == b"plain tty output\n"


def test_unsupported_url_schemes_are_refused():
    with pytest.raises(DockerError, match="not supported"):
        DockerClient("ftp://10.0.0.1:2375")


def test_unreachable_engine_is_a_docker_error_naming_the_socket(tmp_path):
    client = DockerClient("unix://%s" % (tmp_path / "missing.sock"), timeout=1)
    with pytest.raises(DockerError, match="missing.sock"):
        client.ping()


def test_container_summary_reports_oom_and_exit_code():
    info = {"Id": "0123456789abcdef", "Name": "/lab_worker_1", "RestartCount": 3, "Image": "sha256:abc",
            "State": {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": True},
            "Config": {"Image": "lab/app:1", "Labels": {"com.docker.compose.service": "worker"}},
            "HostConfig": {"Memory": 201326592, "RestartPolicy": {"Name": "always"}}}
    got = container_summary(info)
    assert got["oom_killed"] and got["exit_code"] == 137 and got["restart_count"] == 3
    assert got["service"] == "worker" and got["health"] == "none" and got["restart_policy"] == "always"


def test_stats_summary_subtracts_page_cache_and_computes_cpu():
    stats = {"cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
             "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
             "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 200}}}
    got = stats_summary(stats)
    assert got["cpu_percent"] == 40.0
    assert got["memory_bytes"] == 800 and got["memory_percent"] == 20.0
