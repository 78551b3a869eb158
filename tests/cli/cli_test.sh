#!/usr/bin/env bash
# End-to-end checks of the faultline binary: determinism across runs and --jobs, exit codes,
# one-line errors for bad input, crash isolation in sweeps, list --json, trace files.
# Usage: cli_test.sh /path/to/faultline
set -u
FL="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1  # sweeps record into ./faultline.db: keep it out of the build tree
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
field() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | sed 's/.*:"\(.*\)"/\1/'; }

# 1. Same seed twice: same trace hash. Another seed: another hash.
h7a=$("$FL" run --scenario ping --seed 7 --json | field trace_hash)
h7b=$("$FL" run --scenario ping --seed 7 --json | field trace_hash)
h8=$("$FL" run --scenario ping --seed 8 --json | field trace_hash)
if [[ -n "$h7a" && "$h7a" == "$h7b" ]]; then pass "seed 7 twice gives $h7a"; else fail "seed 7 hashes differ: '$h7a' '$h7b'"; fi
if [[ -n "$h8" && "$h8" != "$h7a" ]]; then pass "seed 8 gives a different hash $h8"; else fail "seed 8 hash '$h8' equals seed 7"; fi

# 2. A sweep gives the same (seed, verdict, hash) set with --jobs 1 and --jobs 2.
extract() { grep '"seed":' | sed -E 's/.*"seed":([0-9]+),"verdict":"([a-z]+)".*"trace_hash":"([0-9a-f]+)".*/\1 \2 \3/' | sort -n; }
"$FL" sweep --scenario ping --seeds 1..40 --jobs 1 --json 2>/dev/null | extract > "$WORK/j1"
"$FL" sweep --scenario ping --seeds 1..40 --jobs 2 --json 2>/dev/null | extract > "$WORK/j2"
if [[ $(wc -l < "$WORK/j1") -eq 40 ]] && cmp -s "$WORK/j1" "$WORK/j2"; then
  pass "sweep 1..40: identical hashes with --jobs 1 and --jobs 2"
else
  fail "sweep hashes differ between --jobs 1 and 2"; diff "$WORK/j1" "$WORK/j2" | head
fi
if [[ $(awk '$2 != "pass"' "$WORK/j1" | wc -l) -eq 0 ]]; then pass "ping 1..40 all pass"; else fail "ping sweep has failures"; fi
# Warm workers (runner/isolate.h) against a fresh process per seed: the same hashes.
"$FL" sweep --scenario ping --seeds 1..40 --jobs 2 --json --fresh-processes 2>/dev/null | extract > "$WORK/jf"
if cmp -s "$WORK/j1" "$WORK/jf"; then
  pass "sweep 1..40: identical hashes in warm workers and with --fresh-processes"
else
  fail "sweep hashes differ between warm workers and fresh processes"; diff "$WORK/j1" "$WORK/jf" | head
fi
# The same bug sweep is deterministic too, and finds the bug.
"$FL" sweep --scenario ping --seeds 1..20 --jobs 1 --json --bug ping-unordered-send 2>/dev/null | extract > "$WORK/b1"
"$FL" sweep --scenario ping --seeds 1..20 --jobs 2 --json --bug ping-unordered-send 2>/dev/null | extract > "$WORK/b2"
if cmp -s "$WORK/b1" "$WORK/b2" && grep -q " fail " "$WORK/b1"; then pass "bug sweep deterministic across jobs and catches the bug"; else fail "bug sweep"; fi
# The quorum and reassignment scenarios too: a metadata quorum's elections and a
# reassignment drawn from its event's time are as deterministic as the rest.
for scen in controller-failover reassignment; do
  "$FL" sweep --scenario "$scen" --seeds 1..8 --jobs 1 --json --no-db 2>/dev/null | extract > "$WORK/q1"
  "$FL" sweep --scenario "$scen" --seeds 1..8 --jobs 2 --json --no-db 2>/dev/null | extract > "$WORK/q2"
  if [[ -s "$WORK/q1" ]] && cmp -s "$WORK/q1" "$WORK/q2"; then
    pass "$scen 1..8: identical hashes with --jobs 1 and --jobs 2"
  else
    fail "$scen hashes differ between --jobs 1 and 2"; diff "$WORK/q1" "$WORK/q2" | head
  fi
done

