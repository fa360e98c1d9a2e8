"""`skiff serve -f isvc.yaml` alone with storageUri models:/NAME/latest and
models:/NAME/STAGE: resolved as MLflow's client does (get-latest-versions,
then the highest version) through the platform's REST API (SKIFF_URL)."""
import os
import subprocess

import numpy as np

from conftest import SKIFF_BIN
from test_serving_helpers import Served, data, isvc, predict, train, v2_body


def register_version(platform, tmp_path, seed):
    """Trains a model, uploads it as a run's artifact and registers it."""
    booster = train(tmp_path / f"model-{seed}.json", seed=seed)
    run = platform.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    assert run.status_code == 200, run.text
    info = run.json()["run"]["info"]
    art = info["artifact_uri"].split("mlflow-artifacts:", 1)[1].lstrip("/")
    r = platform.api("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{art}/model/model.json",
                     data=(tmp_path / f"model-{seed}.json").read_bytes())
    assert r.status_code == 200, r.text
    mv = platform.api("POST", "/api/2.0/mlflow/model-versions/create",
                      json={"name": "fraud-model", "source": f"runs:/{info['run_id']}/model",
                            "run_id": info["run_id"]})
    assert mv.status_code == 200, mv.text
    return booster, mv.json()["model_version"]["version"]


def stage(platform, version, name):
    r = platform.api("POST", "/api/2.0/mlflow/model-versions/transition-stage",
                     json={"name": "fraud-model", "version": version, "stage": name,
                           "archive_existing_versions": False})
    assert r.status_code == 200, r.text


def test_serve_models_latest_and_stage(platform, tmp_path):
    assert platform.api("POST", "/api/2.0/mlflow/registered-models/create",
                        json={"name": "fraud-model"}).status_code == 200
    b1, v1 = register_version(platform, tmp_path, 1)
    b2, v2 = register_version(platform, tmp_path, 2)
    b3, _ = register_version(platform, tmp_path, 3)
    stage(platform, v1, "Production")
    stage(platform, v2, "Staging")
    env = {"SKIFF_URL": platform.url, "SKIFF_TOKEN_FILE": str(platform.home / "admin.token")}
    X = data(4, seed=9)
    # latest: the highest version whatever its stage; a stage: its newest version
    # (stage names match in any case, as MLflow's do)
    for uri, booster in (("models:/fraud-model/latest", b3),
                         ("models:/fraud-model/Production", b1),
                         ("models:/fraud-model/staging", b2)):
        d = tmp_path / uri.rsplit("/", 1)[1]
        d.mkdir()
        (d / "isvc.yaml").write_text(isvc("fraud", uri))
        s = Served(d, d / "isvc.yaml", env=env)
        try:
            r = s.post("/v2/models/fraud/infer", v2_body(X))
            assert r.status_code == 200, r.text + s.logs()
            np.testing.assert_allclose(r.json()["outputs"][0]["data"], predict(booster, X),
                                       atol=1e-6, err_msg=uri)
        finally:
            assert s.stop() == 0, s.logs()
    # a stage with no version says so, and nothing is served
    (tmp_path / "arch.yaml").write_text(isvc("fraud", "models:/fraud-model/Archived"))
    (tmp_path / "h").mkdir(mode=0o700)
    e = dict(os.environ, SKIFF_HOME=str(tmp_path / "h"), **env)
    r = subprocess.run([SKIFF_BIN, "serve", "-f", str(tmp_path / "arch.yaml"), "--listen",
                        "127.0.0.1:0"], capture_output=True, text=True, timeout=30, env=e)
    assert r.returncode != 0, r.stdout
    assert "model 'fraud-model' has no version in stage Archived" in r.stderr, r.stderr
