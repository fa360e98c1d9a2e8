"""skiff drift against a numpy/scipy implementation of the same tests.

Reference 1M x 7 vs current 1M x 7 (5 numeric columns, 2 categorical), CSV
in, drift scores out, once with Evidently's default tests (Wasserstein for
numeric, Jensen-Shannon for categorical at this size) and once with PSI on
every column; then 100k x 100 numeric columns with the default tests. The peer is pandas.read_csv + the formulas of
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
    """(seconds, peak RSS in MiB, stdout) of a child process. The peak comes
    from GNU time, which runs the command from its own small process: a
    child forked straight from this script would start with this script's
    high-water mark (ru_maxrss survives exec), hiding a smaller one."""
    fd, rss_file = tempfile.mkstemp(prefix="skiff-bench-rss-")
    os.close(fd)
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    with open(rss_file) as f:
        kib = int(f.read().split()[-1])
    os.remove(rss_file)
    return secs, kib / 1024, p.stdout


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


def make_wide(path, n, ncols, seed, shift):
    """n rows x ncols numeric columns (the issue's 100k x 100 case)."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write(",".join(f"c{i:03d}" for i in range(ncols)) + "\n")
        block = 10_000
        for s in range(0, n, block):
            m = min(block, n - s)
            x = rng.normal(0, 1, (m, ncols)) + shift * (np.arange(ncols) % 3)
            np.savetxt(f, x, fmt="%.6f", delimiter=",")


def compare(tmp, label, ref, cur, mode, rows):
    """Best of 3 alternating runs of skiff and the peer on one pair of files;
    checks that the scores agree and appends the table rows."""
    best_s = best_p = float("inf")
    mem_s = mem_p = 0.0
    js = os.path.join(tmp, "out.json")
    for _ in range(3):
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
    data = (os.path.getsize(ref) + os.path.getsize(cur)) / 2**20
    rows.append((f"{label}, CSV to scores", best_s, best_p, "s", True))
    rows.append((f"{label}, peak memory (CSV files: {data:.0f} MiB)", mem_s, mem_p, "MiB", True))


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
    compare(tmp, "default tests (Wasserstein, Jensen-Shannon)", ref, cur, "default", rows)
    compare(tmp, "PSI on every column", ref, cur, "psi", rows)
    # the wide case: 100k x 100 numeric columns, default tests
    wn = max(n // 10, 2000)
    wref, wcur = os.path.join(tmp, "wref.csv"), os.path.join(tmp, "wcur.csv")
    make_wide(wref, wn, 100, 3, 0.0)
    make_wide(wcur, wn, 100, 4, 0.05)
    compare(tmp, f"{wn} x 100, default tests", wref, wcur, "default", rows)
    import pandas
    import scipy
    print(table(f"Drift: {n} x 7 reference vs current",
                f"pandas {pandas.__version__} read_csv + numpy {np.__version__} / "
                f"scipy {scipy.__version__} (Evidently's formulas)", rows))
    for f in (ref, cur, wref, wcur, os.path.join(tmp, "out.json")):
        if os.path.exists(f):
            os.remove(f)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
