"""Artifacts between tasks (outputs.artifacts -> arguments.artifacts.from ->
inputs.artifacts) through the local artifact repository, and steps whose
command is `skiff` itself (docs/workflows.md, "Artifacts")."""
import io
import json
import os
import shutil
import subprocess
import tarfile
import textwrap
import time

import requests

from conftest import SKIFF_BIN, run


def run_wf(tmp_path, text, env=None):
    p = tmp_path / "wf.yaml"
    p.write_text(textwrap.dedent(text))
    r = run("run", str(p), "-o", "json", "--run-dir", str(tmp_path / "runs"),
            env={"SKIFF_HOME": str(tmp_path / "home"), **(env or {})})
    assert "Sanitizer" not in r.stderr, r.stderr
    status = json.loads(r.stdout)["status"] if r.stdout.strip().startswith("{") else None
    return r, status


def node(status, display):
    hits = [n for n in status["nodes"].values() if n["displayName"] == display]
    assert hits, [n["displayName"] for n in status["nodes"].values()]
    return hits[0]


def arts(node_, side="outputs"):
    return {a["name"]: a for a in node_.get(side, {}).get("artifacts", [])}


PASSING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: art-pass}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: produce, template: produce}
          - name: consume
            template: consume
            dependencies: [produce]
            arguments:
              artifacts:
                - {name: data, from: "{{tasks.produce.outputs.artifacts.data}}"}
                - {name: report, from: "{{tasks.produce.outputs.artifacts.report}}"}
                - {name: model, from: "{{tasks.produce.outputs.artifacts.model}}"}
    - name: produce
      container:
        image: python:3.11
        command: [sh, -c]
        args:
          - |
            mkdir -p /tmp/data/sub && echo a > /tmp/data/a.txt && echo b > /tmp/data/sub/b.txt
            echo auc=0.97 > /tmp/report.txt
            printf 'weights' > /tmp/model.bin
      outputs:
        artifacts:
          - {name: data, path: /tmp/data}
          - {name: report, path: /tmp/report.txt}
          - {name: model, path: /tmp/model.bin, archive: {none: {}}}
    - name: consume
      inputs:
        artifacts:
          - {name: data, path: /tmp/in}
          - {name: report, path: report.txt}
          - {name: model, path: "/tmp/m/model.bin"}
      container:
        image: python:3.11
        command: [sh, -c]
        args:
          - >
            test "$(cat /tmp/in/a.txt)$(cat /tmp/in/sub/b.txt)" = ab &&
            test "$(cat report.txt)" = auc=0.97 &&
            test "$(cat {{inputs.artifacts.model.path}})" = weights &&
            echo consumed
"""


def test_a_file_and_a_folder_pass_between_tasks(tmp_path):
    r, st = run_wf(tmp_path, PASSING)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert st["phase"] == "Succeeded", st
    prod, cons = node(st, "produce"), node(st, "consume")
    assert cons["outputs"]["result"] == "consumed"
    out = arts(prod)
    uid = json.loads(r.stdout)["metadata"]["uid"]
    assert out["data"]["key"] == f"workflows/{uid}/{prod['id']}/data.tgz"
    assert out["report"]["key"].endswith("/report.tgz")
    assert out["model"]["key"].endswith("/model") and out["model"]["archive"] == {"none": {}}
    assert arts(cons, "inputs")["data"]["key"] == out["data"]["key"]
    # the repository holds real tar+gzip archives (Python's tarfile is the oracle)
    repo = tmp_path / "home" / "artifacts"
    with tarfile.open(repo / out["data"]["key"], "r:gz") as t:
        names = sorted(t.getnames())
        assert names == ["data", "data/a.txt", "data/sub", "data/sub/b.txt"], names
        assert t.extractfile("data/sub/b.txt").read() == b"b\n"
    with tarfile.open(repo / out["report"]["key"], "r:gz") as t:
        assert t.getnames() == ["report.txt"]
    assert (repo / out["model"]["key"]).read_bytes() == b"weights"


COMPRESSIBLE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: art-zip}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: produce, template: produce}
          - name: consume
            template: consume
            dependencies: [produce]
            arguments:
              artifacts:
                - {name: d, from: "{{tasks.produce.outputs.artifacts.d}}"}
    - name: produce
      container:
        image: x
        command: [sh, -c, "mkdir /tmp/d && head -c 2097152 /dev/zero > /tmp/d/zeros"]
      outputs:
        artifacts:
          - {name: d, path: /tmp/d}
    - name: consume
      inputs:
        artifacts:
          - {name: d, path: /tmp/in}
      container:
        image: x
        command: [sh, -c, "wc -c < /tmp/in/zeros && tr -d '\\\\000' < /tmp/in/zeros | wc -c"]
"""


