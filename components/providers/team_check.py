"""A machine stack's check of the team it ships to, before its collector is touched.

The collector container depends on this resource, and its inputs are exactly what the
collector's environment carries (every cluster URL, the CA, the credential, the remote-write
URL and its CA): any change that would re-create the collector updates this first, and a wrong
password, an untrusted CA or an unreachable cluster fails `pulumi up` here, naming the setting,
while the running collector keeps its queue and keeps trying with what it had.

The cluster is asked `_plugins/_security/authinfo` (any authenticated user may read its own
identity; the machine's role grants nothing else to ask), the team Prometheus `/-/ready`.

Like the collector, which fails over from one of `clusterUrls` to the next, the check accepts
the cluster when ANY of its URLs answers with the credential accepted. When none does, the
answers decide which setting is named: a node that refused the credential (401/403) names
`machinePassword`, a certificate the CA does not verify names `clusterCaCert`, and only when no
URL gave a final answer (connection refused or timed out, a 5xx) is it `clusterUrls`.
A refused credential and a refused certificate are final: asking again gives the same answer,
so the check fails at once on them. Only connection errors, timeouts and 5xx answers are asked
again, for at most CHECK_TIMEOUT_S.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from components.providers.http_client import RETRYABLE_STATUS, ca_file, certificate_refused, describe_exception, reason_of
from components.providers.kit import plain, without_provider

# How long answers that may change (connection errors, timeouts, 5xx) are asked again.
CHECK_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.5
NAMESPACE = "clawker-monitor"
INPUTS = ("cluster_urls", "cluster_ca_pem", "username", "password", "remote_write_url", "prometheus_ca_pem")
# What each answer means, most specific first: the setting a failure names is the first kind found.
ACCEPTED, REFUSED, UNTRUSTED, OTHER, UNREACHABLE = "accepted", "refused", "untrusted", "other", "unreachable"
FINAL = (REFUSED, UNTRUSTED, OTHER)


class TeamCheckError(Exception):
    """The team's cluster or Prometheus refused or could not be reached; the message names the setting."""


@dataclass(frozen=True)
class Answer:
    url: str
    kind: str
    detail: str = ""
    status: Optional[int] = None


@dataclass(frozen=True)
class Service:
    """One thing a machine ships to, and the settings that name its address, CA and credential."""

    what: str
    urls: tuple
    path: str
    ca_pem: str
    address: str
    ca: str
    credential: str = "machinePassword"


def ask(url: str, path: str, *, auth: tuple, ca_pem: str, timeout: tuple) -> Answer:
    """One request, never retried (requests' default adapter), classified."""
    import requests  # only a check that talks to the team pays for it (http_client._OnFirstUse: issue 21)

    verify = ca_file(ca_pem) if ca_pem else True
    try:
        with requests.Session() as session:
            resp = session.get(f"{url.rstrip('/')}/{path}", auth=auth, verify=verify, timeout=timeout, allow_redirects=False)
    except requests.exceptions.SSLError as exc:
        return Answer(url, UNTRUSTED if certificate_refused(exc) else UNREACHABLE, describe_exception(exc))
    except requests.RequestException as exc:
        return Answer(url, UNREACHABLE, describe_exception(exc))
    if resp.status_code == 200:
        return Answer(url, ACCEPTED, status=200)
    kind = REFUSED if resp.status_code in (401, 403) else UNREACHABLE if resp.status_code in RETRYABLE_STATUS else OTHER
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    return Answer(url, kind, f"HTTP {resp.status_code}: {reason_of(body)[:300]}", resp.status_code)


