#!/usr/bin/env bash
# Runs Strata on its embedded defaults: a store in ./data, no external service, the KurrentDB
# client API on 127.0.0.1:2113 and /health + /metrics on 127.0.0.1:2114. Ctrl-C stops it cleanly.
set -euo pipefail
STRATA=${1:-build/release/src/cli/strata}
echo "== Strata on its embedded defaults (data in ./data). Try, from another terminal:"
echo "     $STRATA --help"
echo "     curl -s http://127.0.0.1:2114/metrics | head"
echo "     node: KurrentDBClient.connectionString('kurrentdb://127.0.0.1:2113?tls=false')"
exec "$STRATA" serve "${@:2}"
