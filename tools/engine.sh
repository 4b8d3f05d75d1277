#!/usr/bin/env bash
# Make sure a Docker Engine is installed and answering on this machine.
#
# Test tooling only: a user runs the stack against whatever engine they have.
# Idempotent: when `docker info` already answers, this returns in well under a second.
#
#   tools/engine.sh            install (if needed) + start (if needed) + wait
#   tools/engine.sh --bridge-gateway
#                              the same, then print the default bridge's gateway (the host as
#                              the engine's containers see it; tools/engine2.sh asks for it)
#
# Environment:
#   ENGINE_WAIT_SECONDS   how long to wait for the daemon to answer (default 60)
#   DOCKERD_LOG           where the daemon's output goes (default /var/log/dockerd.log)
set -euo pipefail

ENGINE_WAIT_SECONDS="${ENGINE_WAIT_SECONDS:-60}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"

TOOL=engine
# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine_answers() { docker info >/dev/null 2>&1; }

install_engine() {
  if command -v dockerd >/dev/null 2>&1; then
    log "dockerd present: $(command -v dockerd)"
    return 0
  fi
  log "dockerd missing: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q >/dev/null
  as_root apt-get install -y -q --no-install-recommends \
    docker.io iptables ca-certificates >/dev/null
  command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still not on PATH"
  # docker.io ships a CLI too; an existing newer CLI earlier on PATH is fine (API negotiation).
  command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH after installing docker.io"
}

start_engine() {
  if engine_answers; then
    log "engine already answering"
    return 0
  fi
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd process exists but does not answer yet; waiting for it"
  else
    # A stale pid file from a killed daemon makes dockerd refuse to start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; then
      as_root rm -f /var/run/docker.pid
    fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: keep the daemon alive after this script (and its shell job) ends.
    as_root setsid dockerd >"$DOCKERD_LOG" 2>&1 < /dev/null &
  fi
  local deadline=$((SECONDS + ENGINE_WAIT_SECONDS))
  until engine_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "last lines of $DOCKERD_LOG:"
      tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
      die "docker daemon did not answer 'docker info' within ${ENGINE_WAIT_SECONDS}s"
    fi
    sleep 1
  done
  log "engine answering: server $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
}

bridge_subnet() { docker network inspect bridge -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' 2>/dev/null || true; }
bridge_name() { docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true; }

# The default bridge's gateway as the engine recorded it. Docker 20.10 records none when the
# interface already had its address as dockerd started (a fresh machine, 2026-12-05): then the
# address on the interface, else the subnet's first host address (what Docker's IPAM gives a
# bridge). Empty when the engine has no default bridge.
bridge_gateway() {
  local gateway name subnet
  gateway="$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)"
  if [ -z "$gateway" ]; then
    name="$(bridge_name)"
    gateway="$(ip -4 -o addr show dev "${name:-docker0}" 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')"
  fi
  subnet="$(bridge_subnet)"
  if [ -z "$gateway" ] && [ -n "$subnet" ]; then
    gateway="$(python3 -c 'import ipaddress, sys; print(next(ipaddress.ip_network(sys.argv[1], strict=False).hosts()))' "$subnet")"
  fi
  printf '%s\n' "$gateway"
}

# The default bridge's interface (docker0) has vanished under a running engine on this
# machine (2026-12-05, twice, while a second dockerd ran: TESTING.md "Known gaps"); the
# engine does not notice, and every container on the default network (docker build's RUN
# steps, `docker run` without --network) then fails with "could not find bridge docker0".
# Put the interface back with the address the engine recorded for it.
default_bridge() {
  local name subnet gateway
  name="$(bridge_name)"
  [ -n "$name" ] || return 0
  ip link show "$name" >/dev/null 2>&1 && return 0
  subnet="$(bridge_subnet)"
  gateway="$(bridge_gateway)"
  [ -n "$subnet" ] && [ -n "$gateway" ] || die "the default bridge $name is missing and docker records no address for it"
  log "the default bridge $name is missing: making it again ($gateway/${subnet#*/})"
  as_root ip link add "$name" type bridge
  as_root ip addr add "$gateway/${subnet#*/}" dev "$name"
  as_root ip link set "$name" up
}

main() {
  local t0=$SECONDS
  if engine_answers; then
    log "engine already answering (server $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    default_bridge
  else
    step install install_engine
    step start start_engine
    default_bridge
    log "total $((SECONDS - t0))s"
  fi
  if [ "${1:-}" = "--bridge-gateway" ]; then
    local gateway
    gateway="$(bridge_gateway)"
    [ -n "$gateway" ] || die "the engine has no default bridge gateway (docker network inspect bridge, nor an address on its interface)"
    printf '%s\n' "$gateway"
  fi
}

main "$@"
