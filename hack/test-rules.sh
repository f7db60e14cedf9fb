#!/usr/bin/env bash
# Unit-tests the alerting rules with promtool: config/prometheus/poet_rules_test.yaml
# against the rule groups of config/prometheus/poet_rules.yaml (a PrometheusRule; its
# spec is what Prometheus loads, extracted here as hack/sync-chart.sh does for the chart).
# promtool comes from Debian's prometheus package, installed only when it is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "test-rules: $*" >&2; }

if ! command -v promtool >/dev/null; then
  if [[ $(id -u) != 0 ]]; then log "promtool is missing: install Debian's prometheus package (as root)"; exit 1; fi
  log "installing Debian's prometheus package for promtool"
  apt-get install -y --no-install-recommends prometheus >&2 || { apt-get update >&2 && apt-get install -y --no-install-recommends prometheus >&2; }
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed -n '/^spec:/,$p' "$ROOT/config/prometheus/poet_rules.yaml" | tail -n +2 | sed 's/^  //' >"$work/poet_rules.groups.yaml"
cp "$ROOT/config/prometheus/poet_rules_test.yaml" "$work/"
promtool check rules "$work/poet_rules.groups.yaml"
promtool test rules "$work/poet_rules_test.yaml"
