"""The workflow controller of `skiff up`: Workflows applied through the API
run in the platform, with status in the store and a scoped token per step
(docs/workflows.md, "In skiff up")."""
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import SKIFF_BIN


@pytest.fixture
def shared():
    """A folder outside /tmp: steps see a private /tmp, not the test's."""
    d = tempfile.mkdtemp(prefix="skiff-wfc-", dir="/var/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def wait_phase(platform, name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = platform.api("GET", f"/api/v1/workflows/{name}")
        assert r.status_code == 200, r.text
        st = r.json().get("status") or {}
        if st.get("phase") in ("Succeeded", "Failed", "Error"):
            return st
        time.sleep(0.1)
    raise AssertionError(f"workflow {name} did not finish: {r.json().get('status')}\n"
                         + platform.logs())


def node(status, display):
    hits = [n for n in status["nodes"].values() if n["displayName"] == display]
    assert hits, [n["displayName"] for n in status["nodes"].values()]
    return hits[0]


def sh(script):
    return {"container": {"image": "python:3.11", "command": ["sh", "-c", script]}}


def pipeline(name, shared, auc="0.97"):
    """The seed's shape: train writes its metric to /tmp, `register` gated by `when`."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "dag": {"tasks": [
                    {"name": "train", "template": "train"},
                    {"name": "register", "template": "register", "dependencies": ["train"],
                     "when": "{{tasks.train.outputs.parameters.auc}} > 0.95"},
                ]}},
                {"name": "train", **sh(f"echo {auc} > /tmp/auc.txt; echo trained"),
                 "outputs": {"parameters": [{"name": "auc", "valueFrom": {"path": "/tmp/auc.txt"}}]}},
                {"name": "register", **sh(f"echo registered > {shared}/registered")},
            ],
        },
    }


def test_applied_workflow_runs_with_argo_status(platform, shared):
    r = platform.api("POST", "/api/v1/workflows", json=pipeline("seed", shared))
    assert r.status_code in (200, 201), r.text
    st = wait_phase(platform, "seed")
    assert st["phase"] == "Succeeded", st
    assert node(st, "train")["phase"] == "Succeeded"
    assert node(st, "register")["phase"] == "Succeeded"
    assert node(st, "train")["outputs"]["parameters"][0]["value"] == "0.97"
    root = node(st, "seed")
    assert root["type"] == "DAG" and len(root["children"]) == 2
    assert (shared / "registered").read_text().strip() == "registered"

    platform.api("POST", "/api/v1/workflows", json=pipeline("seed-low", shared / "low", "0.90"))
    st = wait_phase(platform, "seed-low")
    assert st["phase"] == "Succeeded", st
    assert node(st, "register")["phase"] == "Skipped"

    # per-step figures on /metrics, by template, read by Prometheus' own parser
    from prometheus_client.parser import text_string_to_metric_families
    text = requests.get(platform.url + "/metrics").text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    tmpl = node(st, "train")["templateName"]
    assert samples[("skiff_workflow_steps_total", (("phase", "Succeeded"), ("template", tmpl)))] == 2
    assert ("skiff_workflow_step_cpu_seconds_total", (("template", tmpl),)) in samples
    assert samples[("skiff_workflow_step_peak_memory_bytes", (("template", tmpl),))] > 0


def test_workflows_run_side_by_side(platform, shared):
    """Each workflow's step waits for the other's: they only end if both run at once."""
    def wf(me, other):
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                "metadata": {"name": me},
                "spec": {"entrypoint": "s", "templates": [{"name": "s", **sh(
                    f"touch {shared}/{me}; i=0; while [ ! -e {shared}/{other} ]; do "
                    f"i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done")}]}}
    for me, other in (("left", "right"), ("right", "left")):
        assert platform.api("POST", "/api/v1/workflows", json=wf(me, other)).status_code == 201
    assert wait_phase(platform, "left")["phase"] == "Succeeded"
    assert wait_phase(platform, "right")["phase"] == "Succeeded"


def test_step_token_is_scoped_and_removed(platform, shared):
    script = f"""
set -e
echo "$SKIFF_TOKEN_FILE" > {shared}/tokfile
test "$(cat "$SKIFF_TOKEN_FILE")" = "$MLFLOW_TRACKING_TOKEN"
stat -c %a "$SKIFF_TOKEN_FILE" > {shared}/mode
echo "$MLFLOW_TRACKING_URI" > {shared}/uri
python3 - <<'PY'
import os, urllib.request, urllib.error
def call(method, path):
    req = urllib.request.Request(os.environ["SKIFF_URL"] + path, method=method,
        headers={{"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"],
                 "Content-Type": "application/json"}},
        data=b"{{}}" if method != "GET" else None)
    try:
        return urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code
