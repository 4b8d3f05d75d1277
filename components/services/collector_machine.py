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
- every record and span gets the resource attribute `machine` at intake, before the queue.

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
    return out
