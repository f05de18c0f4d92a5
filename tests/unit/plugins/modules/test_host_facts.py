"""Unit tests of host_facts' parsing (module_utils/diag_host.py) and its disk findings."""
from ansible_collections.incident.response.plugins.module_utils import diag_host
from ansible_collections.incident.response.plugins.modules.host_facts import disk_findings, human

DF = """Filesystem     1024-blocks     Used Available Capacity Mounted on
overlay          264212084 25556892  80834020      25% /
tmpfs                65536        0     65536       0% /dev
/dev/vda         264212084 25556892  80834020      25% /etc/hosts
tmpfs                65536    65536         0     100% /var/spool/lab
tmpfs             12342048        0  12342048       0% /proc/acpi
"""


def test_parse_df_keeps_real_mounts_only():
    rows = diag_host.parse_df(DF)
    assert [r["mount"] for r in rows] == ["/", "/var/spool/lab"]
    assert rows[1]["percent"] == 100.0 and rows[1]["free_bytes"] == 0 and rows[1]["size_bytes"] == 64 * 1024 * 1024


def test_host_mounts_skips_pseudo_filesystems(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\n/dev/vda / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n"
                      "overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\n/dev/vdb /data\\040dir xfs rw 0 0\n"
                      "/dev/vda / ext4 rw 0 0\n")
    assert diag_host.host_mounts(str(mounts)) == [("/dev/vda", "/", "ext4"), ("/dev/vdb", "/data dir", "xfs")]


def test_meminfo_uses_available_memory(tmp_path):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n")
    mem = diag_host.meminfo(str(info))
    assert (mem["total_bytes"], mem["used_bytes"], mem["percent"], mem["swap_percent"]) == (1024000, 768000, 75.0, 0.0)


def test_top_processes_reads_proc():
    by_cpu, by_mem = diag_host.top_processes(3, interval=0.05)
    assert len(by_cpu) == 3 and len(by_mem) == 3
    assert by_mem[0]["rss_bytes"] >= by_mem[1]["rss_bytes"] >= by_mem[2]["rss_bytes"]
    assert all(set(p) == {"pid", "name", "cpu_percent", "rss_bytes", "memory_percent"} for p in by_cpu)


def test_disk_findings_thresholds():
    rows = [dict(mount="/", percent=50.0, free_bytes=10 << 30),
            dict(mount="/var", percent=88.0, free_bytes=2 << 30),
            dict(mount="/var/spool/lab", service="api", percent=100.0, free_bytes=0, inodes_percent=3.0)]
    found = disk_findings(rows, 85, 95)
    assert found == [dict(severity="warning", check="disk", message="/var 88% full (2.0 GiB free)", mount="/var", service=None),
                     dict(severity="critical", check="disk", message="api:/var/spool/lab 100% full (0 B free)",
                          mount="/var/spool/lab", service="api")]


def test_human_sizes():
    assert (human(0), human(1536), human(5 << 30)) == ("0 B", "1.5 KiB", "5.0 GiB")