open("{shared}/codes", "w").write("%d %d" % (
    call("GET", "/api/2.0/mlflow/experiments/search?max_results=10"),
    call("PUT", "/api/v1/entities/x")))
import json
req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/create",
    method="POST", data=json.dumps({{"experiment_id": "0"}}).encode(),
    headers={{"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"],
             "Content-Type": "application/json"}})
run = json.load(urllib.request.urlopen(req, timeout=5))["run"]
open("{shared}/run_id", "w").write(run["info"]["run_id"])
PY
"""
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"name": "tok"},
          "spec": {"entrypoint": "s", "serviceAccountName": "trainer",
                   "templates": [{"name": "s", **sh(script)}]}}
    assert platform.api("POST", "/api/v1/workflows", json=wf).status_code in (200, 201)
    st = wait_phase(platform, "tok")
    assert st["phase"] == "Succeeded", st
    assert (shared / "codes").read_text() == "200 403"
    assert (shared / "mode").read_text().strip() == "600"
    assert (shared / "uri").read_text().strip() == platform.url
    assert (shared / "tokfile").read_text().strip() == "/tmp/.skiff-token"
    assert not list((platform.home / "workflows" / "tok").rglob(".skiff-token"))
    assert platform.token not in platform.logs()
    # lineage: the run the step created names the workflow and the step, from
    # the signed token, without the step saying anything
    uid = platform.api("GET", "/api/v1/workflows/tok").json()["metadata"]["uid"]
    run = platform.api("GET", "/api/2.0/mlflow/runs/get",
                       params={"run_id": (shared / "run_id").read_text()}).json()["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["skiff.workflow"] == uid and tags["skiff.step"] == "tok", tags


def test_bad_workflow_ends_in_error(platform):
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"name": "bad"},
          "spec": {"entrypoint": "s", "templates": [
              {"name": "s", "steps": [[{"name": "a", "template": "nope"}]]}]}}
    r = platform.api("POST", "/api/v1/workflows", json=wf)
    if r.status_code in (200, 201):
        st = wait_phase(platform, "bad")
        assert st["phase"] == "Error" and "nope" in st["message"], st
    else:
        assert r.status_code == 400, r.text


def test_kill_9_and_restart_resumes(platform, shared):
    """Ended steps keep their result; the step that was running runs again."""
    def step(name, extra=""):
        return {"name": name, **sh(f"echo run >> {shared}/{name}; {extra} echo {name} > /tmp/o"),
                "outputs": {"parameters": [{"name": "o", "valueFrom": {"path": "/tmp/o"}}]}}
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"name": "crash"},
          "spec": {"entrypoint": "main", "templates": [
              {"name": "main", "dag": {"tasks": [
                  {"name": "a", "template": "a"},
                  {"name": "b", "template": "b", "dependencies": ["a"]},
                  {"name": "c", "template": "c", "dependencies": ["b"],
                   "when": "{{tasks.a.outputs.parameters.o}} == a"},
              ]}},
              step("a"), step("b", f"test -e {shared}/again || sleep 30;"), step("c")]}}
    # a also exports a global parameter and an artifact; c, which runs only
    # after the restart, reads both: restored steps export them again
    tmpl = wf["spec"]["templates"]
    tmpl[1]["outputs"]["parameters"][0]["globalName"] = "ga"
    tmpl[1]["outputs"]["artifacts"] = [{"name": "m", "path": "/tmp/o"}]
    tmpl[3]["inputs"] = {"artifacts": [{"name": "m", "path": "/tmp/m"}]}
    tmpl[3]["container"]["command"][-1] += (
        "; echo \"{{workflow.outputs.parameters.ga}} $(cat /tmp/m)\" > " + f"{shared}/c-saw")
    tmpl[0]["dag"]["tasks"][2]["arguments"] = {
        "artifacts": [{"name": "m", "from": "{{tasks.a.outputs.artifacts.m}}"}]}
    assert platform.api("POST", "/api/v1/workflows", json=wf).status_code in (200, 201)
    deadline = time.monotonic() + 15
    while not (shared / "b").exists():
        assert time.monotonic() < deadline, platform.logs()
        time.sleep(0.05)
    time.sleep(0.4)  # past one status write: a's Succeeded is in the store
    platform.proc.send_signal(signal.SIGKILL)
    platform.proc.wait()
    platform.log.close()
    (shared / "again").write_text("")
    platform.start()
    st = wait_phase(platform, "crash")
    assert st["phase"] == "Succeeded", st
    assert (shared / "a").read_text() == "run\n"
    assert (shared / "b").read_text() == "run\nrun\n"
    assert (shared / "c").read_text() == "run\n"
    assert node(st, "a")["outputs"]["parameters"][0]["value"] == "a"
    assert (shared / "c-saw").read_text() == "a a\n"
    assert st["outputs"]["parameters"] == [{"name": "ga", "value": "a"}]


SUBMIT = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cli-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: flag
      value: "{shared}/flag"
  templates:
  - name: main
    steps:
    - - name: hello
        template: hello
    - - name: gated
        template: gated
  - name: hello
    container:
      image: alpine
      command: [sh, -c, "echo hello-out; echo hello-err >&2"]
  - name: gated
    container:
      image: alpine
      command: [sh, -c, "echo run >> {shared}/gated; test -e {{{{workflow.parameters.flag}}}}"]
"""


