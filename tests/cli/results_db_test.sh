#!/usr/bin/env bash
# End-to-end checks of the results database (runner/results_db.h) and what rests on it:
# recording, resuming after SIGKILL, workers dying with the runner, crash and hang results,
# shards (K/N and auto from Kubernetes, Slurm and GNU parallel variables) merged equal to the
# unsharded sweep, JUnit, and bad database files refused without damage.
# Usage: results_db_test.sh /path/to/faultline   (needs the sqlite3 command-line tool)
set -u
FL="$1"
WORK="$(mktemp -d)"
trap 'pkill -KILL -f "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
q() { sqlite3 "$1" "$2"; }

# 1. Every result recorded, once; WAL mode; the sweep marked finished.
"$FL" sweep --scenario broker-crash --seeds 1..40 --db a.db --quiet > /dev/null
if [[ "$(q a.db 'select count(*), count(distinct seed) from runs')" == "40|40" &&
      "$(q a.db 'pragma journal_mode')" == "wal" && "$(q a.db 'select count(*) from sweeps where ended_at is not null')" == "1" &&
      "$(q a.db 'pragma user_version')" == "1" ]]; then
  pass "a sweep records 40 runs once, in WAL mode, schema version 1, and ends"
else
  fail "recording: $(q a.db 'select count(*), count(distinct seed) from runs')"
fi

# 2. SIGKILL halfway: workers die with the runner, and the same command resumes and ends
#    with exactly one result per seed.
"$FL" sweep --scenario s3-outage --seeds 1..120 --jobs 2 --db k.db --quiet > /dev/null 2>&1 &
runner=$!
for _ in $(seq 1 200); do
  n=$(q k.db 'select count(*) from runs' 2>/dev/null || echo 0)
  [[ ${n:-0} -ge 20 ]] && break
  sleep 0.1
done
kill -KILL $runner
wait $runner 2>/dev/null
sleep 1
left=$(pgrep -f -- "--db k.db" | wc -l)
if [[ $left -eq 0 ]]; then pass "no worker outlives a SIGKILL of the runner by a second"; else fail "$left workers left after the kill"; fi
before=$(q k.db 'select count(*) from runs')
"$FL" sweep --scenario s3-outage --seeds 1..120 --jobs 2 --db k.db 2> k.err | grep -q "120 runs" || fail "resumed summary lacks 120 runs"
if [[ $before -ge 1 && $before -lt 120 && "$(q k.db 'select count(*), count(distinct seed) from runs')" == "120|120" &&
      "$(q k.db 'select count(*) from sweeps')" == "1" ]] && grep -q "resuming unfinished sweep" k.err; then
  pass "killed at $before of 120 and resumed: exactly one result per seed"
else
  fail "resume: before=$before after=$(q k.db 'select count(*), count(distinct seed) from runs') sweeps=$(q k.db 'select count(*) from sweeps')"
fi

# 3. Crashing and hanging seeds are recorded as crash results; the others complete.
"$FL" sweep --scenario selftest --set mode=mixed --seeds 1..8 --jobs 2 --timeout 2 --db m.db --quiet > /dev/null
if [[ "$(q m.db 'select count(*) from runs')" == "8" && $(q m.db "select count(*) from runs where verdict='crash'") -ge 1 &&
      $(q m.db "select count(*) from runs where verdict='pass'") -ge 1 ]] &&
   q m.db "select message from runs where verdict='crash'" | grep -q "timeout"; then
  pass "selftest mixed: 8 results, crashes and timeouts among them"
else
  fail "mixed: $(q m.db 'select verdict, count(*) from runs group by verdict' | tr '\n' ' ')"
fi

# 4. Two shards merged equal the unsharded sweep, row for row.
"$FL" sweep --scenario partition --seeds 1..50 --shard 1/2 --db s1.db --quiet > /dev/null
"$FL" sweep --scenario partition --seeds 1..50 --shard 2/2 --db s2.db --quiet > /dev/null
"$FL" sweep --scenario partition --seeds 1..50 --db u.db --quiet > /dev/null
"$FL" merge all.db s1.db s2.db > /dev/null
rows="select seed, verdict, trace_hash, first_invariant from runs order by seed"
if [[ "$(q s1.db 'select count(*) from runs')" == "25" ]] && diff <(q all.db "$rows") <(q u.db "$rows") > /dev/null; then
  pass "shards 1/2 and 2/2 merged equal the unsharded sweep"
else
  fail "merged shards differ from the unsharded sweep"
fi
"$FL" sweep --scenario partition --seeds 1..50 --set rf=2 --db other.db --quiet > /dev/null
before=$(q all.db 'select count(*) from runs')
if "$FL" merge all.db other.db 2> merge.err; then fail "merge accepted other parameters"
elif [[ $(wc -l < merge.err) -eq 1 && "$(q all.db 'select count(*) from runs')" == "$before" ]]; then pass "merge refuses a sweep with other parameters, unchanged"
else fail "merge refusal: $(cat merge.err)"; fi

# 5. --shard auto from each engine's variables.
auto() {  # env... -- expected shard text
  local expect="${*: -1}"
  env "${@:1:$#-1}" "$FL" sweep --scenario ping --seeds 1..9 --shard auto --no-db --quiet $AUTO_EXTRA 2>&1 | grep -q "shard $expect" &&
    pass "--shard auto: ${*:1:$#-1} gives $expect" || fail "--shard auto: ${*:1:$#-1} is not $expect"
}
AUTO_EXTRA="" auto SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 "3/3"
AUTO_EXTRA="" auto SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_MAX=6 "2/3"
AUTO_EXTRA="--shard-count 4" auto JOB_COMPLETION_INDEX=0 "1/4"
AUTO_EXTRA="--shard-count 2" auto PARALLEL_SEQ=2 "2/2"
if "$FL" sweep --scenario ping --seeds 1..9 --shard auto --no-db 2>&1 | grep -q "none of SLURM_ARRAY_TASK_ID"; then
  pass "--shard auto with no engine says so"
