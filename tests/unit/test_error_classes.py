"""Errors by class (DESIGN "Errors by class"): http_client.error_class is the one place that
reads an answer's error type or text; callers catch the class it picks.

The bodies are shaped like the real servers' answers: OpenSearch's
{"error": {"root_cause": [...], "type", "reason"}, "status"} and the SQL plugin's
ErrorMessage {"error": {"type", "reason": "Invalid Request", "details"}, "status"}.
"""

from __future__ import annotations

import pytest

from components.providers.http_client import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    MappingTypeConflictError,
    NotFoundError,
    error_class,
)


def _os(kind: str, reason: str, status: int) -> dict:
    return {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}


def _sql(kind: str, details: str, status: int) -> dict:
    return {"error": {"type": kind, "reason": "Invalid Request", "details": details}, "status": status}


@pytest.mark.parametrize(
    "status,body,expected",
    [
        (400, _os("resource_already_exists_exception", "index [clawker-logs/abc] already exists", 400), AlreadyExistsError),
        (400, _os("illegal_argument_exception", "mapper [duration_ms] cannot be changed from type [keyword] to [long]", 400), MappingTypeConflictError),
        (409, _os("version_conflict_engine_exception", "[clawker-retention]: version conflict, required seqNo [3]", 409), ConflictError),
        (404, _os("index_not_found_exception", "no such index [x]", 404), NotFoundError),
        (400, _sql("IllegalArgumentException", "A datasource already exists with name: clawker_prometheus", 400), AlreadyExistsError),
        (404, _sql("DataSourceNotFoundException", "Datasource with name: x doesn't exist", 404), NotFoundError),
        (400, _sql("IllegalArgumentException", "DataSource with name x doesn't exist.", 400), NotFoundError),
        (400, _os("mapper_parsing_exception", "failed to parse field [a] of type [long]", 400), ApiError),
        (403, {"message": "forbidden"}, ApiError),
    ],
)
def test_each_refusal_gets_its_class(status, body, expected):
    assert error_class(status, body) is expected


def test_the_classes_are_api_errors_so_existing_handlers_still_catch_them():
    for cls in (NotFoundError, ConflictError, AlreadyExistsError, MappingTypeConflictError):
        assert issubclass(cls, ApiError)
    assert issubclass(AlreadyExistsError, ConflictError)


def test_no_provider_matches_a_reason_by_substring():
    """Callers catch a class: no provider module reads `.reason` of an error."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "components" / "providers"
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if p.name != "http_client.py" and (".reason" in p.read_text() or "exc.status" in p.read_text())
    ]
    assert offenders == []
