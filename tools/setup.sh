#!/usr/bin/env bash
# Obtain, build or reuse everything the tests need, printing how long each step took.
# Every step caches under ~/.cache/clawker-monitor/, so a second run takes seconds.
# Prints CLAWKER_TOOLCHAIN_BIN=<dir> last (the Pulumi CLI and its plugins).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() {
  local name="$1"; shift
  local start=$SECONDS
  echo "== setup: $name"
  "$@"
  echo "== setup: $name took $((SECONDS - start))s"
}

python_env() {
  # The project virtualenv Pulumi itself uses (Pulumi.yaml: virtualenv venv), plus test-only packages.
  [ -x venv/bin/python ] || python3 -m venv venv
  venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-test.txt
}

step "python virtualenv" python_env
step "docker engine" bash tools/engine.sh
toolchain_log="$(mktemp)"
step "pulumi toolchain" bash -c "bash tools/toolchain.sh --strict | tee '$toolchain_log'"
step "opensearch distribution" bash tools/opensearch_dist.sh
step "secured opensearch (team role tests)" bash tools/opensearch_secure.sh
step "service images" bash tools/images.sh
step "alerting programs" bash tools/alerting.sh
step "dashboards double image" bash tests/dashboards_double/build_image.sh
grep '^CLAWKER_TOOLCHAIN_BIN=' "$toolchain_log" | tail -n 1
rm -f "$toolchain_log"