def test_cli_submit_logs_retry_stop(platform, shared):
    f = shared / "wf.yaml"
    f.write_text(SUBMIT.format(shared=shared))
    r = platform.cli("submit", str(f), "-p", f"flag={shared}/flag", "--watch")
    assert r.returncode == 1, r.stdout + r.stderr
    name = r.stdout.splitlines()[0]
    assert name.startswith("cli-")
    assert "✖" in r.stdout and "gated" in r.stdout

    r = platform.cli("logs", name, "hello", check=0)
    assert r.stdout == "hello-out\nhello-err\n"
    assert platform.cli("logs", name, "hello", "-f", check=0).stdout == r.stdout
    r = platform.cli("logs", name, check=0)
    assert "hello: hello-out\n" in r.stdout
    assert platform.cli("logs", name, "nope").returncode == 1

    (shared / "flag").write_text("")
    platform.cli("retry", name, check=0)
    st = wait_phase(platform, name)
    assert st["phase"] == "Succeeded", st
    assert (shared / "gated").read_text() == "run\nrun\n"
    assert platform.cli("retry", name).returncode == 2   # Succeeded: nothing to retry

    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"name": "long"},
          "spec": {"entrypoint": "s", "templates": [
              {"name": "s", **sh(f"touch {shared}/long; sleep 30")}]}}
    assert platform.api("POST", "/api/v1/workflows", json=wf).status_code in (200, 201)
    deadline = time.monotonic() + 10
    while not (shared / "long").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    follow = subprocess.Popen([SKIFF_BIN, "logs", "long", "-f"], env=platform.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    assert follow.poll() is None    # following while it runs
    t0 = time.monotonic()
    platform.cli("stop", "long", check=0)
    assert follow.wait(timeout=10) == 0, follow.stderr.read()
    follow.stdout.close()
    follow.stderr.close()
    st = wait_phase(platform, "long")
    assert st["phase"] == "Failed" and "Stopped" in st["message"], st
    assert time.monotonic() - t0 < 5
    assert platform.cli("submit", str(shared / "missing.yaml")).returncode != 0


def test_cron_workflow_fires(home_platform, monkeypatch, shared):
    # the cron's clock 4 s before a minute: `* * * * *` fires within seconds
    # (SKIFF_CRON_TEST_NOW_OFFSET is test-only, docs/workflows.md)
    now = time.time()
    monkeypatch.setenv("SKIFF_CRON_TEST_NOW_OFFSET", str(int(60 - now % 60) - 4))
    platform = home_platform.start()
    cw = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
          "metadata": {"name": "tick"},
          "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Forbid",
                   "workflowSpec": {"entrypoint": "s", "templates": [
                       {"name": "s", **sh(f"echo run >> {shared}/tick")}]}}}
    assert platform.api("POST", "/api/v1/cronworkflows", json=cw).status_code in (200, 201)
    deadline = time.monotonic() + 20
    items = []
    while time.monotonic() < deadline:
        items = platform.api("GET", "/api/v1/workflows").json()["items"]
        if items and (items[0].get("status") or {}).get("phase") == "Succeeded":
            break
        time.sleep(0.2)
    assert len(items) == 1, items
    md = items[0]["metadata"]
    assert md["labels"]["workflows.argoproj.io/cron-workflow"] == "tick"
    assert md["name"].startswith("tick-")
    assert items[0]["status"]["phase"] == "Succeeded"
    assert (shared / "tick").read_text() == "run\n"
    st = platform.api("GET", "/api/v1/cronworkflows/tick").json()["status"]
    assert st["lastScheduledTime"].endswith(":00Z")
    assert platform.stop() == 0


