"""The thin base every OpenSearch document kind builds on (see the package docstring).

`_AssetProvider` is a named JSON document at one REST path; a kind says where,
how its body is checked and how the live document is compared. Every client is
made by `client_for`, the one place that builds an ApiClient for OpenSearch.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components.providers.diffing import changed_paths
from components.providers.http_client import CALL_TIMEOUT_S, ApiClient, GaveUpError
from components.providers.kit import is_unknown, plain, refreshed_inputs, seconds_problem, url_problem, without_provider
from components.providers.text_documents import TextMembers, decoded, encode_document

DEFAULT_TIMEOUT_S = CALL_TIMEOUT_S
# How long delete keeps trying an OpenSearch that does not answer at all.
DELETE_UNREACHABLE_S = 20.0
# Properties kept secret in state (see Datasource).
SECRET_PROPS = ("key_fingerprint",)
# What a secured cluster's `connection` input carries (ApiClient's fields of the same names).
CONNECTION_KEYS = ("username", "password", "ca_pem")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,254}$")


def client_for(url: str, timeout_s: Optional[float] = None, connection: Optional[dict] = None) -> ApiClient:
    """The client for an OpenSearch; `connection` (team role: CONNECTION_KEYS) adds auth and the CA."""
    secured = {k: str(v) for k, v in plain(connection or {}).items() if k in CONNECTION_KEYS}
    return ApiClient(url, total_timeout_s=float(timeout_s or DEFAULT_TIMEOUT_S), **secured)


def _client(props: dict) -> ApiClient:
    return client_for(props["endpoint"], props.get("timeout_s"), props.get("connection"))


def with_connection(props: dict, opts: Optional[pulumi.ResourceOptions], connection) -> tuple[dict, Optional[pulumi.ResourceOptions]]:
    """props and opts of an asset on a secured cluster: the connection is an input, secret in state.

    Without one (the local role) neither changes, so a local stack's resources are as before.
    """
    if connection is None:
        return props, opts
    secret = pulumi.ResourceOptions(additional_secret_outputs=["connection"])
    return {**props, "connection": pulumi.Output.secret(connection)}, pulumi.ResourceOptions.merge(opts, secret)


def _check_common(news: dict, failures: list) -> None:
    problem = url_problem(news.get("endpoint"))
    if problem:
        failures.append(CheckFailure("endpoint", problem))
    name = news.get("name")
    if not is_unknown(name) and not (isinstance(name, str) and _NAME.match(name)):
        failures.append(
            CheckFailure("name", f"must be lowercase letters, digits, '-', '_' or '.', got {name!r}")
        )
    problem = seconds_problem(news.get("timeout_s", DEFAULT_TIMEOUT_S))
    if problem:
        failures.append(CheckFailure("timeout_s", problem))


class _AssetProvider(TextMembers, ResourceProvider):
    """A named JSON document at one REST path; subclasses say where and how it is compared.

    Outputs mirror the inputs, with `body` replaced by the live document as
    normalised for comparison (the declared body itself when they agree).
    """

    kind = "asset"
    # On a rename the new asset is made before the old one goes (so whatever refers
    # to it is never left dangling), unless two of a kind cannot coexist.
    delete_before_replace = False

    # --- what subclasses provide
    def path(self, name: str) -> str:
        raise NotImplementedError

    def body_problems(self, name: str, body: dict) -> list[str]:
        return []

    def fetch(self, client: ApiClient, name: str) -> Optional[dict]:
        """The live document in the shape of `body`, or None when it does not exist."""
        raise NotImplementedError

    def normalise(self, live: dict, desired: dict) -> dict:
        """Both documents pass through this before being compared."""
        return plain(live)

    def apply(self, client: ApiClient, name: str, body: dict) -> None:
        client.request("PUT", self.path(name), json_body=body)

    def remove(self, client: ApiClient, name: str) -> None:
        # The SQL plugin answers a datasource DELETE with 204.
        client.request("DELETE", self.path(name), ok=(200, 202, 204), missing_ok=True)

    # --- the ResourceProvider protocol
    def check(self, olds: dict, news: dict) -> CheckResult:
        failures: list = []
        _check_common(news, failures)
        body = news.get("body")
        if not is_unknown(body):
            if not isinstance(body, dict):
                failures.append(CheckFailure("body", f"the {self.kind} document must be an object"))
            else:
                for problem in self.body_problems(news.get("name"), plain(body)):
                    failures.append(CheckFailure("body", f"{self.kind} {news.get('name')}: {problem}"))
        failures += self.extra_checks(news)
        return CheckResult(news, failures)

    def extra_checks(self, news: dict) -> list:
        return []

    def changes(self, olds: dict, news: dict) -> list[str]:
        """Dotted paths that differ between the recorded state and the declared inputs (either
        shape of a TEXT_PROPERTIES document: diff passes them decoded, a caller may not)."""
        olds, news = decoded(olds, (), self.TEXT_PROPERTIES), decoded(news, (), self.TEXT_PROPERTIES)
        paths = []
        if olds.get("endpoint") != news.get("endpoint"):
            paths.append("endpoint")
        if plain(olds.get("timeout_s")) != plain(news.get("timeout_s")):
            paths.append("timeout_s")
        desired = plain(news.get("body") or {})
        recorded = self.normalise(plain(olds.get("body") or {}), desired)
        paths += ["body." + p if p != "<root>" else "body" for p in changed_paths(recorded, self.normalise(desired, desired))]
        paths += self.extra_changes(olds, news)
        return paths

    def extra_changes(self, olds: dict, news: dict) -> list[str]:
        return []

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = ["name"] if olds.get("name") != news.get("name") else []
        changed = self.changes(olds, news)
        return DiffResult(
            changes=bool(changed or replaces),
            replaces=replaces,
            delete_before_replace=self.delete_before_replace,
        )

    def _outputs(self, props: dict, live: Optional[dict]) -> dict:
        outs = without_provider(props)
        desired = plain(props.get("body") or {})
        if live is not None:
            seen = self.normalise(live, desired)
            outs["body"] = props.get("body") if seen == self.normalise(desired, desired) else seen
        return outs

    def create(self, props: dict) -> CreateResult:
        # An asset that already exists (kept volume, earlier stack) is adopted:
        # rewritten only when it differs from the declaration.
        client = _client(props)
        name = props["name"]
        return CreateResult(id_=name, outs=self._outputs(props, self._converge(client, name, props)))

    def _converge(self, client: ApiClient, name: str, props: dict) -> Optional[dict]:
        body = plain(props["body"])
        live = self.fetch(client, name)
        if live is None or self.normalise(live, body) != self.normalise(body, body):
            self.apply(client, name, body)
            self.after_apply(client, props, existed=live is not None)
            live = self.fetch(client, name)
        return live

    def after_apply(self, client: ApiClient, props: dict, existed: bool) -> None:
        """Hook for follow-up work once a changed document is in place."""

    def read(self, id_: str, props: dict) -> ReadResult:
        client = _client(props)
        live = self.fetch(client, props.get("name") or id_)
        if live is None:
            return ReadResult(id_="", outs={})
        outs = self._outputs(props, live)
        # Inputs follow the live document, so the next preview shows how to get back.
        return ReadResult(id_=id_, outs=outs, inputs=_public(outs))

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        # Only a document that differs is sent: an endpoint-only change rewrites state, nothing else.
        client = _client(news)
        return UpdateResult(outs=self._outputs(news, self._converge(client, news["name"], news)))

    def delete(self, id_: str, props: dict) -> None:
        # An OpenSearch that cannot be reached at all (its container already gone)
        # must not wedge `pulumi destroy`: the asset then stays on the data volume
        # and the next `pulumi up` adopts it. Any answer from OpenSearch still counts.
        client = _client(props)
        client.total_timeout_s = min(client.total_timeout_s, DELETE_UNREACHABLE_S)
        try:
            self.remove(client, props.get("name") or id_)
        except GaveUpError as exc:
            print(f"warning: {self.kind} {props.get('name') or id_} left in place: {exc}", file=sys.stderr)


def _public(outs: dict) -> dict:
    """Outputs that may become inputs on refresh: secrets stay out of plain inputs."""
    return refreshed_inputs({}, outs, SECRET_PROPS + ("connection",))


def _only_entry(answer: Any, list_key: str, item_key: str, name: str) -> Optional[dict]:
    if not answer:
        return None
    for entry in answer.get(list_key, []):
        if entry.get("name") == name:
            return entry.get(item_key)
    return None


def _inputs(endpoint, name, body, timeout_s) -> dict:
    return {"endpoint": endpoint, "name": name, "body": body, "timeout_s": timeout_s}


class _DocumentResource(Resource):
    """One named JSON document served by `provider_class` (the four document kinds share this shape).

    `body` goes to the engine as one JSON text (issue 21, text_documents.py: the provider's
    methods see the document; states written before hold it nested and diff equal)."""

    endpoint: pulumi.Output[str]
    body: pulumi.Output[str]
    provider_class: type

    def __init__(self, resource_name, *, endpoint, name, body, timeout_s=DEFAULT_TIMEOUT_S, connection=None, opts=None):
        if "body" in self.provider_class.TEXT_PROPERTIES:
            body = encode_document(body)
        props, opts = with_connection(_inputs(endpoint, name, body, timeout_s), opts, connection)
        super().__init__(self.provider_class(), resource_name, props, opts)
