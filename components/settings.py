"""Stack settings: one JSON Schema, cross-field rules, and a typed view.

Everything is validated before a single resource is registered, so a bad
Pulumi.<stack>.yaml fails `pulumi preview` with a message that names the key,
the value and what is allowed, and nothing on the host changes.
"""

from __future__ import annotations

import json
import os
import pathlib
from functools import cached_property
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import jsonschema

from components import names, roles, telemetry, units as units_lib

CONFIG_NAMESPACE = "clawker-monitor"
# Where Pulumi.yaml is: relative unitPaths are read from here.
PROJECT_DIR = pathlib.Path(__file__).resolve().parents[1]

# Official images, pinned by version and multi-arch manifest digest.
DEFAULT_IMAGES = {
    "collectorImage": "otel/opentelemetry-collector-contrib:0.152.0@sha256:f41d7995565df3733b7568702073a9c490792f9c6ac60684fe6a4da21a313f8d",
    "prometheusImage": "prom/prometheus:v3.11.3@sha256:e4254400b85610324913f0dc4acf92603d9984e7519414c5a12811aa6146acc3",
    "opensearchImage": "opensearchproject/opensearch:3.6.0@sha256:57bd3c879ad27123a9a6cd75e2adba504189d3131d00a669f3baf9210bc4538c",
    "dashboardsImage": "opensearchproject/opensearch-dashboards:3.6.0@sha256:9fe2cbf1d82c3f66a0860ed140415692ce55de4711ed7877ab738e5da1a357c0",
    "alertmanagerImage": "prom/alertmanager:v0.34.1@sha256:e9733bafb1bdef9b00e25a21f8f99dc26a22224bf16641ad754d1649f4c3357a",
}

# Host-published ports (each also moves the service's own listener).
PUBLISHED_PORT_KEYS = (
    "otlpHttpPort",
    "otlpGrpcPort",
    "opensearchPort",
    "dashboardsPort",
    "prometheusPort",
    "infraPort",
    "alertmanagerPort",
)

_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_IMAGE = {"type": "string", "minLength": 1, "pattern": r"^[^\s]+$"}
_PATH = {"type": "string"}
_URL = {"type": "string", "pattern": r"^(https?://[^\s]+)?$"}
# A value that ends up inside OTEL_RESOURCE_ATTRIBUTES (key=value,key=value) and a Prometheus label.
_ATTRIBUTE = {"type": "string", "pattern": r"^[A-Za-z0-9._:/@+\-]*$"}
# Comma-separated receiver names (components/services/alertmanager_config.RECEIVER_KINDS).
_RECEIVERS = {"type": "string", "pattern": r"^((webhook|slack|email)(,(webhook|slack|email))*)?$"}
# JSON object {"<user or team>": {"dailyUsd": n, "monthlyUsd": n}}, checked by BUDGETS_SCHEMA.
_BUDGETS = {"type": "string"}
# JSON object {"<model>": {"input": n, "cachedInput": n, "output": n}} (USD per million tokens), checked by PRICES_SCHEMA.
_PRICES = {"type": "string"}

ROLES = ("local", "team", "machine")
_HTTPS_URLS = {"type": "string", "pattern": r"^(https://[^\s,]+(,https://[^\s,]+)*)?$"}
_HTTPS_URL = {"type": "string", "pattern": r"^(https://[^\s,]+)?$"}
_PEM = {"type": "string", "pattern": r"^(\s*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*)?$"}
# A machine's name: a DNS label, also part of its OpenSearch user and role names.
MACHINE_NAME_PATTERN = r"[a-z0-9]([a-z0-9\-]{0,38}[a-z0-9])?"
_MACHINE_NAME = {"type": "string", "pattern": rf"^({MACHINE_NAME_PATTERN})?$"}
_MACHINE_NAMES = {"type": "string", "pattern": rf"^({MACHINE_NAME_PATTERN}(,{MACHINE_NAME_PATTERN})*)?$"}


def _prop(schema: dict, default: Any, description: str) -> dict:
    return {**schema, "default": default, "description": description}


