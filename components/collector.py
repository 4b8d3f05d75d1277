"""Moved to components/services/collector.py (issue 13); this name stays importable for
callers not moved yet (tests/e2e/test_durable_delivery.py, benchmarks/durable_delivery.py)."""

from components.services.collector import COLLECTOR_UID, MEMORY_MB, Collector  # noqa: F401
