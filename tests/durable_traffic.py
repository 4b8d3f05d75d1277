"""Numbered OTLP traffic for the durable-delivery tests and benchmark.

Every log record and span carries a unique sequence number (`e2e_seq`, an
integer attribute; spans are numbered by their spanId) and a run tag (the
resource attribute `agent`), so what OpenSearch stores can be counted exactly:
distinct values with a composite aggregation, total documents, and the
difference (duplicates).

Records are shaped like what Claude Code and Clawker send (tests/providers/
telemetry_samples.py), on both lanes: OTLP/HTTP protobuf for the untrusted lane
and spans, OTLP/gRPC over mTLS for the trusted lane. A Sender retries a refused
request (as the OpenTelemetry SDKs do) until the collector accepts it, and
records when each sequence number was accepted. A Sender can also send genuine
repeats (`twin`): the record of a chosen sequence number twice, identical, in one
request (two identical Envoy lines or CoreDNS queries in one millisecond), which the
stack must store twice (README "Durable delivery": identity per source).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import requests
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from components import names
from components.services import collector_config
from providers.telemetry_samples import RESOURCES, SCOPES, records_for

SEQ = "e2e_seq"
UNTRUSTED = tuple(names.UNTRUSTED_LOG_INDICES.values())
TRUSTED = tuple(names.TRUSTED_LOG_INDICES.values())


# --------------------------------------------------------------------------- protobuf


def _any(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=_attributes(value)))
    return common_pb2.AnyValue(string_value=str(value))


def _attributes(mapping: dict) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=_any(v)) for k, v in mapping.items()]


def envoy_wire_form(record: dict) -> dict:
    """A record as Envoy's OpenTelemetry access logger sends it: every value a string, "-" when absent."""
    attributes = {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in record["attributes"].items()}
    for key in collector_config.ENVOY_NUMERIC_ATTRIBUTES + collector_config.ENVOY_IP_ATTRIBUTES:
        attributes.setdefault(key, "-")
    return {**record, "attributes": attributes, "severity_text": "", "severity_number": 0}


def shaped_records(index: str) -> list[dict]:
    """The sample records of an index, as their source puts them on the wire."""
    records = records_for(index)
    if index == "clawker-envoy":
        records = [envoy_wire_form(r) for r in records]
    return records


def logs_request(index: str, tag: str, numbered: Iterable[tuple[int, dict]]) -> bytes:
    """One ExportLogsServiceRequest: the index's resource (tagged) and the numbered records."""
    records = []
    now = time.time_ns()
    for seq, record in numbered:
        attributes = {**record.get("attributes", {}), SEQ: seq}
        records.append(
            logs_pb2.LogRecord(
                time_unix_nano=now,
                observed_time_unix_nano=now,
                severity_text=record.get("severity_text", "INFO"),
                severity_number=record.get("severity_number", 9),
                body=_any(record.get("body", "")),
                attributes=_attributes(attributes),
            )
        )
    resource = resource_pb2.Resource(attributes=_attributes({**RESOURCES[index], "agent": tag}))
    scope = common_pb2.InstrumentationScope(name=SCOPES.get(index, f"clawker-monitor-tests/{index}"))
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=resource, scope_logs=[logs_pb2.ScopeLogs(scope=scope, log_records=records)])]
    ).SerializeToString()


def span_id_of(seq: int) -> str:
    return f"{seq + 1:016x}"


def trace_id_of(tag_hex: str, seq: int) -> str:
    """Spans of one run share a 12-hex-digit prefix (the run), ten spans per trace."""
    return f"{tag_hex[:12]}{seq // 10:020x}"


def spans_request(tag: str, tag_hex: str, seqs: Iterable[int]) -> bytes:
    now = time.time_ns()
    spans = []
    for seq in seqs:
        root = seq % 10 == 0
        spans.append(
            trace_pb2.Span(
                trace_id=bytes.fromhex(trace_id_of(tag_hex, seq)),
                span_id=bytes.fromhex(span_id_of(seq)),
                parent_span_id=b"" if root else bytes.fromhex(span_id_of(seq - seq % 10)),
                name="claude_code.interaction" if root else "claude_code.tool",
                kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=now - 2_000_000,
                end_time_unix_nano=now,
                attributes=_attributes({SEQ: seq, "tool_name": "Bash"} if not root else {SEQ: seq, "user_prompt_length": 35}),
            )
        )
    resource = resource_pb2.Resource(attributes=_attributes({**RESOURCES["claude-code"], "agent": tag}))
    scope = common_pb2.InstrumentationScope(name="com.anthropic.claude_code.tracing")
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(scope=scope, spans=spans)])]
    ).SerializeToString()


# --------------------------------------------------------------------------- transports


