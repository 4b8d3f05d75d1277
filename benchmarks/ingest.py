"""Ingest: claude-code records stored through the collector vs a direct `_bulk` of the same documents.

1. N Claude Code-shaped records are encoded once as OTLP/HTTP protobuf
   payloads (the OpenTelemetry SDK's own encoder, batches of 512 like the
   SDK's batch processor), each record numbered (`event.sequence`) and tagged
   with a run marker (`session.id`).
2. Capture: the same records go through the real collector build
   (tools/images.sh caches the binary) running the stack's own rendered
   config, whose OpenSearch endpoint is a local capture server. That yields
   the exact `_bulk` bodies the collector's exporter writes.
3. Ceiling: those bodies, marker swapped for an equal-length one, are POSTed
   to the stack's OpenSearch `_bulk` (same index, so the same default and
   final ingest pipelines run), as many at a time as the durable exporters'
   consumers send (collector_config.DURABLE_CONSUMERS);
   once before and once after step 4, the faster run counting.
4. Through the collector: the payloads are POSTed to the stack collector's
   OTLP/HTTP port, two senders at a time.

Both rates are N / (first request -> all N visible to `_count`), counted the
same way; loss and duplicates come from a composite aggregation over
`event.sequence` (exact, unlike `cardinality`).
"""

from __future__ import annotations

import glob
import http.server
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

import requests
import yaml

from components import names
from components.services import collector_config
from components.settings import validate

CACHE = pathlib.Path.home() / ".cache" / "clawker-monitor"
INDEX = "claude-code"
BATCH = 512
SENDERS = 2
# Attempts per request refused with a retryable status (about a minute in all).
RETRIES = 40
MARKER_FIELD = "attributes.session.id"
SEQUENCE_FIELD = "attributes.event.sequence"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ payloads


def otlp_payloads(records: list[dict], resource: dict, marker: str, n: int) -> list[bytes]:
    """n records cycling through `records`, as serialized ExportLogsServiceRequests of BATCH records."""
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    batch: list = []

    class Keep(LogRecordExporter):
        def export(self, items):
            batch.extend(items)
            return LogRecordExportResult.SUCCESS

        def shutdown(self):
            return None

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(SimpleLogRecordProcessor(Keep()))
    logger = provider.get_logger("com.anthropic.claude_code.events", "2.1.3")
    for i in range(n):
        record = records[i % len(records)]
        logger.emit(
            LogRecord(
                timestamp=time.time_ns(),
                severity_text="INFO",
                severity_number=SeverityNumber.INFO,
                body=record.get("body", ""),
                attributes={**record.get("attributes", {}), "session.id": marker, "event.sequence": i},
            )
        )
    provider.shutdown()
    return [encode_logs(batch[i : i + BATCH]).SerializeToString() for i in range(0, len(batch), BATCH)]


def post_all(
    url: str,
    bodies: list,
    content_type: str,
    check: Callable[[requests.Response], None],
    senders: int = SENDERS,
    http: Optional[requests.Session] = None,
) -> None:
    """POST every body (or (path, body) to url + path), `senders` at a time (with `http`'s auth and CA when given)."""
    post = (http or requests).post

    def send(item) -> None:
        path, body = item if isinstance(item, tuple) else ("", item)
        # A retryable refusal (the collector's memory limiter or full queue: 503/429) is sent
        # again, as the OpenTelemetry SDK does; it is no loss and no error.
        for attempt in range(RETRIES):
            resp = post(url + path, data=body, headers={"Content-Type": content_type}, timeout=120)
            if resp.status_code not in (429, 503):
                break
            time.sleep(min(2.0, 0.1 * 2**attempt))
        check(resp)

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, bodies))


# ------------------------------------------------------------------- capture