# A timeline is written beside the run, which it leaves unchanged (same hash).
"$FL" timeline --scenario partition --seed 3 --out "$WORK/t.json" --no-db > /dev/null
ht=$("$FL" run --scenario partition --seed 3 --no-db --json --timeline "$WORK/t2.json" | field trace_hash)
hp=$("$FL" run --scenario partition --seed 3 --no-db --json | field trace_hash)
if [[ -s "$WORK/t.json" && -s "$WORK/t2.json" && -n "$ht" && "$ht" == "$hp" ]] && head -c 40 "$WORK/t.json" | grep -q traceEvents; then
  pass "timeline written, run unchanged ($ht)"
else
  fail "timeline missing or the run changed: '$ht' '$hp'"
fi

# 3. Exit codes: 0 pass, 1 failure.
"$FL" run --scenario ping --seed 3 > /dev/null; rc=$?
[[ $rc -eq 0 ]] && pass "passing run exits 0" || fail "passing run exited $rc"
"$FL" run --scenario selftest --seed 3 --set mode=fail > "$WORK/out"; rc=$?
[[ $rc -eq 1 ]] && pass "failing run exits 1" || fail "failing run exited $rc"
grep -q "replay: .* run --scenario selftest --seed 3 --set mode=fail" "$WORK/out" && pass "failing run prints its replay command" || fail "no replay command"

# 4. Bad input: exit 2, exactly one line on stderr, nothing on stdout.
bad() {
  local name="$1"; shift
  "$FL" "$@" > "$WORK/bad.out" 2> "$WORK/bad.raw"; local rc=$?
  # ASan builds warn once per process about swapcontext (Boost's ucontext fibers): not ours.
  grep -v "WARNING: ASan doesn't fully support makecontext/swapcontext" "$WORK/bad.raw" > "$WORK/bad.err"
  local lines; lines=$(wc -l < "$WORK/bad.err")
  if [[ $rc -eq 2 && $lines -eq 1 && ! -s "$WORK/bad.out" ]]; then
    pass "bad input ($name): $(cat "$WORK/bad.err")"
  else
    fail "bad input ($name): rc=$rc stderr lines=$lines"; cat "$WORK/bad.err" "$WORK/bad.out" | head -5
  fi
}
bad "unknown scenario" run --scenario nope --seed 1
bad "timeline to an unwritable file" timeline --scenario ping --seed 1 --out /nonexistent-dir/t.json --no-db
bad "timeline without --out" timeline --scenario ping --seed 1 --no-db
bad "unknown parameter" run --scenario ping --seed 1 --set nodez=3
bad "bad parameter value" run --scenario ping --seed 1 --set nodes=many
bad "out-of-range parameter" run --scenario ping --seed 1 --set nodes=1000
bad "set without =" run --scenario ping --seed 1 --set nodes
bad "unknown bug" run --scenario ping --seed 1 --bug nope
bad "bad seed" run --scenario ping --seed -4
bad "missing seed" run --scenario ping
bad "unknown flag" run --scenario ping --seed 1 --frobnicate
bad "no subcommand"
bad "empty seed range" sweep --scenario ping --seeds 5..3
bad "garbage seed range" sweep --scenario ping --seeds 1-5
bad "zero jobs" sweep --scenario ping --seeds 1..2 --jobs 0
bad "unwritable trace file" run --scenario ping --seed 1 --trace /nonexistent/dir/trace.txt
bad "duplicate set" run --scenario ping --seed 1 --set nodes=3 --set nodes=4
bad "a duration beyond a day" run --scenario ping --seed 1 --set duration=9223372036s
bad "plan on a directory" run --scenario ping --seed 1 --plan "$WORK"
bad "plan on a device" run --scenario ping --seed 1 --plan /dev/zero
: > "$WORK/empty.plan"
bad "empty plan" run --scenario ping --seed 1 --plan "$WORK/empty.plan"
bad "min ISR above the replicas (broker-crash)" run --scenario broker-crash --seed 1 --set min.insync.replicas=4
bad "a 100 KB argument" run --scenario ping --seed 1 --set "nodes=$(head -c 100000 /dev/zero | tr '\0' x)"
bad "--json with --trace -" run --scenario ping --seed 1 --json --trace -
if "$FL" run --scenario broker-crash --seed 1 --bug tier-above-hw 2>&1 >/dev/null | grep -q "not known to catch --bug tier-above-hw (scenario s3-outage is)"; then
  pass "a --bug the scenario does not catch is said"
else
  fail "no note for a --bug the scenario does not catch"
