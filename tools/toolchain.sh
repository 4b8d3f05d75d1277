#!/usr/bin/env bash
# Build (once) and cache the real Pulumi toolchain that our end-to-end tests drive.
#
# Test tooling only: users run the official Pulumi CLI distribution. Our machines reach
# package registries only (no get.pulumi.com, no GitHub downloads), so everything here is
# built from the Go module proxy and cached outside the checkout, keyed by version:
#
#   ~/.cache/clawker-monitor/toolchain/<component>-<version>/
#
# Components:
#   pulumi                         the CLI: github.com/pulumi/pulumi/pkg/v3/cmd/pulumi, built in a
#                                  wrapper module (pkg/v3 replaces sdk/v3 with ../sdk upstream).
#   pulumi-language-python         our small language host (tools/toolchain/langhost-python): the
#                                  official one is a separate Go module that the proxy does not
#                                  serve at any version. It uses the SDK's Python toolchain code
#                                  and runs programs through the SDK's pulumi-language-python-exec
#                                  script, which is installed next to it.
#   pulumi-resource-pulumi-python  our launcher for Python dynamic providers
#                                  (tools/toolchain/pulumi-resource-pulumi-python).
#   pulumi-resource-docker         first choice: pulumi-docker's own provider module at the release
#                                  commit (wrapper module, kreuzwerker's Terraform provider for the
#                                  upstream submodule, our `shim` package for pulumi-docker's patch).
#                                  The proxy refuses that module today, so the fallback is our own
#                                  bridged build of the same Terraform provider
#                                  (tools/toolchain/docker-provider/bridge): same tokens and property
#                                  names for the Terraform-backed resources (Container, RemoteImage,
#                                  Network, Volume, ...); pulumi-docker's native `Image` is absent.
#                                  Pins: tools/toolchain/docker-provider/pins.
#
# Versions come from one place, requirements.txt: `pulumi==X` and `pulumi-docker==Y`.
#
# Usage:  bash tools/toolchain.sh [--strict]
# Prints how long each step took and ends with
#   CLAWKER_TOOLCHAIN_DOCKER_PLUGIN=<tar.gz>   (for `pulumi plugin install resource docker <Y> --file`)
#   CLAWKER_TOOLCHAIN_BIN=<dir>                (put it first on PATH; always the last line)
# plus, when the docker provider could not be obtained, CLAWKER_TOOLCHAIN_MISSING=<names>. Exit
# status is 0 unless the Pulumi CLI or the language host fails; with --strict a missing docker
# provider is an error too. Cold build on 2 cores: CLI ~6-7 min, language host ~1 min, docker
# provider ~10 min; cached runs take about a second.
#
# Environment:
#   CLAWKER_TOOLCHAIN_CACHE   cache root (default ~/.cache/clawker-monitor/toolchain)
#   CLAWKER_TOOLCHAIN_REQUIREMENTS  requirements file (default <repo>/requirements.txt)
#   CLAWKER_DOCKER_PROVIDER_VERSION / CLAWKER_DOCKER_UPSTREAM_VERSION
#                             Go module versions (pseudo-versions) of pulumi-docker's provider
#                             module and of kreuzwerker's provider, if the proxy cannot resolve
#                             the pinned commits by itself.
#
# Running pulumi in tests: PATH="$CLAWKER_TOOLCHAIN_BIN:$PATH", PULUMI_SKIP_UPDATE_CHECK=true,
# PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true, a local backend (pulumi login file://DIR,
# PULUMI_CONFIG_PASSPHRASE). pulumi-resource-docker is then an ambient plugin from PATH (the CLI
# warns "using pulumi-resource-docker from $PATH"); to avoid the warning, install the tarball
# into PULUMI_HOME with `pulumi plugin install resource docker <Y> --file <tar.gz>` and set
# PULUMI_IGNORE_AMBIENT_PLUGINS=true (the language host and the dynamic-provider launcher are
# still found: they sit next to the pulumi binary, where the CLI looks for bundled plugins).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
SRC="$HERE/toolchain"
REQUIREMENTS="${CLAWKER_TOOLCHAIN_REQUIREMENTS:-$REPO/requirements.txt}"
CACHE="${CLAWKER_TOOLCHAIN_CACHE:-$HOME/.cache/clawker-monitor/toolchain}"
STRICT=0
for arg in "$@"; do
  case "$arg" in
    --strict) STRICT=1 ;;
    -h|--help) sed -n '2,55p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "toolchain: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
