#!/usr/bin/env bash
# faultline report, as a person sees it (issue 14): a results database with passing and
# failing sweeps of three scenario families (one with *_ns metrics, one with a metadata
# quorum), its report opened in headless Chromium by check_report.mjs (no console errors,
# every chart drawn, every failure's timeline link renders), screenshots kept in OUT_DIR.
# Also: the same database gives the same file, bad input exits 2.
#   report_test.sh FAULTLINE OUT_DIR NODE CHROMIUM
set -euo pipefail
F="$1"; OUT="$2"; NODE="$3"; CHROMIUM="$4"
HERE="$(cd "$(dirname "$0")" && pwd)"
for tool in "$NODE" "$CHROMIUM"; do
  if ! command -v "$tool" > /dev/null; then
    echo "report_test: '$tool' not found: run scripts/deps.sh (it installs nodejs and chromium)" >&2
    exit 1
  fi
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"
cd "$work"
fail() { echo "report_test: $*" >&2; exit 1; }

"$F" sweep --scenario broker-crash --seeds 1..12 --bug truncate-to-hw --jobs 2 --quiet --db r.db > /dev/null || true
"$F" sweep --scenario partition --seeds 1..12 --jobs 2 --quiet --db r.db > /dev/null || fail "partition sweep failed"
"$F" sweep --scenario dc-loss --seeds 36..37 --bug isr-join-without-leso --jobs 2 --quiet --db r.db > /dev/null || true
"$F" sweep --scenario controller-failover --seeds 28..28 --bug vote-without-log-check --quiet --db r.db > /dev/null || true
# A fuzz failure: its plan was generated, so its timeline must be re-run from the run's own plan.
"$F" fuzz --scenario broker-crash --bug truncate-to-hw --runs 30 --jobs 2 --db r.db > /dev/null || true
rm -f ./*.plan
failures="$(sqlite3 r.db "select count(*) from runs where verdict != 'pass'")"
runs="$(sqlite3 r.db "select count(*) from runs")"
[[ "$failures" -ge 4 ]] || fail "expected failing runs in the database, got $failures"

"$F" report --db r.db --out report.html --jobs 2 > out.txt || fail "report exited $?: $(cat out.txt)"
grep -q "report: $runs runs in 5 group(s), $failures failure(s), 4 timeline(s)" out.txt || fail "unexpected: $(cat out.txt)"
# Every re-run gave the recorded run again (the fuzz one too).
same="$(perl -0pe 's/<script\b[^>]*>.*?<\/script>//gs' report.html | grep -c 'for the timeline: trace hash [0-9a-f]*, the recorded one')"
[[ "$same" -eq 4 ]] || fail "only $same of 4 timelines re-ran their recorded run"
"$F" report --db r.db --out again.html --jobs 1 > /dev/null
cmp -s report.html again.html || fail "two reports of one database differ"
# Self-contained: outside the inlined code, no element loads anything (the browser check also
# sees every failed load as a console error).
perl -0pe 's/<script\b[^>]*>.*?<\/script>//gs' report.html > markup.html
if grep -Eo '<(script|link|img|iframe)[^>]+(src|href)="[^"#]+' markup.html; then fail "the report loads an outside file"; fi
grep -q '<script>' report.html || fail "no inlined script"
grep -q 'Copyright (c) 2015-2023, University of Washington Interactive Data Lab' report.html || fail "no license notice"

"$NODE" "$HERE/check_report.mjs" report.html "$OUT" "$CHROMIUM" || fail "the page did not render cleanly (above)"
for shot in report.png report-full.png timeline.png; do
  [[ $(stat -c %s "$OUT/$shot") -gt 10000 ]] || fail "screenshot $shot missing or empty"
done

# Bad input: one line, exit 2.
set +e
"$F" report --db missing.db --out x.html 2> err.txt; rc=$?
set -e
[[ $rc -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "missing database: exit $rc, $(cat err.txt)"
set +e
"$F" report --db r.db --out /nonexistent/dir/x.html 2> err.txt; rc=$?
set -e
[[ $rc -eq 2 && $(wc -l < err.txt) -eq 1 ]] || fail "unwritable output: exit $rc, $(cat err.txt)"
echo "report_test: ok (screenshots in $OUT)"
