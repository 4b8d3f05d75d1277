#!/usr/bin/env bash
# Build the local TEST images the end-to-end tests use instead of the official ones
# (Docker Hub is not reachable from these machines). Test tooling only: a user runs the
# official images.
#
#   clawker-test/base:bookworm            debootstrap minbase + ca-certificates + curl
#   clawker-test/opensearch:3.6.0         Maven Central min distribution + a JDK >= 21 (see opensearch_dist.sh)
#   clawker-test/prometheus:v3.11.3       github.com/prometheus/prometheus v0.311.3, built here
#   clawker-test/otelcol-contrib:0.152.0  OpenTelemetry Collector Builder v0.152.0 build
#   clawker-test/alertmanager:v0.34.1     alertmanager + amtool from tools/alerting.sh
#
# Usage:
#   tools/images.sh [--verify] [base|opensearch|prometheus|otelcol|alertmanager ...]   (default: all)
#
# An image whose tag exists with the same recipe label (versions + hash of its Dockerfile,
# entrypoint, manifest) is not rebuilt; Go build outputs are cached under
# ${CLAWKER_CACHE:-~/.cache/clawker-monitor}, so a second run takes seconds.
# --verify starts each image and checks that it answers (OpenSearch /_cluster/health,
# Prometheus /-/ready, collector OTLP/HTTP), publishing on 127.0.0.1 only.
#
# Environment:
#   CLAWKER_CACHE       cache root (default ~/.cache/clawker-monitor)
#   IMAGES_REBUILD=1    rebuild images even when the label matches (Go outputs stay cached)
#   CLAWKER_IMAGE_PREFIX  tag prefix (default clawker-test)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGES_DIR="$HERE/images"
# shellcheck source=tools/lib.sh
source "$HERE/lib.sh"
# shellcheck source=tools/versions.sh
source "$HERE/versions.sh"
CACHE="${CLAWKER_CACHE:-$HOME/.cache/clawker-monitor}"
WORK="$CACHE/work"
export DOCKER_BUILDKIT=0

# CLAWKER_IMAGE_PREFIX: repository prefix of every tag (default clawker-test), e.g. to try a
# cold build beside the images tests are using.
PREFIX="${CLAWKER_IMAGE_PREFIX:-clawker-test}"
DEBIAN_SUITE=bookworm
BASE_TAG="$PREFIX/base:$DEBIAN_SUITE"
BASE_PACKAGES="ca-certificates,curl"

OPENSEARCH_VERSION=$CLAWKER_OPENSEARCH_VERSION
OPENSEARCH_TAG="$PREFIX/opensearch:$OPENSEARCH_VERSION"

PROMETHEUS_VERSION=$CLAWKER_PROMETHEUS_VERSION
PROMETHEUS_MODULE_VERSION=$CLAWKER_PROMETHEUS_MODULE_VERSION
PROMETHEUS_TAG="$PREFIX/prometheus:$PROMETHEUS_VERSION"

OTELCOL_VERSION=$CLAWKER_OTELCOL_VERSION
OTELCOL_BUILDER_VERSION=$CLAWKER_OTELCOL_BUILDER_VERSION
OTELCOL_TAG="$PREFIX/otelcol-contrib:$OTELCOL_VERSION"
OTELCOL_MANIFEST="$IMAGES_DIR/otelcol-builder.yaml"
# The module proxy these machines reach refuses opensearchexporter v0.152.0 (403) and every
# version after v0.141.0 that we asked for; v0.141.0 is served but has no checksum-database
# entry, and its factory predates core's move of sending_queue to configoptional. The build
# uses v0.141.0 (named in the manifest), skips the checksum database for that one module and
# applies a two-spot source patch (patch_opensearchexporter).
OSEXP_MODULE=github.com/open-telemetry/opentelemetry-collector-contrib/exporter/opensearchexporter

ALERTMANAGER_VERSION=$CLAWKER_ALERTMANAGER_VERSION
ALERTMANAGER_TAG="$PREFIX/alertmanager:$ALERTMANAGER_VERSION"

