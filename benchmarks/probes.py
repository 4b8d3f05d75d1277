"""Measuring instruments for the stack benchmark (benchmarks/stack.py).

Nothing here changes the stack: watchers poll from outside, the counting
proxy forwards every request unchanged, memory comes from the containers'
cgroups, and the engine's own event log says when each step ran.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import pathlib
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import requests


def now() -> float:
    """Wall-clock seconds: Docker's events carry wall-clock stamps too."""
    return time.time()


class FirstSuccess(threading.Thread):
    """Polls `probe` every `every_s` until it returns True; `.at` is when it first did.

    `after` (optional): probing begins only once it returns True (checked as often)."""

    def __init__(self, probe: Callable[[], bool], every_s: float = 0.05, after: Optional[Callable[[], bool]] = None):
        super().__init__(daemon=True)
        self.probe, self.every_s, self.after = probe, every_s, after
        self.at: Optional[float] = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            if self.after is not None and not self.after():
                time.sleep(self.every_s)
                continue
            try:
                if self.probe():
                    self.at = now()
                    return
            except requests.RequestException:
                pass
            time.sleep(self.every_s)

    def stop(self) -> None:
        self._halt.set()


def answers_http(url: str) -> Callable[[], bool]:
    """Any HTTP answer from OpenSearch itself (it answers 503 while it elects itself, still an answer).

    The e2e image puts the ISM/SQL plugin contract doubles in front of OpenSearch; they
    answer 502 `plugin_double_upstream` while the JVM behind them is not listening yet.
    That answer is not OpenSearch's: counting it moved the zero point to the doubles'
    start and charged the whole JVM start to "after OpenSearch answers".
    """

    def probe() -> bool:
        resp = requests.get(url, timeout=0.5)
        return not (resp.status_code == 502 and "plugin_double_upstream" in resp.text)

    return probe


def accepts_otlp_logs(url: str) -> Callable[[], bool]:
    """An empty ExportLogsServiceRequest (zero bytes of protobuf) is accepted: stores nothing."""

    def probe() -> bool:
        resp = requests.post(url, data=b"", headers={"Content-Type": "application/x-protobuf"}, timeout=0.5)
        return resp.status_code == 200

    return probe


