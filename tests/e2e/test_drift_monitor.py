"""The DriftMonitor controller of `skiff up` (docs/drift.md, "DriftMonitor"):
a reference sample against an InferenceService's payload log, on a
schedule or on demand; every run kept with its report; a Slack-compatible
webhook once per drift episode; a retraining Workflow once drift has held;
the drift share and scores on /metrics."""
import datetime as dt
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

FEATURES = ["amount", "age", "hour"]


def write_reference(path, n=2000, seed=1):
    rng = np.random.default_rng(seed)
    cols = [rng.normal(0, 1, n), rng.normal(40, 10, n), rng.integers(0, 24, n)]
    with open(path, "w") as f:
        f.write(",".join(FEATURES) + "\n")
        for row in zip(*cols):
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def write_payloads(home, isvc, shift, n=1500, seed=2, age_h=1.0):
    """n scored rows in the payload log format of include/skiff/serving.h,
    `age_h` hours old; `shift` moves amount and age (drift)."""
    rng = np.random.default_rng(seed)
    ts = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=age_h)
    d = home / "payloads" / isvc
    d.mkdir(parents=True, exist_ok=True)
    with open(d / (ts.strftime("%Y-%m-%d") + ".jsonl"), "a") as f:
        for i in range(n):
            feats = {"user_id": f"u{i}", "amount": float(rng.normal(shift, 1)),
                     "age": float(rng.normal(40 + 10 * shift, 10)),
                     "hour": int(rng.integers(0, 24))}
            rec = {"ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "id": f"r{i}", "model": isvc,
                   "revision": isvc + "-1", "features": feats, "outputs": [0.1]}
            f.write(json.dumps(rec) + "\n")


class Receiver:
    """A webhook receiver on a free port: keeps every POSTed JSON body."""

    def __init__(self):
        bodies = self.bodies = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.server = HTTPServer(("127.0.0.1", port), H)
        self.url = f"http://127.0.0.1:{port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def monitor(name, **spec):
    return {"apiVersion": "skiff.dev/v1", "kind": "DriftMonitor", "metadata": {"name": name},
            "spec": spec}


def apply(platform, obj):
    r = platform.api("POST", f"/api/v1/{obj['kind'].lower()}s", json=obj)
    assert r.status_code in (200, 201), r.text
    return r.json()


def run_now(platform, name):
    r = platform.api("POST", f"/api/v1/driftmonitors/{name}/run")
    assert r.status_code == 200, r.text
    return r.json()


def status(platform, name):
    return platform.api("GET", f"/api/v1/driftmonitors/{name}").json().get("status") or {}


def runs(platform, name):
    r = platform.api("GET", f"/api/v1/driftmonitors/{name}/runs")
    assert r.status_code == 200, r.text
    return r.json()["runs"]


