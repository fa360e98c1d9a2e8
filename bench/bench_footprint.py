"""Footprint of `skiff up`: time from exec to the first 200 on /healthz, and
resident memory when idle, against the smallest Python service there is
(python3 -m http.server: a lower bound for any Python platform component,
before it imports a web framework, an ORM or pandas).

Each skiff run starts from a fresh home, so its figure includes creating the
SQLite store, the signing key and the admin token."""
import os
import signal
import subprocess
import sys
import tempfile
import time

from common import free_port, median, rss_kib, table, wait_http

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
SKIFF = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/skiff")


def measure(launch, health_path):
    """launch(port) -> (argv, env, cwd) for one fresh run. Returns the
    medians of start-up ms and idle RSS MiB over RUNS runs."""
    starts, rss = [], []
    for _ in range(RUNS):
        port = free_port()
        argv, env, cwd = launch(port)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}{health_path}")
            starts.append((time.perf_counter() - t0) * 1000)
            time.sleep(1.0)      # idle
            rss.append(rss_kib(p.pid) / 1024)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=20)
    return median(starts), median(rss)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        def skiff(port):
            env = dict(os.environ, SKIFF_HOME=tempfile.mkdtemp(dir=tmp), SKIFF_LOG="warn")
            return [SKIFF, "up", "--listen", f"127.0.0.1:{port}"], env, tmp

        def python(port):
            return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], None, tmp

        s_start, s_rss = measure(skiff, "/healthz")
        p_start, p_rss = measure(python, "/")
    print(table("skiff up: start-up and idle memory",
                "python3 -m http.server (Python " + sys.version.split()[0] + ")",
                [(f"start-up to first 200 (median of {RUNS})", s_start, p_start, "ms", True),
                 ("idle RSS (median)", s_rss, p_rss, "MiB", True)]))


if __name__ == "__main__":
    main()