def test_pytorchjob_replicas_get_their_own_tokens(platform, shared):
    """Each replica of a PyTorchJob gets a short-lived token, as steps do."""
    check = ('set -e; test "$(cat "$SKIFF_TOKEN_FILE")" = "$MLFLOW_TRACKING_TOKEN"; '
             'test "$SKIFF_TOKEN_FILE" = /tmp/.skiff-token; '
             'stat -c %a "$SKIFF_TOKEN_FILE" | grep -qx 600; '
             'python3 -c "import os,urllib.request as u; print(u.urlopen(u.Request('
             'os.environ[\'SKIFF_URL\'] + \'/api/2.0/mlflow/experiments/search?max_results=1\','
             'headers={\'Authorization\': \'Bearer \' + os.environ[\'MLFLOW_TRACKING_TOKEN\']}),'
             'timeout=5).status)" > ' + str(shared) + '/code-$RANK; '
             'echo "$MLFLOW_TRACKING_TOKEN" > ' + str(shared) + '/tok-$RANK')
    container = {"name": "pytorch", "image": "trainer", "command": ["sh", "-c", check]}
    job = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
           "metadata": {"name": "ddp"},
           "spec": {"pytorchReplicaSpecs": {
               "Master": {"replicas": 1, "template": {"spec": {"containers": [container]}}},
               "Worker": {"replicas": 1, "template": {"spec": {"containers": [container]}}}}}}
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"name": "ddp-tok"},
          "spec": {"entrypoint": "train", "templates": [
              {"name": "train", "resource": {"action": "create",
                                             "manifest": yaml.safe_dump(job)}}]}}
    assert platform.api("POST", "/api/v1/workflows", json=wf).status_code in (200, 201)
    st = wait_phase(platform, "ddp-tok")
    assert st["phase"] == "Succeeded", st
    assert (shared / "code-0").read_text().strip() == "200"
    assert (shared / "code-1").read_text().strip() == "200"
    # one token per replica, none left on disk once they ended
    assert (shared / "tok-0").read_text() != (shared / "tok-1").read_text()
    assert not list((platform.home / "workflows" / "ddp-tok").rglob(".skiff-token"))
