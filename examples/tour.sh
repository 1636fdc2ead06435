#!/usr/bin/env bash
# The README's five-minute tour, as a script: create a program, two partners, post a
# conversion with touchpoints, read the commissions and a balance, refund, and ask for a
# quote. Run it against a service started with the same key:
#
#   ACCRUE_ADMIN_KEY=acc_local_dev_key cargo run -p accrue -- serve
#   ACCRUE_URL=http://127.0.0.1:8080 KEY=acc_local_dev_key bash examples/tour.sh
set -euo pipefail
URL="${ACCRUE_URL:-http://127.0.0.1:8080}"
KEY="${KEY:-acc_local_dev_key}"
RUN="${TOUR_RUN:-$(date +%s)}"   # a suffix so the tour can run more than once
auth=(-H "Authorization: Bearer $KEY" -H "Content-Type: application/json")
say() { printf '\n== %s\n' "$*"; }

say "A program: linear attribution, default tiers, 14-day hold"
curl -sf "${auth[@]}" -X POST "$URL/v1/programs" -d '{
  "id": "shop-'"$RUN"'", "name": "Shop", "currency": "USD",
  "attribution": {"plugin": "linear"}, "hold_days": 14
}'

say "Two partners: a starter and a professional one"
curl -sf "${auth[@]}" -X POST "$URL/v1/partners" -d '{"id": "alice-'"$RUN"'", "program_id": "shop-'"$RUN"'", "tier": "starter"}'
curl -sf "${auth[@]}" -X POST "$URL/v1/partners" -d '{"id": "bob-'"$RUN"'", "program_id": "shop-'"$RUN"'", "tier": "professional"}'

say "A conversion with two touchpoints (the Idempotency-Key makes retries safe)"
curl -sf "${auth[@]}" -X POST "$URL/v1/conversions" -H "Idempotency-Key: order-1001-$RUN" -d '{
  "program_id": "shop-'"$RUN"'", "amount": "129.90", "currency": "USD",
  "occurred_at": "2026-11-20T10:00:00Z", "country": "US",
  "touchpoints": [
    {"partner_id": "alice-'"$RUN"'", "channel": "email",  "occurred_at": "2026-11-18T09:00:00Z"},
    {"partner_id": "bob-'"$RUN"'",   "channel": "social", "occurred_at": "2026-11-19T17:30:00Z"}
  ]
}'

say "Posting it again returns the same result (200, nothing stored twice)"
curl -sf "${auth[@]}" -X POST "$URL/v1/conversions" -H "Idempotency-Key: order-1001-$RUN" -o /dev/null -w '%{http_code}\n' -d '{
  "program_id": "shop-'"$RUN"'", "amount": "129.90", "currency": "USD",
  "occurred_at": "2026-11-20T10:00:00Z", "country": "US",
  "touchpoints": [
    {"partner_id": "alice-'"$RUN"'", "channel": "email",  "occurred_at": "2026-11-18T09:00:00Z"},
    {"partner_id": "bob-'"$RUN"'",   "channel": "social", "occurred_at": "2026-11-19T17:30:00Z"}
  ]
}'

say "The commissions"
curl -sf "${auth[@]}" "$URL/v1/commissions?program_id=shop-$RUN"

say "Bob's balance"
curl -sf "${auth[@]}" "$URL/v1/partners/bob-$RUN/balance"

say "A partial refund reverses the commissions in proportion"
curl -sf "${auth[@]}" -X POST "$URL/v1/conversions/order-1001-$RUN/refunds" -d '{"program_id": "shop-'"$RUN"'", "amount": "29.90"}'

say "A quote: what a conversion would earn, nothing stored"
curl -sf "${auth[@]}" -X POST "$URL/v1/quotes" -d '{
  "program_id": "shop-'"$RUN"'", "amount": "50.00", "currency": "USD", "occurred_at": "2026-11-21T10:00:00Z",
  "touchpoints": [{"partner_id": "bob-'"$RUN"'", "channel": "search", "occurred_at": "2026-11-21T09:00:00Z"}]
}'
echo
