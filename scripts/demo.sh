#!/usr/bin/env bash
# make demo: start a platform in a fresh home, apply examples/, list what it
# holds, stop. (Grows into `skiff demo`, the fraud platform end to end.)
set -euo pipefail
skiff=$(realpath "${1:-build/skiff}")
cd "$(dirname "$0")/.."
home=$(mktemp -d /tmp/skiff-demo.XXXXXX)
export SKIFF_HOME=$home
log=$home/up.log
cleanup() {
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$home"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

step "skiff up (home $home)"
"$skiff" up --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  [ -s "$home/endpoint" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.05
done
[ -s "$home/endpoint" ] || { echo "skiff up did not start" >&2; cat "$log"; exit 1; }
echo "platform at $(cat "$home/endpoint")"

step "skiff apply -f examples/ -R"
"$skiff" apply -f examples/ -R

for kind in workflows inferenceservices scaledjobs applications; do
  step "skiff get $kind"
  "$skiff" get "$kind"
done

step "skiff describe isvc fraud-detector"
"$skiff" describe isvc fraud-detector

step "stopping"
kill -TERM "$pid"; wait "$pid"; pid=
tail -n 3 "$log"
