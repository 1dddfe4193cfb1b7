#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only when missing (idempotent, quiet).
#   clickhouse-server/-client  the ClickHouse 18.16 server the store tests run against
#   prometheus, prometheus-alertmanager  promtool checks of the alert rules
#   nodejs, npm  run/install npm's s3rver, the embedded broker's disk-backed storage
#                (skipped when node and npm are already on PATH, e.g. from NodeSource)
#   prometheus-node-exporter  the real exporter the collector tests scrape (collect prometheus|scrape)
#   zookeeper  coordinates the two 18.16 replicas of the replicated-store tests (pulls a JRE)
#   chromium, fonts-wqy-zenhei  the console's browser tests (Playwright drives this chromium;
#                               the font renders Chinese in their screenshots)
# Works as root on a fresh Debian 12; as another user it only checks and says what is missing.
set -euo pipefail

PACKAGES=(clickhouse-server clickhouse-client prometheus prometheus-alertmanager prometheus-node-exporter
  zookeeper chromium fonts-wqy-zenhei)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
for cmd in node npm; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing+=("$([ "$cmd" = node ] && echo nodejs || echo npm)")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-system-deps: run as root: sudo $0   (or: apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: no systemd units or extra daemons are needed; the tests start
# their own servers on loopback. policy-rc.d keeps package scripts from starting services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap 'if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system-deps: done"
