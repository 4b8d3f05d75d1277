"""Two README "Durable delivery" promises, proved with the REAL collector and a real OpenSearch.

Both run the stack's rendered collector config (test_collector_to_opensearch's
running_collector: local addresses only), changed in ONE value each:

- a full queue: the durable exporters' queue_size made small (64 KiB instead of
  512 MiB), so a short write block in OpenSearch fills it. The receiver must
  refuse the next request with a retryable status (OTLP/HTTP 503 or 429, gRPC
  UNAVAILABLE or RESOURCE_EXHAUSTED); the OpenTelemetry SDK's exporter retries
  it and, once OpenSearch takes writes again, every accepted record is stored
  exactly once. Negative control: the requests a raw sender did not retry are
  missing, and the collector counted them in otelcol_exporter_enqueue_failed_*.
- a record OpenSearch refuses outright (more attributes than the index's
  field-count limit): the retry horizon (deliveryRetryHours, 6 h) made 20 s.
  The request holding it is retried (the opensearch exporter fails again and
  again), the other records of the request are stored once, and at the horizon
  the request is dropped and counted in the durable exporter's
  otelcol_exporter_send_failed_log_records_total. Negative control: OpenSearch
  itself refuses the record written directly.

Sequence numbers (durable_traffic.SEQ) count what is stored exactly.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time

import grpc
import requests

import durable_traffic as dt
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from net import wait_until
from otlp_sender import http_log_exporter, send_logs
from telemetry_samples import RESOURCES
from test_collector_to_opensearch import _bootstrap, running_collector

INDEX = "claude-code"
SMALL_QUEUE_BYTES = 64 * 1024
BATCH = 50
MAX_FILL_REQUESTS = 400
HORIZON_S = 20
# With the ~180 fields the claude-code templates declare and the exporter's own, 850 new
# attributes pass index.mapping.total_fields.limit (OpenSearch's default, 1000). (Wider records
# go through the envelope pipeline too: tests/providers/test_envelope_wide_records.py.)
POISON_ATTRIBUTES = 850
WAIT_S = 120


def _durable_exporters(config: dict) -> list[dict]:
    return [e for name, e in config["exporters"].items() if name.startswith("otlp_grpc/")]


def _metric(port: int, name: str, exporter: str) -> float:
    """One counter or gauge of the collector's own telemetry, for one exporter (0 when not reported yet)."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        # The collector's own endpoint leaves out the _total suffix Prometheus' copy carries.
        if line.startswith((name + "{", name.removesuffix("_total") + "{")) and f'exporter="{exporter}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _numbered(seqs) -> list[tuple[int, dict]]:
    samples = dt.shaped_records(INDEX)
    return [(s, samples[s % len(samples)]) for s in seqs]


def _post(url: str, body: bytes) -> requests.Response:
    return requests.post(f"{url}/v1/logs", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30)


def _block_writes(cluster, on: bool) -> None:
    # A cluster-wide block: every index (whatever its name) refuses writes with 403.
    answer = cluster.call("PUT", "_cluster/settings", {"transient": {"cluster.blocks.read_only": True if on else None}})
    assert answer.status_code == 200, answer.text


def test_full_queue_refuses_with_a_retryable_status_and_the_sdk_retry_loses_nothing(cluster, tmp_path):
    _bootstrap(cluster)
    tag, _ = dt.run_tag()

    def small_queue(config: dict) -> None:
        for exporter in _durable_exporters(config):
            exporter["sending_queue"]["queue_size"] = SMALL_QUEUE_BYTES

    sdk_messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            sdk_messages.append(record.getMessage())

    sdk_log = logging.getLogger("opentelemetry.exporter.otlp")
    keep = Keep(level=logging.WARNING)
    sdk_log.addHandler(keep)
    with running_collector(cluster.url, tmp_path, small_queue) as collector:
        http = f"http://127.0.0.1:{collector['ports']['http']}"
        self_port = collector["ports"]["self"]
        enqueue_failed = lambda: _metric(self_port, "otelcol_exporter_enqueue_failed_log_records_total", "otlp_grpc/untrusted")  # noqa: E731
        seq = itertools.count()
        accepted: list[int] = []
        refused: list[int] = []
        sdk_seqs: list[int] = []
        result: dict = {}
        _block_writes(cluster, True)
        try:
            # A plain sender (no retries) fills the queue; the first refusal ends it.
            for _ in range(MAX_FILL_REQUESTS):
                seqs = [next(seq) for _ in range(BATCH)]
                answer = _post(http, dt.logs_request(INDEX, tag, _numbered(seqs)))
                if answer.status_code != 200:
                    refused = seqs
                    break
                accepted += seqs
            assert refused, f"{len(accepted)} records accepted while OpenSearch refused writes: the queue never filled"
            assert answer.status_code in (429, 503), f"a full queue answered {answer.status_code}: {answer.text[:300]}"
            # The gRPC receiver refuses with a status the SDKs retry too.
            grpc_seqs = [next(seq) for _ in range(BATCH)]
            stub = logs_service_pb2_grpc.LogsServiceStub(grpc.insecure_channel(f"127.0.0.1:{collector['ports']['grpc']}"))
            request = logs_service_pb2.ExportLogsServiceRequest.FromString(dt.logs_request(INDEX, tag, _numbered(grpc_seqs)))
            try:
                stub.Export(request, timeout=30)
                raise AssertionError("the gRPC receiver accepted a request while the queue was full")
            except grpc.RpcError as error:
                assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED), error
            refused += grpc_seqs
            counted = wait_until(enqueue_failed, WAIT_S, "the collector counting its refusals",
                                 lambda: "\n".join(l for l in requests.get(f"http://127.0.0.1:{self_port}/metrics", timeout=10).text.splitlines() if "exporter" in l and not l.startswith("#")))
            assert counted >= len(refused), counted

            # The SDK's request meets the same full queue; its exporter retries it.
            sdk_seqs = [next(seq) for _ in range(BATCH)]
            records = [{**r, "attributes": {**r["attributes"], dt.SEQ: s}} for s, r in _numbered(sdk_seqs)]

            def sdk_send():
                result["ok"] = send_logs(
                    http_log_exporter(http, timeout=60),
                    resource={**RESOURCES[INDEX], "agent": tag},
                    records=records,
                    scope="com.anthropic.claude_code.events",
                )

            sdk = threading.Thread(target=sdk_send, daemon=True)
            sdk.start()
            # send_logs exports one record per request: its first request refused and retried.
            wait_until(lambda: any(re.search(r"Transient error .*(429|503|Service Unavailable|Too Many)", m) for m in sdk_messages),
                       WAIT_S, "the SDK retrying a refused request", lambda: str(sdk_messages[-5:]))
        finally:
            _block_writes(cluster, False)
        sdk.join(timeout=WAIT_S)
        sdk_log.removeHandler(keep)
        assert result.get("ok") is True, f"the SDK gave up: {sdk_messages[-5:]}"

        want = set(accepted) | set(sdk_seqs)
        found, total = wait_until(
            lambda: (lambda f, t: (f, t) if f >= want else None)(*dt.log_counts(cluster.url, INDEX, tag)),
            WAIT_S,
            "every accepted record stored",
            lambda: f"missing {len(want - dt.log_counts(cluster.url, INDEX, tag)[0])} of {len(want)}; "
            + collector["log"].read_text()[-3000:],
        )
        assert found == want, f"stored records nobody got accepted: {sorted(found - want)[:10]}"
        assert total == len(found), f"{total - len(found)} records stored twice"
        # Negative control: what a sender did not retry is lost, so the refusal was real.
        assert not set(refused) & found
        assert len(accepted) >= BATCH and len(sdk_seqs) == BATCH
        print(f"\nfull queue: {len(accepted)} accepted before the refusal, {len(refused)} refused (not retried), "
              f"{len(sdk_seqs)} retried by the SDK; collector counted {enqueue_failed():.0f} refused")