fi
# The trace tail of a run that died of a signal or hung comes from the run itself (a ring
# shared with its process), not from a second run.
for mode in crash-signal hang; do
  "$FL" run --scenario selftest --seed 1 --set mode=$mode --timeout 3 --no-db > "$WORK/tail.out" 2>/dev/null
  if grep -q "last [0-9]* trace events" "$WORK/tail.out" && grep -q "ping-round seq=9" "$WORK/tail.out"; then
    pass "the trace tail of a $mode run is shown"
  else
    fail "no trace tail for $mode: $(tail -2 "$WORK/tail.out")"
  fi
done
if [[ $("$FL" run --scenario ping --seed 1 --set "nodes=$(head -c 100000 /dev/zero | tr '\0' x)" 2>&1 | wc -c) -lt 400 ]]; then
  pass "an error never echoes a 100 KB argument"
else
  fail "a long argument is echoed"
fi

# 5. A sweep with crashing, hanging and deadlocking seeds finishes with every result.
"$FL" sweep --scenario selftest --set mode=mixed --seeds 1..8 --jobs 2 --timeout 2 --json > "$WORK/mixed" 2> "$WORK/mixed.err"; rc=$?
n=$(grep -c '"seed":' "$WORK/mixed")
if [[ $rc -eq 1 && $n -eq 8 ]]; then pass "mixed selftest sweep: 8 results, exit 1"; else fail "mixed sweep: rc=$rc results=$n"; fi
if tail -1 "$WORK/mixed" | grep -q '^{"scenario":"selftest","runs":8,'; then
  pass "--json: the summary is the stream's last JSON line"
else
  fail "--json summary line: $(tail -1 "$WORK/mixed" | head -c 200)"
fi
for v in pass fail liveness crash; do
  grep -q "\"verdict\":\"$v\"" "$WORK/mixed" && pass "mixed sweep reports a $v" || fail "mixed sweep lacks $v"
done
# Plain builds die of SIGSEGV; under ASan its handler reports and exits with a status.
grep -qE "killed by signal 11|exited with status [1-9]" "$WORK/mixed" && pass "signal reported" || fail "signal not reported"
grep -q "wall-clock timeout" "$WORK/mixed" && pass "hang reported" || fail "hang not reported"
grep -q "RESULT: FAIL" "$WORK/mixed.err" && pass "summary says FAIL" || fail "summary missing"

# 5b. sweep --summary-json writes the summary as one JSON object (ping declares no coverage
#     marks, so "marks" is empty there, but the keys are present); every run's JSON has
#     "marks"; an unwritable summary path is bad input, found before any seed runs.
"$FL" sweep --scenario ping --seeds 1..6 --json --summary-json "$WORK/summary.json" > "$WORK/sj.out" 2> /dev/null; rc=$?
if [[ $rc -eq 0 && $(wc -l < "$WORK/summary.json") -eq 1 ]] && grep -q '^{"scenario":"ping","runs":6,"verdicts":{"pass":6,' "$WORK/summary.json" &&
   grep -q '"by_invariant":{}' "$WORK/summary.json" && grep -q '"marks":{}' "$WORK/summary.json" &&
   grep -q '"never_reached":\[\],"guards_not_tripped":\[\]}$' "$WORK/summary.json"; then
  pass "sweep --summary-json writes scenario, runs, verdicts, by_invariant, marks, never_reached, guards_not_tripped"
else
  fail "sweep --summary-json: rc=$rc"; cat "$WORK/summary.json"
fi
[[ $(grep -c '"marks":{},"replay":' "$WORK/sj.out") -eq 6 ]] && pass "every run's JSON has marks" || fail "run JSON lacks marks"
bad "unwritable summary file" sweep --scenario ping --seeds 1..2 --summary-json /nonexistent/dir/x.json

# 6. list --json names scenarios, parameters and bugs with their catcher.
"$FL" list --json > "$WORK/list"
grep -q '{"name":"ping","description"' "$WORK/list" && pass "list --json has ping" || fail "list --json lacks ping"
grep -q '{"name":"nodes","default":"3"' "$WORK/list" && pass "list --json has parameters" || fail "list --json lacks parameters"
grep -q '"name":"ping-unordered-send","scenario":"ping","expects":\["P1"\]' "$WORK/list" && pass "list --json has the bug" || fail "list --json lacks the bug"

