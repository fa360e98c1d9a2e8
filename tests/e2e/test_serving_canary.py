"""The InferenceService controller in `skiff up`: readiness, revisions, the
canary split, rollback, promotion, a swap under load with no failed
request, and the automatic canary analysis."""
import json
import subprocess
import threading
import time

import numpy as np
import requests

from test_serving_helpers import (apply, data, isvc, predict, ready, traffic, train, v2_body,
                                  wait_status)


def infer(platform, name, X, session=None):
    s = session or requests
    return s.post(platform.url + f"/v2/models/{name}/infer", json=v2_body(X),
                  headers=platform.headers(), timeout=10)


def test_readiness_before_and_after_load(platform, tmp_path):
    booster = train(tmp_path / "model.json")
    r = requests.get(platform.url + "/v2/models/fraud/ready", timeout=5)
    assert r.status_code == 404
    apply(platform, tmp_path, isvc("fraud", "model.json"))
    st = wait_status(platform, "fraud", ready)
    assert st["components"]["predictor"]["latestReadyRevision"] == "fraud-predictor-00001"
    assert traffic(st) == {"fraud-predictor-00001": 100}
    assert st["url"] == platform.url + "/v2/models/fraud"
    assert requests.get(platform.url + "/v2/models/fraud/ready", timeout=5).status_code == 200
    X = data(4, seed=3)
    np.testing.assert_allclose(infer(platform, "fraud", X).json()["outputs"][0]["data"],
                               predict(booster, X), atol=1e-6)
    # a service whose model cannot load is not ready, says why, and routes nothing
    apply(platform, tmp_path, isvc("broken", "missing/model.json"), "broken.yaml")
    st = wait_status(platform, "broken", lambda s: s.get("conditions"))
    cond = {c["type"]: c for c in st["conditions"]}
    assert cond["Ready"]["status"] == "False" and cond["Ready"]["reason"] == "RevisionFailed"
    assert "missing/model.json" in cond["Ready"]["message"]
    assert st["modelStatus"]["lastFailureInfo"]["reason"] == "ModelLoadFailed"
    r = infer(platform, "broken", X)
    assert r.status_code == 503 and r.json() == {"error": "Model with name broken is not ready."}
    assert requests.get(platform.url + "/v2/health/ready", timeout=5).status_code == 503
    # deleting it makes the platform ready again
    platform.cli("delete", "isvc", "broken", check=0)
    deadline = time.monotonic() + 10
    while requests.get(platform.url + "/v2/health/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert infer(platform, "broken", X).status_code == 404


def versions(platform, name, n):
    s = requests.Session()
    X = data(1, seed=1)
    counts = {}
    for _ in range(n):
        r = infer(platform, name, X, s)
        assert r.status_code == 200, r.text
        v = r.json()["model_version"]
        counts[v] = counts.get(v, 0) + 1
    return counts


def test_canary_split_rollback_promotion(platform, tmp_path):
    train(tmp_path / "v1.json", seed=1)
    train(tmp_path / "v2.json", seed=2)
    apply(platform, tmp_path, isvc("fraud", "v1.json"))
    wait_status(platform, "fraud", ready)
    r1, r2 = "fraud-predictor-00001", "fraud-predictor-00002"

    apply(platform, tmp_path, isvc("fraud", "v2.json", canaryTrafficPercent=10))
    st = wait_status(platform, "fraud", lambda s: traffic(s) == {r1: 90, r2: 10})
    p = st["components"]["predictor"]
    assert p["latestReadyRevision"] == r2 and p["latestRolledoutRevision"] == r1
    got = platform.cli("get", "isvc", "fraud", "-o", "json", check=0)
    assert json.loads(got.stdout)["status"]["components"]["predictor"]["traffic"] == \
        p["traffic"]
    # kubectl get isvc's columns: the split at a glance
    table = platform.cli("get", "isvc", check=0).stdout.splitlines()
    assert table[0].split() == ["NAME", "URL", "READY", "PREV", "LATEST",
                                "PREVROLLEDOUTREVISION", "LATESTREADYREVISION", "AGE"], table
    row = table[1].split()
    assert row[0] == "fraud" and row[2:7] == ["True", "90", "10", r1, r2], table
    counts = versions(platform, "fraud", 2000)
    # binomial(2000, 0.1): mean 200, sd 13.4; +-4 sd
    assert 146 <= counts.get(r2, 0) <= 254, counts

    # rollback: canaryTrafficPercent 0 sends everything back to the stable revision
    apply(platform, tmp_path, isvc("fraud", "v2.json", canaryTrafficPercent=0))
    wait_status(platform, "fraud", lambda s: traffic(s) == {r1: 100, r2: 0})
    assert versions(platform, "fraud", 200) == {r1: 200}

    # promotion: removing canaryTrafficPercent gives the latest revision 100 %
    apply(platform, tmp_path, isvc("fraud", "v2.json"))
    st = wait_status(platform, "fraud", lambda s: traffic(s) == {r2: 100})
    p = st["components"]["predictor"]
    assert p["latestRolledoutRevision"] == r2 and p["previousRolledoutRevision"] == r1
    assert versions(platform, "fraud", 200) == {r2: 200}
    # the old revision drained and was unloaded
    deadline = time.monotonic() + 10
    while "fraud-predictor-00001 unloaded" not in platform.logs():
        assert time.monotonic() < deadline, platform.logs()
        time.sleep(0.1)


def test_swap_under_load_fails_no_request(platform, tmp_path):
    train(tmp_path / "v1.json", seed=1)
    train(tmp_path / "v2.json", seed=2)
    train(tmp_path / "v3.json", seed=3)
    apply(platform, tmp_path, isvc("fraud", "v1.json"))
    wait_status(platform, "fraud", ready)
    body = json.dumps(v2_body(data(1)))
    (tmp_path / "post.lua").write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {platform.token}"\n')
    wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d4s", "-s", str(tmp_path / "post.lua"),
                            platform.url + "/v2/models/fraud/infer"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    apply(platform, tmp_path, isvc("fraud", "v2.json"))
    wait_status(platform, "fraud", lambda s: traffic(s) == {"fraud-predictor-00002": 100})
    time.sleep(0.5)
    apply(platform, tmp_path, isvc("fraud", "v3.json"))
    wait_status(platform, "fraud", lambda s: traffic(s) == {"fraud-predictor-00003": 100})
    out, err = wrk.communicate(timeout=30)
    assert wrk.returncode == 0, err
    assert "requests in" in out, out
    assert "Non-2xx" not in out and "Socket errors" not in out, out


def test_automatic_canary_rollback(platform, tmp_path):
    train(tmp_path / "good.json", seed=1)
    train(tmp_path / "broken.json", seed=1, invert=True)   # broken on purpose: labels flipped
    ann = {"serving.skiff.dev/canary-analysis":
           '{"window": "1s", "maxErrorRate": 0.01, "maxP99Ms": 500, "maxScoreShift": 0.2}'}
    apply(platform, tmp_path, isvc("fraud", "good.json", annotations=ann))
    wait_status(platform, "fraud", ready)
    apply(platform, tmp_path, isvc("fraud", "broken.json", annotations=ann,
                                   canaryTrafficPercent=50))
    r1, r2 = "fraud-predictor-00001", "fraud-predictor-00002"
    wait_status(platform, "fraud", lambda s: traffic(s) == {r1: 50, r2: 50})
    s = requests.Session()
    X = data(8, seed=4)   # the same rows to both: the score shift is the models' difference
    deadline = time.monotonic() + 15
    while traffic(platform.api("GET", "/api/v1/inferenceservices/fraud").json()
                  .get("status", {})).get(r2) != 0:
        assert time.monotonic() < deadline, platform.logs()
        assert infer(platform, "fraud", X, s).status_code == 200
    st = wait_status(platform, "fraud", lambda s: any(c["type"] == "CanaryRolledBack"
                                                      for c in s["conditions"]))
    ev = [c for c in st["conditions"] if c["type"] == "CanaryRolledBack"][0]
    assert ev["status"] == "True" and "maxScoreShift" in ev["message"], ev
    assert versions(platform, "fraud", 100) == {r1: 100}
    m = requests.get(platform.url + "/metrics", timeout=5).text
    assert 'skiff_serving_canary_rollbacks_total{model="fraud"} 1' in m


def test_restart_keeps_revision_names(home_platform, tmp_path):
    p = home_platform.start()
    train(tmp_path / "v1.json", seed=1)
    train(tmp_path / "v2.json", seed=2)
    apply(p, tmp_path, isvc("fraud", "v1.json"))
    wait_status(p, "fraud", ready)
    apply(p, tmp_path, isvc("fraud", "v2.json"))
    wait_status(p, "fraud", lambda s: traffic(s) == {"fraud-predictor-00002": 100})
    assert p.stop() == 0
    p.start()
    # the stored status still says Ready from before the restart: wait for
    # the new controller to have loaded the service, not for the status
    deadline = time.monotonic() + 15
    while (r := infer(p, "fraud", data(1))).status_code == 404:
        assert time.monotonic() < deadline, p.logs()
        time.sleep(0.05)
    assert r.status_code == 200 and r.json()["model_version"] == "fraud-predictor-00002"


def test_automatic_rollback_on_latency(platform, tmp_path):
    train(tmp_path / "a.json", seed=1)
    train(tmp_path / "b.json", seed=2)
    # no request is faster than a nanosecond: every canary request breaches maxP99Ms
    ann = {"serving.skiff.dev/canary-analysis": '{"window": "500ms", "maxP99Ms": 0.000001}'}
    apply(platform, tmp_path, isvc("fraud", "a.json", annotations=ann))
    wait_status(platform, "fraud", ready)
    apply(platform, tmp_path, isvc("fraud", "b.json", annotations=ann, canaryTrafficPercent=50))
    r2 = "fraud-predictor-00002"
    wait_status(platform, "fraud", lambda s: traffic(s).get(r2) == 50)
    s = requests.Session()
    deadline = time.monotonic() + 15
    while traffic(platform.api("GET", "/api/v1/inferenceservices/fraud").json()["status"]).get(r2):
        assert time.monotonic() < deadline, platform.logs()
        assert infer(platform, "fraud", data(1), s).status_code == 200
    st = wait_status(platform, "fraud", lambda s: any(c["type"] == "CanaryRolledBack"
                                                      for c in s["conditions"]))
    ev = [c for c in st["conditions"] if c["type"] == "CanaryRolledBack"][0]
    assert "maxP99Ms" in ev["message"], ev