def test_archives_are_compressed_and_capped(tmp_path):
    """2 MiB of zeros travel as a few KiB of gzip (zlib, level 1) and arrive
    whole; SKIFF_ARTIFACT_MAX_UNPACKED below the tar size stops the
    placing (the zip-bomb guard), failing the consumer."""
    r, st = run_wf(tmp_path, COMPRESSIBLE)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert node(st, "consume")["outputs"]["result"].split() == ["2097152", "0"]
    key = arts(node(st, "produce"))["d"]["key"]
    archive = tmp_path / "home" / "artifacts" / key
    assert archive.stat().st_size < 64 << 10, archive.stat().st_size
    with tarfile.open(archive, "r:gz") as t:
        assert t.extractfile("d/zeros").read() == bytes(2 << 20)

    r, st = run_wf(tmp_path, COMPRESSIBLE, env={"SKIFF_ARTIFACT_MAX_UNPACKED": "1Mi"})
    assert r.returncode != 0 and st["phase"] == "Error", st
    cons = node(st, "consume")
    assert cons["phase"] == "Error"
    assert "cannot place input artifact 'd' at '/tmp/in'" in cons["message"], cons["message"]
    assert ("it unpacks to more than 1048576 bytes, the limit artifact_max_unpacked sets "
            "(config.yaml or SKIFF_ARTIFACT_MAX_UNPACKED)" in cons["message"]), cons["message"]

    # the same cap as the config key, and a bad one stops the run at its position
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "config.yaml").write_text("artifact_max_unpacked: 1.5Mi\n")
    r, st = run_wf(tmp_path, COMPRESSIBLE)
    assert r.returncode != 0 and st["phase"] == "Error", st
    assert "more than 1572864 bytes" in node(st, "consume")["message"]
    (tmp_path / "home" / "config.yaml").write_text("artifact_max_unpacked: lots\n")
    r, st = run_wf(tmp_path, COMPRESSIBLE)
    assert r.returncode == 2 and "config.yaml:1:24: artifact_max_unpacked: 'lots' is not a size" \
        in r.stderr, r.stderr


MISSING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: art-missing}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: produce, template: produce}
          - name: needs-it
            template: needs
            dependencies: [produce]
            arguments:
              artifacts:
                - {name: x, from: "{{tasks.produce.outputs.artifacts.x}}"}
          - name: can-do-without
            template: optional
            dependencies: [produce]
            arguments:
              artifacts:
                - {name: x, from: "{{tasks.produce.outputs.artifacts.x}}"}
    - name: produce
      container:
        image: alpine
        command: [sh, -c, "echo nothing written"]
      outputs:
        artifacts:
          - {name: x, path: /tmp/x.txt, optional: true}
    - name: needs
      inputs:
        artifacts: [{name: x, path: /tmp/x.txt}]
      container: {image: alpine, command: [sh, -c, "cat /tmp/x.txt"]}
    - name: optional
      inputs:
        artifacts: [{name: x, path: /tmp/x.txt, optional: true}]
      container: {image: alpine, command: [sh, -c, "test ! -e /tmp/x.txt && echo fine"]}