class HttpLane:
    """OTLP/HTTP protobuf (the untrusted lane, and spans)."""

    def __init__(self, endpoint: str, timeout: float = 10):
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def post(self, signal: str, body: bytes) -> bool:
        try:
            answer = self.session.post(
                f"{self.endpoint}/v1/{signal}",
                data=body,
                headers={"Content-Type": "application/x-protobuf"},
                timeout=self.timeout,
            )
        except requests.RequestException:
            return False
        return answer.status_code == 200


class GrpcLane:
    """OTLP/gRPC, with a client certificate (the trusted lane) or, without TLS files, in plain text."""

    def __init__(
        self,
        endpoint: str,
        *,
        ca_file: Optional[str] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
        timeout: float = 10,
    ):
        import grpc
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

        def read(path: str) -> bytes:
            with open(path, "rb") as f:
                return f.read()

        self._grpc = grpc
        self.timeout = timeout
        if ca_file:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=read(ca_file),
                private_key=read(key_file) if key_file else None,
                certificate_chain=read(cert_file) if cert_file else None,
            )
            self.channel = grpc.secure_channel(endpoint, credentials)
        else:
            self.channel = grpc.insecure_channel(endpoint)
        self.stub = logs_service_pb2_grpc.LogsServiceStub(self.channel)

    def post(self, signal: str, body: bytes) -> bool:
        assert signal == "logs"
        try:
            self.stub.Export(logs_service_pb2.ExportLogsServiceRequest.FromString(body), timeout=self.timeout)
            return True
        except self._grpc.RpcError:
            return False


# --------------------------------------------------------------------------- the sender


@dataclass
class Sent:
    """What a Sender got accepted: per index (and "spans"), seq -> monotonic accept time."""

    accepted: dict[str, dict[int, float]] = field(default_factory=dict)
    # index -> sequence numbers accepted as twins (two identical records each)
    twins: dict[str, set[int]] = field(default_factory=dict)
    refusals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, index: str, seqs: Iterable[int], at: float, twins: Iterable[int] = ()) -> None:
        with self.lock:
            bucket = self.accepted.setdefault(index, {})
            for s in seqs:
                bucket[s] = at
            self.twins.setdefault(index, set()).update(twins)

    def count(self, index: Optional[str] = None) -> int:
        with self.lock:
            if index:
                return len(self.accepted.get(index, {}))
            return sum(len(v) for v in self.accepted.values())


class Sender:
    """Sends `total` numbered records round-robin over the given indices (+ spans), `batch` per request.

    rate: requests per second across all streams (None: as fast as accepted).
    A refused request is retried after `retry_s` until accepted, like an SDK's retry.
    """

    def __init__(
        self,
        lanes: dict[str, Any],
        *,
        tag: str,
        tag_hex: str,
        total: int,
        batch: int = 50,
        rate: Optional[float] = None,
        seq_start: int = 0,
        retry_s: float = 1.0,
        extra: Optional[Callable[[str, int], Optional[dict]]] = None,
        twin: Optional[Callable[[str, int], bool]] = None,
    ):
        self.lanes = lanes  # index (or "spans") -> lane object
        self.tag, self.tag_hex = tag, tag_hex
        self.total, self.batch, self.rate = total, batch, rate
        self.seq = itertools.count(seq_start)
        self.retry_s = retry_s
        self.extra = extra
        self.twin = twin or (lambda index, seq: False)
        self.sent = Sent()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"sender-{tag}")
        self.samples = {index: shaped_records(index) for index in lanes if index != "spans"}
        self.error: Optional[BaseException] = None

    def start(self) -> "Sender":
        self.thread.start()
        return self

    def join(self, timeout: Optional[float] = None) -> None:
        self.thread.join(timeout)
        if self.error:
            raise self.error

    def _request(self, index: str, seqs: list[int]) -> bytes:
        if index == "spans":
            return spans_request(self.tag, self.tag_hex, seqs)
        samples = self.samples[index]
        numbered = []
        for s in seqs:
            record = samples[s % len(samples)]
            if self.extra:
                record = self.extra(index, s) or record
            numbered += [(s, record)] * (2 if self.twin(index, s) else 1)
        return logs_request(index, self.tag, numbered)

    def _run(self) -> None:
        try:
            streams = itertools.cycle(sorted(self.lanes))
            sent = 0
            interval = 1.0 / self.rate if self.rate else 0.0
            next_at = time.monotonic()
            while sent < self.total and not self.stop.is_set():
                index = next(streams)
                n = min(self.batch, self.total - sent)
                seqs = [next(self.seq) for _ in range(n)]
                body = self._request(index, seqs)
                signal = "traces" if index == "spans" else "logs"
                while not self.lanes[index].post(signal, body):
                    self.sent.refusals += 1
                    if self.stop.wait(self.retry_s):
                        return
                twins = [] if index == "spans" else [q for q in seqs if self.twin(index, q)]
                self.sent.add(index, seqs, time.monotonic(), twins)
                sent += n
                if interval:
                    next_at += interval
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        self.stop.wait(delay)
        except BaseException as exc:  # surfaced by join()
            self.error = exc


