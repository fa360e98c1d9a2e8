"""What the serving tests share: test models trained with python xgboost
(the oracle), InferenceService files, and `skiff serve` run as a process."""
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import requests
import xgboost as xgb
import yaml

from conftest import SKIFF_BIN

FEATURES = ["amount", "age", "hour", "merchant_risk", "velocity", "distance", "device_age"]


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, len(FEATURES))).astype(np.float32)


def train(path, seed=0, invert=False, trees=20, depth=4):
    """A binary:logistic model on 7 named features, saved as XGBoost JSON."""
    X = data(2000, seed)
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 4] > 0).astype(int)
    if invert:
        y = 1 - y
    d = xgb.DMatrix(X, label=y, feature_names=FEATURES)
    b = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.3,
                   "seed": seed}, d, num_boost_round=trees)
    b.save_model(str(path))
    return b


def predict(booster, X):
    return booster.predict(xgb.DMatrix(np.asarray(X, dtype=np.float32), feature_names=FEATURES))


def isvc(name, uri, annotations=None, **predictor):
    pred = {"model": {"modelFormat": {"name": "xgboost"}, "storageUri": str(uri)}}
    pred.update(predictor)
    md = {"name": name}
    if annotations:
        md["annotations"] = annotations
    return yaml.safe_dump({"apiVersion": "serving.kserve.io/v1beta1",
                           "kind": "InferenceService", "metadata": md,
                           "spec": {"predictor": pred}})


def v2_body(X, datatype="FP32", **extra):
    X = np.asarray(X)
    body = {"inputs": [{"name": "input-0", "shape": list(X.shape), "datatype": datatype,
                        "data": X.tolist()}]}
    body.update(extra)
    return body


def token(home, scope, env=None):
    e = dict(os.environ)
    e.pop("SKIFF_URL", None)
    e["SKIFF_HOME"] = str(home)
    e.update(env or {})
    r = subprocess.run([SKIFF_BIN, "token", "--scope", scope, "--ttl", "2h"], env=e,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Served:
    """`skiff serve -f FILE` on a free port, in its own home."""

    def __init__(self, tmp_path, isvc_file, *args, env=None):
        self.home = tmp_path / "serve-home"
        self.home.mkdir(mode=0o700, exist_ok=True)
        self.log_path = tmp_path / "serve.log"
        extra = env or {}
        env = dict(os.environ)
        env.pop("SKIFF_URL", None)
        env.pop("SKIFF_TOKEN_FILE", None)
        env["SKIFF_HOME"] = str(self.home)
        env.update(extra)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([SKIFF_BIN, "serve", "-f", str(isvc_file), "--listen",
                                      "127.0.0.1:0", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode().strip()
        assert line.startswith("http://"), f"skiff serve did not start: {self.logs()}"
        self.url = line
        self.token = token(self.home, "serving:infer serving:read")
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + self.token

    def post(self, path, body=None, **kw):
        kw.setdefault("timeout", 10)
        if body is not None and not isinstance(body, (bytes, str)):
            kw["json"] = body
        elif body is not None:
            kw["data"] = body
        return self.s.post(self.url + path, **kw)

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return self.s.get(self.url + path, **kw)

    def logs(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.log.close()
        return self.proc.returncode


def wait_status(platform, name, pred, timeout=15):
    """Polls the stored InferenceService until pred(status) holds."""
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        r = platform.api("GET", f"/api/v1/inferenceservices/{name}")
        if r.status_code == 200:
            st = r.json().get("status") or {}
            if pred(st):
                return st
        time.sleep(0.05)
    raise AssertionError(f"status of {name} never matched: {json.dumps(st, indent=1)}")


def ready(st):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))


def traffic(st):
    return {t["revisionName"]: t["percent"]
            for t in st.get("components", {}).get("predictor", {}).get("traffic", [])}


def apply(platform, tmp_path, text, name="isvc.yaml"):
    f = Path(tmp_path) / name
    f.write_text(text)
    platform.cli("apply", "-f", str(f), check=0)
    return f
