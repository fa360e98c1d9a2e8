"""`resource` templates in `skiff run`: a PyTorchJob (kubeflow.org/v1) runs its
Master and Worker replicas as local processes with MASTER_ADDR, MASTER_PORT,
WORLD_SIZE and RANK; successCondition / failureCondition as Argo evaluates
them; outputs from the Master's private /tmp; skiff kinds need a platform."""
import json
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from conftest import run

REPLICA = ('test "$WORLD_SIZE" = 3 || exit 7; '
           'case "$RANK" in 0|1|2) ;; *) exit 8;; esac; '
           'test "$MASTER_ADDR" = 127.0.0.1 && test "$MASTER_PORT" -gt 0 || exit 9; '
           'echo "$SKIFF_REPLICA_TYPE $RANK $WORLD_SIZE $MASTER_PORT" >> {shared}/ranks')

JOB = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: pytorch-}}
spec:
  entrypoint: pipeline
  templates:
  - name: pipeline
    dag:
      tasks:
      - name: train
        template: distributed-trainer
      - name: report
        dependencies: [train]
        template: report
        arguments:
          parameters: [{{name: run-id, value: "{{{{tasks.train.outputs.parameters.run-id}}}}"}}]
  - name: report
    inputs: {{parameters: [{{name: run-id}}]}}
    container: {{image: x, command: [echo, "{{{{inputs.parameters.run-id}}}}"]}}
  - name: distributed-trainer
    outputs:
      parameters:
      - name: run-id
        valueFrom: {{path: /tmp/mlflow-run-id.txt}}
      - name: job-name
        valueFrom: {{jsonPath: '{{.metadata.name}}'}}
    resource:
      action: create
      successCondition: status.replicaStatuses.Worker.succeeded == 2
      failureCondition: status.replicaStatuses.Worker.failed > 0
      manifest: |
        apiVersion: kubeflow.org/v1
        kind: PyTorchJob
        metadata:
          name: fraud-train-{{{{workflow.uid}}}}
        spec:
          pytorchReplicaSpecs:
            Master:
              replicas: 1
              template:
                spec:
                  containers:
                  - name: pytorch
                    image: trainer:3.0.0
                    command: [sh, -c]
                    args:
                    - '{replica}; echo run-$RANK-of-$WORLD_SIZE > /tmp/mlflow-run-id.txt'
            Worker:
              replicas: 2
              template:
                spec:
                  containers:
                  - name: pytorch
                    image: trainer:3.0.0
                    command: [sh, -c, '{replica}; {worker_tail}']
