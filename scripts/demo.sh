#!/usr/bin/env bash
# make demo: `skiff demo`, the fraud platform of examples/fraud end to end in a
# fresh home (docs/demo.md). Usage: scripts/demo.sh [SKIFF_BIN] [skiff demo options]
set -euo pipefail
skiff=$(realpath "${1:-build/skiff}")
shift || true
cd "$(dirname "$0")/.."
exec "$skiff" demo "$@"
