"""OpenAI Codex CLI traffic as codex-rs sends it: log events and metrics, for the codex unit.

Generated (not hand-typed) so every record follows the sender's rules. Facts from
github.com/openai/codex, read in the public code index at these commits (nothing copied):

- Events are `tracing` events on targets under `codex_otel` that the OTel log bridge
  (opentelemetry-appender-tracing) exports (codex-rs/otel/src/targets.rs @e4e5829d,
  codex-rs/otel/src/provider.rs @058195b9). Field types follow tracing's rules: a `%`
  field (Display) arrives as a string, so `duration_ms`, `input_token_count`,
  `output_token_count`, `tool_token_count`, `prompt_length` and every `success` flag are
  strings; plain integers (`attempt`, `http.response.status_code`, `cached_token_count`,
  `initial_duration_ms`, `server.port`, ...) arrive as ints, booleans as bools, and an
  absent Option is left out. The bridge sets no Timestamp (time_unix_nano 0), only the
  ObservedTimestamp; the records here are sent the same way. No body.
- Every event carries event.name, event.timestamp (RFC 3339 UTC, milliseconds),
  conversation.id, app.version, auth_mode, originator, user.account_id, user.email,
  terminal.type, model and slug (codex-rs/otel/src/events/shared/log.rs @373d1a86).
- codex.conversation_starts, codex.api_request, codex.sse_event (token counts only on
  event.kind response.completed), codex.user_prompt (prompt text, or "[REDACTED]" when
  [otel] log_user_prompt is off), codex.tool_decision (decision lowercased, source
  Config/User), codex.sandbox_outcome, codex.tool_result, codex.turn_ttft
  (codex-rs/otel/src/events/session_telemetry.rs @0136a731); sandbox outcome "denied"
  as codex-rs/core/src/tools/orchestrator.rs reports it.
- codex.network_proxy.policy_decision on target codex_otel.network_proxy
  (codex-rs/network-proxy/src/network_policy.rs, emit_policy_audit_event; README of
  the same crate): scope domain/non_domain, decision allow/deny/ask, source, reason,
  protocol, server.address, server.port, http.request.method, client.address, override.
- Resource: service.name is the originator (codex-rs/core/src/otel_init.rs @035dec61:
  codex_cli_rs by default, codex-tui, codex_vscode), service.version, env ([otel]
  environment, default "dev"), host.name on logs; the Rust SDK's Resource::builder()
  also reads OTEL_RESOURCE_ATTRIBUTES, so inside a Clawker agent container the records
  carry project and agent like Claude Code's.
- Metrics (codex-rs/otel/src/metrics/names.rs @5d8041ed, metrics/client.rs @bdba7852,
  core/src/tasks/mod.rs @0082977c): u64 counters and f64 histograms (durations with unit
  "ms"), DELTA temporality; every datapoint carries originator, session_source, model,
  app_version and auth_mode. codex.turn.token_usage is a histogram per turn with
  token_type total/input/cached_input/output/reasoning_output.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from corpus import AGENTS, PROJECT, UNTRUSTED, Batch

INDEX = "codex"
CODEX_VERSION = "0.63.0"
# The three originators the unit routes (service.name), one session each.
ORIGINATORS = ("codex_cli_rs", "codex-tui", "codex_vscode")
MODELS = ("gpt-5-codex", "gpt-5")
LOG_SCOPE = "codex_otel.log_only"
NETWORK_SCOPE = "codex_otel.network_proxy"
METRIC_SCOPE = "codex"
PROMPT = "Add a retry with backoff to the uploader and run its tests"


def _rfc3339(at_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_ns / 1e9)) + f".{at_ns // 10**6 % 1000:03d}Z"


class _Session:
    """One Codex session: its resource, the attributes every event carries, its clock."""

    def __init__(self, n: int, originator: str, model: str, agent: str):
        self.originator = originator
        self.model = model
        self.agent = agent
        self.conversation = f"0199c0de-{n:04d}-7000-8000-{n:012d}"
        self.t0 = time.time_ns() - 900 * 10**9  # fifteen minutes ago
        self.step = 0
        self.calls = 0

    def resource(self) -> dict[str, Any]:
        return {
            "service.name": self.originator,
            "service.version": CODEX_VERSION,
            "env": "dev",
            "host.name": f"{self.agent}-container",
            "telemetry.sdk.language": "rust",
            "telemetry.sdk.name": "opentelemetry",
            # OTEL_RESOURCE_ATTRIBUTES in a Clawker agent container.
            "project": PROJECT,
            "agent": self.agent,
        }

    def event(self, name: str, **attributes: Any) -> dict[str, Any]:
        self.step += 1
        at = self.t0 + self.step * 2 * 10**9
        common = {
            "event.name": name,
            "event.timestamp": _rfc3339(at),
            "conversation.id": self.conversation,
            "app.version": CODEX_VERSION,
            "auth_mode": "Chatgpt",
            "originator": self.originator,
            "user.account_id": "acct-4f0e2d8c",
            "user.email": "dev@example.com",
            "terminal.type": "vscode" if self.originator == "codex_vscode" else "xterm-256color",
            "model": self.model,
            "slug": self.model,
        }
        attrs = {**{k: v for k, v in attributes.items() if v is not None}, **common}
        # time_unix_nano 0: the tracing bridge sets only the observed time (at send).
        return {"body": None, "attributes": attrs, "timestamp": None, "severity_text": "INFO"}

    def call_id(self) -> str:
        self.calls += 1
        return f"call_{self.conversation[-6:]}_{self.calls}"


def _api_request(s: _Session, ms: int, status: int | None, attempt: int, error: str | None = None) -> dict[str, Any]:
    return s.event(
        "codex.api_request",
        duration_ms=str(ms),
        **{"http.response.status_code": status, "error.message": error},
        attempt=attempt,
        endpoint="/responses",
        **{
            "auth.header_attached": True,
            "auth.header_name": "authorization",
            "auth.retry_after_unauthorized": False,
            "auth.env_openai_api_key_present": False,
            "auth.env_codex_api_key_present": False,
            "auth.env_codex_api_key_enabled": False,
            "auth.env_refresh_token_url_override_present": False,
            "auth.request_id": f"req_{s.conversation[-4:]}{attempt}",
        },
    )


def _tool(s: _Session, tool: str, arguments: str, ms: int, ok: bool, output: str, decision: str | None,
          source: str = "Config", sandbox: str | None = None, mcp: str = "") -> list[dict[str, Any]]:
    call = s.call_id()
    out = []
    if decision:
        out.append(s.event("codex.tool_decision", tool_name=tool, call_id=call, decision=decision, source=source))
    if sandbox:
        escalated = 1800 if sandbox == "success_after_escalation" else None
        out.append(s.event("codex.sandbox_outcome", tool_name=tool, call_id=call, outcome=sandbox,
                           initial_duration_ms=ms, escalated_duration_ms=escalated))
    out.append(s.event("codex.tool_result", tool_name=tool, call_id=call, arguments=arguments, duration_ms=str(ms),
                       success="true" if ok else "false", output=output, mcp_server=mcp, mcp_server_origin="config" if mcp else ""))
    return out


def _completed(s: _Session, inputs: int, cached: int, outputs: int, reasoning: int) -> dict[str, Any]:
    return s.event("codex.sse_event", **{"event.kind": "response.completed"}, input_token_count=str(inputs),
                   output_token_count=str(outputs), cached_token_count=cached, reasoning_token_count=reasoning,
                   tool_token_count="0")


def _session_events(s: _Session, n: int) -> list[dict[str, Any]]:
    e = [
        s.event("codex.conversation_starts", provider_name="OpenAI", reasoning_effort="medium", reasoning_summary="auto",
                context_window=272000, auto_compact_token_limit=244800, approval_policy="on-request",
                sandbox_policy="workspace-write", mcp_servers="github, linear",
                **{"auth.env_openai_api_key_present": False, "auth.env_codex_api_key_present": False,
                   "auth.env_codex_api_key_enabled": False, "auth.env_refresh_token_url_override_present": False}),
        s.event("codex.user_prompt", prompt_length=str(len(PROMPT)), prompt=PROMPT),
        _api_request(s, 412 + 40 * n, 200, 1),
        s.event("codex.sse_event", **{"event.kind": "response.created"}, duration_ms="3"),
        s.event("codex.sse_event", **{"event.kind": "response.output_item.done"}, duration_ms=str(18 + n)),
        s.event("codex.turn_ttft", duration_ms=str(850 + 100 * n)),
        _completed(s, 9200 + 1000 * n, 6144, 640 + 10 * n, 256),
    ]
    e += _tool(s, "shell", '{"command":["bash","-lc","pytest -q tests/test_uploader.py"],"timeout_ms":120000}',
               2300 + 100 * n, True, "4 passed in 2.01s", "approved", "Config", "success")
    e += _tool(s, "apply_patch", '{"input":"*** Begin Patch\\n*** Update File: uploader.py\\n*** End Patch"}',
               40, n != 1, "Success. Updated the following files:\nM uploader.py" if n != 1 else "patch did not apply",
               "approved_for_session" if n == 2 else "approved", "User")
    e += _tool(s, "shell", '{"command":["bash","-lc","curl -sS https://pypi.org/simple/requests/"]}', 900, False,
               "sandbox denied network access", "denied", "User", "denied")
    e += _tool(s, "mcp__github__list_pull_requests", '{"repo":"acme/uploader"}', 640, True, '[{"number": 42}]',
               None, mcp="github")
    # A rate-limited request and its retry.
    e.append(_api_request(s, 95, 429, 1, "429 Too Many Requests: rate limit reached for requests"))
    e.append(_api_request(s, 530, 200, 2))
    e.append(_completed(s, 15800, 9216, 410, 128))
    if n == 0:
        e.append(_api_request(s, 30000, None, 1, "error sending request for url (https://chatgpt.com/backend-api/codex/responses): operation timed out"))
        e.append(s.event("codex.sse_event", **{"event.kind": "response.failed"}, duration_ms="12", **{"error.message": "stream disconnected before completion"}))
    return e


def _network_events(s: _Session) -> list[dict[str, Any]]:
    def decision(scope, verdict, source, reason, host, port, method, override=False, protocol="https_connect"):
        ev = s.event("codex.network_proxy.policy_decision")
        ev["attributes"].update({
            "network.policy.scope": scope, "network.policy.decision": verdict, "network.policy.source": source,
            "network.policy.reason": reason, "network.transport.protocol": protocol, "server.address": host,
            "server.port": port, "http.request.method": method, "client.address": "127.0.0.1:51234",
            "network.policy.override": override,
        })
        return ev

    return [
        decision("domain", "allow", "baseline_policy", "allow", "api.openai.com", 443, "none"),
        decision("domain", "allow", "decider", "not_allowed", "pypi.org", 443, "none", override=True),
        decision("domain", "deny", "baseline_policy", "denied", "evil.example", 443, "none"),
        decision("domain", "ask", "decider", "not_allowed", "registry.npmjs.org", 443, "none"),
        decision("non_domain", "deny", "mode_guard", "method_not_allowed", "example.com", 80, "POST", protocol="http"),
    ]


def sessions() -> list[_Session]:
    return [_Session(n, originator, MODELS[n % 2], AGENTS[n % 2]) for n, originator in enumerate(ORIGINATORS)]


def codex_batches() -> list[Batch]:
    """One batch per session (scope codex_otel.log_only) plus its network-proxy decisions (codex_otel.network_proxy)."""
    out = []
    for n, s in enumerate(sessions()):
        out.append(Batch(UNTRUSTED, INDEX, s.resource(), LOG_SCOPE, _session_events(s, n)))
        if n == 0:
            out.append(Batch(UNTRUSTED, INDEX, s.resource(), NETWORK_SCOPE, _network_events(s)))
    return out


# --------------------------------------------------------------------------- metrics

METRIC_RESOURCE = {
    "service.name": ORIGINATORS[0],
    "service.version": CODEX_VERSION,
    "env": "dev",
    "project": PROJECT,
    "agent": AGENTS[0],
}
_MS = {"kind": "histogram", "unit": "ms", "description": "Duration in milliseconds."}
INSTRUMENTS: dict[str, dict[str, Any]] = {
    "codex.thread.started": {},
    "codex.api_request": {},
    "codex.api_request.duration_ms": _MS,
    "codex.tool.call": {},
    "codex.tool.call.duration_ms": _MS,
    "codex.turn.e2e_duration_ms": _MS,
    "codex.turn.ttft.duration_ms": _MS,
    "codex.turn.network_proxy": {},
    "codex.turn.token_usage": {"kind": "histogram"},
}


def _tags(model: str, **more: str) -> dict[str, str]:
    return {"originator": ORIGINATORS[0], "session_source": "cli", "model": model, "app_version": CODEX_VERSION,
            "auth_mode": "Chatgpt", **more}


def _turn(model: str, total_in: int, cached: int, out: int, reasoning: int, e2e_ms: float, ttft_ms: float):
    tmp = {"tmp_mem_enabled": "false"}
    return [
        ("codex.turn.e2e_duration_ms", e2e_ms, _tags(model, **tmp)),
        ("codex.turn.ttft.duration_ms", ttft_ms, _tags(model)),
        ("codex.turn.network_proxy", 1, _tags(model, active="true", **tmp)),
        ("codex.turn.token_usage", total_in + out, _tags(model, token_type="total", **tmp)),
        ("codex.turn.token_usage", total_in, _tags(model, token_type="input", **tmp)),
        ("codex.turn.token_usage", cached, _tags(model, token_type="cached_input", **tmp)),
        ("codex.turn.token_usage", out, _tags(model, token_type="output", **tmp)),
        ("codex.turn.token_usage", reasoning, _tags(model, token_type="reasoning_output", **tmp)),
    ]


METRIC_ROUNDS: list[list[tuple[str, float, dict[str, Any]]]] = [
    [
        ("codex.thread.started", 1, _tags(MODELS[0], is_git="true")),
        ("codex.api_request", 1, _tags(MODELS[0], status="200", success="true")),
        ("codex.api_request.duration_ms", 412, _tags(MODELS[0], status="200", success="true")),
        ("codex.api_request", 1, _tags(MODELS[0], status="429", success="false")),
        ("codex.api_request.duration_ms", 95, _tags(MODELS[0], status="429", success="false")),
        ("codex.tool.call", 1, _tags(MODELS[0], tool="shell", success="true")),
        ("codex.tool.call.duration_ms", 2300, _tags(MODELS[0], tool="shell", success="true")),
        ("codex.tool.call", 1, _tags(MODELS[0], tool="shell", success="false")),
        ("codex.tool.call.duration_ms", 900, _tags(MODELS[0], tool="shell", success="false")),
        ("codex.tool.call", 1, _tags(MODELS[0], tool="apply_patch", success="true")),
        ("codex.tool.call.duration_ms", 40, _tags(MODELS[0], tool="apply_patch", success="true")),
        *_turn(MODELS[0], 9200, 6144, 640, 256, 48000, 850),
    ],
    [
        ("codex.api_request", 2, _tags(MODELS[1], status="200", success="true")),
        ("codex.api_request.duration_ms", 530, _tags(MODELS[1], status="200", success="true")),
        ("codex.tool.call", 1, _tags(MODELS[1], tool="shell", success="true")),
        ("codex.tool.call.duration_ms", 2100, _tags(MODELS[1], tool="shell", success="true")),
        *_turn(MODELS[1], 15800, 9216, 410, 128, 31000, 1200),
        *_turn(MODELS[0], 4000, 0, 120, 0, 9000, 700),
    ],
]


def token_totals(token_type: str) -> dict[str, float]:
    """Sum of codex.turn.token_usage per model for one token_type, over every round."""
    out: dict[str, float] = defaultdict(float)
    for round_ in METRIC_ROUNDS:
        for name, value, tags in round_:
            if name == "codex.turn.token_usage" and tags["token_type"] == token_type:
                out[tags["model"]] += value
    return dict(out)