# 6b. dc-loss (issue 5): listed with its bug switch; bad parameters are one-line errors; its
#     drawn plan (a whole datacenter) replays with the same hash; the summary shows the
#     distribution of the time to the first write after the loss.
grep -q '{"name":"dc-loss","description"' "$WORK/list" && pass "list --json has dc-loss" || fail "list --json lacks dc-loss"
grep -q '"name":"promote-lagging-observer","scenario":"dc-loss","expects":\["S1","S6","S8","D2"\]' "$WORK/list" && pass "list --json has promote-lagging-observer" || fail "list --json lacks promote-lagging-observer"
grep -q '{"name":"promotion_policy","default":"under-min-isr"' "$WORK/list" && pass "list --json has the promotion policy" || fail "list --json lacks promotion_policy"
bad "dc-loss unknown policy" run --scenario dc-loss --seed 1 --set promotion_policy=sometimes
bad "dc-loss unknown datacenter" run --scenario dc-loss --seed 1 --set fail_dc=dc3
bad "dc-loss min ISR above the sync replicas" run --scenario dc-loss --seed 1 --set min.insync.replicas=5
bad "dc-loss min ISR above the sync replicas (sweep)" sweep --scenario dc-loss --seeds 1..4 --set min.insync.replicas=5
bad "dc-loss loss window inverted" run --scenario dc-loss --seed 1 --set loss_at_min=50s
"$FL" plan --scenario dc-loss --seed 5 > "$WORK/dplan"
a=$("$FL" run --scenario dc-loss --seed 5 --json | field trace_hash)
b=$("$FL" run --scenario dc-loss --seed 5 --plan "$WORK/dplan" --json | field trace_hash)
if grep -qE "power-loss node=b|isolate-dc dc=dc" "$WORK/dplan" && [[ -n "$a" && "$a" == "$b" ]]; then pass "dc-loss seed 5: its plan replays with the same hash"; else fail "dc-loss plan replay: $a vs $b"; fi
"$FL" sweep --scenario dc-loss --seeds 1..4 > "$WORK/dsweep"; rc=$?
if [[ $rc -eq 0 ]] && grep -qE "^loss_to_first_write_ns: median [0-9.]+s, p99 [0-9.]+s, max [0-9.]+s \(4 runs" "$WORK/dsweep"; then
  pass "dc-loss sweep passes and shows the time to the first write after the loss"
else
  fail "dc-loss sweep: rc=$rc"; cat "$WORK/dsweep"
fi

# 7. The human-readable trace is itself deterministic.
"$FL" run --scenario ping --seed 11 --trace "$WORK/t1" > /dev/null
"$FL" run --scenario ping --seed 11 --trace "$WORK/t2" > /dev/null
if [[ $(wc -l < "$WORK/t1") -gt 100 ]] && cmp -s "$WORK/t1" "$WORK/t2"; then pass "trace files identical ($(wc -l < "$WORK/t1") lines)"; else fail "trace files differ or are empty"; fi
grep -q " fault serial=" "$WORK/t1" && pass "trace shows the faults applied" || fail "trace lacks fault events"

# 8. A fault plan printed by `plan`, run with --plan, replays the seed exactly; edited plans
#    run; bad plans are bad input.
for seed in 7 21 33; do
  "$FL" plan --scenario ping --seed $seed > "$WORK/plan$seed"
  a=$("$FL" run --scenario ping --seed $seed --json | field trace_hash)
  b=$("$FL" run --scenario ping --seed $seed --plan "$WORK/plan$seed" --json | field trace_hash)
  if [[ -n "$a" && "$a" == "$b" ]]; then pass "seed $seed: run with its printed plan has the same hash"; else fail "seed $seed: plan replay hash $b != $a"; fi
done
# A replication plan that aims at roles ("kill node=leader:p1") replays the same way.
"$FL" plan --scenario broker-crash --seed 11 > "$WORK/bplan"
a=$("$FL" run --scenario broker-crash --seed 11 --json | field trace_hash)
b=$("$FL" run --scenario broker-crash --seed 11 --plan "$WORK/bplan" --json | field trace_hash)
if grep -q "node=leader:p" "$WORK/bplan" && [[ -n "$a" && "$a" == "$b" ]]; then pass "broker-crash seed 11: a plan aiming at leaders replays with the same hash"; else fail "broker-crash plan replay: $a vs $b"; fi
# Shrinking: a failing seed's plan shrinks to fewer faults that still fail the same way.
"$FL" shrink --scenario cascade --seed 23 --bug epoch-next-offset --out "$WORK/shrunk.plan" > "$WORK/shrink.out"
rc=$?
before=$("$FL" plan --scenario cascade --seed 23 | grep -c "^[0-9]")
after=$(grep -c "^[0-9]" "$WORK/shrunk.plan")
inv=$("$FL" run --scenario cascade --seed 23 --bug epoch-next-offset --plan "$WORK/shrunk.plan" --json | field invariant)
if [[ $rc == 1 && $after -ge 1 && $after -lt $before && "$inv" == "C3" ]] && grep -q "replay: .*--plan" "$WORK/shrink.out"; then
  pass "shrink: cascade seed 23 from $before to $after faults, replay still C3"