LABEL_RECIPE=dev.clawker.test.recipe
LABEL_VERSION=dev.clawker.test.version

TOOL=images
# check NAME CMD...: like step, but returns the command's status (for the verify steps).
check() {
  local name="$1"; shift
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  log "check '$name' took $((SECONDS - t0))s ($([ "$rc" = 0 ] && echo ok || echo FAILED))"
  return "$rc"
}


need_go() {
  command -v go >/dev/null 2>&1 && return 0
  [ -x /usr/local/go/bin/go ] && { export PATH="/usr/local/go/bin:$PATH"; return 0; }
  die "no Go toolchain on PATH (the builds need Go >= 1.25)"
}

# hash_of FILES...: short content hash, the cache/label key of a recipe.
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# image_current TAG RECIPE: the tag exists with this recipe label.
image_current() {
  [ "${IMAGES_REBUILD:-0}" = 1 ] && return 1
  local have
  have=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL_RECIPE\" }}" "$1" 2>/dev/null) || return 1
  [ "$have" = "$2" ]
}

# build_image TAG CONTEXT VERSION RECIPE [build-args...]
build_image() {
  local tag="$1" ctx="$2" version="$3" recipe="$4"; shift 4
  local blog="$WORK/build-$(tr '/:' '__' <<<"$tag").log"
  if ! docker build --label "$LABEL_RECIPE=$recipe" --label "$LABEL_VERSION=$version" \
      --label dev.clawker.test=true --build-arg BASE_IMAGE="$BASE_TAG" \
      "$@" -t "$tag" "$ctx" >"$blog" 2>&1; then
    tail -n 30 "$blog" >&2
    die "docker build of $tag failed (full log: $blog)"
  fi
}

# fresh_context NAME: an empty build-context directory.
fresh_context() {
  local d="$WORK/ctx-$1"
  rm -rf "$d"; mkdir -p "$d"; echo "$d"
}

# ---------------------------------------------------------------- base
base_recipe() { echo "$DEBIAN_SUITE:$BASE_PACKAGES:v1"; }

debian_mirror() {
  # The host's own Debian mirror (plain HTTP apt works through these machines' proxy).
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')
  echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
  local recipe; recipe=$(base_recipe)
  if image_current "$BASE_TAG" "$recipe"; then log "$BASE_TAG up to date"; return 0; fi
  local tarball="$CACHE/base-$DEBIAN_SUITE-$(hash_of <(echo "$recipe")).tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    local root="$WORK/rootfs-$DEBIAN_SUITE"
    rm -rf "$root"; mkdir -p "$root"
    local mirror; mirror=$(debian_mirror)
    log "debootstrap $DEBIAN_SUITE from $mirror"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$DEBIAN_SUITE" "$root" "$mirror" \
      >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    # Keep the image small: no package lists or downloaded .debs.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  docker import \
    --change "LABEL $LABEL_RECIPE=$recipe" --change "LABEL $LABEL_VERSION=$DEBIAN_SUITE" \
    --change "LABEL dev.clawker.test=true" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    "$tarball" "$BASE_TAG" >/dev/null
  log "imported $BASE_TAG"
}

