"""Readiness gates: a resource that exists once a service answers its own health question.

Docker runs a container's healthcheck on a fixed interval (OpenSearch's: every
10 s, SPEC), so waiting for Docker to call a container healthy costs up to one
interval after the service is in fact ready; on a cold `pulumi up` everything
after OpenSearch waited for that. This resource asks the service the same
question the healthcheck asks (same URL, same answer required), every quarter
second, from the host, and the steps that need a ready service depend on it.
Docker's healthcheck is unchanged and keeps reporting for `docker ps`.

Inputs: `url` (the health URL as reached from where `pulumi up` runs),
`target` (the container's id: a replaced container is waited for again),
`timeout_s` (the bound). Nothing is written anywhere; delete does nothing.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.providers.kit import seconds_problem, url_problem, wait_for, without_provider

POLL_S = 0.25
_WATCHED = ("url", "target", "timeout_s")


def _healthy(status: int, _body: Any) -> bool:
    # What `curl -fsS` (the healthcheck) accepts: any answer below 400.
    return 200 <= status < 400


class ServiceReadyProvider(ResourceProvider):
    def check(self, olds: dict, news: dict) -> CheckResult:
        failures = []
        problem = url_problem(news.get("url"))
        if problem:
            failures.append(CheckFailure("url", problem))
        problem = seconds_problem(news.get("timeout_s"))
        if problem:
            failures.append(CheckFailure("timeout_s", problem))
        return CheckResult(news, failures)

    def _wait(self, props: dict) -> dict:
        url = props["url"]
        base, _, path = url.partition("://")[2].partition("/")
        scheme = url.partition("://")[0]
        wait_for(
            f"{scheme}://{base}",
            "/" + path,
            _healthy,
            timeout_s=float(props["timeout_s"]),
            what=str(props.get("what") or "the service"),
            poll_s=POLL_S,
        )
        return without_provider(props)

    def create(self, props: dict) -> CreateResult:
        return CreateResult(id_=str(props.get("target") or "ready"), outs=self._wait(props))

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        changed = [k for k in _WATCHED if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        return UpdateResult(outs=self._wait(news))

    def read(self, id_: str, props: dict) -> ReadResult:
        # Readiness is not state that drifts: refresh keeps what the last wait recorded.
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict) -> None:
        return None


class ServiceReady(Resource, module="clawker", name="ServiceReady"):
    url: pulumi.Output[str]
    target: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        url: pulumi.Input[str],
        target: pulumi.Input[str],
        timeout_s: float,
        what: str,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props = {"url": url, "target": target, "timeout_s": timeout_s, "what": what}
        super().__init__(ServiceReadyProvider(), resource_name, props, opts)
