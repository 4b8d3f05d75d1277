"""Comparing desired and live documents without false diffs.

OpenSearch and Dashboards store more than we send (ids, timestamps, version
numbers, defaults). Providers first project the live document onto the shape
we declare, then compare; `changed_paths` names what differs so a diff can say
which field moved.
"""

from __future__ import annotations

from typing import Any, Iterable


def changed_segments(old: Any, new: Any, at: tuple = ()) -> list[tuple[tuple, str]]:
    """(path as key/index segments, "add" | "delete" | "update") where two JSON-like values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[tuple, str]] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = (*at, str(key))
            if key not in old:
                out.append((sub, "add"))
            elif key not in new:
                out.append((sub, "delete"))
            else:
                out.extend(changed_segments(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (o, n) in enumerate(zip(old, new)) for c in changed_segments(o, n, (*at, i))]
    return [] if old == new else [(at, "update")]


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths at which two JSON-like values differ (empty when equal)."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                paths.append(sub)
            else:
                paths.extend(changed_paths(old[key], new[key], sub))
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        paths = []
        for i, (o, n) in enumerate(zip(old, new)):
            paths.extend(changed_paths(o, n, f"{prefix}[{i}]"))
        return paths
    return [] if old == new else [prefix or "<root>"]


def drop_keys(doc: Any, keys: Iterable[str]) -> Any:
    """A deep copy of doc without the given keys at any depth."""
    drop = set(keys)
    if isinstance(doc, dict):
        return {k: drop_keys(v, drop) for k, v in doc.items() if k not in drop}
    if isinstance(doc, list):
        return [drop_keys(v, drop) for v in doc]
    return doc


def project_onto(live: Any, desired: Any) -> Any:
    """Keep only the parts of `live` that `desired` declares.

    Server-side additions (defaults, bookkeeping) vanish; a declared key the
    server lost stays missing, so the comparison still reports it.
    """
    if isinstance(live, dict) and isinstance(desired, dict):
        return {k: project_onto(live[k], desired[k]) for k in desired if k in live}
    if isinstance(live, list) and isinstance(desired, list) and len(live) == len(desired):
        return [project_onto(l, d) for l, d in zip(live, desired)]
    return live
