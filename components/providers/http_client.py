"""HTTP plumbing shared by the dynamic providers (OpenSearch and Dashboards).

Retries are bounded by a wall-clock deadline that covers the whole logical call:
no retry starts unless it can finish before the deadline, and every attempt's
socket timeouts shrink to the time left. When the bound runs out the error
names the method, the URL and the last answer. A 4xx fails at once and
carries the server's own reason, because retrying a rejected body never helps.

What is resent depends on whether the request may have reached the server:
- a connection that could not be opened (refused, connect timeout, name not
  resolved) carried nothing, so any request is tried again;
- an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS, or a POST/PATCH the
  caller marks `idempotent=True` because repeating it changes nothing more, e.g.
  `_search`, `_refresh`, or an import that overwrites fixed ids) is also resent
  after a read timeout, a dropped connection or a 5xx answer;
- any other request is sent once: if its answer is lost (read timeout, connection
  dropped after sending) or is a 5xx, OutcomeUnknownError says the server may or may
  not have carried it out, and the provider finds out by reading state. (Resending
  `POST _reindex` after a 30 s read timeout started a new server-side copy every
  31 s; resending `POST /api/workspaces` made a second workspace or a spurious
  "name already used".)

Sessions live only for one call: providers are pickled into Pulumi state and
must not hold sockets or locks, so they create an ApiClient inside each method.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import importlib
from functools import lru_cache


class _OnFirstUse:
    """A module imported when one of its names is first used, not when this module is.

    The program and the dynamic-provider process import every provider module, but only a
    call that talks to a service needs `requests` and `urllib3` (some 40 ms of imports,
    paid by every no-op preview twice: the program and the provider process; issue 21).
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


requests = _OnFirstUse("requests")
_urllib3_exceptions = _OnFirstUse("urllib3.exceptions")

RETRYABLE_STATUS = (500, 502, 503, 504)
# Methods whose repetition has no effect beyond the first (RFC 9110, 9.2.2): resent after a
# lost answer. POST and PATCH are resent only when the caller passes idempotent=True.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Pause of the outer loop when urllib3 has given up but the bound has not run out.
_OUTER_PAUSE_S = 1.0
# Pause between two polls of wait_until: a readiness probe is one cheap GET, and every
# step after it waits for the answer (2 s here cost up to 2 s per wait on a cold up).
WAIT_POLL_S = 0.25
# Upper bound for one logical API call including all retries (seconds), unless a caller says otherwise.
CALL_TIMEOUT_S = 120.0


class ProviderError(Exception):
    """Anything a dynamic provider refuses or fails at; the message says what and why."""


class ApiError(ProviderError):
    """A request that failed for good; the message names the URL and the answer.

    ApiClient.request raises the subclass that says what kind of refusal it was
    (see `error_class`), so callers catch a class instead of reading the reason.
    """

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        body: Any = None,
        *,
        method: str = "",
        url: str = "",
        reason: str = "",
    ):
        super().__init__(message)
        self.status = status
        self.body = body
        self.method = method
        self.url = url
        # The server's own explanation (OpenSearch's error reason), when there was one.
        self.reason = reason
        # The server's error type (OpenSearch's `error.type`, e.g. resource_already_exists_exception).
        self.error_type = error_type_of(body)


class GaveUpError(ApiError):
    """No final answer within the call's bound (connection errors or 5xx until the deadline)."""


class UntrustedCertificateError(ApiError):
    """The server's TLS certificate did not verify against the CA given (or the system's CAs).

    Final: asking again gets the same certificate, so the request is never retried and no
    byte of it reached the server."""


class OutcomeUnknownError(ApiError):
    """A request that is not safe to resend may have been carried out: its answer was lost or a 5xx.

    It was sent exactly once. The caller learns what happened by reading state (look the
    object up, poll the task) rather than by sending it again.
    """


class NotFoundError(ApiError):
    """The thing asked for does not exist (404, or the SQL plugin's 400 saying so)."""


