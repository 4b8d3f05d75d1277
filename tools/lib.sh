# Helpers every tools/ script shares. Source it after setting TOOL (the log prefix):
#   TOOL=images; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck shell=bash

log() { printf '[%s] %s\n' "${TOOL:-tools}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${TOOL:-tools}" "$*" >&2; exit 1; }

# step NAME CMD...: run a step, print how long it took, keep its exit status.
step() {
  local name="$1"; shift
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  log "step '$name' took $((SECONDS - t0))s$([ "$rc" -eq 0 ] || echo " (failed, status $rc)")"
  return "$rc"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -q >/dev/null; _APT_UPDATED=1; fi
  apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
