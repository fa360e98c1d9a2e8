"""The workflow engine's own cost: a 200-task DAG of trivial steps (`true`)
run by `skiff run`, in 20 layers of 10 tasks, each layer depending on every
task of the one before (so that dispatch happens 200 times, in waves), and
the same 200 tasks with no dependencies (all ready at once).

Per-step dispatch overhead (layered) = a task's startedAt - the latest
finishedAt of its dependencies (the workflow's start for the first layer):
the time the engine takes to see a step ready and start its process, which
for the k-th of 10 siblings includes the k-1 spawns before it. Start cost
(independent) = the spread of the 200 startedAt / 199. Timestamps are the
status's, in milliseconds. Total wall time is `skiff run` from exec to exit.
Each figure is the best of 3 runs (the median of the per-step overheads of
the best run).

The peer, Argo Workflows, needs a Kubernetes cluster, which this machine does
not have: it is not run. Issue 3 quotes about 10 s per step on Argo
(controller interval plus pod start); the targets are p50 <= 5 ms and the
200 tasks in <= 3 s on 2 cores.

    /usr/bin/python3 bench/bench_workflow.py [SKIFF_BIN]      (make bench)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(__file__))
from common import machine  # noqa: E402

SKIFF = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKIFF_BIN", "build/skiff")
LAYERS, WIDTH = 20, 10


def dag(layered):
    lines = ["apiVersion: argoproj.io/v1alpha1", "kind: Workflow",
             "metadata: {name: bench-dag}", "spec:", "  entrypoint: main", "  templates:",
             "  - name: noop", "    container: {image: x, command: [\"true\"]}",
             "  - name: main", "    dag:", "      tasks:"]
    for layer in range(LAYERS):
        for k in range(WIDTH):
            deps = ""
            if layered and layer:
                deps = ", dependencies: [" + ", ".join(
                    f"t{layer - 1}-{j}" for j in range(WIDTH)) + "]"
            lines.append(f"      - {{name: t{layer}-{k}, template: noop{deps}}}")
    return "\n".join(lines) + "\n"


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def run_once(path, tmp):
    t0 = time.perf_counter()
    r = subprocess.run([SKIFF, "run", path, "-o", "json", "--run-dir",
                        os.path.join(tmp, "runs")], capture_output=True, text=True,
                       env={**os.environ, "SKIFF_HOME": os.path.join(tmp, "home")})
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"skiff run failed: {r.stderr[-2000:]}")
    st = json.loads(r.stdout)["status"]
    tasks = {n["displayName"]: n for n in st["nodes"].values() if n["type"] == "Pod"}
    assert len(tasks) == LAYERS * WIDTH, len(tasks)
    start = ts(st["startedAt"])
    overheads = []
    for name, n in tasks.items():
        layer = int(name[1:].split("-")[0])
        ready = start
        if layer and "layered" in path:
            ready = max(ts(tasks[f"t{layer - 1}-{j}"]["finishedAt"]) for j in range(WIDTH))
        overheads.append((ts(n["startedAt"]) - ready) * 1000)
    return wall, overheads


def main():
    rows = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        for layered in (True, False):
            path = os.path.join(tmp, ("layered" if layered else "flat") + ".yaml")
            with open(path, "w") as f:
                f.write(dag(layered))
            best = None
            for _ in range(3):
                wall, ov = run_once(path, tmp)
                if best is None or wall < best[0]:
                    best = (wall, ov)
            wall, ov = best
            ov.sort()
            if layered:
                rows.append(("20 layers x 10: total wall time", f"{wall:.2f} s"))
                rows.append(("20 layers x 10: dispatch overhead p50",
                             f"{statistics.median(ov):.1f} ms"))
                rows.append(("20 layers x 10: dispatch overhead p99",
                             f"{ov[min(len(ov) - 1, int(len(ov) * 0.99))]:.1f} ms"))
            else:
                # all ready at t0: the spread of the starts over the steps is
                # the engine's cost per start
                rows.append(("200 independent: total wall time", f"{wall:.2f} s"))
                rows.append(("200 independent: start cost per step (spread / 199)",
                             f"{(ov[-1] - ov[0]) / (len(ov) - 1):.2f} ms"))
    print("## Workflow engine: 200-task DAG through `skiff run`\n")
    print(f"machine: {machine()}")
    print("peer: Argo Workflows, not runnable here (needs a Kubernetes cluster); "
          "issue 3 quotes about 10 s per step\n")
    print("| figure | skiff | Argo |")
    print("|---|---|---|")
    for fig, val in rows:
        print(f"| {fig} | {val} | not run |")


if __name__ == "__main__":
    main()