else
  fail "shrink: rc=$rc before=$before after=$after invariant=$inv"
fi
if "$FL" shrink --scenario broker-crash --seed 1 --out "$WORK/none.plan" | grep -q "nothing to shrink"; then
  pass "shrink: a passing seed has nothing to shrink (exit 0)"
else
  fail "shrink of a passing seed"
fi
"$FL" plan --scenario cascade --seed 23 > "$WORK/cplan"
a=$("$FL" run --scenario cascade --seed 23 --bug epoch-next-offset --json | field trace_hash)
b=$("$FL" run --scenario cascade --seed 23 --bug epoch-next-offset --plan "$WORK/cplan" --json | field trace_hash)
if grep -q "node=next-leader:p.* delay=" "$WORK/cplan" && [[ -n "$a" && "$a" == "$b" ]]; then pass "cascade seed 23: a plan killing successors replays with the same hash"; else fail "cascade plan replay: $a vs $b"; fi
printf '1s kill node=n1 for=2s\n3s s3-outage for=4s\n' > "$WORK/edited"
"$FL" run --scenario ping --seed 7 --plan "$WORK/edited" --trace "$WORK/te" > /dev/null; rc=$?
[[ $rc -eq 0 ]] && grep -q "fault serial=1 event=1s kill node=n1 for=2s" "$WORK/te" && pass "an edited plan runs" || fail "edited plan: rc=$rc"
printf '1s kill node=n9 for=2s\n' > "$WORK/badnode"
bad "plan naming an unknown node" run --scenario ping --seed 1 --plan "$WORK/badnode"
printf '1s s3-errors slowdown=65/100 internal=36/100 for=1s\n' > "$WORK/badrates"
bad "plan whose S3 error rates add up to more than 1 (found by the fuzzer)" run --scenario ping --seed 1 --plan "$WORK/badrates"
printf '1s melt node=n1\n' > "$WORK/badkind"
bad "plan with an unknown fault kind" run --scenario ping --seed 1 --plan "$WORK/badkind"
bad "missing plan file" run --scenario ping --seed 1 --plan "$WORK/nope"
bad "plan for a scenario without faults" plan --scenario selftest --seed 1
bad "shrink for a scenario without faults" shrink --scenario selftest --seed 1 --set mode=fail
bad "shrink with a bad seed" shrink --scenario ping --seed x

# 9. faultline fuzz: a bug switch is found and shrunk; the printed RC_PARAMS reproduce string
# regenerates exactly that case (the same failure and replay line), and the replay command
# replays it with the same failure; a bad RC_PARAMS is bad input.
"$FL" fuzz --scenario broker-crash --bug ack-below-min-isr --runs 200 --no-db > "$WORK/fz"; rc=$?
repro=$(grep -o 'RC_PARAMS="[^"]*"' "$WORK/fz" | head -1 | sed 's/^RC_PARAMS="\(.*\)"$/\1/')
found=$(grep '^found:' "$WORK/fz")
replay=$(grep '^  replay:' "$WORK/fz" | sed 's/^  replay: //')
if [[ $rc -eq 1 && -n "$repro" && "$found" == *S10* ]]; then pass "fuzz finds ack-below-min-isr: $found"; else fail "fuzz: rc=$rc found='$found'"; fi
RC_PARAMS="$repro" "$FL" fuzz --scenario broker-crash --bug ack-below-min-isr --no-db > "$WORK/fz2"; rc=$?
if [[ $rc -eq 1 && "$(grep '^found:' "$WORK/fz2")" == "$found" && "$(grep '^  replay:' "$WORK/fz2" | sed 's/^  replay: //')" == "$replay" ]]; then
  pass "RC_PARAMS reproduce string runs the shrunk case again"
else
  fail "reproduce: rc=$rc"; head -5 "$WORK/fz2"
fi
if [[ -n "$replay" ]] && eval "$replay" > "$WORK/fz3"; [[ $? -eq 1 ]] && grep -q "fail S10" "$WORK/fz3"; then pass "the fuzz replay command fails the same way"; else fail "fuzz replay command"; fi
RC_PARAMS="reproduce=garbage" bad "RC_PARAMS that does not parse" fuzz --scenario broker-crash --no-db
RC_PARAMS="$repro" bad "RC_PARAMS for another scenario" fuzz --scenario cascade --no-db

echo "cli_test: $((failures)) failure(s)"
[[ $failures -eq 0 ]]