# The single source of truth for settings: Pulumi.yaml and README's reference
# are checked against it by tests.
SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "otlpHttpPort": _prop(_PORT, 4318, "Collector OTLP/HTTP receiver (untrusted lane), published on 127.0.0.1."),
        "otlpGrpcPort": _prop(_PORT, 4317, "Collector OTLP/gRPC receiver (untrusted lane), published on 127.0.0.1."),
        "infraPort": _prop(
            {"type": "integer", "minimum": 0, "maximum": 65535},
            4319,
            "Collector mTLS OTLP/gRPC receiver (trusted lane), published on 127.0.0.1; 0 turns the lane off.",
        ),
        "infraTlsCertFile": _prop(_PATH, "", "Host path to the collector's server certificate (PEM) for the trusted lane."),
        "infraTlsKeyFile": _prop(_PATH, "", "Host path to the collector's server private key (PEM) for the trusted lane."),
        "infraTlsCaFile": _prop(_PATH, "", "Host path to the CA (PEM) that signs trusted senders' client certificates."),
        "opensearchPort": _prop(_PORT, 9200, "OpenSearch HTTP API (http.port), published on 127.0.0.1."),
        "dashboardsPort": _prop(_PORT, 5601, "OpenSearch Dashboards UI (SERVER_PORT), published on 127.0.0.1."),
        "prometheusPort": _prop(_PORT, 9090, "Prometheus UI and API (--web.listen-address), published on 127.0.0.1."),
        "collectorMetricsPort": _prop(_PORT, 8889, "Collector Prometheus exporter; scraped in-network, never published."),
        "opensearchHeapMb": _prop({"type": "integer", "minimum": 256, "maximum": 65536}, 512, "OpenSearch JVM heap (-Xms/-Xmx) in MB."),
        "opensearchRaiseLimits": _prop(
            {"type": "boolean"},
            True,
            "Give OpenSearch unlimited memlock (with bootstrap.memory_lock) and 65536 open files. Turn off where "
            "containers may not raise resource limits above the daemon's own (rootless Docker, restricted sandboxes).",
        ),
        "collectorImage": _prop(_IMAGE, DEFAULT_IMAGES["collectorImage"], "OpenTelemetry Collector contrib image."),
        "prometheusImage": _prop(_IMAGE, DEFAULT_IMAGES["prometheusImage"], "Prometheus image."),
        "opensearchImage": _prop(_IMAGE, DEFAULT_IMAGES["opensearchImage"], "OpenSearch image."),
        "dashboardsImage": _prop(_IMAGE, DEFAULT_IMAGES["dashboardsImage"], "OpenSearch Dashboards image."),
        "logToolDetails": _prop({"type": "boolean"}, True, "Agents log tool names and parameters (OTEL_LOG_TOOL_DETAILS)."),
        "logUserPrompts": _prop({"type": "boolean"}, True, "Agents log prompt text (OTEL_LOG_USER_PROMPTS)."),
        "includeAccountUuid": _prop({"type": "boolean"}, True, "Agents attach the account UUID to metrics (OTEL_METRICS_INCLUDE_ACCOUNT_UUID)."),
        "includeSessionId": _prop({"type": "boolean"}, True, "Agents attach the session id to metrics (OTEL_METRICS_INCLUDE_SESSION_ID)."),
        "metricExportIntervalMs": _prop({"type": "integer", "minimum": 1000, "maximum": 3600000}, 10000, "Agents' metric export interval in ms."),
        "logsExportIntervalMs": _prop({"type": "integer", "minimum": 1000, "maximum": 3600000}, 5000, "Agents' log export interval in ms."),
        "logRetentionDays": _prop(
            {"type": "integer", "minimum": 0, "maximum": 3650},
            7,
            "Days every log record is kept: ISM deletes a day's log index once its newest record is this many days old "
            "(records are gone at most one day later); 0 keeps logs forever (no ISM policy).",
        ),
        "traceRetentionDays": _prop(
            {"type": "integer", "minimum": 0, "maximum": 3650},
            7,
            "Days every span is kept, as logRetentionDays does for logs; 0 keeps traces forever (no ISM policy).",
        ),
        "prometheusDatasource": _prop(
            {"type": "boolean"},
            True,
            "Register Prometheus as OpenSearch's direct-query datasource (SQL plugin) for Dashboards' PromQL panels.",
        ),
        "units": _prop(
            {
                "type": "array",
                "uniqueItems": True,
                "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,62}$"},
            },
            list(units_lib.DEFAULT_UNITS),
            "Built-in monitoring units whose telemetry the stack stores and shows (claude-code, codex; README \"Units\"). "
            "Removing one keeps its indices and saved objects.",
        ),
        "unitPaths": _prop(
            {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1}},
            [],
            "Folders of your own monitoring units (a manifest.json with its templates, pipelines and dashboards; README "
            "\"Units\"), absolute or relative to the project directory.",
        ),
        "hostName": _prop(
            {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9.\-]+$"},
            "localhost",
            "Host name that host-side senders use to reach the collector.",
        ),
        "apiHost": _prop(
            {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9.\-\[\]:]+$"},
            "127.0.0.1",
            "Address at which `pulumi up` reaches the published ports to bootstrap OpenSearch and Dashboards (set it for a remote Docker host).",
        ),
        "purgeVolumesOnDestroy": _prop(
            {"type": "boolean"},
            False,
            "Remove the OpenSearch, Prometheus, collector-queue and Alertmanager volumes on `pulumi destroy` (like `clawker monitor down --volumes`), and with them the indexed telemetry, the Clawker workspace and every saved object in it. Off, `pulumi destroy` keeps all of that and the next `pulumi up` adopts it.",
        ),
        "deliveryRetryHours": _prop(
            {"type": "integer", "minimum": 1, "maximum": 720},
            6,
            "Hours the collector keeps retrying a request OpenSearch has not stored (an outage, or a record "
            "OpenSearch refuses) before dropping it and counting it in otelcol_exporter_send_failed_log_records_total "
            "(or ..._spans_total) of its otlp_grpc exporter: an OpenSearch outage this long loses nothing.",
        ),
        # Alerting rules (Prometheus evaluates them; see README "Alerts and budgets"). 0 turns a rule off.
        "alertCostPerHourUsd": _prop(
            {"type": "number", "minimum": 0, "maximum": 100000},
            10,
            "Alert when Claude Code's cost over the last hour exceeds this many USD (all projects and agents); 0 turns the rule off.",
        ),
        "alertApiErrorRatePercent": _prop(
            {"type": "number", "minimum": 0, "maximum": 100},
            10,
            "Alert when more than this percent of Claude Code's API requests failed over the last 10 minutes "
            "(from claude_code.llm_request spans); 0 turns the rule off.",
        ),
        "alertCollectorQueuePercent": _prop(
            {"type": "number", "minimum": 0, "maximum": 100},
            50,
            "Alert when a collector exporter's sending queue is fuller than this percent of its capacity "
            "(deliveries are backing up); 0 turns the rule off.",
        ),
        "alertForMinutes": _prop(
            {"type": "integer", "minimum": 0, "maximum": 1440},
            5,
            "Minutes the API error-rate and collector conditions must hold before their alerts fire (Prometheus `for`).",
        ),
        "alertmanagerAddress": _prop(
            {"type": "string", "pattern": r"^(([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5})?$"},
            "",
            "host:port of an Alertmanager of your own that Prometheus also sends firing alerts to; empty: only the stack's "
            "own Alertmanager (on when a receiver is configured) gets them.",
        ),
        # Alertmanager (README "Alerts and budgets"): on when any receiver below is configured.
        "alertmanagerImage": _prop(_IMAGE, DEFAULT_IMAGES["alertmanagerImage"], "Alertmanager image."),
        "alertmanagerPort": _prop(_PORT, 9093, "Alertmanager UI and API (--web.listen-address), published on 127.0.0.1."),
        "alertWebhookUrl": _prop(
            _URL, "", "Generic webhook receiver: Alertmanager POSTs its JSON to this URL. A secret: set it with `pulumi config set --secret`."
        ),
        "alertSlackWebhookUrl": _prop(
            _URL, "", "Slack receiver: the channel's incoming-webhook URL (https://hooks.slack.com/services/...). A secret: set it with `pulumi config set --secret`."
        ),
        "alertSlackChannel": _prop(
            {"type": "string", "pattern": r"^([#@][^\s]+)?$"}, "", "Slack channel (#name) or user (@name) to post to; empty: the incoming webhook's own channel."
        ),
        "alertEmailTo": _prop({"type": "string"}, "", "E-mail receiver: recipient address(es), comma-separated; with alertEmailFrom and alertEmailSmarthost."),
        "alertEmailFrom": _prop({"type": "string"}, "", "E-mail receiver: sender address."),
        "alertEmailSmarthost": _prop(
            {"type": "string", "pattern": r"^([A-Za-z0-9.\-]+:[0-9]{1,5})?$"}, "", "E-mail receiver: SMTP server as host:port (e.g. smtp.example.com:587)."
        ),
        "alertEmailUsername": _prop({"type": "string"}, "", "E-mail receiver: SMTP user name; empty: no SMTP authentication."),
        "alertEmailPassword": _prop(
            {"type": "string"}, "", "E-mail receiver: SMTP password. A secret: set it with `pulumi config set --secret`."
        ),
        "alertEmailRequireTls": _prop({"type": "boolean"}, True, "E-mail receiver: insist on STARTTLS with the SMTP server."),
        "alertCriticalReceivers": _prop(
            _RECEIVERS, "webhook,slack,email", "Receivers (webhook, slack, email; comma-separated) that get alerts of severity critical; unconfigured ones are skipped."
        ),
        "alertWarningReceivers": _prop(
            _RECEIVERS, "webhook,slack,email", "Receivers (webhook, slack, email; comma-separated) that get alerts of severity warning; unconfigured ones are skipped."
        ),
        "alertGroupBy": _prop(
            {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$"},
            "alertname,user,team,period,threshold,exporter",
            "Labels whose values make one notification group (Alertmanager group_by); the default gives each budget threshold of each user or team its own notification.",
        ),
        "alertGroupWaitSeconds": _prop(
            {"type": "integer", "minimum": 0, "maximum": 3600}, 30, "Seconds Alertmanager waits to gather a new group's alerts into its first notification (group_wait)."
        ),
        "alertGroupIntervalMinutes": _prop(
            {"type": "integer", "minimum": 1, "maximum": 1440}, 5, "Minutes before a group's notification about alerts added to it (group_interval)."
        ),
        "alertRepeatIntervalHours": _prop(
            {"type": "integer", "minimum": 1, "maximum": 8760}, 24, "Hours before a still-firing alert is notified again (repeat_interval)."
        ),
        # Budgets (USD). A user is user.email, or user.account_uuid when there is no e-mail.
        "budgetDailyUsd": _prop(
            {"type": "number", "minimum": 0, "maximum": 1000000}, 0, "Default budget per user over the last 24 hours in USD, for users without their own in budgetUsers; 0: none."
        ),
        "budgetMonthlyUsd": _prop(
            {"type": "number", "minimum": 0, "maximum": 100000000}, 0, "Default budget per user over the last 30 days in USD, for users without their own in budgetUsers; 0: none."
        ),
        "budgetUsers": _prop(
            _BUDGETS, "", 'Budgets of named users as JSON: {"alice@example.com": {"dailyUsd": 20, "monthlyUsd": 300}}; either period may be left out.'
        ),
        "budgetTeams": _prop(
            _BUDGETS, "", 'Budgets of teams (the team.id resource attribute) as JSON: {"platform": {"dailyUsd": 100, "monthlyUsd": 2000}}.'
        ),
        "budgetWarnFractions": _prop(
            {"type": "string", "pattern": r"^[0-9.]+(,[0-9.]+)*$"},
            "0.8,0.9,1",
            "Fractions of a budget at which an alert fires, each once (comma-separated); 1 and above are critical, the others warnings.",
        ),
        "alertCostSpikeFactor": _prop(
            {"type": "number", "minimum": 0, "maximum": 1000},
            3,
            "Alert when a user's cost over the last hour is more than this many times their average hourly cost over the previous 24 hours (and above alertCostSpikeMinUsd); 0 turns the rule off.",
        ),
        "alertCostSpikeMinUsd": _prop(
            {"type": "number", "minimum": 0, "maximum": 100000}, 1, "The cost-spike alert ignores hours that cost less than this many USD."
        ),
        "codexPrices": _prop(
            _PRICES,
            "",
            "Price table for the Codex dashboard's ESTIMATED cost, as JSON: USD per million tokens per model, "
            '{"gpt-5-codex": {"input": 1.25, "cachedInput": 0.125, "output": 10}}. Codex reports tokens, not cost; '
            "empty (the default) shows no cost at all.",
        ),
        # Team attributes agents carry (agentEnv's OTEL_RESOURCE_ATTRIBUTES); empty ones are left out.
        "teamId": _prop(_ATTRIBUTE, "", "team.id resource attribute agents of this stack send (budgets per team, the Team & users views)."),
        "department": _prop(_ATTRIBUTE, "", "department resource attribute agents of this stack send."),
        "costCenter": _prop(_ATTRIBUTE, "", "cost_center resource attribute agents of this stack send."),
        # Roles (README "Running for a team"): which part of a team's stack this one is.
        "role": _prop(
            {"type": "string", "enum": list(ROLES)},
            "local",
            "local: the whole stack on this Docker host (OpenSearch, Dashboards, Prometheus, collector). team: bootstrap an "
            "existing secured OpenSearch cluster, run Dashboards and the team Prometheus, issue one credential per machine. "
            "machine: the collector only, shipping to the team's cluster and Prometheus.",
        ),
        "clusterUrls": _prop(
            _HTTPS_URLS, "", "team, machine: the OpenSearch cluster's HTTPS URL(s), comma-separated (team: required; machine: unless teamStack is set)."
        ),
        "clusterCaCert": _prop(
            _PEM, "", "team, machine: PEM of the CA that signs the cluster's certificates; empty: the system's trusted CAs. TLS is always verified."
        ),
        "clusterAdminUser": _prop({"type": "string", "minLength": 1, "pattern": r"^[^\s:]+$"}, "admin", "team: the cluster's admin user (security plugin)."),
        "clusterAdminPassword": _prop(
            {"type": "string"}, "", "team: the admin user's password (required). A secret: set it with `pulumi config set --secret`."
        ),
        "dashboardsUrl": _prop(
            _URL, "", "team: URL of an existing OpenSearch Dashboards to bootstrap; empty: this stack runs a Dashboards container against the cluster."
        ),
        "machines": _prop(
            _MACHINE_NAMES, "", "team: machine names, comma-separated; each gets its own credential (secret output machineCredentials); removing one revokes it."
        ),
        "prometheusBindAddress": _prop(
            {"type": "string", "minLength": 1, "pattern": r"^([0-9]{1,3}\.){3}[0-9]{1,3}$"},
            "127.0.0.1",
            "team: address the team Prometheus is published on (machines remote-write to it); anything but 127.0.0.1 "
            "needs prometheusTlsCertFile and prometheusTlsKeyFile. Basic auth is always on (the admin and each machine).",
        ),
        "prometheusTlsCertFile": _prop(_PATH, "", "team: host path to the team Prometheus's server certificate (PEM)."),
        "prometheusTlsKeyFile": _prop(_PATH, "", "team: host path to the team Prometheus's server private key (PEM)."),
        "prometheusCaCert": _prop(
            _PEM, "", "team, machine: PEM of the CA that signs the team Prometheus's certificate; empty: clusterCaCert."
        ),
        "machineName": _prop(
            _MACHINE_NAME, "", "machine: this machine's name (required), one of the team stack's machines; every record and series carries it."
        ),
        "teamStack": _prop(
            {"type": "string", "pattern": r"^([A-Za-z0-9._\-]+(/[A-Za-z0-9._\-]+){0,2})?$"},
            "",
            "machine: the team stack (org/project/stack) to read endpoints, CA and this machine's credential from (a StackReference); "
            "empty: give clusterUrls, machinePassword and teamPrometheusUrl instead.",
        ),
        "machinePassword": _prop(
            {"type": "string"}, "", "machine: this machine's password when teamStack is not used. A secret: set it with `pulumi config set --secret`."
        ),
        "teamPrometheusUrl": _prop(
            _HTTPS_URL, "", "machine: the team Prometheus's HTTPS URL (remote write goes to <url>/api/v1/write) when teamStack is not used."
        ),
        "machineMetricsPort": _prop(
            _PORT,
            9464,
            "machine: the collector's own metrics endpoint (http://127.0.0.1:<port>/metrics), published on 127.0.0.1: "
            "clawker_machine_credential_refused (1: the team cluster refuses this machine's credential, with why and what "
            "to do) and the collector's queue and send series; it still answers when the team revoked the machine.",
        ),
        "datasourceMasterKey": _prop(
            {"type": "string", "pattern": "^(.{16}|.{24}|.{32})?$"},
            "",
            "Secret key (16, 24 or 32 characters) that encrypts OpenSearch datasource credentials; set it with "
            "`pulumi config set --secret` (a value stored in plain text is refused); generated per stack when empty.",
        ),
    },
}

