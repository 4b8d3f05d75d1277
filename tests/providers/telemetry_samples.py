"""Realistic telemetry for the mapping tests: what each source sends, and the
document the collector's opensearch exporter (SS4O mode) makes of a log record.

RECORDS holds, per log index, the resource and a few records shaped like the
real senders' (attribute names from ../shared/reference/index-fields.yaml;
values typed the way the senders type them). The same samples are sent through
the real collector with the OpenTelemetry SDK, and written directly as SS4O
documents by ss4o_log_document(), which mirrors the exporter's encoder:
resource attributes as strings under flat dotted keys, record attributes raw
(dotted keys kept), severity nested, the data_stream envelope stamped on.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from typing import Any

from components import names


def _now_iso(offset_s: float = 0.0) -> str:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_s)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def claude_code_records() -> list[dict]:
    common = {
        "session.id": "0f6b1c9e-session",
        "user.id": "9a1b-user",
        "user.email": "dev@example.com",
        "user.account_uuid": "acc-uuid-1",
        "organization.id": "org-1",
        "terminal.type": "xterm-256color",
        "app.version": "2.1.3",
        # Claude Code repeats its OTEL_RESOURCE_ATTRIBUTES as record attributes.
        "agent": "ralph",
        "project": "clawker",
    }
    return [
        {
            "body": "claude_code.user_prompt",
            "attributes": {
                **common,
                "event.name": "user_prompt",
                "event.timestamp": _now_iso(),
                "event.sequence": 1,
                "prompt.id": "prompt-1",
                "prompt": "fix the failing test in components/",
                "prompt_length": 35,
            },
        },
        {
            "body": "claude_code.api_request",
            "attributes": {
                **common,
                "event.name": "api_request",
                "event.timestamp": _now_iso(),
                "event.sequence": 2,
                "prompt.id": "prompt-1",
                "model": "claude-sonnet-4-5",
                "cost_usd": 0.01234,
                "duration_ms": 2345,
                "input_tokens": 1200,
                "output_tokens": 310,
                "cache_read_tokens": 20000,
                "cache_creation_tokens": 512,
                "request_id": "req_01",
                "speed": "normal",
                "query_source": "repl_main_thread",
                "effort": "medium",
                # Subagent / skill / plugin attribution: dotted keys next to the scalar "agent".
                "agent.name": "reviewer",
                "skill.name": "pdf",
                "skill.source": "plugin",
                "plugin.name": "docs",
            },
        },
        {
            "body": "claude_code.tool_result",
            "attributes": {
                **common,
                "event.name": "tool_result",
                "event.timestamp": _now_iso(),
                "event.sequence": 3,
                "prompt.id": "prompt-1",
                "tool_name": "Bash",
                "tool_use_id": "toolu_01",
                "success": "true",
                "duration_ms": 812,
                "decision_type": "accept",
                "decision_source": "config",
                "tool_result_size_bytes": 4096,
                "tool_input_size_bytes": 120,
                "tool_parameters": json.dumps({"bash_command": "pytest -q", "full_command": "pytest -q tests"}),
                "tool_input": json.dumps({"command": "pytest -q tests"}),
                "bash_command": "pytest",
                "full_command": "pytest -q tests",
                "tool_description": "Run the tests",
                "mcp_server_scope": "project",
            },
        },
        {
            "body": "claude_code.tool_decision",
            "attributes": {
                **common,
                "event.name": "tool_decision",
                "event.timestamp": _now_iso(),
                "event.sequence": 4,
                "prompt.id": "prompt-1",
                "tool_name": "Edit",
                "decision": "accept",
                "source": "user_temporary",
                "language": "python",
            },
        },
        {
            "body": "claude_code.api_error",
            "attributes": {
                **common,
                "event.name": "api_error",
                "event.timestamp": _now_iso(),
                "event.sequence": 5,
                "model": "claude-sonnet-4-5",
                "error": "Rate limited: please retry later",
                "status_code": 429,
                "duration_ms": 120,
                "attempt": 2,
                "total_attempts": 3,
                "total_retry_duration_ms": 4000,
                "error_type": "rate_limit_error",
                "error_category": "rate_limit",
                "error_name": "RateLimitError",
                "error_code": "429",
                "agent.name": "reviewer",
            },
        },
        {
            "body": "claude_code.hook_execution_complete",
            "attributes": {
                **common,
                "event.name": "hook_execution_complete",
                "event.timestamp": _now_iso(),
                "event.sequence": 6,
                "prompt.id": "prompt-1",
                "hook_event": "PreToolUse",
                "hook_name": "lint",
                "hook_type": "command",
                "hook_source": "project",
                "hook_matcher": "Bash",
                "hook_definitions": json.dumps([{"type": "command", "command": "ruff check"}]),
                "num_hooks": 2,
                "num_success": 2,
                "num_blocking": 0,
                "num_non_blocking_error": 0,
                "num_cancelled": 0,
                "total_duration_ms": 75,
            },
        },
        {
            "body": "claude_code.plugin_installed",
            "attributes": {
                **common,
                "event.name": "plugin_installed",
                "event.timestamp": _now_iso(),
                "event.sequence": 7,
                "plugin.name": "docs",
                "plugin.version": "1.2.0",
                "plugin.scope": "user",
                "marketplace.name": "claude-plugins-official",
                "marketplace.is_official": "true",
                "install.trigger": "cli",
                "plugin_id_hash": "5e1f",
                "enabled_via": "settings",
                "has_hooks": True,
                "has_mcp": False,
                "skill_path_count": 2,
                "command_path_count": 1,
                "agent_path_count": 0,
            },
        },
    ]


def _records(attrs_list: list[dict], body: str = "", severity: str = "INFO") -> list[dict]:
    return [{"body": body or a.get("event", a.get("event.name", "record")), "attributes": a, "severity_text": severity} for a in attrs_list]


RESOURCES = {
    "claude-code": {
        "service.name": "claude-code",
        "service.version": "2.1.3",
        "project": "clawker",
        "agent": "ralph",
        "host.arch": "amd64",
        "os.type": "linux",
        "os.version": "6.8.0",
    },
    "clawker-cli": {"service.name": "clawker-cli", "service.version": "0.9.0", "project": "clawker", "agent": "ralph"},
    "clawker-cp": {"service.name": "clawker-cp", "service.version": "0.9.0"},
    "clawker-envoy": {"service.name": "envoy"},
    "clawker-coredns": {"service.name": "coredns"},
    "clawker-ebpf-egress": {"service.name": "ebpf-egress"},
}

SCOPES = {"claude-code": "com.anthropic.claude_code.events"}


def records_for(index: str) -> list[dict]:
    if index == "claude-code":
        return claude_code_records()
    if index == "clawker-cli":
        return _records(
            [
                {"event": "agent_started", "component": "run", "level": "info"},
                {"event": "image_build_failed", "component": "build", "level": "error", "error": "exit status 1: no space left"},
            ]
        )
    if index == "clawker-cp":
        return _records(
            [
                {
                    "event": "container_start",
                    "component": "dockerevents",
                    "level": "info",
                    "subsystem": "docker",
                    "agent": "ralph",
                    "project": "clawker",
                    "container": "clawker.clawker.ralph",
                    "actor_attr.com.docker.compose.project": "clawker",
                    "actor_attr.com.docker.compose.project.working_dir": "/home/dev/clawker",
                    "actor_attr.image": "clawker-clawker:latest",
                },
                {"event": "reconcile_failed", "component": "firewall", "level": "error", "error": "iptables: exit 4"},
            ]
        )
    if index == "clawker-envoy":
        # As the collector leaves them: numbers converted, "-" sentinels removed, action defaulted.
        return _records(
            [
                {
                    "server.address": "api.anthropic.com",
                    "server.port": 443,
                    "client.address": "172.18.0.5",
                    "network.peer.address": "172.18.0.5",
                    "network.peer.port": 51234,
                    "action": "allow",
                    "method": "POST",
                    "path": "/v1/messages",
                    "user_agent": "claude-cli/2.1.3",
                    "response_code": 200,
                    "response_code_details": "via_upstream",
                    "response_flags": "-",
                    "listener_ip": "172.18.0.2",
                    "network.transport": "tcp",
                    "network.protocol.name": "http",
                    "network.protocol.version": "1.1",
                    "tls.established": True,
                    "tls.protocol.version": "TLSv1.3",
                    "tls.cipher": "TLS_AES_128_GCM_SHA256",
                    "upstream_tls_version": "TLSv1.3",
                    "upstream_tls_cipher": "TLS_AES_256_GCM_SHA384",
                    "bytes_sent": 5120,
                    "bytes_received": 2048,
                    "upstream_bytes_sent": 2048,
                    "upstream_bytes_received": 5120,
                    "duration_ms": 830,
                    "req_duration_ms": 2,
                    "resp_duration_ms": 800,
                    "resp_tx_duration_ms": 28,
                },
                {"server.address": "evil.example", "action": "pre_route", "response_code": 403, "response_flags": "UAEX"},
            ],
            body="access",
        )
    if index == "clawker-coredns":
        return _records(
            [
                {
                    "client.address": "172.18.0.5",
                    "zone": ".",
                    "query_name": "api.anthropic.com.",
                    "qtype": "A",
                    "rcode": "NOERROR",
                    "answer_count": 2,
                    "duration_ms": 3,
                    "answers": ["160.79.104.10", "160.79.104.11"],
                }
            ],
            body="dns query",
        )
    if index == "clawker-ebpf-egress":
        return _records(
            [
                {
                    "event.name": "egress_decision",
                    "source": "connect4",
                    "action": "deny",
                    "container_id": "3f2a9c",
                    "agent": "ralph",
                    "project": "clawker",
                    "cgroup_id": "12345",
                    "bpf_ts_ns": 1234567890123456789,
                    "dst_ip": "203.0.113.9",
                    "dst_port": "443",
                    "l4_proto": "tcp",
                    "l4_proto_code": 6,
                    "ipv6": False,
                    "ipv4_mapped": False,
                    "dst_host": "evil.example",
                    "domain_hash": "9c1e",
                }
            ],
            body="egress",
        )
    raise KeyError(index)


def ss4o_log_document(index: str, record: dict, *, ingest_source: str) -> dict:
    """The document the opensearch exporter writes for one log record (SS4O mode)."""
    resource = {**RESOURCES[index], "ingest_source": ingest_source}
    doc: dict[str, Any] = {
        "attributes": {
            **record.get("attributes", {}),
            # Dataset/namespace are set on every exporter (they name the traces index).
            "data_stream": {"dataset": names.TRACES_DATASET, "namespace": names.TRACES_NAMESPACE, "type": "record"},
        },
        "body": record.get("body", ""),
        "observedTimestamp": _now_iso(),
        "@timestamp": _now_iso(-1),
        "resource": {k: str(v) for k, v in resource.items()},
        "severity": {"text": record.get("severity_text", "INFO"), "number": 9},
    }
    scope = SCOPES.get(index)
    if scope:
        doc["instrumentationScope"] = {"name": scope, "version": "2.1.3"}
    return doc


def ingest_source_for(index: str) -> str:
    for service, target in names.TRUSTED_LOG_INDICES.items():
        if target == index:
            return names.TRUSTED_INGEST_SOURCE[service]
    return names.UNTRUSTED_INGEST_SOURCE


def leaf_types(properties: dict, prefix: str = "") -> dict[str, str]:
    """Field path -> type for every leaf of a mapping's properties."""
    out = {}
    for name, field in properties.items():
        path = f"{prefix}{name}"
        if "properties" in field and field.get("type", "object") in ("object", "nested"):
            out.update(leaf_types(field["properties"], path + "."))
        else:
            out[path] = field.get("type", "object")
    return out


