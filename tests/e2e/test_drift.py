"""skiff drift against numpy/scipy oracles written from specs/evidently.md.

Each statistic is checked by forcing it with --stattest on one column and
comparing drift_score with the oracle: K-S and Wasserstein against scipy,
PSI and Jensen-Shannon against Evidently's binning in numpy (+ scipy's
jensenshannon), chi-square against scipy.stats.chisquare.
"""
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from conftest import run

TOL = 1e-9


# ---- oracles (specs/evidently.md 4) ----

def binned(r, c, kind, fill):
    r, c = np.asarray(r), np.asarray(c)
    if kind == "num" and len(np.unique(r)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
        rp = np.histogram(r, edges)[0] / len(r)
        cp = np.histogram(c, edges)[0] / len(c)
    else:
        keys = np.unique(np.concatenate([r, c]))
        rp = np.array([(r == k).sum() for k in keys]) / len(r)
        cp = np.array([(c == k).sum() for k in keys]) / len(c)
    if fill:
        for p in (rp, cp):
            m = p[p != 0].min()
            p[p == 0] = m / 1e6 if m <= 0.0001 else 0.0001
    return rp, cp


def psi(r, c, kind="num"):
    rp, cp = binned(r, c, kind, True)
    return float(np.sum((rp - cp) * np.log(rp / cp)))


def js(r, c, kind="num"):
    rp, cp = binned(r, c, kind, False)
    return float(jensenshannon(rp, cp))


def wasserstein(r, c):
    return stats.wasserstein_distance(r, c) / max(np.std(r), 0.001)


def chisq(r, c):
    keys = sorted(set(r) | set(c))
    k = len(c) / len(r)
    f_exp = [list(r).count(x) * k for x in keys]
    f_obs = [list(c).count(x) for x in keys]
    with np.errstate(divide="ignore"):
        return float(stats.chisquare(f_obs, f_exp)[1])


def ztest(r, c):
    keys = sorted(set(r) | set(c))
    if len(set(r)) == 1 and len(set(c)) == 1 and set(r) == set(c):
        return 1.0
    i1 = np.array([0 if x == keys[0] else 1 for x in r])
    i2 = np.array([0 if x == keys[0] else 1 for x in c])
    p1, p2 = i1.mean(), i2.mean()
    P = (p1 * len(r) + p2 * len(c)) / (len(r) + len(c))
    z = (p1 - p2) / np.sqrt(P * (1 - P) * (1 / len(r) + 1 / len(c)))
    return float(2 * (1 - stats.norm.cdf(abs(z))))


# ---- helpers ----

@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="skiff-drift-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cell(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def write_csv(path, cols):
    names = list(cols)
    n = len(cols[names[0]])
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for i in range(n):
            f.write(",".join(cell(cols[k][i]) for k in names) + "\n")
    return path


def drift(tmp, ref, cur, *args):
    """Runs skiff drift on two dicts of columns; returns (rc, report)."""
    rp = write_csv(os.path.join(tmp, "ref.csv"), ref)
    cp = write_csv(os.path.join(tmp, "cur.csv"), cur)
    out = os.path.join(tmp, "out.json")
    if os.path.exists(out):
        os.remove(out)
    p = run("drift", "--reference", rp, "--current", cp, "--json", out, *args)
    assert p.returncode in (0, 1), p.stderr
    with open(out) as f:
        return p.returncode, json.load(f)


def score(tmp, r, c, test, kind=None):
    _, rep = drift(tmp, {"x": list(r)}, {"x": list(c)}, "--stattest", test)
    col = rep["metrics"][1]["result"]["drift_by_columns"]["x"]
    if kind:
        assert col["column_type"] == kind
    return col["drift_score"]


def close(a, b, tol=TOL):
    return abs(a - b) <= tol * max(1.0, abs(b))


rng = np.random.default_rng(20261127)

NUM_CASES = [
    ("normal", rng.normal(0, 1, 300), rng.normal(0.2, 1.1, 250)),
    ("equal-sizes", rng.normal(0, 1, 200), rng.normal(0.1, 1, 200)),
    ("tiny", rng.normal(0, 1, 7), rng.normal(1, 1, 5)),
    ("uniform-shift", np.arange(100.0), np.arange(50.0, 150.0)),
    ("ties", rng.integers(0, 40, 500).astype(float), rng.integers(5, 45, 400).astype(float)),
    ("same", np.linspace(-3, 3, 64), np.linspace(-3, 3, 64)),
    ("constant", np.full(50, 3.0), np.concatenate([np.full(40, 3.0), np.full(10, 4.0)])),
    ("one-each", np.array([1.0]), np.array([2.0])),
    ("short-decimals", np.round(rng.normal(0, 1, 300), 3), np.round(rng.normal(0.1, 1, 280), 2)),
    ("empty-bins", np.concatenate([rng.normal(0, 1, 300), [50.0]]), rng.normal(0, 1, 200)),
]


@pytest.mark.parametrize("name,r,c", NUM_CASES, ids=[x[0] for x in NUM_CASES])
def test_numeric_statistics_match_oracles(tmp, name, r, c):
    ks = stats.ks_2samp(r, c)
    assert close(score(tmp, r, c, "ks", "num"), ks.pvalue)
    assert close(score(tmp, r, c, "wasserstein"), wasserstein(r, c))
    assert close(score(tmp, r, c, "psi"), psi(r, c))
    assert close(score(tmp, r, c, "jensenshannon"), js(r, c))


def test_ks_asymptotic_matches_scipy(tmp):
    # more than 10000 values: scipy's kstwo.sf regimes (Pelz-Good, Smirnov)
    for shift in (0.0, 0.02, 0.05, 0.3):
        r, c = rng.normal(0, 1, 12000), rng.normal(shift, 1, 11000)
        assert close(score(tmp, r, c, "ks"), stats.ks_2samp(r, c).pvalue, 1e-9)
    # n = round(nr nc / (nr + nc)) <= 140 in the middle range: scipy's Durbin /
    # Pomeranz, skiff's Pelz-Good (docs/drift.md): within 1e-4 relative
    r, c = rng.normal(0, 1, 100), rng.normal(0.2, 1, 12000)
    want = stats.ks_2samp(r, c).pvalue
    assert abs(score(tmp, r, c, "ks") - want) <= 1e-4 * want


CAT_CASES = [
    ("three", list(rng.choice(["a", "b", "c"], 300, p=[.5, .3, .2])),
     list(rng.choice(["a", "b", "c"], 200, p=[.4, .3, .3]))),
    ("new-category", ["a"] * 50 + ["b"] * 30 + ["c"] * 20, ["a"] * 30 + ["b"] * 30 + ["c"] * 30 + ["d"] * 10),
    ("single", ["k"] * 40, ["k"] * 25),
    ("many", list(rng.choice([f"v{i}" for i in range(30)], 900)),
     list(rng.choice([f"v{i}" for i in range(28)], 700))),
]


@pytest.mark.parametrize("name,r,c", CAT_CASES, ids=[x[0] for x in CAT_CASES])
def test_categorical_statistics_match_oracles(tmp, name, r, c):
    if len(set(r) | set(c)) > 1:
        assert close(score(tmp, r, c, "chisquare", "cat"), chisq(r, c))
    else:
        assert score(tmp, r, c, "chisquare", "cat") == 1.0   # scipy: NaN at 0 dof
    assert close(score(tmp, r, c, "psi"), psi(r, c, "cat"))
    assert close(score(tmp, r, c, "jensenshannon"), js(r, c, "cat"))
    assert close(score(tmp, r, c, "z"), ztest(r, c))


def test_spec_worked_examples(tmp):
    a_r = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    a_c = ["a"] * 30 + ["b"] * 30 + ["c"] * 30 + ["d"] * 10
    assert close(score(tmp, a_r, a_c, "psi"), 0.8327963879343301, 1e-12)
    assert close(score(tmp, a_r, a_c, "jensenshannon"), 0.22874617893301474, 1e-12)
    assert score(tmp, a_r, a_c, "chisquare") == 0.0
    assert close(score(tmp, [0] * 70 + [1] * 30, [0] * 55 + [1] * 45, "z"), 0.0284597, 1e-5)
    c_r = ["x"] * 40 + ["y"] * 35 + ["z"] * 25
    c_c = ["x"] * 30 + ["y"] * 30 + ["z"] * 40
    assert close(score(tmp, c_r, c_c, "chisquare"), 0.002226904315802756, 1e-12)
    d_r, d_c = np.arange(100.0), np.arange(50.0, 150.0)
    assert close(score(tmp, d_r, d_c, "psi"), 7.414532745869386, 1e-12)
    assert close(score(tmp, d_r, d_c, "jensenshannon"), 0.5887050112577373, 1e-12)
    assert close(score(tmp, d_r, d_c, "wasserstein"), 1.7321374166049877, 1e-12)


def test_nan_and_inf_are_dropped(tmp):
    r = list(rng.normal(0, 1, 120)) + [float("nan")] * 5
    c = list(rng.normal(0.5, 1, 90)) + [float("nan")] * 3
    rp, cp = os.path.join(tmp, "r.csv"), os.path.join(tmp, "c.csv")
    # a second column keeps the rows whose x is empty (blank lines are skipped)
    write_csv(rp, {"x": r, "y": ["k"] * len(r)})
    with open(rp, "a") as f:
        f.write("inf,k\n-inf,k\nNA,k\n")
    write_csv(cp, {"x": c, "y": ["k"] * len(c)})
    out = os.path.join(tmp, "o.json")
    p = run("drift", "--reference", rp, "--current", cp, "--json", out)
    assert p.returncode in (0, 1), p.stderr
    assert "infinite values dropped: 2 reference, 0 current" in p.stdout
    rep = json.load(open(out))
    rc = [x for x in r if not math.isnan(x)]
    cc = [x for x in c if not math.isnan(x)]
    col = rep["metrics"][1]["result"]["drift_by_columns"]["x"]
    assert col["stattest_name"] == "K-S p_value"
    assert close(col["drift_score"], stats.ks_2samp(rc, cc).pvalue)
    q = rep["metrics"][2]["result"]["reference_characteristics"]
    assert q["number_of_rows"] == 128 and q["missing"] == 6 and q["infinite_count"] == 2
    assert q["p50"] == round(float(np.median(rc)), 2)


def test_default_tests_and_dataset_drift(tmp):
    small = {
        "num": list(rng.normal(0, 1, 500)),
        "few": list(rng.integers(0, 4, 500)),
        "bin": list(rng.integers(0, 2, 500)),
        "cat": list(rng.choice(["p", "q", "r"], 500)),
    }
    cur = {
        "num": list(rng.normal(0, 1, 400)),
        "few": list(rng.integers(0, 4, 400)),
        "bin": list(rng.integers(0, 2, 400)),
        "cat": list(rng.choice(["p", "q", "r"], 400)),
    }
    rc, rep = drift(tmp, small, cur)
    by = rep["metrics"][1]["result"]["drift_by_columns"]
    assert list(by) == ["bin", "few", "num", "cat"]   # numeric by name, then categorical
    assert by["num"]["stattest_name"] == "K-S p_value"
    assert by["few"]["stattest_name"] == "chi-square p_value"
    assert by["bin"]["stattest_name"] == "Z-test p_value"
    assert by["cat"]["stattest_name"] == "chi-square p_value"
    assert by["num"]["stattest_threshold"] == 0.05
    big = {"num": list(rng.normal(0, 1, 1500)), "cat": list(rng.choice(["p", "q"], 1500))}
    bigc = {"num": list(rng.normal(1, 1, 1500)), "cat": list(rng.choice(["p", "q"], 1500))}
    rc, rep = drift(tmp, big, bigc, "--drift-share", "0.5")
    m0 = rep["metrics"][0]["result"]
    by = rep["metrics"][1]["result"]["drift_by_columns"]
    assert by["num"]["stattest_name"] == "Wasserstein distance (normed)"
    assert by["cat"]["stattest_name"] == "Jensen-Shannon distance"
    assert by["num"]["drift_detected"] and not by["cat"]["drift_detected"]
    assert m0 == {"drift_share": 0.5, "number_of_columns": 2, "number_of_drifted_columns": 1,
                  "share_of_drifted_columns": 0.5, "dataset_drift": True}
    assert rc == 1
    rc, rep = drift(tmp, big, bigc, "--drift-share", "0.6")
    assert rc == 0 and rep["metrics"][0]["result"]["dataset_drift"] is False
    assert rep["metrics"][1]["result"]["dataset_drift"] is True   # DataDriftTable: 0.5
    rc, rep = drift(tmp, big, bigc, "--stattest", "psi", "--threshold", "100", "--columns", "cat")
    by = rep["metrics"][1]["result"]["drift_by_columns"]
    assert list(by) == ["cat"] and by["cat"]["stattest_threshold"] == 100 and rc == 0


def test_new_category_is_named(tmp):
    rc, rep = drift(tmp, {"c": ["a", "b"] * 20}, {"c": ["a", "b", "zz"] * 10})
    q = rep["metrics"][2]["result"]["current_characteristics"]
    assert q["new_in_current_values"] == ["zz"] and q["new_in_current_values_count"] == 1
    assert rc == 1


def test_bad_input_exits_2(tmp):
    r = write_csv(os.path.join(tmp, "r.csv"), {"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    c = write_csv(os.path.join(tmp, "c.csv"), {"a": [1.0, 2.0, 3.0], "c": ["x", "y", "z"]})
    p = run("drift", "--reference", r, "--current", c)
    assert p.returncode == 2 and "'c'" in p.stderr
    bad = write_csv(os.path.join(tmp, "bad.csv"), {"a": [1.0, "oops", 3.0], "b": ["x", "y", "z"]})
    p = run("drift", "--reference", r, "--current", bad)
    assert p.returncode == 2 and "bad.csv:3" in p.stderr and "'a'" in p.stderr and "oops" in p.stderr
    empty = os.path.join(tmp, "empty.csv")
    open(empty, "w").write("a,b\n")
    p = run("drift", "--reference", r, "--current", empty)
    assert p.returncode == 2 and "no data rows" in p.stderr
    open(empty, "w").write("")
    assert run("drift", "--reference", r, "--current", empty).returncode == 2
    allnan = write_csv(os.path.join(tmp, "nan.csv"), {"a": [float("nan")] * 3, "b": ["x", "y", "z"]})
    p = run("drift", "--reference", r, "--current", allnan)
    assert p.returncode == 2 and "empty column 'a'" in p.stderr
    assert run("drift", "--reference", r).returncode == 2
    assert run("drift", "--reference", r, "--current", r, "--stattest", "nope").returncode == 2
    assert run("drift", "--reference", r, "--current", r, "--columns", "zz").returncode == 2
    p = run("drift", "--reference", r, "--current", r, "--columns", "a,b,a")
    assert p.returncode == 2 and "'a' twice" in p.stderr
    assert run("drift", "--reference", os.path.join(tmp, "missing.csv"),
               "--current", r).returncode == 2
    p = run("drift", "--help")
    assert p.returncode == 0 and "Examples:" in p.stdout


def test_gzip_and_folder_inputs_give_the_same_report(tmp):
    """A .csv.gz reference (two gzip members, Python's gzip module as the
    writer) and a folder of .csv / .csv.gz parts as current give the JSON of
    the plain files, number for number; a folder whose parts disagree on
    the header, or a truncated gzip part, is exit 2 naming the part."""
    import gzip
    g = np.random.default_rng(7)
    n = 3000
    ref = {"amount": g.normal(0, 1, n), "age": g.normal(40, 10, n),
           "country": [["fr", "de", "us"][i] for i in g.integers(0, 3, n)]}
    cur = {"amount": g.normal(0.3, 1, n), "age": g.normal(40, 10, n),
           "country": [["fr", "de", "us", "es"][i] for i in g.integers(0, 4, n)]}
    rp = write_csv(os.path.join(tmp, "ref.csv"), ref)
    cp = write_csv(os.path.join(tmp, "cur.csv"), cur)
    text = open(rp, "rb").read()
    half = len(text) // 2
    rgz = os.path.join(tmp, "reference.csv.gz")
    with open(rgz, "wb") as f:   # two members, cut mid-row
        f.write(gzip.compress(text[:half]) + gzip.compress(text[half:]))
    lines = open(cp).read().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    parts = os.path.join(tmp, "parts")
    os.mkdir(parts)
    k = len(rows) // 3
    open(os.path.join(parts, "2026-11-01.csv"), "w").write(header + "".join(rows[:k]))
    with gzip.open(os.path.join(parts, "2026-11-02.csv.gz"), "wt") as f:
        f.write(header + "".join(rows[k:2 * k]))
    open(os.path.join(parts, "2026-11-03.csv"), "w").write(header + "".join(rows[2 * k:]))
    open(os.path.join(parts, "README.txt"), "w").write("not data\n")

    def report(r, c):
        out = os.path.join(tmp, "out.json")
        p = run("drift", "--reference", r, "--current", c, "--json", out)
        assert p.returncode in (0, 1), p.stderr
        return p.returncode, json.load(open(out))

    want = report(rp, cp)
    got = report(rgz, parts)
    assert got == want   # every number, to the last bit
    assert want[1]["metrics"][2]["result"]["column_name"]
    # a reference that is gzip under a plain name reads too
    shutil.copy(rgz, os.path.join(tmp, "disguised.csv"))
    assert report(os.path.join(tmp, "disguised.csv"), cp) == want

    # parts that disagree on the header: exit 2 naming the part
    open(os.path.join(parts, "2026-11-04.csv"), "w").write("amount,age,city\n1,2,x\n")
    p = run("drift", "--reference", rp, "--current", parts)
    assert p.returncode == 2 and "2026-11-04.csv" in p.stderr and "city" in p.stderr, p.stderr
    os.remove(os.path.join(parts, "2026-11-04.csv"))
    # a truncated gzip part: exit 2 naming it
    blob = open(os.path.join(parts, "2026-11-02.csv.gz"), "rb").read()
    open(os.path.join(parts, "2026-11-02.csv.gz"), "wb").write(blob[:len(blob) - 40])
    p = run("drift", "--reference", rp, "--current", parts)
    assert p.returncode == 2 and "2026-11-02.csv.gz" in p.stderr and "gzip" in p.stderr, p.stderr
    # a folder without CSV files
    empty = os.path.join(tmp, "nothing")
    os.mkdir(empty)
    p = run("drift", "--reference", rp, "--current", empty)
    assert p.returncode == 2 and "no *.csv" in p.stderr


# ---- HTML report ----

def png_colours(path):
    """Distinct RGB(A) pixels of a PNG, decoded with zlib (8-bit, no interlace)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            bpp = {2: 3, 6: 4, 0: 1, 4: 2}[ctype]
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            colours.update(bytes(line[i:i + bpp]) for i in range(0, stride, bpp * 2))
        prev = line
    return colours


def test_html_report_is_self_contained_and_renders(tmp):
    ref = {"amount": list(rng.lognormal(3, 1, 400)), "country": list(rng.choice(["DE", "FR", "<b>"], 400))}
    cur = {"amount": list(rng.lognormal(3.5, 1, 300)), "country": list(rng.choice(["DE", "FR", "US"], 300))}
    rp = write_csv(os.path.join(tmp, "r.csv"), ref)
    cp = write_csv(os.path.join(tmp, "c.csv"), cur)
    html = os.path.join(tmp, "report.html")
    p = run("drift", "--reference", rp, "--current", cp, "--html", html)
    assert p.returncode == 1, p.stderr
    text = open(html).read()
    assert "<svg" in text and "@media print" in text and "&lt;b&gt;" in text
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert "url(" not in text and "@import" not in text
    assert "Dataset drift detected" in text and "US" in text
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.fail("chromium is missing: scripts/install-deps.sh installs it")
    png = os.path.join(tmp, "shot.png")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--user-data-dir=" + os.path.join(tmp, "profile"), "--screenshot=" + png,
                    "--window-size=1200,900", "file://" + html],
                   capture_output=True, timeout=50)
    assert os.path.exists(png)
    assert len(png_colours(png)) >= 5