def ask_any(service: Service, auth: tuple, bound_s: float) -> list[Answer]:
    """Ask each URL in order until one accepts (returned alone); otherwise every URL's last answer.

    A round where every answer may change (UNREACHABLE) is repeated until bound_s runs out; a
    final answer (a refused credential or certificate, an unexpected status) ends the asking."""
    deadline = time.monotonic() + bound_s
    while True:
        answers = []
        for url in service.urls:
            left = max(deadline - time.monotonic(), 0.5)
            answer = ask(url, service.path, auth=auth, ca_pem=service.ca_pem,
                         timeout=(min(CONNECT_TIMEOUT_S, left), min(READ_TIMEOUT_S, left)))
            if answer.kind == ACCEPTED:
                return [answer]
            answers.append(answer)
        if any(a.kind in FINAL for a in answers) or time.monotonic() + RETRY_PAUSE_S >= deadline:
            return answers
        time.sleep(RETRY_PAUSE_S)


def problem(service: Service, answers: Sequence[Answer], bound_s: float) -> Optional[str]:
    """None when the service accepted; otherwise one sentence naming the setting to fix."""
    if any(a.kind == ACCEPTED for a in answers):
        return None
    chosen = next((a for kind in FINAL for a in answers if a.kind == kind), None)
    if chosen is None:
        tried = "; ".join(f"{a.url}: {a.detail}" for a in answers)
        return (f"{NAMESPACE}:{service.address}: {service.what} could not be reached at any of its "
                f"{len(answers)} URL(s) within {bound_s:g}s: {tried}")
    if chosen.kind == REFUSED:
        text = (f"{NAMESPACE}:{service.credential}: {service.what} at {chosen.url} refused this machine's credential "
                f"({chosen.status}); if the team stack re-issued it, run `pulumi up` again to read the new one; if the "
                "machine was removed from the team stack's `machines`, ask for it to be added back")
    elif chosen.kind == UNTRUSTED:
        text = (f"{NAMESPACE}:{service.ca}: the certificate of {service.what} at {chosen.url} is not signed by the "
                f"configured CA (or, when it is empty, by one this machine trusts): {chosen.detail}")
    else:
        text = f"{NAMESPACE}:{service.address}: {service.what} at {chosen.url} answered {chosen.detail}; is that the right address?"
    others = [f"{a.url}: {a.detail}" for a in answers if a is not chosen]
    return text + (f" (its other URLs: {'; '.join(others)})" if others else "")


def services(p: dict) -> list[Service]:
    urls = p["cluster_urls"]
    cluster = Service("the team's OpenSearch cluster", tuple([urls] if isinstance(urls, str) else urls),
                      "_plugins/_security/authinfo", p["cluster_ca_pem"] or "", address="clusterUrls", ca="clusterCaCert")
    base = p["remote_write_url"].rsplit("/api/v1/write", 1)[0]
    prometheus = Service("the team Prometheus", (base,), "-/ready", p["prometheus_ca_pem"] or "",
                         address="teamPrometheusUrl", ca="prometheusCaCert")
    return [cluster, prometheus]


def check_team(props: dict) -> None:
    """Raise TeamCheckError naming the setting when the team's cluster or Prometheus refuses us."""
    p = {k: plain(props.get(k)) for k in INPUTS}
    bound = float(props.get("timeout_s") or CHECK_TIMEOUT_S)
    auth = (p["username"], p["password"])
    asked = services(p)
    # Both at once: an unreachable cluster and an unreachable Prometheus cost one bound, not two.
    with concurrent.futures.ThreadPoolExecutor(len(asked)) as pool:
        answers = list(pool.map(lambda s: ask_any(s, auth, bound), asked))
    problems = [text for s, a in zip(asked, answers) if (text := problem(s, a, bound))]
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
            # Every URL the collector's environment carries (it fails over from one to the next).
            "cluster_urls": team.cluster_urls,
            "cluster_ca_pem": team.cluster_ca_pem,
            "username": team.username,
            "password": pulumi.Output.secret(team.password),
            "remote_write_url": team.remote_write_url,
            "prometheus_ca_pem": team.prometheus_ca_pem,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(TeamCheckProvider(), name, props, opts)
