"""Resources through the real platform: apply/get/describe/delete, conflicts,
validation errors with file:line:column, the article's YAML."""
import json
import textwrap

import requests

from conftest import SRC

SEED = SRC / "examples" / "seed"

ISVC = textwrap.dedent("""\
    apiVersion: serving.kserve.io/v1beta1
    kind: InferenceService
    metadata:
      name: fraud-detector
      labels: {team: fraud-ml}
    spec:
      predictor:
        model:
          modelFormat: {name: xgboost}
          storageUri: models:/fraud-detector@champion
    """)


def test_apply_get_describe_delete_round_trip(platform, tmp_path):
    f = tmp_path / "isvc.yaml"
    f.write_text(ISVC)
    r = platform.cli("apply", "-f", str(f), check=0)
    assert r.stdout.strip() == "inferenceservice.serving.kserve.io/fraud-detector created"
    r = platform.cli("apply", "-f", str(f), check=0)
    assert r.stdout.strip() == "inferenceservice.serving.kserve.io/fraud-detector unchanged"

    # every name form of the kind, any case
    for kind in ["InferenceService", "inferenceservices", "isvc", "ISVC"]:
        r = platform.cli("get", kind, check=0)
        assert "fraud-detector" in r.stdout and r.stdout.startswith("NAME")

    obj = json.loads(platform.cli("get", "isvc", "fraud-detector", "-o", "json", check=0).stdout)
    md = obj["metadata"]
    assert md["name"] == "fraud-detector" and md["generation"] == 1
    assert len(md["uid"]) == 36 and md["resourceVersion"].isdigit()
    assert md["creationTimestamp"].endswith("Z")
    assert obj["spec"]["predictor"]["model"]["storageUri"] == "models:/fraud-detector@champion"

    y = platform.cli("get", "isvc", "fraud-detector", "-o", "yaml", check=0).stdout
    assert "kind: InferenceService" in y and "storageUri: models:/fraud-detector@champion" in y

    d = platform.cli("describe", "isvc", "fraud-detector", check=0).stdout
    assert "Name:              fraud-detector" in d and md["uid"] in d and "team: fraud-ml" in d

    # a spec change bumps generation and resourceVersion, keeps uid
    f.write_text(ISVC.replace("@champion", "@challenger"))
    r = platform.cli("apply", "-f", str(f), check=0)
    assert r.stdout.strip().endswith("configured")
    obj2 = json.loads(platform.cli("get", "isvc", "fraud-detector", "-o", "json", check=0).stdout)
    assert obj2["metadata"]["uid"] == md["uid"]
    assert obj2["metadata"]["generation"] == 2
    assert int(obj2["metadata"]["resourceVersion"]) > int(md["resourceVersion"])

    r = platform.cli("delete", "isvc", "fraud-detector", check=0)
    assert 'inferenceservice.serving.kserve.io "fraud-detector" deleted' in r.stdout
    r = platform.cli("get", "isvc", "fraud-detector", check=1)
    assert "not found" in r.stderr
    r = platform.cli("delete", "isvc", "fraud-detector", check=1)
    platform.cli("delete", "isvc", "fraud-detector", "--ignore-not-found", check=0)
    assert "No inferenceservices found." in platform.cli("get", "isvc", check=0).stderr