SECRET_KEYS = (
    "datasourceMasterKey", "alertWebhookUrl", "alertSlackWebhookUrl", "alertEmailPassword", "clusterAdminPassword", "machinePassword",
)


# budgetUsers / budgetTeams, once parsed.
BUDGETS_SCHEMA = {
    "type": "object",
    "propertyNames": {"minLength": 1, "pattern": r"^[^\s\"\\\\]+$"},
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "dailyUsd": {"type": "number", "exclusiveMinimum": 0},
            "monthlyUsd": {"type": "number", "exclusiveMinimum": 0},
        },
    },
}
BUDGET_PERIODS = {"dailyUsd": "daily", "monthlyUsd": "monthly"}

# codexPrices, once parsed. A model name ends up inside PromQL label matchers: no quotes,
# backslashes or spaces.
PRICE_KINDS = ("input", "cachedInput", "output")
PRICES_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"minLength": 1, "maxLength": 200, "pattern": r"^[A-Za-z0-9._:/@+\-]+$"},
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "required": list(PRICE_KINDS),
        "properties": {kind: {"type": "number", "minimum": 0, "maximum": 100000} for kind in PRICE_KINDS},
    },
}
PRICES_EXAMPLE = '{"<model>": {"input": <USD per million input tokens>, "cachedInput": <USD per million cached input tokens>, "output": <USD per million output tokens>}}'
EMAIL_KEYS = ("alertEmailTo", "alertEmailFrom", "alertEmailSmarthost")


