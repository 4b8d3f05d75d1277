#!/usr/bin/env bash
# A SECURED OpenSearch for TESTS (README "Running for a team"): 3.4.0 with the security plugin.
#
# Test tooling only: a team's real cluster is theirs (or a managed service).
# Maven Central serves opensearch-security up to 3.4.0.0 (not 3.5/3.6), so the secured test
# cluster is OpenSearch 3.4.0 (TOOLCHAIN.md "The security plugin and a second machine"). Seen
# here (2026-12-04), two gaps in what Maven Central serves, and what this script does about them:
#   1. the 3.4.0 integ-test-zip carries only the transport modules (3.6.0's carries them all), and
#      the stack's bootstrap needs ingest-common (pipelines), lang-painless (scripts), lang-mustache
#      (the day route's {{_index}} template: without it a write through it hangs, no error) and reindex
#      (moving an index into its days). Their jars ARE served (org.opensearch.plugin:<artifact>:3.4.0
#      with poms listing their libraries), so each module is assembled: the jar and its runtime
#      dependencies resolved by Maven, and the descriptor the 3.6.0 distribution ships for the same
#      module with its version lines set to 3.4.0 (the descriptor names the class and the Java
#      version; nothing else in it is version-specific);
#   2. opensearch-security 3.4.0.0 declares `extended.plugins=workload-management;optional=true,
#      rule-framework`, and no version of rule-framework is served (module or plugin). The
#      descriptor is installed with rule-framework left out: the plugin's classes that implement
#      rule-framework's extension points are only loaded by rule-framework itself (automatic tagging
#      of workload groups), which the stack does not use. rule-framework also carries
#      commons-collections4, which the plugin's request filter needs (NoClassDefFoundError on every
#      request without it): that library (Maven Central) is added to the plugin's folder.
#
# Cached under ${CLAWKER_CACHE:-~/.cache/clawker-monitor}/opensearch-secure-<ver>/ (OPENSEARCH_HOME)
# with a ready marker; a second run returns at once.
#
# Usage: tools/opensearch_secure.sh     ensure; print OPENSEARCH_SECURE_HOME=..., OPENSEARCH_JAVA_HOME=...
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOL=opensearch_secure
# shellcheck source=tools/lib.sh
source "$HERE/lib.sh"
# shellcheck source=tools/versions.sh
source "$HERE/versions.sh"

VERSION="${OPENSEARCH_SECURE_VERSION:-$CLAWKER_OPENSEARCH_SECURE_VERSION}"
CACHE="${CLAWKER_CACHE:-$HOME/.cache/clawker-monitor}"
HOME_DIR="$CACHE/opensearch-secure-$VERSION"
READY="$HOME_DIR/.clawker-ready"
DL="$CACHE/downloads/opensearch-secure-$VERSION"
DEP_PLUGIN_VERSION="3.8.1"
# What the 3.6.0 distribution's rule-framework module ships.
COLLECTIONS_VERSION="4.5.0"
# module directory -> Maven artifact (org.opensearch.plugin:<artifact>:<version>)
MODULES="ingest-common:ingest-common lang-painless:lang-painless lang-mustache:lang-mustache-client reindex:reindex-client mapper-extras:mapper-extras-client"
# Where the module descriptors come from (the distribution tools/opensearch_dist.sh caches).
DESCRIPTOR_VERSION="${CLAWKER_OPENSEARCH_DESCRIPTORS_FROM:-$CLAWKER_OPENSEARCH_VERSION}"
MARK="version=$VERSION modules=$MODULES security=$VERSION.0+collections4-$COLLECTIONS_VERSION descriptors=$DESCRIPTOR_VERSION"

base_dist() {
  # The plain 3.4.0 distribution and job-scheduler (the security plugin itself is added below).
  OPENSEARCH_VERSION="$VERSION" OPENSEARCH_PLUGIN_LIST="opensearch-job-scheduler" OPENSEARCH_REQUIRE_PLUGINS=1 \
    bash "$HERE/opensearch_dist.sh" > "$DL/base.env"
  # shellcheck disable=SC1090
  source "$DL/base.env"
  DESC_HOME=$(OPENSEARCH_VERSION="$DESCRIPTOR_VERSION" bash "$HERE/opensearch_dist.sh" | sed -n 's/^OPENSEARCH_HOME=//p')
}