# ---------------------------------------------------------------- opensearch
PLUGIN_DOUBLES="$(cd "$HERE/.." && pwd)/tests/plugin_doubles/server.py"
build_opensearch() {
  local envs home java plugins
  envs=$("$HERE/opensearch_dist.sh")
  home=$(sed -n 's/^OPENSEARCH_HOME=//p' <<<"$envs")
  java=$(sed -n 's/^OPENSEARCH_JAVA_HOME=//p' <<<"$envs")
  plugins=$(sed -n 's/^OPENSEARCH_PLUGINS=//p' <<<"$envs")
  local recipe
  local jid
  jid=$("$java/bin/java" -version 2>&1 | cksum | cut -d' ' -f1)
  recipe="$OPENSEARCH_VERSION:$plugins:$java:$jid:$(hash_of \
    "$IMAGES_DIR/opensearch/Dockerfile" "$IMAGES_DIR/opensearch/entrypoint.sh" "$PLUGIN_DOUBLES" "$BASE_RECIPE_FILE")"
  if image_current "$OPENSEARCH_TAG" "$recipe"; then log "$OPENSEARCH_TAG up to date"; return 0; fi
  local ctx; ctx=$(fresh_context opensearch)
  cp "$IMAGES_DIR/opensearch/Dockerfile" "$IMAGES_DIR/opensearch/entrypoint.sh" "$ctx/"
  # The ISM / SQL plugin CONTRACT DOUBLES, started by the entrypoint for the plugins the
  # distribution lacks (tests/plugin_doubles/server.py; test image only).
  cp "$PLUGIN_DOUBLES" "$ctx/plugin-doubles.py"
  # Hard links: the context costs no copy (same filesystem as the cache).
  cp -al "$home" "$ctx/opensearch" 2>/dev/null || cp -a "$home" "$ctx/opensearch"
  cp -al "$java" "$ctx/jdk" 2>/dev/null || cp -a "$java" "$ctx/jdk"
  # A full JDK carries sources, headers and man pages the runtime does not need.
  rm -rf "$ctx/jdk/lib/src.zip" "$ctx/jdk/include" "$ctx/jdk/man" "$ctx/jdk/jmods"
  rm -f "$ctx/opensearch/.clawker-ready"
  build_image "$OPENSEARCH_TAG" "$ctx" "$OPENSEARCH_VERSION" "$recipe" \
    --label "dev.clawker.test.opensearch.plugins=$plugins" \
    --build-arg OPENSEARCH_VERSION="$OPENSEARCH_VERSION"
  rm -rf "$ctx"
  log "built $OPENSEARCH_TAG (plugins: ${plugins:-none})"
}

