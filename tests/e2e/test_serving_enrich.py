"""Feature enrichment: a request carrying only user_id is scored on the
features read in-process from the online store, in the FeatureService's
order; missing features follow the service's policy (reject or default)."""
import json
import time

import numpy as np

from test_serving_helpers import FEATURES, apply, isvc, predict, ready, train, wait_status

DEFS = """\
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: user}
spec: {joinKeys: [user_id], valueType: STRING}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: tx}
spec:
  file: {path: %(dir)s/tx.csv}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: tx_push}
spec:
  push: {batchSource: tx}
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: user_feats}
spec:
  entities: [user]
  source: tx
  fields:
%(fields)s
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: scoring}
spec:
  features:
  - {view: user_feats, features: [%(names)s]}
"""


def setup_features(platform, tmp_path):
    (tmp_path / "tx.csv").write_text("user_id,event_timestamp," + ",".join(FEATURES) + "\n")
    (tmp_path / "defs.yaml").write_text(DEFS % {
        "dir": tmp_path, "names": ", ".join(FEATURES),
        "fields": "\n".join(f"  - {{name: {f}, dtype: DOUBLE}}" for f in FEATURES)})
    platform.cli("apply", "-f", str(tmp_path / "defs.yaml"), check=0)
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(2, len(FEATURES))).round(3)
    now = int(time.time())
    df = {"user_id": ["u1", "u2"], "event_timestamp": [now - 5, now - 5]}
    for i, f in enumerate(FEATURES):
        df[f] = rows[:, i].tolist()
    r = platform.api("POST", "/push", json={"push_source_name": "tx_push", "to": "online",
                                            "df": df})
    assert r.status_code == 200, r.text
    return rows


def test_enrichment_by_user_id(platform, tmp_path):
    rows = setup_features(platform, tmp_path)
    booster = train(tmp_path / "model.json")
    ann = {"serving.skiff.dev/feature-service": "scoring",
           "serving.skiff.dev/entity-key": "user_id",
           "serving.skiff.dev/missing-features": "reject"}
    apply(platform, tmp_path, isvc("fraud", "model.json", annotations=ann,
                                   logger={"mode": "all"}))
    wait_status(platform, "fraud", ready)
    url = platform.url + "/v2/models/fraud/infer"
    body = {"id": "e-1", "inputs": [{"name": "user_id", "shape": [2], "datatype": "BYTES",
                                     "data": ["u1", "u2"]}]}
    r = platform.api("POST", "/v2/models/fraud/infer", json=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["outputs"][0]["data"], predict(booster, rows), atol=1e-6)
    # reject: an unknown user is an error that names the feature and the status
    body["inputs"][0]["data"] = ["u1", "u9"]
    r = platform.api("POST", "/v2/models/fraud/infer", json=body)
    assert r.status_code == 400, r.text
    assert "user_id 'u9'" in r.json()["error"] and "NOT_FOUND" in r.json()["error"]
    # a request without the key input says what to send
    r = platform.api("POST", "/v2/models/fraud/infer", json={"inputs": [
        {"name": "x", "shape": [1, 7], "datatype": "FP32", "data": [[0] * 7]}]})
    assert r.status_code == 400 and "send input 'user_id'" in r.json()["error"]
    # the payload log has the entity key and the enriched features
    f = platform.home / "payloads" / "fraud" / (time.strftime("%Y-%m-%d", time.gmtime()) + ".jsonl")
    deadline = time.monotonic() + 10
    while not (f.exists() and len(f.read_text().splitlines()) >= 2):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    logged = [json.loads(line) for line in f.read_text().splitlines()]
    assert [row["features"]["user_id"] for row in logged] == ["u1", "u2"]
    assert list(logged[0]["features"]) == ["user_id"] + FEATURES
    np.testing.assert_allclose([logged[1]["features"][k] for k in FEATURES], rows[1], rtol=1e-6)

    # V1: instances are objects with the entity key, enriched the same way
    r = platform.api("POST", "/v1/models/fraud:predict",
                     json={"instances": [{"user_id": "u2"}, {"user_id": "u1"}]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], predict(booster, rows[::-1]),
                               atol=1e-6)
    r = platform.api("POST", "/v1/models/fraud:predict",
                     json={"instances": [{"user_id": "u1"}, {"user_id": "u9"}]})
    assert r.status_code == 400 and "user_id 'u9'" in r.json()["error"], r.text
    r = platform.api("POST", "/v1/models/fraud:predict", json={"instances": [[0] * 7]})
    assert r.status_code == 400 and "instance 0 must be an object with 'user_id'" in \
        r.json()["error"], r.text
    deadline = time.monotonic() + 10
    while len(f.read_text().splitlines()) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    logged = [json.loads(line) for line in f.read_text().splitlines()]
    assert [row["features"]["user_id"] for row in logged[2:]] == ["u2", "u1"]

    # policy default: a missing feature is a missing value for the trees
    ann["serving.skiff.dev/missing-features"] = "default"
    apply(platform, tmp_path, isvc("fraud-d", "model.json", annotations=ann), "d.yaml")
    wait_status(platform, "fraud-d", ready)
    r = platform.api("POST", "/v2/models/fraud-d/infer", json=body)
    assert r.status_code == 200, r.text
    want = predict(booster, np.vstack([rows[0], np.full(len(FEATURES), np.nan)]))
    np.testing.assert_allclose(r.json()["outputs"][0]["data"], want, atol=1e-6)


def test_enrichment_misconfigured_is_reported(platform, tmp_path):
    train(tmp_path / "model.json")
    apply(platform, tmp_path, isvc("fraud", "model.json", annotations={
        "serving.skiff.dev/feature-service": "nope"}))
    st = wait_status(platform, "fraud", lambda s: any(c["type"] == "FeaturesReady"
                                                      for c in s.get("conditions", [])))
    c = [c for c in st["conditions"] if c["type"] == "FeaturesReady"][0]
    assert c["status"] == "False" and "FeatureService 'nope'" in c["message"]