def test_stale_resource_version_is_409(platform):
    body = {"apiVersion": "skiff.dev/v1", "kind": "Entity", "metadata": {"name": "user"},
            "spec": {"joinKeys": ["user_id"], "valueType": "STRING"}}
    r = platform.api("PUT", "/api/v1/entities/user", json=body)
    assert r.status_code == 201, r.text
    rv = r.json()["metadata"]["resourceVersion"]

    body["spec"]["description"] = "card holder"
    body["metadata"]["resourceVersion"] = rv
    r = platform.api("PUT", "/api/v1/entities/user", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["resourceVersion"] != rv

    body["spec"]["description"] = "someone else's edit"   # still carrying the old rv
    r = platform.api("PUT", "/api/v1/entities/user", json=body)
    assert r.status_code == 409, r.text
    assert "modified" in r.json()["error"]["message"]
    assert platform.api("GET", "/api/v1/entities/user").json()["spec"]["description"] == "card holder"


def test_api_errors_are_json(platform):
    r = platform.api("GET", "/api/v1/nosuchkinds")
    assert r.status_code == 404 and "nosuchkinds" in r.json()["error"]["message"]
    r = platform.api("PUT", "/api/v1/entities/x", data="{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    body = {"apiVersion": "skiff.dev/v1", "kind": "Entity", "metadata": {"name": "y"},
            "spec": {"joinKeys": ["k"]}}
    r = platform.api("PUT", "/api/v1/entities/x", json=body)
    assert r.status_code == 400 and "does not match" in r.json()["error"]["message"]
    r = platform.api("PUT", "/api/v1/workflows/y", json=body)
    assert r.status_code == 400
    r = platform.api("PUT", "/api/v1/entities/y", data="x" * (5 << 20))
    assert r.status_code == 413
    r = platform.api("DELETE", "/api/v1")
    assert r.status_code == 405
    r = platform.api("GET", "/no/such/path")
    assert r.status_code == 404 and "error" in r.json()


def test_discovery_lists_kinds(platform):
    r = platform.api("GET", "/api/v1")
    assert r.status_code == 200
    kinds = {x["kind"]: x for x in r.json()["resources"]}
    for k in ["Workflow", "WorkflowTemplate", "CronWorkflow", "InferenceService", "ServingRuntime",
              "ScaledJob", "Application", "Entity", "DataSource", "FeatureView", "FeatureService",
              "DriftMonitor", "ServiceAccount", "Role"]:
        assert k in kinds, k
    assert "isvc" in kinds["InferenceService"]["shortNames"]


def test_the_articles_yaml_applies(platform):
    r = platform.cli("apply", "-f", str(SEED), check=0)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4, r.stdout
    assert any(l.startswith("workflow.argoproj.io/fraud-pipeline-") and l.endswith(" created") for l in lines)
    assert "inferenceservice.serving.kserve.io/fraud-detector created" in lines
    assert "scaledjob.keda.sh/model-training-scaledjob created" in lines
    assert "application.argoproj.io/mlops-platform created" in lines
    assert "error" not in r.stderr.lower()
    # the stored Workflow keeps what the user wrote, unknown fields included
    wf = platform.api("GET", "/api/v1/workflows").json()["items"][0]
    assert wf["metadata"]["generateName"] == "fraud-pipeline-"
    assert wf["spec"]["entrypoint"] == "pipeline"
    sj = platform.api("GET", "/api/v1/scaledjobs/model-training-scaledjob").json()
    assert sj["spec"]["triggers"][0]["metadata"]["queueLength"] == "1"   # quoted stays a string


def test_bad_yaml_reports_line_and_column(platform, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: skiff.dev/v1\nkind: Entity\nmetadata:\n  name: [unclosed\nspec: {}\n")
    r = platform.cli("apply", "-f", str(bad))
    assert r.returncode == 2, r
    assert "broken.yaml:" in r.stderr
    loc = r.stderr.split("broken.yaml:")[1].split(":")
    assert loc[0].isdigit() and loc[1].isdigit(), r.stderr


def test_unknown_template_points_at_the_entrypoint(platform, tmp_path):
    good = tmp_path / "a-good.yaml"
    good.write_text(ISVC)
    wf = tmp_path / "pipeline.yaml"
    wf.write_text(textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: fraud-pipeline
        spec:
          entrypoint: trainer
          templates:
          - name: pipeline
            container:
              image: skiff
              command: [skiff, version]
        """))
    r = platform.cli("apply", "-f", str(tmp_path))
    assert r.returncode == 2
    assert 'pipeline.yaml:6:15: ' in r.stderr and '"trainer"' in r.stderr, r.stderr
    assert "nothing was applied" in r.stderr
    # validation happens before anything is sent: the good file was not applied either
    assert platform.api("GET", "/api/v1/inferenceservices").json()["items"] == []


def test_unknown_upstream_field_is_kept_with_a_warning(platform, tmp_path):
    f = tmp_path / "isvc.yaml"
    f.write_text(ISVC + "  frobnicate: true\n")
    r = platform.cli("apply", "-f", str(f), check=0)
    assert "warning" in r.stderr and "frobnicate" in r.stderr
    obj = platform.api("GET", "/api/v1/inferenceservices/fraud-detector").json()
    assert obj["spec"]["frobnicate"] is True
    r = platform.api("PUT", "/api/v1/inferenceservices/fraud-detector", json=obj)
    assert r.status_code == 200 and "frobnicate" in r.headers.get("Warning", "")
    assert r.headers["Warning"].startswith('299 - "')
    # a field name with a quote stays inside the header's quoted string
    obj["spec"]['we"ird\\'] = 1
    r = platform.api("PUT", "/api/v1/inferenceservices/fraud-detector", json=obj)
    assert r.status_code == 200, r.text
    assert 'we\\"ird\\\\' in r.headers["Warning"], r.headers["Warning"]


def test_apply_records_the_folder_it_was_applied_from(platform, tmp_path):
    sub = tmp_path / "repo"
    sub.mkdir()
    (sub / "isvc.yaml").write_text(ISVC)
    platform.cli("apply", "-f", str(sub / "isvc.yaml"), check=0)
    obj = platform.api("GET", "/api/v1/inferenceservices/fraud-detector").json()
    assert obj["metadata"]["annotations"]["skiff.dev/applied-from"] == str(sub.resolve())
    # the same file applied again is unchanged: the annotation is stable
    r = platform.cli("apply", "-f", str(sub / "isvc.yaml"), check=0)
    assert r.stdout.strip().endswith("unchanged")


def test_apply_from_stdin(platform):
    r = platform.cli("apply", "-f", "-", input=ISVC, check=0)
    assert r.stdout.strip().endswith("created")
