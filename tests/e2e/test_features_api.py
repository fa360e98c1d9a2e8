"""POST /api/v1/features/historical on a running platform: the stored
definitions (applied with `skiff apply`), the same engine as the CLI, a
columnar JSON answer; and its refusals (scope, unknown service, bad body)."""
import csv
import io
import shutil

from conftest import SRC, run

DATA = SRC / "tests" / "data" / "features"


def applied_repo(platform, tmp_path):
    # relative source paths (data/...) of a stored definition resolve against
    # the applied file's folder (skiff apply records it), not the platform's cwd
    shutil.copytree(DATA / "data", tmp_path / "data")
    shutil.copy(DATA / "repo.yaml", tmp_path / "repo.yaml")
    platform.cli("apply", "-f", str(tmp_path / "repo.yaml"), check=0)
    return tmp_path / "repo.yaml"


def entities():
    rows = list(csv.DictReader(open(DATA / "entities.csv")))
    ts = [int(r["event_timestamp"]) if r["event_timestamp"].isdigit() else r["event_timestamp"]
          for r in rows]
    return {"user_id": [r["user_id"] for r in rows], "event_timestamp": ts,
            "label": [int(r["label"]) for r in rows]}


def cli_rows(repo, service, *extra):
    r = run("features", "historical", "-f", str(repo), "--service", service,
            "--entities", str(DATA / "entities.csv"), *extra)
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


def as_csv_cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def test_historical_over_http_equals_the_cli(platform, tmp_path):
    repo = applied_repo(platform, tmp_path)
    ents = entities()
    for service, full in (("fraud_detection_v3", False), ("fraud_velocity", True)):
        r = platform.api("POST", "/api/v1/features/historical",
                         json={"feature_service": service, "entities": ents,
                               "full_feature_names": full})
        assert r.status_code == 200, r.text
        got = r.json()
        want = cli_rows(repo, service, *(["--full-feature-names"] if full else []))
        # the entity columns as sent, then the features, in the CLI's order
        assert list(got) == list(want[0])
        assert got["event_timestamp"] == ents["event_timestamp"]
        for col in list(want[0])[3:]:
            assert len(got[col]) == len(want)
            for i, row in enumerate(want):
                if isinstance(got[col][i], float) and "." in row[col]:
                    assert abs(got[col][i] - float(row[col])) < 1e-12, (col, i)
                else:
                    assert as_csv_cell(got[col][i]) == row[col], (col, i, got[col][i])
    # typed values: integers, booleans and null for the unknown entity
    r = platform.api("POST", "/api/v1/features/historical",
                     json={"feature_service": "fraud_detection_v3", "entities": ents}).json()
    assert r["tx_count_1h"][:2] == [8, 8] and r["high_risk_merchant"][0] is True
    assert r["tx_count_1h"][4] is None and r["avg_amount_7d"][4] is None


def test_historical_refusals(platform, tmp_path):
    applied_repo(platform, tmp_path)
    url = "/api/v1/features/historical"
    body = {"feature_service": "fraud_detection_v3",
            "entities": {"user_id": ["u1"], "event_timestamp": ["2026-11-27T09:00:00Z"]}}
    r = platform.api("POST", url, json=dict(body, feature_service="nope"))
    assert r.status_code == 404 and "no FeatureService 'nope'" in r.text
    r = platform.api("POST", url, json={"feature_service": "fraud_detection_v3"})
    assert r.status_code == 400
    r = platform.api("POST", url, json={"feature_service": "fraud_detection_v3",
                                        "entities": {"event_timestamp": ["2026-11-27T09:00:00Z"]}})
    assert r.status_code == 400 and "entities.user_id" in r.text
    r = platform.api("POST", url, json={"feature_service": "fraud_detection_v3",
                                        "entities": {"user_id": ["u1"],
                                                     "event_timestamp": ["yesterday"]}})
    assert r.status_code == 400 and "event_timestamp[0]" in r.text
    r = platform.api("POST", url, data=b"{not json")
    assert r.status_code == 400
    # the scope: features:read, not resources:read
    tf = tmp_path / "reader.token"
    platform.cli("token", "--sub", "reader", "--scope", "resources:read", "--out", str(tf), check=0)
    assert platform.api("POST", url, token=tf.read_text().strip(), json=body).status_code == 403
    platform.cli("token", "--sub", "trainer", "--scope", "features:read", "--out", str(tf), check=0)
    r = platform.api("POST", url, token=tf.read_text().strip(), json=body)
    assert r.status_code == 200 and r.json()["tx_count_1h"] == [8]


