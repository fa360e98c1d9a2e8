"""What every benchmark shares: the machine's description, free ports,
waiting for a server, and the result table (figure, skiff, peer, ratio).

Convention (docs/benchmarks.md): each bench/bench_<name>.py runs skiff and
its peer in the same run on the same data, prints `table()` and exits 0;
`make bench` runs them all. Benchmarks report numbers; tests check behaviour.
"""
import os
import platform
import socket
import statistics
import time

import requests


def machine():
    model = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Linux {platform.release()}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    """Seconds until `url` answers 200 (polling every millisecond)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - t0
        except requests.ConnectionError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def median(xs):
    return statistics.median(xs)


def table(title, peer, rows):
    """rows: (figure, skiff value, peer value, unit, lower_is_better)."""
    out = [f"## {title}", "", f"machine: {machine()}", f"peer: {peer}", "",
           "| figure | skiff | peer | ratio |", "|---|---|---|---|"]
    for fig, s, p, unit, lower_better in rows:
        ratio = (p / s if lower_better else s / p) if s and p else float("nan")
        out.append(f"| {fig} | {s:.2f} {unit} | {p:.2f} {unit} | {ratio:.1f}x |")
    return "\n".join(out)
