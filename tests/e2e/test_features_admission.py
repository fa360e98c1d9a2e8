"""The feature store's admission on the resource API: a write that breaks a
FeatureService in use is refused server-side (HTTP 403, as Kubernetes answers
an admission webhook's denial), whoever sends it, raw PUT/POST/DELETE
included, and nothing is stored; compatible writes go through. And `skiff
apply` sends a set of changes in an order the platform admits."""
import copy
import shutil

from conftest import SRC

DATA = SRC / "tests" / "data" / "features"
DENIED = 'admission "features.skiff.dev" denied the request'


def applied(platform, tmp_path):
    shutil.copytree(DATA / "data", tmp_path / "data")
    shutil.copy(DATA / "repo.yaml", tmp_path / "repo.yaml")
    platform.cli("apply", "-f", str(tmp_path / "repo.yaml"), check=0)


def get(platform, plural, name):
    r = platform.api("GET", f"/api/v1/{plural}/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def put(platform, plural, obj):
    return platform.api("PUT", f"/api/v1/{plural}/{obj['metadata']['name']}", json=obj)


def msg(r):
    """The refusal's message (the body is {"error": {"code", "message"}})."""
    return r.json()["error"]["message"]


def user_copy(obj):
    """The object as a user would send it back (a raw GitOps-style PUT)."""
    o = copy.deepcopy(obj)
    for k in ("resourceVersion", "uid", "generation", "creationTimestamp"):
        o["metadata"].pop(k, None)
    o.pop("status", None)
    return o


def test_raw_put_breaking_a_service_is_refused_and_nothing_is_stored(platform, tmp_path):
    applied(platform, tmp_path)
    before = get(platform, "featureviews", "user_velocity")

    # drop an aggregation fraud_velocity reads by name
    obj = user_copy(before)
    obj["spec"]["aggregations"] = [a for a in obj["spec"]["aggregations"]
                                   if a["name"] != "merchants_24h"]
    r = put(platform, "featureviews", obj)
    assert r.status_code == 403, r.text
    assert DENIED in msg(r)
    assert "FeatureService 'fraud_velocity'" in msg(r) and "merchants_24h" in msg(r)

    # change the type of a field a service reads
    obj = user_copy(get(platform, "featureviews", "user_stats"))
    for f in obj["spec"]["fields"]:
        if f["name"] == "avg_amount_7d":
            f["dtype"] = "INT64"
    r = put(platform, "featureviews", obj)
    assert r.status_code == 403, r.text
    assert DENIED in msg(r) and "as DOUBLE: it would become INT64" in msg(r)

    # drop a field of a view that fraud_detection_v3 reads whole
    obj = user_copy(get(platform, "featureviews", "user_stats"))
    obj["spec"]["fields"] = [f for f in obj["spec"]["fields"]
                             if f["name"] != "high_risk_merchant"]
    r = put(platform, "featureviews", obj)
    assert r.status_code == 403, r.text
    assert "reads every feature of view 'user_stats': 'high_risk_merchant' would be gone" \
        in msg(r)

    # a service switched to a feature its view does not have
    svc = user_copy(get(platform, "featureservices", "fraud_velocity"))
    svc["spec"]["features"][0]["features"] = ["no_such_feature"]
    r = put(platform, "featureservices", svc)
    assert r.status_code == 403 and "no feature 'no_such_feature'" in msg(r), r.text

    # nothing was stored
    after = get(platform, "featureviews", "user_velocity")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]
    assert len(get(platform, "featureviews", "user_stats")["spec"]["fields"]) == 3
    assert get(platform, "featureservices", "fraud_velocity")["spec"]["features"][0][
        "features"] == ["tx_count_1h"]
    # the CLI reports the server's refusal as kubectl would ("Forbidden")
    r = platform.cli("delete", "featureview", "user_velocity")
    assert r.returncode != 0 and DENIED in r.stderr, r.stderr


def test_compatible_changes_are_accepted(platform, tmp_path):
    applied(platform, tmp_path)
    obj = user_copy(get(platform, "featureviews", "user_stats"))
    obj["spec"]["ttl"] = "8d"
    obj["spec"]["tags"] = {"team": "risk"}
    obj["spec"]["fields"].append({"name": "extra_flag", "dtype": "BOOL"})   # adding is fine
    r = put(platform, "featureviews", obj)
    assert r.status_code == 200, r.text
    assert r.headers["X-Skiff-Apply"] == "configured"
    assert get(platform, "featureviews", "user_stats")["spec"]["ttl"] == "8d"
    # an unchanged re-apply writes nothing and is not judged
    r = put(platform, "featureviews", obj)
    assert r.status_code == 200 and r.headers["X-Skiff-Apply"] == "unchanged"
    # a new service whose view does not exist yet is not in use: accepted, as
    # Kubernetes accepts a reference to an object still to come
    r = platform.api("POST", "/api/v1/featureservices", json={
        "apiVersion": "skiff.dev/v1", "kind": "FeatureService",
        "metadata": {"name": "later"}, "spec": {"features": [{"view": "not_yet"}]}})
    assert r.status_code == 201, r.text


