"""Point-in-time join: `skiff features historical` against pandas' sort +
merge_asof (the issue's peer), on the same CSV files in the same run.

Data: FEATURE_ROWS feature rows over ENTITIES keys (7 features: ints,
doubles, a bool), ENTITY_ROWS entity rows with random times; ttl 7d.
Figures:
- the join on data already loaded: skiff's own timing of its sort + join
  (SKIFF_LOG=debug), pandas' sort_values + merge_asof;
- the whole command from CSV to CSV: skiff's wall time, pandas' read_csv +
  sort + merge_asof + to_csv; and against pandas' read_csv of the two files
  alone (the issue's target: no slower);
- peak memory of each (VmHWM, the process's own since exec: ru_maxrss
  would also count the pages of the Python process that started it).
Each figure is the best of BENCH_RUNS (default 3) alternating runs.

Sizes: `--size N` feature rows (suffix k or M; default 1M), N/10 entity
rows, min(N/10, 100k) keys: `--size 10M` is the issue's 10M x 1M over 100k
keys. BENCH_FEATURE_ROWS, BENCH_ENTITY_ROWS, BENCH_ENTITIES override each.
The data are generated once into /tmp/skiff-bench-features-<sizes>/ (or
`--data DIR`) and reused by later runs of the same sizes.
The article's 7 features (`--aggs-size N` raw transactions, default
1M; N/10 entity rows, min(N/10, 100k) users; `--aggs-size 0` skips it):
tx_count_1h, tx_count_24h, avg_amount_7d, std_amount_7d,
unique_merchants_7d, high_risk_merchant (max merchant risk in 24h) and
velocity_score, defined as examples/fraud/features.yaml defines them,
against pandas computing the same thing: the entity rows appended to the
transactions as empty events, one sort by (user, time, entity last),
groupby(user).rolling('1h' / '24h' / '7d') (right-closed windows, as
skiff's (t - w, t]; an entity row after the events of its own second),
the entity rows picked out in their order. count_distinct has no rolling
kernel in pandas: rolling.apply(np.unique) with raw=True (a window without
values is 0, as skiff's count_distinct). The script checks both agree.
Usage: bench/bench_features.py [build/skiff] [--size 10M] [--aggs-size 1M] [--data DIR]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from common import table


def parse_size(text):
    mult = {"k": 1000, "K": 1000, "m": 1000000, "M": 1000000}
    return int(float(text[:-1]) * mult[text[-1]]) if text[-1] in mult else int(text)


ARGS = {"skiff": "build/skiff", "--size": "1M", "--aggs-size": "1M", "--data": None}
_argv = sys.argv[1:]
while _argv:
    a = _argv.pop(0)
    if a in ("--size", "--aggs-size", "--data") and _argv:
        ARGS[a] = _argv.pop(0)
    else:
        ARGS["skiff"] = a
SKIFF = os.path.abspath(ARGS["skiff"])
_N = parse_size(ARGS["--size"])
FEATURE_ROWS = int(os.environ.get("BENCH_FEATURE_ROWS", str(_N)))
ENTITY_ROWS = int(os.environ.get("BENCH_ENTITY_ROWS", str(max(FEATURE_ROWS // 10, 1))))
ENTITIES = int(os.environ.get("BENCH_ENTITIES", str(max(min(FEATURE_ROWS // 10, 100000), 1))))
T0 = 1795737600
SPAN = 30 * 86400
TTL = 7 * 86400
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
AGGS_ROWS = parse_size(ARGS["--aggs-size"])

DEFS = """
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: user}
spec: {joinKeys: [user_id], valueType: INT64}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: stats}
spec:
  file: {path: features.csv}
  createdTimestampColumn: created
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: user_stats}
spec:
  entities: [user]
  source: stats
  ttl: 7d
  fields:
  - {name: f1, dtype: INT64}
  - {name: f2, dtype: INT64}
  - {name: f3, dtype: DOUBLE}
  - {name: f4, dtype: DOUBLE}
  - {name: f5, dtype: DOUBLE}
  - {name: f6, dtype: DOUBLE}
  - {name: f7, dtype: BOOL}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: svc}
