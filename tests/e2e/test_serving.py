"""`skiff serve -f isvc.yaml`: the Open Inference Protocol (V2) and V1 end to
end, each datatype against python xgboost's predictions, each error."""
import os
import subprocess

import numpy as np
import pytest
import requests

from conftest import SKIFF_BIN
from test_serving_helpers import (FEATURES, Served, data, isvc, predict, token, train,
                                  v2_body)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    booster = train(tmp / "model.json")
    (tmp / "isvc.yaml").write_text(isvc("fraud", "model.json"))   # relative to the file
    s = Served(tmp, tmp / "isvc.yaml")
    s.booster = booster
    yield s
    assert s.stop() == 0, s.logs()
    assert "Sanitizer" not in s.logs(), s.logs()


def out(r):
    assert r.status_code == 200, r.text
    o = r.json()["outputs"][0]
    return o, np.array(o["data"], dtype=np.float64)


def test_v2_fp32_fp64_batch_id_parameters(served):
    X = data(32, seed=5)
    want = predict(served.booster, X)
    r = served.post("/v2/models/fraud/infer", v2_body(X, "FP32", id="req-1",
                                                     parameters={"a": 1, "b": "x"}))
    o, got = out(r)
    assert r.json()["id"] == "req-1"
    assert r.json()["parameters"] == {"a": 1, "b": "x"}
    assert r.json()["model_name"] == "fraud"
    assert r.json()["model_version"] == "fraud-predictor-00001"
    assert o["datatype"] == "FP64" and o["shape"] == [32]
    np.testing.assert_allclose(got, want, atol=1e-6)
    # FP64, nested data, one row
    r = served.post("/v2/models/fraud/infer", v2_body(X[:1].astype(np.float64), "FP64"))
    np.testing.assert_allclose(out(r)[1], want[:1], atol=1e-6)
    assert len(r.json()["id"]) == 36            # a uuid4 when the request had none
    # flat data with shape [n, 7]; FP32 outputs on request
    body = {"inputs": [{"name": "x", "shape": [2, 7], "datatype": "FP32",
                        "data": X[:2].ravel().tolist()}],
            "outputs": [{"name": "output-0", "parameters": {"datatype": "FP32"}}]}
    o, got = out(served.post("/v2/models/fraud/infer", body))
    assert o["datatype"] == "FP32"
    np.testing.assert_allclose(got, want[:2], atol=1e-6)


def test_v2_int_bool_bytes_and_columns(served):
    Xi = np.round(data(4, seed=7) * 3)
    want = predict(served.booster, Xi)
    for dt in ("INT32", "INT64"):
        _, got = out(served.post("/v2/models/fraud/infer", v2_body(Xi.astype(int), dt)))
        np.testing.assert_allclose(got, want, atol=1e-6)
    Xb = (data(3, seed=8) > 0)
    _, got = out(served.post("/v2/models/fraud/infer", v2_body(Xb, "BOOL")))
    np.testing.assert_allclose(got, predict(served.booster, Xb.astype(np.float32)), atol=1e-6)
    X = data(2, seed=9)
    body = {"inputs": [{"name": "s", "shape": [2, 7], "datatype": "BYTES",
                        "data": [[repr(float(v)) for v in row] for row in X]}]}
    _, got = out(served.post("/v2/models/fraud/infer", body))
    np.testing.assert_allclose(got, predict(served.booster, X), atol=1e-6)
    # one input per feature, by name, in any order
    cols = [{"name": f, "shape": [2], "datatype": "FP64", "data": X[:, i].astype(float).tolist()}
            for i, f in enumerate(FEATURES)][::-1]
    _, got = out(served.post("/v2/models/fraud/infer", {"inputs": cols}))
    np.testing.assert_allclose(got, predict(served.booster, X), atol=1e-6)