"""


@pytest.fixture
def shared():
    d = tempfile.mkdtemp(prefix="skiff-pytorch-", dir="/var/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def run_job(tmp_path, shared, worker_tail="true"):
    text = JOB.format(replica=REPLICA.format(shared=shared), worker_tail=worker_tail)
    p = tmp_path / "job.yaml"
    p.write_text(textwrap.dedent(text))
    r = run("run", str(p), "-o", "json", "--run-dir", str(tmp_path / "runs"),
            env={"SKIFF_HOME": str(tmp_path / "home")})
    assert "Sanitizer" not in r.stderr, r.stderr
    return r, json.loads(r.stdout)["status"]


def node(status, display):
    return next(n for n in status["nodes"].values() if n["displayName"] == display)


def test_pytorchjob_master_and_workers(tmp_path, shared):
    r, st = run_job(tmp_path, shared)
    assert r.returncode == 0, r.stdout + r.stderr
    assert st["phase"] == "Succeeded"
    rows = sorted(line.split() for line in (shared / "ranks").read_text().splitlines())
    assert [(t, rank, ws) for t, rank, ws, _ in rows] == [
        ("Master", "0", "3"), ("Worker", "1", "3"), ("Worker", "2", "3")]
    assert len({port for *_, port in rows}) == 1   # one MASTER_PORT for the job
    train = node(st, "train")
    job = train["skiff"]["resource"]
    assert job["kind"] == "PyTorchJob" and job["apiVersion"] == "kubeflow.org/v1"
    assert job["status"]["replicaStatuses"] == {
        "Master": {"active": 0, "succeeded": 1, "failed": 0},
        "Worker": {"active": 0, "succeeded": 2, "failed": 0}}
    outs = {p["name"]: p["value"] for p in train["outputs"]["parameters"]}
    assert outs["run-id"] == "run-0-of-3"           # the Master's private /tmp
    assert outs["job-name"] == job["name"] and job["name"].startswith("fraud-train-")
    assert node(st, "report")["outputs"]["result"] == "run-0-of-3"


def test_pytorchjob_failure_condition(tmp_path, shared):
    r, st = run_job(tmp_path, shared,
                    worker_tail='if [ "$RANK" = 2 ]; then echo diverged >&2; exit 3; fi')
    assert r.returncode == 1, r.stdout + r.stderr
    train = node(st, "train")
    assert train["phase"] == "Failed"
    assert train["message"].startswith(
        "failure condition 'status.replicaStatuses.Worker.failed > 0' evaluated true")
    assert "Worker 1: exit code 3; stderr: diverged" in train["message"]
    # the other Worker may be killed before it ends: it then counts as failed too
    assert train["skiff"]["resource"]["status"]["replicaStatuses"]["Worker"]["failed"] >= 1
    assert node(st, "report")["phase"] == "Omitted"


def test_resource_validation(tmp_path):
    bad = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {name: bad}
    spec:
      entrypoint: main
      templates:
      - name: main
        resource:
          action: create
          successCondition: status.x in (a,
          manifest: |
            apiVersion: kubeflow.org/v1
            kind: PyTorchJob
            metadata: {name: j}
            spec: {pytorchReplicaSpecs: {Master: {template: {spec: {containers: [{command: [true]}]}}}}}
    """
    p = tmp_path / "bad.yaml"
    p.write_text(textwrap.dedent(bad))
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{p}:11:" in r.stderr and "successCondition" in r.stderr
    p.write_text(textwrap.dedent(bad).replace("      successCondition: status.x in (a,\n", "")
                 .replace("kind: PyTorchJob", "kind: TFJob"))
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "resource kind 'TFJob' (kubeflow.org/v1) is not supported locally" in r.stderr


def test_skiff_kind_needs_a_platform(tmp_path):
    wf = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {name: deploy}
    spec:
      entrypoint: main
      templates:
      - name: main
        resource:
          action: create
          manifest: |
            apiVersion: serving.kserve.io/v1beta1
            kind: InferenceService
            metadata: {name: fraud}
            spec: {predictor: {model: {modelFormat: {name: sklearn}, storageUri: "models:/fraud/1"}}}
    """
    p = tmp_path / "deploy.yaml"
    p.write_text(textwrap.dedent(wf))
    r = run("run", str(p), "-o", "json", env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 1, r.stdout + r.stderr
    n = json.loads(r.stdout)["status"]["nodes"]["deploy"]
    assert n["phase"] == "Error"
    assert n["message"].startswith("cannot create InferenceService 'fraud': `skiff run` has no "
                                   "platform store")


def test_pytorchjob_deadline_kills_replicas(tmp_path):
    wf = """
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {name: slow-job}
    spec:
      entrypoint: main
      templates:
      - name: main
        activeDeadlineSeconds: 1
        resource:
          action: create
          manifest: |
            apiVersion: kubeflow.org/v1
            kind: PyTorchJob
            metadata: {name: slow}
            spec:
              pytorchReplicaSpecs:
                Worker:
                  replicas: 2
                  template: {spec: {containers: [{name: w, command: [sleep, "30"]}]}}
    """
    p = tmp_path / "slow.yaml"
    p.write_text(textwrap.dedent(wf))
    r = run("run", str(p), "-o", "json", "--run-dir", str(tmp_path / "runs"),
            env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 1, r.stdout + r.stderr
    n = json.loads(r.stdout)["status"]["nodes"]["slow-job"]
    assert n["phase"] == "Failed"
    assert "activeDeadlineSeconds" in n["message"]
    assert n["skiff"]["resource"]["status"]["replicaStatuses"]["Worker"]["failed"] == 2
