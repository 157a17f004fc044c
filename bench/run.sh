#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md at its default size.
#
#   bench/run.sh               # embedded broker (rumqttd, in the bench process): bench/results.json
#   bench/run.sh --mosquitto   # a mosquitto started here on a free loopback port:
#                              #   bench/results-mosquitto.json
#
# Sizes: FLOORGATE_BENCH_{TASKS,CONCURRENCY,SAMPLES,AMRS,HZ,WINDOW_SECS,EVENTS}.
set -euo pipefail
cd "$(dirname "$0")/.."

broker_pid=""
cleanup() { if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [ "${1:-}" = "--mosquitto" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  conf=$(mktemp)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_connections -1\nmax_queued_messages 10000\n' "$port" > "$conf"
  ulimit -n 8192 || true
  mosquitto -c "$conf" >/dev/null 2>&1 &
  broker_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  export FLOORGATE_BENCH_MQTT_BROKER="127.0.0.1:$port"
  export FLOORGATE_BENCH_RESULTS="${FLOORGATE_BENCH_RESULTS:-$PWD/bench/results-mosquitto.json}"
fi
results="${FLOORGATE_BENCH_RESULTS:-$PWD/bench/results.json}"

rm -f "$results"
started=$(date +%s)
# The gateway the benchmarks run is the edge binary, as a site runs it (no simulators
# linked in); cargo builds it next to the default one and keeps both.
cargo build --profile edge --no-default-features -p floorgate --bin floorgate
export FLOORGATE_BENCH_GATEWAY_BIN="$PWD/target/edge/floorgate"
# One cargo invocation: one build, then each benchmark in turn.
cargo bench --bench tasks --bench amr_scale --bench backlog --bench footprint --bench vda5050_decode
echo "all benchmarks in $(( $(date +%s) - started )) s; results in $results"