"""


def test_missing_required_artifact_fails_the_step_optional_is_fine(tmp_path):
    r, st = run_wf(tmp_path, MISSING)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert node(st, "produce")["phase"] == "Succeeded"
    assert "artifacts" not in node(st, "produce").get("outputs", {})
    needs = node(st, "needs-it")
    assert needs["phase"] == "Error"
    assert needs["message"] == ("inputs.artifacts.x was not supplied: 'produce' has no output "
                                "artifact 'x' (Succeeded)"), needs["message"]
    ok = node(st, "can-do-without")
    assert ok["phase"] == "Succeeded" and ok["outputs"]["result"] == "fine"


def test_missing_required_output_artifact_is_an_error(tmp_path):
    r, st = run_wf(tmp_path, """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: art-out}
        spec:
          entrypoint: main
          templates:
            - name: main
              container: {image: alpine, command: ["true"]}
              outputs:
                artifacts: [{name: model, path: /tmp/model.bin}]
        """)
    assert r.returncode == 1
    assert st["phase"] == "Error"
    assert "cannot save output artifact 'model': '/tmp/model.bin': No such file" in \
        node(st, "art-out")["message"]


def test_steps_pass_artifacts_and_raw_inputs(tmp_path):
    r, st = run_wf(tmp_path, """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: art-steps}
        spec:
          entrypoint: main
          templates:
            - name: main
              steps:
                - - {name: make, template: make}
                - - name: use
                    template: use
                    arguments:
                      artifacts:
                        - {name: in, from: "{{steps.make.outputs.artifacts.out}}"}
                        - {name: cfg, raw: {data: "lr=0.1"}}
                - - name: again
                    template: use
                    arguments:
                      artifacts:
                        - {name: in, from: "{{workflow.outputs.artifacts.greeting}}"}
                        - {name: cfg, raw: {data: "global"}}
            - name: make
              script:
                image: python:3.11
                command: [sh]
                source: echo hello > /tmp/out.txt
              outputs:
                artifacts: [{name: out, path: /tmp/out.txt, globalName: greeting}]
            - name: use
              inputs:
                artifacts:
                  - {name: in, path: /tmp/in.txt}
                  - {name: cfg, path: /tmp/cfg}
              container:
                image: alpine
                command: [sh, -c, 'echo "$(cat /tmp/in.txt) $(cat /tmp/cfg)"']
        """)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert node(st, "use")["outputs"]["result"] == "hello lr=0.1"
    # globalName: exported to status.outputs and usable as a `from`
    assert node(st, "again")["outputs"]["result"] == "hello global"
    key = arts(node(st, "make"))["out"]["key"]
    assert st["outputs"]["artifacts"] == [{"name": "greeting", "key": key}]


BAD = {
    "unknown task": ("{name: x, from: \"{{tasks.nope.outputs.artifacts.x}}\"}",
                     "unknown artifact reference {{tasks.nope.outputs.artifacts.x}}"),
    "undeclared output": ("{name: x, from: \"{{tasks.a.outputs.artifacts.y}}\"}",
                          "template \"a\" declares no output artifact \"y\""),
    "not a reference": ("{name: x, from: \"tasks.a.outputs.artifacts.x\"}",
                        "unknown artifact reference 'tasks.a.outputs.artifacts.x'"),
    "s3": ("{name: x, s3: {key: k}}", "artifact location 's3' is not supported"),
}


def test_bad_artifact_references_are_load_errors(tmp_path):
    for case, (arg, want) in BAD.items():
        text = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: bad}}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {{name: a, template: a}}
          - name: b
            template: b
            dependencies: [a]
            arguments:
              artifacts:
                - {arg}
    - name: a
      container: {{image: alpine, command: ["true"]}}
      outputs:
        artifacts: [{{name: x, path: /tmp/x}}]
    - name: b
      inputs:
        artifacts: [{{name: x, path: /tmp/x}}]
      container: {{image: alpine, command: ["true"]}}
"""
        p = tmp_path / "bad.yaml"
        p.write_text(text)
        r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
        assert r.returncode == 2, (case, r.stdout, r.stderr)
        assert want in r.stderr, (case, r.stderr)
        assert f"{p}:16:" in r.stderr, (case, r.stderr)   # file:line:col of the argument


FANNED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fan}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - {name: a, template: a, withItems: [1, 2]}
          - name: b
            template: b
            dependencies: [a]
            arguments:
              artifacts: [{name: x, from: "{{tasks.a.outputs.artifacts.x}}"}]
    - name: a
      container: {image: alpine, command: [sh, -c, "echo > /tmp/x"]}
      outputs:
        artifacts: [{name: x, path: /tmp/x}]
    - name: b
      inputs:
        artifacts: [{name: x, path: /tmp/x}]
      container: {image: alpine, command: [cat, /tmp/x]}
