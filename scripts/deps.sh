#!/usr/bin/env bash
# Installs the Debian 12 packages Faultline needs, and only those that are missing.
# Quick when everything is there (no apt-get update): safe to call before every build.
set -euo pipefail
PACKAGES=(
  g++ cmake ninja-build
  libboost-context-dev libfmt-dev libcli11-dev librapidcheck-dev
  libsqlite3-dev sqlite3 libgtest-dev libgmock-dev
  nodejs chromium  # the report test: headless Chromium, driven from Node.js over the DevTools pipe
)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo > /dev/null || { echo "deps: not root and no sudo: install ${missing[*]} by hand" >&2; exit 2; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
