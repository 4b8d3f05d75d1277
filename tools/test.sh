#!/usr/bin/env bash
# The project's test command (README): set up or reuse the toolchain, then run every layer.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

setup_log="$(mktemp)"
bash tools/setup.sh | tee "$setup_log"
CLAWKER_TOOLCHAIN_BIN="$(grep '^CLAWKER_TOOLCHAIN_BIN=' "$setup_log" | tail -n 1 | cut -d= -f2-)"
rm -f "$setup_log"
export CLAWKER_TOOLCHAIN_BIN

# Nothing is deselected. The ISM and SQL plugins are on no registry these machines
# reach: their tests (marked needs_ism / needs_sql) run against the plugins' contract
# doubles (tests/plugin_doubles) in front of real OpenSearch, and against the real
# plugins wherever the distribution has them (see TESTING.md).
missing="$(bash tools/opensearch_dist.sh | sed -n 's/^OPENSEARCH_PLUGINS_MISSING=//p')"
[ -z "$missing" ] || echo "== plugins served by their contract doubles (not in the test distribution): $missing"

# Two pytest runs at once (TESTING.md "CI budget"): the end-to-end layer, which mostly
# waits on its containers, beside unit (mock engine) -> the doubles' contracts ->
# providers (real OpenSearch as a local process). They share nothing fixed: the e2e
# stack owns the stack's container names and host ports, the other layers bind free
# ephemeral ports and name their containers per test. CLAWKER_TEST_SERIAL=1 runs them
# one after the other, as before.
PYTEST=(venv/bin/python -m pytest -p no:cacheprovider -ra)
LOCAL_LAYERS=(tests/unit tests/dashboards_double tests/plugin_doubles tests/providers)
if [ "${CLAWKER_TEST_SERIAL:-0}" = "1" ]; then
  exec "${PYTEST[@]}" "$@" "${LOCAL_LAYERS[@]}" tests/e2e
fi

local_log="$(mktemp -t clawker-local-layers.XXXXXX)"
started=$SECONDS
"${PYTEST[@]}" "$@" "${LOCAL_LAYERS[@]}" > "$local_log" 2>&1 &
local_pid=$!
# Stop the background run too if this script is interrupted.
trap 'kill "$local_pid" 2>/dev/null || true' INT TERM

echo "== e2e layer (tests/e2e) in the foreground; ${LOCAL_LAYERS[*]} alongside (log printed when both end)"
e2e_rc=0
"${PYTEST[@]}" "$@" tests/e2e || e2e_rc=$?
e2e_s=$((SECONDS - started))

local_rc=0
wait "$local_pid" || local_rc=$?
trap - INT TERM
echo
echo "== ${LOCAL_LAYERS[*]} (ran alongside the e2e layer):"
cat "$local_log"
rm -f "$local_log"
echo
echo "== exit status: ${LOCAL_LAYERS[*]} -> $local_rc; tests/e2e -> $e2e_rc (e2e ended after ${e2e_s}s, both after $((SECONDS - started))s)"
# Options such as -k may select tests on one side only: "no tests collected" (5) there is
# not a failure as long as the other side ran some, as in the single run before.
if [ "$local_rc" -eq 5 ] && [ "$e2e_rc" -ne 5 ]; then local_rc=0; fi
if [ "$e2e_rc" -eq 5 ] && [ "$local_rc" -ne 5 ]; then e2e_rc=0; fi
[ "$local_rc" -eq 0 ] && [ "$e2e_rc" -eq 0 ]
