"""WorkflowTemplates given to `skiff run -f FILE`: workflowTemplateRef (the
template's spec, the Workflow's arguments winning by name) and templateRef
(one template called from a dag or steps); unknown references are exit 2
with the reference's position."""
import json
import textwrap

from conftest import run

WT = """
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: train-tmpl}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: lr, value: "0.1"}, {name: epochs, value: "3"}]
  templates:
  - name: main
    dag:
      tasks:
      - name: fit
        template: fit
        arguments: {parameters: [{name: lr, value: "{{workflow.parameters.lr}}"}]}
  - name: fit
    inputs: {parameters: [{name: lr}]}
    container:
      image: trainer:1
      command: [echo, "lr={{inputs.parameters.lr}} epochs={{workflow.parameters.epochs}}"]
"""

USE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: from-tmpl-}
spec:
  arguments:
    parameters: [{name: lr, value: "0.5"}]
  workflowTemplateRef: {name: train-tmpl}
"""

REF = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: refwf}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: epochs, value: "9"}, {name: lr, value: "1"}]
  templates:
  - name: main
    steps:
    - - name: whole
        templateRef: {name: train-tmpl, template: main}
    - - name: one
        templateRef: {name: train-tmpl, template: fit}
        arguments: {parameters: [{name: lr, value: "0.01"}]}
"""


def files(tmp_path, **docs):
    out = {}
    for name, text in docs.items():
        p = tmp_path / f"{name}.yaml"
        p.write_text(textwrap.dedent(text))
        out[name] = p
    return out


def results(stdout):
    st = json.loads(stdout)["status"]
    return {n["displayName"]: n for n in st["nodes"].values()}, st["phase"]


def test_workflow_template_ref(tmp_path):
    f = files(tmp_path, wt=WT, use=USE)
    r = run("run", str(f["use"]), "-f", str(f["wt"]), "-o", "json", "-p", "epochs=4",
            env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stdout + r.stderr
    nodes, phase = results(r.stdout)
    assert phase == "Succeeded"
    # lr from the Workflow, epochs from -p over the template's default
    assert nodes["fit"]["outputs"]["result"] == "lr=0.5 epochs=4"


def test_template_ref_in_steps(tmp_path):
    f = files(tmp_path, wt=WT, ref=REF)
    r = run("run", str(f["ref"]), "-f", str(f["wt"]), "-o", "json",
            env={"SKIFF_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stdout + r.stderr
    nodes, _ = results(r.stdout)
    assert nodes["whole"]["templateName"] == "train-tmpl/main"
    # inside the referenced dag, `template: fit` is the WorkflowTemplate's own
    assert nodes["fit"]["templateName"] == "train-tmpl/fit"
    assert nodes["fit"]["outputs"]["result"] == "lr=1 epochs=9"
    assert nodes["one"]["outputs"]["result"] == "lr=0.01 epochs=9"


def test_missing_references(tmp_path):
    f = files(tmp_path, wt=WT, ref=REF, use=USE,
              bad=REF.replace("template: fit}", "template: nope}"))
    env = {"SKIFF_HOME": str(tmp_path / "home")}
    r = run("run", str(f["ref"]), env=env)
    assert r.returncode == 2
    assert f"{f['ref']}:13:22: " in r.stderr and "needs its WorkflowTemplate" in r.stderr
    r = run("run", str(f["bad"]), "-f", str(f["wt"]), env=env)
    assert r.returncode == 2
    assert "template 'nope' not found in WorkflowTemplate 'train-tmpl'" in r.stderr
    assert f"{f['bad']}:14:9: spec.templates[0].steps[1][0]: " in r.stderr
    r = run("run", str(f["use"]), "-f", str(f["ref"]), env=env)
    assert r.returncode == 2
    assert "-f takes WorkflowTemplates" in r.stderr
