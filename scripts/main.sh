#!/usr/bin/env bash
# The main job: install what is missing, build the release binary, then run seeded sweeps of
# every scenario family (replication, tiered storage, multi-region, the sample), each ending
# with its summary, all recorded into ./faultline.db, print a table of the lot from the
# database and write it as ./report.html (faultline report). Exit status 1 if any sweep found something. Extra arguments replace the default sweeps with one sweep of
# your own (e.g. `scripts/main.sh --scenario partition --seeds 1..5000 --bug last-replica-standing`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release > /dev/null
cmake --build --preset release
F=./build/release/faultline
if [[ $# -gt 0 ]]; then exec "$F" sweep --jobs "$(nproc)" "$@"; fi
status=0
for sweep in "broker-crash 1..500" "cascade 1..500" "partition 1..500" "s3-outage 1..500" "disk-stall 1..500" \
             "controller-failover 1..500" "dc-loss 1..500" "ping 1..1000"; do
  set -- $sweep
  echo "=== sweep $1 seeds $2"
  "$F" sweep --scenario "$1" --seeds "$2" --jobs "$(nproc)" --db faultline.db || status=1
done
echo "=== all sweeps of this binary in faultline.db (verdicts per scenario)"
sqlite3 -header -column faultline.db "
  select r.scenario, count(*) as runs, sum(r.verdict = 'pass') as pass, sum(r.verdict = 'fail') as fail,
         sum(r.verdict = 'liveness') as liveness, sum(r.verdict = 'crash') as crash,
         round(sum(r.events) / 1e6, 1) as m_events
  from runs r join sweeps s on s.id = r.sweep_id
  where s.binary = (select binary from sweeps order by id desc limit 1) and s.kind = 'sweep'
  group by r.scenario order by r.scenario"
"$F" report --db faultline.db --out report.html
exit $status
