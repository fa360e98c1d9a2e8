"""/metrics in the Prometheus text format, read by the Prometheus client's own
parser and scraped by a real Prometheus server."""
import os
import shutil
import subprocess
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port


def families(url):
    r = requests.get(url + "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def test_metrics_parse_and_count_requests_per_route(platform):
    for _ in range(3):
        platform.api("GET", "/api/v1/workflows")
    platform.api("GET", "/api/v1/nosuch")
    fams = families(platform.url)
    reqs = fams["skiff_http_requests"]      # the parser strips _total from counters
    assert reqs.type == "counter"
    by_route = {}
    for s in reqs.samples:
        if s.name == "skiff_http_requests_total":
            key = (s.labels["route"], s.labels["method"], s.labels["code"])
            by_route[key] = s.value
    assert by_route[("/api/v1/{plural}", "GET", "200")] >= 3
    assert by_route[("/api/v1/{plural}", "GET", "404")] >= 1
    lat = fams["skiff_http_request_duration_seconds"]
    assert lat.type == "histogram"
    counts = [s for s in lat.samples if s.name.endswith("_count") and s.labels["route"] == "/api/v1/{plural}"]
    assert counts and counts[0].value >= 4
    buckets = [s for s in lat.samples if s.name.endswith("_bucket") and s.labels["route"] == "/api/v1/{plural}"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == counts[0].value
    values = [b.value for b in buckets]
    assert values == sorted(values), "histogram buckets must be cumulative"


def test_real_prometheus_scrapes_skiff(platform, tmp_path):
    prom = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert os.path.exists(prom), "prometheus is installed by scripts/install-deps.sh"
    target = platform.url.split("//")[1]
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: skiff
    static_configs:
      - targets: ['{target}']
""")
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen([prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline:
            try:
                targets = requests.get(api + "/targets", timeout=2).json()["data"]["activeTargets"]
                if targets:
                    health = targets[0]["health"]
                    if health == "up":
                        break
            except (requests.ConnectionError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        assert health == "up", (tmp_path / "prometheus.log").read_text()[-2000:]
        assert targets[0]["labels"]["job"] == "skiff"
        # and the samples arrived: skiff's own request counter is queryable
        deadline = time.monotonic() + 30
        result = []
        while time.monotonic() < deadline and not result:
            result = requests.get(api + "/query", params={"query": 'skiff_http_requests_total{route="/metrics"}'},
                                  timeout=2).json()["data"]["result"]
            time.sleep(0.5)
        assert result and float(result[0]["value"][1]) >= 1
    finally:
        p.terminate()
        p.wait(timeout=20)
        log.close()
