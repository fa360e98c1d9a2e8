"""The online feature store on a running platform: materialize (CLI and
HTTP), POST /get-online-features in Feast's shapes checked against
historical retrieval (the oracle) at the materialization's end, TTL
expiry, incremental materialization, a run killed halfway and rerun,
push (online and offline), bad requests, the standalone `skiff features
serve`, the skew check, and a platform on Redis shared by two platforms."""
import csv
import json
import signal
import socket
import subprocess
import time

import requests

from conftest import SKIFF_BIN, free_port, run

DEFS = """\
apiVersion: skiff.dev/v1
kind: Entity
metadata: {name: user}
spec: {joinKeys: [user_id], valueType: STRING}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: profiles}
spec:
  file: {path: %(dir)s/profiles.csv}
  createdTimestampColumn: created
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: tx}
spec:
  file: {path: %(dir)s/tx.csv}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: tx_push}
spec:
  push: {batchSource: tx}
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: profile}
spec:
  entities: [user]
  ttl: 5m
  source: profiles
  fields:
  - {name: age, dtype: INT64}
  - {name: score, dtype: DOUBLE}
  - {name: country, dtype: STRING}
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: user_tx}
spec:
  entities: [user]
  source: tx
  fields:
  - {name: amount, dtype: DOUBLE}
  aggregations:
  - {name: tx_count_1h, function: count, window: 1h}
  - {name: amount_sum_1h, function: sum, column: amount, window: 1h}
  - {name: amount_max_1d, function: max, column: amount, window: 1d}
  derived:
  - {name: avg_1h, expr: 'amount_sum_1h / tx_count_1h'}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: scoring}
spec:
  features:
  - {view: profile, features: [age, score, country]}
  - {view: user_tx, features: [tx_count_1h, amount_sum_1h, amount_max_1d, avg_1h]}
"""

USERS = ["u1", "u2", "u3", "u4"]


def write_repo(tmp_path, end):
    """Events 90 s + 2 min * k before `end`: no event lies within 30 s after
    a window boundary (windows are multiples of 2 min), so values read up
    to 30 s after `end` are those of `end`."""
    with open(tmp_path / "tx.csv", "w") as f:
        f.write("user_id,event_timestamp,amount\n")
        for k in range(0, 40):
            u = USERS[k % 3]   # u4 has no transactions
            f.write(f"{u},{end - 90 - 120 * k * 7},{(k * 37) % 101 + 0.5}\n")
    with open(tmp_path / "profiles.csv", "w") as f:
        f.write("user_id,event_timestamp,created,age,score,country\n")
        f.write(f"u1,{end - 90},{end - 90},31,0.7,DE\n")
        f.write(f"u1,{end - 90},{end - 100},99,9.9,XX\n")     # same time, older created
        f.write(f"u2,{end - 3600},,40,0.1,US\n")              # older than the ttl (5m)
        f.write(f"u3,{end - 200},,50,,IT\n")                  # null score
        f.write(f"u4,{end + 3600},,60,1.0,FR\n")              # after the window
    (tmp_path / "repo.yaml").write_text(DEFS % {"dir": tmp_path})
    return tmp_path / "repo.yaml"


def get_online(platform, body, token=None):
    return platform.api("POST", "/get-online-features", token=token, json=body)


def historical(platform, users, t, full=False):
    r = platform.api("POST", "/api/v1/features/historical",
                     json={"feature_service": "scoring", "full_feature_names": full,
                           "entities": {"user_id": users, "event_timestamp": [t] * len(users)}})
    assert r.status_code == 200, r.text
    return r.json()