spec:
  features: [user_stats]
"""


def make_data(d):
    rng = np.random.default_rng(1)
    ts = T0 + rng.integers(0, SPAN, FEATURE_ROWS)
    feats = pd.DataFrame({
        "user_id": rng.integers(0, ENTITIES, FEATURE_ROWS),
        "event_timestamp": ts,
        "created": ts + rng.integers(0, 60, FEATURE_ROWS),
        "f1": rng.integers(0, 1000, FEATURE_ROWS),
        "f2": rng.integers(0, 10, FEATURE_ROWS),
        "f3": rng.random(FEATURE_ROWS).round(6),
        "f4": rng.random(FEATURE_ROWS).round(6),
        "f5": rng.random(FEATURE_ROWS).round(6),
        "f6": rng.random(FEATURE_ROWS).round(6),
        "f7": rng.integers(0, 2, FEATURE_ROWS).astype(bool),
    })
    feats.to_csv(os.path.join(d, "features.csv"), index=False)
    ents = pd.DataFrame({
        "user_id": rng.integers(0, int(ENTITIES * 1.05) + 1, ENTITY_ROWS),
        "event_timestamp": T0 + rng.integers(0, SPAN + 86400, ENTITY_ROWS),
        "label": rng.integers(0, 2, ENTITY_ROWS),
    })
    ents.to_csv(os.path.join(d, "entities.csv"), index=False)
    with open(os.path.join(d, "repo.yaml"), "w") as f:
        f.write(DEFS)


PANDAS = r"""
import sys, time, json, resource
import pandas as pd
d = sys.argv[1]
t0 = time.perf_counter()
feats = pd.read_csv(d + "/features.csv")
ents = pd.read_csv(d + "/entities.csv")
t1 = time.perf_counter()
ents["_pos"] = range(len(ents))
f = feats.sort_values(["event_timestamp", "created"], kind="mergesort")
e = ents.sort_values("event_timestamp", kind="mergesort")
out = pd.merge_asof(e, f.drop(columns=["created"]), on="event_timestamp", by="user_id",
                    direction="backward", tolerance=7 * 86400).sort_values("_pos")
t2 = time.perf_counter()
out.drop(columns=["_pos"]).to_csv(d + "/pandas_out.csv", index=False)
t3 = time.perf_counter()
print(json.dumps({"read": t1 - t0, "join": t2 - t1, "total": t3 - t0,
                  "rss": [int(l.split()[1]) for l in open("/proc/self/status")
                          if l.startswith("VmHWM:")][0]}))
"""


def run_pandas(d):
    r = subprocess.run([sys.executable, "-c", PANDAS, d], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def vm_hwm(pid):
    """A process's peak resident memory in KiB since its exec (VmHWM; 0 once
    gone). Not wait4's ru_maxrss: that also counts the pages of this Python
    process, which a child holds from fork until exec."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_skiff(d, service="svc"):
    env = dict(os.environ, SKIFF_LOG="debug", SKIFF_LOG_FORMAT="json")
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errf:
        proc = subprocess.Popen([SKIFF, "features", "historical", "-f", d + "/repo.yaml",
                                 "--service", service, "--entities", d + "/entities.csv",
                                 "-o", d + "/skiff_out.csv"], env=env, stderr=errf)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, vm_hwm(proc.pid))
            time.sleep(0.005)
        total = time.perf_counter() - t0
        errf.seek(0)
        stderr = errf.read()
    if proc.returncode != 0:
        raise RuntimeError(stderr)
    join = None
    for line in stderr.splitlines():
        msg = json.loads(line).get("msg", "")
        if "joined" in msg:
            # "... indexed and sorted them in A s, joined M entity rows in B s": the sort is
            # in pandas' figure too
            parts = msg.split(" in ")
            join = float(parts[2].split()[0]) + float(parts[3].split()[0])
    return {"join": join, "total": total, "rss": peak}


