#!/usr/bin/env bash
# Runs Strata on its embedded defaults: a store in ./data, no external service.
# Appends a few events (idempotently: re-running adds nothing twice), reads them back, and
# shows the store's figures. Then it follows $all live until Ctrl-C.
set -euo pipefail
STRATA=${1:-build/release/src/cli/strata}
DATA=${STRATA_DATA:-./data}

echo "== Strata on its embedded defaults: data in $DATA"
"$STRATA" append order-1 --data "$DATA" --type OrderPlaced --payload '{"total": 42}' \
  --id 6f1c7c1e-0000-4000-8000-000000000001 --expected any
"$STRATA" append order-1 --data "$DATA" --type OrderShipped --payload '{"carrier": "DHL"}' \
  --id 6f1c7c1e-0000-4000-8000-000000000002 --expected any
echo "== read order-1"
"$STRATA" read order-1 --data "$DATA"
echo "== read \$all (last 5)"
"$STRATA" read '$all' --data "$DATA" --backwards --count 5
echo "== stats"
"$STRATA" stats --data "$DATA"
echo
echo "Try: $STRATA --help   |   $STRATA bench ingest   |   $STRATA append order-2 --payload '{}'"
if [ -t 1 ] && [ -z "${CI:-}" ]; then
  echo "== following \$all live (append from another terminal after Ctrl-C; the store is locked"
  echo "   by one process at a time until 'strata serve' arrives). Ctrl-C to stop."
  "$STRATA" tail '$all' --data "$DATA" --from-start || true
fi