def test_scheduled_monitor_alerts_once_with_report_and_metrics(platform, receiver):
    home = platform.home
    write_reference(home / "ref.csv")
    write_payloads(home, "fraud", shift=3.0)
    apply(platform, monitor("fraud-drift", reference={"path": "ref.csv"},
                            current={"inferenceService": "fraud", "window": "24h"},
                            schedule="@every 1s", alert={"webhook": receiver.url}))
    def done():   # a run being computed is listed too, as Running
        return [r for r in runs(platform, "fraud-drift") if r["phase"] != "Running"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(done()) < 3:
        time.sleep(0.3)
    rs = done()
    assert len(rs) >= 3, platform.logs()
    assert all(r["phase"] == "Succeeded" and r["trigger"] == "schedule" for r in rs), rs
    assert all(r["datasetDrift"] and r["currentRows"] == 1500 for r in rs), rs
    # three drifted runs, one episode: one message
    assert len(receiver.bodies) == 1, (receiver.bodies, status(platform, "fraud-drift"))
    text = receiver.bodies[0]["text"]
    assert "fraud-drift" in text and "amount" in text and "/runs/1/report" in text
    assert receiver.bodies[0]["blocks"][0]["type"] == "section"

    st = status(platform, "fraud-drift")
    assert st["datasetDrift"] is True and st["shareOfDriftedColumns"] == pytest.approx(2 / 3)
    assert st["driftingSince"] and st["alertedFor"] == st["driftingSince"]

    # the kept report: HTML and Evidently's JSON shape; the columns tested are
    # the reference's (user_id, only in the payloads, is not)
    rid = rs[-1]["id"]
    html = platform.api("GET", f"/api/v1/driftmonitors/fraud-drift/runs/{rid}/report")
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert "<svg" in html.text and "amount" in html.text
    js = platform.api("GET", f"/api/v1/driftmonitors/fraud-drift/runs/{rid}/report.json").json()
    assert js["metrics"][0]["result"]["dataset_drift"] is True
    assert set(js["metrics"][1]["result"]["drift_by_columns"]) == set(FEATURES)
    assert platform.api("GET", "/api/v1/driftmonitors/fraud-drift/runs/999/report").status_code == 404
    assert platform.api("GET", "/api/v1/driftmonitors/nope/runs").status_code == 404

    m = platform.api("GET", "/metrics", token="").text
    assert 'skiff_drift_share{monitor="fraud-drift",model="fraud"} 0.66666' in m
    assert 'skiff_drift_detected{monitor="fraud-drift"} 1' in m
    assert 'skiff_drift_score{monitor="fraud-drift",feature="amount"}' in m
    assert 'skiff_drift_runs_total{monitor="fraud-drift",result="drift"}' in m


def test_no_drift_no_alert_and_a_new_episode_alerts_again(platform, receiver):
    home = platform.home
    write_reference(home / "ref.csv")
    write_reference(home / "same.csv", seed=7)
    write_reference(home / "cur.csv", seed=8)
    apply(platform, monitor("m", reference={"path": str(home / "ref.csv")},
                            current={"path": "cur.csv"}, alert={"webhook": receiver.url}))
    for _ in range(2):
        r = run_now(platform, "m")
        assert r["phase"] == "Succeeded" and r["datasetDrift"] is False, r
    assert receiver.bodies == []
    assert "driftingSince" not in status(platform, "m")

    def drifted(shift):
        rng = np.random.default_rng(3)
        with open(home / "cur.csv", "w") as f:
            f.write("amount,age,hour\n")
            for _ in range(1500):
                f.write(f"{rng.normal(shift, 1)},{rng.normal(40 + 10 * shift, 10)},3\n")

    drifted(2.0)
    assert run_now(platform, "m")["datasetDrift"] is True
    assert run_now(platform, "m")["datasetDrift"] is True
    assert len(receiver.bodies) == 1
    (home / "cur.csv").write_text((home / "same.csv").read_text())
    assert run_now(platform, "m")["datasetDrift"] is False
    assert "driftingSince" not in status(platform, "m")
    drifted(2.0)
    assert run_now(platform, "m")["datasetDrift"] is True
    assert len(receiver.bodies) == 2, receiver.bodies
    assert [r["id"] for r in runs(platform, "m")] == [6, 5, 4, 3, 2, 1]


def test_sustained_drift_submits_the_retraining_workflow_once(platform):
    home = platform.home
    write_reference(home / "ref.csv")
    write_payloads(home, "fraud", shift=3.0)
    apply(platform, {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
                     "metadata": {"name": "retrain"},
                     "spec": {"entrypoint": "main",
                              "arguments": {"parameters": [{"name": "reason", "value": "x"}]},
                              "templates": [{"name": "main", "container": {
                                  "image": "python:3.11",
                                  "command": ["sh", "-c", "true"]}}]}})
    apply(platform, monitor("m", reference={"path": "ref.csv"},
                            current={"inferenceService": "fraud"},
                            retrain={"workflowTemplate": "retrain", "after": "2s",
                                     "parameters": {"reason": "drift"}}))
    run_now(platform, "m")
    assert "retrainWorkflow" not in status(platform, "m")   # drift has not held 2 s yet
    time.sleep(2.2)
    run_now(platform, "m")
    st = status(platform, "m")
    wf = st["retrainWorkflow"]
    assert wf.startswith("m-retrain-") and st["retrainFor"] == st["driftingSince"]
    run_now(platform, "m")
    run_now(platform, "m")
    assert status(platform, "m")["retrainWorkflow"] == wf
    wfs = platform.api("GET", "/api/v1/workflows").json()
    items = wfs["items"] if isinstance(wfs, dict) else wfs
    mine = [w for w in items
            if (w["metadata"].get("labels") or {}).get("skiff.dev/drift-monitor") == "m"]
    assert [w["metadata"]["name"] for w in mine] == [wf]
    assert mine[0]["spec"]["workflowTemplateRef"] == {"name": "retrain"}
    assert mine[0]["spec"]["arguments"]["parameters"] == [{"name": "reason", "value": "drift"}]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        phase = (platform.api("GET", f"/api/v1/workflows/{wf}").json().get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed", "Error"):
            break
        time.sleep(0.2)
    assert phase == "Succeeded", platform.logs()


def test_reference_from_a_registered_model(platform):
    """models:/NAME@ALIAS: the sample `skiff train` logs next to the model."""
    home = platform.home
    art = home / "artifacts" / "mlflow" / "1" / "r1" / "artifacts"
    (art / "model").mkdir(parents=True)
    (art / "model" / "MLmodel").write_text("flavors: {}\n")
    (art / "reference").mkdir()
    write_reference(art / "reference" / "sample.csv")
    write_payloads(home, "fraud", shift=0.0)
    api = platform.api
    assert api("POST", "/api/2.0/mlflow/registered-models/create",
               json={"name": "fraud"}).status_code == 200
    v = api("POST", "/api/2.0/mlflow/model-versions/create",
            json={"name": "fraud", "source": "mlflow-artifacts:/1/r1/artifacts/model"})
    assert v.status_code == 200, v.text
    assert api("POST", "/api/2.0/mlflow/registered-models/alias",
               json={"name": "fraud", "alias": "champion", "version": "1"}).status_code == 200
    apply(platform, monitor("m", reference={"model": "models:/fraud@champion"},
                            current={"inferenceService": "fraud"}, columns=["age", "amount"],
                            perColumn={"age": {"stattest": "psi", "stattestThreshold": 0.3}}))
    r = run_now(platform, "m")
    assert r["phase"] == "Succeeded", r
    assert r["referenceRows"] == 2000 and list(r["columns"]) == ["age", "amount"]
    assert r["columns"]["age"]["stattest"] == "psi" and r["columns"]["age"]["threshold"] == 0.3
    assert r["columns"]["amount"]["stattest"] == "wasserstein"


def test_failed_runs_are_kept_and_bad_monitors_rejected(platform):
    write_reference(platform.home / "ref.csv")
    apply(platform, monitor("m", reference={"path": "ref.csv"},
                            current={"inferenceService": "silent", "window": "1h"}))
    r = run_now(platform, "m")
    assert r["phase"] == "Failed" and "no payloads" in r["message"], r
    # payloads older than the window are not read
    write_payloads(platform.home, "silent", shift=0.0, age_h=2)
    assert run_now(platform, "m")["phase"] == "Failed"
    st = status(platform, "m")
    assert st["lastRunPhase"] == "Failed" and "datasetDrift" not in st
    assert platform.api("POST", "/api/v1/driftmonitors/nope/run").status_code == 404

    bad = [
        (monitor("b", current={"path": "x.csv"}), "spec.reference"),
        (monitor("b", reference={"path": "r.csv"}, current={"inferenceService": "x",
                                                            "window": "soon"}), "window"),
        (monitor("b", reference={"model": "fraud"}, current={"path": "x"}), "model"),
        (monitor("b", reference={"path": "r"}, current={"path": "x"},
                 alert={"webhook": "slack"}), "webhook"),
        (monitor("b", reference={"path": "r"}, current={"path": "x"},
                 perColumn={"a": {"stattest": "nope"}}), "perColumn"),
        (monitor("b", reference={"path": "r"}, current={"path": "x"},
                 retrain={"after": "2s"}), "workflowTemplate"),
    ]
    for obj, field in bad:
        r = platform.api("POST", "/api/v1/driftmonitors", json=obj)
        assert r.status_code == 400 and field in r.text, (obj, r.text)
    # the kind's first form (a feature service alone) names no data: refused,
    # saying what a run needs; with reference and current it applies
    for obj, field in [(monitor("fs", featureService="fraud_features"), "spec.reference"),
                       (monitor("fs", featureView="v", reference={"path": "r"}),
                        "spec.current")]:
        r = platform.api("POST", "/api/v1/driftmonitors", json=obj)
        assert r.status_code == 400 and field in r.text, r.text
    apply(platform, monitor("fs", featureService="fraud_features", reference={"path": "r"},
                            current={"path": "x"}))
    # a cron line the validator cannot check is reported in status, once
    apply(platform, monitor("c", reference={"path": "ref.csv"}, current={"path": "ref.csv"},
                            schedule="61 * * * *"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "scheduleError" not in status(platform, "c"):
        time.sleep(0.2)
    assert "61" in status(platform, "c").get("scheduleError", ""), status(platform, "c")
    assert runs(platform, "c") == []
    # scopes: a token without monitor:write cannot trigger a run
    tok = platform.cli("token", "--scope", "monitor:read").stdout.strip()
    assert platform.api("POST", "/api/v1/driftmonitors/m/run", token=tok).status_code == 403
    assert platform.api("GET", "/api/v1/driftmonitors/m/runs", token=tok).status_code == 200


def test_cli_lists_runs_and_downloads_reports(platform, tmp_path):
    """`skiff drift runs` / `skiff drift report` over the platform's routes;
    the monitor reads a gzip reference and a folder of parts (current)."""
    import gzip
    import shutil
    home = platform.home
    write_reference(home / "ref.csv")
    with open(home / "ref.csv", "rb") as f, gzip.open(home / "ref.csv.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    parts = home / "parts"
    parts.mkdir()
    write_reference(tmp_path / "cur.csv", n=1200, seed=5)
    lines = (tmp_path / "cur.csv").read_text().splitlines(keepends=True)
    (parts / "a.csv").write_text(lines[0] + "".join(lines[1:600]))
    with gzip.open(parts / "b.csv.gz", "wt") as g:
        g.write(lines[0] + "".join(lines[600:]))
    apply(platform, monitor("cli-m", reference={"path": "ref.csv.gz"},
                            current={"path": "parts"}))
    apply(platform, monitor("cli-bad", reference={"path": "ref.csv.gz"},
                            current={"path": "missing.csv"}))
    first = run_now(platform, "cli-m")
    assert first["phase"] == "Succeeded" and first["referenceRows"] == 2000, first
    assert first["currentRows"] == 1200, first
    assert run_now(platform, "cli-bad")["phase"] == "Failed"
    second = run_now(platform, "cli-m")

    # the list: newest first, id, time, verdict, share
    r = platform.cli("drift", "runs", "cli-m", check=0)
    rows = r.stdout.strip().splitlines()
    assert rows[0].split()[:5] == ["ID", "STARTED", "TRIGGER", "VERDICT", "SHARE"], r.stdout
    assert [l.split()[0] for l in rows[1:]] == [str(second["id"]), str(first["id"])]
    verdict = "drift" if second["datasetDrift"] else "no drift"
    assert f" {verdict} " in rows[1] and second["startTime"] in rows[1], rows[1]
    assert f"{second['shareOfDriftedColumns']:.4g}" in rows[1]
    assert "manual" in rows[1]
    r = platform.cli("drift", "runs", "cli-m", "-o", "json", check=0)
    assert json.loads(r.stdout) == runs(platform, "cli-m")
    r = platform.cli("drift", "runs", "cli-bad", check=0)
    assert " failed " in r.stdout and "missing.csv" in r.stdout, r.stdout

    # the report: the newest run's HTML by default, a given run's, its JSON
    out = tmp_path / "latest.html"
    platform.cli("drift", "report", "cli-m", "-o", str(out), check=0)
    html = platform.api("GET", f"/api/v1/driftmonitors/cli-m/runs/{second['id']}/report")
    assert out.read_bytes() == html.content and b"<svg" in html.content
    r = platform.cli("drift", "report", "cli-m", str(first["id"]), "--json", "-o", "-", check=0)
    js = platform.api("GET", f"/api/v1/driftmonitors/cli-m/runs/{first['id']}/report.json")
    assert json.loads(r.stdout) == js.json()

    # errors: a failed run has no report, an unknown monitor or run, bad usage
    r = platform.cli("drift", "report", "cli-bad", "1", "-o", str(tmp_path / "x.html"), check=1)
    assert "no report" in r.stderr and "missing.csv" in r.stderr, r.stderr
    assert not (tmp_path / "x.html").exists()
    r = platform.cli("drift", "report", "cli-bad", check=1)
    assert "no run of 'cli-bad' has a report" in r.stderr
    r = platform.cli("drift", "runs", "nope", check=1)
    assert "nope" in r.stderr
    platform.cli("drift", "report", "cli-m", "99", "-o", str(tmp_path / "y.html"), check=1)
    platform.cli("drift", "report", "cli-m", "x1", check=2)
    platform.cli("drift", "runs", check=2)
    platform.cli("drift", "runs", "a/b", check=2)
