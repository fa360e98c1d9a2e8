"""Artifacts between tasks: what passing a folder from one step to the next
costs in `skiff run` (outputs.artifacts packed as tar+gzip into the local
artifact repository, then unpacked into the consumer's private /tmp).

Two folders of 64 files of 1 MiB each: CSV-like text (compresses well) and
float32 model weights (random normal values: deflate saves almost nothing,
so skiff stores them, src/workflow/artifact.c).
Cost = wall time of a two-step DAG that passes the folder minus the same
DAG that does not (both steps still write / read nothing more), best of 3.
The peer is what Argo's executor does around the same hand-over, without
the S3 upload: `tar -czf` of the folder and `tar -xzf` into a fresh one
(GNU tar + gzip -6), run here on the same files; on a cluster the upload
to and download from the artifact repository (MinIO/S3) come on top.

    /usr/bin/python3 bench/bench_artifacts.py [SKIFF_BIN]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402

SKIFF = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKIFF_BIN", "build/skiff")
FILES, SIZE = 64, 1 << 20
SRC = {"text": "/var/tmp/skiff-bench-src.txt", "weights": "/var/tmp/skiff-bench-src.bin"}


def make_cmd(src):
    return ("mkdir -p /tmp/d && i=0; while [ $i -lt %d ]; do "
            "head -c %d %s > /tmp/d/f$i; i=$((i+1)); done" % (FILES, SIZE, src))


def workflow(passing, src):
    out = "      outputs: {artifacts: [{name: d, path: /tmp/d}]}\n" if passing else ""
    inp = "      inputs: {artifacts: [{name: d, path: /tmp/d}]}\n" if passing else ""
    arg = ("          arguments: {artifacts: [{name: d, from: \"{{tasks.make.outputs.artifacts.d}}\"}]}\n"
           if passing else "")
    return ("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: bench-art}\n"
            "spec:\n  entrypoint: main\n  templates:\n"
            "    - name: main\n      dag:\n        tasks:\n"
            "        - {name: make, template: make}\n"
            "        - name: use\n          template: use\n          dependencies: [make]\n" + arg +
            "    - name: make\n      container: {image: x, command: [sh, -c, \"%s\"]}\n"
            % make_cmd(src) + out +
            "    - name: use\n" + inp +
            "      container: {image: x, command: [sh, -c, \"ls /tmp/d 2>/dev/null | wc -l\"]}\n")


def best(fn, n=3):
    return min(fn() for _ in range(n))


def measure(tmp, kind):
    src = SRC[kind]
    home = os.path.join(tmp, "home-" + kind)
    env = dict(os.environ, SKIFF_HOME=home)

    def run(passing):
        p = os.path.join(tmp, "wf.yaml")
        with open(p, "w") as f:
            f.write(workflow(passing, src))
        t0 = time.perf_counter()
        r = subprocess.run([SKIFF, "run", p, "--run-dir", os.path.join(tmp, "runs")],
                           env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        assert r.returncode == 0, r.stdout + r.stderr
        return dt

    with_art, without = best(lambda: run(True)), best(lambda: run(False))
    d = os.path.join(tmp, "d")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i in range(FILES):
        shutil.copyfile(src, os.path.join(d, f"f{i}"))
        os.truncate(os.path.join(d, f"f{i}"), SIZE)

    def tar_round():
        t0 = time.perf_counter()
        subprocess.run(["tar", "-czf", os.path.join(tmp, "d.tgz"), "-C", tmp, "d"], check=True)
        out = os.path.join(tmp, "x")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        subprocess.run(["tar", "-xzf", os.path.join(tmp, "d.tgz"), "-C", out], check=True)
        return time.perf_counter() - t0

    peer = best(tar_round)
    repo = os.path.join(home, "artifacts")
    sizes = [os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(repo) for f in fs]
    mib = FILES * SIZE >> 20
    print(f"{kind}: folder {FILES} files x {SIZE >> 20} MiB = {mib} MiB")
    print(f"  two-step DAG passing it: {with_art:.3f} s; without: {without:.3f} s; "
          f"hand-over cost {with_art - without:.3f} s "
          f"({mib / max(with_art - without, 1e-6):.0f} MiB/s)")
    print(f"  archive in the repository: {max(sizes) / (1 << 20):.1f} MiB")
    print(f"  peer tar -czf + tar -xzf: {peer:.3f} s ({mib / peer:.0f} MiB/s), archive "
          f"{os.path.getsize(os.path.join(tmp, 'd.tgz')) / (1 << 20):.1f} MiB")


def main():
    tmp = tempfile.mkdtemp(prefix="skiff-bench-art-")
    with open(SRC["text"], "w") as f:
        line = "2026-11-27T12:00:00Z,txn-000123,merchant-42,129.99,EUR,approved\n"
        f.write(line * (SIZE // len(line) + 1))
    rng = np.random.default_rng(7)
    with open(SRC["weights"], "wb") as f:
        f.write(rng.standard_normal(SIZE // 4 + 1).astype(np.float32).tobytes())
    print(machine())
    try:
        for kind in ("text", "weights"):
            measure(tmp, kind)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in SRC.values():
            os.unlink(p)


if __name__ == "__main__":
    main()
