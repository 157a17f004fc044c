#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md at its default size and writes bench/results.json.
#
#   bench/run.sh               # against the embedded broker (rumqttd, in the bench process)
#   bench/run.sh --mosquitto   # against a mosquitto started here on a free loopback port
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
fi

rm -f bench/results.json
started=$(date +%s)
# One cargo invocation: one build, then each benchmark in turn.
cargo bench --bench tasks --bench amr_scale --bench backlog --bench footprint
echo "all benchmarks in $(( $(date +%s) - started )) s; results in bench/results.json"
