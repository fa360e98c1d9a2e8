"""Capacity (bounded in-flight requests, 429 past the queue), scale to zero
with a measured cold start, and the payload log."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import requests

from conftest import SKIFF_BIN
from test_serving_helpers import (FEATURES, apply, data, isvc, predict, ready, train, v2_body,
                                  wait_status)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_overload_only_200_and_429(platform, tmp_path):
    # a bigger model and big batches, so that requests overlap
    train(tmp_path / "model.json", trees=200, depth=8)
    apply(platform, tmp_path, isvc("fraud", "model.json", scaleTarget=1, maxReplicas=2,
                                   annotations={"serving.skiff.dev/queue-timeout": "20ms"}))
    wait_status(platform, "fraud", ready)
    body = json.dumps(v2_body(data(3000, seed=2)))
    hdr = dict(platform.headers(), **{"Content-Type": "application/json"})
    url = platform.url + "/v2/models/fraud/infer"
    statuses, retry_after, health = [], set(), []
    stop = threading.Event()

    def hammer():
        s = requests.Session()
        while not stop.is_set():
            r = s.post(url, data=body, headers=hdr, timeout=30)
            statuses.append(r.status_code)
            if r.status_code == 429:
                retry_after.add(r.headers.get("Retry-After"))
                assert "at capacity" in r.json()["error"]

    def probe():
        s = requests.Session()
        while not stop.is_set():
            t0 = time.monotonic()
            health.append((s.get(platform.url + "/v2/health/live", timeout=5).status_code,
                           time.monotonic() - t0))
            time.sleep(0.02)

    rss0 = rss_kib(platform.proc.pid)
    with ThreadPoolExecutor(9) as ex:   # 8 clients: 4x the 2 slots (scaleTarget x maxReplicas)
        futs = [ex.submit(hammer) for _ in range(8)] + [ex.submit(probe)]
        time.sleep(4)
        stop.set()
        for f in futs:
            f.result()
    assert set(statuses) == {200, 429}, sorted(set(statuses))
    assert retry_after == {"1"}
    assert health and all(code == 200 for code, _ in health)
    assert max(t for _, t in health) < 2.0
    # memory stays bounded: the queue holds no more than its slots (an ASan
    # build also keeps up to 256 MiB of freed memory in quarantine)
    with open(SKIFF_BIN, "rb") as f:
        asan = b"AddressSanitizer" in f.read()
    assert rss_kib(platform.proc.pid) - rss0 < (200 + (300 if asan else 0)) * 1024
    m = requests.get(platform.url + "/metrics", timeout=5).text
    assert 'skiff_serving_requests_total{model="fraud",revision="fraud-predictor-00001",code="429"}' in m


def test_scale_to_zero_and_cold_start(platform, tmp_path):
    booster = train(tmp_path / "model.json")
    apply(platform, tmp_path, isvc("fraud", "model.json", minReplicas=0,
                                   annotations={"serving.skiff.dev/scale-to-zero-grace": "1s"}))
    wait_status(platform, "fraud", ready)
    X = data(2, seed=6)
    hdr = platform.headers()
    url = platform.url + "/v2/models/fraud/infer"
    assert requests.post(url, json=v2_body(X), headers=hdr, timeout=10).status_code == 200
    deadline = time.monotonic() + 10
    while "idle, scaled to zero" not in platform.logs():
        assert time.monotonic() < deadline, platform.logs()
        time.sleep(0.1)
    r = requests.post(url, json=v2_body(X), headers=hdr, timeout=10)
    assert r.status_code == 200
    np.testing.assert_allclose(r.json()["outputs"][0]["data"], predict(booster, X), atol=1e-6)
    m = requests.get(platform.url + "/metrics", timeout=5).text
    assert 'skiff_serving_cold_starts_total{model="fraud",revision="fraud-predictor-00001"} 1' in m
    assert "cold start of 'fraud'" in platform.logs()


def test_payload_log(platform, tmp_path):
    booster = train(tmp_path / "model.json")
    apply(platform, tmp_path, isvc("fraud", "model.json", logger={"mode": "all"}))
    wait_status(platform, "fraud", ready)
    X = data(3, seed=12)
    r = requests.post(platform.url + "/v2/models/fraud/infer",
                      json=v2_body(X, id="pay-1"), headers=platform.headers(), timeout=10)
    assert r.status_code == 200
    day = time.strftime("%Y-%m-%d", time.gmtime())
    f = platform.home / "payloads" / "fraud" / f"{day}.jsonl"
    deadline = time.monotonic() + 10
    while not (f.exists() and len(f.read_text().splitlines()) >= 3):
        assert time.monotonic() < deadline, platform.logs()
        time.sleep(0.05)
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    assert len(rows) == 3
    want = predict(booster, X)
    for i, row in enumerate(rows):
        assert row["id"] == "pay-1" and row["model"] == "fraud"
        assert row["revision"] == "fraud-predictor-00001"
        assert row["ts"].startswith(day) and row["ts"].endswith("Z")
        assert list(row["features"]) == FEATURES
        np.testing.assert_allclose([row["features"][k] for k in FEATURES], X[i], rtol=1e-6)
        np.testing.assert_allclose(row["outputs"], [want[i]], atol=1e-6)
    # mode "request" writes the inputs only
    apply(platform, tmp_path, isvc("fraud", "model.json", logger={"mode": "request"}))
    time.sleep(0.5)
    requests.post(platform.url + "/v2/models/fraud/infer", json=v2_body(X[:1], id="pay-2"),
                  headers=platform.headers(), timeout=10)
    deadline = time.monotonic() + 10
    while "pay-2" not in f.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    last = json.loads(f.read_text().splitlines()[-1])
    assert last["id"] == "pay-2" and "features" in last and "outputs" not in last