def dynamic_rules(mappings: dict) -> list[tuple[str, str]]:
    """(path glob, mapping type) of each dynamic template a mapping declares: its declared dynamic paths."""
    out = []
    for entry in mappings.get("dynamic_templates", []):
        (spec,) = entry.values()
        out.append((spec["path_match"], spec["mapping"]["type"]))
    return out


def undeclared_fields(live: dict[str, str], declared: dict[str, str], mappings: dict) -> dict[str, str]:
    """Live fields neither declared nor under a declared dynamic path with that path's type."""
    rules = dynamic_rules(mappings)
    return {
        path: kind
        for path, kind in live.items()
        if path not in declared and not any(fnmatch.fnmatchcase(path, glob) and kind == want for glob, want in rules)
    }


def ss4o_span_document(name: str, attributes: dict, *, parent: str = "") -> dict:
    """The document the opensearch exporter writes for one span (SS4O mode)."""
    start = _now_iso(-2)
    return {
        "attributes": {
            **attributes,
            "data_stream": {"dataset": names.TRACES_DATASET, "namespace": names.TRACES_NAMESPACE, "type": "span"},
        },
        "droppedAttributesCount": 0,
        "droppedEventsCount": 0,
        "droppedLinksCount": 0,
        "endTime": _now_iso(),
        "events": [{"attributes": {"retry": 1}, "droppedAttributesCount": 0, "name": "retry", "@timestamp": _now_iso(-1)}],
        "instrumentationScope": {"droppedAttributesCount": 0, "name": "com.anthropic.claude_code.tracing", "schemaUrl": "", "version": "2.1.3"},
        "kind": "Internal",
        "name": name,
        "parentSpanId": parent,
        "resource": {k: str(v) for k, v in {**RESOURCES["claude-code"], "ingest_source": names.UNTRUSTED_INGEST_SOURCE}.items()},
        "spanId": "b7ad6b7169203331",
        "startTime": start,
        "status": {"code": "Unset", "message": ""},
        # The exporter leaves the span's @timestamp at Go's zero time.
        "@timestamp": "0001-01-01T00:00:00Z",
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "traceState": "",
    }