class _Capture(http.server.BaseHTTPRequestHandler):
    """Answers like OpenSearch: `/` with its version, `_bulk` with every item created."""

    protocol_version = "HTTP/1.1"
    bodies: list = []
    seen: set = set()
    duplicates = 0
    content_type = "application/json"
    lock = threading.Lock()

    def log_message(self, *_args) -> None:
        return

    def _answer(self, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer({"name": "capture", "version": {"distribution": "opensearch", "number": "3.6.0"}, "tagline": "capture"})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        items = []
        kept: list[str] = []
        lines = [line for line in body.decode().splitlines() if line.strip()]
        with self.lock:
            for action_line, doc_line in zip(lines[0::2], lines[1::2]):
                action_doc = json.loads(action_line)
                action = next(iter(action_doc))
                meta = action_doc[action]
                items.append({action: {"_index": meta.get("_index", INDEX), "_id": meta.get("_id", "x"), "status": 201, "result": "created"}})
                # The durable path delivers at least once (the store is idempotent): a record
                # the capture already holds is left out of the ceiling's bodies, and counting
                # stops at n distinct records, not n documents (else some were never captured).
                seq = _sequence(json.loads(doc_line))
                if seq in type(self).seen:
                    type(self).duplicates += 1
                    continue
                type(self).seen.add(seq)
                kept += [action_line, doc_line]
            if kept:
                type(self).bodies.append((self.path, ("\n".join(kept) + "\n").encode(), len(kept) // 2))
            type(self).content_type = self.headers.get("Content-Type", "application/json")
        self._answer({"took": 1, "errors": False, "items": items})


def _sequence(doc: dict):
    attributes = doc.get("attributes") or {}
    if "event.sequence" in attributes:
        return attributes["event.sequence"]
    event = attributes.get("event")
    return event.get("sequence") if isinstance(event, dict) else None


def collector_binary() -> str:
    explicit = os.environ.get("CLAWKER_OTELCOL_BIN")
    if explicit:
        return explicit
    # The newest build: each manifest change is cached beside the older ones.
    found = sorted(glob.glob(str(CACHE / "otelcol-contrib-*" / "otelcol-contrib")), key=os.path.getmtime)
    if not found:
        raise SystemExit(f"no collector build under {CACHE}/otelcol-contrib-*/ (run tools/setup.sh)")
    return found[-1]


def wait_for_otlp(url: str, proc: subprocess.Popen, log: pathlib.Path, what: str, timeout_s: float) -> None:
    """Until the collector at `url` accepts an (empty) OTLP/HTTP post; exits with its log if it dies or never does."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.post(url, data=b"", headers={"Content-Type": "application/x-protobuf"}, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def local_collector_config(
    capture_url: str, workdir: pathlib.Path, adjust: Optional[Callable[[dict], dict]] = None
) -> tuple[dict, int]:
    """The stack's rendered collector config with local ports and the capture server as OpenSearch.

    adjust(config) -> config: a role's part over it (the machine role's, benchmarks/team.py)."""
    ports = {k: free_port() for k in ("http", "grpc", "metrics", "self")}
    settings = validate(
        {
            "otlpHttpPort": ports["http"],
            "otlpGrpcPort": ports["grpc"],
            "infraPort": 0,
            "collectorMetricsPort": ports["metrics"],
        }
    )
    text = json.dumps(collector_config.render(settings))
    text = text.replace("0.0.0.0:", "127.0.0.1:").replace(settings.opensearch_internal_url, capture_url)
    text = text.replace(f"localhost:{collector_config.SELF_TELEMETRY_PORT}", f"localhost:{ports['self']}")
    # The durable hop's loopback ports too, so two collectors can run side by side (benchmarks/team.py).
    for lane, port in collector_config.LOOPBACK_PORTS.items():
        text = text.replace(f"{collector_config.LOOPBACK_HOST}:{port}\"", f"{collector_config.LOOPBACK_HOST}:{free_port()}\"")
    config = json.loads(text)
    readers = config["service"]["telemetry"]["metrics"]["readers"]
    readers[0]["pull"]["exporter"]["prometheus"]["port"] = ports["self"]
    if adjust:
        config = adjust(config)
    # A durable queue's directory lives on a volume in the stack; here, a temporary one.
    for name, ext in (config.get("extensions") or {}).items():
        if isinstance(ext, dict) and "directory" in ext:
            ext["directory"] = str(workdir / name.replace("/", "_"))
            pathlib.Path(ext["directory"]).mkdir(parents=True, exist_ok=True)
            # Compaction writes its temporary file to a directory of its own (the stack: the same volume).
            if isinstance(ext.get("compaction"), dict) and "directory" in ext["compaction"]:
                ext["compaction"]["directory"] = ext["directory"]
    return config, ports["http"]


def capture_bulk_bodies(
    payloads: list[bytes], n: int, adjust: Optional[Callable[[dict], dict]] = None, env: Optional[Callable[[str], dict]] = None
) -> tuple[list[tuple[str, bytes]], str]:
    """What the collector's exporter writes to `_bulk` for these payloads (env(capture URL): added to its environment)."""
    _Capture.bodies, _Capture.seen, _Capture.duplicates = [], set(), 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    capture_url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        workdir = pathlib.Path(tmp)
        config, http_port = local_collector_config(capture_url, workdir, adjust)
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        log = workdir / "collector.log"
        proc = subprocess.Popen(
            [collector_binary(), f"--config={path}"], stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env(capture_url) if env else {})},
        )
        try:
            url = f"http://127.0.0.1:{http_port}/v1/logs"
            wait_for_otlp(url, proc, log, "capture collector", 30)
            post_all(url, payloads, "application/x-protobuf", lambda r: r.raise_for_status())
            # Bounded by progress, not by a fixed total: on a loaded machine the capture
            # collector may take minutes, but it must keep delivering.
            stalled_at, last = time.monotonic(), -1
            while _captured_docs() < n:
                if _captured_docs() != last:
                    stalled_at, last = time.monotonic(), _captured_docs()
                elif time.monotonic() - stalled_at > 60:
                    raise SystemExit(f"capture got {_captured_docs()} of {n} documents:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            server.shutdown()
            server.server_close()
    return [(path, body) for path, body, _items in _Capture.bodies], _Capture.content_type


def _captured_docs() -> int:
    with _Capture.lock:
        return sum(items for _path, _body, items in _Capture.bodies)


# ------------------------------------------------------------------ counting


class Store:
    def __init__(self, url: str, http: Optional[requests.Session] = None):
        self.url = url.rstrip("/")
        self.http = http or requests.Session()

    def count(self, marker: str) -> int:
        resp = self.http.post(
            f"{self.url}/{INDEX}*/_count", json={"query": {"term": {MARKER_FIELD: marker}}}, timeout=30
        )
        return resp.json().get("count", 0) if resp.ok else 0

    def distinct_sequences(self, marker: str) -> tuple[int, int]:
        """(distinct event.sequence values, documents) for the marker: exact, by composite aggregation."""
        self.http.post(f"{self.url}/{INDEX}/_refresh", timeout=30)
        distinct, after = 0, None
        while True:
            composite = {"size": 10000, "sources": [{"seq": {"terms": {"field": SEQUENCE_FIELD}}}]}
            if after:
                composite["after"] = after
            resp = self.http.post(
                f"{self.url}/{INDEX}*/_search",
                json={"size": 0, "query": {"term": {MARKER_FIELD: marker}}, "aggs": {"seq": {"composite": composite}}},
                timeout=60,
            )
            resp.raise_for_status()
            agg = resp.json()["aggregations"]["seq"]
            distinct += len(agg["buckets"])
            after = agg.get("after_key")
            if not agg["buckets"] or not after:
                break
        return distinct, self.count(marker)

    def wait_for(self, marker: str, n: int, timeout_s: float) -> Optional[float]:
        """Poll `_count` (no forced refresh: the index's own refresh makes records visible)."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.count(marker) >= n:
                return time.time()
            time.sleep(0.1)
        return None


@dataclass
class IngestResult:
    n: int
    direct_s: Optional[float]
    direct_distinct: int
    direct_runs_s: list
    collector_accept_s: float
    collector_s: Optional[float]
    collector_distinct: int
    collector_docs: int
    bulk_requests: int

    @property
    def direct_rate(self) -> Optional[float]:
        return self.n / self.direct_s if self.direct_s else None

    @property
    def collector_rate(self) -> Optional[float]:
        return self.n / self.collector_s if self.collector_s else None


def run(opensearch_url: str, otlp_http_url: str, n: int, run_id: str, timeout_s: float = 300) -> IngestResult:
    from telemetry_samples import RESOURCES, claude_code_records  # tests/providers, on the path (stack.py)

    store = Store(opensearch_url)
    records = claude_code_records()
    capture_marker = f"bench-capture-{run_id}"
    direct_markers = (f"bench-directA-{run_id}", f"bench-directB-{run_id}")
    collector_marker = f"bench-collect-{run_id}"
    assert len({len(capture_marker), len(collector_marker), *map(len, direct_markers)}) == 1

    bodies, content_type = capture_bulk_bodies(otlp_payloads(records, RESOURCES[INDEX], capture_marker, n), n)
    collector_payloads = otlp_payloads(records, RESOURCES[INDEX], collector_marker, n)

    def bulk_ok(resp: requests.Response) -> None:
        resp.raise_for_status()
        if resp.json().get("errors"):
            raise SystemExit(f"direct _bulk had item errors: {resp.text[:2000]}")

    def direct(marker: str) -> tuple[Optional[float], int]:
        swapped = [(path, body.replace(capture_marker.encode(), marker.encode())) for path, body in bodies]
        started = time.time()
        # As many bulks at once as the durable exporters send (their consumers).
        post_all(opensearch_url.rstrip("/"), swapped, content_type, bulk_ok, collector_config.DURABLE_CONSUMERS)
        done = store.wait_for(marker, n, timeout_s)
        return (done - started if done else None), store.distinct_sequences(marker)[0]

    # The ceiling is measured before and after the collector run (a cold JVM or a
    # busy neighbour would otherwise favour one side); the faster of the two counts.
    first = direct(direct_markers[0])

    started = time.time()
    post_all(otlp_http_url, collector_payloads, "application/x-protobuf", lambda r: r.raise_for_status())
    accepted = time.time()
    done = store.wait_for(collector_marker, n, timeout_s)
    collector_s = done - started if done else None
    # Late duplicates would show up after the count first reaches n: look again a little later.
    time.sleep(2)
    collector_distinct, collector_docs = store.distinct_sequences(collector_marker)

    second = direct(direct_markers[1])
    timed = [run for run in (first, second) if run[0]]
    direct_s, direct_distinct = min(timed) if timed else (None, max(first[1], second[1]))
    return IngestResult(
        n=n,
        direct_s=direct_s,
        direct_distinct=direct_distinct,
        direct_runs_s=[first[0], second[0]],
        collector_accept_s=accepted - started,
        collector_s=collector_s,
        collector_distinct=collector_distinct,
        collector_docs=collector_docs,
        bulk_requests=len(bodies),
    )
