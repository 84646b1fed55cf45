#!/usr/bin/env bash
# HTTP/1.1 "Hello, World!" under wrk: tern's hyper server (examples/hello_hyper.rs) against
# the same server on tokio + hyper-util (benches/src/bin/hello_hyper_tokio.rs), in one run.
#
#   benches/http_wrk.sh                       # wrk -t1 -c64 -d10s --latency, 1 round
#   ROUNDS=3 WRK_CONNS=256 benches/http_wrk.sh
#
# Environment (defaults in brackets): WRK_THREADS [1], WRK_CONNS [64], WRK_DURATION [10s],
# WRK_WARMUP [2s] (an unreported wrk run against each server before its measured one; 0 to
# skip), ROUNDS [1] (tern and tokio alternate, tern first), TERN_PORT [18080],
# TOKIO_PORT [18081].
#
# Both servers use one worker thread per core (`std::thread::available_parallelism()`):
# tern's example builds its runtime with `Runtime::new()`, which has no worker flag, and the
# tokio peer is given the same count explicitly. Installs wrk from Debian if it is missing.
# The servers are killed when the script exits, however it exits.
set -euo pipefail

cd "$(dirname "$0")/.."

WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_WARMUP=${WRK_WARMUP:-2s}
ROUNDS=${ROUNDS:-1}
TERN_PORT=${TERN_PORT:-18080}
TOKIO_PORT=${TOKIO_PORT:-18081}
WORKERS=$(nproc)

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk not found; installing it from Debian" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null ||
        { $SUDO apt-get update -q >/dev/null &&
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
fi

cargo build --release --example hello_hyper
cargo build --release -p tern-benches --bin hello_hyper_tokio
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
TERN_BIN="$TARGET_DIR/release/examples/hello_hyper"
TOKIO_BIN="$TARGET_DIR/release/hello_hyper_tokio"

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server NAME PORT: starts the server in the background and waits until it accepts.
start_server() {
    local name=$1 port=$2
    case "$name" in
    tern) "$TERN_BIN" "127.0.0.1:$port" 2>/dev/null & ;;
    tokio) "$TOKIO_BIN" "127.0.0.1:$port" --workers "$WORKERS" 2>/dev/null & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "the $name server did not start on port $port" >&2
    exit 1
}

# to_ms VALUE: wrk's latency ("812.00us", "1.23ms", "1.01s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n
    }'
}

# measure NAME PORT: sets RPS (requests per second) and P99 (ms).
measure() {
    local name=$1 port=$2 out
    start_server "$name" "$port"
    if [ "$WRK_WARMUP" != "0" ]; then
        wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_WARMUP" "http://127.0.0.1:$port/" >/dev/null
    fi
    out=$(wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency "http://127.0.0.1:$port/")
    stop_server
    if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
        echo "wrk reported errors against $name:" >&2
        echo "$out" | grep "Non-2xx\|Socket errors" >&2
    fi
    RPS=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    P99=$(to_ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
}

echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION --latency (warm-up $WRK_WARMUP), $WORKERS server workers each, $(nproc) cores"
echo
printf '| %5s | %-6s | %12s | %12s | %16s | %16s |\n' round server "requests/s" "p99 (ms)" "tern / this req/s" "tern / this p99"
printf '|%s|%s|%s|%s|%s|%s|\n' "-------" "--------" "-------------:" "-------------:" "-----------------:" "-----------------:"
for round in $(seq "$ROUNDS"); do
    measure tern "$TERN_PORT"
    tern_rps=$RPS tern_p99=$P99
    measure tokio "$TOKIO_PORT"
    tokio_rps=$RPS tokio_p99=$P99
    printf '| %5s | %-6s | %12.0f | %12.3f | %16s | %16s |\n' "$round" tern "$tern_rps" "$tern_p99" "1.00" "1.00"
    printf '| %5s | %-6s | %12.0f | %12.3f | %16.2f | %16.2f |\n' "$round" tokio "$tokio_rps" "$tokio_p99" \
        "$(awk -v a="$tern_rps" -v b="$tokio_rps" 'BEGIN { print a / b }')" \
        "$(awk -v a="$tern_p99" -v b="$tokio_p99" 'BEGIN { print a / b }')"
done
echo
echo "[requests/s: tern / this > 1 means tern serves more; p99: tern / this < 1 means tern's tail is shorter]"
