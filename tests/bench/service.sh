#!/usr/bin/env bash
# A service benchmark: builds the release binaries, starts `accrue serve` on a fresh
# PostgreSQL database, runs `accrue-loadgen` against it with the arguments given, then
# stops the service and drops the database. Examples:
#
#   bash tests/bench/service.sh --mode neighbour --rate 200 --duration-s 10
#   bash tests/bench/service.sh --mode pgbench --rate 500 --duration-s 20
#   bash tests/bench/service.sh --mode single --rate 500 --duration-s 20
#
# Environment: DATABASE_SERVER (default postgres://postgres@127.0.0.1:5432), and any
# ACCRUE_* option for the service (ACCRUE_LOG defaults to warn).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release -p accrue -p accrue-e2e --bin accrue --bin accrue-loadgen
server="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
db="accrue_bench_$$"
psql "$server/postgres" -q -c "CREATE DATABASE $db"
url="$server/$db"
port=$((20000 + RANDOM % 20000))
key="bench-key-$$"
ACCRUE_ADMIN_KEY="$key" DATABASE_URL="$url" ACCRUE_LISTEN="127.0.0.1:$port" \
    ACCRUE_LOG="${ACCRUE_LOG:-warn}" ACCRUE_APPROVE_EVERY_S="${ACCRUE_APPROVE_EVERY_S:-3600}" \
    target/release/accrue serve >/dev/null &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    psql "$server/postgres" -q -c "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
target/release/accrue-loadgen --url "http://127.0.0.1:$port" --key "$key" --pg-url "$url" "$@"