def test_a_record_opensearch_refuses_is_retried_then_dropped_and_counted_while_the_rest_are_stored(cluster, tmp_path):
    _bootstrap(cluster)
    tag, _ = dt.run_tag()
    poison_seq = 10_000
    poison = {"body": "too many attributes", "attributes": {f"mcp_arg_{i:04d}": "x" for i in range(POISON_ATTRIBUTES)}}

    # Negative control: OpenSearch itself refuses the record (no coercion saves it).
    direct = cluster.call("POST", f"{INDEX}/_doc", {"attributes": poison["attributes"], "@timestamp": "2026-01-01T00:00:00Z"})
    assert direct.status_code == 400 and "Limit of total fields" in direct.text, direct.text[:300]

    def short_horizon(config: dict) -> None:
        for exporter in _durable_exporters(config):
            exporter["retry_on_failure"]["max_elapsed_time"] = f"{HORIZON_S}s"

    with running_collector(cluster.url, tmp_path, short_horizon) as collector:
        http = f"http://127.0.0.1:{collector['ports']['http']}"
        self_port = collector["ports"]["self"]
        good = list(range(BATCH))
        numbered = _numbered(good)
        numbered.insert(BATCH // 2, (poison_seq, poison))
        answer = _post(http, dt.logs_request(INDEX, tag, numbered))
        assert answer.status_code == 200, answer.text
        started = time.monotonic()

        attempts = lambda: _metric(self_port, "otelcol_exporter_send_failed_log_records_total", f"opensearch/{INDEX}")  # noqa: E731
        dropped = lambda: _metric(self_port, "otelcol_exporter_send_failed_log_records_total", "otlp_grpc/untrusted")  # noqa: E731
        wait_until(lambda: dropped() > 0, WAIT_S, "the request dropped at the retry horizon", lambda: collector["log"].read_text()[-3000:])
        elapsed = time.monotonic() - started
        log = collector["log"].read_text()

        # Retried: the opensearch exporter failed the whole request again and again.
        assert attempts() >= 2 * len(numbered), (attempts(), log[-3000:])
        assert elapsed >= HORIZON_S * 0.5, f"dropped after {elapsed:.0f}s: not retried to the horizon"
        # Dropped and counted: the request (every record in it) in the durable exporter's failures.
        assert dropped() == len(numbered), dropped()
        assert _metric(self_port, "otelcol_exporter_queue_size", "otlp_grpc/untrusted") == 0
        # Where an operator reads it: OpenSearch's reason on each attempt, the drop and its count.
        assert re.search(r'"otelcol.component.id": "opensearch/claude-code".*Limit of total fields \[1000\]', log), log[-3000:]
        assert re.search(r'Exporting failed\. Dropping data\..*"otelcol.component.id": "otlp_grpc/untrusted".*"dropped_items": '
                         + str(len(numbered)), log), log[-3000:]
        # The others in the same request are stored, each once; the refused record is not.
        found, total = dt.log_counts(cluster.url, INDEX, tag)
        assert found == set(good), f"missing {sorted(set(good) - found)}; extra {sorted(found - set(good))}"
        assert total == len(good), f"{total - len(good)} records stored twice"
        print(f"\nrefused record: {attempts() / len(numbered):.0f} attempts in {elapsed:.0f}s, then dropped; "
              f"otlp_grpc/untrusted send_failed = {dropped():.0f}")
