"""The MLflow tracking API of `skiff up`: the client's flow, searches and
paging, bad input, auth, and many processes logging at once."""
import json
import multiprocessing
import time

import requests

API = "/api/2.0/mlflow/"


def call(platform, method, path, **kw):
    return platform.api(method, API + path, **kw)


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def new_run(platform, exp, **extra):
    body = {"experiment_id": exp, "start_time": int(time.time() * 1000), **extra}
    return ok(call(platform, "POST", "runs/create", json=body))["run"]["info"]["run_id"]


def test_client_flow(platform):
    r = call(platform, "GET", "experiments/get-by-name", params={"experiment_name": "fraud"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    exp = ok(call(platform, "POST", "experiments/create",
                  json={"name": "fraud", "tags": [{"key": "team", "value": "risk"}]}))["experiment_id"]
    assert exp.isdigit()
    e = ok(call(platform, "GET", "experiments/get", params={"experiment_id": exp}))["experiment"]
    assert e["name"] == "fraud" and e["artifact_location"] == f"mlflow-artifacts:/{exp}"
    assert e["tags"] == [{"key": "team", "value": "risk"}]
    ok(call(platform, "POST", "experiments/set-experiment-tag",
            json={"experiment_id": exp, "key": "tmp", "value": "1"}))
    ok(call(platform, "POST", "experiments/delete-experiment-tag", json={"experiment_id": exp, "key": "tmp"}))
    r = call(platform, "POST", "experiments/delete-experiment-tag", json={"experiment_id": exp, "key": "tmp"})
    assert r.status_code == 404
    # the Default experiment always exists
    assert ok(call(platform, "GET", "experiments/get", params={"experiment_id": "0"}))["experiment"]["name"] == "Default"

    run = ok(call(platform, "POST", "runs/create", json={
        "experiment_id": exp, "user_id": "ana", "start_time": 1000,
        "tags": [{"key": "mlflow.user", "value": "ana"}]}))["run"]
    rid = run["info"]["run_id"]
    assert len(rid) == 32 and int(rid, 16) >= 0 and run["info"]["run_uuid"] == rid
    assert run["info"]["status"] == "RUNNING" and run["info"]["lifecycle_stage"] == "active"
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{exp}/{rid}/artifacts"
    name = run["info"]["run_name"]
    assert 0 < len(name) <= 20
    assert {"key": "mlflow.runName", "value": name} in run["data"]["tags"]

    ok(call(platform, "POST", "runs/log-parameter", json={"run_id": rid, "key": "lr", "value": "0.1"}))
    ok(call(platform, "POST", "runs/log-parameter", json={"run_uuid": rid, "key": "lr", "value": "0.1"}))
    for step, (loss, ts) in enumerate([(1.0, 10), (0.5, 20), (0.25, 30)]):
        ok(call(platform, "POST", "runs/log-metric",
                json={"run_id": rid, "key": "loss", "value": loss, "timestamp": ts, "step": step}))
    # an older step logged later does not become the latest value
    ok(call(platform, "POST", "runs/log-metric",
            json={"run_id": rid, "key": "loss", "value": 9.0, "timestamp": 40, "step": 0}))
    ok(call(platform, "POST", "runs/set-tag", json={"run_id": rid, "key": "purpose", "value": "x"}))
    ok(call(platform, "POST", "runs/set-tag", json={"run_id": rid, "key": "gone", "value": "x"}))
    ok(call(platform, "POST", "runs/delete-tag", json={"run_id": rid, "key": "gone"}))
    ok(call(platform, "POST", "runs/log-batch", json={
        "run_id": rid,
        "metrics": [{"key": "auc", "value": 0.93, "timestamp": 50, "step": 0},
                    {"key": "odd", "value": "NaN", "timestamp": 50}],
        "params": [{"key": "depth", "value": "6"}],
        "tags": [{"key": "mlflow.runName", "value": "renamed"}]}))
    info = ok(call(platform, "POST", "runs/update",
                   json={"run_id": rid, "status": "FINISHED", "end_time": 99}))["run_info"]
    assert info["status"] == "FINISHED" and info["end_time"] == 99 and info["run_name"] == "renamed"

    got = ok(call(platform, "GET", "runs/get", params={"run_id": rid}))["run"]
    metrics = {m["key"]: m for m in got["data"]["metrics"]}
    assert metrics["loss"] == {"key": "loss", "value": 0.25, "timestamp": 30, "step": 2}
    assert metrics["auc"]["value"] == 0.93 and metrics["odd"]["value"] == "NaN"
    assert {p["key"]: p["value"] for p in got["data"]["params"]} == {"lr": "0.1", "depth": "6"}
    tags = {t["key"]: t["value"] for t in got["data"]["tags"]}
    assert tags["purpose"] == "x" and "gone" not in tags and tags["mlflow.runName"] == "renamed"
    assert got["inputs"] == {}

    hist = ok(call(platform, "GET", "metrics/get-history", params={"run_id": rid, "metric_key": "loss"}))
    assert [(m["step"], m["value"]) for m in hist["metrics"]] == [(0, 1.0), (1, 0.5), (2, 0.25), (0, 9.0)]
    page = ok(call(platform, "GET", "metrics/get-history",
                   params={"run_id": rid, "metric_key": "loss", "max_results": 3}))
    assert len(page["metrics"]) == 3 and page["next_page_token"]
    rest = ok(call(platform, "GET", "metrics/get-history", params={
        "run_id": rid, "metric_key": "loss", "max_results": 3, "page_token": page["next_page_token"]}))
    assert len(rest["metrics"]) == 1 and "next_page_token" not in rest

    # experiment_id as a JSON number, and a double-encoded JSON body, as clients send
    num = ok(call(platform, "POST", "runs/create", json={"experiment_id": 0, "run_name": "num"}))
    assert num["run"]["info"]["experiment_id"] == "0"
    ok(call(platform, "POST", "runs/delete", data=json.dumps(json.dumps({"run_id": num["run"]["info"]["run_id"]}))))
    r = call(platform, "POST", "runs/create", json={"experiment_id": exp, "run_name": "a",
                                                    "tags": [{"key": "mlflow.runName", "value": "b"}]})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    other = new_run(platform, exp, run_name="other")
    ok(call(platform, "POST", "runs/log-batch", json={
        "run_id": other, "metrics": [{"key": "auc", "value": 0.7, "timestamp": 1}],
        "params": [{"key": "lr", "value": "0.2"}], "tags": [{"key": "x", "value": "y"}]}))

    def search(flt, **kw):
        body = {"experiment_ids": [exp], "filter": flt, **kw}
        return [r["info"]["run_id"] for r in ok(call(platform, "POST", "runs/search", json=body)).get("runs", [])]

    assert search("metrics.auc > 0.9 and params.lr = '0.1' and tags.purpose != 'y' and "
                  "attributes.status = 'FINISHED'") == [rid]
    assert search("metrics.auc >= 0.7") == [other, rid]  # start_time DESC
    assert search("", order_by=["metrics.auc DESC"]) == [rid, other]
    assert search("", order_by=["metrics.auc ASC"]) == [other, rid]
    assert search("", order_by=["params.lr DESC"]) == [other, rid]
    assert search("attributes.run_name IN ('other', 'nope')") == [other]
    assert search("tags.`mlflow.runName` LIKE 'ren%'") == [rid]
    assert search("params.lr ILIKE '0.%' and metrics.auc < 0.8") == [other]
    assert search("attributes.start_time > 0", order_by=["attributes.start_time ASC"]) == [rid, other]
    assert search("metrics.missing > 0") == []

    # delete hides a run from the default view; restore brings it back
    ok(call(platform, "POST", "runs/delete", json={"run_id": other}))
    assert search("") == [rid]
    assert other in search("", run_view_type="ALL")
    assert search("", run_view_type="DELETED_ONLY") == [other]
    r = call(platform, "POST", "runs/log-metric", json={"run_id": other, "key": "a", "value": 1, "timestamp": 1})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    ok(call(platform, "POST", "runs/restore", json={"run_id": other}))
    assert len(search("")) == 2

    # experiments: search, rename, delete, restore
    exps = ok(call(platform, "POST", "experiments/search", json={"filter": "name = 'fraud'"}))
    assert [x["experiment_id"] for x in exps["experiments"]] == [exp]
    ok(call(platform, "POST", "experiments/update", json={"experiment_id": exp, "new_name": "fraud2"}))
    assert ok(call(platform, "GET", "experiments/get-by-name",
                   params={"experiment_name": "fraud2"}))["experiment"]["experiment_id"] == exp
    ok(call(platform, "POST", "experiments/delete", json={"experiment_id": exp}))
    e = ok(call(platform, "GET", "experiments/get", params={"experiment_id": exp}))["experiment"]
    assert e["lifecycle_stage"] == "deleted"
    names = [x["name"] for x in ok(call(platform, "GET", "experiments/search")).get("experiments", [])]
    assert "fraud2" not in names and "Default" in names
    ok(call(platform, "POST", "experiments/restore", json={"experiment_id": exp}))
    assert len(search("")) == 2
    # the UI's alias serves the same API
    r = platform.api("GET", "/ajax-api/2.0/mlflow/runs/get", params={"run_id": rid})
    assert r.status_code == 200 and r.json()["run"]["info"]["run_id"] == rid


def test_search_paging(platform):
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "paging"}))["experiment_id"]
    want = []
    for i in range(25):
        rid = new_run(platform, exp)
        ok(call(platform, "POST", "runs/log-metric",
                json={"run_id": rid, "key": "m", "value": i, "timestamp": 1}))
        want.append(rid)
    want.reverse()  # metrics.m DESC
    got, token, pages = [], None, 0
    while True:
        body = {"experiment_ids": [exp], "max_results": 10, "order_by": ["metrics.m DESC"]}
        if token:
            body["page_token"] = token
        page = ok(call(platform, "POST", "runs/search", json=body))
        got += [r["info"]["run_id"] for r in page["runs"]]
        pages += 1
        token = page.get("next_page_token")
        if not token:
            break
    assert got == want and pages == 3
    for i in range(3):
        ok(call(platform, "POST", "experiments/create", json={"name": f"e{i}"}))
    page = ok(call(platform, "POST", "experiments/search", json={"max_results": 2}))
    assert len(page["experiments"]) == 2 and page["next_page_token"]
    rest = ok(call(platform, "POST", "experiments/search",
                   json={"max_results": 2, "page_token": page["next_page_token"]}))
    seen = {e["name"] for e in page["experiments"] + rest["experiments"]}
    assert len(seen) == 4
    r = call(platform, "POST", "runs/search", json={"experiment_ids": [exp], "page_token": "!!"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_bad_input(platform):
    def err(r, status, code):
        assert r.status_code == status, r.text
        assert r.json()["error_code"] == code, r.text

    exp = ok(call(platform, "POST", "experiments/create", json={"name": "bad"}))["experiment_id"]
    rid = new_run(platform, exp)
    missing = "f" * 32
    err(call(platform, "GET", "runs/get", params={"run_id": missing}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "GET", "experiments/get", params={"experiment_id": "999"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "GET", "experiments/get", params={"experiment_id": "abc"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "POST", "runs/log-metric", json={"run_id": missing, "key": "a", "value": 1, "timestamp": 1}),
        404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "POST", "runs/create", json={"experiment_id": "12345"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "GET", "metrics/get-history", params={"run_id": missing, "metric_key": "a"}),
        404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "POST", "runs/delete-tag", json={"run_id": rid, "key": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "POST", "experiments/create", json={"name": "bad"}), 400, "RESOURCE_ALREADY_EXISTS")
    # malformed JSON and wrong types
    r = call(platform, "POST", "runs/log-metric", data="{not json")
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
    err(call(platform, "POST", "runs/log-metric", json=[1, 2]), 400, "BAD_REQUEST")
    err(call(platform, "POST", "runs/log-metric", json={"run_id": rid, "key": "a", "value": "high", "timestamp": 1}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/log-metric", json={"run_id": rid, "key": "a", "value": 1, "timestamp": "soon"}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/log-metric", json={"run_id": rid, "key": "a", "value": 1}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/log-parameter", json={"run_id": rid, "key": "a", "value": {"x": 1}}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/log-parameter", json={"key": "a", "value": "1"}), 400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/update", json={"run_id": rid, "status": "DONE"}), 400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/search", json={"experiment_ids": [exp], "filter": "metrics.a LIKE 'x'"}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/search", json={"experiment_ids": [exp], "filter": "metrics.a > 1 or metrics.b > 1"}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/search", json={"experiment_ids": [exp], "max_results": 50001}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/log-parameter", json={"run_id": rid, "key": "k" * 251, "value": "1"}),
        400, "INVALID_PARAMETER_VALUE")
    # params are immutable
    ok(call(platform, "POST", "runs/log-parameter", json={"run_id": rid, "key": "p", "value": "1"}))
    err(call(platform, "POST", "runs/log-parameter", json={"run_id": rid, "key": "p", "value": "2"}),
        400, "INVALID_PARAMETER_VALUE")
    # log-batch limits, and a failing batch writes nothing
    many = [{"key": f"m{i}", "value": i, "timestamp": 1} for i in range(1001)]
    err(call(platform, "POST", "runs/log-batch", json={"run_id": rid, "metrics": many}), 400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "runs/log-batch", json={
        "run_id": rid, "metrics": [{"key": "atomic", "value": 1, "timestamp": 1}],
        "params": [{"key": "p", "value": "changed"}]}), 400, "INVALID_PARAMETER_VALUE")
    hist = ok(call(platform, "GET", "metrics/get-history", params={"run_id": rid, "metric_key": "atomic"}))
    assert hist == {}
    ok(call(platform, "POST", "runs/log-batch", json={"run_id": rid, "metrics": many[:1000]}))
    # oversized body
    r = call(platform, "POST", "runs/log-metric", data="x" * (2 << 20))
    assert r.status_code == 413
    # the platform still answers
    ok(call(platform, "GET", "runs/get", params={"run_id": rid}))


def test_needs_a_token(platform):
    r = requests.get(platform.url + API + "experiments/get", params={"experiment_id": "0"}, timeout=10)
    assert r.status_code == 401
    r = requests.post(platform.url + API + "runs/create", json={}, timeout=10,
                      headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def _logger(args):
    url, token, rid, worker, n = args
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + token
    bad = []
    for i in range(n):
        r = s.post(url + API + "runs/log-metric", timeout=60, json={
            "run_id": rid, "key": f"w{worker}", "value": i, "timestamp": i, "step": i})
        if r.status_code != 200:
            bad.append((r.status_code, r.text[:200]))
    return bad


def test_eight_processes_log_at_once(platform):
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "load"}))["experiment_id"]
    rid = new_run(platform, exp)
    n = 1000
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        results = pool.map(_logger, [(platform.url, platform.token, rid, w, n) for w in range(8)])
    assert [b for b in results if b] == []
    total = 0
    for w in range(8):
        hist = ok(call(platform, "GET", "metrics/get-history", params={"run_id": rid, "metric_key": f"w{w}"}))
        steps = sorted(m["step"] for m in hist["metrics"])
        assert steps == list(range(n))
        total += len(steps)
    assert total == 8 * n
    run = ok(call(platform, "GET", "runs/get", params={"run_id": rid}))["run"]
    assert {m["key"]: m["step"] for m in run["data"]["metrics"]} == {f"w{w}": n - 1 for w in range(8)}


def test_runs_survive_a_restart(home_platform):
    p = home_platform.start()
    exp = ok(call(p, "POST", "experiments/create", json={"name": "keep"}))["experiment_id"]
    rid = new_run(p, exp)
    ok(call(p, "POST", "runs/log-parameter", json={"run_id": rid, "key": "a", "value": "1"}))
    assert p.stop() == 0
    p.start()
    run = ok(call(p, "GET", "runs/get", params={"run_id": rid}))["run"]
    assert run["data"]["params"] == [{"key": "a", "value": "1"}]
    assert ok(call(p, "GET", "experiments/get", params={"experiment_id": "0"}))["experiment"]["name"] == "Default"


def test_doubles_round_trip(platform):
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "doubles"}))["experiment_id"]
    rid = new_run(platform, exp)
    values = [0.95, 0.1 + 0.2, 1.0, -2.5e-300, 1e300, 123456789.125, "Infinity", "-Infinity", "NaN"]
    for i, v in enumerate(values):
        ok(call(platform, "POST", "runs/log-metric",
                json={"run_id": rid, "key": "v", "value": v, "timestamp": i, "step": i}))
    r = call(platform, "GET", "metrics/get-history", params={"run_id": rid, "metric_key": "v"})
    got = [m["value"] for m in ok(r)["metrics"]]
    assert got == values
    # shortest form, as the MLflow server (Python) writes them; whole numbers stay floats
    assert '"value":0.95,' in r.text and '"value":1.0,' in r.text
    assert '"value":0.30000000000000004,' in r.text