# --------------------------------------------------------------------------- counting in OpenSearch


def _search(base: str, index: str, body: dict) -> dict:
    # A stream's records are in its daily indices (README "Retention"): read them all.
    answer = requests.post(f"{base}/{names.read_pattern(index)}/_search", json=body, timeout=60)
    answer.raise_for_status()
    return answer.json()


def stored_counts(base: str, index: str, query: dict, key: str) -> tuple[set, int]:
    """(distinct values of `key`, total documents) among documents matching query.

    Distinct values come from a composite aggregation paged to the end (exact,
    unlike `cardinality`).
    """
    requests.post(f"{base}/{names.read_pattern(index)}/_refresh", timeout=60)
    values: set = set()
    after = None
    total = 0
    while True:
        composite: dict = {"size": 5000, "sources": [{"v": {"terms": {"field": key}}}]}
        if after:
            composite["after"] = after
        body = {"size": 0, "track_total_hits": True, "query": query, "aggs": {"seen": {"composite": composite}}}
        answer = _search(base, index, body)
        total = answer["hits"]["total"]["value"]
        if "aggregations" not in answer:
            # No index matches the pattern yet (nothing of the stream was ever stored): the
            # search answers without aggregations. Anything else is a real failure.
            assert total == 0 and answer.get("_shards", {}).get("total") == 0, answer
            return values, 0
        agg = answer["aggregations"]["seen"]
        for bucket in agg["buckets"]:
            values.add(bucket["key"]["v"])
        after = agg.get("after_key")
        if not agg["buckets"] or not after:
            return values, total


def doubled_detail(base: str, index: str, tag: str, limit: int = 2) -> str:
    """For a failure message: the copies of a few doubled records, and which fields differ between them."""
    requests.post(f"{base}/{names.read_pattern(index)}/_refresh", timeout=60)
    body = {
        "size": 0,
        "query": {"term": {"resource.agent": tag}},
        "aggs": {"dup": {"terms": {"field": f"attributes.{SEQ}", "min_doc_count": 2, "size": limit}}},
    }
    buckets = _search(base, index, body)["aggregations"]["dup"]["buckets"]
    lines = []
    for bucket in buckets:
        hits = _search(base, index, {"size": 5, "query": {"bool": {"filter": [
            {"term": {"resource.agent": tag}}, {"term": {f"attributes.{SEQ}": bucket["key"]}}]}}})["hits"]["hits"]
        flat = [_flatten(h["_source"]) for h in hits]
        keys = sorted(set().union(*flat))
        differ = {k: [f.get(k) for f in flat] for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1}
        lines.append(f"{index} seq {bucket['key']} x{bucket['doc_count']}: ids {[(h['_index'], h['_id']) for h in hits]}; differ {differ}")
    return "\n".join(lines)


def _flatten(doc: Any, prefix: str = "") -> dict:
    if isinstance(doc, dict):
        out: dict = {}
        for k, v in doc.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): doc}


def copies(base: str, index: str, tag: str) -> dict[int, int]:
    """seq -> documents stored with it, for every seq stored more than once (this run's records)."""
    requests.post(f"{base}/{names.read_pattern(index)}/_refresh", timeout=60)
    body = {
        "size": 0,
        "query": {"term": {"resource.agent": tag}},
        "aggs": {"dup": {"terms": {"field": f"attributes.{SEQ}", "min_doc_count": 2, "size": 10000}}},
    }
    return {int(b["key"]): b["doc_count"] for b in _search(base, index, body)["aggregations"]["dup"]["buckets"]}


def log_counts(base: str, index: str, tag: str) -> tuple[set, int]:
    # The log templates map undeclared attribute numbers as keywords: compare as integers.
    found, total = stored_counts(base, index, {"term": {"resource.agent": tag}}, f"attributes.{SEQ}")
    return {int(v) for v in found}, total


def span_counts(base: str, tag_hex: str) -> tuple[set, int]:
    found, total = stored_counts(base, names.TRACES_INDEX, {"prefix": {"traceId": tag_hex[:12]}}, "spanId")
    return {int(s, 16) - 1 for s in found}, total


def run_tag() -> tuple[str, str]:
    tag_hex = os.urandom(6).hex()
    return f"durable-{tag_hex}", tag_hex
