#!/usr/bin/env bash
# Installs every Debian package that building, testing and the demo need.
# Idempotent: asks apt only for what is missing. Runs as root or through sudo.
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --check  exit 1 (listing them) if any are missing
set -euo pipefail

PACKAGES=(
  # build
  cmake make pkg-config gcc clang libclang-rt-dev
  # libraries (DESIGN.md's dependency table)
  libfyaml-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
  libsqlite3-dev libpq-dev liblmdb-dev libhiredis-dev libsodium-dev
  libgit2-dev libxgboost-dev zlib1g-dev
  # tests and their oracles
  libcmocka-dev python3 python3-pytest python3-requests python3-prometheus-client
  python3-jwt python3-cryptography
  python3-numpy python3-scipy python3-pandas python3-xgboost python3-yaml python3-sklearn
  # the FastAPI peer server of the serving benchmark (bench/peers/)
  python3-fastapi python3-uvicorn python3-pydantic
  # real servers the tests start on loopback
  prometheus redis-server postgresql
  # benchmarks and process inspection
  procps hyperfine tzdata wrk
  # drift report screenshot test (tests/e2e/test_drift.py)
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing packages: ${missing[*]}" >&2
    exit 1
  fi
  exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts these services on install; the tests start their own on
# free loopback ports, so the system-wide ones are not needed.
for svc in redis-server postgresql prometheus; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
