"""`skiff demo`: the fraud example end to end in a fresh home, and what it
leaves behind (nothing running, unless --keep-running)."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from conftest import SKIFF_BIN, SRC

SMALL = ["--users", "300", "--days", "7"]   # drift from day 5, AUC on day 4
STAGES = ["data", "platform", "features", "online", "pipeline", "deploy", "serve", "canary",
          "drift"]


@pytest.fixture
def home():
    """A home outside /tmp (steps have a private /tmp), not created yet."""
    d = Path(tempfile.mkdtemp(prefix="skiff-demo-test-", dir="/var/tmp"))
    yield d / "home"
    shutil.rmtree(d, ignore_errors=True)


def env():
    e = dict(os.environ)
    for k in ("SKIFF_HOME", "SKIFF_URL", "SKIFF_TOKEN_FILE"):
        e.pop(k, None)
    return e


def demo(*args, timeout=120, cwd=SRC, **extra):
    return subprocess.run([SKIFF_BIN, "demo", *args], env={**env(), **extra}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def processes_of(home):
    """Pids of processes started for this home (their SKIFF_HOME names it)."""
    want = f"SKIFF_HOME={home}".encode()
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if want in (p / "environ").read_bytes().split(b"\0"):
                pids.append(int(p.name))
        except OSError:
            pass
    return pids


def stop(pids, home):
    for p in pids:
        os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while processes_of(home) and time.monotonic() < deadline:
        time.sleep(0.1)


def start_of(home):
    """datagen's --start, from its meta.json."""
    meta = json.loads((home / "fraud" / "data" / "meta.json").read_text())
    return datetime.fromisoformat(meta["start"].replace("Z", "+00:00"))


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def payloads(home):
    """Every record of the demo's payload log, in file order."""
    return [json.loads(l) for f in sorted((home / "payloads" / "fraud-detector").glob("*.jsonl"))
            for l in f.read_text().splitlines()]


def test_demo_end_to_end(home):
    t0 = time.monotonic()
    r = demo("--home", str(home), *SMALL, "--keep-running")
    took = time.monotonic() - t0
    pids = processes_of(home)
    try:
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        for i, stage in enumerate(STAGES):
            assert f"[{i + 1}/{len(STAGES)}] {stage} " in out
        assert "skipped" not in out
        # a pipe gets one line per change: each step's end, in the dag's order
        steps = [l.split()[1] for l in out.splitlines() if l.strip()[:1] == "✔" and
                 l.split()[1] in ("validate-data", "engineer-features", "train", "evaluate",
                                  "register")]
        assert steps == ["validate-data", "engineer-features", "train", "evaluate", "register"]
        assert "\033[" not in out
        assert "WorkflowTemplate fraud-pipeline" in out
        assert took < 120
        url = (home / "endpoint").read_text().strip()
        token = (home / "admin.token").read_text().strip()
        auth = {"Authorization": "Bearer " + token}

        # online: most users have all seven features (a user needs two payments
        # in the last 7 days for a standard deviation)
        m = re.search(r"✔ (\d+) users with all seven features in the online store", out)
        assert m and 250 <= int(m.group(1)) <= 300, out

        # serve: the summary's curl, run as printed, scores the latest payer with a
        # token of scope serving:infer, whose secret is never printed
        serving_token = (home / "serving.token").read_text().strip()
        assert serving_token not in out and token not in out
        i = out.index("    curl -s")
        curl = out[i:out.index("/infer", i) + len("/infer")].replace("\\\n", " ")
        assert f"$(cat {home}/serving.token)" in curl and f"{url}/v2/models/fraud-detector" in curl
        got = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=20)
        answer = json.loads(got.stdout)
        [p] = answer["outputs"][0]["data"]
        assert 0 <= p <= 1 and answer["model_name"] == "fraud-detector"
        # the token scores, and does nothing else
        assert requests.get(f"{url}/api/v1/inferenceservices",
                            headers={"Authorization": "Bearer " + serving_token},
                            timeout=10).status_code == 403

        # canary: the split the demo reports is the one the payload log shows
        m = re.search(r"canary version 2 (promoted|rolled back) \((\d+) of 500 requests", out)
        assert m, out
        verdict, hits = m.group(1), int(m.group(2))
        assert 20 <= hits <= 90          # 10% of 500: 50, about 7 either side
        # the traffic is the users who paid in the data's last hour
        payers = int(re.search(r"· (\d+) users paid in the data's last hour", out).group(1))
        assert re.search(rf"scored the {payers} recent payers once more", out)
        end = start_of(home) + timedelta(days=7)
        tx = [l.split(",") for l in (home / "fraud" / "data" / "transactions.csv")
              .read_text().splitlines()[1:]]
        recent = {t[1] for t in tx if t[5] > stamp(end - timedelta(hours=1))}
        assert payers == max(len(recent), 10)
        log = payloads(home)   # 5 served, 500 of the canary, the payers again, our curl
        canary, drift_rows = log[5:505], log[505:505 + payers]
        assert len(log) == 505 + payers + 1
        assert log[-1]["features"]["user_id"] in curl
        assert {x["features"]["user_id"] for x in log[:505 + payers]} == \
            {x["features"]["user_id"] for x in drift_rows}
        assert sum(x["revision"] == "fraud-detector-predictor-00002" for x in canary) == hits
        assert all(0 <= x["outputs"][0] <= 1 for x in log)
        isvc = requests.get(f"{url}/api/v1/inferenceservices/fraud-detector", headers=auth,
                            timeout=10).json()
        traffic = {t["revisionName"]: t["percent"]
                   for t in isvc["status"]["components"]["predictor"]["traffic"]}
        champion = requests.get(f"{url}/api/2.0/mlflow/registered-models/alias",
                                params={"name": "fraud-detector", "alias": "champion"},
                                headers=auth, timeout=10).json()["model_version"]["version"]
        if verdict == "promoted":
            assert traffic == {"fraud-detector-predictor-00002": 100} and champion == "2"
            assert "fraud-detector version 2 (alias champion)" in out
            assert {x["revision"] for x in drift_rows} == {"fraud-detector-predictor-00002"}
        else:
            assert traffic["fraud-detector-predictor-00001"] == 100 and champion == "1"
            assert "fraud-detector version 1 (alias champion), AUC 0." in out
            assert {x["revision"] for x in drift_rows} == {"fraud-detector-predictor-00001"}

        # drift: the monitor's run over every served row finds the drifted tail
        runs = requests.get(f"{url}/api/v1/driftmonitors/fraud-detector-drift/runs",
                            headers=auth, timeout=10).json()["runs"]
        [run] = runs
        assert run["phase"] == "Succeeded" and run["datasetDrift"] is True
        assert run["currentRows"] == 505 + payers
        assert run["numberOfDriftedColumns"] >= 3 and run["numberOfColumns"] == 7
        assert f"dataset drift: {run['numberOfDriftedColumns']} of 7 columns drifted" in out
        report = home / "drift-report.html"
        assert f"report     {report}" in out
        html = report.read_text()
        assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
        assert html == requests.get(f"{url}{run['report']}", headers=auth, timeout=10).text

        # the platform kept running
        assert len(pids) == 1 and f"kill {pids[0]}" in out
        # the retraining template is pipeline.yaml with the demo's folders
        tmpl = requests.get(f"{url}/api/v1/workflowtemplates/fraud-pipeline", headers=auth,
                            timeout=10).json()
        params = {x["name"]: x["value"] for x in tmpl["spec"]["arguments"]["parameters"]}
        assert params["data-dir"] == str(home / "fraud" / "data")
    finally:
        stop(pids, home)
    assert processes_of(home) == []

    # the data ends when the demo started: trained on days 0-3, measured on
    # day 4, days 5-6 drifted: never trained on
    data = home / "fraud" / "data"
    start = start_of(home)
    assert start.second == 0 and abs(start + timedelta(days=7) - datetime.now(start.tzinfo)) \
        < timedelta(seconds=took + 60)
    day = lambda n: stamp(start + timedelta(days=n))
    train = (data / "labels-train.csv").read_text().splitlines()
    holdout = (data / "labels-holdout.csv").read_text().splitlines()
    assert train[0] == holdout[0] == "user_id,event_timestamp,is_fraud"
    assert len(train) > 1 and all(l.split(",")[1] < day(4) for l in train[1:])
    assert len(holdout) > 1 and all(day(4) <= l.split(",")[1] < day(5) for l in holdout[1:])
    assert (data / "features-train.csv").exists() and (data / "features-holdout.csv").exists()
    # each command's log, and the platform's: no sanitizer report (ASan build)
    logs = [home / "up.log", *sorted((home / "logs").glob("*.log"))]
    names = {l.name for l in logs}
    assert {"up.log", "apply-deploy.log", "apply-features.log", "datagen.log", "submit.log",
            "materialize.log", "token.log", "challenger-train.log", "challenger-evaluate.log",
            "challenger-register.log"} <= names
    for log in logs:
        assert "Sanitizer" not in log.read_text(errors="replace"), log


