"""Unit tests of module_utils/diag_host.py's process list (the parsing tests are in modules/test_host_facts.py)."""
import os

from ansible_collections.incident.response.plugins.module_utils import diag_host

PAGE = os.sysconf("SC_PAGE_SIZE")


def fake_proc(tmp_path, pid, stat, cmdline=None):
    directory = tmp_path / str(pid)
    directory.mkdir()
    (directory / "stat").write_text(stat)
    if cmdline is not None:
        (directory / "cmdline").write_bytes(cmdline)


def test_processes_parses_stat_and_cmdline(tmp_path):
    # a comm with spaces and parentheses: the fields start after the last ')'
    fake_proc(tmp_path, 42, "42 (my (odd) app) R 7 42 42 0 -1 0 0 0 0 0 150 50 0 0 20 0 1 0 100 1000 25 0 0\n",
              b"/usr/bin/app\0--flag\0")
    fake_proc(tmp_path, 3, "3 (kworker/0:1) I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 0\n", b"")
    fake_proc(tmp_path, 9, "9 (gone) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 0\n")  # no cmdline: it ended
    (tmp_path / "self").mkdir()
    procs = diag_host.processes(cmdline=True, proc_dir=str(tmp_path))
    assert sorted(procs) == [3, 42]
    assert procs[42] == dict(pid=42, ppid=7, state="R", name="my (odd) app", cpu_ticks=200, rss_bytes=25 * PAGE,
                             cmdline="/usr/bin/app --flag")
    assert procs[3]["cmdline"] == "" and procs[3]["name"] == "kworker/0:1"
    assert "cmdline" not in diag_host.processes(proc_dir=str(tmp_path))[9]


def test_processes_of_this_host_include_this_process():
    me = diag_host.processes(cmdline=True)[os.getpid()]
    assert me["ppid"] == os.getppid() and me["rss_bytes"] > 0 and "pytest" in me["cmdline"]