class ConflictError(ApiError):
    """The write lost to a concurrent change (409: stale seq_no / primary term)."""


class AlreadyExistsError(ConflictError):
    """A create of something that already exists."""


class AlreadyManagedError(ConflictError):
    """ISM refused to `add` a policy to an index that a policy already manages."""


class MappingTypeConflictError(ApiError):
    """A mapping update that would change an existing field's type, which OpenSearch refuses."""


def error_type_of(body: Any) -> str:
    """`error.type` of an OpenSearch / plugin error body ('' when there is none)."""
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("type") or "") if isinstance(err, dict) else ""


def error_class(status: Optional[int], body: Any) -> type:
    """The ApiError subclass for an answer: the one place that reads error types and texts.

    OpenSearch names most refusals by `error.type`; the SQL plugin answers 400 with a
    generic type (IllegalArgumentException) and says "already exists" / "doesn't exist"
    in its details, so those two are told apart by that text, here and nowhere else.
    """
    kind = error_type_of(body)
    text = reason_of(body).lower()
    if kind == "resource_already_exists_exception" or (status in (400, 409) and "already exists" in text):
        return AlreadyExistsError
    if status == 400 and "cannot be changed from type" in text:
        return MappingTypeConflictError
    if status == 404 or kind.endswith("NotFoundException") or (status == 400 and "exist" in text):
        return NotFoundError
    if status == 409:
        return ConflictError
    return ApiError


