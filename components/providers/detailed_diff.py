"""Pulumi's detailed diff from a dynamic provider.

The Python SDK's dynamic provider answers Diff with changes, replaces and
delete-before-replace only (pulumi/dynamic/__main__.py, `Diff`; `DiffResult` has no
field for more). Without a detailed diff the engine shows a changed resource's every
input, unchanged ones included: one edited panel title in a collection of 25 explore
objects printed some 1500 lines. With one, `pulumi preview --diff` prints only the
changed paths and `preview --json` lists them under `detailedDiff`. A path naming a
document carried as JSON text (`objects["explore/<id>"]`, text_documents.py) is printed
as a `(json)` diff of that document down to each changed field.

`install()` runs when a provider module is imported (kit.py) and, only in the
dynamic-provider process, puts a thin wrapper in place of that module's `proto`
name whose `DiffResponse` adds the paths a provider's `diff` left in `offer()`
on the same thread (the gRPC handler thread runs both). Everything else is the SDK's
own. If a future SDK builds its answer another way, nothing is found to wrap and
the engine shows what it shows today.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any, Iterable, Optional, Sequence

from components.providers import pool

_local = threading.local()
_lock = threading.Lock()
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ADD, DELETE, UPDATE, UPDATE_REPLACE = "add", "delete", "update", "update-replace"


def property_path(segments: Sequence[Any]) -> str:
    """The engine's property path: `a.b`, `a[0]`, `objects["explore/x"]`."""
    out = ""
    for seg in segments:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENTIFIER.match(seg):
            out += f".{seg}" if out else seg
        else:
            out += '["' + seg.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return out


def offer(paths: Optional[dict[str, str]]) -> None:
    """Paths -> kind (ADD, DELETE, UPDATE, UPDATE_REPLACE) for the answer this thread builds next."""
    _local.paths = paths


def _take() -> Optional[dict[str, str]]:
    paths = getattr(_local, "paths", None)
    _local.paths = None
    return paths


class _DiffResponse:
    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real.DiffResponse, name)

    def __call__(self, **fields):
        response = self._real.DiffResponse(**fields)
        paths = _take()
        if paths:
            kinds = {
                ADD: self._real.PropertyDiff.ADD,
                DELETE: self._real.PropertyDiff.DELETE,
                UPDATE: self._real.PropertyDiff.UPDATE,
                UPDATE_REPLACE: self._real.PropertyDiff.UPDATE_REPLACE,
            }
            response.hasDetailedDiff = True
            for path, kind in paths.items():
                response.detailedDiff[path].CopyFrom(self._real.PropertyDiff(kind=kinds[kind], inputDiff=True))
        return response


class _Proto:
    def __init__(self, real):
        self._real = real
        self.DiffResponse = _DiffResponse(real)

    def __getattr__(self, name):
        return getattr(self._real, name)


def install() -> bool:
    """Wrap the dynamic-provider process's `proto` (True when it is wrapped)."""
    if not pool.in_dynamic_provider_process():
        return False
    from pulumi.runtime import proto

    main = sys.modules["__main__"]
    with _lock:
        current = getattr(main, "proto", None)
        if isinstance(current, _Proto):
            return True
        if current is not proto or not hasattr(proto, "PropertyDiff"):
            return False
        main.proto = _Proto(proto)
        return True


def kinds_of(changes: Iterable[tuple[tuple, str]], replace_keys: Iterable[str] = ()) -> dict[str, str]:
    """(segments, kind) pairs -> property path -> kind, a replace key's change marked so."""
    replacing = set(replace_keys)
    out = {}
    for segments, kind in changes:
        if segments and segments[0] in replacing:
            kind = UPDATE_REPLACE if kind == UPDATE else kind
        out[property_path(segments)] = kind
    return out
