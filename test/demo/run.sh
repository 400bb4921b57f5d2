#!/usr/bin/env bash
# make demo: the sidecar on the demo catalog, the mock provider on :18080,
# and Envoy on envoy/envoy.yaml listening on :10000. Envoy is $ENVOY_BIN, or
# else envoy on PATH; without either, the Go stand-in listens there instead.
# MOCK_ARGS go to the mock provider, e.g. to break or slow one route by its
# upstream model and watch failover:
#   MOCK_ARGS='--fail-model gpt-4o-mini --slow-model gemini-2.0-flash=3s' make demo
set -euo pipefail
cd "$(dirname "$0")/../.."
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

read -r -a mock_args <<<"${MOCK_ARGS:-}"
bin/mock-provider --listen 127.0.0.1:18080 --name demo "${mock_args[@]}" &
pids+=($!)
bin/cpen-extproc --catalog test/demo/catalog.yaml --grpc-addr 127.0.0.1:50051 --admin-addr 127.0.0.1:9901 &
pids+=($!)
envoy_bin=${ENVOY_BIN:-envoy}
if command -v "$envoy_bin" >/dev/null 2>&1; then
  echo "demo: starting the real Envoy ($envoy_bin) on envoy/envoy.yaml (:10000)"
  "$envoy_bin" -c envoy/envoy.yaml --log-level warn &
else
  echo "demo: no envoy binary ($envoy_bin); the Go stand-in for Envoy (test/cmd/envoy-standin) listens on :10000 instead"
  bin/envoy-standin --listen 127.0.0.1:10000 --extproc 127.0.0.1:50051 \
    --cluster mock_provider=http://127.0.0.1:18080 &
fi
pids+=($!)
echo "demo: try the README's curl against http://localhost:10000 (Ctrl-C stops everything)"
wait -n "${pids[@]}"
