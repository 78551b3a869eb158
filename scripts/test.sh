#!/usr/bin/env bash
# The whole test suite: install what is missing, then build and run every test twice, in
# the release build (warnings are errors) and in the ASan+UBSan build. .ci/run calls this.
# The known-bug gate, the fuzz properties and the browser test of the report (labels bugzoo,
# fuzz, browser) run in the release build only: they judge the model and the page, and their
# sweeps would take many minutes under ASan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs="$(nproc)"
for preset in release asan; do
  echo "=== ${preset}: configure, build, test"
  cmake --preset "${preset}" -DFAULTLINE_WERROR=ON > /dev/null
  cmake --build --preset "${preset}" -j "${jobs}"
  if [[ "${preset}" == asan ]]; then
    ctest --preset "${preset}" -j "${jobs}" -LE "bugzoo|fuzz|browser"
  else
    ctest --preset "${preset}" -j "${jobs}"
  fi
done
