"""Online feature store benchmark (issue 7): 1 entity x 7 features.

  - in-process lookup (skiff_online_get_vector) p50/p99, LMDB and Redis
    backends, through build/online_bench (bench/online_bench.c);
  - raw `redis-benchmark` HGETALL of a 7-field hash on the same redis-server,
    one connection: the floor the Redis backend is compared with; and a
    plain hiredis HGETALL timed in the same loop as skiff's lookups
    (alternating), the same floor under the same load;
  - POST /get-online-features on `skiff up` with wrk, 32 connections on
    loopback, next to GET /health on the same server (an empty answer: the
    HTTP ceiling).

Usage: /usr/bin/python3 bench/bench_online.py [SKIFF_BIN]   (online_bench next to it)
Targets: LMDB p99 <= 5 us; HTTP >= 30k req/s with p99 <= 1 ms; Redis
in-process p99 <= 1.5x raw Redis.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import free_port, machine, wait_http  # noqa: E402

SKIFF = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKIFF_BIN",
                                                                             "build/skiff"))
BENCH = os.path.join(os.path.dirname(SKIFF), "online_bench")
NENT = 10000
ITERS = 200000
FEATS = ["tx_count_1h", "tx_count_24h", "avg_amount_7d", "max_amount_24h", "days_since_signup",
         "merchant_risk", "distinct_merchants_7d"]


def write_repo(d: Path):
    (d / "repo.yaml").write_text(f"""\
apiVersion: skiff.dev/v1
kind: Entity
metadata: {{name: user}}
spec: {{joinKeys: [user_id], valueType: STRING}}
---
apiVersion: skiff.dev/v1
kind: DataSource
metadata: {{name: stats}}
spec:
  file: {{path: {d}/stats.csv}}
---
apiVersion: skiff.dev/v1
kind: FeatureView
metadata: {{name: user_stats}}
spec:
  entities: [user]
  source: stats
  fields:
{chr(10).join(f"  - {{name: {f}, dtype: {'INT64' if 'count' in f or 'days' in f or 'distinct' in f else 'DOUBLE'}}}" for f in FEATS)}
---
apiVersion: skiff.dev/v1
kind: FeatureService
metadata: {{name: bench}}
spec:
  features: [{{view: user_stats}}]
