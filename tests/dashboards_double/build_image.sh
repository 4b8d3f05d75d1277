#!/usr/bin/env bash
# Build the OpenSearch Dashboards CONTRACT DOUBLE test image
#   clawker-test/opensearch-dashboards-double:3.6.0   (FROM clawker-test/base:bookworm)
# Test tooling only. Skips the build when the image already carries the same content
# hash (Dockerfile + server.py + launcher + base image id) in its label.
#
# Environment:
#   DASHBOARDS_DOUBLE_IMAGE  image name (default clawker-test/opensearch-dashboards-double:3.6.0)
#   ENGINE_WAIT_SECONDS      how long to wait for `docker info` (default 120)
#   BASE_WAIT_SECONDS        how long to wait for a teammate's base image before building
#                            it here with debootstrap (default 0)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools/versions.sh
source "$HERE/../../tools/versions.sh"
IMAGE="${DASHBOARDS_DOUBLE_IMAGE:-clawker-test/opensearch-dashboards-double:$CLAWKER_OPENSEARCH_VERSION}"
BASE="clawker-test/base:bookworm"
LABEL_KEY="dev.clawker.test.content-hash"
ENGINE_WAIT_SECONDS="${ENGINE_WAIT_SECONDS:-120}"
BASE_WAIT_SECONDS="${BASE_WAIT_SECONDS:-0}"

TOOL=dashboards-double
# shellcheck source=tools/lib.sh
source "$HERE/../../tools/lib.sh"

wait_for_engine() {
  local waited=0
  until docker info >/dev/null 2>&1; do
    [ "$waited" -ge "$ENGINE_WAIT_SECONDS" ] && die "docker info does not answer after ${ENGINE_WAIT_SECONDS}s (run tools/engine.sh)"
    sleep 2; waited=$((waited + 2))
  done
}

ensure_base() {
  local waited=0
  while ! docker image inspect "$BASE" >/dev/null 2>&1; do
    if [ "$waited" -ge "$BASE_WAIT_SECONDS" ]; then
      build_base
      return
    fi
    sleep 5; waited=$((waited + 5))
  done
}

build_base() {
  # Same recipe as the teammates' tools/images.sh: a debootstrap minbase bookworm.
  exec 9>"/tmp/clawker-test-base-bookworm.lock"
  flock 9
  if docker image inspect "$BASE" >/dev/null 2>&1; then return; fi
  log "$BASE missing: building it with debootstrap"
  if ! command -v debootstrap >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends debootstrap >/dev/null
  fi
  local dir
  dir="$(mktemp -d)"
  as_root debootstrap --variant=minbase --include=ca-certificates,curl bookworm "$dir" >/dev/null
  as_root tar -C "$dir" -c . | docker import - "$BASE" >/dev/null
  as_root rm -rf "$dir"
}

start=$SECONDS
wait_for_engine
ensure_base

base_id="$(docker image inspect -f '{{.Id}}' "$BASE")"
hash="$( { cat "$HERE/Dockerfile" "$HERE/server.py" "$HERE/opensearch-dashboards"; echo "$base_id"; } | sha256sum | cut -d' ' -f1)"
current="$(docker image inspect -f "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$hash" ]; then
  log "$IMAGE is up to date (content hash ${hash:0:12})"
  exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$HERE/Dockerfile" "$HERE/server.py" "$HERE/opensearch-dashboards" "$ctx/"
log "building $IMAGE (content hash ${hash:0:12})"
DOCKER_BUILDKIT=0 docker build -q --label "$LABEL_KEY=$hash" -t "$IMAGE" "$ctx" >/dev/null
log "built $IMAGE in $((SECONDS - start))s"
