"""Resources across workflows: one GPU (SKIFF_GPUS=0) asked for by two
workflows run side by side in one `skiff run` process is never held by both
at once; the second waits with the reason in its status; node pools from
SKIFF_POOLS; requests that can never fit fail at load with a position."""
import json
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from conftest import run

TRAIN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
spec:
  entrypoint: train
  templates:
  - name: train
    container:
      image: pytorch/pytorch:2.1.0
      command: [sh, -c]
      args:
      - |
        echo "start $(date +%s.%N) $CUDA_VISIBLE_DEVICES" >> {shared}/{name}.times
        sleep 0.5
        echo "end $(date +%s.%N)" >> {shared}/{name}.times
      resources:
        limits: {{nvidia.com/gpu: 1, memory: 256Mi}}
"""


@pytest.fixture
def shared():
    """A folder steps can all see: not under /tmp, which is private to each step."""
    d = tempfile.mkdtemp(prefix="skiff-sched-", dir="/var/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def times(path):
    d = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        d[parts[0]] = float(parts[1])
        if parts[0] == "start":
            d["devices"] = parts[2] if len(parts) > 2 else ""
    return d


def test_two_workflows_share_one_gpu(tmp_path, shared):
    a = write(tmp_path, "a.yaml", TRAIN.format(name="wf-a", shared=shared))
    b = write(tmp_path, "b.yaml", TRAIN.format(name="wf-b", shared=shared))
    r = run("run", str(a), str(b), "-o", "json", "--run-dir", str(tmp_path / "runs"),
            env={"SKIFF_HOME": str(tmp_path / "home"), "SKIFF_GPUS": "0"})
    assert "Sanitizer" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    items = json.loads(r.stdout)["items"]
    assert [w["status"]["phase"] for w in items] == ["Succeeded", "Succeeded"]
    ta, tb = times(shared / "wf-a.times"), times(shared / "wf-b.times")
    # never both at once, and each saw the one GPU
    assert ta["end"] <= tb["start"] or tb["end"] <= ta["start"], (ta, tb)
    assert ta["devices"] == "0" and tb["devices"] == "0"
    waited = [n["skiff"].get("waitedFor") for w in items for n in w["status"]["nodes"].values()]
    waited = [x for x in waited if x]
    assert len(waited) == 1, waited
    assert waited[0].startswith("waiting for nvidia.com/gpu: 0 of 1 free, held by wf-")
    assert waited[0].endswith("/train")
    for w in items:
        node = w["status"]["nodes"][w["metadata"]["name"]]
        assert node["skiff"]["gpus"] == [0]
        assert node["skiff"]["gpuSeconds"] > 0.4


def test_step_without_gpu_sees_none(tmp_path, shared):
    wf = write(tmp_path, "wf.yaml", f"""
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {{name: cpu-only}}
        spec:
          entrypoint: main
          templates:
          - name: main
            container:
              image: x
              command: [sh, -c, 'echo "[$CUDA_VISIBLE_DEVICES]" > {shared}/dev']
        """)
    r = run("run", str(wf), "--run-dir", str(tmp_path / "runs"),
            env={"SKIFF_HOME": str(tmp_path / "home"), "SKIFF_GPUS": "0,1",
                 "CUDA_VISIBLE_DEVICES": "0,1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (shared / "dev").read_text() == "[]\n"


def test_never_fits_fails_at_load(tmp_path):
    wf = write(tmp_path, "big.yaml", TRAIN.format(name="big", shared="/var/tmp")
               .replace("nvidia.com/gpu: 1", "nvidia.com/gpu: 2"))
    r = run("run", str(wf), env={"SKIFF_HOME": str(tmp_path / "home"), "SKIFF_GPUS": "0"})
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{wf}:17:7: spec.templates[0].container.resources: " in r.stderr
    assert "requests 2 nvidia.com/gpu but pool 'default' has 1" in r.stderr


def test_pools_pick_by_selector_and_toleration(tmp_path, shared):
    pools = json.dumps([
        {"name": "gpu", "gpus": "0", "labels": {"node-group": "gpu"},
         "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        {"name": "cpu", "cpu": "1", "memory": "1Gi", "labels": {"node-group": "cpu"}},
    ])
    wf = write(tmp_path, "pools.yaml", f"""
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {{name: pools}}
        spec:
          entrypoint: main
          templates:
          - name: main
            dag:
              tasks:
              - {{name: prep, template: prep}}
              - {{name: train, template: train}}
          - name: prep
            nodeSelector: {{node-group: cpu}}
            container:
              image: x
              command: [sh, -c, 'true']
              resources: {{requests: {{memory: 512Mi}}}}
          - name: train
            nodeSelector: {{node-group: gpu}}
            tolerations: [{{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}]
            container:
              image: x
              command: [sh, -c, 'echo "$CUDA_VISIBLE_DEVICES" > {shared}/dev']
              resources: {{limits: {{nvidia.com/gpu: 1}}}}
        """)
    env = {"SKIFF_HOME": str(tmp_path / "home"), "SKIFF_GPUS": "0", "SKIFF_POOLS": pools}
    r = run("run", str(wf), "-o", "json", "--run-dir", str(tmp_path / "runs"), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    nodes = {n["displayName"]: n for n in json.loads(r.stdout)["status"]["nodes"].values()}
    assert nodes["prep"]["skiff"]["pool"] == "cpu"
    assert nodes["train"]["skiff"]["pool"] == "gpu"
    assert (shared / "dev").read_text() == "0\n"
    # without the toleration no pool can take the GPU step: exit 2 with its position
    bad = write(tmp_path, "bad.yaml", wf.read_text().replace(
        "tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]", ""))
    r = run("run", str(bad), env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no node pool matches the step's nodeSelector and tolerations" in r.stderr
    assert f"{bad}:" in r.stderr


POOLED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: pooled}
spec:
  entrypoint: main
  templates:
  - name: main
    nodeSelector: {node-group: small}
    container:
      image: alpine
      command: [sh, -c, "echo ran"]
      resources:
        requests: {memory: MEM}
"""


def test_pools_from_the_platform_config(tmp_path):
    """The config key `pools` declares the same pools as SKIFF_POOLS."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(textwrap.dedent("""\
        pools:
          - name: small
            memory: 100Mi
            labels: {node-group: small}
          - {name: rest, labels: {node-group: rest}}
        """))
    wf = tmp_path / "wf.yaml"
    env = {"SKIFF_HOME": str(home), "SKIFF_POOLS": ""}
    wf.write_text(POOLED.replace("MEM", "200Mi"))
    r = run("run", str(wf), env=env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "requests 200Mi memory but pool 'small' has 100Mi" in r.stderr, r.stderr
    wf.write_text(POOLED.replace("MEM", "50Mi"))
    r = run("run", str(wf), "-o", "json", "--run-dir", str(tmp_path / "runs"), env=env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    nodes = json.loads(r.stdout)["status"]["nodes"]
    assert [n["skiff"]["pool"] for n in nodes.values()] == ["small"]


@pytest.mark.parametrize("text, want", [
    ("pools: 5\n", "config.yaml:1:8: pools must be a list"),
    ("pools:\n  - {cpu: '1'}\n", "config key 'pools': SKIFF_POOLS[0] needs a name"),
])
def test_bad_pools_in_the_config(tmp_path, text, want):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(text)
    wf = tmp_path / "wf.yaml"
    wf.write_text(POOLED.replace("MEM", "1Mi"))
    r = run("run", str(wf), env={"SKIFF_HOME": str(home), "SKIFF_POOLS": ""})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert want in r.stderr, r.stderr
