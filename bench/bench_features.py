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
- peak memory of each (ru_maxrss).
Each figure is the best of BENCH_RUNS (default 3) alternating runs.

Sizes: `--size N` feature rows (suffix k or M; default 1M), N/10 entity
rows, min(N/10, 100k) keys: `--size 10M` is the issue's 10M x 1M over 100k
keys. BENCH_FEATURE_ROWS, BENCH_ENTITY_ROWS, BENCH_ENTITIES override each.
The data are generated once into /tmp/skiff-bench-features-<sizes>/ (or
`--data DIR`) and reused by later runs of the same sizes.
Usage: bench/bench_features.py [build/skiff] [--size 10M] [--data DIR]
"""
import json
import os
import resource
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


ARGS = {"skiff": "build/skiff", "--size": "1M", "--data": None}
_argv = sys.argv[1:]
while _argv:
    a = _argv.pop(0)
    if a in ("--size", "--data") and _argv:
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
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_pandas(d):
    r = subprocess.run([sys.executable, "-c", PANDAS, d], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def run_skiff(d):
    env = dict(os.environ, SKIFF_LOG="debug", SKIFF_LOG_FORMAT="json")
    t0 = time.perf_counter()
    proc = subprocess.Popen([SKIFF, "features", "historical", "-f", d + "/repo.yaml",
                             "--service", "svc", "--entities", d + "/entities.csv",
                             "-o", d + "/skiff_out.csv"], env=env, stderr=subprocess.PIPE,
                            text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)   # this child's own peak memory
    total = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
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
    return {"join": join, "total": total, "rss": usage.ru_maxrss}


def main():
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