def test_plan_shows_what_an_apply_would_change(platform, tmp_path):
    repo = applied_repo(platform, tmp_path)
    r = platform.cli("features", "plan", "-f", str(repo), check=0)
    assert r.stdout == "Plan: 0 to add, 0 to change, 7 unchanged, 0 only on the platform.\n"
    # change a ttl and a dtype, drop a service, add an entity
    text = repo.read_text().replace("ttl: 7d", "ttl: 1d").replace(
        "{name: avg_amount_7d, dtype: DOUBLE}", "{name: avg_amount_7d, dtype: FLOAT}")
    docs = text.split("\n---\n")
    docs = [d for d in docs if "name: fraud_velocity}" not in d]
    docs.append("apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: merchant}\n"
                "spec: {joinKeys: [merchant_id]}\n")
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "repo.yaml").write_text("\n---\n".join(docs))
    r = platform.cli("features", "plan", "-f", str(changed), check=0)
    assert r.stdout.splitlines() == [
        "+ Entity/merchant",
        "~ FeatureView/user_stats: spec.ttl, spec.fields[1].dtype",
        "- FeatureService/fraud_velocity (only on the platform; apply keeps it)",
        "Plan: 1 to add, 1 to change, 5 unchanged, 1 only on the platform.",
    ], r.stdout
    # the files are checked first: a broken reference is the file's error, exit 2
    (changed / "repo.yaml").write_text(text.replace("source: transactions", "source: nope"))
    r = platform.cli("features", "plan", "-f", str(changed))
    assert r.returncode == 2 and "no such DataSource" in r.stderr


def test_apply_refuses_a_change_that_breaks_a_service(platform, tmp_path):
    repo = applied_repo(platform, tmp_path)
    # the files hold the views only: the services that read them are the platform's
    text = "\n---\n".join(d for d in repo.read_text().split("\n---\n")
                           if "kind: FeatureService" not in d)
    changed = tmp_path / "changed.yaml"
    # fraud_velocity reads user_stats:tx_count_1h: dropping it breaks the service
    changed.write_text(text.replace("  - {name: tx_count_1h, dtype: INT64}\n", "", 1))
    r = platform.cli("features", "apply", "-f", str(changed))
    assert r.returncode == 1 and "Sanitizer" not in r.stderr, r.stderr
    assert "breaks the platform's definitions" in r.stderr
    assert "has no feature 'tx_count_1h'" in r.stderr
    # a type change of a feature a service reads
    changed.write_text(text.replace("{name: avg_amount_7d, dtype: DOUBLE}",
                                    "{name: avg_amount_7d, dtype: INT64}"))
    r = platform.cli("features", "apply", "-f", str(changed))
    assert r.returncode == 1 and "Sanitizer" not in r.stderr, r.stderr
    assert ("breaks FeatureService 'fraud_detection_v3', which reads "
            "'user_stats:avg_amount_7d' as DOUBLE: it would become INT64") in r.stderr
    # nothing was written
    r = platform.cli("features", "plan", "-f", str(repo), check=0)
    assert "0 to add, 0 to change" in r.stdout
    # a compatible change (a new field, a shorter ttl) applies
    changed.write_text(text.replace("  - {name: high_risk_merchant, dtype: BOOL}\n",
                                    "  - {name: high_risk_merchant, dtype: BOOL}\n"
                                    "  - {name: created_at, dtype: UNIX_TIMESTAMP}\n", 1)
                       .replace("ttl: 7d", "ttl: 6d"))
    r = platform.cli("features", "apply", "-f", str(changed), check=0)
    assert r.stdout == "FeatureView/user_stats configured\n", r.stdout
    view = platform.api("GET", "/api/v1/featureviews/user_stats").json()
    assert view["spec"]["ttl"] == "6d" and view["spec"]["fields"][-1]["name"] == "created_at"


PUSH_VIEW = """
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {name: transactions_push}
spec:
  push: {batchSource: transactions}
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: user_velocity_pushed}
spec:
  entities: [user]
  source: transactions_push
  fields:
  - {name: amount, dtype: DOUBLE}
  aggregations:
  - {name: tx_count_1h, function: count, window: 1h}
  - {name: amount_sum_1h, function: sum, column: amount, window: 1h}
  - {name: avg_amount_24h, function: avg, column: amount, window: 24h}
  - {name: amount_std_24h, function: stddev, column: amount, window: 24h}
  - {name: merchants_24h, function: count_distinct, column: merchant, window: 24h}
  derived:
  - {name: velocity_score, expr: "tx_count_1h / (avg_amount_24h + 1)"}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: velocity_batch}
spec:
  features: [{view: user_velocity}]
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: velocity_pushed}
spec:
  features: [{view: user_velocity_pushed}]
"""


def test_a_view_on_a_push_source_reads_its_batch_source(platform, tmp_path):
    # Feast: a PushSource's batch_source is what offline retrieval reads, so a
    # view declared on the push source trains on the same rows as one
    # declared on the batch source
    repo = applied_repo(platform, tmp_path)
    repo.write_text(repo.read_text() + PUSH_VIEW)
    platform.cli("apply", "-f", str(repo), check=0)
    ents = entities()
    got = {}
    for service in ("velocity_batch", "velocity_pushed"):
        r = platform.api("POST", "/api/v1/features/historical",
                         json={"feature_service": service, "entities": ents})
        assert r.status_code == 200, r.text
        got[service] = r.json()
    assert got["velocity_pushed"] == got["velocity_batch"]
    # (08:00, 09:00] and (08:30, 09:30] hold two events each: rows, not nulls
    assert got["velocity_pushed"]["tx_count_1h"][:2] == [2, 2]
    # the CLI over the files: the same rows
    assert cli_rows(repo, "velocity_pushed") == cli_rows(repo, "velocity_batch")
