"""The machine role's part of the collector config: ship to the team, name the machine.

A separate part applied over the rendered config (components/services/collector_config.py),
so the lanes, the durable hop and the trusted lane stay exactly as the local role has them:
- every opensearch exporter writes to the team's cluster over verified TLS (the CA is a file
  uploaded into the container) with this machine's credential; with several `clusterUrls` each
  store gets one exporter per URL, in that order, behind the store's failover connector: a bulk
  that fails on the first node is sent to the next (and the first is tried again every
  FAILOVER_RETRY_INTERVAL), and only when every node failed does the record go back to the
  on-disk queue to be retried (README "Running for a team": which node failures are survived);
- the metrics pipelines remote-write to the team Prometheus instead of serving a scrape
  endpoint, every series labelled with the machine's name;
- every record and span gets the resource attribute `machine` at intake, before the queue;
- the collector asks the cluster, every CREDENTIAL_CHECK_INTERVAL and at each of its URLs, who it
  is with this machine's credential (GET _plugins/_security/authinfo, an httpcheck receiver using
  the same basicauth and CA as the exporters) and remote-writes the answer as the gauge
  `clawker_machine_credential_refused` (1: the cluster answered 401, the credential is refused;
  0: any other answer), labelled with the machine like every series; a refusal is also printed in
  its log by the debug exporter with the reason and what to do (REFUSED_WHY). The opensearch
  exporter itself shows a refused bulk only as a body it cannot parse (the security plugin's
  plain-text 401), so without this the log would not say why records wait.

Nothing secret is in the file: the cluster URL, the user and the password are `${env:...}`
references the collector resolves at start from the container's environment (set from
Pulumi secrets), so the rendered config on disk holds no credential.
"""

from __future__ import annotations

import copy

MACHINE_ATTRIBUTE = "machine"
AUTH = "basicauth/machine"
REMOTE_WRITE = "prometheusremotewrite/team"
MACHINE_PROCESSOR = "resource/machine"
CLUSTER_CA_PATH = "/etc/otel-collector/cluster-ca.pem"
PROMETHEUS_CA_PATH = "/etc/otel-collector/prometheus-ca.pem"
# The container's environment the config refers to (components/services/collector.py sets it).
ENV = {
    "cluster_url": "CLAWKER_CLUSTER_URL",
    "username": "CLAWKER_MACHINE_USER",
    "password": "CLAWKER_MACHINE_PASSWORD",
    "remote_write_url": "CLAWKER_REMOTE_WRITE_URL",
}
# The credential check (see the module docstring); the receiver's other metrics are switched off.
CREDENTIAL_CHECK = "httpcheck/credential"
CREDENTIAL_CHECK_PATH = "/_plugins/_security/authinfo"
CREDENTIAL_CHECK_INTERVAL = "15s"
REFUSED_METRIC = "clawker.machine.credential_refused"  # clawker_machine_credential_refused in Prometheus
REFUSED_STATUS = 401
# No commas: the debug exporter joins a datapoint's attributes with commas.
REFUSED_WHY = (
    "the team cluster refused this machine's credential (HTTP 401): the machine was removed from the team stack's "
    "machines (revoked) or its password changed. Records wait in the on-disk queue and nothing is lost; to deliver "
    "them add the machine back to machines and run pulumi up in the team stack and then in this machine stack"
)
REFUSED_DESCRIPTION = (
    "1 when the team cluster refuses this machine's credential (HTTP 401 from _plugins/_security/authinfo): "
    "records wait in the collector's on-disk queue until the machine is back in the team stack's machines; "
    "0 when the cluster accepts it."
)
CHECK_PIPELINE = "metrics/credential-check"
CHECKED_PIPELINE = "metrics/credential"
REFUSED_PIPELINE = "metrics/credential-refused"
CHECK_ROUTE = "routing/credential"
CHECK_TRANSFORM = "transform/credential-check"
CHECKED_LABELS = "transform/credential-labels"
REFUSED_REASON = "transform/credential-why"
# Receivers that take records from senders (the loop receivers of the durable hop do not).
INTAKE_RECEIVERS = ("otlp", "otlp/infra", "prometheus/self")


def cluster_url_env(i: int) -> str:
    """The environment variable holding the i-th (0-based) of the cluster's URLs."""
    return ENV["cluster_url"] + (f"_{i + 1}" if i else "")


def _env(key: str) -> str:
    return "${env:" + ENV[key] + "}"


def _tls(ca_path: str, verify_with_ca: bool) -> dict:
    # Without a CA file the system's trusted CAs verify the server; verification is never off.
    return {"ca_file": ca_path} if verify_with_ca else {}


def _fail_over(out: dict, cluster_urls: int) -> None:
    """Each store's opensearch exporter once per further cluster URL, as the next priority level of its failover connector."""
    pipelines = out["service"]["pipelines"]
    for connector_name, connector in list(out["connectors"].items()):
        if connector_name.split("/")[0] != "failover":
            continue
        (first,) = connector["priority_levels"][0]
        (exporter,) = pipelines[first]["exporters"]
        for i in range(1, cluster_urls):
            body = copy.deepcopy(out["exporters"][exporter])
            body["http"]["endpoint"] = "${env:" + cluster_url_env(i) + "}"
            out["exporters"][f"{exporter}-url{i + 1}"] = body
            pipelines[f"{first}-url{i + 1}"] = {**copy.deepcopy(pipelines[first]), "exporters": [f"{exporter}-url{i + 1}"]}
            connector["priority_levels"].append([f"{first}-url{i + 1}"])