AGG_DEFS = """
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: user}
spec: {joinKeys: [user_id], valueType: INT64}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: transactions}
spec:
  file: {path: transactions.csv}
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: user_transaction_features}
spec:
  entities: [user]
  source: transactions
  ttl: 7d
  aggregations:
  - {name: tx_count_1h, function: count, window: 1h}
  - {name: tx_count_24h, function: count, window: 24h}
  - {name: avg_amount_7d, function: avg, column: amount, window: 7d}
  - {name: std_amount_7d, function: stddev, column: amount, window: 7d}
  - {name: unique_merchants_7d, function: count_distinct, column: merchant_id, window: 7d}
  - {name: high_risk_merchant, function: max, column: merchant_risk, window: 24h}
  derived:
  - {name: velocity_score, expr: "tx_count_1h / (1 + tx_count_24h / 24)"}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: fraud}
spec:
  features: [user_transaction_features]
"""

AGG_NAMES = ["tx_count_1h", "tx_count_24h", "avg_amount_7d", "std_amount_7d",
             "unique_merchants_7d", "high_risk_merchant", "velocity_score"]


def make_tx(d, n, m, users):
    rng = np.random.default_rng(2)
    pd.DataFrame({
        "user_id": rng.integers(0, users, n),
        "event_timestamp": T0 + rng.integers(0, SPAN, n),
        "amount": rng.lognormal(3, 1, n).round(2),
        "merchant_id": rng.integers(0, 5000, n),
        "merchant_risk": rng.random(n).round(3),
    }).to_csv(os.path.join(d, "transactions.csv"), index=False)
    pd.DataFrame({
        "user_id": rng.integers(0, users, m),
        "event_timestamp": T0 + rng.integers(0, SPAN, m),
        "label": rng.integers(0, 2, m),
    }).to_csv(os.path.join(d, "entities.csv"), index=False)
    with open(os.path.join(d, "repo.yaml"), "w") as f:
        f.write(AGG_DEFS)


PANDAS_AGGS = r"""
import sys, time, json, resource
import numpy as np
import pandas as pd
d = sys.argv[1]
t0 = time.perf_counter()
tx = pd.read_csv(d + "/transactions.csv")
ents = pd.read_csv(d + "/entities.csv")
t1 = time.perf_counter()
e = ents[["user_id", "event_timestamp"]].copy()
e["_pos"] = np.arange(len(e))
tx["_pos"] = -1
a = pd.concat([tx, e], ignore_index=True)
a["one"] = np.where(a["_pos"] < 0, 1.0, np.nan)
# an entity row goes after the events of its own second: rolling's window of a
# row is the rows before it, so (t - w, t] then holds every event at t
a = a.sort_values(["user_id", "event_timestamp", "_pos"], kind="mergesort")
a.index = pd.to_datetime(a["event_timestamp"], unit="s")
g = a.groupby("user_id", sort=True)
def roll(col, w):
    return g[col].rolling(w)
res = pd.DataFrame({
    "tx_count_1h": roll("one", "1h").count().to_numpy(),
    "tx_count_24h": roll("one", "24h").count().to_numpy(),
    "avg_amount_7d": roll("amount", "7d").mean().to_numpy(),
    "std_amount_7d": roll("amount", "7d").std().to_numpy(),
    "unique_merchants_7d": roll("merchant_id", "7d").apply(
        lambda x: np.unique(x[~np.isnan(x)]).size, raw=True).fillna(0).to_numpy(),
    "high_risk_merchant": roll("merchant_risk", "24h").max().to_numpy(),
    "_pos": a["_pos"].to_numpy(),
})
res = res[res["_pos"] >= 0].sort_values("_pos")
res["velocity_score"] = res["tx_count_1h"] / (1 + res["tx_count_24h"] / 24)
out = pd.concat([ents.reset_index(drop=True), res.drop(columns=["_pos"]).reset_index(drop=True)],
                axis=1)
t2 = time.perf_counter()
out.to_csv(d + "/pandas_out.csv", index=False)
t3 = time.perf_counter()
print(json.dumps({"read": t1 - t0, "join": t2 - t1, "total": t3 - t0,
                  "rss": [int(l.split()[1]) for l in open("/proc/self/status")
                          if l.startswith("VmHWM:")][0]}))
"""