def test_delete_of_what_a_service_uses_is_refused_until_the_service_goes(platform, tmp_path):
    applied(platform, tmp_path)
    for plural, name in (("featureviews", "user_velocity"), ("datasources", "transactions"),
                         ("entities", "user")):
        r = platform.api("DELETE", f"/api/v1/{plural}/{name}")
        assert r.status_code == 403, (plural, r.text)
        assert DENIED in msg(r), r.text
        assert "FeatureService 'fraud_velocity'" in msg(r) or \
            "FeatureService 'fraud_detection_v3'" in msg(r), r.text
        get(platform, plural, name)   # still there
    # the service first, then what only it used
    assert platform.api("DELETE", "/api/v1/featureservices/fraud_velocity").status_code == 200
    assert platform.api("DELETE", "/api/v1/featureviews/user_velocity").status_code == 200
    assert platform.api("DELETE", "/api/v1/datasources/transactions").status_code == 200
    # user_stats is still read by fraud_detection_v3
    r = platform.api("DELETE", "/api/v1/featureviews/user_stats")
    assert r.status_code == 403 and "fraud_detection_v3" in msg(r), r.text
    assert platform.api("DELETE", "/api/v1/featureviews/nope").status_code == 404


VIEW_AND_SERVICE = """apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {name: user_velocity}
spec:
  entities: [user]
  source: transactions
  fields:
  - {name: amount, dtype: DOUBLE}
  aggregations:
  - {name: %(agg)s, function: count, window: 1h}
  - {name: amount_sum_1h, function: sum, column: amount, window: 1h}
  - {name: avg_amount_24h, function: avg, column: amount, window: 24h}
  - {name: amount_std_24h, function: stddev, column: amount, window: 24h}
  derived:
  - {name: velocity_score, expr: "%(agg)s / (avg_amount_24h + 1)"}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {name: fraud_velocity}
spec:
  features:
  - {view: user_stats, features: [tx_count_1h]}
  - {view: user_velocity, features: [%(agg)s, amount_sum_1h, avg_amount_24h, amount_std_24h, velocity_score]}
"""


def test_skiff_apply_sends_in_an_order_the_platform_admits(platform, tmp_path):
    applied(platform, tmp_path)
    # the view drops merchants_24h and the service stops reading it: sent in
    # the file's order (view first) the platform would refuse the view
    f = tmp_path / "contract.yaml"
    f.write_text(VIEW_AND_SERVICE % {"agg": "tx_count_1h"})
    r = platform.cli("apply", "-f", str(f), check=0)
    lines = r.stdout.splitlines()
    assert lines == ["featureservice.skiff.dev/fraud_velocity configured",
                     "featureview.skiff.dev/user_velocity configured"], r.stdout
    spec = get(platform, "featureviews", "user_velocity")["spec"]
    assert "merchants_24h" not in [a["name"] for a in spec["aggregations"]]

    # renaming a feature the service reads while switching the service to the
    # new name cannot go one object at a time: refused before anything is sent
    rv = get(platform, "featureviews", "user_velocity")["metadata"]["resourceVersion"]
    f.write_text(VIEW_AND_SERVICE % {"agg": "tx_count_60m"})
    r = platform.cli("apply", "-f", str(f))
    assert r.returncode == 1, r.stderr
    assert "no order of the changes keeps every FeatureService in use working" in r.stderr
    assert "nothing was applied" in r.stderr
    assert get(platform, "featureviews", "user_velocity")["metadata"]["resourceVersion"] == rv


def test_features_apply_sends_in_an_order_the_platform_admits(platform, tmp_path):
    """`skiff features apply` writes the same change as `skiff apply`, service
    first, rather than being refused halfway by the platform."""
    import yaml
    applied(platform, tmp_path)
    docs = [d for d in yaml.safe_load_all((tmp_path / "repo.yaml").read_text()) if d]
    changed = {(d["kind"], d["metadata"]["name"]): d
               for d in yaml.safe_load_all(VIEW_AND_SERVICE % {"agg": "tx_count_1h"})}
    docs = [changed.get((d["kind"], d["metadata"]["name"]), d) for d in docs]
    (tmp_path / "repo2.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    r = platform.cli("features", "apply", "-f", str(tmp_path / "repo2.yaml"))
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if "/" in l]
    assert lines == ["FeatureService/fraud_velocity configured",
                     "FeatureView/user_velocity configured"], r.stdout
    spec = get(platform, "featureviews", "user_velocity")["spec"]
    assert "merchants_24h" not in [a["name"] for a in spec["aggregations"]]