def test_demo_with_a_bar_too_high_leaves_nothing_running(home):
    # run from elsewhere: the example is found through SKIFF_EXAMPLES
    r = demo("--home", str(home), *SMALL, "--auc-threshold", "0.99999",
             cwd=home.parent, SKIFF_EXAMPLES=str(SRC / "examples"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "none registered: AUC 0." in r.stdout
    assert "is not above the bar 0.99999 (register was skipped)" in r.stdout
    for stage in ["[6/9] deploy", "[7/9] serve", "[8/9] canary", "[9/9] drift"]:
        i = r.stdout.index(stage)
        assert r.stdout[i:].split("\n")[1].strip().startswith("○ skipped: no model was registered")
    assert "[4/9] online" in r.stdout and "users with all seven features" in r.stdout
    assert r.stdout.endswith("platform stopped\n")
    # nothing left running, and the platform's endpoint is gone with it
    assert processes_of(home) == []
    assert not (home / "endpoint").exists()


def test_demo_ctrl_c_stops_everything(home):
    p = subprocess.Popen([SKIFF_BIN, "demo", "--home", str(home), *SMALL], env=env(), cwd=SRC,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in p.stdout:
            seen.append(line)
            if line.strip().startswith("· workflow"):   # its steps are running
                break
        assert processes_of(home), "".join(seen)
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, "".join(seen) + rest
    assert "✖ interrupted" in rest and "platform stopped" in rest
    assert processes_of(home) == []


@pytest.mark.parametrize("args, message", [
    (["--home", "/tmp/skiff-demo-x"], "is under /tmp"),
    (["--users", "0"], "--users takes 1 to 999999, not '0'"),
    (["--days", "3"], "--days takes 4 to 3650, not '3'"),
    (["--auc-threshold", "high"], "--auc-threshold takes a number in [0, 1], not 'high'"),
    (["--bogus"], "unexpected argument '--bogus'"),
])
def test_demo_bad_usage(args, message):
    r = demo(*args, timeout=20)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert not Path("/tmp/skiff-demo-x").exists()
