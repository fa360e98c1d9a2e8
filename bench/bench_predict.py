"""In-process predict: skiff's native tree runtime against libxgboost (called
through skiff's xgboost runtime, the same C API a C server would use), for
1 row and 1,000 rows, and python xgboost's inplace_predict for 1 row as the
reference issue 8 quotes (about 60 us).

The model is issue 8's benchmark model: binary:logistic, 100 trees of depth
6 on 7 features, trained here by python xgboost on rows with 10% missing
values, saved as XGBoost JSON. Both C runtimes are timed by
build/predict_bench (bench/predict_bench.c): each call predicts a different
slice of a pool of random rows (10% NaN), so no runtime is flattered by a
branch predictor that has learnt one row's path; p50 and p99 of the per-call
times. Before timing, the script checks that the runtimes and python agree
on 1,000 rows. Target: native >= 5x libxgboost for 1 row.

    /usr/bin/python3 bench/bench_predict.py [SKIFF_BIN]     (make bench)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402

SKIFF = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKIFF_BIN", "build/skiff")
PREDICT_BENCH = os.path.join(os.path.dirname(os.path.abspath(SKIFF)), "predict_bench")


def train(path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 7)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    z = np.nan_to_num(x)
    y = (z[:, 0] + 0.5 * z[:, 1] * z[:, 2] - 0.3 * z[:, 3] + 0.2 * rng.normal(size=len(z)) > 0)
    booster = xgb.train(dict(objective="binary:logistic", max_depth=6, eta=0.1, nthread=1),
                        xgb.DMatrix(x, label=y.astype(int)), 100)
    booster.save_model(path)
    return booster


def check_agreement(booster, model, tmp):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1000, 7)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    csv = os.path.join(tmp, "rows.csv")
    np.savetxt(csv, x, delimiter=",", fmt="%.9g")
    want = booster.predict(xgb.DMatrix(x))
    for rt in ("native", "xgboost"):
        out = subprocess.run([PREDICT_BENCH, "predict", model, rt, csv], check=True,
                             capture_output=True, text=True).stdout
        got = np.array([float(v) for v in out.split()], dtype=np.float32)
        assert np.array_equal(got, want), f"{rt} disagrees with python xgboost"


def time_c(model, rt, rows, iters):
    out = subprocess.run([PREDICT_BENCH, "time", model, rt, str(rows), str(iters)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def time_python(booster, rows, iters):
    rng = np.random.default_rng(3)
    pool = rng.normal(size=(max(4096, 4 * rows), 7)).astype(np.float32)
    pool[rng.random(pool.shape) < 0.1] = np.nan
    booster.set_param({"nthread": 1})
    span = len(pool) - rows + 1
    for i in range(100):
        booster.inplace_predict(pool[i % span:i % span + rows])
    t = []
    for i in range(iters):
        s = (i * rows) % span
        x = pool[s:s + rows]
        t0 = time.perf_counter()
        booster.inplace_predict(x)
        t.append((time.perf_counter() - t0) * 1e6)
    t.sort()
    return {"p50_us": t[len(t) // 2], "p99_us": t[int(len(t) * 0.99)]}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.json")
        booster = train(model)
        check_agreement(booster, model, tmp)
        res = {}
        for rows, iters in ((1, 20000), (1000, 300)):
            for rt in ("native", "xgboost"):
                res[rt, rows] = time_c(model, rt, rows, iters if rt == "native" else iters // 4)
        py1 = time_python(booster, 1, 5000)
    print("## Model runtimes: in-process predict, 100 trees x depth 6, 7 features\n")
    print(f"machine: {machine()}")
    print("peer: libxgboost 1.7 C API (XGBoosterPredictFromDense, nthread=1), same process\n")
    print("| figure | native | libxgboost | ratio |")
    print("|---|---|---|---|")
    for rows in (1, 1000):
        for q in ("p50_us", "p99_us"):
            n, x = res["native", rows][q], res["xgboost", rows][q]
            print(f"| {rows} row{'s' if rows > 1 else ''}, {q[:3]} | {n:.2f} us | {x:.2f} us "
                  f"| {x / n:.1f}x |")
    n1 = res["native", 1]["p50_us"]
    print(f"\npython xgboost inplace_predict, 1 row: p50 {py1['p50_us']:.2f} us, "
          f"p99 {py1['p99_us']:.2f} us ({py1['p50_us'] / n1:.0f}x the native p50)")
    print(f"per row at 1,000 rows: native {res['native', 1000]['p50_us'] / 1000 * 1000:.0f} ns, "
          f"libxgboost {res['xgboost', 1000]['p50_us'] / 1000 * 1000:.0f} ns")


if __name__ == "__main__":
    main()