"""

FANNED_OK = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fan}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: a
            template: a
            withItems: [1, 2]
            arguments: {parameters: [{name: n, value: "{{item}}"}]}
    - name: a
      inputs: {parameters: [{name: n}]}
      container: {image: alpine, command: [sh, -c, "echo {{inputs.parameters.n}} > /tmp/x"]}
      outputs:
        artifacts: [{name: x, path: /tmp/x}]
"""


def test_fanned_out_artifacts_stay_per_item(tmp_path):
    """As Argo: each item's node keeps its own output artifacts (under its
    own node key); naming the fanned-out task's artifact is a load error."""
    p = tmp_path / "fan.yaml"
    p.write_text(FANNED)
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"{p}:15:" in r.stderr and ('task "a" fans out (withItems/withParam); each item\'s '
                                       'node keeps its own output artifacts, which are not '
                                       'aggregated') in r.stderr, r.stderr
    r, st = run_wf(tmp_path, FANNED_OK)
    assert r.returncode == 0, (r.stdout, r.stderr)
    seen = set()
    for item in ("a(0:1)", "a(1:2)"):
        n = node(st, item)
        key = arts(n)["x"]["key"]
        assert key.endswith(f"/{n['id']}/x.tgz"), key
        with tarfile.open(tmp_path / "home" / "artifacts" / key, "r:gz") as t:
            seen.add(t.extractfile("x").read())
    assert seen == {b"1\n", b"2\n"}


def test_artifact_from_a_task_that_may_not_have_run_is_a_load_error(tmp_path):
    """Argo resolves a task's references among its ancestors: without the
    dependency the consumer would start at once and miss the artifact."""
    p = tmp_path / "wf.yaml"
    p.write_text(textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: bad}
        spec:
          entrypoint: main
          templates:
            - name: main
              dag:
                tasks:
                  - {name: a, template: a}
                  - name: b
                    template: b
                    arguments:
                      artifacts: [{name: x, from: "{{tasks.a.outputs.artifacts.x}}"}]
            - name: a
              container: {image: alpine, command: ["true"]}
              outputs: {artifacts: [{name: x, path: /tmp/x}]}
            - name: b
              inputs: {artifacts: [{name: x, path: /tmp/x}]}
              container: {image: alpine, command: ["true"]}
        """))
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2
    assert f"{p}:14:" in r.stderr, r.stderr
    assert 'task "b" does not depend on "a" (add it to dependencies or depends)' in r.stderr
    # in a steps template, the producer must run in an earlier group
    p.write_text(textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: bad}
        spec:
          entrypoint: main
          templates:
            - name: main
              steps:
                - - {name: a, template: a}
                  - name: b
                    template: b
                    arguments:
                      artifacts: [{name: x, from: "{{steps.a.outputs.artifacts.x}}"}]
            - name: a
              container: {image: alpine, command: ["true"]}
              outputs: {artifacts: [{name: x, path: /tmp/x}]}
            - name: b
              inputs: {artifacts: [{name: x, path: /tmp/x}]}
              container: {image: alpine, command: ["true"]}
        """))
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2
    assert 'step "a" runs in group 0, not before this one' in r.stderr, r.stderr


