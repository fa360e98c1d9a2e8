"""Experiment tracking through the MLflow REST API of `skiff up`:
log-batch throughput (metrics per second, 1000 metrics per request, one
client) and runs/search latency over 10,000+ runs (a filter on a metric,
ordered by it, first page of 100).

Peer: the MLflow tracking server would be the one to compare with, but it
cannot be installed here (no PyPI), so the table has no peer column values;
the figures stand alone."""
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import requests

from common import free_port, machine, wait_http

SKIFF = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/skiff")
RUNS = int(os.environ.get("BENCH_TRACKING_RUNS", "100000"))
BATCHES = int(os.environ.get("BENCH_TRACKING_BATCHES", "50"))
API = "/api/2.0/mlflow/"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        port = free_port()
        env = dict(os.environ, SKIFF_HOME=home)
        p = subprocess.Popen([SKIFF, "up", "--listen", f"127.0.0.1:{port}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/healthz")
            s = requests.Session()
            s.headers["Authorization"] = "Bearer " + open(os.path.join(home, "admin.token")).read().strip()

            def post(path, body):
                r = s.post(url + API + path, json=body, timeout=120)
                r.raise_for_status()
                return r.json()

            exp = post("experiments/create", {"name": "bench"})["experiment_id"]
            rid = post("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]

            # log-batch: 1000 metrics per request
            t0 = time.perf_counter()
            for b in range(BATCHES):
                post("runs/log-batch", {"run_id": rid, "metrics": [
                    {"key": f"m{i % 10}", "value": i * 0.5, "timestamp": b, "step": b * 100 + i // 10}
                    for i in range(1000)]})
            batch_s = time.perf_counter() - t0
            metrics_per_s = BATCHES * 1000 / batch_s

            # 10k runs, each with one metric and one param
            t0 = time.perf_counter()
            for i in range(RUNS):
                r = post("runs/create", {"experiment_id": exp, "start_time": i})["run"]["info"]["run_id"]
                post("runs/log-batch", {"run_id": r, "metrics": [{"key": "auc", "value": (i % 1000) / 1000, "timestamp": 1}],
                                        "params": [{"key": "lr", "value": str(i % 7)}]})
            fill_s = time.perf_counter() - t0

            lat = []
            for _ in range(20):
                t0 = time.perf_counter()
                res = post("runs/search", {"experiment_ids": [exp], "filter": "metrics.auc > 0.5 and params.lr = '3'",
                                           "order_by": ["metrics.auc DESC"], "max_results": 100})
                lat.append((time.perf_counter() - t0) * 1000)
                assert len(res["runs"]) == 100
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)

    print("## skiff tracking: log-batch throughput and runs/search latency\n")
    print(f"machine: {machine()}")
    print("peer: none installable (the MLflow server needs PyPI, which is not reachable here)\n")
    print("| figure | skiff | peer |")
    print("|---|---|---|")
    print(f"| log-batch, 1000 metrics/request, 1 client ({BATCHES} requests) | {metrics_per_s:,.0f} metrics/s | n/a |")
    print(f"| runs/create + log-batch for {RUNS} runs | {RUNS / fill_s:,.0f} runs/s | n/a |")
    print(f"| runs/search over {RUNS + 1} runs, filter metric+param, order by metric, 100 results (median of 20) | {statistics.median(lat):.1f} ms | n/a |")
    print(f"| same, slowest of the 20 | {max(lat):.1f} ms | n/a |")


if __name__ == "__main__":
    main()
