"""skiff as a KServe model server: deploy/kserve/servingruntime.yaml passes
skiff's resource validation, and its container's own args (`skiff serve
--model-name {{.Name}} --model-dir /mnt/models --listen ... --auth none`)
serve a model folder end to end, as KServe would start them."""
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import requests
import yaml

from conftest import SKIFF_BIN
from test_serving_helpers import data, predict, token, train, v2_body

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kserve"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(args, env, log):
    p = subprocess.Popen([SKIFF_BIN, *args], env=env, stdout=subprocess.PIPE, stderr=log)
    line = p.stdout.readline().decode().strip()
    assert line.startswith("http://"), log.name
    return p, line


def stop(p):
    p.terminate()
    assert p.wait(timeout=20) == 0


def test_manifests_pass_validation(platform):
    for f in ("servingruntime.yaml", "inferenceservice.yaml"):
        r = platform.cli("apply", "-f", str(DEPLOY / f), check=0)
        assert "warning" not in r.stderr.lower(), r.stderr
    r = platform.api("GET", "/api/v1/servingruntimes/skiff-xgboost")
    assert r.status_code == 200, r.text
    spec = r.json()["spec"]
    assert {f["name"] for f in spec["supportedModelFormats"]} == {"xgboost"}
    assert spec["protocolVersions"] == ["v1", "v2"]


def test_runtime_container_args_serve_a_model_dir(tmp_path):
    rt = yaml.safe_load((DEPLOY / "servingruntime.yaml").read_text())
    c = rt["spec"]["containers"][0]
    port = c["ports"][0]["containerPort"]
    assert port == 8080
    models = tmp_path / "mnt-models"           # what the storage initializer fills
    models.mkdir()
    booster = train(models / "model.json", seed=6)
    local = free_port()
    # KServe's substitutions, and a free local port for the container's 8080
    args = [a.replace("{{.Name}}", "fraud").replace("/mnt/models", str(models))
             .replace(f"0.0.0.0:{port}", f"127.0.0.1:{local}") for a in c["args"]]
    assert args[0] == "serve" and "--auth=none" in args
    env = dict(os.environ)
    env.pop("SKIFF_URL", None)
    for e in c.get("env", []):
        env[e["name"]] = str(tmp_path / "home") if e["name"] == "SKIFF_HOME" else e["value"]
    log = open(tmp_path / "serve.log", "wb")
    p, url = start(args, env, log)
    try:
        assert url == f"http://127.0.0.1:{local}"
        assert requests.get(url + c["readinessProbe"]["httpGet"]["path"], timeout=5).ok
        assert requests.get(url + c["livenessProbe"]["httpGet"]["path"], timeout=5).ok
        X = data(5, seed=8)
        # no token: KServe authenticates in front of the pod
        r = requests.post(url + "/v2/models/fraud/infer", json=v2_body(X), timeout=10)
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["outputs"][0]["data"], predict(booster, X),
                                   atol=1e-6)
        r = requests.post(url + "/v1/models/fraud:predict", json={"instances": X.tolist()},
                          timeout=10)
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["predictions"], predict(booster, X), atol=1e-6)
        assert requests.get(url + "/v2/models/fraud", timeout=5).json()["name"] == "fraud"
    finally:
        stop(p)
        log.close()
    logs = (tmp_path / "serve.log").read_text()
    assert "--auth none" in logs and "without a token" in logs, logs
    assert "Sanitizer" not in logs, logs


def test_model_dir_mode_keeps_tokens_by_default(tmp_path):
    booster = train(tmp_path / "model.json", seed=7)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = dict(os.environ, SKIFF_HOME=str(home))
    env.pop("SKIFF_URL", None)
    log = open(tmp_path / "serve.log", "wb")
    p, url = start(["serve", "--model-name", "fraud", "--model-dir", str(tmp_path),
                    "--listen", "127.0.0.1:0"], env, log)
    try:
        X = data(2, seed=1)
        r = requests.post(url + "/v2/models/fraud/infer", json=v2_body(X), timeout=10)
        assert r.status_code == 401, r.text
        t = token(home, "serving:infer")
        r = requests.post(url + "/v2/models/fraud/infer", json=v2_body(X), timeout=10,
                          headers={"Authorization": "Bearer " + t})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["outputs"][0]["data"], predict(booster, X),
                                   atol=1e-6)
    finally:
        stop(p)
        log.close()


def test_model_dir_mode_bad_usage(tmp_path):
    def run(*args):
        return subprocess.run([SKIFF_BIN, "serve", *args], capture_output=True, text=True,
                              timeout=30, env=dict(os.environ, SKIFF_HOME=str(tmp_path)))
    r = run("--model-name", "fraud")
    assert r.returncode == 2 and "--model-dir" in r.stderr, r.stderr
    r = run("--model-name", "Fraud_1", "--model-dir", str(tmp_path))
    assert r.returncode == 2 and "metadata" in r.stderr and "Fraud_1" in r.stderr, r.stderr
    r = run("--model-name", "fraud", "--model-dir", str(tmp_path), "--model-format", "sklearn")
    assert r.returncode != 0 and "no runtime found" in r.stderr, r.stderr
    r = run("--model-name", "fraud", "--model-dir", str(tmp_path), "--auth", "maybe")
    assert r.returncode == 2 and "--auth" in r.stderr, r.stderr
    r = run("-f", "x.yaml", "--model-name", "fraud", "--model-dir", str(tmp_path))
    assert r.returncode == 2 and "not both" in r.stderr, r.stderr
    r = run("--model-name", "fraud", "--model-dir", str(tmp_path / "nowhere"))
    assert r.returncode != 0 and "nowhere" in r.stderr, r.stderr
