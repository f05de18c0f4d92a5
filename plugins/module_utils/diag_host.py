# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host facts read straight from /proc and statvfs (no df/free/top/ps output parsing)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

# Pseudo and virtual filesystems that never fill up in a way a responder can act on.
SKIP_FSTYPES = frozenset("""autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs efivarfs fusectl
hugetlbfs mqueue nsfs proc pstore rpc_pipefs securityfs selinuxfs squashfs sysfs tracefs tmpfs nfsd""".split())
SKIP_PREFIXES = ("/proc", "/sys", "/dev", "/run/docker", "/var/lib/docker", "/snap")


def percent(used, total):
    return round(100.0 * used / total, 1) if total else 0.0


def disk_usage(path):
    """Usage of the filesystem at path, as df computes it (used / (used + available to users))."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    inodes_used = st.f_files - st.f_ffree
    return dict(mount=path, size_bytes=total, used_bytes=used, free_bytes=free,
                percent=percent(used, used + free), inodes_percent=percent(inodes_used, st.f_files))


def host_mounts(mounts_file="/proc/mounts"):
    """(device, mount point, fstype) of real filesystems, each device/mount once."""
    seen, out = set(), []
    with open(mounts_file) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 3:
                continue
            dev, mnt, fstype = parts[0], parts[1].replace("\\040", " "), parts[2]
            if fstype in SKIP_FSTYPES or (fstype == "overlay" and mnt != "/") or mnt.startswith(SKIP_PREFIXES) \
                    or (dev, mnt) in seen:
                continue
            seen.add((dev, mnt))
            out.append((dev, mnt, fstype))
    return out


def disks(include=None):
    result = []
    for dev, mnt, fstype in host_mounts():
        if include and mnt not in include:
            continue
        try:
            usage = disk_usage(mnt)
        except OSError:
            continue
        if usage["size_bytes"]:
            usage.update(device=dev, fstype=fstype)
            result.append(usage)
    return result


def meminfo(path="/proc/meminfo"):
    values = {}
    with open(path) as fh:
        for line in fh:
            key, _sep, rest = line.partition(":")
            values[key] = int(rest.split()[0]) * 1024 if rest.split() else 0
    total = values.get("MemTotal", 0)
    available = values.get("MemAvailable", values.get("MemFree", 0))
    swap_total, swap_free = values.get("SwapTotal", 0), values.get("SwapFree", 0)
    return dict(total_bytes=total, available_bytes=available, used_bytes=total - available,
                percent=percent(total - available, total), swap_total_bytes=swap_total,
                swap_used_bytes=swap_total - swap_free, swap_percent=percent(swap_total - swap_free, swap_total))


def load():
    with open("/proc/loadavg") as fh:
        one, five, fifteen = [float(x) for x in fh.read().split()[:3]]
    cpus = os.cpu_count() or 1
    return dict(load1=one, load5=five, load15=fifteen, cpus=cpus, per_cpu=round(one / cpus, 2))


def processes(cmdline=False, proc_dir="/proc"):
    """{pid: dict(pid, ppid, state, name, cpu_ticks, rss_bytes[, cmdline])} of every process readable now.

    `cmdline` adds the command line (arguments joined by spaces, empty for kernel threads)."""
    page = os.sysconf("SC_PAGE_SIZE")
    out = {}
    for pid in os.listdir(proc_dir):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc_dir, pid, "stat")) as fh:
                raw = fh.read()
            command = _cmdline(os.path.join(proc_dir, pid, "cmdline")) if cmdline else None
        except (IOError, OSError):
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        # fields[0] state, [1] ppid, [11] + [12] utime + stime, [21] rss pages (0-based after the comm)
        proc = dict(pid=int(pid), ppid=int(fields[1]), state=fields[0], name=raw[raw.find("(") + 1:raw.rfind(")")],
                    cpu_ticks=int(fields[11]) + int(fields[12]), rss_bytes=int(fields[21]) * page)
        if command is not None:
            proc["cmdline"] = command
        out[proc["pid"]] = proc
    return out


def _cmdline(path):
    with open(path, "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()


def top_processes(count=5, interval=0.2):
    """Top `count` processes by CPU (sampled over `interval` seconds) and by resident memory."""
    ticks = os.sysconf("SC_CLK_TCK")
    first = processes()
    time.sleep(interval)
    second = processes()
    total_mem = meminfo()["total_bytes"] or 1
    rows = []
    for pid, proc in second.items():
        before = first.get(pid, proc)["cpu_ticks"]
        rows.append(dict(pid=pid, name=proc["name"], cpu_percent=round(100.0 * (proc["cpu_ticks"] - before) / ticks / interval, 1),
                         rss_bytes=proc["rss_bytes"], memory_percent=percent(proc["rss_bytes"], total_mem)))
    by_cpu = sorted(rows, key=lambda r: -r["cpu_percent"])[:count]
    by_mem = sorted(rows, key=lambda r: -r["rss_bytes"])[:count]
    return by_cpu, by_mem


CONTAINER_SKIP_MOUNTS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def parse_df(text):
    """Rows of `df -kP` output (the POSIX format) as disk dicts, pseudo mounts left out."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6 or not parts[1].isdigit():
            continue
        dev, size_k, used_k, avail_k = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
        mnt = " ".join(parts[5:])
        if not size_k or mnt.startswith(("/proc", "/sys", "/dev")) or mnt in CONTAINER_SKIP_MOUNTS:
            continue
        rows.append(dict(mount=mnt, device=dev, size_bytes=size_k * 1024, used_bytes=used_k * 1024,
                         free_bytes=avail_k * 1024, percent=percent(used_k, used_k + avail_k)))
    return rows
