"""In `skiff up`: `resource` actions other than create (get, patch merge and
json, replace, delete) on a skiff kind in the platform's store, with
setOwnerReference and jsonPath outputs; artifacts of a fanned-out task kept
per item node; `skiff artifacts` listing and downloading them."""
import io
import tarfile
import time

WF = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
    "metadata": {"name": "acts"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "dag": {"tasks": [
                {"name": "make", "template": "make", "withItems": ["a", "b"],
                 "arguments": {"parameters": [{"name": "x", "value": "{{item}}"}]}},
                {"name": "create", "template": "create"},
                {"name": "label", "template": "label", "dependencies": ["create"]},
                {"name": "retype", "template": "retype", "dependencies": ["label"]},
                {"name": "get", "template": "get", "dependencies": ["retype"]},
                {"name": "delete", "template": "delete", "dependencies": ["get"]},
                {"name": "delete-again", "template": "delete", "dependencies": ["delete"]},
            ]}},
            {"name": "make", "inputs": {"parameters": [{"name": "x"}]},
             "container": {"image": "alpine", "command": [
                 "sh", "-c", "echo {{inputs.parameters.x}} > /tmp/out.txt"]},
             "outputs": {"artifacts": [{"name": "out", "path": "/tmp/out.txt"}]}},
            {"name": "create", "resource": {
                "action": "create", "setOwnerReference": True,
                "manifest": "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"
                            "spec: {joinKeys: [user_id], valueType: STRING}\n"}},
            {"name": "label", "resource": {
                # no mergeStrategy: kubectl's default, strategic, read as merge
                "action": "patch",
                "manifest": "apiVersion: skiff.dev/v1\nkind: Entity\n"
                            "metadata: {name: user, labels: {team: fraud}}\n"}},
            {"name": "retype", "resource": {
                "action": "patch", "mergeStrategy": "json", "flags": ["entity", "user"],
                "manifest": "- {op: replace, path: /spec/valueType, value: INT64}\n"}},
            {"name": "get", "resource": {
                "action": "get", "successCondition": "metadata.labels.team == fraud",
                "manifest": "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"},
             "outputs": {"parameters": [
                 {"name": "type", "valueFrom": {"jsonPath": "{.spec.valueType}"}},
                 {"name": "owner", "valueFrom": {
                     "jsonPath": "{.metadata.ownerReferences.0.uid}"}}]}},
            {"name": "delete", "resource": {
                "action": "delete",
                "manifest": "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"}},
        ],
    },
}


def node(status, display):
    hits = [n for n in status["nodes"].values() if n["displayName"] == display]
    assert hits, [n["displayName"] for n in status["nodes"].values()]
    return hits[0]


def test_resource_actions_fanned_out_artifacts_and_the_cli(platform, tmp_path):
    r = platform.api("POST", "/api/v1/workflows", json=WF)
    assert r.status_code in (200, 201), r.text
    deadline = time.monotonic() + 30
    obj = {}
    while time.monotonic() < deadline:
        obj = platform.api("GET", "/api/v1/workflows/acts").json()
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Error"):
            break
        time.sleep(0.1)
    st = obj["status"]
    assert st["phase"] == "Succeeded", (st, platform.logs())

    # resource actions against the platform's store
    get = {p["name"]: p["value"] for p in node(st, "get")["outputs"]["parameters"]}
    assert get == {"type": "INT64", "owner": obj["metadata"]["uid"]}
    assert node(st, "delete-again")["phase"] == "Succeeded"   # missing: --ignore-not-found
    assert platform.api("GET", "/api/v1/entities/user").status_code == 404

    # each item of the fan-out keeps its own artifact under its own node key
    keys = {}
    for item in ("make(0:a)", "make(1:b)"):
        n = node(st, item)
        (a,) = n["outputs"]["artifacts"]
        assert a["key"] == f"workflows/{obj['metadata']['uid']}/{n['id']}/out.tgz"
        keys[item] = a["key"]
    assert "outputs" not in node(st, "make") or \
        "artifacts" not in node(st, "make")["outputs"]   # not aggregated

    # skiff artifacts: the list, then one download by display name
    r = platform.cli("artifacts", "acts", check=0)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NODE", "ARTIFACT", "SIZE", "KEY"], r.stdout
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert set(rows) == {"make(0:a)", "make(1:b)"}, r.stdout
    for item, row in rows.items():
        assert row[1] == "out" and row[3] == keys[item] and int(row[2]) > 0
    out = tmp_path / "b.tgz"
    platform.cli("artifacts", "acts", "make(1:b)", "out", "-o", str(out), check=0)
    assert int(rows["make(1:b)"][2]) == out.stat().st_size
    with tarfile.open(fileobj=io.BytesIO(out.read_bytes()), mode="r:gz") as t:
        assert t.extractfile("out.txt").read() == b"b\n"
    r = platform.cli("artifacts", "acts", "make(1:b)", "nope", "-o", str(out))
    assert r.returncode == 1 and "no output artifact 'nope'" in r.stderr, r.stderr
    assert platform.cli("artifacts", "acts", "make(1:b)").returncode == 2
    r = platform.cli("artifacts", "nosuch")
    assert r.returncode == 1 and "not found" in r.stderr, r.stderr
