"""The payload logger's URL sink: KServe's CloudEvents (binary content mode)
POSTed off the request path to spec.predictor.logger.url, received here by
a python http.server; a receiver that is down loses events into the drop
counter and fails no request."""
import http.server
import json
import re
import socket
import threading
import time

import requests

from test_serving_helpers import Served, data, isvc, predict, train, v2_body


class Receiver:
    """An HTTP server in this process that keeps every POST it gets."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.events.append(({k.lower(): v for k, v in self.headers.items()},
                                         body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/events"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= n:
                    return list(self.events)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.events)} events, wanted {n}")

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dropped(srv):
    m = requests.get(srv.url + "/metrics", timeout=5).text
    hit = re.search(r'skiff_serving_payload_log_dropped_total\{model="fraud"\} (\S+)', m)
    return float(hit.group(1)) if hit else 0.0


def test_cloudevents_request_and_response(tmp_path):
    booster = train(tmp_path / "model.json")
    rcv = Receiver()
    f = tmp_path / "isvc.yaml"
    f.write_text(isvc("fraud", "model.json", logger={"mode": "all", "url": rcv.url}))
    srv = Served(tmp_path, f)
    try:
        X = data(2, seed=4)
        r = srv.post("/v2/models/fraud/infer", v2_body(X, id="ce-1"))
        assert r.status_code == 200, r.text
        events = rcv.wait(2)
        by_type = {h["ce-type"]: (h, b) for h, b in events}
        assert set(by_type) == {"org.kubeflow.serving.inference.request",
                                "org.kubeflow.serving.inference.response"}
        for h, _ in by_type.values():
            assert h["ce-specversion"] == "1.0"
            assert h["ce-id"] == "ce-1"
            assert h["ce-source"] == srv.url
            assert h["ce-inferenceservicename"] == "fraud"
            assert h["ce-namespace"] == "default"
            assert h["ce-component"] == "predictor"
            assert h["ce-endpoint"] == "fraud-predictor-00001"
            assert h["content-type"] == "application/json"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", h["ce-time"])
        # the bodies as they were sent and answered
        req = json.loads(by_type["org.kubeflow.serving.inference.request"][1])
        assert req == v2_body(X, id="ce-1")
        resp = json.loads(by_type["org.kubeflow.serving.inference.response"][1])
        assert resp == r.json()
        want = predict(booster, X)
        assert abs(resp["outputs"][0]["data"][1] - float(want[1])) < 1e-6

        # V1: the request id is generated, shared by both events; a request id
        # with a line break cannot add a header (percent-encoded)
        r = srv.post("/v1/models/fraud:predict", {"instances": X.tolist()})
        assert r.status_code == 200
        r = srv.post("/v2/models/fraud/infer", v2_body(X[:1], id="a b\r\nx-evil: 1"))
        assert r.status_code == 200
        events = rcv.wait(6)
        v1 = [h for h, b in events[2:4]]
        assert v1[0]["ce-id"] == v1[1]["ce-id"] and len(v1[0]["ce-id"]) == 36
        odd = [h for h, b in events[4:]]
        assert all(h["ce-id"] == "a%20b%0D%0Ax-evil:%201" and "x-evil" not in h for h in odd)
        assert dropped(srv) == 0
    finally:
        assert srv.stop() == 0, srv.logs()
        rcv.close()
    assert "Sanitizer" not in srv.logs(), srv.logs()


def test_receiver_down_drops_without_failing_requests(tmp_path):
    train(tmp_path / "model.json")
    url = f"http://127.0.0.1:{free_port()}/"
    f = tmp_path / "isvc.yaml"
    f.write_text(isvc("fraud", "model.json", logger={"mode": "all", "url": url}))
    srv = Served(tmp_path, f)
    try:
        X = data(1, seed=5)
        t0 = time.monotonic()
        codes = [srv.post("/v2/models/fraud/infer", v2_body(X)).status_code for _ in range(50)]
        elapsed = time.monotonic() - t0
        assert codes == [200] * 50
        # never waits for the sink: 50 requests well under one retry backoff each
        assert elapsed < 5, elapsed
        deadline = time.monotonic() + 15
        while dropped(srv) < 100:   # 2 events per request
            assert time.monotonic() < deadline, (dropped(srv), srv.logs())
            time.sleep(0.1)
        assert dropped(srv) == 100
        assert "cannot deliver events to " + url in srv.logs()
        assert srv.get("/v2/health/ready").status_code == 200
    finally:
        assert srv.stop() == 0, srv.logs()
    assert "Sanitizer" not in srv.logs(), srv.logs()
