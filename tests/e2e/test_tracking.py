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


ART = "/api/2.0/mlflow-artifacts/artifacts"


def test_artifacts_round_trip(platform):
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "arts"}))["experiment_id"]
    rid = new_run(platform, exp)
    uri = ok(call(platform, "GET", "runs/get", params={"run_id": rid}))["run"]["info"]["artifact_uri"]
    assert uri == f"mlflow-artifacts:/{exp}/{rid}/artifacts"
    root = uri[len("mlflow-artifacts:/"):]
    big = bytes(range(256)) * (20 * 4096)  # 20 MiB, every byte value
    ok(platform.api("PUT", f"{ART}/{root}/model/model.bin", data=big, timeout=60))
    ok(platform.api("PUT", f"{ART}/{root}/model/MLmodel", data=b"flavors: {}\n"))
    ok(platform.api("PUT", f"{ART}/{root}/notes.txt", data=b"v1"))
    ok(platform.api("PUT", f"{ART}/{root}/notes.txt", data=b"hello"))  # overwrite
    ok(platform.api("PUT", f"{ART}/{root}/empty", data=b""))

    r = platform.api("GET", f"{ART}/{root}/model/model.bin", timeout=60)
    assert r.status_code == 200 and r.content == big
    assert r.headers["Content-Type"] == "application/octet-stream"
    r = platform.api("GET", f"{ART}/{root}/notes.txt")
    assert r.text == "hello" and r.headers["Content-Type"].startswith("text/plain")
    assert platform.api("GET", f"{ART}/{root}/empty").content == b""

    # listing: basenames, files with sizes, folders without
    files = ok(platform.api("GET", ART, params={"path": root}))["files"]
    assert sorted(files, key=lambda f: f["path"]) == [
        {"path": "empty", "is_dir": False, "file_size": 0},
        {"path": "model", "is_dir": True},
        {"path": "notes.txt", "is_dir": False, "file_size": 5}]
    assert ok(platform.api("GET", ART, params={"path": root + "/notes.txt"})) == {}
    assert ok(platform.api("GET", ART, params={"path": root + "/nope"})) == {}
    # the run's listing: paths relative to the run root
    lst = ok(call(platform, "GET", "artifacts/list", params={"run_id": rid, "path": "model"}))
    assert lst["root_uri"] == uri
    assert sorted(f["path"] for f in lst["files"]) == ["model/MLmodel", "model/model.bin"]
    top = ok(call(platform, "GET", "artifacts/list", params={"run_id": rid}))
    assert {f["path"] for f in top["files"]} == {"empty", "model", "notes.txt"}

    # delete a file, then a folder
    ok(platform.api("DELETE", f"{ART}/{root}/notes.txt"))
    r = platform.api("GET", f"{ART}/{root}/notes.txt")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    ok(platform.api("DELETE", f"{ART}/{root}/model"))
    assert ok(platform.api("GET", ART, params={"path": root + "/model"})) == {}
    # a folder is not a file
    ok(platform.api("PUT", f"{ART}/{root}/d/x", data=b"x"))
    r = platform.api("GET", f"{ART}/{root}/d")
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # reading needs a token
    assert requests.get(platform.url + f"{ART}/{root}/d/x", timeout=10).status_code == 401
    # multipart upload is declined so that the client falls back to PUT
    r = platform.api("POST", f"/api/2.0/mlflow-artifacts/mpu/create/{root}/big.bin", json={"path": "big.bin"})
    assert r.status_code == 501 and r.json()["error_code"] == "NOT_IMPLEMENTED"


