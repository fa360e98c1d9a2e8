"""skiff drift against a numpy/scipy implementation of the same tests.

Reference 1M x 7 vs current 1M x 7 (5 numeric columns, 2 categorical), CSV
in, drift scores out, once with Evidently's default tests (Wasserstein for
numeric, Jensen-Shannon for categorical at this size) and once with PSI on
every column. The peer is pandas.read_csv + the formulas of
specs/evidently.md in numpy/scipy (the same code Evidently runs), in its own
process so that both peak memories are measured; the script checks that the
scores agree. Each figure is the best of 3 alternating runs.

    /usr/bin/python3 bench/bench_drift.py [SKIFF_BIN]     (make bench)
    SKIFF_BENCH_ROWS=20000 ...                            a quick run
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import table  # noqa: E402

SKIFF = os.environ.get("SKIFF_BIN", "build/skiff")


def peer(mode, ref_path, cur_path):
    """The peer, run in a child process: prints {column: score} and seconds."""
    import pandas as pd
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    t0 = time.perf_counter()
    ref, cur = pd.read_csv(ref_path), pd.read_csv(cur_path)

    def binned(r, c, num, fill):
        if num and r.nunique() > 20:
            edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
            rp = np.histogram(r, edges)[0] / len(r)
            cp = np.histogram(c, edges)[0] / len(c)
        else:
            keys = pd.Index(pd.concat([r, c]).unique())
            rp = (r.value_counts().reindex(keys, fill_value=0) / len(r)).to_numpy()
            cp = (c.value_counts().reindex(keys, fill_value=0) / len(c)).to_numpy()
        if fill:
            for p in (rp, cp):
                m = p[p != 0].min()
                p[p == 0] = m / 1e6 if m <= 0.0001 else 0.0001
        return rp, cp

    out = {}
    for col in ref.columns:
        r, c = ref[col].dropna(), cur[col].dropna()
        num = pd.api.types.is_numeric_dtype(r)
        if mode == "psi":
            rp, cp = binned(r, c, num, True)
            out[col] = float(np.sum((rp - cp) * np.log(rp / cp)))
        elif num:
            out[col] = stats.wasserstein_distance(r, c) / max(np.std(r), 0.001)
        else:
            rp, cp = binned(r, c, False, False)
            out[col] = float(jensenshannon(rp, cp))
    print(json.dumps({"seconds": time.perf_counter() - t0, "scores": out}))


def timed(cmd):
    """(seconds, peak RSS in MiB, stdout) of a child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, ru.ru_maxrss / 1024, out


def make(path, n, seed, shift):
    rng = np.random.default_rng(seed)
    cols = {f"n{i}": rng.normal(shift * i, 1 + 0.1 * i, n) for i in range(5)}
    with open(path, "w") as f:
        f.write("n0,n1,n2,n3,n4,country,device\n")
        country = rng.choice(["DE", "FR", "US", "GB", "ES", "IT"], n,
                             p=[.3, .2, .2, .1, .1, .1] if shift == 0 else [.2, .2, .3, .1, .1, .1])
        device = rng.choice(["ios", "android", "web"], n)
        block = 100_000
        for s in range(0, n, block):
            rows = np.column_stack([np.char.mod("%.6f", cols[f"n{i}"][s:s + block]) for i in range(5)]
                                   + [country[s:s + block], device[s:s + block]])
            f.write("\n".join(",".join(r) for r in rows) + "\n")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--peer":
        return peer(sys.argv[2], sys.argv[3], sys.argv[4])
    global SKIFF
    if len(sys.argv) > 1:
        SKIFF = sys.argv[1]
    n = int(os.environ.get("SKIFF_BENCH_ROWS", "1000000"))
    tmp = tempfile.mkdtemp(prefix="skiff-bench-drift-")
    ref, cur = os.path.join(tmp, "ref.csv"), os.path.join(tmp, "cur.csv")
    make(ref, n, 1, 0.0)
    make(cur, n, 2, 0.02)
    rows = []
    for mode in ("default", "psi"):
        best_s = best_p = float("inf")
        mem_s = mem_p = 0.0
        for _ in range(3):
            js = os.path.join(tmp, "out.json")
            args = [SKIFF, "drift", "--reference", ref, "--current", cur, "--json", js]
            if mode == "psi":
                args += ["--stattest", "psi"]
            s, m, _ = timed(args)
            best_s, mem_s = min(best_s, s), max(mem_s, m)
            _, mp, out = timed([sys.executable, __file__, "--peer", mode, ref, cur])
            # the peer's own clock: read_csv to scores, interpreter start and
            # imports left out
            best_p, mem_p = min(best_p, json.loads(out)["seconds"]), max(mem_p, mp)
        mine = {k: v["drift_score"] for k, v in
                json.load(open(js))["metrics"][1]["result"]["drift_by_columns"].items()}
        theirs = json.loads(out)["scores"]
        for k, v in theirs.items():
            assert abs(mine[k] - v) <= 1e-9 * max(1, abs(v)), (mode, k, mine[k], v)
        label = "default tests (Wasserstein, Jensen-Shannon)" if mode == "default" else "PSI on every column"
        rows.append((f"{label}, CSV to scores", best_s, best_p, "s", True))
        rows.append((f"{label}, peak memory", mem_s, mem_p, "MiB", True))
    import pandas
    import scipy
    print(table(f"Drift: {n} x 7 reference vs current",
                f"pandas {pandas.__version__} read_csv + numpy {np.__version__} / "
                f"scipy {scipy.__version__} (Evidently's formulas)", rows))
    for f in (ref, cur, os.path.join(tmp, "out.json")):
        if os.path.exists(f):
            os.remove(f)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