else
  fail "--shard auto without variables"
fi

# 6. JUnit: the failing seeds as failures with invariant and replay.
# (hw-from-committed-isr: some of seeds 1..10 fail, some pass.)
"$FL" sweep --scenario broker-crash --seeds 1..10 --bug hw-from-committed-isr --junit j.xml --no-db --quiet > /dev/null
nfail=$(grep -c "<failure " j.xml)
if grep -q '<testsuite name="broker-crash"' j.xml && [[ $nfail -ge 1 ]] && grep -q 'message="S10: ' j.xml &&
   grep -q "replay: .*run --scenario broker-crash --seed [0-9]* --bug hw-from-committed-isr" j.xml &&
   grep -q 'name="seeds 1..10: [0-9]* passed"' j.xml; then
  pass "JUnit: $nfail failing seeds with invariant and replay, one case for the passing ones"
else
  fail "JUnit: $(head -c 400 j.xml)"
fi

# 7. Replay: a stored failure reproduces its trace hash; a run recorded by another binary
#    (here: a row whose binary and hash were changed) is said to differ, naming that binary.
"$FL" sweep --scenario broker-crash --seeds 1..10 --bug truncate-to-hw --db r.db --quiet > /dev/null
"$FL" replay --db r.db --last-failure --trace last.trace > replay.out; rc=$?
id=$(q r.db "select id from runs where verdict != 'pass' order by id desc limit 1")
if [[ $rc -eq 1 ]] && grep -q "replay of run $id: trace hash .* matches the recorded one" replay.out && [[ -s last.trace ]] &&
   grep -q "violated S6" replay.out; then
  pass "replay --last-failure reproduces run $id's trace hash, writes its trace and its violation"
else
  fail "replay of the last failure: rc=$rc $(tail -2 replay.out)"
fi
q r.db "update sweeps set binary = 'faultline 0.0.1 (deadbeef Release)'; update runs set trace_hash = '0123456789abcdef' where id = $id"
"$FL" replay --db r.db "$id" --trace other.trace > replay2.out; rc=$?
if [[ $rc -eq 3 ]] && grep -q "trace hash DIFFERS: recorded 0123456789abcdef by faultline 0.0.1 (deadbeef Release)" replay2.out &&
   grep -q "another binary" replay2.out; then
  pass "a replay that diverges from another binary's record says so (exit 3)"
else
  fail "diverging replay: rc=$rc $(tail -1 replay2.out)"
fi
"$FL" replay --db r.db 999999 > /dev/null 2> nr.err; rc=$?
[[ $rc -eq 2 && $(wc -l < nr.err) -eq 1 ]] && pass "replay of an unknown run: exit 2" || fail "unknown run: rc=$rc"

# 8. --check-determinism: quiet on a deterministic scenario, a failure naming the diverging
#    window on the deliberately broken selftest mode.
"$FL" sweep --scenario s3-outage --seeds 1..6 --check-determinism --no-db --quiet > cd.out; rc=$?
"$FL" sweep --scenario selftest --set mode=nondeterministic --seeds 1..3 --check-determinism --no-db --quiet > nd.out; rc2=$?
if [[ $rc -eq 0 ]] && grep -q "6 runs" cd.out && [[ $rc2 -eq 1 ]] &&
   [[ $(grep -c "^seed [0-9]: fail determinism at 0s: two runs of seed [0-9] gave trace hashes .* first differ between trace records 0 and 1024" nd.out) -eq 3 ]]; then
  pass "--check-determinism: s3-outage agrees with itself, the broken mode is caught in every seed"
else
  fail "--check-determinism: rc=$rc rc2=$rc2 $(head -2 nd.out)"
fi

# 9. Bad database files: exit 2, one line, nothing damaged.
head -c 4096 /dev/urandom > corrupt.db
cp corrupt.db corrupt.orig
"$FL" sweep --scenario ping --seeds 1..2 --db corrupt.db > /dev/null 2> c.err; rc=$?
if [[ $rc -eq 2 && $(wc -l < c.err) -eq 1 ]] && cmp -s corrupt.db corrupt.orig; then pass "a corrupt database: exit 2, untouched"; else fail "corrupt database: rc=$rc $(cat c.err)"; fi
sqlite3 foreign.db 'create table t(x); insert into t values(1);'
cp foreign.db foreign.orig
"$FL" sweep --scenario ping --seeds 1..2 --db foreign.db > /dev/null 2> f.err; rc=$?
if [[ $rc -eq 2 ]] && grep -q "not a faultline results database" f.err && cmp -s foreign.db foreign.orig; then
  pass "another program's SQLite file: exit 2, untouched"
else
  fail "foreign database: rc=$rc $(cat f.err)"
fi
"$FL" sweep --scenario ping --seeds 1..2 --db /nonexistent/dir/x.db > /dev/null 2> u.err; rc=$?
[[ $rc -eq 2 && $(wc -l < u.err) -eq 1 ]] && pass "an unwritable database path: exit 2" || fail "unwritable db: rc=$rc"

echo "results_db_test: $((failures)) failure(s)"
[[ $failures -eq 0 ]]
