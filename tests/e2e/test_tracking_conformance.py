"""Replays the MLflow 2.10 capture (client <-> real mlflow server) against
`skiff up` and compares what the client depends on: status codes, field
names, value types and error codes (not IDs, timestamps or other values).

Every endpoint of the capture is replayed: the test asserts that the
capture's endpoints are exactly COVERED plus NOT_YET (now empty), so an
endpoint can never be left out silently."""
import base64
import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

# a copy of shared/conformance/mlflow-2.10-capture.jsonl, so the test runs in
# any checkout
CAPTURE = Path(__file__).resolve().parents[1] / "data" / "mlflow-2.10-capture.jsonl"

COVERED = {
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"),
    ("POST", "/api/2.0/mlflow/experiments/create"),
    ("GET", "/api/2.0/mlflow/experiments/get"),
    ("POST", "/api/2.0/mlflow/runs/create"),
    ("POST", "/api/2.0/mlflow/runs/log-parameter"),
    ("POST", "/api/2.0/mlflow/runs/log-batch"),
    ("POST", "/api/2.0/mlflow/runs/log-metric"),
    ("POST", "/api/2.0/mlflow/runs/set-tag"),
    ("GET", "/api/2.0/mlflow/runs/get"),
    ("POST", "/api/2.0/mlflow/runs/update"),
    ("GET", "/api/2.0/mlflow/metrics/get-history"),
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{path}"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{path}"),
    ("POST", "/api/2.0/mlflow/runs/log-model"),
    ("POST", "/api/2.0/mlflow/registered-models/create"),
    ("GET", "/api/2.0/mlflow/registered-models/get"),
    ("GET", "/api/2.0/mlflow/registered-models/search"),
    ("POST", "/api/2.0/mlflow/registered-models/alias"),
    ("GET", "/api/2.0/mlflow/registered-models/alias"),
    ("DELETE", "/api/2.0/mlflow/registered-models/alias"),
    ("POST", "/api/2.0/mlflow/model-versions/create"),
    ("GET", "/api/2.0/mlflow/model-versions/get"),
    ("GET", "/api/2.0/mlflow/model-versions/search"),
    ("GET", "/api/2.0/mlflow/model-versions/get-download-uri"),
}

# Every endpoint of the capture is now served; an entry here would name one
# that is not yet, with why.
NOT_YET = {}


def endpoint(method, path):
    p = urlsplit(path).path
    if p.startswith("/api/2.0/mlflow-artifacts/artifacts/"):
        p = "/api/2.0/mlflow-artifacts/artifacts/{path}"
    return (method, p)


def load():
    return [json.loads(line) for line in CAPTURE.read_text().splitlines() if line.strip()]


def test_every_capture_endpoint_is_covered_or_listed():
    seen = {endpoint(p["method"], p["path"]) for p in load()}
    assert not (COVERED & set(NOT_YET))
    assert seen == COVERED | set(NOT_YET), (seen ^ (COVERED | set(NOT_YET)))


def kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        # int64 fields are JSON integers, doubles JSON numbers: a double that
        # happens to be whole (1.0) may print either way
        return "number"
    return type(v).__name__


def shape_equal(got, want, where="$"):
    """Same field names and value types, recursively; lists of {key: ...}
    are matched by key (their order is not part of the API)."""
    assert kind(got) == kind(want), f"{where}: {kind(got)} != {kind(want)} ({got!r} vs {want!r})"
    if isinstance(want, dict):
        assert set(got) == set(want), f"{where}: fields {sorted(got)} != {sorted(want)}"
        for k in want:
            shape_equal(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        if want and all(isinstance(x, dict) and "key" in x for x in want):
            g = {x["key"]: x for x in got}
            w = {x["key"]: x for x in want}
            assert set(g) == set(w), f"{where}: keys {sorted(g)} != {sorted(w)}"
            for k in w:
                shape_equal(g[k], w[k], f"{where}[{k}]")
        else:
            assert len(got) == len(want), f"{where}: {len(got)} items != {len(want)}"
            for i, (a, b) in enumerate(zip(got, want)):
                shape_equal(a, b, f"{where}[{i}]")


class Ids:
    """Recorded IDs -> the ones this server returned."""

    def __init__(self):
        self.exp = {}
        self.run = {}

    def learn(self, pair, got):
        want = pair.get("resp_json") or {}
        if "experiment_id" in want and isinstance(got, dict):
            self.exp[want["experiment_id"]] = got["experiment_id"]
        if "run" in want and isinstance(got, dict) and "run" in got:
            self.run[want["run"]["info"]["run_id"]] = got["run"]["info"]["run_id"]

    def text(self, s):
        for a, b in self.run.items():
            s = s.replace(a, b)
        return s

    def body(self, obj):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if k == "experiment_id" and isinstance(v, str):
                    out[k] = self.exp.get(v, v)
                elif k == "experiment_ids":
                    out[k] = [self.exp.get(x, x) for x in v]
                else:
                    out[k] = self.body(v)
            return out
        if isinstance(obj, list):
            return [self.body(x) for x in obj]
        if isinstance(obj, str):
            return self.text(obj)
        return obj

    def path(self, path):
        u = urlsplit(path)
        q = [(k, self.exp.get(v, v) if k == "experiment_id" else self.text(v))
             for k, v in parse_qsl(u.query, keep_blank_values=True)]
        return self.text(u.path) + ("?" + urlencode(q) if q else "")


def test_replay_covered_pairs(platform):
    ids = Ids()
    replayed = 0
    for pair in load():
        if endpoint(pair["method"], pair["path"]) not in COVERED:
            continue
        kw = {}
        if pair["method"] == "PUT":  # an artifact upload: the file's bytes
            if "req_body_b64" in pair:
                kw["data"] = base64.b64decode(pair["req_body_b64"])
            elif "req_body" in pair:
                kw["data"] = pair["req_body"].encode()
            else:
                kw["data"] = json.dumps(pair["req_json"]).encode()
        elif "req_json" in pair and pair["req_json"] is not None:
            kw["json"] = ids.body(pair["req_json"])
        r = platform.api(pair["method"], ids.path(pair["path"]), **kw)
        where = f"seq {pair['seq']} {pair['method']} {pair['path']}"
        assert r.status_code == pair["status"], f"{where}: {r.status_code} {r.text}"
        if not pair["resp_content_type"].startswith("application/json"):
            # an artifact download: same content type and bytes
            assert r.headers["Content-Type"].split(";")[0] == pair["resp_content_type"].split(";")[0], where
            if "resp_body_b64" in pair:
                assert r.content == base64.b64decode(pair["resp_body_b64"]), where
            elif "resp_body" in pair:
                assert r.text == pair["resp_body"], where
            else:
                assert json.loads(r.content) == pair["resp_json"], where
            replayed += 1
            continue
        assert r.headers["Content-Type"].startswith("application/json"), where
        got = r.json()
        want = pair["resp_json"]
        if "error_code" in want:
            assert got["error_code"] == want["error_code"], f"{where}: {got}"
            assert isinstance(got["message"], str)
        else:
            shape_equal(got, want, where)
        ids.learn(pair, got)
        replayed += 1
    assert replayed == sum(1 for p in load() if endpoint(p["method"], p["path"]) in COVERED)
    assert re.fullmatch(r"[0-9a-f]{32}", next(iter(ids.run.values())))
