#!/usr/bin/env bash
# `npm run check`: types in every tsconfig, then Biome (lint and format). The type checks run in two
# lanes side by side; in the second, the web app's comes after web/tsconfig.api.json, which emits the
# API types it imports (docs/web.md). Each failure's output is shown and the check fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
# Two lanes for two cores: the Worker's config (the largest) beside all the others.
jobs_run=(
  "npx tsc --noEmit -p tsconfig.worker.json"
  "npx tsc --noEmit -p tsconfig.json && npx tsc --noEmit -p tsconfig.e2e.json && npx tsc -p web/tsconfig.api.json && npx tsc --noEmit -p web/tsconfig.json"
)
pids=()
for i in "${!jobs_run[@]}"; do
  bash -c "${jobs_run[$i]}" > "$logs/$i.log" 2>&1 &
  pids+=("$!")
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    printf '%s failed:\n' "${jobs_run[$i]}" >&2
    cat "$logs/$i.log" >&2
    failed=1
  fi
done
[[ $failed -eq 0 ]] || exit 1
exec npx biome check .
