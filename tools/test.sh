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

# Unit (mock engine) -> the Dashboards double's contract -> providers (real OpenSearch) -> end to end.
exec venv/bin/python -m pytest -p no:cacheprovider -ra "$@" \
  tests/unit tests/dashboards_double tests/providers tests/e2e
