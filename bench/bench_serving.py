"""Model serving over HTTP: skiff's V2 infer (`skiff serve`) against a
FastAPI + uvicorn + python-xgboost server (bench/peers/fastapi_server.py),
the same model (100 trees of depth 6, 7 features), wrk on loopback,
single-row and batch-32 bodies at 1 and 32 connections; and the ceiling,
GET /v2/health/live on the same skiff server (a fixed reply, nothing parsed
or computed), with infer reported as a fraction of it (issue 8).

    /usr/bin/python3 bench/bench_serving.py build/skiff
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb

from common import free_port, machine, wait_http

SKIFF = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/skiff")
HERE = os.path.dirname(os.path.abspath(__file__))
DURATION = os.environ.get("BENCH_SERVING_DURATION", "5s")


def train(path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 7)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] - 0.3 * X[:, 4] + rng.normal(size=20000) * 0.3 > 0)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1},
                  xgb.DMatrix(X, label=y.astype(int)), num_boost_round=100)
    b.save_model(path)
    return X


def lua(path, body, token):
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write("wrk.body = '%s'\n" % json.dumps(body))
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        if token:
            f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)


def to_ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, conns, script=None, pid=None):
    """req/s, p50 ms, p99 ms and the server's CPU microseconds per request
    (a figure that holds up better than req/s on a shared machine)."""
    c0 = cpu_s(pid)
    # one wrk thread: on 2 cores, one core generates load and one serves;
    # two wrk threads and the server fight over both and the tail measures
    # the scheduler (GET /v2/health/live p99 7.6 ms that way, 0.3 ms this way)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{DURATION}", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=120).stdout
    cpu = cpu_s(pid) - c0
    n = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {p: to_ms(v, u) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not bad, f"{url}: {bad.group(0)}\n{out}"
    return rps, pct.get("50", float("nan")), pct.get("99", float("nan")), cpu * 1e6 / n


def main():
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        os.mkdir(home, 0o700)
        model = os.path.join(tmp, "model.json")
        X = train(model)
        with open(os.path.join(tmp, "isvc.yaml"), "w") as f:
            f.write("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
                    "metadata: {name: fraud}\nspec:\n  predictor:\n    model:\n"
                    "      modelFormat: {name: xgboost}\n      storageUri: model.json\n")
        env = dict(os.environ, SKIFF_HOME=home)
        sport, fport = free_port(), free_port()
        skiff = subprocess.Popen([SKIFF, "serve", "-f", os.path.join(tmp, "isvc.yaml"),
                                  "--listen", f"127.0.0.1:{sport}"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peer = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "peers", "fastapi_server.py"),
                                 model, str(fport)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            surl, furl = f"http://127.0.0.1:{sport}", f"http://127.0.0.1:{fport}"
            wait_http(surl + "/v2/health/live")
            wait_http(furl + "/v2/health/live")
            token = subprocess.run([SKIFF, "token", "--scope", "serving:infer", "--ttl", "2h"],
                                   env=env, capture_output=True, text=True, check=True).stdout.strip()
            bodies = {
                "single-row": {"inputs": [{"name": "input-0", "shape": [1, 7], "datatype": "FP32",
                                           "data": X[:1].tolist()}]},
                "batch-32": {"inputs": [{"name": "input-0", "shape": [32, 7], "datatype": "FP32",
                                         "data": X[:32].tolist()}]},
            }
            results = {}
            ceiling = wrk(surl + "/v2/health/live", 32, pid=skiff.pid)
            for kind, body in bodies.items():
                lua(os.path.join(tmp, f"s-{kind}.lua"), body, token)
                lua(os.path.join(tmp, f"f-{kind}.lua"), body, None)
                for conns in (1, 32):
                    results[("skiff", kind, conns)] = wrk(surl + "/v2/models/fraud/infer", conns,
                                                          os.path.join(tmp, f"s-{kind}.lua"),
                                                          skiff.pid)
                    results[("fastapi", kind, conns)] = wrk(furl + "/v2/models/fraud/infer", conns,
                                                            os.path.join(tmp, f"f-{kind}.lua"),
                                                            peer.pid)
        finally:
            for p in (skiff, peer):
                p.terminate()
                p.wait(timeout=20)
    print("## Serving: V2 infer over HTTP, skiff serve vs FastAPI + uvicorn + python xgboost")
    print()
    print(f"machine: {machine()}; wrk {DURATION} per row, loopback")
    print()
    print(f"ceiling (skiff GET /v2/health/live, 32 conns): {ceiling[0]:.0f} req/s, "
          f"p50 {ceiling[1]:.3f} ms, p99 {ceiling[2]:.3f} ms, server CPU {ceiling[3]:.1f} µs/request")
    print()
    print("| body | conns | skiff req/s | skiff p50 / p99 ms | of ceiling (req/s) | skiff CPU "
          "µs/req | of ceiling (CPU) | FastAPI req/s | FastAPI p50 / p99 ms | FastAPI CPU µs/req "
          "| skiff / FastAPI (req/s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in bodies:
        for conns in (1, 32):
            s, f = results[("skiff", kind, conns)], results[("fastapi", kind, conns)]
            print(f"| {kind} | {conns} | {s[0]:.0f} | {s[1]:.3f} / {s[2]:.3f} | "
                  f"{100 * s[0] / ceiling[0]:.0f} % | {s[3]:.1f} | {100 * ceiling[3] / s[3]:.0f} % "
                  f"| {f[0]:.0f} | {f[1]:.2f} / {f[2]:.2f} | {f[3]:.0f} | {s[0] / f[0]:.1f}x |")


if __name__ == "__main__":
    main()
