"""sys/host-info data (gopsutil's shapes) read straight from /proc, without extra dependencies.

Every part is best effort: a value the platform does not expose is left out rather than failing
the request, as Vault does when gopsutil cannot collect something.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import Any

from ..gocompat.times import rfc3339_nano

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _cpus() -> list[dict[str, Any]]:
    def num(info: dict[str, str], key: str, kind: type = int) -> Any:
        try:
            return kind(info.get(key, "0").split()[0])
        except (ValueError, IndexError):
            return kind(0)

    out: list[dict[str, Any]] = []
    for block in _read("/proc/cpuinfo").strip().split("\n\n"):
        info = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
        if "processor" not in info:
            continue

        out.append(
            {
                "cpu": num(info, "processor"),
                "vendorId": info.get("vendor_id", ""),
                "family": info.get("cpu family", ""),
                "model": info.get("model", ""),
                "stepping": num(info, "stepping"),
                "physicalId": info.get("physical id", ""),
                "coreId": info.get("core id", ""),
                "cores": num(info, "cpu cores") or 1,
                "modelName": info.get("model name", ""),
                "mhz": num(info, "cpu MHz", float),
                "cacheSize": num(info, "cache size"),
                "flags": info.get("flags", "").split(),
                "microcode": info.get("microcode", ""),
            }
        )
    return out


def _cpu_times() -> list[dict[str, Any]]:
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guestNice")
    out = []
    for line in _read("/proc/stat").splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu") or parts[0] == "cpu":
            continue
        values = dict(zip(names, (int(v) / _CLOCK_TICKS for v in parts[1:]), strict=False))
        out.append({"cpu": parts[0], **{n: values.get(n, 0.0) for n in names}})
    return out


def _disk() -> list[dict[str, Any]]:
    try:
        st = os.statvfs("/")
    except OSError:
        return []
    total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    inodes_used = st.f_files - st.f_ffree
    return [
        {
            "path": "/",
            "fstype": "",
            "total": total,
            "free": free,
            "used": used,
            "usedPercent": 100.0 * used / (used + free) if used + free else 0.0,
            "inodesTotal": st.f_files,
            "inodesUsed": inodes_used,
            "inodesFree": st.f_ffree,
            "inodesUsedPercent": 100.0 * inodes_used / st.f_files if st.f_files else 0.0,
        }
    ]


def _memory() -> dict[str, Any]:
    info: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            info[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    total = info.get("MemTotal", 0)
    available = info.get("MemAvailable", 0)
    used = total - available
    out: dict[str, Any] = {
        "total": total,
        "available": available,
        "used": used,
        "usedPercent": 100.0 * used / total if total else 0.0,
    }
    for key, source in _MEMINFO_KEYS.items():
        out[key] = info.get(source, 0)
    return out


# gopsutil's VirtualMemoryStat JSON keys and the /proc/meminfo lines they come from.
_MEMINFO_KEYS = {
    "free": "MemFree",
    "active": "Active",
    "inactive": "Inactive",
    "wired": "",
    "laundry": "",
    "buffers": "Buffers",
    "cached": "Cached",
    "writeback": "Writeback",
    "dirty": "Dirty",
    "writebacktmp": "WritebackTmp",
    "shared": "Shmem",
    "slab": "Slab",
    "sreclaimable": "SReclaimable",
    "sunreclaim": "SUnreclaim",
    "pagetables": "PageTables",
    "swapcached": "SwapCached",
    "commitlimit": "CommitLimit",
    "committedas": "Committed_AS",
    "hightotal": "HighTotal",
    "highfree": "HighFree",
    "lowtotal": "LowTotal",
    "lowfree": "LowFree",
    "swaptotal": "SwapTotal",
    "swapfree": "SwapFree",
    "mapped": "Mapped",
    "vmalloctotal": "VmallocTotal",
    "vmallocused": "VmallocUsed",
    "vmallocchunk": "VmallocChunk",
    "hugepagestotal": "HugePages_Total",
    "hugepagesfree": "HugePages_Free",
    "hugepagesize": "Hugepagesize",
}


def _go_numbers(value: Any) -> Any:
    """Go's JSON prints a whole float64 without a fraction (0, not 0.0): do the same."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    return value


def _host() -> dict[str, Any]:
    uptime = 0
    try:
        uptime = int(float(_read("/proc/uptime").split()[0]))
    except (IndexError, ValueError):
        pass
    release = {}
    for line in _read("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        release[key] = value.strip().strip('"')
    procs = sum(1 for name in os.listdir("/proc") if name.isdigit()) if os.path.isdir("/proc") else 0
    return {
        "hostname": socket.gethostname(),
        "uptime": uptime,
        "bootTime": int(time.time()) - uptime,
        "procs": procs,
        "os": platform.system().lower(),
        "platform": release.get("ID", ""),
        "platformFamily": release.get("ID_LIKE", release.get("ID", "")).split()[0] if release else "",
        "platformVersion": release.get("VERSION_ID", ""),
        "kernelVersion": platform.release(),
        "kernelArch": platform.machine(),
        "virtualizationSystem": "",
        "virtualizationRole": "",
        "hostid": _uuid_form(_read("/etc/machine-id").strip()),
    }


def _uuid_form(text: str) -> str:
    if len(text) == 32 and all(c in "0123456789abcdef" for c in text):
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def host_info() -> dict[str, Any]:
    """cpu, cpu_times, disk, host, memory and timestamp, as Vault's handleHostInfo returns them."""
    return _go_numbers(
        {
            "cpu": _cpus(),
            "cpu_times": _cpu_times(),
            "disk": _disk(),
            "host": _host(),
            "memory": _memory(),
            "timestamp": rfc3339_nano(time.time()),
        }
    )