# ---------------------------------------------------------------- prometheus
prometheus_binary() {
  local out="$CACHE/prometheus-$PROMETHEUS_VERSION/prometheus"
  if [ -x "$out" ]; then echo "$out"; return 0; fi
  need_go
  local src="$WORK/prometheus-src-$PROMETHEUS_MODULE_VERSION"
  local dir
  dir=$(go mod download -json "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION failed"
  # Build inside the module itself: its go.mod carries replace/exclude directives that a
  # `go install pkg@version` refuses and that only apply to the main module.
  rm -rf "$src"; cp -r "$dir" "$src"; chmod -R u+w "$src"
  local v="${PROMETHEUS_VERSION#v}" pv=github.com/prometheus/common/version
  mkdir -p "$(dirname "$out")"
  log "building prometheus $PROMETHEUS_VERSION (takes minutes on 2 cores)"
  ( cd "$src" && CGO_ENABLED=0 GOWORK=off go build -trimpath -tags netgo \
      -ldflags "-s -w -X $pv.Version=$v -X $pv.Revision=$PROMETHEUS_MODULE_VERSION -X $pv.Branch=HEAD -X $pv.BuildUser=clawker-test" \
      -o "$out.tmp" ./cmd/prometheus ) >"$WORK/prometheus-build.log" 2>&1 \
    || { tail -n 30 "$WORK/prometheus-build.log" >&2; die "prometheus build failed (log: $WORK/prometheus-build.log)"; }
  mv "$out.tmp" "$out"
  rm -rf "$src"
  echo "$out"
}

build_prometheus() {
  local recipe
  recipe="$PROMETHEUS_VERSION:$(hash_of "$IMAGES_DIR/prometheus/Dockerfile" \
    "$IMAGES_DIR/prometheus/prometheus.yml" "$BASE_RECIPE_FILE")"
  if image_current "$PROMETHEUS_TAG" "$recipe"; then log "$PROMETHEUS_TAG up to date"; return 0; fi
  local bin; bin=$(step prometheus-binary prometheus_binary)
  local ctx; ctx=$(fresh_context prometheus)
  cp "$IMAGES_DIR/prometheus/Dockerfile" "$IMAGES_DIR/prometheus/prometheus.yml" "$ctx/"
  cp -l "$bin" "$ctx/prometheus" 2>/dev/null || cp "$bin" "$ctx/prometheus"
  build_image "$PROMETHEUS_TAG" "$ctx" "$PROMETHEUS_VERSION" "$recipe"
  rm -rf "$ctx"
  log "built $PROMETHEUS_TAG"
}

# ---------------------------------------------------------------- otelcol
otelcol_builder() {
  local bdir="$CACHE/tools/builder-$OTELCOL_BUILDER_VERSION"
  if [ ! -x "$bdir/builder" ]; then
    need_go
    mkdir -p "$bdir"
    GOBIN="$bdir" CGO_ENABLED=0 go install \
      "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_BUILDER_VERSION" >&2 \
      || die "go install of the collector builder $OTELCOL_BUILDER_VERSION failed"
  fi
  echo "$bdir/builder"
}

# patch_opensearchexporter DIR: make opensearchexporter v0.141.0 build against collector core
# v1.58/v0.152: there `sending_queue` is a configoptional.Optional (its `enabled:` key is
# handled by configoptional). Default(...) keeps the queue off unless the config enables it,
# with core's default queue settings underneath, as the other exporters of that release do.
patch_opensearchexporter() {
  local d="$1"
  sed -i \
    -e 's|^\([[:space:]]*QueueConfig[[:space:]]\+\)exporterhelper\.QueueBatchConfig\([[:space:]]\+`mapstructure:"sending_queue"`\)|\1configoptional.Optional[exporterhelper.QueueBatchConfig]\2|' \
    -e 's|^\([[:space:]]*\)"go.opentelemetry.io/collector/config/confighttp"$|&\n\1"go.opentelemetry.io/collector/config/configoptional"|' \
    "$d/config.go"
  sed -i \
    -e 's|^\([[:space:]]*\)MappingsSettings: MappingsSettings{Mode: defaultMappingMode},$|&\n\1QueueConfig:      configoptional.Default(exporterhelper.NewDefaultQueueConfig()),|' \
    -e 's|^\([[:space:]]*\)"go.opentelemetry.io/collector/config/confighttp"$|&\n\1"go.opentelemetry.io/collector/config/configoptional"|' \
    "$d/factory.go"
  grep -q 'configoptional.Optional\[exporterhelper.QueueBatchConfig\]' "$d/config.go" \
    && grep -q 'configoptional.Default(exporterhelper.NewDefaultQueueConfig())' "$d/factory.go" \
    || die "the opensearchexporter patch did not apply (source changed?)"
}

otelcol_binary() {
  local key out
  key=$(hash_of "$OTELCOL_MANIFEST" <(declare -f patch_opensearchexporter) <(echo "$OTELCOL_BUILDER_VERSION"))
  out="$CACHE/otelcol-contrib-$OTELCOL_VERSION-$key/otelcol-contrib"
  if [ -x "$out" ]; then echo "$out"; return 0; fi
  need_go
  local builder; builder=$(otelcol_builder)
  local w="$WORK/otelcol-$OTELCOL_VERSION-$key"
  rm -rf "$w"; mkdir -p "$w"
  cp "$OTELCOL_MANIFEST" "$w/manifest.yaml"
  # Generate sources only: the builder's own `go mod tidy` also resolves test-only modules,
  # some of which the module proxy here refuses; `go build -mod=mod` needs build deps only.
  ( cd "$w" && "$builder" --config manifest.yaml --skip-compilation --skip-get-modules ) \
    >"$w/builder.log" 2>&1 || { tail -n 20 "$w/builder.log" >&2; die "collector builder failed"; }
  local osv
  osv=$(sed -n "s|^[[:space:]]*- gomod: $OSEXP_MODULE \(v[0-9.]*\).*|\1|p" "$OTELCOL_MANIFEST")
  if [ -n "$osv" ] && [ "$osv" != "v$OTELCOL_VERSION" ]; then
    local odir
    odir=$(GONOSUMDB="$OSEXP_MODULE" go mod download -json "$OSEXP_MODULE@$osv" \
           | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -n "$odir" ] && [ -d "$odir" ] || die "go mod download $OSEXP_MODULE@$osv failed"
    cp -r "$odir" "$w/opensearchexporter"; chmod -R u+w "$w/opensearchexporter"
    patch_opensearchexporter "$w/opensearchexporter"
    ( cd "$w/_build" && go mod edit -replace "$OSEXP_MODULE=$w/opensearchexporter" )
  fi
  mkdir -p "$(dirname "$out")"
  log "building otelcol-contrib $OTELCOL_VERSION (takes minutes on 2 cores)"
  ( cd "$w/_build" && CGO_ENABLED=0 GOWORK=off GONOSUMDB="$OSEXP_MODULE" \
      GOFLAGS="${GOFLAGS:-} -mod=mod" go build -trimpath -ldflags "-s -w" -o "$out.tmp" . ) \
    >"$w/go-build.log" 2>&1 \
    || { grep -v '^go: downloading' "$w/go-build.log" | tail -n 30 >&2; die "collector build failed (log: $w/go-build.log)"; }
  "$out.tmp" --version >/dev/null || die "the built collector does not run"
  mv "$out.tmp" "$out"
  cp "$w/_build/go.mod" "$(dirname "$out")/go.mod" # the resolved module versions, for the record
  rm -rf "$w"
  echo "$out"
}

build_otelcol() {
  local recipe
  recipe="$OTELCOL_VERSION:$(hash_of "$IMAGES_DIR/otelcol-contrib/Dockerfile" \
    "$IMAGES_DIR/otelcol-contrib/config.yaml" "$OTELCOL_MANIFEST" "$BASE_RECIPE_FILE" \
    <(declare -f patch_opensearchexporter))"
  if image_current "$OTELCOL_TAG" "$recipe"; then log "$OTELCOL_TAG up to date"; return 0; fi
  local bin; bin=$(step otelcol-binary otelcol_binary)
  local ctx; ctx=$(fresh_context otelcol)
  cp "$IMAGES_DIR/otelcol-contrib/Dockerfile" "$IMAGES_DIR/otelcol-contrib/config.yaml" "$ctx/"
  cp -l "$bin" "$ctx/otelcol-contrib" 2>/dev/null || cp "$bin" "$ctx/otelcol-contrib"
  build_image "$OTELCOL_TAG" "$ctx" "$OTELCOL_VERSION" "$recipe"
  rm -rf "$ctx"
  log "built $OTELCOL_TAG"
}

# ---------------------------------------------------------------- alertmanager
build_alertmanager() {
  local recipe
  recipe="$ALERTMANAGER_VERSION:$(hash_of "$IMAGES_DIR/alertmanager/Dockerfile" "$HERE/alerting.sh" "$BASE_RECIPE_FILE")"
  if image_current "$ALERTMANAGER_TAG" "$recipe"; then log "$ALERTMANAGER_TAG up to date"; return 0; fi
  local built am amtool
  built=$(step alerting-binaries "$HERE/alerting.sh")
  am=$(sed -n 's/^ALERTMANAGER=//p' <<<"$built")
  amtool=$(sed -n 's/^AMTOOL=//p' <<<"$built")
  [ -x "$am" ] && [ -x "$amtool" ] || die "tools/alerting.sh did not produce alertmanager and amtool"
  local ctx; ctx=$(fresh_context alertmanager)
  cp "$IMAGES_DIR/alertmanager/Dockerfile" "$ctx/"
  cp -l "$am" "$ctx/alertmanager" 2>/dev/null || cp "$am" "$ctx/alertmanager"
  cp -l "$amtool" "$ctx/amtool" 2>/dev/null || cp "$amtool" "$ctx/amtool"
  build_image "$ALERTMANAGER_TAG" "$ctx" "$ALERTMANAGER_VERSION" "$recipe"
  rm -rf "$ctx"
  log "built $ALERTMANAGER_TAG"
}

# ---------------------------------------------------------------- verify
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS CONTAINER: poll until URL answers 2xx.
wait_http() {
  local url="$1" secs="$2" name="$3" i
  for i in $(seq 1 "$secs"); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
      docker logs --tail 30 "$name" >&2 2>&1 || true
      return 1
    fi
    sleep 1
  done
  docker logs --tail 30 "$name" >&2 2>&1 || true
  return 1
}

cleanup_verify() {
  local n
  for n in "$@"; do docker rm -f "$n" >/dev/null 2>&1 || true; done
}

verify_opensearch() {
  local name="clawker-verify-opensearch-$$" vol="clawker-verify-osdata-$$" port
  port=$(free_port)
  # The stack asks for memlock -1/-1 and nofile 65536/65536. A daemon whose own hard limits
  # are lower (no CAP_SYS_RESOURCE, as on these test machines: memlock 8 MiB, nofile 20000)
  # cannot grant them and the container fails to start; verify without them there.
  local ulimits=()
  if [ "$(ulimit -Hl)" = unlimited ] && { [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 65536 ]; }; then
    ulimits=(--ulimit memlock=-1:-1 --ulimit nofile=65536:65536)
  else
    log "verify opensearch: host hard limits (memlock $(ulimit -Hl) KiB, nofile $(ulimit -Hn)) are below the stack's ulimits: running without them"
  fi
  local run=(docker run -d --name "$name" -p "127.0.0.1:$port:$port" "${ulimits[@]}"
    -v "$vol:/usr/share/opensearch/data"
    -e cluster.name=clawker-observability -e node.name=opensearch-node
    -e discovery.type=single-node -e bootstrap.memory_lock=true
    -e http.port="$port" -e plugins.query.datasources.encryption.masterkey=0123456789abcdef01234567
    -e DISABLE_SECURITY_PLUGIN=true -e DISABLE_INSTALL_DEMO_CONFIG=true
    -e "OPENSEARCH_JAVA_OPTS=-Xms512m -Xmx512m"
    --health-cmd "curl -fsS http://localhost:$port/_cluster/health?wait_for_status=yellow&timeout=5s"
    --health-interval 5s --health-timeout 5s --health-retries 10 --health-start-period 60s
    "$OPENSEARCH_TAG")
  local rc=0 t0 pass
  for pass in first second; do
    t0=$SECONDS
    "${run[@]}" >/dev/null
    if wait_http "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=1s" 120 "$name"; then
      log "verify opensearch ($pass start, volume $vol): answers after $((SECONDS - t0))s"
      # The container's own healthcheck (curl inside the image) must pass too.
      local hs="" i
      for i in $(seq 1 40); do
        hs=$(docker inspect -f '{{.State.Health.Status}}' "$name" 2>/dev/null || true)
        [ "$hs" = healthy ] && break
        sleep 1
      done
      [ "$hs" = healthy ] && log "verify opensearch: docker healthcheck: healthy" \
        || { log "verify opensearch: docker healthcheck: ${hs:-none}"; rc=1; }
      if [ "$pass" = first ]; then
        curl -fsS -XPUT -H 'Content-Type: application/json' "http://127.0.0.1:$port/clawker-verify/_doc/1?refresh=true" \
          -d '{"msg":"kept across restarts"}' >/dev/null || { log "verify opensearch: write failed"; rc=1; }
        log "verify opensearch: plugins: $(curl -fsS "http://127.0.0.1:$port/_cat/plugins?h=component" | tr '\n' ' ')"
        log "verify opensearch: $(curl -fsS "http://127.0.0.1:$port/" | tr -d '\n ' | grep -o '"number":"[^"]*"')"
      else
        curl -fsS "http://127.0.0.1:$port/clawker-verify/_doc/1" | grep -q 'kept across restarts' \
          && log "verify opensearch: document survived the restart on the named volume" \
          || { log "verify opensearch: document lost after restart"; rc=1; }
      fi
    else
      log "verify opensearch: not healthy ($pass start)"; rc=1
    fi
    cleanup_verify "$name"
    [ "$rc" = 0 ] || break
  done
  docker volume rm "$vol" >/dev/null 2>&1 || true
  return "$rc"
}

verify_prometheus() {
  local name="clawker-verify-prometheus-$$" vol="clawker-verify-promdata-$$" port t0 rc=0 pass
  port=$(free_port)
  for pass in first second; do
    t0=$SECONDS
    docker run -d --name "$name" -p "127.0.0.1:$port:$port" -v "$vol:/prometheus" "$PROMETHEUS_TAG" \
      --config.file=/etc/prometheus/prometheus.yml --web.listen-address=":$port" \
      --web.enable-remote-write-receiver --web.enable-otlp-receiver --storage.tsdb.path=/prometheus \
      --web.console.templates=/etc/prometheus/consoles --web.console.libraries=/etc/prometheus/console_libraries \
      --web.route-prefix=/ --enable-feature=exemplar-storage,otlp-deltatocumulative >/dev/null
    if wait_http "http://127.0.0.1:$port/-/ready" 60 "$name"; then
      log "verify prometheus ($pass start, volume $vol): ready after $((SECONDS - t0))s, $(curl -fsS "http://127.0.0.1:$port/api/v1/status/buildinfo" | grep -o '"version":"[^"]*"')"
      # The OTLP receiver answers (an empty export is accepted).
      local code
      code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H 'Content-Type: application/json' \
        "http://127.0.0.1:$port/api/v1/otlp/v1/metrics" -d '{"resourceMetrics":[]}')
      [ "$code" = 200 ] && log "verify prometheus: OTLP receiver answers 200" \
        || { log "verify prometheus: OTLP receiver answered $code"; rc=1; }
    else
      log "verify prometheus: not ready ($pass start)"; rc=1
    fi
    cleanup_verify "$name"
    [ "$rc" = 0 ] || break
  done
  docker volume rm "$vol" >/dev/null 2>&1 || true
  return "$rc"
}