def test_artifact_path_escapes(platform, tmp_path):
    def bad(r):
        assert r.status_code == 400, r.text
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text

    for p in ["a/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "%2E%2E/x", "a/%2e/b", "a/%2e%2e%2fb", "..%2f..%2fx"]:
        bad(platform.api("PUT", f"{ART}/{p}", data=b"owned"))
        bad(platform.api("GET", f"{ART}/{p}"))
        bad(platform.api("DELETE", f"{ART}/{p}"))
    for p in ["../x", "a/../../b", "/etc", "..", "a/.."]:
        bad(platform.api("GET", ART, params={"path": p}))
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "esc"}))["experiment_id"]
    rid = new_run(platform, exp)
    for p in ["../../..", "/etc", "x/../../../y"]:
        bad(call(platform, "GET", "artifacts/list", params={"run_id": rid, "path": p}))
    # nothing was written outside the artifact root
    assert not list(platform.home.parent.glob("**/owned"))
    assert not (platform.home / "etc").exists() and not (platform.home.parent / "x").exists()


def test_log_model_and_inputs(platform):
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "lm"}))["experiment_id"]
    rid = new_run(platform, exp)
    model = {"run_id": rid, "artifact_path": "model", "utc_time_created": "2026-01-01 10:00:00.000000",
             "flavors": {"xgboost": {"model_format": "xgb"}}, "signature": {"inputs": "[]"}}
    ok(call(platform, "POST", "runs/log-model", json={"run_id": rid, "model_json": json.dumps(model)}))
    model2 = dict(model, artifact_path="model2")
    ok(call(platform, "POST", "runs/log-model", json={"run_id": rid, "model_json": json.dumps(model2)}))
    tags = {t["key"]: t["value"] for t in
            ok(call(platform, "GET", "runs/get", params={"run_id": rid}))["run"]["data"]["tags"]}
    hist = json.loads(tags["mlflow.log-model.history"])
    assert [h["artifact_path"] for h in hist] == ["model", "model2"]
    assert "signature" not in hist[0] and hist[0]["flavors"] == model["flavors"]
    for bad in ["not json", json.dumps({"run_id": rid}), "[1]"]:
        r = call(platform, "POST", "runs/log-model", json={"run_id": rid, "model_json": bad})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text

    ds = {"name": "train", "digest": "abc123", "source_type": "local", "source": '{"uri": "/data/train.csv"}',
          "schema": '{"mlflow_colspec": []}'}
    body = {"run_id": rid, "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
                                         "dataset": ds}]}
    ok(call(platform, "POST", "runs/log-inputs", json=body))
    ok(call(platform, "POST", "runs/log-inputs", json=body))  # the same input again: kept once
    ok(call(platform, "POST", "runs/log-inputs", json={"run_id": rid, "datasets": [
        {"dataset": dict(ds, name="eval", digest="def")}]}))
    inputs = ok(call(platform, "GET", "runs/get", params={"run_id": rid}))["run"]["inputs"]["dataset_inputs"]
    assert inputs[0] == {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": ds}
    assert [i["dataset"]["name"] for i in inputs] == ["train", "eval"] and "tags" not in inputs[1]
    r = call(platform, "POST", "runs/log-inputs", json={"run_id": rid, "datasets": [{"dataset": {"name": "x"}}]})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = call(platform, "POST", "runs/log-inputs", json={"run_id": "f" * 32, "datasets": []})
    assert r.status_code == 404


def test_model_registry(platform):
    def err(r, status, code):
        assert r.status_code == status, r.text
        assert r.json()["error_code"] == code, r.text

    exp = ok(call(platform, "POST", "experiments/create", json={"name": "fraud"}))["experiment_id"]
    rid = new_run(platform, exp, tags=[{"key": "skiff.workflow", "value": "train-abc"},
                                       {"key": "skiff.step", "value": "train"}])
    root = f"{exp}/{rid}/artifacts"
    ok(platform.api("PUT", f"{ART}/{root}/model/MLmodel", data=b"flavors: {}\n"))
    ok(platform.api("PUT", f"{ART}/{root}/model/model.xgb", data=b"\x00model"))
    source = f"mlflow-artifacts:/{root}/model"

    rm = ok(call(platform, "POST", "registered-models/create", json={
        "name": "fraud-detector", "description": "card fraud", "tags": [{"key": "team", "value": "risk"}]}))
    assert rm["registered_model"]["name"] == "fraud-detector"
    assert rm["registered_model"]["tags"] == [{"key": "team", "value": "risk"}]
    # the client tolerates this one and goes on to create a version
    err(call(platform, "POST", "registered-models/create", json={"name": "fraud-detector"}),
        400, "RESOURCE_ALREADY_EXISTS")
    v1 = ok(call(platform, "POST", "model-versions/create",
                 json={"name": "fraud-detector", "source": source, "run_id": rid}))["model_version"]
    assert v1["version"] == "1" and v1["current_stage"] == "None" and v1["status"] == "READY"
    assert v1["run_id"] == rid and v1["source"] == source
    v2 = ok(call(platform, "POST", "model-versions/create", json={
        "name": "fraud-detector", "source": f"runs:/{rid}/model", "run_id": rid,
        "tags": [{"key": "k", "value": "v"}]}))["model_version"]
    assert v2["version"] == "2" and v2["tags"] == [{"key": "k", "value": "v"}]
    # runs:/ sources resolve to the run's artifact location
    uri = ok(call(platform, "GET", "model-versions/get-download-uri",
                  params={"name": "fraud-detector", "version": "2"}))["artifact_uri"]
    assert uri == source

    # aliases: set, move, read, reserved names
    ok(call(platform, "POST", "registered-models/alias",
            json={"name": "fraud-detector", "alias": "champion", "version": "2"}))
    ok(call(platform, "POST", "registered-models/alias",
            json={"name": "fraud-detector", "alias": "champion", "version": "1"}))
    mv = ok(call(platform, "GET", "registered-models/alias",
                 params={"name": "fraud-detector", "alias": "champion"}))["model_version"]
    assert mv["version"] == "1" and mv["aliases"] == ["champion"]
    # models:/fraud-detector@champion, as the client resolves it: alias -> version -> files
    uri = ok(call(platform, "GET", "model-versions/get-download-uri",
                  params={"name": "fraud-detector", "version": mv["version"]}))["artifact_uri"]
    files = ok(platform.api("GET", ART, params={"path": uri[len("mlflow-artifacts:/"):]}))["files"]
    assert sorted(f["path"] for f in files) == ["MLmodel", "model.xgb"]
    assert platform.api("GET", f"{ART}/{root}/model/model.xgb").content == b"\x00model"
    # the lineage: version -> run -> the workflow step that produced it
    run = ok(call(platform, "GET", "runs/get", params={"run_id": mv["run_id"]}))["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["skiff.workflow"] == "train-abc" and tags["skiff.step"] == "train"
    latest = ok(call(platform, "GET", "registered-models/alias",
                     params={"name": "fraud-detector", "alias": "latest"}))["model_version"]
    assert latest["version"] == "2"
    for bad in ["latest", "V1", "has space", "a" * 256]:
        err(call(platform, "POST", "registered-models/alias",
                 json={"name": "fraud-detector", "alias": bad, "version": "1"}), 400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "GET", "registered-models/alias", params={"name": "fraud-detector", "alias": "nope"}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "registered-models/alias",
             json={"name": "fraud-detector", "alias": "x", "version": "9"}), 404, "RESOURCE_DOES_NOT_EXIST")

    # stages
    t = ok(call(platform, "POST", "model-versions/transition-stage", json={
        "name": "fraud-detector", "version": "1", "stage": "production",
        "archive_existing_versions": False}))["model_version"]
    assert t["current_stage"] == "Production"
    ok(call(platform, "POST", "model-versions/transition-stage", json={
        "name": "fraud-detector", "version": "2", "stage": "Production", "archive_existing_versions": True}))
    got = ok(call(platform, "GET", "model-versions/get", params={"name": "fraud-detector", "version": "1"}))
    assert got["model_version"]["current_stage"] == "Archived"
    lv = ok(call(platform, "POST", "registered-models/get-latest-versions",
                 json={"name": "fraud-detector", "stages": ["Production"]}))["model_versions"]
    assert [v["version"] for v in lv] == ["2"]
    lv = ok(call(platform, "POST", "registered-models/get-latest-versions", json={"name": "fraud-detector"}))
    assert sorted((v["current_stage"], v["version"]) for v in lv["model_versions"]) == [
        ("Archived", "1"), ("Production", "2")]
    err(call(platform, "POST", "model-versions/transition-stage", json={
        "name": "fraud-detector", "version": "1", "stage": "Prod", "archive_existing_versions": False}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "model-versions/transition-stage", json={
        "name": "fraud-detector", "version": "1", "stage": "Archived", "archive_existing_versions": True}),
        400, "INVALID_PARAMETER_VALUE")

    # tags, descriptions, searches
    ok(call(platform, "POST", "registered-models/set-tag", json={"name": "fraud-detector", "key": "a", "value": "1"}))
    ok(call(platform, "DELETE", "registered-models/delete-tag", json={"name": "fraud-detector", "key": "team"}))
    ok(call(platform, "POST", "model-versions/set-tag",
            json={"name": "fraud-detector", "version": "1", "key": "ok", "value": "yes"}))
    ok(call(platform, "DELETE", "model-versions/delete-tag", json={"name": "fraud-detector", "version": "2", "key": "k"}))
    upd = ok(call(platform, "PATCH", "registered-models/update", json={"name": "fraud-detector", "description": "new"}))
    assert upd["registered_model"]["description"] == "new"
    upd = ok(call(platform, "PATCH", "model-versions/update",
                  json={"name": "fraud-detector", "version": "1", "description": "first"}))
    assert upd["model_version"]["description"] == "first"
    ok(call(platform, "POST", "registered-models/create", json={"name": "other-model"}))
    found = ok(call(platform, "GET", "registered-models/search", params={"filter": "name LIKE 'fraud%'"}))
    assert [m["name"] for m in found["registered_models"]] == ["fraud-detector"]
    found = ok(call(platform, "GET", "registered-models/search", params={"filter": "tags.a = '1'"}))
    assert [m["name"] for m in found["registered_models"]] == ["fraud-detector"]
    page = ok(call(platform, "GET", "registered-models/search", params={"max_results": 1}))
    assert [m["name"] for m in page["registered_models"]] == ["fraud-detector"] and page["next_page_token"]
    page = ok(call(platform, "GET", "registered-models/search",
                   params={"max_results": 1, "page_token": page["next_page_token"]}))
    assert [m["name"] for m in page["registered_models"]] == ["other-model"]
    vs = ok(call(platform, "GET", "model-versions/search",
                 params={"filter": f"name = 'fraud-detector' AND run_id = '{rid}' AND version_number > 1"}))
    assert [v["version"] for v in vs["model_versions"]] == ["2"]
    vs = ok(call(platform, "GET", "model-versions/search", params={"filter": "tags.ok = 'yes'"}))
    assert [v["version"] for v in vs["model_versions"]] == ["1"]
    err(call(platform, "GET", "model-versions/search", params={"filter": "bogus = 1"}), 400, "INVALID_PARAMETER_VALUE")

    # rename moves versions and aliases; errors as MLflow gives them
    ok(call(platform, "POST", "registered-models/rename", json={"name": "fraud-detector", "new_name": "fraud-v2"}))
    mv = ok(call(platform, "GET", "registered-models/alias", params={"name": "fraud-v2", "alias": "champion"}))
    assert mv["model_version"]["name"] == "fraud-v2"
    err(call(platform, "GET", "registered-models/get", params={"name": "fraud-detector"}), 404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "POST", "registered-models/rename", json={"name": "fraud-v2", "new_name": "other-model"}),
        400, "RESOURCE_ALREADY_EXISTS")
    err(call(platform, "GET", "model-versions/get", params={"name": "fraud-v2", "version": "7"}),
        404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "GET", "model-versions/get", params={"name": "fraud-v2", "version": "x"}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "model-versions/create", json={"name": "nope", "source": source}),
        404, "RESOURCE_DOES_NOT_EXIST")
    err(call(platform, "POST", "model-versions/create", json={"name": "fraud-v2"}), 400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "model-versions/create", json={"name": "fraud-v2", "source": "mlflow-artifacts:/1/../../x"}),
        400, "INVALID_PARAMETER_VALUE")
    err(call(platform, "POST", "model-versions/create", json={"name": "fraud-v2", "source": source, "run_id": "f" * 32}),
        404, "RESOURCE_DOES_NOT_EXIST")

    # deleting a version drops its aliases; deleting the model drops everything
    ok(call(platform, "DELETE", "model-versions/delete", json={"name": "fraud-v2", "version": "1"}))
    err(call(platform, "GET", "registered-models/alias", params={"name": "fraud-v2", "alias": "champion"}),
        400, "INVALID_PARAMETER_VALUE")
    v3 = ok(call(platform, "POST", "model-versions/create", json={"name": "fraud-v2", "source": source}))
    assert v3["model_version"]["version"] == "3" and "run_id" not in v3["model_version"]
    ok(call(platform, "DELETE", "registered-models/delete", json={"name": "fraud-v2"}))
    err(call(platform, "GET", "registered-models/get", params={"name": "fraud-v2"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert ok(call(platform, "GET", "model-versions/search", params={"filter": "name = 'fraud-v2'"})) == {}


def test_cli_runs_and_models(platform):
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "fraud"}))["experiment_id"]
    other = ok(call(platform, "POST", "experiments/create", json={"name": "other"}))["experiment_id"]
    rid = new_run(platform, exp, run_name="good", tags=[{"key": "skiff.workflow", "value": "wf-1"}])
    ok(call(platform, "POST", "runs/log-metric", json={"run_id": rid, "key": "auc", "value": 0.95, "timestamp": 1}))
    low = new_run(platform, exp, run_name="weak")
    ok(call(platform, "POST", "runs/log-metric", json={"run_id": low, "key": "auc", "value": 0.6, "timestamp": 1}))
    elsewhere = new_run(platform, other, run_name="elsewhere")
    ok(platform.api("PUT", f"{ART}/{exp}/{rid}/artifacts/model/MLmodel", data=b"flavors: {}\n"))

    out = platform.cli("runs", "list", check=0).stdout
    assert rid in out and low in out and elsewhere in out and "wf-1" in out and "RUN ID" in out
    out = platform.cli("runs", "list", "--experiment", "fraud", "--filter", "metrics.auc > 0.9", check=0).stdout
    assert rid in out and low not in out and elsewhere not in out
    runs = json.loads(platform.cli("runs", "list", "--experiment", "other", "-o", "json", check=0).stdout)
    assert [r["info"]["run_id"] for r in runs["runs"]] == [elsewhere]
    r = platform.cli("runs", "list", "--experiment", "nope")
    assert r.returncode == 1 and "no experiment named 'nope'" in r.stderr
    r = platform.cli("runs", "list", "--filter", "metrics.auc >> 1")
    assert r.returncode == 2 and "invalid filter" in r.stderr
    got = json.loads(platform.cli("runs", "get", rid, "-o", "json", check=0).stdout)
    assert got["info"]["run_id"] == rid and got["data"]["metrics"][0]["key"] == "auc"
    assert "run_name: good" in platform.cli("runs", "get", rid, check=0).stdout
    r = platform.cli("runs", "get", "f" * 32)
    assert r.returncode == 1 and f"Run with id={'f' * 32} not found" in r.stderr
    assert platform.cli("runs", "get", "../x").returncode == 2
    assert platform.cli("runs").returncode == 2
    assert "skiff runs list" in platform.cli("runs", "--help", check=0).stdout

    out = platform.cli("models", "register", "--run", rid, "--path", "model", "--name", "fraud-detector",
                       check=0).stdout
    assert "registered fraud-detector version 1" in out
    out = platform.cli("models", "register", "--run", rid, "--path", "model", "--name", "fraud-detector",
                       check=0).stdout
    assert "version 2" in out
    assert "models:/fraud-detector@champion -> version 1" in platform.cli(
        "models", "alias", "fraud-detector", "1", "champion", check=0).stdout
    mv = ok(call(platform, "GET", "registered-models/alias",
                 params={"name": "fraud-detector", "alias": "champion"}))["model_version"]
    assert mv["source"] == f"mlflow-artifacts:/{exp}/{rid}/artifacts/model" and mv["run_id"] == rid
    out = platform.cli("models", "list", check=0).stdout
    assert "fraud-detector" in out and "champion=v1" in out
    m = json.loads(platform.cli("models", "get", "fraud-detector", "-o", "json", check=0).stdout)
    assert [v["version"] for v in m["versions"]] == ["2", "1"]
    assert m["aliases"] == [{"alias": "champion", "version": "1"}]
    assert "name: fraud-detector" in platform.cli("models", "get", "fraud-detector", check=0).stdout
    r = platform.cli("models", "get", "nope")
    assert r.returncode == 1 and "Registered Model with name=nope not found" in r.stderr
    r = platform.cli("models", "alias", "fraud-detector", "1", "latest")
    assert r.returncode == 2 and "reserved" in r.stderr
    r = platform.cli("models", "alias", "fraud-detector", "9", "x")
    assert r.returncode == 1 and "version=9" in r.stderr
    assert platform.cli("models", "register", "--run", rid).returncode == 2
    assert "skiff models alias" in platform.cli("help", "models", check=0).stdout
    ok(call(platform, "POST", "registered-models/create", json={"name": "a b'c"}))
    m = json.loads(platform.cli("models", "get", "a b'c", "-o", "json", check=0).stdout)
    assert m["name"] == "a b'c" and m["versions"] == []