class DockerEvents:
    """`docker events` for the stack's containers, stamped by the daemon."""

    def __init__(self, containers: list[str]):
        args = ["docker", "events", "--format", "{{json .}}", "--filter", "type=container"]
        for name in containers:
            args += ["--filter", f"container={name}"]
        self.events: list[tuple[float, str, str]] = []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            name = event.get("Actor", {}).get("Attributes", {}).get("name", "?")
            self.events.append((event.get("timeNano", 0) / 1e9, name, event.get("Action", event.get("status", ""))))

    def first(self, container: str, action: str) -> Optional[float]:
        return next((t for t, name, act in self.events if name == container and act.startswith(action)), None)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class EngineEvents(threading.Thread):
    """Reads `pulumi up --json`'s event stream as it comes: when each resource step started and finished."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.ops: dict[str, str] = {}
        self.tail: list[str] = []

    def run(self) -> None:
        for line in self.stream:
            stamp = now()
            self.tail = (self.tail + [line])[-40:]
            try:
                event = json.loads(line)
            except ValueError:
                continue
            for key, book in (("resourcePreEvent", self.started), ("resOutputsEvent", self.finished)):
                meta = (event.get(key) or {}).get("metadata")
                if meta:
                    book.setdefault(meta["urn"], stamp)
                    self.ops[meta["urn"]] = meta.get("op", "")


@dataclass
class Request:
    at: float
    method: str
    path: str
    status: int
    seconds: float
    # What the OpenSearch floor replays (benchmarks/floors.py).
    body: Optional[bytes] = None
    content_type: Optional[str] = None


@dataclass
class CountingProxy:
    """Forwards host:port -> upstream_host:port unchanged and records every request.

    The benchmark's stack sets apiHost to this proxy's loopback address
    (127.0.0.2), so the bootstrap's requests are counted without touching the
    providers; the containers themselves still publish on 127.0.0.1 only.
    """

    host: str
    port: int
    upstream_host: str
    requests: list = field(default_factory=list)

    def start(self) -> "CountingProxy":
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:
                return

            def _forward(self) -> None:
                started = now()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                kind = self.headers.get("Content-Type")
                try:
                    upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.port, timeout=60)
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = upstream.getresponse()
                    data = resp.read()
                except OSError:
                    # Nothing listens yet: the client sees a dropped connection, as it would.
                    proxy.requests.append(Request(started, self.command, self.path, 0, now() - started, body, kind))
                    self.close_connection = True
                    return
                proxy.requests.append(Request(started, self.command, self.path, resp.status, now() - started, body, kind))
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ memory


def _cgroup_dir(container_id: str) -> Optional[pathlib.Path]:
    for candidate in (
        pathlib.Path("/sys/fs/cgroup/memory/docker") / container_id,
        pathlib.Path("/sys/fs/cgroup/system.slice") / f"docker-{container_id}.scope",
    ):
        if candidate.is_dir():
            return candidate
    return None


def _read_int(path: pathlib.Path) -> Optional[int]:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text == "max" else int(text)


def _stat(directory: pathlib.Path, key: str) -> int:
    for name in ("memory.stat",):
        try:
            for line in (directory / name).read_text().splitlines():
                k, _, v = line.partition(" ")
                if k == key:
                    return int(v)
        except OSError:
            pass
    return 0


@dataclass
class MemorySample:
    working_set: int  # usage minus inactive file cache, as `docker stats` reports it
    peak: Optional[int]  # the kernel's high-water mark (includes page cache)
    limit: Optional[int]


def memory_of(container_id: str) -> Optional[MemorySample]:
    directory = _cgroup_dir(container_id)
    if directory is None:
        return None
    if (directory / "memory.usage_in_bytes").exists():  # cgroup v1
        usage = _read_int(directory / "memory.usage_in_bytes") or 0
        inactive = _stat(directory, "total_inactive_file")
        peak = _read_int(directory / "memory.max_usage_in_bytes")
        limit = _read_int(directory / "memory.limit_in_bytes")
        if limit is not None and limit >= 1 << 60:
            limit = None
    else:  # cgroup v2
        usage = _read_int(directory / "memory.current") or 0
        inactive = _stat(directory, "inactive_file")
        peak = _read_int(directory / "memory.peak")
        limit = _read_int(directory / "memory.max")
    return MemorySample(max(0, usage - inactive), peak, limit)


class MemorySampler(threading.Thread):
    """Samples each container's working set every `every_s`; keeps the highest seen."""

    def __init__(self, containers: dict[str, str], every_s: float = 0.5):
        super().__init__(daemon=True)
        self.containers = containers
        self.every_s = every_s
        self.peak_working_set: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for name, cid in self.containers.items():
                sample = memory_of(cid)
                if sample:
                    self.peak_working_set[name] = max(self.peak_working_set.get(name, 0), sample.working_set)
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# ------------------------------------------------------------------ CPU


TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid) -> Optional[tuple[int, int, float]]:
    """(parent pid, session id, CPU seconds: user + system, all threads) of a live process, None when gone."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # After the command name: proc(5)'s field 3 (state) first; ppid 4, session 6, utime/stime 14/15.
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[3]), (int(fields[11]) + int(fields[12])) / TICK


def proc_status_kib(pid: int, field: str) -> Optional[int]:
    """A kB figure of /proc/<pid>/status (VmRSS, VmHWM, ...); None when the process or field is gone."""
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_of_session(sid: int) -> Callable[[], float]:
    """CPU seconds (user + system, all threads) so far of the live processes of a session
    (a process started with start_new_session=True and whatever it exec'd or started)."""

    def read() -> float:
        stats = (proc_stat(entry) for entry in os.listdir("/proc") if entry.isdigit())
        return sum(cpu for _, session, cpu in filter(None, stats) if session == sid)

    return read


def cpu_of_container(container_id: str) -> Callable[[], float]:
    """CPU seconds of a container's cgroup so far (cgroup v1 cpuacct or v2 cpu.stat)."""
    v1 = pathlib.Path("/sys/fs/cgroup/cpuacct/docker") / container_id / "cpuacct.usage"
    v2 = pathlib.Path("/sys/fs/cgroup/system.slice") / f"docker-{container_id}.scope" / "cpu.stat"

    def read() -> float:
        if v1.exists():
            return (_read_int(v1) or 0) / 1e9
        try:
            for line in v2.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        except OSError:
            pass
        return 0.0

    return read


def container_id(name: str) -> Optional[str]:
    proc = subprocess.run(["docker", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def load_average() -> str:
    try:
        return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_count() -> int:
    return os.cpu_count() or 0