verify_otelcol() {
  local name="clawker-verify-otelcol-$$" port t0=$SECONDS rc=0
  port=$(free_port)
  local cfg="$WORK/verify-otelcol-$$.yaml"
  # Every component of the manifest appears, so a missing one fails here.
  cat >"$cfg" <<EOF
extensions:
  file_storage: {directory: /var/lib/otelcol/queue, fsync: true}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 0.0.0.0:4318
  otlp/loop:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
  prometheus:
    config:
      scrape_configs:
        - job_name: self
          scrape_interval: 60s
          static_configs:
            - targets: ["127.0.0.1:8888"]
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 150, spike_limit_mib: 30}
  batch: {timeout: 5s, send_batch_size: 1024, send_batch_max_size: 2048}
  resource:
    attributes: [{key: ingest_source, value: untrusted_otlp, action: upsert}]
  transform:
    log_statements: ['set(log.attributes["verified"], true)']
  deltatocumulative: {max_stale: 24h}
exporters:
  debug: {verbosity: basic}
  prometheus: {endpoint: 0.0.0.0:8889, metric_expiration: 8760h}
  otlp_grpc:
    endpoint: 127.0.0.1:14317
    tls: {insecure: true}
    sending_queue: {enabled: true, storage: file_storage}
  opensearch:
    http: {endpoint: http://127.0.0.1:1}
    logs_index: clawker-verify
    sending_queue: {enabled: false}
    retry_on_failure: {enabled: false}
connectors:
  spanmetrics: {}
  failover:
    priority_levels: [[logs/opensearch]]
    retry_interval: 5s
    sending_queue: {enabled: false}
  routing:
    default_pipelines: [logs/debug]
    table:
      - context: resource
        condition: attributes["service.name"] == "never-matches"
        pipelines: [logs/failover]
service:
  extensions: [file_storage]
  pipelines:
    logs:
      receivers: [otlp]
      processors: [memory_limiter, resource, transform]
      exporters: [otlp_grpc]
    logs/loop:
      receivers: [otlp/loop]
      processors: [batch]
      exporters: [routing]
    logs/debug: {receivers: [routing], exporters: [debug]}
    logs/failover: {receivers: [routing], exporters: [failover]}
    logs/opensearch: {receivers: [failover], exporters: [opensearch]}
    traces: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [debug, spanmetrics]}
    metrics:
      receivers: [otlp, prometheus, spanmetrics]
      processors: [memory_limiter, deltatocumulative, batch]
      exporters: [prometheus, debug]