def test_lineage_comes_from_the_step_token(platform, tmp_path):
    """A workflow step's token names its workload; the runs it creates record
    it, and a tag the client sets cannot claim another step's work."""
    tf = tmp_path / "step.token"
    platform.cli("token", "--sub", "system:serviceaccount:argo-workflow-sa", "--scope",
                 "tracking:*", "--workload", "0f3c9a2e-uid/train", "--ttl", "5m",
                 "--out", str(tf), check=0)
    tok = tf.read_text().strip()
    exp = ok(platform.api("POST", "/api/2.0/mlflow/experiments/create", token=tok,
                          json={"name": "lineage"}))["experiment_id"]
    run = ok(platform.api("POST", "/api/2.0/mlflow/runs/create", token=tok,
                          json={"experiment_id": exp,
                                "tags": [{"key": "skiff.step", "value": "forged"}]}))["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["skiff.workflow"] == "0f3c9a2e-uid" and tags["skiff.step"] == "train"
    # the admin token names no workload: no lineage tags are invented
    run = ok(platform.api("POST", "/api/2.0/mlflow/runs/create",
                          json={"experiment_id": exp}))["run"]
    assert "skiff.workflow" not in {t["key"] for t in run["data"]["tags"]}


def test_order_by_a_metric_puts_runs_without_it_last(platform):
    exp = ok(call(platform, "POST", "experiments/create", json={"name": "order"}))["experiment_id"]
    ids = {}
    for name, auc in [("low", 0.1), ("none", None), ("high", 0.9)]:
        rid = new_run(platform, exp, run_name=name)
        ids[rid] = name
        if auc is not None:
            ok(call(platform, "POST", "runs/log-metric",
                    json={"run_id": rid, "key": "auc", "value": auc, "timestamp": 1}))
    for direction, want in [("DESC", ["high", "low", "none"]), ("ASC", ["low", "high", "none"])]:
        runs = ok(call(platform, "POST", "runs/search",
                       json={"experiment_ids": [exp], "order_by": [f"metrics.auc {direction}"]}))["runs"]
        assert [ids[r["info"]["run_id"]] for r in runs] == want, direction
