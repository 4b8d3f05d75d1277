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

# Tests of the ISM and SQL plugins run only against a distribution that has
# them. Maven Central (the only source here) lacks both for 3.6.0, so they are
# deselected by name, said out loud, and counted by nobody as passed.
missing="$(bash tools/opensearch_dist.sh | sed -n 's/^OPENSEARCH_PLUGINS_MISSING=//p')"
deselect=()
case "$missing" in *index-management*) deselect+=("not needs_ism") ;; esac
case "$missing" in *sql*) deselect+=("not needs_sql") ;; esac
marker_args=()
if [ "${#deselect[@]}" -gt 0 ]; then
  expr="$(printf '%s and ' "${deselect[@]}")"; expr="${expr% and }"
  echo "!! NOT RUN: tests marked needs_ism/needs_sql (OpenSearch plugins missing from the test build: $missing)."
  echo "!! The ISM policy and datasource providers are untested against real OpenSearch on this machine; see TESTING.md."
  marker_args=(-m "$expr")
fi

# Unit (mock engine) -> the Dashboards double's contract -> providers (real OpenSearch) -> end to end.
exec venv/bin/python -m pytest -p no:cacheprovider -ra "${marker_args[@]}" "$@" \
  tests/unit tests/dashboards_double tests/providers tests/e2e
