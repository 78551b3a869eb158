#!/usr/bin/env bash
# The main job: install what is missing, build the release binary, then run seeded sweeps of
# the replication scenarios and the sample, each ending with its summary. Exit status 1 if
# any sweep found something. Extra arguments replace the default sweeps with one sweep of
# your own (e.g. `scripts/main.sh --scenario partition --seeds 1..5000 --bug last-replica-standing`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release > /dev/null
cmake --build --preset release
F=./build/release/faultline
if [[ $# -gt 0 ]]; then exec "$F" sweep --jobs "$(nproc)" "$@"; fi
status=0
for sweep in "broker-crash 1..500" "cascade 1..500" "partition 1..500" "dc-loss 1..500" "ping 1..1000"; do
  set -- $sweep
  echo "=== sweep $1 seeds $2"
  "$F" sweep --scenario "$1" --seeds "$2" --jobs "$(nproc)" || status=1
done
exit $status
