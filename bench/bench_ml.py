"""skiff train against python xgboost, and skiff datagen's speed.

Training: the same CSV (numeric features, a 0/1 label), the same XGBoost
parameters and nthread, the same per-round evaluation (auc and logloss on
the training set, which skiff train logs every round). skiff is timed as
the whole `skiff train --no-tracking --model-out` process: CSV read,
DMatrix, training, save. The peer is pandas.read_csv + xgboost.DMatrix +
xgboost.train(evals=[(dtrain, "train")]) + save_model, timed inside python
after its imports. Both use libxgboost 1.7.4; the script checks the two
models predict the same. Each figure is the best of 3 alternating runs.

Datagen: `skiff datagen fraud` rows per second; the peer writes a frame of
the same columns (random values, no fraud logic) with pandas.to_csv, at the
same row count.

    /usr/bin/python3 bench/bench_ml.py [SKIFF_BIN]        (make bench)
    SKIFF_BENCH_ROWS=20000 ...                            a quick run
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import table  # noqa: E402

SKIFF = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKIFF_BIN", "build/skiff")
ROWS = int(os.environ.get("SKIFF_BENCH_ROWS", "200000"))
NFEAT = 10
NTHREAD = int(os.environ.get("SKIFF_BENCH_NTHREAD", "2"))
PARAMS = {"max_depth": 6, "eta": 0.1, "nthread": NTHREAD, "seed": 1, "tree_method": "hist",
          "subsample": 0.8}
ROUNDS = 100


def make_data(path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(ROWS, NFEAT))
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + rng.normal(scale=0.5, size=ROWS)
    y = (logit > 1.0).astype(int)
    header = ",".join([f"f{i}" for i in range(NFEAT)] + ["label"])
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="",
               fmt=["%.6f"] * NFEAT + ["%d"])


PEER = r"""
import json, sys, time
import pandas as pd, xgboost
t0, c0 = time.perf_counter(), time.process_time()
df = pd.read_csv(sys.argv[1])
y = df.pop("label")
d = xgboost.DMatrix(df.astype("float32"), label=y)
params = json.loads(sys.argv[2])
params["objective"] = "binary:logistic"
params["eval_metric"] = ["auc", "logloss"]
b = xgboost.train(params, d, num_boost_round=int(sys.argv[3]), evals=[(d, "train")],
                  verbose_eval=False)
b.save_model(sys.argv[4])
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def skiff_train(data, model):
    args = [SKIFF, "train", "--data", data, "--label", "label", "--no-tracking",
            "--model-out", model, "--rounds", str(ROUNDS)] + [f"{k}={v}" for k, v in PARAMS.items()]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def peer_train(data, model):
    out = subprocess.run([sys.executable, "-c", PEER, data, json.dumps(PARAMS), str(ROUNDS), model],
                         check=True, capture_output=True, text=True)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def same_predictions(data, m1, m2):
    import pandas as pd
    import xgboost
    df = pd.read_csv(data).drop(columns=["label"]).astype("float32")[:20000]
    p1 = xgboost.Booster(model_file=m1).predict(xgboost.DMatrix(df))
    p2 = xgboost.Booster(model_file=m2).predict(xgboost.DMatrix(df))
    return float(np.max(np.abs(p1 - p2)))


def datagen(tmp, users, days):
    out = os.path.join(tmp, "dg")
    t0 = time.perf_counter()
    subprocess.run([SKIFF, "datagen", "fraud", "--users", str(users), "--days", str(days), "-o", out],
                   check=True, capture_output=True)
    secs = time.perf_counter() - t0
    with open(os.path.join(out, "meta.json")) as f:
        rows = json.load(f)["rows"]
    for name in ("transactions.csv", "labels.csv"):
        os.unlink(os.path.join(out, name))
    return rows, secs


def peer_datagen(tmp, rows):
    import pandas as pd
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    ts = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 14 * 86400, rows)), unit="s")
    df = pd.DataFrame({
        "transaction_id": [f"t{i:09d}" for i in range(rows)],
        "user_id": [f"u{i:06d}" for i in rng.integers(0, 100000, rows)],
        "merchant_id": [f"m{i:05d}" for i in rng.integers(0, 50000, rows)],
        "merchant_risk": rng.random(rows).round(4),
        "amount": rng.lognormal(3.7, 0.6, rows).round(2),
        "event_timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "is_fraud": (rng.random(rows) < 0.015).astype(int),
    })
    df.to_csv(os.path.join(tmp, "peer.csv"), index=False)
    df[["user_id", "event_timestamp", "is_fraud"]].to_csv(os.path.join(tmp, "peer_labels.csv"), index=False)
    secs = time.perf_counter() - t0
    os.unlink(os.path.join(tmp, "peer.csv"))
    os.unlink(os.path.join(tmp, "peer_labels.csv"))
    return secs


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "train.csv")
        make_data(data)
        ms, mp = os.path.join(tmp, "skiff.json"), os.path.join(tmp, "peer.json")
        ts, tp, cs, cp = [], [], [], []
        for _ in range(3):
            w, c = skiff_train(data, ms)
            ts.append(w)
            cs.append(c)
            w, c = peer_train(data, mp)
            tp.append(w)
            cp.append(c)
        diff = same_predictions(data, ms, mp)
        users = max(1000, ROWS // 2)   # about 5 transactions per user-day: ~10x ROWS rows in 10 days
        rows, dg = datagen(tmp, users, 10)
        dp = peer_datagen(tmp, rows)
    print(table(f"skiff train vs python xgboost ({ROWS} rows x {NFEAT} features, {ROUNDS} rounds, "
                f"nthread={NTHREAD}; max |prediction difference| {diff:.1e})",
                "python xgboost 1.7.4 (pandas.read_csv + xgboost.train)",
                [("train, CSV to saved model, wall", min(ts), min(tp), "s", True),
                 ("train, CSV to saved model, CPU (user+sys)", min(cs), min(cp), "s", True)]))
    print()
    print(f"train time ratio skiff/python: wall {min(ts) / min(tp):.3f}, "
          f"CPU {min(cs) / min(cp):.3f} (target <= 1.1)")
    print()
    print(table(f"skiff datagen fraud ({rows} rows)", "numpy + pandas.to_csv, same columns, no fraud logic",
                [("rows per second (millions)", rows / dg / 1e6, rows / dp / 1e6, "M/s", False),
                 ("seconds", dg, dp, "s", True)]))


if __name__ == "__main__":
    main()
