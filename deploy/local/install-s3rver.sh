#!/usr/bin/env bash
# Install npm's s3rver (pinned by deploy/local/s3rver/package-lock.json) into .tools/s3rver.
# The embedded broker (Tansu, s3:// storage) keeps its topics, messages and committed
# offsets in this disk-backed S3 server. Idempotent: does nothing when the lock is unchanged.
# Needs node + npm (install-system-deps.sh installs Debian's nodejs and npm when missing).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/deploy/local/s3rver"
dest="$root/.tools/s3rver"
stamp="$dest/.installed"

if [ -x "$dest/node_modules/.bin/s3rver" ] && [ -f "$stamp" ] \
  && cmp -s "$src/package-lock.json" "$stamp"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-s3rver: npm is missing: run deploy/local/install-system-deps.sh as root" >&2
  exit 1
fi
echo "install-s3rver: installing s3rver into $dest"
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
cp "$src/package-lock.json" "$stamp"
echo "install-s3rver: done ($("$dest/node_modules/.bin/s3rver" --version))"
