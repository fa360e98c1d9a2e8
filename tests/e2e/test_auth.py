"""Every route declares a scope: 401 without or with a bad token, 403 without
the scope; health, metrics and the JWKS stay open."""
import base64
import json
import time

import requests


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_open_routes_need_no_token(platform):
    assert requests.get(platform.url + "/healthz").status_code == 200
    assert requests.get(platform.url + "/metrics").status_code == 200
    jwks = requests.get(platform.url + "/.well-known/jwks.json").json()
    key = jwks["keys"][0]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert len(b64d(key["x"])) == 32


def test_admin_token_is_an_eddsa_jwt_in_a_private_file(platform):
    f = platform.home / "admin.token"
    assert f.stat().st_mode & 0o777 == 0o600
    assert (platform.home / "signing.key").stat().st_mode & 0o777 == 0o600
    header, claims, sig = platform.token.split(".")
    assert json.loads(b64d(header))["alg"] == "EdDSA"
    c = json.loads(b64d(claims))
    assert c["scope"] == "admin" and c["exp"] > time.time() + 86400
    assert len(b64d(sig)) == 64
    # the token never reaches the log
    assert platform.token not in platform.logs()


def test_missing_malformed_and_forged_tokens_are_401(platform):
    r = requests.get(platform.url + "/api/v1/workflows")
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    r = requests.get(platform.url + "/api/v1/workflows", headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401
    for bad in ["garbage", "a.b.c", platform.token[:-4] + "AAAA"]:
        assert platform.api("GET", "/api/v1/workflows", token=bad).status_code == 401, bad
    # a token whose claims were edited (scope raised) fails the signature check
    h, c, s = platform.token.split(".")
    claims = json.loads(b64d(c))
    claims["sub"] = "mallory"
    c2 = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert platform.api("GET", "/api/v1/workflows", token=f"{h}.{c2}.{s}").status_code == 401
    # alg "none" is refused
    none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    assert platform.api("GET", "/api/v1/workflows", token=f"{none}.{c}.").status_code == 401


def test_expired_token_is_401(platform, tmp_path):
    tf = tmp_path / "short.token"
    platform.cli("token", "--scope", "admin", "--ttl", "3s", "--out", str(tf), check=0)
    tok = tf.read_text().strip()
    exp = json.loads(b64d(tok.split(".")[1]))["exp"]
    # valid until exp (3 s is room for a loaded machine to get here in time)
    assert platform.api("GET", "/api/v1/workflows", token=tok).status_code == 200
    time.sleep(max(0.0, exp - time.time()) + 1.2)
    r = platform.api("GET", "/api/v1/workflows", token=tok)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_scope_is_enforced_403(platform, tmp_path):
    tf = tmp_path / "reader.token"
    platform.cli("token", "--sub", "reader", "--scope", "resources:read", "--out", str(tf), check=0)
    assert tf.stat().st_mode & 0o777 == 0o600
    tok = tf.read_text().strip()
    assert platform.api("GET", "/api/v1/workflows", token=tok).status_code == 200
    body = {"apiVersion": "skiff.dev/v1", "kind": "Entity", "metadata": {"name": "u"},
            "spec": {"joinKeys": ["user_id"]}}
    r = platform.api("PUT", "/api/v1/entities/u", token=tok, json=body)
    assert r.status_code == 403, r.text
    # the CLI with that token: a clear refusal, exit 1
    r = platform.cli("delete", "entity", "u", env={"SKIFF_TOKEN_FILE": str(tf)})
    assert r.returncode == 1 and "permission" in r.stderr.lower()
    # area wildcard grants every verb of the area
    platform.cli("token", "--scope", "resources:*", "--out", str(tf), check=0)
    assert platform.api("PUT", "/api/v1/entities/u", token=tf.read_text().strip(),
                        json=body).status_code == 201


def test_token_from_another_platform_is_refused(platform, tmp_path):
    from conftest import Platform
    other = Platform(tmp_path / "other").start()
    try:
        assert platform.api("GET", "/api/v1/workflows", token=other.token).status_code == 401
    finally:
        assert other.stop() == 0