# module_jars MODULE ARTIFACT OUT: the module's jar and its runtime libraries, resolved by Maven.
module_jars() {
  local artifact="$2" out="$3" work="$DL/pom-$1"
  mkdir -p "$work" "$out"
  cat > "$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.clawker.test</groupId><artifactId>module-$1</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.opensearch.plugin</groupId><artifactId>$artifact</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
EOF
  mvn -B -q -f "$work/pom.xml" "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$out" > "$work/mvn.log" 2>&1 \
    || die "could not resolve org.opensearch.plugin:$artifact:$VERSION (see $work/mvn.log)"
}

add_modules() {
  local home="$1" entry module artifact
  for entry in $MODULES; do
    module="${entry%%:*}"; artifact="${entry#*:}"
    [ -d "$DESC_HOME/modules/$module" ] || die "no $module descriptor in $DESC_HOME"
    module_jars "$module" "$artifact" "$home/modules/$module"
    # What the server already has (its own jars and libraries, pulled in through the poms) must
    # not be loaded twice: OpenSearch refuses a module that repeats a class ("jar hell").
    local jar
    for jar in "$home/modules/$module"/*.jar; do
      [ ! -e "$home/lib/$(basename "$jar")" ] || rm -f "$jar"
    done
    sed -e "s/^version=.*/version=$VERSION/" -e "s/^opensearch.version=.*/opensearch.version=$VERSION/" \
      "$DESC_HOME/modules/$module/plugin-descriptor.properties" > "$home/modules/$module/plugin-descriptor.properties"
    if [ -f "$DESC_HOME/modules/$module/plugin-security.policy" ]; then
      cp "$DESC_HOME/modules/$module/plugin-security.policy" "$home/modules/$module/"
    fi
  done
}

add_security() {
  local home="$1" zip="$DL/opensearch-security-$VERSION.0.zip" patched="$DL/opensearch-security-$VERSION.0-patched.zip"
  [ -s "$zip" ] || mvn -B -q "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy" \
      -Dartifact="org.opensearch.plugin:opensearch-security:$VERSION.0:zip" -DoutputDirectory="$DL" >"$DL/mvn-security.log" 2>&1 \
      || die "could not fetch opensearch-security $VERSION.0 (see $DL/mvn-security.log)"
  # rule-framework also brings commons-collections4, which the plugin's request filter uses.
  local lib="commons-collections4-$COLLECTIONS_VERSION.jar"
  [ -s "$DL/$lib" ] || mvn -B -q "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy" \
      -Dartifact="org.apache.commons:commons-collections4:$COLLECTIONS_VERSION" -DoutputDirectory="$DL" >"$DL/mvn-collections.log" 2>&1 \
      || die "could not fetch commons-collections4 $COLLECTIONS_VERSION (see $DL/mvn-collections.log)"
  python3 - "$zip" "$patched" "$DL/$lib" <<'PY'
import os, sys, zipfile
src, dst, lib = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    zout.write(lib, os.path.basename(lib))
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename == "plugin-descriptor.properties":
            lines = data.decode().splitlines()
            lines = ["extended.plugins=workload-management;optional=true" if l.startswith("extended.plugins=") else l for l in lines]
            data = ("\n".join(lines) + "\n").encode()
        zout.writestr(info, data)
PY
  OPENSEARCH_JAVA_HOME="$OPENSEARCH_JAVA_HOME" OPENSEARCH_PATH_CONF="$home/config" \
    "$home/bin/opensearch-plugin" install --batch "file://$patched" >&2 || die "installing opensearch-security failed"
}

ensure() {
  mkdir -p "$DL"
  step base base_dist
  if [ -f "$READY" ] && grep -qxF "$MARK" "$READY"; then
    log "cached: $HOME_DIR"
    return 0
  fi
  local tmp="$HOME_DIR.tmp.$$"
  rm -rf "$tmp"
  cp -a "$OPENSEARCH_HOME" "$tmp"
  step modules add_modules "$tmp"
  step security add_security "$tmp"
  echo "$MARK" > "$tmp/.clawker-ready"
  rm -rf "$HOME_DIR"; mv "$tmp" "$HOME_DIR"
}

ensure
echo "OPENSEARCH_SECURE_HOME=$HOME_DIR"
echo "OPENSEARCH_JAVA_HOME=$OPENSEARCH_JAVA_HOME"
