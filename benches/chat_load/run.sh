#!/usr/bin/env bash
# Throughput of examples/chat: one room of MEMBERS (default 1000) on one process (64-byte and
# 4 KiB messages, one shared frame per message vs one encoding per member), then with Redis, then
# spread over two processes joined by Redis. Prints deliveries per second (median of 5 rounds).
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMBERS=${MEMBERS:-1000}
command -v redis-server > /dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo;
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server > /dev/null; }
ulimit -n 4096 2> /dev/null || true
cargo build --release --example chat
(cd benches/chat_load && cargo build --release --target-dir ../../target/chat_load)
CHAT=target/release/examples/chat
LOAD="timeout 300 target/chat_load/release/chat_load --members $MEMBERS --rounds 5"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done' EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0; sleep 0.1; done; return 1; }
start() { "$@" > /dev/null 2>&1 & PIDS+=($!); }
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done; PIDS=(); sleep 0.5; }
grep -m1 'model name' /proc/cpuinfo
RP=$(free_port) A=$(free_port) B=$(free_port)

SMALL="--senders 10 --messages 500 --size 64"
BIG="--senders 10 --messages 20 --size 4096"  # one wave: 800 KB per member, under --out-limit
for size in SMALL BIG; do
  for mode in "" --per-member-encoding; do
    echo "== one process, no Redis, ${!size} ${mode:-(one shared frame per message)}"
    start $CHAT "127.0.0.1:$A" $mode; wait_port "$A"
    $LOAD --servers "127.0.0.1:$A" ${!size}
    stop_all
  done
done

start redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no; wait_port "$RP"
echo "== one process, --redis (every message also published)"
start $CHAT "127.0.0.1:$A" --redis "redis://127.0.0.1:$RP"; wait_port "$A"
$LOAD --servers "127.0.0.1:$A" $SMALL
kill "${PIDS[-1]}"; unset 'PIDS[-1]'; sleep 0.5

echo "== two processes and Redis, members alternating"
start $CHAT "127.0.0.1:$A" --redis "redis://127.0.0.1:$RP"
start $CHAT "127.0.0.1:$B" --redis "redis://127.0.0.1:$RP"
wait_port "$A"; wait_port "$B"
$LOAD --servers "127.0.0.1:$A,127.0.0.1:$B" $SMALL
