"""examples/fraud on a real platform: the feature definitions, the training
pipeline with its AUC gate, and the serving and drift-monitor manifests.

The AUC the gate reads is checked against an oracle: the registered model is
downloaded, scored with the xgboost Python package on the same training data,
and its AUC computed with scikit-learn."""
import csv
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xgboost
from sklearn.metrics import roc_auc_score

from conftest import SKIFF_BIN, SRC

EXAMPLE = SRC / "examples" / "fraud"
FEATURES = ["tx_count_1h", "tx_count_24h", "avg_amount_7d", "std_amount_7d",
            "unique_merchants_7d", "high_risk_merchant", "velocity_score"]


@pytest.fixture
def skiff_on_path(monkeypatch):
    """Steps run `skiff ...`: the binary under test comes first on PATH (the
    platform started after this fixture passes its environment to steps)."""
    monkeypatch.setenv("PATH", str(Path(SKIFF_BIN).resolve().parent) + os.pathsep
                       + os.environ.get("PATH", ""))


@pytest.fixture
def repo():
    """A copy of the example with its data. Not under /tmp: each step sees
    its own private /tmp there, as a pod does."""
    d = Path(tempfile.mkdtemp(prefix="skiff-fraud-test-", dir="/var/tmp"))
    for f in EXAMPLE.iterdir():
        if f.is_file():
            shutil.copy(f, d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def split_labels(data, train_days):
    """labels.csv in time: the first train_days days to learn from, the rest
    to measure the AUC on (labels-train.csv, labels-holdout.csv)."""
    lines = (data / "labels.csv").read_text().splitlines(keepends=True)
    cut = f"2026-01-{1 + train_days:02d}"
    rows = lines[1:]
    train = [l for l in rows if l.split(",")[1] < cut]
    (data / "labels-train.csv").write_text(lines[0] + "".join(train))
    (data / "labels-holdout.csv").write_text(lines[0] + "".join(rows[len(train):]))
    return len(train), len(rows) - len(train)


def submit(platform, repo, **params):
    args = ["submit", str(repo / "pipeline.yaml"), "--watch",
            "-p", f"data-dir={repo / 'data'}", "-p", f"repo-dir={repo}"]
    for k, v in params.items():
        args += ["-p", f"{k.replace('_', '-')}={v}"]
    r = platform.cli(*args)
    name = r.stdout.splitlines()[0] if r.stdout else ""
    wf = platform.api("GET", f"/api/v1/workflows/{name}").json() if name else {}
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{json.dumps(wf.get('status'), indent=1)}"
    nodes = {n["displayName"]: n for n in wf["status"]["nodes"].values()}
    return wf, nodes


def outputs(node):
    return {p["name"]: p["value"] for p in node.get("outputs", {}).get("parameters", [])}


def versions(platform):
    r = platform.api("GET", "/api/2.0/mlflow/model-versions/search",
                     params={"filter": "name='fraud-detector'"})
    assert r.status_code == 200, r.text
    return r.json().get("model_versions", [])


def test_pipeline_registers_only_when_auc_clears_the_bar(skiff_on_path, repo, platform):
    platform.cli("datagen", "fraud", "--users", "300", "--days", "7", "--seed", "5",
                 "-o", str(repo / "data"), check=0)
    ntrain, nholdout = split_labels(repo / "data", 6)
    platform.cli("apply", "-f", str(repo / "features.yaml"), check=0)

    wf, nodes = submit(platform, repo)
    assert wf["status"]["phase"] == "Succeeded"
    order = ["validate-data", "engineer-features", "train", "evaluate", "register"]
    assert [nodes[t]["phase"] for t in order] == ["Succeeded"] * 5
    assert nodes["engineer-features"]["type"] == "TaskGroup"   # withItems: train, holdout

    # training data: the entity rows with the seven features, point in time
    with open(repo / "data" / "features-train.csv") as f:
        train = list(csv.DictReader(f))
    with open(repo / "data" / "features-holdout.csv") as f:
        rows = list(csv.DictReader(f))
    assert (len(train), len(rows)) == (ntrain, nholdout)
    assert set(FEATURES + ["user_id", "event_timestamp", "is_fraud"]) == set(rows[0])
    # the very first transaction: the only one in its hour and day, no spread yet
    first = train[0]
    assert (first["tx_count_1h"], first["tx_count_24h"], first["std_amount_7d"]) == ("1", "1", "")
    assert float(first["velocity_score"]) == pytest.approx(1 / (1 + 1 / 24))
    assert json.loads((repo / "data" / "validation.json").read_text())["success"] is True

    run_id = outputs(nodes["train"])["run-id"]
    auc = float(outputs(nodes["evaluate"])["auc"])
    assert auc > 0.95

    # the registry: version 1, alias champion, made from the train step's run
    r = platform.api("GET", "/api/2.0/mlflow/registered-models/alias",
                     params={"name": "fraud-detector", "alias": "champion"})
    assert r.status_code == 200, r.text
    mv = r.json()["model_version"]
    assert mv["version"] == "1" and mv["run_id"] == run_id

    # the run holds the AUC the gate read
    run = platform.api("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()
    metrics = {m["key"]: m["value"] for m in run["run"]["data"].get("metrics", [])}
    assert any(abs(v - auc) < 1e-6 for k, v in metrics.items() if "auc" in k.lower()), metrics

    # oracle: xgboost + scikit-learn on the registered model and the holdout rows
    root = run["run"]["info"]["artifact_uri"].split("mlflow-artifacts:", 1)[1].lstrip("/")
    art = platform.api("GET", f"/api/2.0/mlflow-artifacts/artifacts/{root}/model/model.json")
    assert art.status_code == 200, art.text
    booster = xgboost.Booster()
    booster.load_model(bytearray(art.content))
    names = booster.feature_names or FEATURES
    x = np.array([[float(row[n]) if row[n] != "" else np.nan for n in names] for row in rows])
    y = np.array([int(row["is_fraud"]) for row in rows])
    pred = booster.predict(xgboost.DMatrix(x, feature_names=booster.feature_names))
    assert roc_auc_score(y, pred) == pytest.approx(auc, abs=1e-4)

    # a bar the model cannot reach: register is Skipped, no new version
    wf, nodes = submit(platform, repo, auc_threshold="0.99999")
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["register"]["phase"] == "Skipped"
    assert float(outputs(nodes["evaluate"])["auc"]) <= 0.99999
    assert [v["version"] for v in versions(platform)] == ["1"]


def test_example_manifests_apply(platform):
    """Every manifest of the example is valid on the platform, with no warning."""
    files = ["features.yaml", "inferenceservice.yaml", "drift-monitor.yaml"]
    args = []
    for f in files:
        args += ["-f", str(EXAMPLE / f)]
    r = platform.cli("apply", *args, check=0)
    assert "warning" not in r.stderr, r.stderr
    assert r.stdout.split("\n")[:6] == [
        "entity.skiff.dev/user created",
        "datasource.skiff.dev/transactions created",
        "featureview.skiff.dev/user_transaction_features created",
        "featureservice.skiff.dev/fraud_features created",
        "inferenceservice.serving.kserve.io/fraud-detector created",
        "driftmonitor.skiff.dev/fraud-detector-drift created",
    ]
    isvc = platform.api("GET", "/api/v1/inferenceservices/fraud-detector").json()
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "models:/fraud-detector@champion"
    # the pipeline: stand-alone validation through submit's own checks
    # (a parameter it does not declare is refused before anything is created)
    r = platform.cli("submit", str(EXAMPLE / "pipeline.yaml"), "-p", "nope=1")
    assert r.returncode == 2 and "'nope'" in r.stderr
    assert platform.api("GET", "/api/v1/workflows").json()["items"] == []