def _credential_check(out: dict, cluster_urls: int, cluster_ca: bool) -> None:
    """httpcheck of every cluster URL with the machine's credential -> clawker_machine_credential_refused.

    httpcheck.status (receiver/httpcheckreceiver/scraper.go at v0.152.0) has one datapoint per
    status class and target; only the class of the answer carries `http.status_code`, and none
    does when the URL did not answer. The transform makes every datapoint 1 for a 401 and 0
    otherwise; the routing connector keeps the answered one per URL (copied to the log pipeline
    when it is a refusal) and drops the rest, so an unreachable URL reports nothing."""
    status = "httpcheck.status"
    out["receivers"][CREDENTIAL_CHECK] = {
        "collection_interval": CREDENTIAL_CHECK_INTERVAL,
        "metrics": {"httpcheck.duration": {"enabled": False}, "httpcheck.error": {"enabled": False}},
        "targets": [
            {
                "endpoint": "${env:" + cluster_url_env(i) + "}" + CREDENTIAL_CHECK_PATH,
                "method": "GET",
                "timeout": "10s",
                "auth": {"authenticator": AUTH},
                **({"tls": _tls(CLUSTER_CA_PATH, True)} if cluster_ca else {}),
            }
            for i in range(cluster_urls)
        ],
    }
    processors = out["processors"]
    processors[CHECK_TRANSFORM] = {
        "error_mode": "ignore",
        "metric_statements": [
            {
                "context": "datapoint",
                "statements": [
                    f'set(datapoint.value_int, 0) where metric.name == "{status}" and datapoint.attributes["http.status_code"] != {REFUSED_STATUS}',
                ],
            },
            {
                "context": "metric",
                "statements": [
                    f'convert_sum_to_gauge() where metric.name == "{status}"',
                    f'set(metric.description, "{REFUSED_DESCRIPTION}") where metric.name == "{status}"',
                    # No unit: "1" would make the Prometheus name end in _ratio.
                    f'set(metric.unit, "") where metric.name == "{status}"',
                    f'set(metric.name, "{REFUSED_METRIC}") where metric.name == "{status}"',
                ],
            },
        ],
    }
    processors[CHECKED_LABELS] = {
        "error_mode": "ignore",
        "metric_statements": [
            {
                "context": "datapoint",
                "statements": [f'delete_key(datapoint.attributes, "{key}")' for key in ("http.status_code", "http.status_class", "http.method")],
            }
        ],
    }
    processors[REFUSED_REASON] = {
        "error_mode": "ignore",
        "metric_statements": [{"context": "datapoint", "statements": [f'set(datapoint.attributes["why"], "{REFUSED_WHY}")']}],
    }
    # The routing connector parses its conditions without context names (router.go at v0.152.0).
    out["connectors"][CHECK_ROUTE] = {
        "table": [
            {"context": "datapoint", "condition": "value_int == 1", "action": "copy", "pipelines": [REFUSED_PIPELINE]},
            {"context": "datapoint", "condition": 'attributes["http.status_code"] != nil', "pipelines": [CHECKED_PIPELINE]},
        ],
    }
    out["service"]["pipelines"].update({
        CHECK_PIPELINE: {"receivers": [CREDENTIAL_CHECK], "processors": ["memory_limiter", CHECK_TRANSFORM], "exporters": [CHECK_ROUTE]},
        CHECKED_PIPELINE: {"receivers": [CHECK_ROUTE], "processors": ["memory_limiter", CHECKED_LABELS], "exporters": [REMOTE_WRITE]},
        REFUSED_PIPELINE: {"receivers": [CHECK_ROUTE], "processors": ["memory_limiter", REFUSED_REASON], "exporters": ["debug"]},
    })


def machine_part(config: dict, machine: str, *, cluster_ca: bool, prometheus_ca: bool, cluster_urls: int = 1) -> dict:
    """`config` (the local role's render) turned into a machine's: see the module docstring.

    `cluster_urls`: how many URLs the cluster has (CLAWKER_CLUSTER_URL, then _2, _3, ...)."""
    out = copy.deepcopy(config)
    auth = {"authenticator": AUTH}
    out.setdefault("extensions", {})[AUTH] = {"client_auth": {"username": _env("username"), "password": _env("password")}}
    out["service"].setdefault("extensions", []).append(AUTH)
    for name, exporter in out["exporters"].items():
        if name.split("/")[0] == "opensearch":
            http = exporter.setdefault("http", {})
            http.update(endpoint=_env("cluster_url"), auth=auth)
            if cluster_ca:
                http["tls"] = _tls(CLUSTER_CA_PATH, True)
    _fail_over(out, cluster_urls)
    out["exporters"].pop("prometheus", None)
    out["exporters"][REMOTE_WRITE] = {
        "endpoint": _env("remote_write_url"),
        "auth": auth,
        "tls": _tls(PROMETHEUS_CA_PATH, prometheus_ca),
        "external_labels": {MACHINE_ATTRIBUTE: machine},
    }
    out["processors"][MACHINE_PROCESSOR] = {
        "attributes": [{"key": MACHINE_ATTRIBUTE, "value": machine, "action": "upsert"}]
    }
    for pipeline in out["service"]["pipelines"].values():
        pipeline["exporters"] = [REMOTE_WRITE if e == "prometheus" else e for e in pipeline["exporters"]]
        if any(r in INTAKE_RECEIVERS for r in pipeline["receivers"]):
            processors = pipeline.setdefault("processors", [])
            at = 1 if processors[:1] == ["memory_limiter"] else 0
            processors.insert(at, MACHINE_PROCESSOR)
    _credential_check(out, cluster_urls, cluster_ca)
    return out
