#!/usr/bin/env bash
# tests/determinism_lint/check_dirty.sh
# Proves the determinism lint catches every banned construct in the dirty fixture.
#
# Usage: check_dirty.sh LINT_SCRIPT DIRTY_FIXTURE_ROOT
#
# Passes only if all of these hold:
#   1. the lint exits 1;
#   2. each category's fixture file (one file per category) is reported with that category;
#   3. the reported `file:line: rule` set equals the set of lines that end in a
#      `// expect-lint: <rule> [<rule>...]` comment in the fixture. So every banned
#      construct is caught, and nothing else is: not the near misses in the fixture, not
#      the line after a used-up allow marker, and not files with other extensions or
#      outside sim/, models/ and scenarios/;
#   4. the summary line counts exactly those violations.
set -euo pipefail
export LC_ALL=C

if (( $# != 2 )); then
  echo "usage: $0 LINT_SCRIPT DIRTY_FIXTURE_ROOT" >&2
  exit 2
fi
lint=$1
fixture=$2
if [[ ! -f $lint || ! -d $fixture ]]; then
  echo "check_dirty: no lint script at $lint or no fixture directory at $fixture" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/check-dirty.XXXXXX")
trap 'rm -rf "$work"' EXIT

rc=0
bash "$lint" "$fixture" > "$work/stdout" 2> "$work/stderr" || rc=$?

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

if (( rc != 1 )); then
  fail "the lint exited $rc on the dirty fixture, expected 1"
fi

# 2. One file per category: each must appear with its category.
categories=(
  "wall-clock sim/wall_clock.cc"
  "threads sim/threads.hpp"
  "std-random models/std_random.cpp"
  "static-state models/static_state.h"
  "environment scenarios/environment.cpp"
  "unordered-container scenarios/unordered_containers.h"
)
for entry in "${categories[@]}"; do
  rule=${entry%% *}
  file=${entry#* }
  if [[ ! -f $fixture/$file ]]; then
    fail "fixture file $file for category $rule is missing"
  elif ! grep -qE "^${file//./\\.}:[0-9]+: $rule: " "$work/stderr"; then
    fail "category $rule: nothing in $file was reported"
  fi
done

# 3. Expected and actual (file:line: rule) sets.
marker='// expect-lint: ([a-z-]+( [a-z-]+)*)[[:space:]]*$'
(cd "$fixture" && { grep -rnE "$marker" . || true; }) |
  sed -E "s|^\./||; s|^([^:]+):([0-9]+):.*$marker|\1 \2 \3|" |
  while read -r file line rules; do
    for rule in $rules; do echo "$file:$line: $rule"; done
  done | sort -u > "$work/expected"
sed -nE 's/^([^:]+:[0-9]+: [a-z-]+): .*/\1/p' "$work/stderr" | sort -u > "$work/actual"

if [[ ! -s $work/expected ]]; then
  fail "no expect-lint markers found under $fixture"
fi
comm -23 "$work/expected" "$work/actual" > "$work/missed"
comm -13 "$work/expected" "$work/actual" > "$work/unexpected"
while IFS= read -r m; do
  fail "not flagged, but marked expect-lint: $m"
done < "$work/missed"
while IFS= read -r u; do
  fail "flagged, but not marked expect-lint: $u"
done < "$work/unexpected"

# 4. The summary counts them.
expected_count=$(wc -l < "$work/expected")
if ! grep -qx "determinism-lint: $expected_count violation(s)" "$work/stderr"; then
  fail "summary line is not 'determinism-lint: $expected_count violation(s)'"
fi

if (( failures )); then
  echo "--- lint stderr ---" >&2
  cat "$work/stderr" >&2
  echo "check_dirty: $failures failure(s)" >&2
  exit 1
fi
echo "check_dirty: all ${#categories[@]} categories and $expected_count expected" \
  "violations reported"