def applied(platform, tmp_path):
    end = int(time.time()) - 2
    repo = write_repo(tmp_path, end)
    platform.cli("apply", "-f", str(repo), check=0)
    return repo, end


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_materialize_then_online_equals_historical_at_end(platform, tmp_path):
    repo, end = applied(platform, tmp_path)
    platform.cli("features", "materialize", iso(end - 86400 * 2), iso(end), check=0)
    users = USERS + ["nobody"]
    r = get_online(platform, {"feature_service": "scoring", "entities": {"user_id": users}})
    assert r.status_code == 200, r.text
    got = r.json()
    names = got["metadata"]["feature_names"]
    assert names == ["user_id", "age", "score", "country", "tx_count_1h", "amount_sum_1h",
                     "amount_max_1d", "avg_1h"]
    res = got["results"]
    assert len(res) == len(names)
    # the join key column is echoed back, PRESENT, at the epoch
    assert res[0] == {"values": users, "statuses": ["PRESENT"] * 5,
                      "event_timestamps": ["1970-01-01T00:00:00Z"] * 5}
    want = historical(platform, users, end)
    # entities the online view has no record of are NOT_FOUND online, where
    # historical retrieval gives counts of 0 (Feast's online semantics)
    absent = {"tx_count_1h": {"u4", "nobody"}, "amount_sum_1h": {"u4", "nobody"},
              "amount_max_1d": {"u4", "nobody"}, "avg_1h": {"u4", "nobody"}}
    for i, name in enumerate(names[1:], 1):
        col = res[i]
        for j, u in enumerate(users):
            w, v, st = want[name][j], col["values"][j], col["statuses"][j]
            if u in absent.get(name, ()):
                assert st == "NOT_FOUND" and v is None, (name, u, st)
            elif w is None:
                assert v is None and st != "PRESENT", (name, u, v, st)
            else:
                assert st == "PRESENT", (name, u, st)
                assert abs(float(v) - float(w)) < 1e-9 if isinstance(w, float) else v == w, \
                    (name, u, v, w)
    by = {n: res[i] for i, n in enumerate(names)}
    # the tie at the same event time goes to the later created row
    assert by["age"]["values"][0] == 31 and by["country"]["values"][0] == "DE"
    assert by["age"]["event_timestamps"][0] == iso(end - 90)
    # u2's profile is 1h old with a 5m ttl
    assert by["age"]["statuses"][1] == "OUTSIDE_MAX_AGE" and by["age"]["values"][1] is None
    # u3's null score; u4's row is after the window; nobody is not found
    assert by["score"]["statuses"][2] == "NOT_FOUND"
    assert by["age"]["statuses"][3] == "NOT_FOUND"
    assert all(c["statuses"][4] == "NOT_FOUND" for c in res[1:])
    assert all(c["event_timestamps"][4] == "1970-01-01T00:00:00Z" for c in res[1:])


def test_features_list_full_names_and_bad_requests(platform, tmp_path):
    repo, end = applied(platform, tmp_path)
    r = platform.api("POST", "/materialize", json={"start_ts": iso(end - 86400),
                                                   "end_ts": iso(end)})
    assert r.status_code == 200, r.text
    r = get_online(platform, {"features": ["user_tx:tx_count_1h", "profile:age"],
                              "entities": {"user_id": ["u1"]}, "full_feature_names": True})
    assert r.status_code == 200, r.text
    # views in first-mention order
    assert r.json()["metadata"]["feature_names"] == ["user_id", "user_tx__tx_count_1h",
                                                     "profile__age"]
    assert r.json()["results"][2]["values"] == [31]
    bad = [
        ({"feature_service": "nope", "entities": {"user_id": ["u1"]}}, 404, "nope"),
        ({"features": ["nope:x"], "entities": {"user_id": ["u1"]}}, 404, "nope"),
        ({"features": ["profile:nope"], "entities": {"user_id": ["u1"]}}, 404, "nope"),
        ({"features": ["profile"], "entities": {"user_id": ["u1"]}}, 400, "view:feature"),
        ({"feature_service": "scoring", "entities": {"driver_id": ["u1"]}}, 400, "driver_id"),
        ({"feature_service": "scoring", "entities": {}}, 400, "user_id"),
        ({"feature_service": "scoring", "entities": {"user_id": "u1"}}, 400, "array"),
        ({"entities": {"user_id": ["u1"]}}, 400, "feature_service"),
    ]
    for body, status, word in bad:
        r = get_online(platform, body)
        assert r.status_code == status, (body, r.status_code, r.text)
        assert word in r.json()["error"]["message"], r.text
    r = platform.api("POST", "/get-online-features", data="{not json")
    assert r.status_code == 400
    r = requests.post(platform.url + "/get-online-features", json={}, timeout=5)
    assert r.status_code == 401
    assert requests.get(platform.url + "/health", timeout=5).status_code == 200
    r = platform.api("POST", "/materialize", json={"start_ts": iso(end), "end_ts": iso(end)})
    assert r.status_code == 400
    r = platform.api("POST", "/materialize", json={"start_ts": "yesterday", "end_ts": iso(end)})
    assert r.status_code == 400 and "start_ts" in r.text
    r = platform.api("POST", "/materialize", json={"start_ts": iso(end - 60), "end_ts": iso(end),
                                                   "feature_views": ["nope"]})
    assert r.status_code == 404


