"""`skiff features historical` against oracles: pandas merge_asof for the
point-in-time join, a naive rescan of the raw events for the windowed
aggregations, and the issue's example definitions end to end.

The rules both sides implement (docs/features.md):
- PIT: the latest feature row with ts <= E and ts >= E - ttl (both ends
  inclusive, Feast's rule; merge_asof's tolerance is inclusive too); ties on
  ts go to the largest created timestamp (null created first), then to the
  later row of the file (a stable sort).
- aggregations: the half-open window (E - w, E].
"""
import io
import math
import random
import statistics

import pandas as pd

from conftest import SRC, run

DATA = SRC / "tests" / "data" / "features"
MIN = 60
T0 = 1795737600  # 2026-11-27T00:00:00Z


def historical(*args):
    return run("features", "historical", *args)


def iso(sec, style):
    """One timestamp in one of the spellings the reader accepts."""
    ts = pd.Timestamp(sec, unit="s", tz="UTC")
    if style == 0:
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        return ts.tz_convert("Europe/Paris").isoformat()
    if style == 2:
        return str(sec)
    return str(sec * 1000)


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")


def test_issue_example(tmp_path):
    r = historical("-f", str(DATA), "--service", "fraud_detection_v3",
                   "--entities", str(DATA / "entities.csv"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "user_id,event_timestamp,label,tx_count_1h,avg_amount_7d,high_risk_merchant\n"
        "u1,2026-11-27T09:00:00Z,1,8,56,true\n"          # tie at 09:00: later created wins
        "u1,2026-11-27T09:30:00Z,0,8,56,true\n"
        "u2,2026-11-27T11:00:00Z,0,1,10,false\n"         # 12:00+01:00 is 11:00Z
        "u2,2026-12-03T11:00:00Z,1,1,10,false\n"         # exactly 7d (the ttl) later: kept
        "u3,2026-11-27T09:00:00Z,0,,,\n"                 # unknown entity: nulls
        "u1,1795770000,1,8,56,true\n")                   # epoch seconds, passed through
    out = tmp_path / "out.csv"
    r = historical("-f", str(DATA / "repo.yaml"), "--service", "fraud_velocity",
                   "--entities", str(DATA / "entities.csv"), "-o", str(out),
                   "--full-feature-names")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == ("user_id,event_timestamp,label,user_stats__tx_count_1h,"
                        "user_velocity__tx_count_1h,user_velocity__amount_sum_1h,"
                        "user_velocity__avg_amount_24h,user_velocity__amount_std_24h,"
                        "user_velocity__merchants_24h,user_velocity__velocity_score")
    # (08:00, 09:00]: 20 and 60; over 24h 10, 20, 60: sd sqrt(700); 2 / (30 + 1)
    assert lines[1] == "u1,2026-11-27T09:00:00Z,1,8,2,80,30,26.457513110645905,2,0.06451612903225806"
    assert lines[5] == "u3,2026-11-27T09:00:00Z,0,,0,0,,,0,"
    # both views have a tx_count_1h: plain names collide, as in Feast
    r = historical("-f", str(DATA), "--service", "fraud_velocity",
                   "--entities", str(DATA / "entities.csv"), "--threads", "3")
    assert r.returncode == 2
    assert "two features are named 'tx_count_1h' (use --full-feature-names)" in r.stderr


def test_bad_input_exits_2_with_position(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "repo.yaml").write_text((DATA / "repo.yaml").read_text())
    (tmp_path / "data" / "user_stats.csv").write_text(
        "user_id,event_timestamp,created_at,tx_count_1h,avg_amount_7d,high_risk_merchant\n"
        "u1,2026-11-20T10:00:00Z,,3,42.5,false\n"
        "u1,2026-11-21T10:00:00Z,,\"4\",lots,false\n")
    (tmp_path / "data" / "transactions.csv").write_text("user_id,ts,amount,merchant\n")
    ents = str(DATA / "entities.csv")
    r = historical("-f", str(tmp_path), "--service", "fraud_detection_v3", "--entities", ents)
    assert r.returncode == 2
    assert "user_stats.csv:3:30: view 'user_stats': column 'avg_amount_7d': \"lots\" is not a " \
           "valid DOUBLE" in r.stderr, r.stderr
    r = historical("-f", str(tmp_path), "--service", "fraud_detection_v3", "--entities", ents,
                   "--on-bad-row", "skip")
    assert r.returncode == 0, r.stderr
    assert "skipped 1 source row" in r.stderr
    assert r.stdout.splitlines()[1] == "u1,2026-11-27T09:00:00Z,1,3,42.5,false"

    bad_ents = tmp_path / "ents.csv"
    bad_ents.write_text("user_id,event_timestamp\nu1,yesterday\n")
    r = historical("-f", str(tmp_path), "--service", "fraud_detection_v3",
                   "--entities", str(bad_ents))
    assert r.returncode == 2 and "ents.csv:2:4: column 'event_timestamp'" in r.stderr, r.stderr
    r = historical("-f", str(tmp_path), "--service", "nope", "--entities", ents)
    assert r.returncode == 2 and "no FeatureService 'nope'" in r.stderr
    r = historical("-f", str(tmp_path), "--service", "fraud_detection_v3")
    assert r.returncode == 2 and "--entities" in r.stderr
    r = historical("-f", str(DATA), "--service", "fraud_detection_v3", "--entities", ents,
                   "-o", "/dev/full")
    assert r.returncode == 1 and "cannot write the output: No space left" in r.stderr, r.stderr
    r = run("features", "--help")
    assert r.returncode == 0 and "Examples:" in r.stdout


PIT_YAML = """
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: user}
spec: {joinKeys: [user_id]}
---
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: merchant}
spec: {joinKeys: [merchant_id], valueType: INT64}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: stats}
spec:
  file: {path: stats.csv}
  createdTimestampColumn: created
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: um}
spec:
  entities: [user, merchant]
  source: stats
  ttl: 30m
  fields:
  - {name: n, dtype: INT64}
  - {name: x, dtype: DOUBLE}
  - {name: flag, dtype: BOOL}
  - {name: tag, dtype: STRING}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: svc}
spec:
  features: [um]
"""


def test_pit_join_matches_pandas_merge_asof(tmp_path):
    rnd = random.Random(7)
    users = [f"u{i}" for i in range(40)]
    # coarse grids make ties on ts, ties on created, and rows exactly ttl old
    feats = []
    for i in range(6000):
        ts = T0 + rnd.randrange(0, 600) * MIN
        created = None if rnd.random() < 0.1 else ts + rnd.randrange(0, 3) * MIN
        feats.append((rnd.choice(users), rnd.randrange(3), ts, created, rnd.randrange(-50, 50),
                      None if rnd.random() < 0.05 else round(rnd.uniform(-1e3, 1e3), 6),
                      rnd.choice(["true", "false"]), rnd.choice(["a", "b,c", 'say "hi"', None])))
    write_csv(tmp_path / "stats.csv",
              ["user_id", "merchant_id", "event_timestamp", "created", "n", "x", "flag", "tag"],
              [(u, m, iso(ts, rnd.randrange(4)), None if c is None else iso(c, 0), n, x, fl,
                None if tg is None else '"' + tg.replace('"', '""') + '"')
               for u, m, ts, c, n, x, fl, tg in feats])
    ents = []
    for i in range(5000):   # > 4096: the join runs on two threads
        ts = T0 + rnd.randrange(-10, 640) * MIN
        ents.append((rnd.choice(users + ["nobody"]), rnd.randrange(4), ts, i))
    ents += ents[:200]  # duplicate entity rows each get their own output row
    write_csv(tmp_path / "ents.csv", ["user_id", "merchant_id", "event_timestamp", "row"],
              [(u, m, iso(ts, rnd.randrange(4)), r) for u, m, ts, r in ents])
    (tmp_path / "repo.yaml").write_text(PIT_YAML)

    r = historical("-f", str(tmp_path / "repo.yaml"), "--service", "svc",
                   "--entities", str(tmp_path / "ents.csv"))
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(io.StringIO(r.stdout), dtype={"user_id": str, "tag": str},
                      keep_default_na=False, na_values=[""])

    # the oracle
    fdf = pd.DataFrame(feats, columns=["user_id", "merchant_id", "ts", "created", "n", "x",
                                       "flag", "tag"])
    fdf["created"] = fdf["created"].astype("float64")   # None -> NaN, sorted first
    fdf = fdf.sort_values(["ts", "created"], kind="mergesort", na_position="first")
    edf = pd.DataFrame(ents, columns=["user_id", "merchant_id", "ts", "row"])
    edf["pos"] = range(len(edf))
    edf = edf.sort_values("ts", kind="mergesort")
    want = pd.merge_asof(edf, fdf[["user_id", "merchant_id", "ts", "n", "x", "flag", "tag"]],
                         on="ts", by=["user_id", "merchant_id"], direction="backward",
                         tolerance=30 * MIN, allow_exact_matches=True).sort_values("pos")

    assert len(got) == len(want) == len(ents)
    assert list(got["row"]) == list(want["row"])             # the entity rows' order
    def cell(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
    mismatches = 0
    for (_, g), (_, w) in zip(got.iterrows(), want.iterrows()):
        wn, gn = cell(w["n"]), cell(g["n"])
        assert (wn is None) == (gn is None) and (wn is None or int(wn) == int(gn)), (g, w)
        wx, gx = cell(w["x"]), cell(g["x"])
        assert (wx is None) == (gx is None) and (wx is None or float(wx) == float(gx)), (g, w)
        wf, gf = cell(w["flag"]), cell(g["flag"])
        assert (wf is None) == (gf is None), (g, w)
        if wf is not None:
            assert str(wf).lower() == str(gf).lower(), (g, w)
        assert cell(w["tag"]) == cell(g["tag"]), (g, w)
        mismatches += wn is None
    # the data must exercise both outcomes
    assert 0 < mismatches < len(ents)


AGG_YAML = """
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: user}
spec: {joinKeys: [user_id]}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: tx}
spec:
  file: {path: tx.csv}
  timestampField: ts
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: vel}
spec:
  entities: [user]
  source: tx
  aggregations:
  - {name: c1h, function: count, window: 1h}
  - {name: ca1h, function: count, column: amount, window: 1h}
  - {name: s1h, function: sum, column: amount, window: 1h}
  - {name: a24h, function: avg, column: amount, window: 24h}
  - {name: mn24h, function: min, column: amount, window: 24h}
  - {name: mx24h, function: max, column: amount, window: 24h}
  - {name: sd24h, function: stddev, column: amount, window: 24h}
  - {name: cd24h, function: count_distinct, column: merchant, window: 24h}
  - {name: last24h, function: last, column: amount, window: 24h}
  derived:
  - {name: score, expr: "c1h / (a24h + 1) - -2 * s1h"}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: svc}
spec:
  features: [vel]
"""


def test_aggregations_match_a_naive_rescan(tmp_path):
    rnd = random.Random(11)
    users = [f"u{i}" for i in range(20)]
    events = []
    for i in range(5000):
        ts = T0 + rnd.randrange(0, 3 * 24 * 60) * MIN // 2   # 30 s grid: window bounds get hit
        amount = None if rnd.random() < 0.05 else round(rnd.uniform(0, 500), 2)
        events.append((rnd.choice(users), ts, amount, f"m{rnd.randrange(15)}"))
    write_csv(tmp_path / "tx.csv", ["user_id", "ts", "amount", "merchant"],
              [(u, iso(ts, rnd.randrange(4)), a, m) for u, ts, a, m in events])
    ents = [(rnd.choice(users + ["ghost"]), T0 + rnd.randrange(0, 3 * 24 * 60 + 120) * MIN // 2)
            for _ in range(4500)]
    # entity times exactly one window after an event: the event must be out
    ents += [(u, ts + 3600) for u, ts, _, _ in events[:100]]
    ents += [(u, ts + 86400) for u, ts, _, _ in events[100:200]]
    write_csv(tmp_path / "ents.csv", ["user_id", "event_timestamp"],
              [(u, iso(ts, 0)) for u, ts in ents])
    (tmp_path / "repo.yaml").write_text(AGG_YAML)

    r = historical("-f", str(tmp_path), "--service", "svc", "--entities",
                   str(tmp_path / "ents.csv"))
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(io.StringIO(r.stdout), keep_default_na=False, na_values=[""])

    order = sorted(range(len(events)), key=lambda i: (events[i][1], i))
    by_user = {}
    for i in order:
        by_user.setdefault(events[i][0], []).append(events[i])

    def window(u, t, w):
        return [e for e in by_user.get(u, []) if t - w < e[1] <= t]

    def close(a, b):
        if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
            return a is None and (b is None or math.isnan(b))
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)

    for (u, t), (_, g) in zip(ents, got.iterrows()):
        h, d = window(u, t, 3600), window(u, t, 86400)
        hv = [e[2] for e in h if e[2] is not None]
        dv = [e[2] for e in d if e[2] is not None]
        assert g["c1h"] == len(h) and g["ca1h"] == len(hv), (u, t)
        assert g["cd24h"] == len({e[3] for e in d}), (u, t)
        s1h = sum(hv)
        a24 = sum(dv) / len(dv) if dv else None
        assert close(s1h, g["s1h"]), (u, t)
        assert close(a24, g["a24h"]), (u, t)
        assert close(min(dv) if dv else None, g["mn24h"])
        assert close(max(dv) if dv else None, g["mx24h"])
        assert close(statistics.stdev(dv) if len(dv) > 1 else None, g["sd24h"]), (u, t)
        assert close(dv[-1] if dv else None, g["last24h"]), (u, t)
        score = None if a24 is None or a24 + 1 == 0 else len(h) / (a24 + 1) + 2 * s1h
        assert close(score, g["score"]), (u, t)


def test_plain_apply_refuses_a_change_that_breaks_a_service(platform, tmp_path):
    """`skiff apply` (not only `skiff features apply`) runs the same check
    before it sends anything: a view may not lose or retype a feature that a
    FeatureService on the platform reads."""
    import shutil
    shutil.copytree(DATA / "data", tmp_path / "data")
    repo = tmp_path / "repo.yaml"
    shutil.copy(DATA / "repo.yaml", repo)
    r = platform.cli("apply", "-f", str(repo), check=0)
    assert "featureservice.skiff.dev/fraud_detection_v3 created" in r.stdout, r.stdout
    # the views only: the services that read them stay the platform's
    text = "\n---\n".join(d for d in repo.read_text().split("\n---\n")
                           if "kind: FeatureService" not in d)
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("  - {name: tx_count_1h, dtype: INT64}\n", "", 1))
    r = platform.cli("apply", "-f", str(changed))
    assert r.returncode == 1 and "Sanitizer" not in r.stderr, r.stderr
    assert "breaks the platform's definitions" in r.stderr
    assert "has no feature 'tx_count_1h'" in r.stderr and "nothing was applied" in r.stderr
    changed.write_text(text.replace("{name: avg_amount_7d, dtype: DOUBLE}",
                                    "{name: avg_amount_7d, dtype: INT64}"))
    r = platform.cli("apply", "-f", str(changed))
    assert r.returncode == 1 and "Sanitizer" not in r.stderr, r.stderr
    assert ("breaks FeatureService 'fraud_detection_v3', which reads "
            "'user_stats:avg_amount_7d' as DOUBLE: it would become INT64") in r.stderr
    # nothing was written: the stored view still has both fields, as first applied
    view = platform.api("GET", "/api/v1/featureviews/user_stats").json()
    fields = {f["name"]: f["dtype"] for f in view["spec"]["fields"]}
    assert fields["tx_count_1h"] == "INT64" and fields["avg_amount_7d"] == "DOUBLE"
    assert view["metadata"]["generation"] == 1
    # a compatible change applies; other kinds in the same apply are not held up
    changed.write_text(text.replace("ttl: 7d", "ttl: 6d"))
    r = platform.cli("apply", "-f", str(changed), check=0)
    assert "featureview.skiff.dev/user_stats configured" in r.stdout, r.stdout
    assert platform.api("GET", "/api/v1/featureviews/user_stats").json()["spec"]["ttl"] == "6d"
