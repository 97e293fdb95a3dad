#!/usr/bin/env bash
# Starts Prometheus against `npm start` on this machine (docs/operations.md, "Prometheus locally"):
# writes the Worker's METRICS_TOKEN from .dev.vars to a private token file, then runs Prometheus
# with ops/prometheus/prometheus.local.yml (the Worker on :8787, the transcoder on :8788, the alert
# rules loaded) on http://127.0.0.1:9090, keeping its data in .wrangler/prometheus.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
command -v prometheus >/dev/null || { echo "prometheus is missing: sudo apt-get install prometheus" >&2; exit 1; }
[[ -f .dev.vars ]] || { echo ".dev.vars is missing: run npm start once first (it writes METRICS_TOKEN)" >&2; exit 1; }
token="$(sed -n 's/^METRICS_TOKEN="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' .dev.vars)"
[[ -n "$token" ]] || { echo "METRICS_TOKEN is not in .dev.vars: run npm start once (it adds it)" >&2; exit 1; }
mkdir -p .wrangler/prometheus/data
umask 077
printf '%s' "$token" > .wrangler/prometheus/metrics-token
exec prometheus \
  --config.file=ops/prometheus/prometheus.local.yml \
  --storage.tsdb.path=.wrangler/prometheus/data \
  --web.listen-address="${PROMETHEUS_LISTEN:-127.0.0.1:9090}" \
  "$@"
