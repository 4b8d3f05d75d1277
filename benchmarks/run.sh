#!/usr/bin/env bash
# The benchmark command (README "Benchmarks"): set up or reuse the toolchain, then, holding
# the e2e lock, bring the e2e stack up and print every figure as a ratio measured in the
# same run against the floors of benchmarks/floors.py (benchmarks/stack.py); then, with the
# lock released (it runs no containers), the durable-delivery benchmark when it exists, then
# the team benchmark (benchmarks/team.py).
# Extra arguments go to benchmarks/stack.py (--records N, --repeats N, --engine-settings, --keep).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

setup_log="$(mktemp)"
flock /tmp/clawker-setup.lock bash tools/setup.sh > "$setup_log" 2>&1 || { cat "$setup_log"; exit 1; }
CLAWKER_TOOLCHAIN_BIN="$(grep '^CLAWKER_TOOLCHAIN_BIN=' "$setup_log" | tail -n 1 | cut -d= -f2-)"
rm -f "$setup_log"
export CLAWKER_TOOLCHAIN_BIN

# Stack containers and volumes have fixed names: one user at a time, the same lock the
# e2e tests take (TESTING.md). The stack benchmark is told it holds it.
CLAWKER_DOCKER_LOCK_HELD=1 flock /tmp/clawker-e2e.lock venv/bin/python -m benchmarks.stack "$@"
if [ -f benchmarks/durable_delivery.py ]; then
  echo
  venv/bin/python benchmarks/durable_delivery.py
else
  echo; echo "(benchmarks/durable_delivery.py not present: durable-delivery figures not run)"
fi
# Issue 19: the team's cluster (processes, no lock) and the machine stack's cold up (it takes
# the e2e lock itself for that part).
echo
venv/bin/python benchmarks/team.py