@pytest.mark.parametrize("body,status,needle", [
    ({"inputs": [{"name": "x", "shape": [2, 7], "datatype": "FP32", "data": [0.0] * 7}]},
     400, "needs 14 elements"),
    ({"inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP32", "data": [0.0] * 6}]},
     400, "takes 7 features"),
    ({"inputs": [{"name": "x", "shape": [1, 7], "datatype": "FP32", "data": ["a"] * 7}]},
     400, "invalid datatype"),
    ({"inputs": [{"name": "x", "shape": [1, 7], "datatype": "INT32", "data": [0.5] * 7}]},
     400, "INT32"),
    ({"inputs": [{"name": "x", "shape": [1, 7], "datatype": "FP16", "data": [0] * 7}]},
     400, "binary data format"),
    ({"inputs": [{"name": "x", "shape": [1, 7], "datatype": "FP32"}]},
     400, "'data' field is missing for input 'x'"),
    ({"inputs": [{"name": "x", "shape": [1, 7], "datatype": "BYTES", "data": ["q"] * 7}]},
     400, "not a number"),
    ("{\"inputs\": [", 400, "Unrecognized request format"),
    ({"instances": [[1]]}, 400, "'inputs' is missing"),
])
def test_v2_errors(served, body, status, needle):
    r = served.post("/v2/models/fraud/infer", body)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"], r.json()


def test_errors_outside_the_body(served):
    r = served.post("/v2/models/nope/infer", v2_body(data(1)))
    assert r.status_code == 404 and r.json() == {"error": "Model with name nope does not exist."}
    big = b'{"inputs":[{"name":"x","shape":[1,7],"datatype":"FP32","data":[' + b"1," * (5 << 20)
    r = served.post("/v2/models/fraud/infer", big)
    assert r.status_code == 413 and "exceeds" in r.json()["error"]
    r = requests.post(served.url + "/v2/models/fraud/infer", json=v2_body(data(1)), timeout=10)
    assert r.status_code == 401
    weak = token(served.home, "resources:read")
    r = requests.post(served.url + "/v2/models/fraud/infer", json=v2_body(data(1)), timeout=10,
                      headers={"Authorization": "Bearer " + weak})
    assert r.status_code == 403 and "serving:infer" in r.json()["error"]
    # versioned paths name a revision
    r = served.post("/v2/models/fraud/versions/fraud-predictor-00001/infer", v2_body(data(1)))
    assert r.status_code == 200
    r = served.post("/v2/models/fraud/versions/fraud-predictor-00009/infer", v2_body(data(1)))
    assert r.status_code == 404
    # the server is still there
    assert served.get("/v2/health/live").status_code == 200


def test_v1_predict(served):
    X = data(3, seed=11)
    r = served.post("/v1/models/fraud:predict", {"instances": X.tolist()})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], predict(served.booster, X), atol=1e-6)
    r = served.post("/v1/models/fraud:predict",
                    {"instances": [dict(zip(FEATURES, map(float, X[0])))]})
    np.testing.assert_allclose(r.json()["predictions"], predict(served.booster, X[:1]), atol=1e-6)
    r = served.post("/v1/models/fraud:predict", {"instances": {"a": 1}})
    assert r.status_code == 400 and r.json() == {"error": 'Expected "instances" to be a list'}
    r = served.post("/v1/models/fraud:predict", {"instances": [[1, 2]]})
    assert r.status_code == 400 and "7 features" in r.json()["error"]
    assert requests.get(served.url + "/v1/models/fraud", timeout=5).json() == \
        {"name": "fraud", "ready": True}


def test_metadata_health_metrics(served):
    assert requests.get(served.url + "/v2/health/live", timeout=5).json() == {"live": True}
    assert requests.get(served.url + "/v2/health/ready", timeout=5).json() == {"ready": True}
    assert requests.get(served.url + "/v2/models/fraud/ready", timeout=5).json() == \
        {"name": "fraud", "ready": True}
    assert requests.get(served.url + "/v2/models/x/ready", timeout=5).status_code == 404
    assert served.get("/v2").json()["name"] == "skiff"
    md = served.get("/v2/models/fraud").json()
    assert md["name"] == "fraud" and md["versions"] == ["fraud-predictor-00001"]
    assert md["inputs"][0]["shape"] == [-1, 7] and md["inputs"][0]["datatype"] == "FP32"
    assert md["inputs"][0]["parameters"]["feature_names"] == FEATURES
    assert md["outputs"][0]["shape"] == [-1]
    assert served.get("/v2/models").json() == {"models": ["fraud"]}
    served.post("/v2/models/fraud/infer", v2_body(data(1)))
    m = requests.get(served.url + "/metrics", timeout=5).text
    assert 'skiff_serving_requests_total{model="fraud",revision="fraud-predictor-00001",code="200"}' in m
    assert 'skiff_serving_request_duration_seconds_bucket{model="fraud"' in m
    assert 'skiff_serving_model_load_seconds_count{model="fraud",revision="fraud-predictor-00001"} 1' in m
    assert 'skiff_serving_in_flight{model="fraud"}' in m