def bench_aggs(n):
    m = max(n // 10, 1)
    users = max(min(n // 10, 100000), 1)
    d = os.path.join(tempfile.gettempdir(), f"skiff-bench-aggs-{n}x{m}x{users}")
    os.makedirs(d, exist_ok=True)
    marker = os.path.join(d, "sizes.json")
    sizes = json.dumps([n, m, users])
    if not os.path.exists(marker) or open(marker).read() != sizes:
        make_tx(d, n, m, users)
        with open(marker, "w") as f:
            f.write(sizes)
    ss, ps = [], []
    for _ in range(RUNS):
        ss.append(run_skiff(d, "fraud"))
        r = subprocess.run([sys.executable, "-c", PANDAS_AGGS, d], capture_output=True,
                           text=True, check=True)
        ps.append(json.loads(r.stdout))
    s = {k: min(x[k] for x in ss) for k in ss[0]}
    p = {k: min(x[k] for x in ps) for k in ps[0]}
    a = pd.read_csv(d + "/skiff_out.csv")
    b = pd.read_csv(d + "/pandas_out.csv")
    assert len(a) == len(b) == m
    for c in AGG_NAMES:
        x, y = a[c].to_numpy(dtype=float), b[c].to_numpy(dtype=float)
        assert np.allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True), c
    size = os.path.getsize(d + "/transactions.csv") + os.path.getsize(d + "/entities.csv")
    print(table(f"The article's 7 features: {n:,} transactions, {m:,} entity rows "
                f"({users:,} users, CSV {size / 2**20:.0f} MiB)",
                f"pandas {pd.__version__} (groupby + rolling)", [
                    ("aggregations on loaded data", s["join"], p["join"], "s", True),
                    ("whole command, CSV to CSV", s["total"], p["total"], "s", True),
                    ("peak memory", s["rss"] / 1024, p["rss"] / 1024, "MiB", True),
                ]))


def main():
    if FEATURE_ROWS > 0:
        bench_join()
    if AGGS_ROWS > 0:
        bench_aggs(AGGS_ROWS)


def bench_join():
    d = ARGS["--data"] or os.path.join(tempfile.gettempdir(),
                                       f"skiff-bench-features-{FEATURE_ROWS}x{ENTITY_ROWS}x{ENTITIES}")
    os.makedirs(d, exist_ok=True)
    marker = os.path.join(d, "sizes.json")
    sizes = json.dumps([FEATURE_ROWS, ENTITY_ROWS, ENTITIES])
    if not os.path.exists(marker) or open(marker).read() != sizes:
        make_data(d)   # generated once, reused by later runs of these sizes
        with open(marker, "w") as f:
            f.write(sizes)
    # best of RUNS each, alternating, so that neither pays alone for the page cache
    # or for the writeback of the files just generated
    ss, ps = [], []
    for _ in range(RUNS):
        ss.append(run_skiff(d))
        ps.append(run_pandas(d))
    s = {k: min(x[k] for x in ss) for k in ss[0]}
    p = {k: min(x[k] for x in ps) for k in ps[0]}
    # both outputs hold the same rows in the same order
    a = pd.read_csv(d + "/skiff_out.csv")
    b = pd.read_csv(d + "/pandas_out.csv")
    assert len(a) == len(b) == ENTITY_ROWS
    assert (a["f1"].fillna(-1) == b["f1"].fillna(-1)).all()
    size = os.path.getsize(d + "/features.csv") + os.path.getsize(d + "/entities.csv")
    print(table(f"Point-in-time join: {FEATURE_ROWS:,} feature rows x {ENTITY_ROWS:,} entity rows "
                f"({ENTITIES:,} keys, 7 features, CSV {size / 2**20:.0f} MiB)",
                f"pandas {pd.__version__} (sort_values + merge_asof)", [
                    ("join on loaded data (sort + join)", s["join"], p["join"], "s", True),
                    ("whole command, CSV to CSV", s["total"], p["total"], "s", True),
                    ("skiff's whole command vs pandas' read_csv alone", s["total"], p["read"],
                     "s", True),
                    ("peak memory", s["rss"] / 1024, p["rss"] / 1024, "MiB", True),
                ]))


if __name__ == "__main__":
    main()