def test_incremental_materialization(platform, tmp_path):
    repo, end = applied(platform, tmp_path)
    # the first run stops before u1's latest profile row (end - 90)
    platform.cli("features", "materialize", iso(end - 86400), iso(end - 300), "-v", "profile",
                 check=0)
    r = get_online(platform, {"features": ["profile:age"], "entities": {"user_id": ["u1", "u3"]}})
    assert r.json()["results"][1]["statuses"] == ["NOT_FOUND", "NOT_FOUND"]
    # from the watermark on: both rows arrive, and a second run has nothing new
    platform.cli("features", "materialize-incremental", iso(end), "-v", "profile", check=0)
    r = get_online(platform, {"features": ["profile:age"], "entities": {"user_id": ["u1", "u3"]}})
    assert r.json()["results"][1]["values"] == [31, 50]
    r = platform.api("POST", "/materialize-incremental", json={"end_ts": iso(end)})
    assert r.status_code == 200, r.text


def test_kill_halfway_then_rerun_gives_the_same_state(platform, tmp_path):
    end = int(time.time()) - 2
    repo = write_repo(tmp_path, end)
    n, nusers = 600000, 200000
    with open(tmp_path / "tx.csv", "w") as f:
        f.write("user_id,event_timestamp,amount\n")
        f.writelines(f"user{i % nusers},{end - 90 - 120 * (i % 500)},{i % 97}\n"
                     for i in range(n))
    platform.cli("apply", "-f", str(repo), check=0)
    args = [SKIFF_BIN, "features", "materialize", iso(end - 86400), iso(end), "-f", str(repo),
            "-v", "user_tx"]
    data = platform.home / "online" / "data.mdb"
    size0 = data.stat().st_size
    p = subprocess.Popen(args, env=platform.env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    # killed once some batches are committed, well before the last (~60 MB)
    while p.poll() is None and data.stat().st_size < size0 + (8 << 20):
        time.sleep(0.002)
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL, "materialize finished before it could be killed"
    users = [f"user{i}" for i in range(0, nusers, 3331)]
    body = {"features": ["user_tx:amount_max_1d", "user_tx:tx_count_1h"],
            "entities": {"user_id": users}}
    half = get_online(platform, body).json()
    assert "NOT_FOUND" in half["results"][1]["statuses"]   # it was cut short
    r = subprocess.run(args, env=platform.env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = get_online(platform, body).json()
    want = historical(platform, users, end)
    # within a view, features come in definition order (Feast: map by name)
    names = got["metadata"]["feature_names"]
    assert names == ["user_id", "tx_count_1h", "amount_max_1d"]
    for i, name in enumerate(names[1:], 1):
        assert got["results"][i]["values"] == want[name], name
        assert set(got["results"][i]["statuses"]) == {"PRESENT"}


def test_push_online_and_offline(platform, tmp_path):
    repo, end = applied(platform, tmp_path)
    platform.cli("features", "materialize", iso(end - 86400), iso(end), check=0)
    body = {"features": ["user_tx:tx_count_1h", "user_tx:amount_sum_1h", "user_tx:amount"],
            "entities": {"user_id": ["u4"]}}
    before = get_online(platform, body).json()["results"]
    assert before[1]["statuses"] == ["NOT_FOUND"]
    now = int(time.time())
    r = platform.api("POST", "/push", json={
        "push_source_name": "tx_push", "to": "online_and_offline",
        "df": {"user_id": ["u4", "u4"], "event_timestamp": [now - 10, now - 5],
               "amount": [2.5, 4.0]}})
    assert r.status_code == 200, r.text
    got = get_online(platform, body).json()
    after = dict(zip(got["metadata"]["feature_names"], got["results"]))
    assert after["tx_count_1h"]["values"] == [2] and after["amount_sum_1h"]["values"] == [6.5]
    assert after["amount"]["values"] == [4.0]   # the latest pushed row
    assert after["amount"]["event_timestamps"] == [iso(now - 5)]
    # offline: appended to the batch source, so historical retrieval sees them too
    rows = list(csv.DictReader(open(tmp_path / "tx.csv")))
    assert rows[-1]["user_id"] == "u4" and float(rows[-1]["amount"]) == 4.0
    want = historical(platform, ["u4"], now)
    assert want["tx_count_1h"] == [2] and want["amount_sum_1h"] == [6.5]
    bad = [
        ({"push_source_name": "nope", "df": {"user_id": ["u4"]}}, 404),
        ({"push_source_name": "tx_push", "df": {"user_id": ["u4"]}, "to": "sideways"}, 400),
        ({"push_source_name": "tx_push", "df": {"user_id": ["u4"]}}, 400),   # no timestamp
        ({"push_source_name": "tx_push", "df": {"user_id": ["u4"], "event_timestamp": [now],
                                                 "amount": ["lots"]}}, 400),
        ({"push_source_name": "tx_push", "df": {"user_id": ["u4", "u5"],
                                                 "event_timestamp": [now]}}, 400),
    ]
    for body, status in bad:
        r = platform.api("POST", "/push", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["message"]
    # Feast's write-to-online-store: one view, the same rules
    r = platform.api("POST", "/write-to-online-store", json={
        "feature_view_name": "profile",
        "df": {"user_id": ["u4"], "event_timestamp": [now], "created": [now], "age": [22],
               "score": [0.25], "country": ["NL"]}})
    assert r.status_code == 200, r.text
    got = get_online(platform, {"features": ["profile:age", "profile:country"],
                                "entities": {"user_id": ["u4"]}}).json()
    assert [c["values"] for c in got["results"][1:]] == [[22], ["NL"]]
    r = platform.api("POST", "/write-to-online-store", json={"feature_view_name": "nope",
                                                             "df": {"user_id": ["u4"]}})
    assert r.status_code == 404
    r = platform.api("POST", "/write-to-online-store", json={"feature_view_name": "profile",
                                                             "df": {"user_id": ["u4"]}})
    assert r.status_code == 400 and "event_timestamp" in r.text


def test_standalone_serve(platform, tmp_path):
    repo, end = applied(platform, tmp_path)
    platform.cli("features", "materialize", iso(end - 86400), iso(end), check=0)
    # the platform's home: its online store and the key that verifies its
    # tokens; definitions from the files, then from the platform's store
    for defs in (["-f", str(repo)], []):
        port = free_port()
        p = subprocess.Popen([SKIFF_BIN, "features", "serve", *defs, "--listen",
                              f"127.0.0.1:{port}"], env=platform.env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(400):
                try:
                    if requests.get(url + "/health", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.05)
            r = requests.post(url + "/get-online-features", headers=platform.headers(),
                              json={"feature_service": "scoring",
                                    "entities": {"user_id": ["u1"]}}, timeout=5)
            assert r.status_code == 200, r.text
            assert r.json()["results"][1]["values"] == [31]
            r = requests.post(url + "/get-online-features", json={}, timeout=5)
            assert r.status_code == 401
            # the probes every skiff server answers, open (a container's liveness, a scrape)
            assert requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
            m = requests.get(url + "/metrics", timeout=5)
            assert m.status_code == 200 and "skiff_http_requests_total" in m.text
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=20) == 0, p.stderr.read()


def write_served(path, rows):
    with open(path, "w") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "event_timestamp", "age", "score", "country", "tx_count_1h",
                    "amount_sum_1h", "amount_max_1d", "avg_1h"])
        w.writerows(rows)


def test_skew_catches_an_off_by_one_window(platform, tmp_path):
    end = int(time.time()) - 2
    repo = write_repo(tmp_path, end)
    # the truth, from historical retrieval through the CLI, at several times
    times = [end - 60 * k for k in range(0, 120)]
    with open(tmp_path / "ent.csv", "w") as f:
        f.write("user_id,event_timestamp\n")
        for t in times:
            for u in USERS[:3]:
                f.write(f"{u},{t}\n")
    r = run("features", "historical", "-f", str(repo), "--service", "scoring", "--entities",
            str(tmp_path / "ent.csv"))
    assert r.returncode == 0, r.stderr
    truth = list(csv.DictReader(r.stdout.splitlines()))
    cols = ["user_id", "event_timestamp", "age", "score", "country", "tx_count_1h",
            "amount_sum_1h", "amount_max_1d", "avg_1h"]
    write_served(tmp_path / "good.csv", [[row[c] for c in cols] for row in truth])
    r = run("features", "skew", "-f", str(repo), "--service", "scoring", "--served",
            str(tmp_path / "good.csv"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no skew" in r.stdout
    # serving counted tx_count_1h over 61 minutes: one event too many where an
    # event lies in (t - 61m, t - 60m]
    tx = [row for row in csv.DictReader(open(tmp_path / "tx.csv"))]
    skewed = []
    for row in truth:
        t = int(time.mktime(time.strptime(row["event_timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
                - time.timezone) if not row["event_timestamp"].isdigit() \
            else int(row["event_timestamp"])
        n61 = sum(1 for e in tx if e["user_id"] == row["user_id"]
                  and t - 3660 < int(e["event_timestamp"]) <= t)
        skewed.append([row[c] if c != "tx_count_1h" else str(n61) for c in cols])
    assert sum(1 for a, b in zip(skewed, truth) if a[5] != b["tx_count_1h"]) > 0
    write_served(tmp_path / "skewed.csv", skewed)
    r = run("features", "skew", "-f", str(repo), "--service", "scoring", "--served",
            str(tmp_path / "skewed.csv"))
    assert r.returncode == 1, r.stdout + r.stderr
    line = [x for x in r.stdout.splitlines() if x.startswith("user_tx__tx_count_1h")][0]
    assert "FAIL" in line
    assert "served" in r.stdout and "recomputed" in r.stdout
    # the other features are fine
    assert all("FAIL" not in x for x in r.stdout.splitlines() if x.startswith("profile__"))
    # a loose threshold lets it pass; a missing column is bad input
    r = run("features", "skew", "-f", str(repo), "--service", "scoring", "--served",
            str(tmp_path / "skewed.csv"), "--max-mismatch", "1")
    assert r.returncode == 0
    (tmp_path / "short.csv").write_text("user_id,event_timestamp,age\nu1,%d,31\n" % end)
    r = run("features", "skew", "-f", str(repo), "--service", "scoring", "--served",
            str(tmp_path / "short.csv"))
    assert r.returncode == 2 and "score" in r.stderr


def test_platform_on_redis(tmp_path, monkeypatch):
    """The same platform with `online_store: redis://...`: a real redis-server
    on a free port; materialize, read, push, and a second platform process
    on the same Redis sees the same values."""
    from conftest import Platform
    port = free_port()
    rs = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    platforms = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        monkeypatch.setenv("SKIFF_ONLINE_STORE", f"redis://127.0.0.1:{port}/2")
        a = Platform(tmp_path / "home-a").start()
        platforms.append(a)
        repo, end = applied(a, tmp_path)
        a.cli("features", "materialize", iso(end - 86400 * 2), iso(end), check=0)
        body = {"feature_service": "scoring", "entities": {"user_id": ["u1", "u2", "nobody"]}}
        got = get_online(a, body).json()
        by = dict(zip(got["metadata"]["feature_names"], got["results"]))
        assert by["age"]["values"] == [31, None, None]
        assert by["age"]["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
        want = historical(a, ["u1", "u2"], end)
        assert by["tx_count_1h"]["values"][:2] == want["tx_count_1h"]
        assert by["amount_max_1d"]["values"][:2] == want["amount_max_1d"]
        r = a.api("POST", "/push", json={"push_source_name": "tx_push", "df": {
            "user_id": ["u1"], "event_timestamp": [int(time.time())], "amount": [1000.0]}})
        assert r.status_code == 200, r.text
        # a second platform (its own home and SQLite) on the same Redis
        b = Platform(tmp_path / "home-b").start()
        platforms.append(b)
        b.cli("apply", "-f", str(repo), check=0)
        got = get_online(b, body).json()
        by = dict(zip(got["metadata"]["feature_names"], got["results"]))
        assert by["amount_max_1d"]["values"][0] == 1000.0
        assert by["tx_count_1h"]["values"][0] == want["tx_count_1h"][0] + 1
        # Redis gone: 503 with the reason, not a crash; the platforms stop cleanly
        rs.terminate()
        rs.wait()
        r = get_online(b, body)
        assert r.status_code == 503 and "redis" in r.json()["error"]["message"], r.text
    finally:
        for p in platforms:
            assert p.stop() == 0, p.logs()
        rs.terminate()
        rs.wait()


def test_skew_reads_the_serving_payload_log(tmp_path):
    """A payload log (include/skiff/serving.h) as the served file: the join
    key and the served values under "features"; STRING features, which the
    log cannot carry, are reported as not served."""
    end = int(time.time()) - 2
    repo = write_repo(tmp_path, end)
    times = [end - 60 * k for k in range(0, 120)]
    with open(tmp_path / "ent.csv", "w") as f:
        f.write("user_id,event_timestamp\n")
        for t in times:
            f.write(f"u1,{t}\n")
    r = run("features", "historical", "-f", str(repo), "--service", "scoring", "--entities",
            str(tmp_path / "ent.csv"))
    assert r.returncode == 0, r.stderr
    truth = list(csv.DictReader(r.stdout.splitlines()))
    num = ["age", "score", "tx_count_1h", "amount_sum_1h", "amount_max_1d", "avg_1h"]

    def log(path, bump):
        with open(path, "w") as f:
            for row in truth:
                feats = {"user_id": "u1"}
                for c in num:
                    feats[c] = float(row[c]) if row[c] else None
                feats["tx_count_1h"] = (feats["tx_count_1h"] or 0) + bump
                f.write(json.dumps({"ts": iso(int(row["event_timestamp"])), "id": "r",
                                    "model": "m", "revision": "m-1", "features": feats,
                                    "outputs": [0.5]}) + "\n")
    log(tmp_path / "good.jsonl", 0)
    r = run("features", "skew", "-f", str(repo), "--service", "scoring", "--served",
            str(tmp_path / "good.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not served" in [x for x in r.stdout.splitlines() if x.startswith("profile__country")][0]
    log(tmp_path / "bad.jsonl", 1)
    r = run("features", "skew", "-f", str(repo), "--service", "scoring", "--served",
            str(tmp_path / "bad.jsonl"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in [x for x in r.stdout.splitlines() if x.startswith("user_tx__tx_count_1h")][0]
    (tmp_path / "broken.jsonl").write_text('{"ts": "x"\n')
    r = run("features", "skew", "-f", str(repo), "--service", "scoring", "--served",
            str(tmp_path / "broken.jsonl"))
    assert r.returncode == 2 and "broken.jsonl:1" in r.stderr, r.stderr