def reason_of(body: Any) -> str:
    """The human-readable reason inside an OpenSearch/Dashboards error body."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            parts = []
            root = err.get("root_cause") or []
            if root and isinstance(root[0], dict) and root[0].get("reason"):
                parts.append(f"{root[0].get('type', 'error')}: {root[0]['reason']}")
            if err.get("reason") and (not parts or err["reason"] not in parts[0]):
                parts.append(f"{err.get('type', 'error')}: {err['reason']}")
            caused = err.get("caused_by")
            if isinstance(caused, dict) and caused.get("reason") and all(caused["reason"] not in p for p in parts):
                parts.append(f"caused by {caused.get('type', 'error')}: {caused['reason']}")
            # The SQL plugin puts the useful part in `details` ("reason" is "Invalid Request").
            if isinstance(err.get("details"), str) and err["details"]:
                parts.append(err["details"])
            if parts:
                return "; ".join(parts)
        if isinstance(err, str) and body.get("message"):
            return f"{err}: {body['message']}"
        if body.get("message"):
            return str(body["message"])
        if isinstance(err, str):
            return err
    if body is None:
        return "empty answer"
    text = body if isinstance(body, str) else json.dumps(body)
    return (text or "empty answer")[:500]


# Kept under its old name for callers written against the first version.
_reason = reason_of


def never_sent(exc: BaseException) -> bool:
    """True when a transport error happened before any byte of the request left this host.

    Only a connection that could not be opened qualifies (refused, connect timeout, name
    not resolved: urllib3's ConnectTimeoutError family); a read timeout or a connection
    dropped after sending may follow a request the server received.
    """
    inner: Any = exc
    for _ in range(6):
        if isinstance(inner, (_urllib3_exceptions.ConnectTimeoutError, requests.ConnectTimeout)):
            return True
        nxt = getattr(inner, "reason", None)
        if nxt is None and inner.args and isinstance(inner.args[0], BaseException):
            nxt = inner.args[0]
        if nxt is None or nxt is inner or not isinstance(nxt, BaseException):
            return False
        inner = nxt
    return False


def certificate_refused(exc: BaseException) -> bool:
    """True when a transport error is a TLS certificate that did not verify (not a handshake cut short)."""
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def describe_exception(exc: BaseException) -> str:
    """A one-line cause for a transport error, without urllib3's object reprs."""
    inner: Any = exc
    # requests wraps urllib3's MaxRetryError, which wraps the real cause.
    for _ in range(4):
        nxt = getattr(inner, "reason", None)
        if nxt is None and inner.args and isinstance(inner.args[0], BaseException):
            nxt = inner.args[0]
        if nxt is None or nxt is inner or isinstance(nxt, str):
            break
        inner = nxt
    text = re.sub(r"<[^>]*>:\s*", "", str(inner))
    return f"{type(inner).__name__}: {text}"


@lru_cache(maxsize=None)
def _deadline_retry_class() -> type:
    """urllib3's Retry, refusing any retry which could not finish before a deadline (made on first use)."""
    from urllib3.exceptions import MaxRetryError, ResponseError
    from urllib3.util.retry import Retry

    class _DeadlineRetry(Retry):
        def __init__(self, *args: Any, deadline: Optional[float] = None, attempt_s: float = 0.0, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.deadline = deadline
            self.attempt_s = attempt_s

        def new(self, **kw: Any) -> "_DeadlineRetry":
            fresh = super().new(**kw)
            fresh.deadline, fresh.attempt_s = self.deadline, self.attempt_s
            return fresh

        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            if error is not None and certificate_refused(error):
                raise MaxRetryError(_pool, url, error)  # the same certificate again: final
            fresh = super().increment(method, url, response, error, _pool, _stacktrace)
            if self.deadline is not None:
                worst_finish = time.monotonic() + fresh.get_backoff_time() + self.attempt_s
                if worst_finish > self.deadline:
                    cause = error or ResponseError(f"HTTP {getattr(response, 'status', '?')}")
                    raise MaxRetryError(_pool, url, cause)
            return fresh

    return _DeadlineRetry


def ca_file(pem: str) -> str:
    """A file holding `pem` (requests verifies against a path), written once per content."""
    path = os.path.join(tempfile.gettempdir(), f"clawker-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "w") as out:
            out.write(pem)
        os.replace(tmp, path)
    return path


@dataclass
class ApiClient:
    """A small JSON client with retries, bounded waits and readable failures."""

    base_url: str
    headers: dict = field(default_factory=dict)
    # Upper bound for one logical call including all retries (seconds).
    total_timeout_s: float = CALL_TIMEOUT_S
    # Per-attempt read timeout (seconds); shrinks to the time left.
    request_timeout_s: float = 30.0
    # Per-attempt connect timeout (seconds); the API is on this host or the LAN.
    connect_timeout_s: float = 3.0
    # A secured cluster (team role): basic auth, and the CA (PEM) its certificates chain to.
    # Empty: no auth; the system's CAs. TLS is verified either way.
    username: str = ""
    password: str = field(default="", repr=False)
    ca_pem: str = ""

    def __post_init__(self):
        self.base_url = self.base_url.rstrip("/")

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _session(self, deadline: float, attempt_s: float, resend: bool) -> requests.Session:
        retry = _deadline_retry_class()(
            total=None,
            connect=10,  # nothing was sent: safe for every method
            read=0,  # a timed-out read is retried by the outer loop (when resending is safe), with a shrunk timeout
            status=10,
            backoff_factor=0.25,
            backoff_max=5,
            # A 5xx is answered again only for requests that may be resent (with neither list nor
            # Retry-After honoured, urllib3 hands the 5xx back); connection errors are retried regardless.
            status_forcelist=RETRYABLE_STATUS if resend else (),
            respect_retry_after_header=resend,
            allowed_methods=None,
            raise_on_status=False,
            deadline=deadline,
            attempt_s=attempt_s,
        )
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self.headers)
        if self.username:
            session.auth = (self.username, self.password)
        return session

    def _verify(self) -> Any:
        """What requests verifies the server with, given per request: a session's `verify` loses
        to REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment (requests' settings merge)."""
        return ca_file(self.ca_pem) if self.ca_pem else True

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Optional[dict] = None,
        ok: Iterable[int] = (200, 201),
        missing_ok: bool = False,
        idempotent: Optional[bool] = None,
        **kwargs,
    ) -> Any:
        """Send one request; return the decoded body, or None for an allowed 404.

        idempotent: whether the server may get this request twice (default: by method,
        IDEMPOTENT_METHODS). A POST/PATCH is resent only when the caller passes True.
        Raises ApiError naming the URL and the server's reason otherwise; for a request
        that is not resent and whose answer was lost or a 5xx, OutcomeUnknownError.
        """
        url = self.url(path)
        ok = tuple(ok)
        resend = method.upper() in IDEMPOTENT_METHODS if idempotent is None else bool(idempotent)
        deadline = time.monotonic() + self.total_timeout_s
        last = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GaveUpError(
                    f"{method} {url} did not succeed within {self.total_timeout_s:g}s; last answer: {last}",
                    method=method,
                    url=url,
                )
            timeout = (min(self.connect_timeout_s, remaining), min(self.request_timeout_s, remaining))
            try:
                with self._session(deadline, sum(timeout), resend) as session:
                    resp = session.request(
                        method, url, json=json_body, params=params, timeout=timeout, verify=self._verify(), **kwargs
                    )
            except requests.RequestException as exc:
                last = describe_exception(exc)
                if certificate_refused(exc):
                    raise UntrustedCertificateError(
                        f"{method} {url}: the server's TLS certificate is not signed by the CA this stack "
                        f"trusts for it ({last}); give the CA that signed it (a team's clusterCaCert), or "
                        f"point at the server it belongs to",
                        method=method,
                        url=url,
                        reason=last,
                    ) from exc
                if not resend and not never_sent(exc):
                    raise OutcomeUnknownError(
                        f"{method} {url}: outcome unknown, the request may have been carried out: {last}; "
                        f"{_sent_once(method)}",
                        method=method,
                        url=url,
                        reason=last,
                    ) from exc
                # urllib3 backed off as long as the bound allowed; go round while time is left.
                time.sleep(max(0.0, min(_OUTER_PAUSE_S, deadline - time.monotonic())))
                continue
            body = _decode(resp)
            if resp.status_code in ok:
                return body
            if resp.status_code == 404 and missing_ok:
                return None
            reason = reason_of(body)
            if resp.status_code in RETRYABLE_STATUS and resend:
                last = f"HTTP {resp.status_code}: {reason}"
                time.sleep(max(0.0, min(_OUTER_PAUSE_S, deadline - time.monotonic())))
                continue
            if resp.status_code in RETRYABLE_STATUS:
                kind: type = OutcomeUnknownError
                message = (
                    f"{method} {url}: outcome unknown, answered HTTP {resp.status_code}: {reason}; the request "
                    f"may have been carried out in part; {_sent_once(method)}"
                )
            else:
                kind = error_class(resp.status_code, body)
                message = f"{method} {url} answered HTTP {resp.status_code}: {reason}"
            raise kind(message, status=resp.status_code, body=body, method=method, url=url, reason=reason)

    def wait_until(
        self,
        path: str,
        ready: Callable[[int, Any], bool],
        *,
        timeout_s: float,
        what: str,
        poll_s: float = WAIT_POLL_S,
    ) -> Any:
        """Poll GET path every poll_s until ready(status, body) is true, or fail after timeout_s."""
        url = self.url(path)
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        with requests.Session() as session:
            session.headers.update(self.headers)
            if self.username:  # a team Prometheus or a secured cluster answers 401 without it
                session.auth = (self.username, self.password)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ApiError(
                        f"{what} was not ready at {url} within {timeout_s:g}s; last answer: {last}",
                        method="GET",
                        url=url,
                    )
                timeout = (min(self.connect_timeout_s, remaining), min(self.request_timeout_s, 10, remaining))
                try:
                    resp = session.get(url, timeout=timeout, verify=self._verify())
                    body = _decode(resp)
                    if ready(resp.status_code, body):
                        return body
                    last = f"HTTP {resp.status_code}: {reason_of(body)}"
                except requests.RequestException as exc:
                    last = describe_exception(exc)
                time.sleep(max(0.0, min(poll_s, deadline - time.monotonic())))


def _sent_once(method: str) -> str:
    return f"it was sent once and not resent ({method} is not idempotent)"


def _decode(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text