export CGO_ENABLED="${CGO_ENABLED:-0}"

TOOL=toolchain
# shellcheck source=tools/lib.sh
source "$HERE/lib.sh"

# pinned NAME: the exact version pinned as `NAME==X` in requirements.txt.
pinned() {
  local name="$1" v
  v="$(sed -n -E "s/^[[:space:]]*${name}[[:space:]]*==[[:space:]]*([0-9][0-9A-Za-z.+-]*)[[:space:]]*(#.*)?$/\1/p" \
        "$REQUIREMENTS" | head -n1)"
  [ -n "$v" ] || die "no '${name}==<version>' line in $REQUIREMENTS"
  printf '%s\n' "$v"
}

# mod_json QUERY: `go mod download -json` of one module version (fails with the proxy's words).
mod_json() {
  local out
  out="$(go mod download -json "$1" 2>&1)" || true
  if ! jq -e 'has("Error") | not' >/dev/null 2>&1 <<<"$out"; then
    jq -r '.Error // empty' <<<"$out" 2>/dev/null | sed 's/^/    /' >&2 || printf '%s\n' "$out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}

# copy_replaces GOMOD: repeat a dependency's non-local replace directives in ./go.mod.
copy_replaces() {
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && go mod edit -replace="$line"
  done < <(go mod edit -json "$1" | jq -r '.Replace // [] | .[]
      | select(.New.Version != null and .New.Version != "")
      | "\(.Old.Path)\(if .Old.Version then "@" + .Old.Version else "" end)=\(.New.Path)@\(.New.Version)"')
}

# go_version_of GOMOD: the `go` directive of a go.mod (our wrapper modules use the same one).
go_version_of() { go mod edit -json "$1" | jq -r '.Go // "1.22"'; }

# finish WORK DEST: publish a finished build directory atomically.
finish() {
  rm -rf "$2"
  mv "$1" "$2"
}

# --------------------------------------------------------------------------------------
# Pulumi CLI

build_pulumi() {
  local v="$1" dest="$2" work="$2.work.$$" info gomod
  info="$(mod_json "github.com/pulumi/pulumi/pkg/v3@v$v")" \
    || { log "the Go module proxy does not serve github.com/pulumi/pulumi/pkg/v3@v$v"; return 1; }
  gomod="$(jq -r .GoMod <<<"$info")"
  mod_json "github.com/pulumi/pulumi/sdk/v3@v$v" >/dev/null \
    || { log "the Go module proxy does not serve github.com/pulumi/pulumi/sdk/v3@v$v"; return 1; }

  rm -rf "$work"; mkdir -p "$work/src" "$work/bin"
  (
    cd "$work/src"
    # pkg/v3 replaces sdk/v3 with ../sdk; we take sdk/v3 at the same version from the proxy
    # and repeat its other replace directives, which only apply in the main module.
    go mod init clawker.local/toolchain/pulumi >/dev/null 2>&1
    go mod edit -go="$(go_version_of "$gomod")" \
      -require="github.com/pulumi/pulumi/pkg/v3@v$v" -require="github.com/pulumi/pulumi/sdk/v3@v$v"
    copy_replaces "$gomod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' > tools.go
    go mod tidy >"$work/build.log" 2>&1
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$v" \
      -o "$work/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >>"$work/build.log" 2>&1
  ) || { log "pulumi build failed; log: $work/build.log"; tail -n 30 "$work/build.log" >&2; return 1; }
  finish "$work" "$dest"
}

# --------------------------------------------------------------------------------------
# Python language host (ours) + the SDK's pulumi-language-python-exec

build_langhost() {
  local v="$1" dest="$2" work="$2.work.$$" info sdkdir sdkmod
  info="$(mod_json "github.com/pulumi/pulumi/sdk/v3@v$v")" || return 1
  sdkdir="$(jq -r .Dir <<<"$info")"
  sdkmod="$(jq -r .GoMod <<<"$info")"
  [ -f "$sdkdir/python/cmd/pulumi-language-python-exec" ] \
    || { log "sdk/v3@v$v has no python/cmd/pulumi-language-python-exec"; return 1; }

  rm -rf "$work"; mkdir -p "$work/src" "$work/bin"
  cp "$SRC/langhost-python/main.go" "$work/src/"
  (
    cd "$work/src"
    go mod init clawker.local/toolchain/pulumi-language-python >/dev/null 2>&1
    go mod edit -go="$(go_version_of "$sdkmod")" -require="github.com/pulumi/pulumi/sdk/v3@v$v"
    copy_replaces "$sdkmod"
    go mod tidy >"$work/build.log" 2>&1
    go build -trimpath -ldflags "-s -w -X main.version=$v" \
      -o "$work/bin/pulumi-language-python" . >>"$work/build.log" 2>&1
  ) || { log "language host build failed; log: $work/build.log"; tail -n 30 "$work/build.log" >&2; return 1; }
  install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$work/bin/pulumi-language-python-exec"
  finish "$work" "$dest"
}

# --------------------------------------------------------------------------------------
# pulumi-docker's provider: wrapper module around github.com/pulumi/pulumi-docker/provider/vN
# at the release commit, with kreuzwerker's Terraform provider in place of the upstream git
# submodule and our `shim` package in place of pulumi-docker's patch.

build_docker_provider() {
  local v="$1" dest="$2" work="$2.work.$$" major pd_commit tf_commit pin
  local provider_mod provider_ver upstream_ver info gomod
  major="${v%%.*}"
  provider_mod="github.com/pulumi/pulumi-docker/provider/v$major"
  pin="$(awk -v v="$v" '$1 == "official" && $2 == v { print $3, $4 }' "$SRC/docker-provider/pins")"
  [ -n "$pin" ] || { log "no 'official' pins for pulumi-docker $v in $SRC/docker-provider/pins"; return 1; }
  read -r pd_commit tf_commit <<<"$pin"

  provider_ver="${CLAWKER_DOCKER_PROVIDER_VERSION:-}"
  if [ -z "$provider_ver" ]; then
    info="$(mod_json "$provider_mod@$pd_commit")" \
      || { log "the Go module proxy does not resolve $provider_mod at commit $pd_commit"; return 1; }
    provider_ver="$(jq -r .Version <<<"$info")"
  fi
  info="$(mod_json "$provider_mod@$provider_ver")" || { log "cannot fetch $provider_mod@$provider_ver"; return 1; }
  gomod="$(jq -r .GoMod <<<"$info")"

  upstream_ver="${CLAWKER_DOCKER_UPSTREAM_VERSION:-}"
  if [ -z "$upstream_ver" ]; then
    info="$(mod_json "github.com/kreuzwerker/terraform-provider-docker@$tf_commit")" \
      || { log "the Go module proxy does not resolve kreuzwerker/terraform-provider-docker at $tf_commit"; return 1; }
    upstream_ver="$(jq -r .Version <<<"$info")"
  fi

  rm -rf "$work"; mkdir -p "$work/src/shim" "$work/bin"
  cp "$SRC/docker-provider/shim/shim.go" "$work/src/shim/"
  (
    cd "$work/src/shim"
    go mod init github.com/terraform-providers/terraform-provider-docker/shim >/dev/null 2>&1
    go mod edit -require=github.com/terraform-providers/terraform-provider-docker@v0.0.0
    cd "$work/src"
    go mod init clawker.local/toolchain/pulumi-resource-docker >/dev/null 2>&1
    go mod edit -go="$(go_version_of "$gomod")" -require="$provider_mod@$provider_ver" \
      -require=github.com/terraform-providers/terraform-provider-docker/shim@v0.0.0
    copy_replaces "$gomod"   # e.g. terraform-plugin-sdk/v2 => pulumi's fork (its ../upstream one is local: skipped)
    go mod edit \
      -replace="github.com/terraform-providers/terraform-provider-docker=github.com/kreuzwerker/terraform-provider-docker@$upstream_ver" \
      -replace=github.com/terraform-providers/terraform-provider-docker/shim=./shim
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/pulumi-resource-docker"\n' "$provider_mod" > tools.go
    go mod tidy >"$work/build.log" 2>&1
    go build -trimpath -ldflags "-s -w -X $provider_mod/pkg/version.Version=$v" \
      -o "$work/bin/pulumi-resource-docker" "$provider_mod/cmd/pulumi-resource-docker" >>"$work/build.log" 2>&1
  ) || { log "docker provider build failed; log: $work/build.log"; tail -n 30 "$work/build.log" >&2; return 1; }
  echo "official pulumi-docker provider module $provider_mod@$provider_ver" >"$work/FLAVOR"
  finish "$work" "$dest"
}

# docker_plugin_tarball WORK: WORK/pulumi-resource-docker.tar.gz for `pulumi plugin install
# resource docker <version> --file ...` (binary plus schema.json when there is one).
docker_plugin_tarball() {
  local files=(pulumi-resource-docker)
  [ ! -f "$1/bin/schema.json" ] || files+=(schema.json)
  tar -C "$1/bin" -czf "$1/pulumi-resource-docker.tar.gz" "${files[@]}"
}

# Fallback: our own bridged provider (tools/toolchain/docker-provider/bridge) over the same
# Terraform provider, for when the proxy does not serve pulumi-docker's provider module.
build_docker_bridge() {
  local v="$1" dest="$2" work="$2.work.$$" pin bridge_ver upstream_ver info gomod
  pin="$(awk -v v="$v" '$1 == "bridge" && $2 == v { print $3, $4 }' "$SRC/docker-provider/pins")"
  [ -n "$pin" ] || { log "no 'bridge' pins for pulumi-docker $v in $SRC/docker-provider/pins"; return 1; }
  read -r bridge_ver upstream_ver <<<"$pin"
  info="$(mod_json "github.com/pulumi/pulumi-terraform-bridge/v3@$bridge_ver")" || return 1
  gomod="$(jq -r .GoMod <<<"$info")"
  mod_json "github.com/kreuzwerker/terraform-provider-docker@$upstream_ver" >/dev/null || return 1

  rm -rf "$work"; mkdir -p "$work/src/shim" "$work/bin"
  cp "$SRC/docker-provider/shim/shim.go" "$work/src/shim/"
  cp "$SRC/docker-provider/bridge/main.go" "$work/src/"
  (
    cd "$work/src/shim"
    go mod init github.com/terraform-providers/terraform-provider-docker/shim >/dev/null 2>&1
    go mod edit -require=github.com/terraform-providers/terraform-provider-docker@v0.0.0
    cd "$work/src"
    go mod init clawker.local/toolchain/pulumi-resource-docker >/dev/null 2>&1
    go mod edit -go="$(go_version_of "$gomod")" \
      -require="github.com/pulumi/pulumi-terraform-bridge/v3@$bridge_ver" \
      -require=github.com/terraform-providers/terraform-provider-docker/shim@v0.0.0
    copy_replaces "$gomod"   # terraform-plugin-sdk/v2 => pulumi's fork, as the bridge itself builds
    go mod edit \
      -replace="github.com/terraform-providers/terraform-provider-docker=github.com/kreuzwerker/terraform-provider-docker@$upstream_ver" \
      -replace=github.com/terraform-providers/terraform-provider-docker/shim=./shim
    go mod tidy >"$work/build.log" 2>&1
    go build -trimpath -ldflags "-s -w -X main.version=$v" \
      -o "$work/bin/pulumi-resource-docker" . >>"$work/build.log" 2>&1
    "$work/bin/pulumi-resource-docker" -emit-schema "$work/bin/schema.json" >>"$work/build.log" 2>&1
  ) || { log "bridged docker provider build failed; log: $work/build.log"; tail -n 30 "$work/build.log" >&2; return 1; }
  echo "clawker bridge build: pulumi-terraform-bridge $bridge_ver, kreuzwerker $upstream_ver" >"$work/FLAVOR"
  finish "$work" "$dest"
}

# --------------------------------------------------------------------------------------

main() {
  command -v go >/dev/null || die "go is not on PATH"
  command -v jq >/dev/null || die "jq is not on PATH (apt-get install -y jq)"
  [ -f "$REQUIREMENTS" ] || die "missing $REQUIREMENTS"

  local pulumi_v docker_v host_key missing=() t_all=$SECONDS
  pulumi_v="$(pinned pulumi)"
  docker_v="$(pinned pulumi-docker)"
  # Our own sources are part of the cache key, so editing them rebuilds.
  host_key="$(cat "$SRC/langhost-python/main.go" | sha256sum | cut -c1-12)"
  local docker_key
  docker_key="$(cat "$SRC/docker-provider/shim/shim.go" "$SRC/docker-provider/bridge/main.go" \
    "$SRC/docker-provider/pins" | sha256sum | cut -c1-12)"

  mkdir -p "$CACHE"
  # Run go outside any module or workspace (the cache has no go.mod), so that module queries
  # can never touch a go.mod/go.sum of whatever directory we were started from.
  cd "$CACHE"
  export GOWORK=off
  # One build at a time per cache (teammates and CI share the machine).
  exec 9>"$CACHE/.lock"
  flock 9

  local d_pulumi="$CACHE/pulumi-$pulumi_v"
  local d_host="$CACHE/pulumi-language-python-$pulumi_v-$host_key"
  local d_docker="$CACHE/pulumi-resource-docker-$docker_v-$docker_key"
  local bin="$CACHE/bin-pulumi-$pulumi_v-docker-$docker_v"

  if [ -x "$d_pulumi/bin/pulumi" ]; then log "pulumi $pulumi_v: cached ($d_pulumi)"
  else log "pulumi $pulumi_v: building (large: 10-30 min on 2 cores)"
    step "pulumi $pulumi_v" build_pulumi "$pulumi_v" "$d_pulumi" || die "cannot build the Pulumi CLI $pulumi_v"
  fi

  if [ -x "$d_host/bin/pulumi-language-python" ]; then log "pulumi-language-python $pulumi_v: cached ($d_host)"
  else log "pulumi-language-python $pulumi_v: building"
    step "pulumi-language-python $pulumi_v" build_langhost "$pulumi_v" "$d_host" \
      || die "cannot build the Python language host"
  fi

  if [ -x "$d_docker/bin/pulumi-resource-docker" ]; then log "pulumi-resource-docker $docker_v: cached ($d_docker)"
  else log "pulumi-resource-docker $docker_v: building pulumi-docker's own provider module (large)"
    if ! step "pulumi-resource-docker $docker_v (official module)" build_docker_provider "$docker_v" "$d_docker"; then
      log "falling back to our bridged build of the same Terraform provider (large: ~10-20 min)"
      step "pulumi-resource-docker $docker_v (bridge fallback)" build_docker_bridge "$docker_v" "$d_docker" \
        || { log "WARNING: pulumi-resource-docker $docker_v is not available; docker resources cannot be deployed"
             missing+=(pulumi-resource-docker); }
    fi
  fi
  if [ -x "$d_docker/bin/pulumi-resource-docker" ]; then
    [ -f "$d_docker/pulumi-resource-docker.tar.gz" ] || step "docker plugin tarball" docker_plugin_tarball "$d_docker"
    log "pulumi-resource-docker $docker_v is the $(cat "$d_docker/FLAVOR")"
  fi

  local t0=$SECONDS
  mkdir -p "$bin"
  # pulumi itself is hard-linked (or copied), not symlinked: the CLI looks for its bundled
  # plugins (language hosts, pulumi-resource-pulumi-python) next to its resolved executable,
  # so with the binary in this directory it finds ours as bundled and does not warn about them.
  rm -f "$bin/pulumi"
  ln "$d_pulumi/bin/pulumi" "$bin/pulumi" 2>/dev/null || cp "$d_pulumi/bin/pulumi" "$bin/pulumi"
  ln -sfn "$d_host/bin/pulumi-language-python" "$bin/pulumi-language-python"
  ln -sfn "$d_host/bin/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
  install -m 0755 "$SRC/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
  if [ -x "$d_docker/bin/pulumi-resource-docker" ]; then
    ln -sfn "$d_docker/bin/pulumi-resource-docker" "$bin/pulumi-resource-docker"
  else
    rm -f "$bin/pulumi-resource-docker"
  fi
  "$bin/pulumi" version >/dev/null || die "$bin/pulumi does not run"
  log "step 'bin dir' took $((SECONDS - t0))s"
  log "total $((SECONDS - t_all))s"

  [ ! -f "$d_docker/pulumi-resource-docker.tar.gz" ] \
    || echo "CLAWKER_TOOLCHAIN_DOCKER_PLUGIN=$d_docker/pulumi-resource-docker.tar.gz"
  echo "CLAWKER_TOOLCHAIN_BIN=$bin"
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "CLAWKER_TOOLCHAIN_MISSING=${missing[*]}"
    [ "$STRICT" -eq 0 ] || exit 1
  fi
}

main
