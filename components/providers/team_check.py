"""A machine stack's check of the team it ships to, before its collector is touched.

The collector container depends on this resource, and its inputs are exactly what the
collector's environment carries (cluster URL, CA, credential, remote-write URL and CA): any
change that would re-create the collector updates this first, and a wrong password, an
untrusted CA or an unreachable cluster fails `pulumi up` here, naming the setting, while
the running collector keeps its queue and keeps trying with what it had.

The cluster is asked `_plugins/_security/authinfo` (any authenticated user may read its own
identity; the machine's role grants nothing else to ask), the team Prometheus `/-/ready`.
"""

from __future__ import annotations

from typing import Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from components.providers.http_client import ApiClient, ApiError, GaveUpError
from components.providers.kit import plain, without_provider

CHECK_TIMEOUT_S = 20.0
NAMESPACE = "clawker-monitor"
INPUTS = ("cluster_url", "cluster_ca_pem", "username", "password", "remote_write_url", "prometheus_ca_pem")


class TeamCheckError(Exception):
    """The team's cluster or Prometheus refused or could not be reached; the message names the setting."""


def _problem(what: str, url: str, error: ApiError, *, credential: str, ca: str, address: str) -> str:
    if error.status in (401, 403):
        return (f"{NAMESPACE}:{credential}: {what} at {url} refused this machine's credential ({error.status}); "
                "if the team stack re-issued it, run `pulumi up` again to read the new one; if the machine was "
                "removed from the team stack's `machines`, ask for it to be added back")
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (f"{NAMESPACE}:{ca}: the certificate of {what} at {url} is not signed by the configured CA "
                "(or, when it is empty, by one this machine trusts)")
    return f"{NAMESPACE}:{address}: {what} at {url} could not be reached: {text}"


def check_team(props: dict) -> None:
    """Raise TeamCheckError naming the setting when the team's cluster or Prometheus refuses us."""
    p = {k: plain(props.get(k)) for k in INPUTS}
    bound = float(props.get("timeout_s") or CHECK_TIMEOUT_S)
    problems = []
    cluster = ApiClient(p["cluster_url"], total_timeout_s=bound, username=p["username"],
                        password=p["password"], ca_pem=p["cluster_ca_pem"] or "")
    try:
        cluster.request("GET", "_plugins/_security/authinfo")
    except ApiError as error:
        problems.append(_problem("the team's OpenSearch cluster", p["cluster_url"], error,
                                 credential="machinePassword", ca="clusterCaCert", address="clusterUrls"))
    base = p["remote_write_url"].rsplit("/api/v1/write", 1)[0]
    prometheus = ApiClient(base, total_timeout_s=bound, username=p["username"], password=p["password"],
                           ca_pem=p["prometheus_ca_pem"] or "")
    try:
        prometheus.request("GET", "-/ready", ok=(200,))
    except ApiError as error:
        problems.append(_problem("the team Prometheus", base, error,
                                 credential="machinePassword", ca="prometheusCaCert", address="teamPrometheusUrl"))
    if problems:
        raise TeamCheckError("; ".join(problems) + " (with teamStack these come from the team stack's outputs)")


class TeamCheckProvider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        check_team(props)
        return CreateResult(id_="team-check", outs=without_provider(props))

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        changed = [k for k in INPUTS if plain(olds.get(k)) != plain(news.get(k))]
        return DiffResult(changes=bool(changed))

    def update(self, _id: str, _olds: dict, news: dict) -> UpdateResult:
        check_team(news)
        return UpdateResult(outs=without_provider(news))


class TeamCheck(Resource, module="clawker", name="TeamConnectionCheck"):
    def __init__(self, name: str, team, opts: Optional[pulumi.ResourceOptions] = None):
        """`team`: components.stack.TeamEndpoints."""
        props = {
            "cluster_url": team.cluster_url,
            "cluster_ca_pem": team.cluster_ca_pem,
            "username": team.username,
            "password": pulumi.Output.secret(team.password),
            "remote_write_url": team.remote_write_url,
            "prometheus_ca_pem": team.prometheus_ca_pem,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(TeamCheckProvider(), name, props, opts)
