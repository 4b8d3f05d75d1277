"""HTTP plumbing shared by the dynamic providers (OpenSearch and Dashboards).

Connection errors and 5xx answers are retried by urllib3 with exponential
backoff inside a bounded total wait; a 4xx fails at once and carries the
server's own reason, because retrying a rejected body never helps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRYABLE_STATUS = (500, 502, 503, 504)


class ApiError(Exception):
    """A request that failed for good; the message names the URL and the answer."""

    def __init__(self, message: str, status: Optional[int] = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


def _reason(body: Any) -> str:
    """Pull the human-readable reason out of an OpenSearch/Dashboards error body."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            root = err.get("root_cause") or []
            if root and isinstance(root[0], dict) and root[0].get("reason"):
                return f"{err.get('type', 'error')}: {root[0]['reason']}"
            if err.get("reason"):
                return f"{err.get('type', 'error')}: {err['reason']}"
        if isinstance(err, str) and body.get("message"):
            return f"{err}: {body['message']}"
        if body.get("message"):
            return str(body["message"])
        if isinstance(err, str):
            return err
    text = body if isinstance(body, str) else json.dumps(body)
    return text[:500]


@dataclass
class ApiClient:
    """A small JSON client with retries, bounded waits and readable failures."""

    base_url: str
    headers: dict = field(default_factory=dict)
    # Upper bound for one logical call including all retries (seconds).
    total_timeout_s: float = 120.0
    # Per-attempt socket timeout (seconds).
    request_timeout_s: float = 30.0

    def __post_init__(self):
        self.base_url = self.base_url.rstrip("/")
        retry = Retry(
            total=None,
            connect=8,
            read=3,
            status=6,
            backoff_factor=0.5,
            backoff_max=10,
            status_forcelist=RETRYABLE_STATUS,
            allowed_methods=None,  # retry PUT/POST too: every call we make is idempotent
            raise_on_status=False,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(self.headers)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Optional[dict] = None,
        ok: Iterable[int] = (200, 201),
        missing_ok: bool = False,
        **kwargs,
    ) -> Any:
        """Send one request; return the decoded body, or None for an allowed 404.

        Raises ApiError naming the URL and the server's reason otherwise.
        """
        url = self.url(path)
        deadline = time.monotonic() + self.total_timeout_s
        last: str = "no answer"
        while True:
            try:
                resp = self.session.request(
                    method,
                    url,
                    json=json_body,
                    params=params,
                    timeout=self.request_timeout_s,
                    **kwargs,
                )
            except requests.RequestException as exc:
                # urllib3 already backed off; keep trying only within the bound.
                last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    raise ApiError(
                        f"{method} {url} did not succeed within {self.total_timeout_s:.0f}s; last error: {last}"
                    ) from exc
                time.sleep(2)
                continue
            body = _decode(resp)
            if resp.status_code in tuple(ok):
                return body
            if resp.status_code == 404 and missing_ok:
                return None
            if resp.status_code in RETRYABLE_STATUS and time.monotonic() < deadline:
                last = f"HTTP {resp.status_code}: {_reason(body)}"
                time.sleep(2)
                continue
            raise ApiError(
                f"{method} {url} answered HTTP {resp.status_code}: {_reason(body)}",
                status=resp.status_code,
                body=body,
            )

    def wait_until(
        self,
        path: str,
        ready: Callable[[int, Any], bool],
        *,
        timeout_s: float,
        what: str,
    ) -> Any:
        """Poll GET path until ready(status, body) is true, or fail after timeout_s."""
        url = self.url(path)
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while True:
            try:
                resp = self.session.get(url, timeout=min(self.request_timeout_s, 10))
                body = _decode(resp)
                if ready(resp.status_code, body):
                    return body
                last = f"HTTP {resp.status_code}: {_reason(body)}"
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ApiError(f"{what} was not ready at {url} within {timeout_s:.0f}s; last answer: {last}")
            time.sleep(2)


def _decode(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text
