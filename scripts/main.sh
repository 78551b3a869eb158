#!/usr/bin/env bash
# The main job: install what is missing, build the release binary, run a seeded sweep of
# the sample scenario and print its summary. Extra arguments go to the sweep
# (e.g. `scripts/main.sh --seeds 1..5000 --jobs 2`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release > /dev/null
cmake --build --preset release
if [[ $# -eq 0 ]]; then set -- --seeds 1..1000 --jobs "$(nproc)"; fi
exec ./build/release/faultline sweep --scenario ping "$@"
