# The versions of the test toolchain's components, in one place (sourced by tools/*.sh and
# tests/dashboards_double/build_image.sh). The Pulumi CLI's version is `pulumi==` in
# requirements.txt; the product's own images and digests are in components/settings.py.
# shellcheck shell=bash

CLAWKER_OPENSEARCH_VERSION=3.6.0          # distribution, test image, Dashboards double
CLAWKER_OPENSEARCH_SECURE_VERSION=3.4.0   # the secured test cluster (team role): the newest opensearch-security on Maven Central
CLAWKER_PROMETHEUS_VERSION=v3.11.3
CLAWKER_PROMETHEUS_MODULE_VERSION=v0.311.3 # Prometheus 3.x.y is Go module v0.3xx.y
CLAWKER_OTELCOL_VERSION=0.152.0
CLAWKER_OTELCOL_BUILDER_VERSION=v0.152.0
CLAWKER_ALERTMANAGER_VERSION=v0.34.1      # alertmanager + amtool (tests), the version settings.py pins the official image at; promtool comes from the Prometheus module
