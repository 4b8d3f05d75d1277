#!/bin/bash
# Entrypoint of the clawker-test/opensearch TEST image (see Dockerfile beside this file).
#
# Reproduces what the stack relies on from the official image's entrypoint:
#   - every environment variable whose name is lower-case and contains a dot
#     (cluster.name, node.name, discovery.type, bootstrap.memory_lock, http.port,
#     plugins.query.datasources.encryption.masterkey, ...) becomes `-E<name>=<value>`;
#   - OPENSEARCH_JAVA_OPTS (e.g. "-Xms512m -Xmx512m") reaches the JVM (bin/opensearch reads it);
#   - DISABLE_SECURITY_PLUGIN=true disables the security plugin when it is installed (the
#     minimal distribution has none, so there is nothing to disable);
#   - DISABLE_INSTALL_DEMO_CONFIG is accepted (there is no demo security config to install);
#   - a command other than `opensearch` (or a leading flag) runs as given, e.g. `bash`.
# Differences: a setting that belongs to a plugin this image lacks is dropped with a note
# on stderr (OpenSearch would otherwise refuse to start on an unknown setting).
#
# ISM / SQL plugin CONTRACT DOUBLES: when this image lacks opensearch-index-management or
# opensearch-sql (Maven Central carries neither), /opt/plugin-doubles/server.py (from
# tests/plugin_doubles) listens on the configured http.port and serves those plugins' REST
# APIs, passing every other request to OpenSearch, which then listens on 127.0.0.1:29200
# inside the container. The stack's graph, healthcheck and clients are unchanged. The
# dropped settings of the doubled plugins (datasource master key, ISM job interval) are
# handed to the doubles. CLAWKER_PLUGIN_DOUBLES=0 turns them off.
set -euo pipefail

OPENSEARCH_HOME="${OPENSEARCH_HOME:-/usr/share/opensearch}"
DATA_DIR="$OPENSEARCH_HOME/data"
RUN_UID=1000
RUN_GID=1000

note() { printf '[clawker-opensearch-entrypoint] %s\n' "$*" >&2; }

if [ $# -gt 0 ] && [ "$1" != opensearch ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi
[ "${1:-}" = opensearch ] && shift

# Started as root (e.g. `--user 0`): fix ownership of the writable dirs, then drop to the
# opensearch user, as OpenSearch refuses to run as root.
if [ "$(id -u)" = 0 ]; then
  chown -R "$RUN_UID:$RUN_GID" "$DATA_DIR" "$OPENSEARCH_HOME/logs" "$OPENSEARCH_HOME/config"
  exec setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --init-groups -- "$0" opensearch "$@"
fi

if ! { [ -d "$DATA_DIR" ] && [ -w "$DATA_DIR" ]; }; then
  note "ERROR: $DATA_DIR is not a directory writable by uid $(id -u)."
  note "A named volume there is seeded with the image's ownership (uid $RUN_UID); a bind mount"
  note "must be owned by uid $RUN_UID."
  exit 1
fi

# plugin_of NAME: the plugin directory that registers setting NAME, for the plugins the stack
# configures; empty when the setting belongs to core (or to a plugin we do not track).
plugin_of() {
  case "$1" in
    plugins.security.*) echo opensearch-security ;;
    plugins.query.*|plugins.sql.*|plugins.ppl.*) echo opensearch-sql ;;
    plugins.index_state_management.*|plugins.rollup.*|plugins.transform.*) echo opensearch-index-management ;;
    *) echo "" ;;
  esac
}

settings=()
http_port=9200
doubles_master_key=""
doubles_job_interval=5
add_setting() {
  local name="$1" value="$2" owner
  case "$name" in
    http.port) http_port="$value" ;;
    plugins.query.datasources.encryption.masterkey) doubles_master_key="$value" ;;
    plugins.index_state_management.job_interval) doubles_job_interval="$value" ;;
  esac
  owner=$(plugin_of "$name")
  if [ -n "$owner" ] && [ ! -d "$OPENSEARCH_HOME/plugins/$owner" ]; then
    note "ignoring setting $name: plugin $owner is not in this test image"
    return 0
  fi
  settings+=("-E$name=$value")
}

# Environment variables are read NUL-separated: names with dots are not shell variables.
while IFS= read -r -d '' entry; do
  name="${entry%%=*}"
  value="${entry#*=}"
  if [[ "$name" =~ ^[a-z0-9_]+\.[a-z0-9_.]+$ ]]; then
    add_setting "$name" "$value"
  fi
done < <(env -0)

if [ "${DISABLE_SECURITY_PLUGIN:-false}" = true ]; then
  if [ -d "$OPENSEARCH_HOME/plugins/opensearch-security" ]; then
    settings+=("-Eplugins.security.disabled=true")
  else
    note "DISABLE_SECURITY_PLUGIN=true: no security plugin in this image, nothing to disable"
  fi
fi
# DISABLE_INSTALL_DEMO_CONFIG: accepted; this image never installs a demo security config.

DOUBLES=/opt/plugin-doubles/server.py
if [ "${CLAWKER_PLUGIN_DOUBLES:-1}" != 0 ] && [ -f "$DOUBLES" ] \
   && { [ ! -d "$OPENSEARCH_HOME/plugins/opensearch-index-management" ] || [ ! -d "$OPENSEARCH_HOME/plugins/opensearch-sql" ]; }; then
  internal_port=29200
  [ "$internal_port" != "$http_port" ] || internal_port=29201
  kept=()
  for s in "${settings[@]}"; do
    case "$s" in -Ehttp.port=*) ;; *) kept+=("$s") ;; esac
  done
  settings=("${kept[@]}" "-Ehttp.port=$internal_port" "-Ehttp.host=127.0.0.1")
  note "ISM/SQL plugin CONTRACT DOUBLES on :$http_port in front of OpenSearch on 127.0.0.1:$internal_port (test image)"
  PLUGIN_DOUBLES_MASTER_KEY="$doubles_master_key" PLUGIN_DOUBLES_JOB_INTERVAL_MIN="$doubles_job_interval" \
    python3 "$DOUBLES" --host 0.0.0.0 --port "$http_port" --upstream "http://127.0.0.1:$internal_port" &
fi

cd "$OPENSEARCH_HOME"
exec "$OPENSEARCH_HOME/bin/opensearch" "${settings[@]}" "$@"
