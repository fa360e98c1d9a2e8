"""The ML step commands end to end: datagen's contract, validate, and
train -> evaluate -> register against a real platform, with scikit-learn
and python xgboost as the oracles."""
import json
import re

import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from conftest import run

FEATURES = ["tx_count_1h", "tx_count_24h", "avg_amount_7d", "std_amount_7d",
            "unique_merchants_7d", "high_risk_merchant", "velocity_score"]


def datagen(out, *args):
    r = run("datagen", "fraud", *args, "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out


def windowed_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Per-user rolling features as the demo's feature views define them
    (windows end at, and include, the transaction)."""
    tx = tx.sort_values(["user_id", "event_timestamp"]).copy()
    tx["one"] = 1.0
    tx["hr"] = (tx.merchant_risk > 0.8).astype(float)
    tx["mcode"] = tx.merchant_id.str[1:].astype(float)
    g = tx.set_index("event_timestamp").groupby("user_id", sort=False)
    out = pd.DataFrame({
        "tx_count_1h": g["one"].rolling("1h").sum().values,
        "tx_count_24h": g["one"].rolling("24h").sum().values,
        "avg_amount_7d": g["amount"].rolling("7d").mean().values,
        "std_amount_7d": g["amount"].rolling("7d").std().fillna(0).values,
        "unique_merchants_7d": g["mcode"].rolling("7d").apply(lambda a: len(set(a)), raw=True).values,
        "high_risk_merchant": g["hr"].rolling("1h").max().values,
    })
    out["velocity_score"] = out.tx_count_1h / (out.tx_count_24h / 24.0)
    out.insert(0, "user_id", tx.user_id.values)
    out["is_fraud"] = tx.is_fraud.values
    out["event_timestamp"] = tx.event_timestamp.values
    return out.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def test_datagen_contract(tmp_path):
    a = datagen(tmp_path / "a", "--users", "300", "--days", "14", "--drift-from", "10")
    b = datagen(tmp_path / "b", "--users", "300", "--days", "14", "--drift-from", "10")
    for f in ("transactions.csv", "labels.csv", "meta.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    text = (a / "transactions.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == "transaction_id,user_id,merchant_id,merchant_risk,amount,event_timestamp,is_fraud"
    row = re.compile(r"^t\d{9},u\d{6},m\d{5},[01]\.\d{4},\d+\.\d{2},"
                     r"2026-01-(0[1-9]|1[0-4])T\d\d:\d\d:\d\dZ,[01]$")
    assert all(row.match(line) for line in lines[1:]), next(l for l in lines[1:] if not row.match(l))
    tx = pd.read_csv(a / "transactions.csv", dtype={"user_id": str}, parse_dates=["event_timestamp"])
    assert tx.event_timestamp.is_monotonic_increasing
    assert list(tx.transaction_id) == [f"t{i:09d}" for i in range(len(tx))]
    assert tx.event_timestamp.min() >= pd.Timestamp("2026-01-01", tz="UTC")
    assert tx.event_timestamp.max() < pd.Timestamp("2026-01-15", tz="UTC")
    assert 0.01 <= tx.is_fraud.mean() <= 0.02
    labels = pd.read_csv(a / "labels.csv", dtype={"user_id": str})
    assert list(labels.columns) == ["user_id", "event_timestamp", "is_fraud"]
    assert len(labels) == len(tx) and (labels.is_fraud.values == tx.is_fraud.values).all()
    meta = json.loads((a / "meta.json").read_text())
    assert meta["users"] == 300 and meta["days"] == 14 and meta["rows"] == len(tx)
    assert meta["drift_from"] == 10 and meta["seed"] == 42
    assert abs(meta["fraud_rate"] - tx.is_fraud.mean()) < 1e-6
    # the drifted period: larger amounts, more high-risk merchants
    legit = tx[tx.is_fraud == 0]
    late = legit.event_timestamp >= pd.Timestamp("2026-01-11", tz="UTC")
    assert legit[late].amount.median() > 1.25 * legit[~late].amount.median()
    assert (legit[late].merchant_risk > 0.8).mean() > 3 * (legit[~late].merchant_risk > 0.8).mean()
    # another seed is another dataset; no drift without --drift-from
    c = datagen(tmp_path / "c", "--users", "300", "--days", "14", "--seed", "1")
    assert (c / "transactions.csv").read_bytes() != (a / "transactions.csv").read_bytes()
    assert json.loads((c / "meta.json").read_text())["drift_from"] is None


def test_datagen_fraud_is_learnable(tmp_path):
    """The demo's bar: the windowed features reach AUC >= 0.97 on later data."""
    d = datagen(tmp_path / "d", "--users", "400", "--days", "14")
    tx = pd.read_csv(d / "transactions.csv", parse_dates=["event_timestamp"])
    f = windowed_features(tx)
    cut = int(len(f) * 0.7)
    m = xgboost.XGBClassifier(n_estimators=60, max_depth=4, n_jobs=1)
    m.fit(f[FEATURES][:cut], f.is_fraud[:cut])
    auc = roc_auc_score(f.is_fraud[cut:], m.predict_proba(f[FEATURES][cut:])[:, 1])
    assert auc >= 0.97, auc


def test_datagen_bad_input(tmp_path):
    for args in (["fraud", "--users", "x", "-o", str(tmp_path)],
                 ["fraud", "--days", "3", "--drift-from", "3", "-o", str(tmp_path)],
                 ["fraud"], ["nope", "-o", str(tmp_path)], ["fraud", "--bogus", "1", "-o", "x"]):
        r = run("datagen", *args)
        assert r.returncode == 2, (args, r.stderr)
    assert "drift day 3" in run("datagen", "fraud", "--days", "3", "--drift-from", "3",
                                "-o", str(tmp_path)).stderr


EXPECT = """
row_count: {min: 100}
strict: true
columns:
  transaction_id: {type: string, unique: true, not_null: true}
  user_id: {type: string, not_null: true}
  merchant_id: {type: string}
  merchant_risk: {type: number, min: 0, max: 1}
  amount: {type: number, min: 0, max: 1000000, max_null_fraction: 0}
  event_timestamp: {type: timestamp}
  is_fraud: {type: integer, allowed: [0, 1]}
"""


def test_validate(tmp_path):
    d = datagen(tmp_path / "d", "--users", "50", "--days", "3")
    exp = tmp_path / "e.yaml"
    exp.write_text(EXPECT)
    r = run("validate", "--data", str(d / "transactions.csv"), "--expect", str(exp),
            "--report", str(tmp_path / "ok.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "ok.json").read_text())["success"] is True

    # one broken file, one violation of each kind, each naming its column
    tx = pd.read_csv(d / "transactions.csv", dtype=str, keep_default_na=False)
    tx.loc[3, "amount"] = "-5.00"                # min
    tx.loc[4, "merchant_risk"] = "1.5"           # max
    tx.loc[5, "is_fraud"] = "2"                  # allowed
    tx.loc[6, "event_timestamp"] = "yesterday"   # type
    tx.loc[7, "user_id"] = ""                    # not_null
    tx.loc[8, "transaction_id"] = tx.loc[9, "transaction_id"]   # unique
    tx.loc[10, "amount"] = ""                    # max_null_fraction
    tx["extra"] = "x"                            # strict
    tx = tx.drop(columns=["merchant_id"])        # exists
    bad = tmp_path / "bad.csv"
    tx.to_csv(bad, index=False)
    r = run("validate", "--data", str(bad), "--expect", str(exp), "--report", str(tmp_path / "bad.json"))
    assert r.returncode == 1, r.stderr
    rep = json.loads((tmp_path / "bad.json").read_text())
    got = {(v["check"], v["column"]) for v in rep["violations"]}
    assert got == {("min", "amount"), ("max", "merchant_risk"), ("allowed", "is_fraud"),
                   ("type", "event_timestamp"), ("not_null", "user_id"), ("unique", "transaction_id"),
                   ("max_null_fraction", "amount"), ("strict", "extra"), ("exists", "merchant_id")}
    assert rep["success"] is False
    for col in ("amount", "merchant_risk", "is_fraud", "event_timestamp", "user_id", "extra"):
        assert f"'{col}'" in r.stderr
    assert "line 5: '-5.00'" in r.stderr   # row 3 is line 5 (header, 0-based)
    small = tmp_path / "small.yaml"
    small.write_text("row_count: {min: 1000000}\n")
    r = run("validate", "--data", str(d / "transactions.csv"), "--expect", str(small))
    assert r.returncode == 1 and "row count" in r.stderr

    # bad input: exit 2 with the place
    for text, where in (("columns:\n  a: {type: numbr}\n", ":2:"), ("columns: [a\n", ":2:"),
                        ("colums: {}\n", ":1:")):
        exp.write_text(text)
        r = run("validate", "--data", str(d / "transactions.csv"), "--expect", str(exp))
        assert r.returncode == 2 and f"e.yaml{where}" in r.stderr, r.stderr
    r = run("validate", "--data", str(tmp_path / "none.csv"), "--expect", str(small))
    assert r.returncode == 2 and "none.csv" in r.stderr
    assert run("validate", "--data", "x").returncode == 2


def test_train_evaluate_register(platform, tmp_path):
    d = datagen(tmp_path / "d", "--users", "300", "--days", "14")
    tx = pd.read_csv(d / "transactions.csv", parse_dates=["event_timestamp"])
    f = windowed_features(tx)
    f["event_timestamp"] = f.event_timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    cut = int(len(f) * 0.7)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    f[:cut].to_csv(train, index=False)
    f[cut:].to_csv(test, index=False)
    params = tmp_path / "params.yaml"
    params.write_text("max_depth: 4\neta: 0.3\nnthread: 1\nseed: 3\nnum_boost_round: 30\n")

    rid_file = tmp_path / "run_id"
    r = platform.cli("train", "--data", str(train), "--label", "is_fraud", "--params", str(params),
                     "eta=0.2", "--valid-fraction", "0.2", "--experiment", "fraud",
                     "--run-id-out", str(rid_file), check=0)
    rid = rid_file.read_text()
    assert re.fullmatch(r"[0-9a-f]{32}", rid) and rid in r.stdout and "valid-auc=" in r.stdout

    run_ = platform.api("GET", "/api/2.0/mlflow/runs/get", params={"run_id": rid}).json()["run"]
    assert run_["info"]["status"] == "FINISHED"
    p = {x["key"]: x["value"] for x in run_["data"]["params"]}
    assert p["eta"] == "0.2" and p["max_depth"] == "4" and p["objective"] == "binary:logistic"
    assert p["num_boost_round"] == "30"
    hist = platform.api("GET", "/api/2.0/mlflow/metrics/get-history",
                        params={"run_id": rid, "metric_key": "valid-auc"}).json()["metrics"]
    assert sorted(m["step"] for m in hist) == list(range(30))
    tags = {x["key"]: x["value"] for x in run_["data"]["tags"]}
    assert json.loads(tags["mlflow.log-model.history"])[0]["artifact_path"] == "model"
    ds = run_["inputs"]["dataset_inputs"][0]
    assert ds["dataset"]["name"] == "train.csv" and ds["dataset"]["source_type"] == "local"
    assert json.loads(ds["dataset"]["source"])["uri"] == str(train)
    assert [c["name"] for c in json.loads(ds["dataset"]["schema"])["mlflow_colspec"]] == FEATURES
    assert json.loads(ds["dataset"]["profile"])["num_rows"] == cut
    assert ds["tags"] == [{"key": "mlflow.data.context", "value": "training"}]

    art = run_["info"]["artifact_uri"].replace("mlflow-artifacts:/", "")
    get = lambda rel: platform.api("GET", f"/api/2.0/mlflow-artifacts/artifacts/{art}/{rel}")
    mlmodel = yaml.safe_load(get("model/MLmodel").text)
    assert mlmodel["flavors"]["xgboost"]["data"] == "model.json"
    assert mlmodel["flavors"]["xgboost"]["model_format"] == "json"
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.xgboost"
    assert mlmodel["run_id"] == rid
    assert [c["name"] for c in json.loads(mlmodel["signature"]["inputs"])] == FEATURES
    sample = get("reference/sample.csv").text.splitlines()
    assert sample[0] == ",".join(FEATURES) and len(sample) == 1 + min(10000, cut)
    model_file = tmp_path / "model.json"
    model_file.write_bytes(get("model/model.json").content)

    out = tmp_path / "metrics"
    out.mkdir()
    preds_file = tmp_path / "preds.txt"
    r = platform.cli("evaluate", "--run", rid, "--data", str(test), "--out-dir", str(out),
                     "--predictions-out", str(preds_file), check=0)
    preds = np.loadtxt(preds_file)
    y = f.is_fraud[cut:].values
    # python xgboost loads the logged model and predicts the same
    booster = xgboost.Booster(model_file=str(model_file))
    assert booster.feature_names == FEATURES
    py = booster.predict(xgboost.DMatrix(f[FEATURES][cut:].astype(np.float32)))
    assert np.max(np.abs(py - preds)) <= 1e-6
    # the metrics are scikit-learn's on the same predictions
    want = {"auc": roc_auc_score(y, preds), "pr_auc": average_precision_score(y, preds),
            "log_loss": log_loss(y, preds)}
    got = {m["key"]: m["value"] for m in platform.api(
        "GET", "/api/2.0/mlflow/runs/get", params={"run_id": rid}).json()["run"]["data"]["metrics"]}
    for k, v in want.items():
        assert abs(got[k] - v) <= 1e-9, (k, got[k], v)
        text = (out / k).read_text()
        assert re.fullmatch(r"\d+\.\d{6}", text) and abs(float(text) - v) <= 5e-7
    assert want["auc"] >= 0.97
    tp = int(((preds >= 0.5) & (y == 1)).sum())
    fp = int(((preds >= 0.5) & (y == 0)).sum())
    fn = int(((preds < 0.5) & (y == 1)).sum())
    assert got["tp"] == tp and got["fp"] == fp and got["fn"] == fn
    assert abs(float((out / "precision").read_text()) - tp / (tp + fp)) <= 5e-7
    assert abs(float((out / "recall").read_text()) - tp / (tp + fn)) <= 5e-7
    assert "auc=" in r.stdout

    # register with lineage and an alias; both register commands share the code
    r = platform.cli("register", "--run", rid, "--name", "fraud-detector", "--alias", "champion",
                     "--tag", "auc=%.4f" % want["auc"], check=0)
    assert r.stdout.strip() == "1"
    mv = platform.api("GET", "/api/2.0/mlflow/registered-models/alias",
                      params={"name": "fraud-detector", "alias": "champion"}).json()["model_version"]
    assert mv["source"] == f"runs:/{rid}/model" and mv["run_id"] == rid and mv["version"] == "1"
    vt = {t["key"]: t["value"] for t in mv["tags"]}
    assert vt["skiff.source_run"] == rid and vt["auc"] == "%.4f" % want["auc"]
    r = platform.cli("models", "register", "--run", rid, "--path", "model", "--name", "fraud-detector",
                     check=0)
    assert "version 2" in r.stdout


def test_train_bad_input(platform, tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(50)))
    r = platform.cli("train", "--data", str(data), "--label", "nope")
    assert r.returncode == 2 and "'nope'" in r.stderr
    bad = tmp_path / "p.yaml"
    bad.write_text("max_depth: 3\neta: [1,\n")
    r = platform.cli("train", "--data", str(data), "--label", "y", "--params", str(bad))
    assert r.returncode == 2 and "p.yaml:" in r.stderr
    bad.write_text("max_depth: 3\nnested: {a: 1}\n")
    r = platform.cli("train", "--data", str(data), "--label", "y", "--params", str(bad))
    assert r.returncode == 2 and "p.yaml:2:" in r.stderr and "nested" in r.stderr
    # a parameter XGBoost refuses: exit 2, and the run is FAILED, not left RUNNING
    r = platform.cli("train", "--data", str(data), "--label", "y", "max_depth=deep", "--rounds", "2",
                     "--run-id-out", str(tmp_path / "rid"))
    assert r.returncode == 2 and "max_depth" in r.stderr
    runs = platform.api("POST", "/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"]}).json()
    assert [x["info"]["status"] for x in runs["runs"]] == ["FAILED"]
    assert platform.cli("train", "--data", str(data)).returncode == 2
    assert platform.cli("evaluate", "--run", "nothex", "--data", str(data)).returncode == 2
    r = platform.cli("evaluate", "--run", "f" * 32, "--data", str(data), "--label", "y")
    assert r.returncode == 1 and "f" * 32 in r.stderr
    assert platform.cli("register", "--run", "f" * 32).returncode == 2
    # local training without a platform
    r = run("train", "--data", str(data), "--label", "y", "--no-tracking", "--rounds", "3",
            "--model-out", str(tmp_path / "m.json"))
    assert r.returncode == 0 and xgboost.Booster(model_file=str(tmp_path / "m.json")).feature_names == ["a", "b"]
    r = run("evaluate", "--model", str(tmp_path / "m.json"), "--data", str(data), "--label", "y",
            "--out-dir", str(tmp_path), "--predictions-out", str(tmp_path / "p.txt"))
    assert r.returncode == 0, r.stderr
    p = np.loadtxt(tmp_path / "p.txt")
    y = np.arange(50) % 2
    assert abs(float((tmp_path / "auc").read_text()) - roc_auc_score(y, p)) <= 5e-7
    assert run("evaluate", "--model", str(tmp_path / "m.json"), "--data", str(data)).returncode == 2