def test_serve_rejects_bad_files(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        isvc("fraud", "model.json", canaryTrafficPercent=200))
    r = subprocess.run([SKIFF_BIN, "serve", "-f", str(tmp_path / "bad.yaml")], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "bad.yaml:" in r.stderr and "canaryTrafficPercent" in r.stderr
    (tmp_path / "missing.yaml").write_text(isvc("fraud", "nowhere/model.json"))
    home = tmp_path / "h"
    home.mkdir(mode=0o700)
    r = subprocess.run([SKIFF_BIN, "serve", "-f", str(tmp_path / "missing.yaml"), "--home",
                        str(home)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "nowhere/model.json" in r.stderr, r.stderr
    (tmp_path / "sk.yaml").write_text(isvc("fraud", "model.json").replace("xgboost", "sklearn"))
    r = subprocess.run([SKIFF_BIN, "serve", "-f", str(tmp_path / "sk.yaml"), "--home",
                        str(home)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "no runtime found" in r.stderr, r.stderr


def test_serve_fetches_registry_models_from_the_platform(platform, tmp_path):
    """skiff serve alone with storageUri models:/NAME@ALIAS: the model comes
    through the platform's MLflow REST API (SKIFF_URL, SKIFF_TOKEN_FILE)."""
    booster = train(tmp_path / "model.json", seed=4)
    run = platform.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    assert run.status_code == 200, run.text
    info = run.json()["run"]["info"]
    art = info["artifact_uri"].split("mlflow-artifacts:", 1)[1].lstrip("/")
    r = platform.api("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{art}/model/model.json",
                     data=(tmp_path / "model.json").read_bytes())
    assert r.status_code == 200, r.text
    assert platform.api("POST", "/api/2.0/mlflow/registered-models/create",
                        json={"name": "fraud-model"}).status_code == 200
    mv = platform.api("POST", "/api/2.0/mlflow/model-versions/create",
                      json={"name": "fraud-model", "source": f"runs:/{info['run_id']}/model",
                            "run_id": info["run_id"]})
    assert mv.status_code == 200, mv.text
    r = platform.api("POST", "/api/2.0/mlflow/registered-models/alias",
                     json={"name": "fraud-model", "alias": "champion",
                           "version": mv.json()["model_version"]["version"]})
    assert r.status_code == 200, r.text
    (tmp_path / "isvc.yaml").write_text(isvc("fraud", "models:/fraud-model@champion"))
    s = Served(tmp_path, tmp_path / "isvc.yaml",
               env={"SKIFF_URL": platform.url, "SKIFF_TOKEN_FILE": str(platform.home / "admin.token")})
    try:
        X = data(3, seed=2)
        r = s.post("/v2/models/fraud/infer", v2_body(X))
        assert r.status_code == 200, r.text + s.logs()
        np.testing.assert_allclose(r.json()["outputs"][0]["data"], predict(booster, X), atol=1e-6)
    finally:
        assert s.stop() == 0, s.logs()
    # without the platform, the same file says what it needs
    r = subprocess.run([SKIFF_BIN, "serve", "-f", str(tmp_path / "isvc.yaml"), "--home",
                        str(s.home)], capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items()
                            if k not in ("SKIFF_URL", "SKIFF_TOKEN_FILE", "MLFLOW_TRACKING_URI")})
    assert r.returncode != 0 and "SKIFF_URL" in r.stderr, r.stderr
