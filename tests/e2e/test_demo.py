"""`skiff demo`: the fraud example end to end in a fresh home, and what it
leaves behind (nothing running, unless --keep-running)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import SKIFF_BIN, SRC

SMALL = ["--users", "300", "--days", "7"]   # drift from day 5, AUC on day 4


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


def test_demo_end_to_end(home):
    t0 = time.monotonic()
    r = demo("--home", str(home), *SMALL, "--keep-running")
    took = time.monotonic() - t0
    pids = processes_of(home)
    try:
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        for stage in ["[1/5] data", "[2/5] platform", "[3/5] features", "[4/5] pipeline",
                      "[5/5] deploy"]:
            assert stage in out
        # a pipe gets one line per change: each step's end, in the dag's order
        steps = [l.split()[1] for l in out.splitlines() if l.strip()[:1] == "✔" and
                 l.split()[1] in ("validate-data", "engineer-features", "train", "evaluate",
                                  "register")]
        assert steps == ["validate-data", "engineer-features", "train", "evaluate", "register"]
        assert "\033[" not in out
        assert "fraud-detector version 1 (alias champion), AUC 0." in out
        assert "WorkflowTemplate fraud-pipeline" in out
        assert took < 120

        # the platform kept running: the summary's URL scores a user as its curl does
        assert len(pids) == 1 and f"kill {pids[0]}" in out
        url = (home / "endpoint").read_text().strip()
        assert f"{url}/v1/models/fraud-detector:predict" in out
        token = (home / "admin.token").read_text().strip()
        pred = requests.post(f"{url}/v1/models/fraud-detector:predict",
                             headers={"Authorization": "Bearer " + token},
                             json={"instances": [{"user_id": "u000042"}]}, timeout=10)
        assert pred.status_code == 200, pred.text
        [p] = pred.json()["predictions"]
        assert 0 <= p <= 1
        # the retraining template is pipeline.yaml with the demo's folders
        tmpl = requests.get(f"{url}/api/v1/workflowtemplates/fraud-pipeline",
                            headers={"Authorization": "Bearer " + token}, timeout=10).json()
        params = {x["name"]: x["value"] for x in tmpl["spec"]["arguments"]["parameters"]}
        assert params["data-dir"] == str(home / "fraud" / "data")
    finally:
        stop(pids, home)
    assert processes_of(home) == []

    # trained on days 0-3, measured on day 4, days 5-6 drifted: never seen
    data = home / "fraud" / "data"
    train = (data / "labels-train.csv").read_text().splitlines()
    holdout = (data / "labels-holdout.csv").read_text().splitlines()
    assert train[0] == holdout[0] == "user_id,event_timestamp,is_fraud"
    assert len(train) > 1 and all(l.split(",")[1] < "2026-01-05" for l in train[1:])
    assert len(holdout) > 1 and all(l.split(",")[1][:10] == "2026-01-05" for l in holdout[1:])
    assert (data / "features-train.csv").exists() and (data / "features-holdout.csv").exists()
    # each command's log, and the platform's: no sanitizer report (ASan build)
    logs = [home / "up.log", *sorted((home / "logs").glob("*.log"))]
    assert [l.name for l in logs] == ["up.log", "apply-deploy.log", "apply-features.log",
                                      "datagen.log", "submit.log"]
    for log in logs:
        assert "Sanitizer" not in log.read_text(errors="replace"), log


def test_demo_with_a_bar_too_high_leaves_nothing_running(home):
    # run from elsewhere: the example is found through SKIFF_EXAMPLES
    r = demo("--home", str(home), *SMALL, "--auc-threshold", "0.99999",
             cwd=home.parent, SKIFF_EXAMPLES=str(SRC / "examples"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "none registered: AUC 0." in r.stdout
    assert "is not above the bar 0.99999 (register was skipped)" in r.stdout
    assert "[5/5] deploy" in r.stdout and "skipped: no model was registered" in r.stdout
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
