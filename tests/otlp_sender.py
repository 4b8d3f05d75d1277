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


def http_log_exporter(endpoint: str):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=f"{endpoint.rstrip('/')}/v1/logs", timeout=10)


def grpc_log_exporter(endpoint: str, *, ca_file: str, cert_file: str, key_file: str):
    """An OTLP/gRPC exporter presenting a client certificate (the trusted mTLS lane)."""
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

    def read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(ca_file), private_key=read(key_file), certificate_chain=read(cert_file)
    )
    return OTLPLogExporter(endpoint=endpoint, credentials=credentials, insecure=False, timeout=10)


def send_logs(
    exporter,
    *,
    resource: dict[str, Any],
    records: Iterable[dict[str, Any]],
) -> bool:
    """Emit records (dicts with body/attributes/severity_text) under one resource.

    True when every export call was accepted by the receiver.
    """
    recording = _Recording(exporter)
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(SimpleLogRecordProcessor(recording))
    logger = provider.get_logger("clawker-monitor-tests")
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