EOF
  chmod 0644 "$cfg"
  # The image has no directory its user owns (like the official one): the queue directory
  # is a tmpfs owned by that user here; the stack hands it a named volume instead.
  docker run -d --name "$name" -p "127.0.0.1:$port:4318" -v "$cfg:/etc/otel-collector-config.yaml:ro" \
    --tmpfs /var/lib/otelcol/queue:uid=10001,gid=10001,mode=0700 \
    "$OTELCOL_TAG" --config=/etc/otel-collector-config.yaml >/dev/null
  local code="" i
  for i in $(seq 1 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H 'Content-Type: application/json' \
      "http://127.0.0.1:$port/v1/logs" \
      -d '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"verify"}}]},"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hello"}}]}]}]}' || true)
    [ "$code" = 200 ] && break
    [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
    sleep 1
  done
  if [ "$code" = 200 ]; then
    log "verify otelcol: OTLP/HTTP /v1/logs answered 200 after $((SECONDS - t0))s"
  else
    docker logs --tail 30 "$name" >&2 2>&1 || true
    log "verify otelcol: OTLP/HTTP did not answer 200 (last: ${code:-none})"; rc=1
  fi
  cleanup_verify "$name"
  rm -f "$cfg"
  return "$rc"
}

# ---------------------------------------------------------------- main
main() {
  local verify=0 targets=() t
  for t in "$@"; do
    case "$t" in
      --verify) verify=1 ;;
      base|opensearch|prometheus|otelcol|alertmanager) targets+=("$t") ;;
      -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
      *) die "unknown argument: $t" ;;
    esac
  done
  [ "${#targets[@]}" -gt 0 ] || targets=(base opensearch prometheus otelcol alertmanager)
  local t0=$SECONDS
  mkdir -p "$CACHE" "$WORK"
  BASE_RECIPE_FILE="$WORK/base-recipe.txt"
  base_recipe >"$BASE_RECIPE_FILE"
  step engine "$HERE/engine.sh"
  step base build_base # every image starts FROM it
  for t in "${targets[@]}"; do
    case "$t" in
      opensearch) step opensearch build_opensearch ;;
      prometheus) step prometheus build_prometheus ;;
      otelcol) step otelcol build_otelcol ;;
      alertmanager) step alertmanager build_alertmanager ;;
    esac
  done
  if [ "$verify" = 1 ]; then
    local failed=()
    for t in "${targets[@]}"; do
      case "$t" in
        opensearch) check verify-opensearch verify_opensearch || failed+=(opensearch) ;;
        prometheus) check verify-prometheus verify_prometheus || failed+=(prometheus) ;;
        otelcol) check verify-otelcol verify_otelcol || failed+=(otelcol) ;;
      esac
    done
    [ "${#failed[@]}" = 0 ] || die "verification failed: ${failed[*]}"
  fi
  log "total $((SECONDS - t0))s"
  for t in "${targets[@]}"; do
    case "$t" in
      base) echo "BASE_IMAGE=$BASE_TAG" ;;
      opensearch) echo "OPENSEARCH_IMAGE=$OPENSEARCH_TAG" ;;
      prometheus) echo "PROMETHEUS_IMAGE=$PROMETHEUS_TAG" ;;
      otelcol) echo "OTELCOL_IMAGE=$OTELCOL_TAG" ;;
      alertmanager) echo "ALERTMANAGER_IMAGE=$ALERTMANAGER_TAG" ;;
    esac
  done
}

main "$@"
