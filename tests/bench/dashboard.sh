#!/usr/bin/env bash
# The dashboard's load time at scale (issue 12, "Speed"): on a database the analytics
# benchmark kept, starts the release service, makes a partner key for the partner with the
# most sales, and lets tests/browser/timing.mjs (headless Chromium) load the admin's and
# the partner's views, each figure computed afresh. Example:
#
#   ACCRUE_BENCH_KEEP_DB=1 cargo bench -p accrue --bench analytics   # prints the database
#   bash tests/bench/dashboard.sh postgres://postgres@127.0.0.1:5432/accrue_test_… acc_bench_admin_key
#
# Run `bash tests/run.sh` once first: it installs Chromium and playwright-core.
set -euo pipefail
cd "$(dirname "$0")/../.."
url="${1:?the database URL the benchmark printed}"
key="${2:-acc_bench_admin_key}"
cargo build --quiet --release -p accrue --bin accrue
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
ACCRUE_ADMIN_KEY="$key" DATABASE_URL="$url" ACCRUE_LISTEN="127.0.0.1:$port" \
    ACCRUE_LOG="${ACCRUE_LOG:-warn}" ACCRUE_APPROVE_EVERY_S=3600 ACCRUE_PAYOUT_EVERY_S=3600 \
    target/release/accrue serve >/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -fsS "$base/health" >/dev/null 2>&1 && break
    sleep 0.5
done
partner=$(curl -fsS -X POST "$base/v1/api-keys" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' \
    -d '{"scope":"partner","partner_id":"p00001","label":"dashboard timing"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
ACCRUE_BASE_URL="$base" ACCRUE_ADMIN_KEY="$key" ACCRUE_PARTNER_KEY="$partner" \
    node tests/browser/timing.mjs
