#!/usr/bin/env bash
# promtool (Debian's prometheus package) checks every Prometheus configuration of deploy/ (quick start and
# compose), the alert rules, and runs the rules' unit tests (prometheus/alerts_test.yml).
set -euo pipefail
if ! command -v promtool >/dev/null; then
  echo "promtool is missing: scripts/install_deps.sh installs Debian's prometheus package" >&2
  exit 1
fi
promtool check config deploy/prometheus/prometheus.yml
grep -q "127.0.0.1:9464" deploy/prometheus/prometheus.yml
# The compose configuration finds alerts.yml beside it, as in the container (compose.yaml mounts both).
compose_dir="${TEST_TMPDIR:-$(mktemp -d)}/compose"
mkdir -p "$compose_dir"
cp deploy/docker/prometheus.yml deploy/prometheus/alerts.yml "$compose_dir/"
promtool check config "$compose_dir/prometheus.yml"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
# Every alert of alerts.yml has a unit test.
alerts=$(grep -oP '^\s*- alert: \K\w+' deploy/prometheus/alerts.yml | sort -u)
tested=$(grep -oP '^\s*alertname: \K\w+' deploy/prometheus/alerts_test.yml | sort -u)
if [[ "$alerts" != "$tested" ]]; then
  echo "alerts without a unit test: $(comm -23 <(echo "$alerts") <(echo "$tested") | tr '\n' ' ')" >&2
  exit 1
fi
echo "checked $(wc -l <<<"$alerts") alerts"
