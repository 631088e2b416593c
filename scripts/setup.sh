#!/usr/bin/env bash
# Makes this machine ready to run scangate: ClamAV installed (clamd, freshclam) and, with
# SIGNATURES=test, the offline test signatures written.
# Idempotent and fast when everything is present (it runs before every `npm start` and `npm test`).
# It never starts clamd: scangate supervises its own clamd (or uses CLAMD_ADDRESS).
# Usage: scripts/setup.sh [--quiet]
set -euo pipefail

quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1
say() { if [ "$quiet" = 0 ]; then echo "setup: $*"; fi; }

cd "$(dirname "$0")/.."

# clamd lives in /usr/sbin, which is not on every user's PATH.
have_clamd() { command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ]; }
have_sigtool() { command -v sigtool >/dev/null 2>&1; }

have_freshclam() { command -v freshclam >/dev/null 2>&1; }

if ! have_clamd || ! have_sigtool || ! have_freshclam; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing ClamAV (clamav, clamav-daemon, clamav-freshclam, clamav-testfiles, zip)"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y clamav clamav-daemon clamav-freshclam clamav-testfiles zip
else
  say "ClamAV present: $(sigtool --version 2>/dev/null | head -n 1)"
fi

# The pinned Node 24 (npm scripts put it first on PATH; a direct call may find the system's older one).
node_bin=node
[ -x node_modules/.bin/node ] && node_bin=node_modules/.bin/node

# Only when asked: the offline database detects EICAR and ClamAV's test files, nothing else.
if [ "${SIGNATURES:-}" = "test" ]; then
  data_dir="${SCANGATE_DATA_DIR:-data}"
  flags=()
  [ "$quiet" = 1 ] && flags+=(--quiet)
  "$node_bin" scripts/write-signatures.ts "$data_dir/signatures" "${flags[@]}"
else
  say "signatures: scangate's freshclam keeps them current (SIGNATURES=test for the offline test database)"
fi
