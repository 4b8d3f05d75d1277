"""What every dynamic provider here shares: engine values, input checks, errors.

One spelling of each fact the OpenSearch, Dashboards and readiness providers
used to carry on their own: Pulumi's unknown-value sentinel, the decode of the
engine's numbers (`plain`), the URL and timeout checks, the inputs recorded
after a refresh, and the error classes callers catch (re-exported from
`http_client`, which raises them).
"""

from __future__ import annotations

import re
import sys
from typing import Any, Iterable, Optional

import pulumi
from pulumi.output import Unknown

from components.providers.http_client import (  # noqa: F401  (the error classes live here for callers)
    AlreadyExistsError,
    AlreadyManagedError,
    ApiClient,
    ApiError,
    ConflictError,
    GaveUpError,
    MappingTypeConflictError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
)
from components.providers import detailed_diff, pool

# Imported by every provider: in the dynamic-provider process this runs once, when the
# first provider is unpickled, and lets that process serve more than four calls at once
# and answer a diff with the paths that changed (detailed_diff.py).
pool.widen()
detailed_diff.install()

# Pulumi marks not-yet-known values with this string during preview (pulumi.runtime.rpc.UNKNOWN).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# The input key under which the engine passes the pickled provider back.
PROVIDER_KEY = "__provider"
HTTP_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")
# The type a dynamic resource registers under when its class names none. Resources
# that had it in a released version name it in `formerly_anonymous`, so the engine
# moves them to their real type instead of replacing them.
ANONYMOUS_DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"


def is_unknown(value: Any) -> bool:
    """A value another resource has not produced yet: the sentinel as the SDK deserialises
    it (Unknown), the raw sentinel string, or an output."""
    return isinstance(value, (pulumi.Output, Unknown)) or (isinstance(value, str) and value == UNKNOWN)


def contains_unknown(value: Any) -> bool:
    """is_unknown anywhere inside a document."""
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    return False


def plain(value: Any) -> Any:
    """A JSON-ready deep copy of an engine value.

    Values round-trip through Pulumi's protobuf Struct as doubles: integral floats
    become ints again (APIs should see the integers we wrote); tuples become lists;
    the engine's `__provider` key is dropped.
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if k != PROVIDER_KEY}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def without_provider(props: dict) -> dict:
    """The engine's properties minus the pickled provider (outputs start from these)."""
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}


def url_problem(value: Any, what: str = "an http(s) URL") -> Optional[str]:
    """Why `value` is not an http(s) URL (None when it is, or is not known yet)."""
    if is_unknown(value) or (isinstance(value, str) and HTTP_URL.match(value)):
        return None
    return f"must be {what}, got {value!r}"


def seconds_problem(value: Any) -> Optional[str]:
    """Why `value` is not a positive number of seconds (None when it is)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return None
    return f"must be a positive number of seconds, got {value!r}"


def refreshed_inputs(props: dict, outs: dict, secret: Iterable[str] = ()) -> dict:
    """Inputs to record after a refresh: the live document, so the next preview shows
    drift by field; secret properties stay out of the plain inputs."""
    hidden = set(secret)
    inputs = without_provider(props)
    inputs.update(outs)
    return {k: v for k, v in inputs.items() if k not in hidden}


def say(message: str) -> None:
    """A line the user sees in `pulumi up` (a provider's stderr is shown as a diagnostic)."""
    print(f"clawker-monitor: {message}", file=sys.stderr, flush=True)


def wait_for(url: str, path: str, ready, *, timeout_s: float, what: str, headers: Optional[dict] = None, **kw) -> Any:
    """Poll GET url/path until ready(status, body): the one readiness loop (ApiClient.wait_until)."""
    return ApiClient(url, headers=dict(headers or {})).wait_until(path, ready, timeout_s=timeout_s, what=what, **kw)


def formerly_anonymous(opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
    """opts plus an alias to the anonymous dynamic type (same name, same parent)."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=ANONYMOUS_DYNAMIC_TYPE)])
    )
