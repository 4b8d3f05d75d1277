"""Which settings belong to which role, and what each role requires (README "Running for a team").

A stack is one of three roles (settings `role`):
- local: the whole stack on this Docker host (the default; what every other part of the README describes);
- team: no OpenSearch node and no collector of its own; it bootstraps an existing secured cluster,
  runs Dashboards and the team Prometheus, and issues one credential per machine;
- machine: the collector only, shipping to the team's cluster and Prometheus.

`role_errors` refuses a setting that only another role reads (it would silently do nothing) and
a role without what it needs, naming the key and the fix, before any resource is registered.
components/stack.py chooses the components each role runs.
"""

from __future__ import annotations

from typing import Any, Mapping

NAMESPACE = "clawker-monitor"
LOOPBACK = "127.0.0.1"

TEAM_KEYS = (
    "machines", "clusterAdminUser", "clusterAdminPassword", "dashboardsUrl",
    "prometheusBindAddress", "prometheusTlsCertFile", "prometheusTlsKeyFile",
)
MACHINE_KEYS = ("machineName", "teamStack", "machinePassword", "teamPrometheusUrl", "machineMetricsPort")
SHARED_KEYS = ("clusterUrls", "clusterCaCert", "prometheusCaCert")
# What a machine reads from the team stack unless teamStack names one.
MACHINE_EXPLICIT_KEYS = ("clusterUrls", "machinePassword", "teamPrometheusUrl")

# Settings of services a role does not run, by service.
_OPENSEARCH_NODE = (
    "the OpenSearch node",
    ("opensearchPort", "opensearchHeapMb", "opensearchRaiseLimits", "opensearchImage", "datasourceMasterKey"),
)
_COLLECTOR = (
    "the collector (agents send to a machine stack's)",
    (
        "otlpHttpPort", "otlpGrpcPort", "infraPort", "infraTlsCertFile", "infraTlsKeyFile", "infraTlsCaFile",
        "collectorImage", "collectorMetricsPort", "deliveryRetryHours", "logToolDetails", "logUserPrompts",
        "includeAccountUuid", "includeSessionId", "metricExportIntervalMs", "logsExportIntervalMs",
        "teamId", "department", "costCenter",
    ),
)
_TEAM_SERVICES = (
    "Dashboards, Prometheus, the bootstrap or alerting (the team stack runs them)",
    ("dashboardsPort", "dashboardsImage", "prometheusPort", "logRetentionDays", "traceRetentionDays",
     "prometheusDatasource", "apiHost", "alertmanagerImage", "alertmanagerPort", "alertmanagerAddress"),
)
_TEAM_SERVICE_PREFIXES = ("alert", "budget")

NOT_RUN = {"local": (), "team": (_OPENSEARCH_NODE, _COLLECTOR), "machine": (_OPENSEARCH_NODE, _TEAM_SERVICES)}


def owner_roles(key: str) -> tuple[str, ...]:
    """The roles other than local that read a role setting ('' for settings every role may carry)."""
    if key in TEAM_KEYS:
        return ("team",)
    if key in MACHINE_KEYS:
        return ("machine",)
    if key in SHARED_KEYS:
        return ("team", "machine")
    return ()


def _not_run(role: str, key: str) -> str:
    for service, keys in NOT_RUN[role]:
        if key in keys or (service == _TEAM_SERVICES[0] and key.startswith(_TEAM_SERVICE_PREFIXES)):
            return service
    return ""


def role_errors(values: Mapping[str, Any], given: set[str]) -> list[str]:
    """Problems of `values` (defaults merged in) for its role; `given` are the keys the stack sets."""
    role = values["role"]
    out = []

    def err(key: str, text: str) -> None:
        out.append(f"{NAMESPACE}:{key}: {text}")

    for key in sorted(given):
        owners = owner_roles(key)
        if owners and role not in owners:
            err(key, f"is a setting of the {' and '.join(owners)} role, but this stack's role is {role}; "
                     f"remove it with `pulumi config rm {NAMESPACE}:{key}` or set {NAMESPACE}:role")
            continue
        service = _not_run(role, key)
        if service:
            err(key, f"configures {service}, which a {role} stack does not run; "
                     f"remove it with `pulumi config rm {NAMESPACE}:{key}`")
    if role == "team":
        _team_errors(values, err)
    elif role == "machine":
        _machine_errors(values, given, err)
    return out


def _team_errors(values: Mapping[str, Any], err) -> None:
    from components.services.prometheus_web import bcrypt_problem

    problem = bcrypt_problem()
    if problem:
        err("role", problem)
    if not values["clusterUrls"]:
        err("clusterUrls", "a team stack bootstraps an existing OpenSearch cluster: give its HTTPS URL(s), "
                           "e.g. `pulumi config set clusterUrls https://search.example.com:9200`")
    if not values["clusterAdminPassword"]:
        err("clusterAdminPassword", "a team stack needs the cluster's admin password: "
                                    f"`pulumi config set --secret {NAMESPACE}:clusterAdminPassword <password>`")
    tls = [k for k in ("prometheusTlsCertFile", "prometheusTlsKeyFile") if values[k]]
    if len(tls) == 1:
        missing = "prometheusTlsKeyFile" if tls == ["prometheusTlsCertFile"] else "prometheusTlsCertFile"
        err(missing, f"the team Prometheus's TLS needs both prometheusTlsCertFile and prometheusTlsKeyFile; {tls[0]} is set")
    if values["prometheusBindAddress"] != LOOPBACK and len(tls) != 2:
        err("prometheusBindAddress", f"{values['prometheusBindAddress']} publishes Prometheus beyond this host, which needs "
                                     "TLS (authentication is always on): set prometheusTlsCertFile and prometheusTlsKeyFile, "
                                     f"or keep it at {LOOPBACK}")
    machines = [m for m in values["machines"].split(",") if m]
    twice = sorted({m for m in machines if machines.count(m) > 1})
    if twice:
        err("machines", f"{', '.join(twice)} listed more than once; every machine needs its own name")


def _machine_errors(values: Mapping[str, Any], given: set[str], err) -> None:
    if not values["machineName"]:
        err("machineName", "a machine stack needs its name (one of the team stack's machines): "
                           f"`pulumi config set {NAMESPACE}:machineName <name>`")
    explicit = [k for k in MACHINE_EXPLICIT_KEYS if k in given and values[k]]
    if values["teamStack"]:
        for key in explicit:
            err(key, f"teamStack ({values['teamStack']}) already gives it; set one or the other")
    else:
        missing = [k for k in MACHINE_EXPLICIT_KEYS if not values[k]]
        if missing:
            err(missing[0] if explicit else "teamStack",
                "a machine stack needs a team to ship to: set teamStack to the team stack (org/project/stack), "
                f"or all of {', '.join(MACHINE_EXPLICIT_KEYS)} ({', '.join(missing)} missing)")
