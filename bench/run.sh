#!/usr/bin/env bash
# make bench: runs every bench/bench_*.py against the given skiff binary and
# prints their tables. Copy the figures into docs/benchmarks.md.
set -euo pipefail
skiff=$(realpath "${1:-build/skiff}")
cd "$(dirname "$0")"
for b in bench_*.py; do
  echo "# $b" >&2
  /usr/bin/python3 "$b" "$skiff"
  echo
done
