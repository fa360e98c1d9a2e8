"""`skiff up` starts fast, stops cleanly on SIGTERM/SIGINT, keeps its state
across restarts, and refuses a second instance on the same home."""
import json
import signal
import threading
import time

import requests

from conftest import free_port


def entity(name):
    return {"apiVersion": "skiff.dev/v1", "kind": "Entity", "metadata": {"name": name},
            "spec": {"joinKeys": ["user_id"]}}


def test_state_survives_restart_and_sigint(home_platform):
    p = home_platform.start()
    for i in range(20):
        assert p.api("PUT", f"/api/v1/entities/e{i}", json=entity(f"e{i}")).status_code == 201
    before = p.api("GET", "/api/v1/entities").json()["items"]
    token = p.token
    assert p.stop(signal.SIGINT) == 0
    assert not (p.home / "endpoint").exists()

    p.start()
    after = p.api("GET", "/api/v1/entities").json()["items"]
    assert after == before
    assert p.token == token, "a valid admin token is kept across restarts"
    assert p.stop() == 0


def test_sigterm_finishes_in_flight_requests(home_platform):
    p = home_platform.start()
    stop = threading.Event()
    results = []

    def hammer():
        s = requests.Session()
        i = 0
        while not stop.is_set():
            try:
                r = s.put(p.url + f"/api/v1/entities/h{i % 50}", json=entity(f"h{i % 50}"),
                          headers=p.headers(), timeout=5)
                results.append(r.status_code)
            except requests.ConnectionError:
                break          # refused after the server stopped accepting: expected
            i += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    rc = p.stop()
    stop.set()
    for t in threads:
        t.join()
    assert rc == 0, p.logs()
    assert results and all(c in (200, 201) for c in results), set(results)
    # every acknowledged write is there after a restart
    p.start()
    names = {o["metadata"]["name"] for o in p.api("GET", "/api/v1/entities").json()["items"]}
    assert names == {f"h{i}" for i in range(min(50, len(results)))}
    assert p.stop() == 0


def test_second_instance_on_same_home_is_refused(platform):
    r = platform.cli("up", "--listen", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1
    assert "another 'skiff up' is running" in r.stderr
    # the first one is unaffected, its endpoint file included
    assert (platform.home / "endpoint").read_text().strip() == platform.url
    assert requests.get(platform.url + "/healthz").status_code == 200


def test_bad_config_is_reported_with_position(home_platform):
    home_platform.home.mkdir()
    (home_platform.home / "config.yaml").write_text("listen: 127.0.0.1:0\nlistne: oops\n")
    try:
        home_platform.start(timeout=5)
        assert False, "started with an unknown config key"
    except RuntimeError as e:
        assert "config.yaml:2:9" in str(e) and "listne" in str(e)
    assert home_platform.proc.returncode == 2
