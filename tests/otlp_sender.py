"""Test traffic sent with the OpenTelemetry SDK, the way Claude Code and Clawker send it.

Each helper exports synchronously and reports whether the collector accepted
the batch, so a test can tell "refused" from "accepted but not indexed".
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Optional

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource


class _Recording:
    """Wraps an exporter and keeps every export result."""

    def __init__(self, exporter):
        self.exporter = exporter
        self.results: list = []

    def export(self, batch):
        result = self.exporter.export(batch)
        self.results.append(result)
        return result

    def shutdown(self):
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def http_log_exporter(endpoint: str, timeout: float = 10):
    """The SDK's OTLP/HTTP exporter; it retries 429/502/503/504 (backoff 1, 2, 4, ... s) within `timeout`."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=f"{endpoint.rstrip('/')}/v1/logs", timeout=timeout)


def grpc_log_exporter(
    endpoint: str,
    *,
    ca_file: str,
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
    timeout: float = 10,
):
    """An OTLP/gRPC exporter over TLS (the trusted mTLS lane).

    It presents the client certificate cert_file/key_file; without them it
    only verifies the server, as a sender that has no client certificate would.
    """
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

    def read(path: Optional[str]) -> Optional[bytes]:
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(ca_file), private_key=read(key_file), certificate_chain=read(cert_file)
    )
    return OTLPLogExporter(endpoint=endpoint, credentials=credentials, insecure=False, timeout=timeout)


def send_logs(
    exporter,
    *,
    resource: dict[str, Any],
    records: Iterable[dict[str, Any]],
    scope: str = "clawker-monitor-tests",
) -> bool:
    """Emit records (dicts with body/attributes/severity_text) under one resource and scope.

    True when every export call was accepted by the receiver.
    """
    recording = _Recording(exporter)
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(SimpleLogRecordProcessor(recording))
    logger = provider.get_logger(scope)
    for record in records:
        logger.emit(
            LogRecord(
                timestamp=record.get("timestamp", time.time_ns()),
                severity_text=record.get("severity_text", "INFO"),
                severity_number=record.get("severity_number", SeverityNumber.INFO),
                body=record.get("body", ""),
                attributes=record.get("attributes", {}),
            )
        )
    provider.shutdown()
    return bool(recording.results) and all(r == LogRecordExportResult.SUCCESS for r in recording.results)


def send_one_log(endpoint: str, service_name: str, attributes: Optional[dict] = None) -> bool:
    return send_logs(
        http_log_exporter(endpoint),
        resource={"service.name": service_name, "project": "e2e", "agent": "probe"},
        records=[{"body": "e2e probe", "attributes": {"event.name": "e2e_probe", **(attributes or {})}}],
    )


def send_spans(endpoint: str, *, resource: dict[str, Any], scope: str, tree: dict[str, Any]) -> tuple[bool, str]:
    """Send a tree of spans over OTLP/HTTP; returns (accepted, trace id as 32 hex digits).

    tree: {"name": ..., "attributes": {...}, "children": [subtrees]}, opened and
    closed depth first the way an instrumented program nests them.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

    class Recording(OTLPSpanExporter):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.results: list = []

        def export(self, spans):
            result = super().export(spans)
            self.results.append(result)
            return result

    exporter = Recording(endpoint=f"{endpoint.rstrip('/')}/v1/traces", timeout=10)
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(scope)

    def emit(node: dict) -> str:
        with tracer.start_as_current_span(node["name"], attributes=node.get("attributes", {})) as span:
            for child in node.get("children", []):
                emit(child)
            return format(span.get_span_context().trace_id, "032x")

    trace_id = emit(tree)
    provider.shutdown()
    accepted = bool(exporter.results) and all(r == SpanExportResult.SUCCESS for r in exporter.results)
    return accepted, trace_id


def send_delta_counters(
    endpoint: str,
    *,
    resource: dict[str, Any],
    scope: str,
    counters: dict[str, dict[str, Any]],
    rounds: Iterable[Iterable[tuple[str, float, dict[str, Any]]]],
) -> bool:
    """Export monotonic counters (and histograms) with DELTA temporality over OTLP/HTTP, as Claude Code and Codex do.

    counters: name -> {"unit": ..., "description": ...}, plus "kind": "histogram" for a
    histogram (Codex's durations and token counts). Each round is a list of (instrument
    name, increment or recorded value, attributes); after each round the SDK collects and
    one export carries that round's deltas. True when every export was accepted.
    """
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricExportResult

    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
    provider = MeterProvider(resource=Resource.create(resource), metric_readers=[reader])
    meter = provider.get_meter(scope)

    def instrument(name: str, spec: dict[str, Any]):
        create = meter.create_histogram if spec.get("kind") == "histogram" else meter.create_counter
        return create(name, unit=spec.get("unit", ""), description=spec.get("description", ""))

    instruments = {name: instrument(name, spec) for name, spec in counters.items()}
    exporter = OTLPMetricExporter(endpoint=f"{endpoint.rstrip('/')}/v1/metrics", timeout=10)
    results = []
    for round_ in rounds:
        for name, increment, attributes in round_:
            record = getattr(instruments[name], "record", None) or instruments[name].add
            record(increment, attributes)
        data = reader.get_metrics_data()
        if data is not None:
            results.append(exporter.export(data))
    provider.shutdown()
    exporter.shutdown()
    return bool(results) and all(r == MetricExportResult.SUCCESS for r in results)
