"""Ingest: claude-code records stored through the collector vs a direct `_bulk` of the same documents.

1. N Claude Code-shaped records are encoded once as OTLP/HTTP protobuf
   payloads (the OpenTelemetry SDK's own encoder, batches of 512 like the
   SDK's batch processor), each record numbered (`event.sequence`) and tagged
   with a run marker (`session.id`).
2. Capture: the same records go through the real collector build
   (tools/images.sh caches the binary) running the stack's own rendered
   config, whose OpenSearch endpoint is a local capture server. That yields
   the exact `_bulk` bodies the collector's exporter writes.
3. Warm-up (untimed): a quarter of the records through each path, direct
   `_bulk` and the collector, so that neither path's first timed run pays
   for what only the first writes cost (the JVM's JIT and the ingest scripts'
   first runs, the day's index and its dynamic mappings, the collector's
   first allocations).
4. Timed, each path twice in mirrored order (ORDER: direct, collector,
   collector, direct), each run with its own marker of the same length:
   - direct (the ceiling): the captured bodies, marker swapped, POSTed to
     the stack's OpenSearch `_bulk` (same index, so the same default and
     final ingest pipelines run), as many at a time as the durable
     exporters' consumers send (collector_config.DURABLE_CONSUMERS);
   - through the collector: the same payloads, marker swapped, POSTed to
     the stack collector's OTLP/HTTP port, two senders at a time.
   The faster run of each path counts (until 2026-12-05 the faster of two
   direct runs was set against a single collector run, with no warm-up:
   benchmarks/README.md says why that scattered).

Both rates are N / (first request -> all N written), counted the same way:
written is when the stream's primary shards have done N more index operations
(`_stats/indexing`, polled every 50 ms), trusted only when a run ends with
exactly N more (no record written twice), else the time all N are visible to
`_count` counts (until 2026-12-05 it always did; that time is rounded up to the
index's next 1 s refresh, up to a third of a 3 s run). Loss and duplicates come from a composite aggregation over
`event.sequence` (exact, unlike `cardinality`), for every collector run,
warm-up included. `cpu` (optional) names processes or containers whose CPU
seconds each run reports, to say which side a gap comes from.
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
            try:
                post_all(url, payloads, "application/x-protobuf", lambda r: r.raise_for_status())
            except requests.RequestException as exc:
                text = log.read_text()
                first = text.find("panic")
                raise SystemExit(f"capture collector: {exc}; exit code {proc.poll()}; log:\n"
                                 + (text[first - 500:first + 2500] + "\n...\n" if first >= 0 else "") + text[-3000:])
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

    def indexed(self) -> int:
        """Index operations the stream's primary shards have done: each record counts as it is
        written, before a refresh makes it searchable (a resent record counts again)."""
        resp = self.http.get(
            f"{self.url}/{INDEX}*/_stats/indexing", params={"filter_path": "_all.primaries.indexing.index_total"}, timeout=30
        )
        resp.raise_for_status()
        return int(resp.json().get("_all", {}).get("primaries", {}).get("indexing", {}).get("index_total", 0))

    def wait_written(self, n: int, since: int, timeout_s: float) -> Optional[float]:
        """When the shards' index operations first reach `since` + n (polled every 50 ms).

        What `wait_for` sees is rounded up to the index's next refresh (1 s by default): on runs
        of 2-4 s that alone moved a path's seconds by up to a third. The caller trusts this time
        only when the operations end at exactly `since` + n (no record written twice)."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.indexed() - since >= n:
                return time.time()
            time.sleep(0.05)
        return None

    def wait_for(self, marker: str, n: int, timeout_s: float) -> Optional[float]:
        """Poll `_count` (no forced refresh: the index's own refresh makes records visible)."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.count(marker) >= n:
                return time.time()
            time.sleep(0.1)
        return None


@dataclass
class Timed:
    """One timed run of one path: seconds until all n are written (index operations; or, when a
    record was written twice, until all n are searchable). None: not all within the timeout."""

    path: str  # "direct" or "collector"
    seconds: Optional[float]
    sent: int
    distinct: int
    docs: int
    cpu_s: dict  # name -> CPU seconds spent during the run (the `cpu` probes given to run())


@dataclass
class IngestResult:
    n: int
    runs: list  # every timed run, in the order run (ORDER)
    warmup: list  # the untimed warm-up of each path (same fields)
    bulk_requests: int
    collector_accept_s: float  # the first timed collector run: all payloads answered

    def _best(self, path: str) -> Optional[Timed]:
        timed = [r for r in self.runs if r.path == path and r.seconds]
        return min(timed, key=lambda r: r.seconds) if timed else None

    @property
    def direct_s(self) -> Optional[float]:
        best = self._best("direct")
        return best.seconds if best else None

    @property
    def collector_s(self) -> Optional[float]:
        best = self._best("collector")
        return best.seconds if best else None

    @property
    def direct_rate(self) -> Optional[float]:
        return self.n / self.direct_s if self.direct_s else None

    @property
    def collector_rate(self) -> Optional[float]:
        return self.n / self.collector_s if self.collector_s else None

    @property
    def ratio(self) -> Optional[float]:
        # None unless every collector run stored every record (a run that lost any has no rate).
        if any(r.seconds is None for r in self.runs if r.path == "collector"):
            return None
        return self.collector_rate / self.direct_rate if self.collector_rate and self.direct_rate else None

    @property
    def cpu_ratio(self) -> Optional[float]:
        """CPU seconds the probed sides spent in the faster direct run over those in the faster collector
        run (same n): the ratio the two paths would have if only this machine's CPU limited them.
        None without `cpu` probes."""
        direct, collector = self._best("direct"), self._best("collector")
        if not direct or not collector or not direct.cpu_s or not collector.cpu_s:
            return None
        spent = sum(collector.cpu_s.values())
        return sum(direct.cpu_s.values()) / spent if spent > 0 else None

    @property
    def collector_ceiling(self) -> Optional[float]:
        """The CPU-work ratio the collector path would have if OpenSearch spent no more CPU per record
        on it than on the direct path: OpenSearch's CPU in the faster direct run over that plus the
        collector's own CPU in the faster collector run. What the collector's hops alone leave of
        direct `_bulk` on a machine whose cores limit both paths. None without `cpu` probes."""
        direct, collector = self._best("direct"), self._best("collector")
        if not direct or not collector or "opensearch" not in direct.cpu_s or "collector" not in collector.cpu_s:
            return None
        opensearch = direct.cpu_s["opensearch"]
        return opensearch / (opensearch + collector.cpu_s["collector"]) if opensearch > 0 else None

    def runs_s(self, path: str) -> list:
        return [r.seconds for r in self.runs if r.path == path]

    @property
    def direct_distinct(self) -> int:
        return min((r.distinct for r in self.runs if r.path == "direct"), default=0)

    # Every record sent through the collector, warm-up included, is counted for loss and doubling.
    def _collector(self) -> list:
        return [r for r in self.warmup + self.runs if r.path == "collector"]

    @property
    def collector_sent(self) -> int:
        return sum(r.sent for r in self._collector())

    @property
    def collector_distinct(self) -> int:
        return sum(r.distinct for r in self._collector())

    @property
    def collector_docs(self) -> int:
        return sum(r.docs for r in self._collector())

    @property
    def lost(self) -> int:
        return self.collector_sent - self.collector_distinct

    @property
    def doubled(self) -> int:
        return self.collector_docs - self.collector_distinct


# The timed runs: each path twice, in mirrored order (ABBA), so a load that rises or falls
# during the run weighs on both paths alike; the faster run of each path counts.
ORDER = ("direct", "collector", "collector", "direct")
# The warm-up before them (untimed): this share of the records through each path, so the
# first timed run of neither path pays for the JVM's JIT, the scripts' first runs, the day's
# index and its mappings, or the collector's first allocations.
WARMUP_SHARE = 4


def _cpu_now(cpu: Optional[dict]) -> dict:
    return {name: read() for name, read in (cpu or {}).items()}


def run(
    opensearch_url: str,
    otlp_http_url: str,
    n: int,
    run_id: str,
    timeout_s: float = 300,
    cpu: Optional[dict] = None,
) -> IngestResult:
    """cpu: name -> a function returning that process's (or container's) CPU seconds so far."""
    from telemetry_samples import RESOURCES, claude_code_records  # tests/providers, on the path (stack.py)

    store = Store(opensearch_url)
    records = claude_code_records()
    # Every marker has the capture marker's length, so swapping it changes no length (bulk
    # bodies, protobuf strings) and no document size.
    capture_marker = f"bench-capture-{run_id}"

    def marker(path: str, i) -> str:
        made = f"bench-{path[:6]}{i}-{run_id}"
        made += "-" * (len(capture_marker) - len(made))
        assert len(made) == len(capture_marker), made
        return made

    # Encoded once: each run's payloads differ from the captured ones only in the marker.
    payloads = otlp_payloads(records, RESOURCES[INDEX], capture_marker, n)
    bodies, content_type = capture_bulk_bodies(payloads, n)

    def bulk_ok(resp: requests.Response) -> None:
        resp.raise_for_status()
        if resp.json().get("errors"):
            raise SystemExit(f"direct _bulk had item errors: {resp.text[:2000]}")

    def one(path: str, tag, share: int = 1) -> Timed:
        mark = marker(path, tag).encode()
        since = store.indexed()
        cpu_before = _cpu_now(cpu)
        started = time.time()
        if path == "direct":
            swapped = [(p, body.replace(capture_marker.encode(), mark)) for p, body in bodies[: max(1, len(bodies) // share)]]
            # As many bulks at once as the durable exporters send (their consumers).
            post_all(opensearch_url.rstrip("/"), swapped, content_type, bulk_ok, collector_config.DURABLE_CONSUMERS)
            expected = sum(len([line for line in body.splitlines() if line.strip()]) // 2 for _p, body in swapped)
        else:
            swapped = [p.replace(capture_marker.encode(), mark) for p in payloads[: max(1, len(payloads) // share)]]
            post_all(otlp_http_url, swapped, "application/x-protobuf", lambda r: r.raise_for_status())
            expected = n if share == 1 else min(n, len(swapped) * BATCH)
            accepted.setdefault(path, time.time() - started)
        written = store.wait_written(expected, since, timeout_s)
        cpu_after = _cpu_now(cpu)
        visible = store.wait_for(mark.decode(), expected, timeout_s)
        if path == "collector":
            # Late duplicates would show up after the count first reaches n: look again a little later.
            time.sleep(2)
        distinct, docs = store.distinct_sequences(mark.decode())
        # The written time counts only when every record was written exactly once (a resend is an
        # index operation more, which would have brought that time forward); else the time all
        # were searchable, as before.
        done = written if written and store.indexed() - since == expected else visible
        spent = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
        return Timed(path, (done - started) if done else None, expected, distinct, docs, spent)

    accepted: dict = {}
    warmup = [one(path, "w", WARMUP_SHARE) for path in ("direct", "collector")]
    accepted.clear()
    runs = [one(path, i) for i, path in enumerate(ORDER)]
    return IngestResult(n=n, runs=runs, warmup=warmup, bulk_requests=len(bodies),
                        collector_accept_s=accepted.get("collector", 0.0))