def test_unsupplied_input_and_host_path_are_load_errors(tmp_path):
    text = textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: bad}
        spec:
          entrypoint: main
          templates:
            - name: main
              dag:
                tasks:
                  - {name: b, template: b}
            - name: b
              inputs:
                artifacts: [{name: x, path: /tmp/x}]
              container: {image: alpine, command: ["true"]}
        """)
    p = tmp_path / "wf.yaml"
    p.write_text(text)
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2
    assert f"{p}:10:13:" in r.stderr, r.stderr
    assert "inputs.artifacts.x was not supplied (template \"b\" needs it)" in r.stderr
    p.write_text(text.replace("{name: b, template: b}",
                              "{name: b, template: b, arguments: {artifacts: "
                              "[{name: x, raw: {data: hi}}]}}")
                     .replace("path: /tmp/x", "path: /etc/x"))
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2
    assert f"{p}:13:" in r.stderr and "places inputs under /tmp" in r.stderr, r.stderr


def test_skiff_as_a_command_is_this_binary(tmp_path):
    """A pipeline made of skiff commands runs without skiff on PATH, also
    when the binary lies under /tmp, which each step's private /tmp hides
    (a checkout in /tmp, as CI may have)."""
    exe = tmp_path / "bin" / "skiff"
    exe.parent.mkdir()
    shutil.copy2(SKIFF_BIN, exe)
    assert str(exe).startswith("/tmp/"), exe
    p = tmp_path / "wf.yaml"
    p.write_text(textwrap.dedent("""
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: self}
        spec:
          entrypoint: main
          templates:
            - name: main
              steps:
                - - {name: version, template: version}
                  - {name: script, template: script}
            - name: version
              container: {image: skiff, command: [skiff, --version]}
            - name: script
              script:
                image: skiff
                command: [skiff, run, -o, json]
                source: |
                  apiVersion: argoproj.io/v1alpha1
                  kind: Workflow
                  metadata: {name: inner}
                  spec:
                    entrypoint: hi
                    templates:
                      - name: hi
                        container: {image: alpine, command: [/bin/echo, inner-ran]}
        """))
    r = subprocess.run([str(exe), "run", str(p), "-o", "json", "--run-dir", str(tmp_path / "runs")],
                       env={**os.environ, "SKIFF_HOME": str(tmp_path / "home"),
                            "PATH": "/nonexistent"}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    st = json.loads(r.stdout)["status"]
    assert node(st, "version")["phase"] == "Succeeded", node(st, "version")
    assert node(st, "version")["outputs"]["result"].strip(), node(st, "version")
    inner = json.loads(node(st, "script")["outputs"]["result"])["status"]
    assert inner["phase"] == "Succeeded", inner
    assert node(inner, "inner")["outputs"]["result"] == "inner-ran"


def test_artifacts_pass_between_tasks_in_the_platform(platform):
    wf = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "art-ctl"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "dag": {"tasks": [
                    {"name": "produce", "template": "produce"},
                    {"name": "consume", "template": "consume", "dependencies": ["produce"],
                     "arguments": {"artifacts": [
                         {"name": "d", "from": "{{tasks.produce.outputs.artifacts.d}}"}]}},
                ]}},
                {"name": "produce",
                 "container": {"image": "alpine", "command": [
                     "sh", "-c", "mkdir /tmp/d && echo 42 > /tmp/d/n"]},
                 "outputs": {"artifacts": [{"name": "d", "path": "/tmp/d"}]}},
                {"name": "consume",
                 "inputs": {"artifacts": [{"name": "d", "path": "/tmp/d"}]},
                 "container": {"image": "alpine", "command": ["cat", "/tmp/d/n"]}},
            ],
        },
    }
    r = platform.api("POST", "/api/v1/workflows", json=wf)
    assert r.status_code in (200, 201), r.text
    deadline = time.monotonic() + 30
    st = {}
    while time.monotonic() < deadline:
        st = platform.api("GET", "/api/v1/workflows/art-ctl").json().get("status") or {}
        if st.get("phase") in ("Succeeded", "Failed", "Error"):
            break
        time.sleep(0.1)
    assert st.get("phase") == "Succeeded", (st, platform.logs())
    assert node(st, "consume")["outputs"]["result"] == "42"
    key = arts(node(st, "produce"))["d"]["key"]
    # kept in the platform's blob store (config key `artifacts`)
    assert os.path.isfile(platform.home / "artifacts" / key), key
    # and downloadable, by node display name or ID (scope resources:read)
    r = platform.api("GET", "/api/v1/workflows/art-ctl/artifacts/produce/d")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as t:
        assert t.extractfile("d/n").read() == b"42\n"
    r = platform.api("GET", f"/api/v1/workflows/art-ctl/artifacts/{node(st, 'produce')['id']}/d")
    assert r.status_code == 200 and r.content == (platform.home / "artifacts" / key).read_bytes()
    r = platform.api("GET", "/api/v1/workflows/art-ctl/artifacts/produce/nope")
    assert r.status_code == 404, r.text
    assert requests.get(platform.url + "/api/v1/workflows/art-ctl/artifacts/produce/d",
                        timeout=5).status_code == 401


def test_nested_dag_passes_artifacts_in_and_out(tmp_path):
    """{{inputs.artifacts.A}} passes a dag's input on; a dag's
    outputs.artifacts[].from passes a task's output up."""
    r, st = run_wf(tmp_path, """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: art-nested}
        spec:
          entrypoint: main
          templates:
            - name: main
              dag:
                tasks:
                  - name: inner
                    template: inner
                    arguments:
                      artifacts: [{name: seed, raw: {data: "21"}}]
                  - name: show
                    template: show
                    dependencies: [inner]
                    arguments:
                      artifacts:
                        - {name: n, from: "{{tasks.inner.outputs.artifacts.result}}"}
            - name: inner
              inputs:
                artifacts: [{name: seed}]
              outputs:
                artifacts:
                  - {name: result, from: "{{tasks.double.outputs.artifacts.out}}"}
              dag:
                tasks:
                  - name: double
                    template: double
                    arguments:
                      artifacts: [{name: in, from: "{{inputs.artifacts.seed}}"}]
            - name: double
              inputs:
                artifacts: [{name: in, path: /tmp/in}]
              script:
                image: python:3.11
                command: [sh]
                source: echo $(( $(cat /tmp/in) * 2 )) > /tmp/out
              outputs:
                artifacts: [{name: out, path: /tmp/out}]
            - name: show
              inputs:
                artifacts: [{name: n, path: n.txt}]
              container: {image: alpine, command: [cat, n.txt]}
        """)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert node(st, "show")["outputs"]["result"] == "42"
    assert arts(node(st, "inner"))["result"]["key"] == arts(node(st, "double"))["out"]["key"]