""")
    with open(d / "stats.csv", "w") as f:
        f.write("user_id,event_timestamp," + ",".join(FEATS) + "\n")
        for i in range(NENT):
            f.write(f"u{i},2026-01-01T00:00:00Z,{i % 13},{i % 97},{i * 0.37:.2f},"
                    f"{i * 1.5:.1f},{i % 900},{(i % 100) / 100},{i % 17}\n")


def inproc(spec, d):
    r = subprocess.run([BENCH, spec, str(d / "repo.yaml"), "bench", str(NENT), str(ITERS)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    out = json.loads(lines[0])
    for extra in lines[1:]:
        out.update(json.loads(extra))
    assert out["present"] == ITERS and out["width"] == 7, out
    return out


def raw_redis(port):
    subprocess.run(["redis-cli", "-p", str(port), "HSET", "bench:u1",
                    *sum(([f, "12345.5"] for f in FEATS), [])], check=True,
                   capture_output=True)
    r = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "1", "-n", "100000", "--csv",
                        "HGETALL", "bench:u1"], capture_output=True, text=True, timeout=300,
                       check=True)
    rows = [line.replace('"', "").split(",") for line in r.stdout.strip().splitlines()]
    head, vals = rows[0], rows[-1]
    m = dict(zip(head, vals))
    return float(m["p50_latency_ms"]) * 1000, float(m["p99_latency_ms"]) * 1000, float(m["rps"])


def wrk(url, token=None, body=None, secs=8):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        if body:
            f.write('wrk.method = "POST"\n')
            f.write('wrk.headers["Content-Type"] = "application/json"\n')
            f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
            f.write("local n = 0\n")
            f.write("request = function()\n  n = n + 1\n")
            f.write(f"  local b = string.format('{body}', n % {NENT})\n")
            f.write("  return wrk.format(nil, nil, nil, b)\nend\n")
        script = f.name
    # one wrk thread: one core generates load, one serves (bench_serving.py)
    r = subprocess.run(["wrk", "-t1", "-c32", f"-d{secs}s", "--latency", "-s", script, url],
                       capture_output=True, text=True, timeout=secs + 60)
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", r.stdout)
    scale = {"us": 1, "ms": 1000, "s": 1e6}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    assert not non2xx, r.stdout
    return rps, float(p99.group(1)) * scale


def main():
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_repo(d)
        lm = inproc(f"lmdb:{d}/lmdb", d)
        port = free_port()
        rs = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            rd = inproc(f"redis://127.0.0.1:{port}", d)
            raw50, raw99, rawrps = raw_redis(port)
        finally:
            rs.terminate()
            rs.wait()
        # HTTP: skiff up with its own home (LMDB), definitions applied, materialized
        home = d / "home"
        env = dict(os.environ, SKIFF_HOME=str(home))
        hport = free_port()
        up = subprocess.Popen([SKIFF, "up", "--listen", f"127.0.0.1:{hport}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{hport}"
            wait_http(url + "/healthz")
            subprocess.run([SKIFF, "apply", "-f", str(d / "repo.yaml")], env=env, check=True,
                           capture_output=True)
            subprocess.run([SKIFF, "features", "materialize", "2025-01-01T00:00:00Z",
                            "2026-06-01T00:00:00Z"], env=env, check=True, capture_output=True)
            token = (home / "admin.token").read_text().strip()
            body = '{"feature_service":"bench","entities":{"user_id":["u%d"]}}'
            http_rps, http_p99 = wrk(url + "/get-online-features", token, body)
            ceil_rps, ceil_p99 = wrk(url + "/health")
            # the feature server alone, as a serving container runs it: one
            # HTTP thread per CPU (skiff up keeps 4 for handlers that may wait
            # on the metadata store), the platform's stored definitions
            sport = free_port()
            alone = subprocess.Popen([SKIFF, "features", "serve", "--listen",
                                      f"127.0.0.1:{sport}"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                surl = f"http://127.0.0.1:{sport}"
                wait_http(surl + "/healthz")
                alone_rps, alone_p99 = wrk(surl + "/get-online-features", token, body)
                aceil_rps, aceil_p99 = wrk(surl + "/health")
            finally:
                alone.terminate()
                alone.wait()
        finally:
            up.terminate()
            up.wait()
    print(f"## Online feature store: 1 entity x 7 features\n\nmachine: {machine()}\n"
          f"load average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| figure | skiff | peer | ratio |\n|---|---|---|---|")
    print(f"| in-process LMDB p50 | {lm['p50_us']:.2f} µs | - | - |")
    print(f"| in-process LMDB p99 | {lm['p99_us']:.2f} µs | target 5 µs | - |")
    print(f"| in-process Redis p50 | {rd['p50_us']:.1f} µs | raw HGETALL {raw50:.1f} µs | "
          f"{rd['p50_us'] / raw50:.2f}x |")
    print(f"| in-process Redis p99 | {rd['p99_us']:.1f} µs | raw HGETALL {raw99:.1f} µs | "
          f"{rd['p99_us'] / raw99:.2f}x |")
    print(f"| in-process Redis p50 (same loop) | {rd['p50_us']:.1f} µs | hiredis HGETALL "
          f"{rd['raw_p50_us']:.1f} µs | {rd['p50_us'] / rd['raw_p50_us']:.2f}x |")
    print(f"| in-process Redis p99 (same loop) | {rd['p99_us']:.1f} µs | hiredis HGETALL "
          f"{rd['raw_p99_us']:.1f} µs | {rd['p99_us'] / rd['raw_p99_us']:.2f}x |")
    print(f"| HTTP /get-online-features, 32 conn | {http_rps:,.0f} req/s | /health "
          f"{ceil_rps:,.0f} req/s | {http_rps / ceil_rps:.2f}x |")
    print(f"| HTTP /get-online-features p99 | {http_p99 / 1000:.2f} ms | /health "
          f"{ceil_p99 / 1000:.2f} ms | - |")
    print(f"| `features serve` /get-online-features, 32 conn | {alone_rps:,.0f} req/s | /health "
          f"{aceil_rps:,.0f} req/s | {alone_rps / aceil_rps:.2f}x |")
    print(f"| `features serve` /get-online-features p99 | {alone_p99 / 1000:.2f} ms | /health "
          f"{aceil_p99 / 1000:.2f} ms | - |")
    print(f"\nmaterialize {NENT} entities: LMDB {lm['materialize_s']:.3f} s, "
          f"Redis {rd['materialize_s']:.3f} s; raw redis-benchmark {rawrps:,.0f} req/s "
          f"on 1 connection")


if __name__ == "__main__":
    main()
