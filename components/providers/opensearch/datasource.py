"""Direct-query datasources of the SQL plugin (`_plugins/_query/_datasources`)."""

from __future__ import annotations

import copy

import pulumi
from pulumi.dynamic import CheckFailure, Resource

from components.providers.diffing import project_onto
from components.providers.http_client import AlreadyExistsError, NotFoundError, OutcomeUnknownError
from components.providers.kit import plain, url_problem
from components.providers.opensearch.base import (
    DEFAULT_TIMEOUT_S, SECRET_PROPS, _AssetProvider, _client, _inputs, client_for, with_connection,
)

# ----------------------------------------------------------------- datasource

# Connector properties the SQL plugin treats as credentials (encrypted, never returned).
CREDENTIAL_SUFFIXES = ("auth.username", "auth.password", "auth.access_key", "auth.secret_key")


class DatasourceProvider(_AssetProvider):
    """A direct-query datasource of the SQL plugin (`_plugins/_query/_datasources`).

    POST creates and PUT updates (the name is in the body). OpenSearch checks
    the URI when it registers the datasource, so every write first waits for
    Prometheus' /-/ready at `prometheus_url` (the host-side address; the
    body's URI is the in-network one OpenSearch uses). `key_fingerprint` ties
    the registration to the cluster's datasource master key: a new key
    re-registers it.
    """

    kind = "datasource"

    def path(self, name: str) -> str:
        return f"_plugins/_query/_datasources/{name}"

    def body_problems(self, name, body):
        problems = []
        if body.get("name") != name:
            problems.append(f"body.name must equal the resource's name {name!r}")
        if not isinstance(body.get("connector"), str) or not body.get("connector"):
            problems.append("connector must be a connector type such as 'prometheus'")
        props = body.get("properties")
        if not isinstance(props, dict) or not all(isinstance(v, str) for v in props.values()):
            problems.append("properties must be an object of strings")
        elif str(body.get("connector")).lower() == "prometheus":
            uri = props.get("prometheus.uri")
            problem = url_problem(uri) if isinstance(uri, str) else f"must be an http(s) URL, got {uri!r}"
            if problem:
                problems.append(f"properties['prometheus.uri'] {problem}")
        return problems

    def extra_checks(self, news):
        url = news.get("prometheus_url")
        problem = None if url is None else url_problem(url)
        return [CheckFailure("prometheus_url", problem)] if problem else []

    def extra_changes(self, olds, news):
        return [k for k in ("key_fingerprint", "prometheus_url") if olds.get(k) != news.get(k)]

    def fetch(self, client, name):
        try:
            return client.request("GET", self.path(name), missing_ok=True)
        except NotFoundError:
            # The SQL plugin has answered a missing datasource with 400 ("DataSource with
            # name X doesn't exist.") as well as 404 (http_client.error_class).
            return None

    def normalise(self, live, desired):
        live = plain(copy.deepcopy(live))
        desired = plain(desired)
        if isinstance(live.get("connector"), str):
            live["connector"] = live["connector"].lower()
        # The plugin never returns credentials (DataSourceServiceImpl.removeAuthInfo): what it
        # stores of them cannot be read back, so the declared ones stand for them.
        if isinstance(live.get("properties"), dict):
            for key, value in (desired.get("properties") or {}).items():
                if key.endswith(CREDENTIAL_SUFFIXES) and key not in live["properties"]:
                    live["properties"][key] = value
        return project_onto(live, desired)

    def _wait_for_prometheus(self, props: dict) -> None:
        url = props.get("prometheus_url")
        if not url:
            return
        # A team Prometheus takes basic auth and may serve TLS from a private CA.
        client_for(url, connection=props.get("prometheus_connection")).wait_until(
            "-/ready",
            lambda status, _body: status == 200,
            timeout_s=float(props.get("timeout_s") or DEFAULT_TIMEOUT_S),
            what="Prometheus",
        )

    def create(self, props):
        self._wait_for_prometheus(props)
        return super().create(props)

    def update(self, id_, olds, news):
        self._wait_for_prometheus(news)
        if olds.get("key_fingerprint") != news.get("key_fingerprint"):
            # Re-register under the new master key even though the document is unchanged.
            self.apply(_client(news), news["name"], plain(news["body"]))
        return super().update(id_, olds, news)

    def apply(self, client, name, body):
        collection = "_plugins/_query/_datasources"
        if self.fetch(client, name) is None:
            try:
                client.request("POST", collection, json_body=body)
                return
            except AlreadyExistsError:
                pass
            except OutcomeUnknownError:
                # Sent once; if the create went through, the PUT below brings it in line.
                if self.fetch(client, name) is None:
                    raise
        client.request("PUT", collection, json_body=body)


class Datasource(Resource, module="clawker", name="OpenSearchDatasource"):
    endpoint: pulumi.Output[str]
    body: pulumi.Output[dict]

    def __init__(
        self,
        resource_name,
        *,
        endpoint,
        name,
        body,
        prometheus_url,
        key_fingerprint,
        timeout_s=DEFAULT_TIMEOUT_S,
        connection=None,
        prometheus_connection=None,
        opts=None,
    ):
        props = _inputs(endpoint, name, body, timeout_s)
        props.update(prometheus_url=prometheus_url, key_fingerprint=pulumi.Output.secret(key_fingerprint))
        secret = list(SECRET_PROPS)
        if prometheus_connection is not None:
            # The team role: Prometheus's credential (in the wait, and in the body's auth properties).
            props.update(prometheus_connection=pulumi.Output.secret(prometheus_connection), body=pulumi.Output.secret(body))
            secret += ["prometheus_connection", "body"]
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=secret))
        props, opts = with_connection(props, opts, connection)
        super().__init__(DatasourceProvider(), resource_name, props, opts)