class SettingsError(ValueError):
    """Invalid stack configuration; the message names the key and the fix."""


def _describe_allowed(schema: dict) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    t = schema.get("type")
    parts = [f"a{'n' if t in ('integer', 'array') else ''} {t}"] if t else []
    if "minimum" in schema or "maximum" in schema:
        parts.append(f"from {schema.get('minimum', '-inf')} to {schema.get('maximum', 'inf')}")
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    if schema.get("minLength"):
        parts.append("not empty")
    if t == "array":
        item = schema.get("items", {})
        parts.append("of distinct " + (f"names matching {item['pattern']}" if "pattern" in item else "non-empty strings"))
    return " ".join(parts) or "a valid value"


def _schema_errors(values: Mapping[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    messages = []
    for err in sorted(validator.iter_errors(dict(values)), key=lambda e: list(e.path)):
        if err.validator == "additionalProperties":
            unknown = sorted(set(values) - set(SCHEMA["properties"]))
            for key in unknown:
                messages.append(
                    f"{CONFIG_NAMESPACE}:{key}: unknown setting; known settings are listed in README.md "
                    f"(remove it with `pulumi config rm {CONFIG_NAMESPACE}:{key}`)"
                )
            continue
        key = err.path[0] if err.path else "?"
        shown = "secret" if key in SECRET_KEYS else repr(values.get(key))
        allowed = _describe_allowed(SCHEMA["properties"].get(key, {}))
        messages.append(f"{CONFIG_NAMESPACE}:{key}: {shown} is not allowed; it must be {allowed}")
    return messages


def _cross_field_errors(values: Mapping[str, Any]) -> list[str]:
    messages = []
    owners: dict[int, str] = {}
    # machineMetricsPort is published by a machine stack only (components/roles.py refuses it elsewhere).
    machine = ("machineMetricsPort",) if values["role"] == "machine" else ()
    for key in PUBLISHED_PORT_KEYS + ("collectorMetricsPort",) + machine:
        port = values[key]
        if key == "infraPort" and port == 0:
            continue
        if port in owners:
            messages.append(
                f"{CONFIG_NAMESPACE}:{key}: port {port} is already used by {CONFIG_NAMESPACE}:{owners[port]}; "
                "every service needs its own port"
            )
        else:
            owners[port] = key
    messages.extend(_collector_fixed_port_errors(values, machine))
    tls = {k: values[k] for k in ("infraTlsCertFile", "infraTlsKeyFile", "infraTlsCaFile")}
    given = [k for k, v in tls.items() if v]
    if given and len(given) != len(tls):
        missing = [k for k in tls if k not in given]
        messages.append(
            f"{CONFIG_NAMESPACE}:{missing[0]}: the trusted lane needs all of infraTlsCertFile, infraTlsKeyFile "
            f"and infraTlsCaFile; {', '.join(given)} set but {', '.join(missing)} missing"
        )
    if given and values["infraPort"] == 0:
        messages.append(
            f"{CONFIG_NAMESPACE}:infraPort: 0 turns the trusted lane off, but TLS material is configured; "
            "set a port or remove the infraTls* settings"
        )
    messages.extend(_alerting_errors(values))
    messages.extend(_unit_errors(values))
    return messages


# The settings whose port the collector listens on inside its container (the published ones
# on the same number there, components/services/docker.published).
COLLECTOR_PORT_KEYS = ("otlpHttpPort", "otlpGrpcPort", "infraPort", "collectorMetricsPort")


def _collector_fixed_port_errors(values: Mapping[str, Any], machine: tuple[str, ...]) -> list[str]:
    from components.services.collector_config import FIXED_PORTS  # it imports this module

    messages = []
    for key in COLLECTOR_PORT_KEYS + machine:
        port = values[key]
        if port in FIXED_PORTS:
            messages.append(
                f"{CONFIG_NAMESPACE}:{key}: port {port} is the collector's own ({FIXED_PORTS[port]}, inside its "
                f"container), so the collector could not listen on it; choose another port "
                f"(`pulumi config set {CONFIG_NAMESPACE}:{key} <port>`)"
            )
    return messages


def resolve_unit_path(path: str) -> pathlib.Path:
    """A unitPaths entry as a folder: relative ones are read from the project directory (Pulumi.yaml's)."""
    folder = pathlib.Path(path).expanduser()
    return folder if folder.is_absolute() else PROJECT_DIR / folder


def _unit_errors(values: Mapping[str, Any]) -> list[str]:
    where = f"{CONFIG_NAMESPACE}:units / {CONFIG_NAMESPACE}:unitPaths"
    try:
        selected = units_lib.select(values["units"], [resolve_unit_path(p) for p in values["unitPaths"]])
    except units_lib.UnitError as error:
        return [f"{where}: {error}"]
    messages = []
    for unit in selected:
        for var, value in unit.agent_env.items():
            if isinstance(value, dict) and SCHEMA["properties"].get(value["setting"], {}).get("type") != "boolean":
                messages.append(
                    f"{where}: unit {unit.name!r}: agent_env {var} follows {value['setting']!r}, which is not a "
                    "boolean setting of this stack (README's settings table lists them)"
                )
    return messages


def _json_setting(text: str, schema: dict, example: str, explain=None):
    """A JSON-valued setting checked against `schema`: the data, or None when empty; ValueError
    names where the first problem is and shows `example`. `explain(problem)` may word a problem."""
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not JSON ({error.msg} at character {error.pos}); expected {example}") from None
    problems = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if problems:
        where = "/".join(str(p) for p in problems[0].path)
        message = (explain and explain(problems[0])) or problems[0].message
        raise ValueError(f"{'at ' + where + ': ' if where else ''}{message}; expected {example}")
    return data


BUDGETS_EXAMPLE = '{"<name>": {"dailyUsd": <number above 0>, "monthlyUsd": <number above 0>}}'


def parse_budgets(text: str) -> dict[str, dict[str, float]]:
    """budgetUsers / budgetTeams as {name: {"daily"|"monthly": usd}}; raises ValueError with the reason."""
    data = _json_setting(text, BUDGETS_SCHEMA, BUDGETS_EXAMPLE) or {}
    return {name: {BUDGET_PERIODS[k]: float(v) for k, v in periods.items()} for name, periods in data.items()}


def _price_problem(problem) -> str | None:
    if "propertyNames" in problem.schema_path:
        return f"{problem.instance!r} is not a model name (letters, digits and . _ : / @ + - only)"
    return None


def parse_prices(text: str) -> dict[str, dict[str, float]]:
    """codexPrices as {model: {"input"|"cachedInput"|"output": USD per million tokens}}; raises ValueError with the reason."""
    data = _json_setting(text, PRICES_SCHEMA, PRICES_EXAMPLE, _price_problem) or {}
    return {model: {kind: float(price[kind]) for kind in PRICE_KINDS} for model, price in data.items()}


def parse_fractions(text: str) -> list[float]:
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number") from None
        if not 0 < value <= 10:
            raise ValueError(f"{part} is not above 0 and at most 10")
        values.append(value)
    if len(set(values)) != len(values):
        raise ValueError("a fraction is listed twice")
    return sorted(values)


def _alerting_errors(values: Mapping[str, Any]) -> list[str]:
    messages = []
    email = {k: values[k] for k in EMAIL_KEYS}
    given = [k for k, v in email.items() if v]
    if (given or values["alertEmailUsername"] or values["alertEmailPassword"]) and len(given) != len(email):
        missing = [k for k in EMAIL_KEYS if k not in given]
        messages.append(
            f"{CONFIG_NAMESPACE}:{missing[0]}: the e-mail receiver needs all of {', '.join(EMAIL_KEYS)}; "
            f"{', '.join(missing)} missing"
        )
    if values["alertEmailPassword"] and not values["alertEmailUsername"]:
        messages.append(f"{CONFIG_NAMESPACE}:alertEmailUsername: alertEmailPassword is set, so the SMTP user name is needed too")
    for key in ("budgetUsers", "budgetTeams"):
        try:
            parse_budgets(values[key])
        except ValueError as error:
            messages.append(f"{CONFIG_NAMESPACE}:{key}: {error}")
    try:
        parse_prices(values["codexPrices"])
    except ValueError as error:
        messages.append(f"{CONFIG_NAMESPACE}:codexPrices: {error}")
    try:
        parse_fractions(values["budgetWarnFractions"])
    except ValueError as error:
        messages.append(f"{CONFIG_NAMESPACE}:budgetWarnFractions: {error}; give fractions like 0.8,0.9,1")
    return messages


def plaintext_secrets(raw: Mapping[str, Any], is_secret) -> None:
    """Refuse every secret setting (SECRET_KEYS: alerting URLs, passwords, the datasource master key)
    stored in plain text in the stack's config file.

    `is_secret(key)` says whether the key was set with `pulumi config set --secret`.
    """
    errors = [
        f"{CONFIG_NAMESPACE}:{key}: holds a secret (a URL, password or key) but is stored in plain text; set it again with "
        f"`pulumi config set --secret {CONFIG_NAMESPACE}:{key} <value>`"
        for key in SECRET_KEYS
        if raw.get(key) and not is_secret(key)
    ]
    if errors:
        raise SettingsError("invalid stack configuration:\n  " + "\n  ".join(errors))


def _coerce(raw: Mapping[str, Any]) -> dict:
    """Pulumi config values arrive as strings; turn integer/boolean-looking ones into their type.

    Values that do not convert are left as strings so the schema names them.
    """
    out: dict = {}
    for key, value in raw.items():
        t = SCHEMA["properties"].get(key, {}).get("type")
        if isinstance(value, str) and t == "integer":
            try:
                value = int(value.strip())
            except ValueError:
                pass
        elif isinstance(value, str) and t == "number":
            try:
                number = float(value.strip())
            except ValueError:
                pass
            else:
                # Non-finite values stay strings so the schema names them.
                if number == number and number not in (float("inf"), float("-inf")):
                    value = int(number) if number.is_integer() else number
        elif isinstance(value, str) and t == "boolean" and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        elif isinstance(value, str) and t == "array":
            # Pulumi passes a list set in Pulumi.<stack>.yaml (or with `config set --path`) as JSON text.
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


@dataclass(frozen=True)
class Settings:
    otlp_http_port: int
    otlp_grpc_port: int
    infra_port: int
    infra_tls_cert_file: str
    infra_tls_key_file: str
    infra_tls_ca_file: str
    opensearch_port: int
    dashboards_port: int
    prometheus_port: int
    collector_metrics_port: int
    opensearch_heap_mb: int
    opensearch_raise_limits: bool
    collector_image: str
    prometheus_image: str
    opensearch_image: str
    dashboards_image: str
    log_tool_details: bool
    log_user_prompts: bool
    include_account_uuid: bool
    include_session_id: bool
    metric_export_interval_ms: int
    logs_export_interval_ms: int
    log_retention_days: int
    trace_retention_days: int
    prometheus_datasource: bool
    host_name: str
    api_host: str
    purge_volumes_on_destroy: bool
    delivery_retry_hours: int
    alert_cost_per_hour_usd: float
    alert_api_error_rate_percent: float
    alert_collector_queue_percent: float
    alert_for_minutes: int
    alertmanager_address: str
    alertmanager_image: str
    alertmanager_port: int
    alert_webhook_url: str = field(repr=False)  # a secret
    alert_slack_webhook_url: str = field(repr=False)  # a secret
    alert_slack_channel: str
    alert_email_to: str
    alert_email_from: str
    alert_email_smarthost: str
    alert_email_username: str
    alert_email_password: str = field(repr=False)  # a secret
    alert_email_require_tls: bool
    alert_critical_receivers: str
    alert_warning_receivers: str
    alert_group_by: str
    alert_group_wait_seconds: int
    alert_group_interval_minutes: int
    alert_repeat_interval_hours: int
    budget_daily_usd: float
    budget_monthly_usd: float
    budget_users: str
    budget_teams: str
    budget_warn_fractions: str
    alert_cost_spike_factor: float
    alert_cost_spike_min_usd: float
    units: tuple[str, ...]
    unit_paths: tuple[str, ...]
    codex_prices: str
    team_id: str
    department: str
    cost_center: str
    datasource_master_key: str = field(repr=False)  # a secret
    role: str
    cluster_urls: str
    cluster_ca_cert: str
    cluster_admin_user: str
    cluster_admin_password: str = field(repr=False)  # a secret
    dashboards_url: str
    machines: str
    prometheus_bind_address: str
    prometheus_tls_cert_file: str
    prometheus_tls_key_file: str
    prometheus_ca_cert: str
    machine_name: str
    team_stack: str
    machine_password: str = field(repr=False)  # a secret
    team_prometheus_url: str
    machine_metrics_port: int

    # --- roles (components/roles.py)
    @property
    def cluster_url_list(self) -> list[str]:
        return [u for u in self.cluster_urls.split(",") if u]

    @property
    def machine_list(self) -> list[str]:
        return [m for m in self.machines.split(",") if m]

    @cached_property
    def selected_units(self) -> tuple[units_lib.Unit, ...]:
        """The units this stack uses (`units`, then `unitPaths`), checked (validate() refused any that fail)."""
        return units_lib.select(self.units, [resolve_unit_path(p) for p in self.unit_paths])

    @cached_property
    def stream_table(self) -> telemetry.StreamTable:
        """The log streams of the selected units and the core (components/telemetry.py)."""
        return telemetry.table_for(self.selected_units)

    @property
    def trusted_lane_enabled(self) -> bool:
        return self.infra_port != 0 and bool(self.infra_tls_cert_file)

    # --- alerting
    @property
    def alert_receivers(self) -> dict[str, bool]:
        """Which receivers are configured, by kind (webhook, slack, email)."""
        return {
            "webhook": bool(self.alert_webhook_url),
            "slack": bool(self.alert_slack_webhook_url),
            "email": bool(self.alert_email_to),
        }

    @property
    def alertmanager_enabled(self) -> bool:
        return any(self.alert_receivers.values())

    @property
    def user_budgets(self) -> dict[str, dict[str, float]]:
        return parse_budgets(self.budget_users)

    @property
    def team_budgets(self) -> dict[str, dict[str, float]]:
        return parse_budgets(self.budget_teams)

    @property
    def codex_price_table(self) -> dict[str, dict[str, float]]:
        """codexPrices parsed: model -> USD per million input, cachedInput and output tokens ({} when unset)."""
        return parse_prices(self.codex_prices)

    @property
    def default_budgets(self) -> dict[str, float]:
        return {p: v for p, v in (("daily", self.budget_daily_usd), ("monthly", self.budget_monthly_usd)) if v}

    @property
    def warn_fractions(self) -> list[float]:
        return parse_fractions(self.budget_warn_fractions)

    @property
    def team_attributes(self) -> dict[str, str]:
        """Resource attributes agents carry, by attribute name (empty ones left out)."""
        pairs = (("team.id", self.team_id), ("department", self.department), ("cost_center", self.cost_center))
        return {k: v for k, v in pairs if v}

    @property
    def infra_tls_host_paths(self) -> dict[str, str]:
        """Trusted-lane TLS material on the Docker host, keyed by setting name."""
        return {
            "infraTlsCertFile": self.infra_tls_cert_file,
            "infraTlsKeyFile": self.infra_tls_key_file,
            "infraTlsCaFile": self.infra_tls_ca_file,
        }

    # URLs from the machine running `pulumi up` (published ports).
    def api_url(self, port: int) -> str:
        host = self.api_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def opensearch_api_url(self) -> str:
        return self.api_url(self.opensearch_port)

    @property
    def dashboards_api_url(self) -> str:
        return self.api_url(self.dashboards_port)

    @property
    def prometheus_api_url(self) -> str:
        return self.api_url(self.prometheus_port)

    # URLs inside clawker-net (container DNS names).
    @property
    def opensearch_internal_url(self) -> str:
        return f"http://{names.OPENSEARCH}:{self.opensearch_port}"

    @property
    def prometheus_internal_url(self) -> str:
        return f"http://{names.PROMETHEUS}:{self.prometheus_port}"


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def validate(raw: Mapping[str, Any]) -> Settings:
    """Validate raw config values (strings or typed) and return Settings.

    Raises SettingsError listing every problem, each naming its key.
    """
    values = _coerce(raw)
    errors = _schema_errors(values)
    if errors:
        raise SettingsError("invalid stack configuration:\n  " + "\n  ".join(errors))
    merged = {k: p["default"] for k, p in SCHEMA["properties"].items()}
    merged.update(values)
    # Pulumi hands the program every key Pulumi.yaml declares, with its default when the stack sets
    # none: a key counts as set by the stack only when its value differs from that default.
    given = {k for k, v in values.items() if k not in SCHEMA["properties"] or v != SCHEMA["properties"][k]["default"]}
    errors = _cross_field_errors(merged) + roles.role_errors(merged, given)
    if errors:
        raise SettingsError("invalid stack configuration:\n  " + "\n  ".join(errors))
    by_field = {_snake(k): tuple(v) if isinstance(v, list) else v for k, v in merged.items()}
    assert {f.name for f in fields(Settings)} == set(by_field), "Settings and SCHEMA out of step"
    return Settings(**by_field)


def check_host_files(settings: Settings, docker_host: str = "") -> None:
    """Refuse TLS paths that do not name readable files, before any container exists.

    Docker would otherwise bind-mount a missing path as an empty directory and
    the collector would crash-loop. Skipped for a remote Docker host, whose
    files this machine cannot see.
    """
    if docker_host.startswith(("tcp://", "ssh://", "http://", "https://")):
        return
    paths = dict(settings.infra_tls_host_paths) if settings.trusted_lane_enabled else {}
    if settings.role == "team" and settings.prometheus_tls_cert_file:
        paths.update(prometheusTlsCertFile=settings.prometheus_tls_cert_file, prometheusTlsKeyFile=settings.prometheus_tls_key_file)
    errors = []
    for key, path in paths.items():
        if not os.path.isabs(path):
            errors.append(f"{CONFIG_NAMESPACE}:{key}: {path!r} must be an absolute path on the Docker host")
        elif not (os.path.isfile(path) and os.access(path, os.R_OK)):
            errors.append(f"{CONFIG_NAMESPACE}:{key}: {path} is not a readable file; point it at the PEM file")
    if errors:
        raise SettingsError("invalid stack configuration:\n  " + "\n  ".join(errors))


def warnings_for(settings: Settings) -> list[str]:
    """Non-fatal configuration facts the user must hear about on every run."""
    out = []
    if settings.infra_port != 0 and not settings.trusted_lane_enabled:
        out.append(
            f"{CONFIG_NAMESPACE}:infraPort is {settings.infra_port} but no TLS material is set "
            "(infraTlsCertFile, infraTlsKeyFile, infraTlsCaFile): the trusted mTLS lane is left out of the "
            "collector config, so Envoy, CoreDNS, control-plane and eBPF records are not ingested. "
            "Set the three paths, or set infraPort to 0 to silence this warning."
        )
    return out


def is_pulumi_secret(key: str) -> bool:
    """Was this key of our namespace set with `pulumi config set --secret`?"""
    from pulumi.runtime import config as runtime_config

    return runtime_config.is_config_secret(f"{CONFIG_NAMESPACE}:{key}")


def load() -> Settings:
    """This stack's settings from Pulumi's config: validated, every secret set as a secret."""
    raw = read_pulumi_config()
    settings = validate(raw)
    plaintext_secrets(raw, is_pulumi_secret)
    return settings


def read_pulumi_config() -> dict:
    """Raw values of every key set in this project's namespace, unknown keys included."""
    from pulumi.runtime import config as runtime_config

    # Unknown keys must be caught too, so read the whole namespace, not just known keys.
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{CONFIG_NAMESPACE}:"
    return {key[len(prefix):]: value for key, value in everything.items() if key.startswith(prefix)}
