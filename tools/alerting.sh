#!/usr/bin/env bash
# Build (once) and cache the alerting programs the tests run for real:
#
#   ~/.cache/clawker-monitor/alertmanager-<v>/alertmanager   github.com/prometheus/alertmanager cmd/alertmanager
#   ~/.cache/clawker-monitor/alertmanager-<v>/amtool         same module, cmd/amtool (check-config, silences)
#   ~/.cache/clawker-monitor/prometheus-<v>/promtool         github.com/prometheus/prometheus cmd/promtool (check rules)
#
# Test tooling only: the stack runs the official prom/alertmanager image. Built from the Go
# module proxy (no GitHub downloads here). The module zip of alertmanager lacks its web UI's
# build output (ui/app/dist, made by npm in upstream's release process), which the binary
# embeds: the build puts a one-page placeholder there, so the API and notifications work
# and the UI pages show the placeholder.
#
# Usage: tools/alerting.sh   (prints ALERTMANAGER=, AMTOOL=, PROMTOOL= paths last)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOL=alerting
# shellcheck source=tools/lib.sh
source "$HERE/lib.sh"
# shellcheck source=tools/versions.sh
source "$HERE/versions.sh"
CACHE="${CLAWKER_CACHE:-$HOME/.cache/clawker-monitor}"
WORK="$CACHE/work"

need_go() {
  command -v go >/dev/null 2>&1 && return 0
  [ -x /usr/local/go/bin/go ] && { export PATH="/usr/local/go/bin:$PATH"; return 0; }
  die "no Go toolchain on PATH (the builds need Go >= 1.26)"
}

# module_copy MODULE@VERSION DEST: a writable copy of a module's source (its own go.mod's
# replace/exclude directives only apply when it is the main module).
module_copy() {
  local dir
  dir=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $1 failed"
  rm -rf "$2"; cp -r "$dir" "$2"; chmod -R u+w "$2"
}

# go_build SRC OUT PKG LDFLAGS: a static build of one command, log kept on failure.
go_build() {
  local src="$1" out="$2" pkg="$3" ldflags="$4" blog="$WORK/$(basename "$2")-build.log"
  mkdir -p "$(dirname "$out")"
  ( cd "$src" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod go build -trimpath -tags netgo \
      -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg" ) >"$blog" 2>&1 \
    || { grep -v '^go: downloading' "$blog" | tail -n 30 >&2; die "build of $pkg failed (log: $blog)"; }
  "$out.tmp" --version >/dev/null 2>&1 || die "the built $(basename "$out") does not run"
  mv "$out.tmp" "$out"
}

version_flags() {  # version_flags VERSION REVISION
  local pv=github.com/prometheus/common/version
  echo "-X $pv.Version=${1#v} -X $pv.Revision=$2 -X $pv.Branch=HEAD -X $pv.BuildUser=clawker-test"
}

alertmanager_binaries() {
  local v=$CLAWKER_ALERTMANAGER_VERSION dest="$CACHE/alertmanager-$CLAWKER_ALERTMANAGER_VERSION"
  if [ -x "$dest/alertmanager" ] && [ -x "$dest/amtool" ]; then return 0; fi
  need_go
  local src="$WORK/alertmanager-src-$v"
  module_copy "github.com/prometheus/alertmanager@$v" "$src"
  local ui
  for ui in elm mantine; do
    mkdir -p "$src/ui/app/dist/$ui"
    printf '<!doctype html><title>Alertmanager (clawker test build)</title><p>No web UI in this build; the API works.</p>\n' \
      >"$src/ui/app/dist/$ui/index.html"
  done
  log "building alertmanager and amtool $v (minutes on 2 cores)"
  go_build "$src" "$dest/alertmanager" ./cmd/alertmanager "$(version_flags "$v" "$v")"
  go_build "$src" "$dest/amtool" ./cmd/amtool "$(version_flags "$v" "$v")"
  rm -rf "$src"
}

promtool_binary() {
  local out="$CACHE/prometheus-$CLAWKER_PROMETHEUS_VERSION/promtool"
  if [ -x "$out" ]; then return 0; fi
  need_go
  local src="$WORK/promtool-src-$CLAWKER_PROMETHEUS_MODULE_VERSION"
  module_copy "github.com/prometheus/prometheus@$CLAWKER_PROMETHEUS_MODULE_VERSION" "$src"
  log "building promtool $CLAWKER_PROMETHEUS_VERSION (minutes on 2 cores)"
  go_build "$src" "$out" ./cmd/promtool "$(version_flags "$CLAWKER_PROMETHEUS_VERSION" "$CLAWKER_PROMETHEUS_MODULE_VERSION")"
  rm -rf "$src"
}

main() {
  local t0=$SECONDS
  mkdir -p "$CACHE" "$WORK"
  step alertmanager alertmanager_binaries
  step promtool promtool_binary
  log "total $((SECONDS - t0))s"
  echo "ALERTMANAGER=$CACHE/alertmanager-$CLAWKER_ALERTMANAGER_VERSION/alertmanager"
  echo "AMTOOL=$CACHE/alertmanager-$CLAWKER_ALERTMANAGER_VERSION/amtool"
  echo "PROMTOOL=$CACHE/prometheus-$CLAWKER_PROMETHEUS_VERSION/promtool"
}

main "$@"