def test_entrypoint_artifacts_from_spec_arguments_and_mode(tmp_path):
    r, st = run_wf(tmp_path, """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: art-entry}
        spec:
          entrypoint: main
          arguments:
            artifacts:
              - name: tool
                raw: {data: "#!/bin/sh\\necho tool-ran\\n"}
          templates:
            - name: main
              inputs:
                artifacts: [{name: tool, path: /tmp/bin/tool, mode: 0o755}]
              container: {image: alpine, command: [sh, -c, "stat -c %a /tmp/bin/tool; /tmp/bin/tool"]}
        """)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert node(st, "art-entry")["outputs"]["result"] == "755\ntool-ran"
    # 0755 is octal, as Kubernetes reads the same manifest; 0999 is no mode
    p = tmp_path / "wf.yaml"
    p.write_text(p.read_text().replace("0o755", "0750"))
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, (r.stdout, r.stderr)
    p.write_text(p.read_text().replace("0750", "0999"))
    r = run("run", str(p), env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 2 and "such as 0755" in r.stderr, r.stderr


def test_pytorchjob_master_output_artifact(tmp_path):
    """A resource template's output artifacts come from the Master's folder."""
    r, st = run_wf(tmp_path, """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: art-job}
        spec:
          entrypoint: main
          templates:
            - name: main
              dag:
                tasks:
                  - {name: train, template: train}
                  - name: serve
                    template: serve
                    dependencies: [train]
                    arguments:
                      artifacts:
                        - {name: model, from: "{{tasks.train.outputs.artifacts.model}}"}
            - name: train
              outputs:
                artifacts: [{name: model, path: /tmp/model}]
              resource:
                action: create
                manifest: |
                  apiVersion: kubeflow.org/v1
                  kind: PyTorchJob
                  metadata: {name: t}
                  spec:
                    pytorchReplicaSpecs:
                      Master:
                        replicas: 1
                        template:
                          spec:
                            containers:
                            - name: pytorch
                              image: trainer
                              command: [sh, -c, "mkdir /tmp/model && echo rank-$RANK > /tmp/model/w"]
                      Worker:
                        replicas: 1
                        template:
                          spec:
                            containers:
                            - {name: pytorch, image: trainer, command: ["true"]}
            - name: serve
              inputs:
                artifacts: [{name: model, path: /tmp/m}]
              container: {image: alpine, command: [cat, /tmp/m/w]}
        """)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert node(st, "serve")["outputs"]["result"] == "rank-0"
    assert arts(node(st, "train"))["model"]["key"].endswith("/model.tgz")
