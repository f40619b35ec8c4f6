#!/usr/bin/env bash
# Checks deploy/prometheus/prometheus.yml with promtool.
set -euo pipefail
config="deploy/prometheus/prometheus.yml"
if ! command -v promtool >/dev/null; then
  echo "promtool is missing: scripts/install_deps.sh installs Debian's prometheus package" >&2
  exit 1
fi
promtool check config "$config"
grep -q "127.0.0.1:9464" "$config"
