"""A realistic telemetry corpus: what Claude Code and Clawker's own components send today.

Generated here (not hand-typed fixtures) so every record follows the sender's
real rules: which attributes each event carries, which values arrive as
strings, what an absent value looks like on the wire. The e2e layer sends it
through both collector lanes and proves every dashboard panel from it
(tests/e2e/panel_proof.py).

Sources (facts only; nothing copied):
- Claude Code: the public monitoring docs (code.claude.com/docs/en/monitoring-usage:
  standard attributes; events user_prompt, tool_result, api_request, api_error,
  tool_decision and the newer ones; metrics and their attributes; the traces beta
  spans claude_code.interaction -> llm_request / tool -> tool.blocked_on_user,
  tool.execution / hook) and ../shared/SPEC.md "What Claude Code sends": desktop
  sessions report service.name=claude-code-desktop; tool parameters arrive
  JSON-encoded in one string attribute tool_parameters (Bash: bash_command,
  full_command, description; MCP tools: mcp_server_name, mcp_tool_name; skills:
  skill_name; subagents: subagent_type); numbers often arrive as strings; MCP tool
  calls are reported with tool_name "mcp_tool" (the reference dashboards filter on it).
  Attribute names per event: ../shared/reference/index-fields.yaml (claude-code).
- Newer Claude Code events (issue 18; `_newer_events`, `_newer_attributes`): the corpus
  follows Claude Code 2.1.289 (APP_VERSION), the monitoring page
  (code.claude.com/docs/en/monitoring-usage) as of 2026-10-04, checked three ways:
  * the page itself as the public index stores it (an earlier revision: its version notes
    reach v2.1.199, and it lists no subagent_completed or retention_sweep): standard
    attribute app.entrypoint (cli, sdk-cli, sdk-ts, sdk-py, claude-vscode); api_refusal with server_fallback_hop, has_category,
    has_explanation (both absent on a fallback hop) and category (cyber, bio, frontier_llm,
    reasoning_extraction; only with OTEL_LOG_TOOL_DETAILS=1); at_mention's mention_type
    (file, directory, agent, mcp_resource) and success; skill_activated's
    invocation_trigger (user-slash, claude-proactive, nested-skill) and skill.source;
    compaction's trigger, success, duration_ms, pre_tokens, post_tokens;
  * Claude Code's CHANGELOG.md (github.com/anthropics/claude-code @ 5cfc0a19, 2.1.240,
    2026-08-22): message.uuid, client_request_id and tool_source on log events (2.1.214);
    workflow.run_id and workflow.name on what workflow-spawned agents emit (2.1.202);
    app.entrypoint (2.1.152); invocation_trigger (2.1.126); at_mention (2.1.122); api_request
    and api_error numbers sent as numbers (2.1.122);
  * the page's later revision as quoted by public third-party references compiled from it
    (one at CLI 2.1.289, 2026-10-04; one recording live events), the only public sources for
    these: subagent_completed (agent_type, agent.source, is_built_in, is_async, total_tokens
    of the final request only, total_tool_uses, duration_ms, model, final_model and
    model_swapped since 2.1.212), api_request's cost_usd_micros (an integer), tool_source's
    values (builtin, mcp, sdk_host_builtin_mcp), and retention_sweep (since 2.1.227: result
    complete/skipped, skip_reason, period_days, used_default and its counts). agent.source's
    values are not published; the corpus uses built-in and projectSettings, after
    skill.source's. Metrics: query_source is a category there (main, subagent, auxiliary).
- Clawker, github.com/schmitthub/clawker @ a5aed90f:
  * CLI and control plane: internal/logger/otel_writer.go bridges zerolog JSON to
    OTLP: the message becomes the body, the level the severity (text = zerolog's
    lowercase name) and is removed, every other field becomes an attribute (strings
    stay strings, whole numbers become int64, bools stay bools). service.name
    "clawker-cli" (internal/cmd/factory/default.go) on the untrusted lane; the control
    plane's "clawker-cp" (internal/controlplane/cpboot/cp_container.go) and, in newer
    releases, "clawkercp" (SPEC) on the trusted lane; scope "clawker"
    (internal/logger/logger.go). Field names from e.g.
    internal/controlplane/agent/dialer.go (event, component, container_id, attempt,
    retry_in, dial_target, error).
  * Envoy: internal/controlplane/firewall/envoy_accesslog.go: the OpenTelemetry
    access logger sends every attribute as a string command operator (Envoy writes
    "-" for an absent value), tls.established as "true"/"false", body "envoy
    access_log", resource service.name=envoy, no severity; action is the route's
    verdict (or "-" when no route decided). The reference's envoy-normalize pipeline
    (internal/monitor/templates/opensearch-bootstrap/ingest-pipelines/) notes the
    ALS's empty cluster_name/log_name/node_name/zone_name resource attributes.
  * CoreDNS: cmd/coredns-clawker/plugins/otel/otel.go: body "CoreDNS query handled",
    severity INFO, scope "otel", service.name=coredns; answer_count int,
    duration_ms float64, answers a list of resource-record strings.
  * eBPF egress: internal/controlplane/firewall/ebpf/netlogger/otel_sink.go and
    event.go: body "ebpf egress", scope "clawker.netlogger",
    service.name=ebpf-egress; event.name ebpf.egress.{connect,sendmsg,sock_create};
    action allowed/denied/bypassed; cgroup_id, domain_hash (896bf908: identity, the same
    uint32 as a string, controlplane/firewall/ebpf/netlogger/otel_sink.go) and dst_port as strings;
    bpf_ts_ns int64; l4_proto_code int; ipv6/ipv4_mapped/no_dst bools; dst_* only
    when known.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry._logs import SeverityNumber

PROJECT = "clawker"
AGENTS = ("ralph", "marge")
APP_VERSION = "2.1.289"
MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")
USERS = ("dev@example.com", "ops@example.com")

UNTRUSTED = "untrusted"
TRUSTED = "trusted"


@dataclass
class Batch:
    """Records one sender exports under one resource and scope."""

    lane: str  # UNTRUSTED (plain OTLP/HTTP) or TRUSTED (mTLS OTLP/gRPC)
    index: str  # where the stack must store them
    resource: dict[str, Any]
    scope: str
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def service(self) -> str:
        return self.resource["service.name"]


def _stringly(value: Any) -> Any:
    """Claude Code's event attributes: numbers and booleans arrive as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


# --------------------------------------------------------------------------- Claude Code


class _Session:
    """One Claude Code session: standard attributes, event sequence, prompt ids."""

    def __init__(self, n: int, service: str, agent: str, user: str):
        self.service = service
        self.agent = agent
        self.user = user
        self.id = f"5e55{n:04d}-0c1a-4b7e-9d2f-{n:012d}"
        self.sequence = 0
        self.prompt = 0
        self.t0 = time.time_ns() - 600 * 10**9  # the session started ten minutes ago

    def resource(self) -> dict[str, Any]:
        return {
            "service.name": self.service,
            "service.version": APP_VERSION,
            "project": PROJECT,
            "agent": self.agent,
            "host.arch": "arm64" if self.service == "claude-code-desktop" else "amd64",
            "os.type": "darwin" if self.service == "claude-code-desktop" else "linux",
            "os.version": "24.6.0" if self.service == "claude-code-desktop" else "6.8.0",
        }

    def event(self, name: str, **attributes: Any) -> dict[str, Any]:
        self.sequence += 1
        at = self.t0 + self.sequence * 3 * 10**9
        standard = {
            "session.id": self.id,
            "app.version": APP_VERSION,
            "organization.id": "4f0e2d8c-org",
            "user.account_uuid": f"acc-{self.user.split('@')[0]}",
            "user.id": f"u-{abs(hash(self.user)) % 10**8:08d}",
            "user.email": self.user,
            "terminal.type": "vscode" if self.service == "claude-code-desktop" else "xterm-256color",
            # OTEL_RESOURCE_ATTRIBUTES come back as record attributes too.
            "project": PROJECT,
            "agent": self.agent,
            "event.name": name,
            "event.timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at / 1e9)) + ".000Z",
            "event.sequence": self.sequence,
        }
        if self.prompt:
            standard["prompt.id"] = f"{self.id[:8]}-prompt-{self.prompt}"
        attrs = {**standard, **{k: _stringly(v) for k, v in attributes.items() if v is not None}}
        return {"body": f"claude_code.{name}", "attributes": attrs, "timestamp": at, "severity_text": "INFO"}

    def new_prompt(self) -> None:
        self.prompt += 1


def _bash(command: str, description: str) -> str:
    return json.dumps({"bash_command": command.split()[0], "full_command": command, "description": description, "timeout": 120000})


def _mcp(server: str, tool: str) -> str:
    return json.dumps({"mcp_server_name": server, "mcp_tool_name": tool})


LONG_PROMPT = (
    "Refactor the collector config so every pipeline keeps its queue on disk. "
    + "Here is the failing test output:\n"
    + "\n".join(f"E   AssertionError: record {i} missing from clawker-envoy after restart" for i in range(600))
)


def _claude_code_session(s: _Session, model: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    e = out.append
    e(s.event("auth", auth_method="oauth", status="success"))
    e(s.event("mcp_server_connection", status="connected", transport_type="stdio", server_scope="project", server_name="github"))
    e(
        s.event(
            "mcp_server_connection",
            status="failed",
            transport_type="http",
            server_scope="user",
            server_name="linear",
            error_code="ECONNREFUSED",
            duration_ms=5003,
        )
    )
    e(
        s.event(
            "plugin_loaded",
            **{
                "plugin.name": "docs",
                "plugin.version": "1.2.0",
                "plugin.scope": "user",
                "marketplace.name": "claude-plugins-official",
                "enabled_via": "settings",
                "has_hooks": True,
                "has_mcp": False,
                "skill_path_count": 2,
                "command_path_count": 1,
                "agent_path_count": 0,
                "plugin_id_hash": "5e1f09ab",
            },
        )
    )
    # A slash command, then a long pasted prompt (OTEL_LOG_USER_PROMPTS=1).
    s.new_prompt()
    e(s.event("user_prompt", prompt_length=8, prompt="/compact", command_name="compact", command_source="builtin"))
    e(s.event("compaction", trigger="manual", pre_tokens=154000, post_tokens=21000, duration_ms=8123))
    s.new_prompt()
    e(s.event("user_prompt", prompt_length=len(LONG_PROMPT), prompt=LONG_PROMPT))
    e(s.event("at_mention", mention_type="file", success=True))
    e(s.event("hook_execution_start", hook_event="UserPromptSubmit", hook_name="guard", hook_type="command", hook_source="project", num_hooks=1))
    e(
        s.event(
            "hook_execution_complete",
            hook_event="UserPromptSubmit",
            hook_name="guard",
            hook_type="command",
            hook_source="project",
            hook_definitions=json.dumps([{"type": "command", "command": "./scripts/guard.sh"}]),
            num_hooks=1,
            num_success=1,
            num_blocking=0,
            num_non_blocking_error=0,
            num_cancelled=0,
            total_duration_ms=41,
        )
    )
    e(
        s.event(
            "api_request",
            model=model,
            cost_usd=0.084213,
            duration_ms=11234,
            input_tokens=5123,
            output_tokens=1876,
            cache_read_tokens=120394,
            cache_creation_tokens=2048,
            request_id="req_011CUy8k",
            speed="normal",
            query_source="repl_main_thread",
            effort="high",
        )
    )
    e(s.event("assistant_response", model=model, body_length=2210, body_ref="msg_01Xa", body_truncated="false"))
    # Tools: Bash (accepted), Edit (accepted), Write (rejected), an MCP tool, a skill, a subagent.
    bash = _bash("pytest -q tests/unit", "Run the unit tests")
    e(s.event("tool_decision", tool_name="Bash", decision="accept", source="config", tool_use_id="toolu_01A", tool_parameters=bash))
    e(
        s.event(
            "hook_execution_complete",
            hook_event="PreToolUse",
            hook_name="no-rm-rf",
            hook_type="command",
            hook_source="user",
            hook_matcher="Bash",
            num_hooks=2,
            num_success=1,
            num_blocking=1,
            num_non_blocking_error=0,
            num_cancelled=0,
            total_duration_ms=75,
        )
    )
    e(
        s.event(
            "tool_result",
            tool_name="Bash",
            tool_use_id="toolu_01A",
            success=False,
            duration_ms=8123,
            error="Exit code 1",
            decision_type="accept",
            decision_source="config",
            tool_result_size_bytes=18234,
            tool_input_size_bytes=96,
            tool_parameters=bash,
            tool_input=json.dumps({"command": "pytest -q tests/unit", "description": "Run the unit tests"}),
        )
    )
    e(s.event("tool_decision", tool_name="Edit", decision="accept", source="user_temporary", tool_use_id="toolu_01B", language="Python"))
    e(
        s.event(
            "tool_result",
            tool_name="Edit",
            tool_use_id="toolu_01B",
            success=True,
            duration_ms=35,
            decision_type="accept",
            decision_source="user_temporary",
            tool_result_size_bytes=512,
        )
    )
    e(s.event("tool_decision", tool_name="Write", decision="reject", source="user_reject", tool_use_id="toolu_01C", language="Markdown"))
    e(s.event("tool_decision", tool_name="NotebookEdit", decision="accept", source="user_permanent", tool_use_id="toolu_01D"))
    mcp = _mcp("github", "create_pull_request")
    e(s.event("tool_decision", tool_name="mcp_tool", decision="accept", source="user_permanent", tool_use_id="toolu_01E", tool_parameters=mcp))
    e(
        s.event(
            "tool_result",
            tool_name="mcp_tool",
            tool_use_id="toolu_01E",
            success=True,
            duration_ms=1432,
            decision_type="accept",
            decision_source="user_permanent",
            mcp_server_scope="project",
            tool_result_size_bytes=2048,
            tool_parameters=mcp,
        )
    )
    e(s.event("skill_activated", **{"skill.name": "pdf", "skill.source": "plugin", "plugin.name": "docs", "invocation_trigger": "claude-proactive"}))
    e(
        s.event(
            "tool_result",
            tool_name="Skill",
            tool_use_id="toolu_01F",
            success=True,
            duration_ms=12,
            decision_type="accept",
            decision_source="config",
            tool_parameters=json.dumps({"skill_name": "pdf"}),
        )
    )
    e(
        s.event(
            "tool_result",
            tool_name="Task",
            tool_use_id="toolu_01G",
            success=True,
            duration_ms=64012,
            decision_type="accept",
            decision_source="config",
            tool_parameters=json.dumps({"subagent_type": "code-reviewer", "description": "Review the diff"}),
        )
    )
    e(
        s.event(
            "api_request",
            model=MODELS[1],
            cost_usd=0.0021,
            duration_ms=912,
            input_tokens=812,
            output_tokens=64,
            cache_read_tokens=0,
            cache_creation_tokens=0,
            request_id="req_011CUy9q",
            speed="fast",
            query_source="agent:code-reviewer",
            effort="low",
            **{"agent.name": "code-reviewer", "skill.name": "pdf", "plugin.name": "docs"},
        )
    )
    e(
        s.event(
            "api_error",
            model=model,
            error="Overloaded",
            status_code=529,
            duration_ms=30211,
            attempt=2,
            total_attempts=3,
            total_retry_duration_ms=4100,
            error_type="overloaded_error",
            error_category="server",
            error_name="APIError",
            error_code="529",
            speed="normal",
        )
    )
    e(s.event("api_retries_exhausted", model=model, total_attempts=10, total_retry_duration_ms=181000, error="Overloaded", status_code=529))
    e(s.event("permission_mode_changed", from_mode="default", to_mode="acceptEdits", trigger="shift_tab"))
    e(s.event("permission_mode_changed", from_mode="acceptEdits", to_mode="plan", trigger="slash_command"))
    e(s.event("internal_error", error_name="TypeError", error="Cannot read properties of undefined", error_category="internal"))
    e(
        s.event(
            "plugin_installed",
            **{
                "plugin.name": "docs",
                "plugin.version": "1.2.0",
                "plugin.scope": "user",
                "marketplace.name": "claude-plugins-official",
                "marketplace.is_official": True,
                "install.trigger": "cli",
                "plugin_id_hash": "5e1f09ab",
            },
        )
    )
    e(s.event("feedback_survey", event_type="appeared", survey_type="session_quality", appearance_id="app-1"))
    e(s.event("feedback_survey", event_type="responded", survey_type="session_quality", appearance_id="app-1", response="good"))
    return _with_newer_telemetry(s, model, out)


# --------------------------------------------------------------------------- Claude Code, newer
# What Claude Code sends since the monitoring docs the reference was built on (issue 18;
# sources and the version followed: the module docstring, "Newer Claude Code events").

# app.entrypoint per (service, agent) of the corpus' sessions (docs' values: cli, sdk-cli,
# sdk-ts, sdk-py, claude-vscode, claude-in-slack). The desktop app's value is not
# published, so the desktop session carries none.
ENTRYPOINTS = {("claude-code", AGENTS[0]): "cli", ("claude-code", AGENTS[1]): "sdk-py"}
# refusal categories the docs list for api_refusal's category (stop_details.category).
REFUSAL_CATEGORIES = ("cyber", "bio", "frontier_llm", "reasoning_extraction")


# Subagent runs: agent_type, agent.source, is_built_in, is_async, total_tokens, total_tool_uses,
# duration_ms, model, final_model, and whether a workflow spawned it.
SUBAGENT_RUNS = (
    ("Explore", "built-in", True, False, 48211, 14, 21034, MODELS[1], MODELS[1], ""),
    ("code-reviewer", "projectSettings", False, True, 61877, 9, 64012, MODELS[2], MODELS[0], ""),
    ("general-purpose", "built-in", True, True, 43065, 21, 98233, MODELS[0], MODELS[0], "workflow"),
)


def _ids(s: _Session, kind: str, n: int) -> str:
    """A stable UUID-shaped id for the n-th `kind` of session `s` (message.uuid, client_request_id, ...)."""
    return f"{kind[:4].encode().hex()}-{s.id[4:8]}-4{n:03d}-8{s.sequence:03d}-{s.id[-12:]}"


def _newer_attributes(s: _Session, records: list[dict[str, Any]]) -> None:
    """Attributes Claude Code added to events the reference already knew.

    message.uuid (user_prompt, assistant_response), client_request_id (api_request,
    api_error) and tool_source (tool_decision: builtin, mcp) since 2.1.214;
    cost_usd_micros on api_request (an integer: api_request's numbers are numbers since
    2.1.122); app.entrypoint among the standard attributes.
    """
    entrypoint = ENTRYPOINTS.get((s.service, s.agent))
    for n, record in enumerate(records):
        attrs = record["attributes"]
        name = attrs["event.name"]
        if entrypoint:
            attrs["app.entrypoint"] = entrypoint
        if name in ("user_prompt", "assistant_response"):
            attrs["message.uuid"] = _ids(s, "message", n)
        if name in ("api_request", "api_error"):
            attrs["client_request_id"] = _ids(s, "client", n)
        if name == "api_request":
            attrs["cost_usd_micros"] = round(float(attrs["cost_usd"]) * 1_000_000)
        if name == "tool_decision":
            attrs["tool_source"] = "mcp" if attrs.get("tool_name") == "mcp_tool" else "builtin"


def _newer_events(s: _Session, model: str) -> list[dict[str, Any]]:
    """Events the reference did not know: subagents, refusals with their category, compaction,
    @-mentions, slash-invoked skills, a workflow-spawned agent, the transcript retention sweep."""
    out: list[dict[str, Any]] = []
    e = out.append
    # A built-in subagent run inline, a project one run in the background whose model the
    # server swapped (final_model, model_swapped since 2.1.212), and a workflow-spawned agent
    # (workflow.run_id / workflow.name since 2.1.202) with its request. total_tokens is the
    # subagent's final request only (its context at completion, not a sum).
    workflow = {"workflow.run_id": f"wfr_{s.id[:8]}", "workflow.name": "code-review"}
    e(
        s.event(
            "api_request",
            model=MODELS[0],
            cost_usd=0.0412,
            duration_ms=6120,
            input_tokens=2210,
            output_tokens=840,
            cache_read_tokens=40211,
            cache_creation_tokens=0,
            request_id="req_011CUyWf",
            speed="normal",
            query_source="agent:general-purpose",
            effort="medium",
            **{"agent.name": "general-purpose", **workflow},
        )
    )
    for agent_type, source, built_in, background, tokens, tool_uses, duration_ms, model_, final, extra in SUBAGENT_RUNS:
        e(
            s.event(
                "subagent_completed",
                agent_type=agent_type,
                is_built_in=built_in,
                is_async=background,
                total_tokens=tokens,
                total_tool_uses=tool_uses,
                duration_ms=duration_ms,
                model=model_,
                final_model=final,
                model_swapped=model_ != final,
                **{"agent.source": source, **(workflow if extra == "workflow" else {})},
            )
        )
    # Refusals: the server's fallback retried one on another model (a hop: no stop_details,
    # so no has_category / has_explanation), which refused too, with a category; and one
    # without a category. category needs OTEL_LOG_TOOL_DETAILS=1 (agentEnv sets it).
    refusal = dict(model=model, query_source="repl_main_thread", speed="normal", effort="high")
    e(s.event("api_refusal", request_id="req_011CUyAr", attempt=1, server_fallback_hop=True, **refusal))
    e(
        s.event(
            "api_refusal",
            request_id="req_011CUyAs",
            attempt=1,
            server_fallback_hop=False,
            has_category=True,
            has_explanation=True,
            category=REFUSAL_CATEGORIES[0],
            **refusal,
        )
    )
    e(
        s.event(
            "api_refusal",
            request_id="req_011CUyAt",
            attempt=2,
            server_fallback_hop=False,
            has_category=False,
            has_explanation=False,
            **refusal,
        )
    )
    e(s.event("compaction", trigger="auto", success=True, duration_ms=31877, pre_tokens=167204, post_tokens=24310))
    e(s.event("at_mention", mention_type="directory", success=True))
    e(s.event("at_mention", mention_type="agent", success=True))
    e(s.event("at_mention", mention_type="mcp_resource", success=False))
    e(s.event("skill_activated", invocation_trigger="user-slash", **{"skill.name": "review", "skill.source": "bundled"}))
    # Once per process at start-up, before any prompt (hence no prompt.id): the
    # cleanupPeriodDays sweep of old transcripts (since 2.1.227).
    if ENTRYPOINTS.get((s.service, s.agent)) == "cli":
        sweep = s.event(
            "retention_sweep",
            result="complete",
            period_days=30,
            used_default=True,
            transcripts_deleted=12,
            transcripts_exempted_desktop=0,
            session_files_deleted=31,
            artifacts_deleted=4,
            files_retained_fresh=208,
            files_past_cutoff=47,
            error_count=0,
        )
    else:
        sweep = s.event("retention_sweep", result="skipped", skip_reason="user_source_disabled", period_days=30, used_default=False)
    sweep["attributes"].pop("prompt.id", None)
    e(sweep)
    return out


def _with_newer_telemetry(s: _Session, model: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = records + _newer_events(s, model)
    _newer_attributes(s, records)
    return records


def claude_code_batches() -> list[Batch]:
    """Three sessions: two CLI agents and a desktop session (service.name claude-code-desktop)."""
    sessions = [
        _Session(1, "claude-code", AGENTS[0], USERS[0]),
        _Session(2, "claude-code", AGENTS[1], USERS[1]),
        _Session(3, "claude-code-desktop", AGENTS[0], USERS[0]),
    ]
    return [
        Batch(UNTRUSTED, "claude-code", s.resource(), "com.anthropic.claude_code.events", _claude_code_session(s, MODELS[i % 2]))
        for i, s in enumerate(sessions)
    ]


# --------------------------------------------------------------------------- teams and users
#
# Several users in several teams, as a fleet of Clawker agents reports them (the Team & users
# dashboard, budgets per user and team). Claude Code puts the user on every event and every
# metric datapoint (user.account_uuid; user.email when the user signed in with OAuth, none for
# an API key); team.id, department and cost_center come from OTEL_RESOURCE_ATTRIBUTES
# (agentEnv adds the ones the stack is configured with, teams may set their own), so they
# arrive as resource attributes of both the events and the metrics.


@dataclass(frozen=True)
class Member:
    email: str | None  # None: an API-key user, known by account only
    account: str
    team: str | None
    department: str | None
    cost_center: str | None
    agent: str
    model: str
    # (cost_usd, input_tokens, output_tokens) of each API request, the first with `model`,
    # the second with the small model (models per user and team)
    requests: tuple[tuple[float, int, int], tuple[float, int, int]]
    edits: tuple[int, int]  # code edits accepted, rejected

    def resource_attributes(self) -> dict[str, str]:
        attrs = {"team.id": self.team, "department": self.department, "cost_center": self.cost_center}
        return {k: v for k, v in attrs.items() if v is not None}

    def user_attributes(self) -> dict[str, str]:
        return {"user.account_uuid": self.account, **({"user.email": self.email} if self.email else {})}


TEAM_MEMBERS = (
    Member("alice@example.com", "acc-alice", "platform", "engineering", "cc-1001", AGENTS[0], MODELS[0], ((0.412, 9120, 2210), (0.0031, 900, 70)), (3, 1)),
    Member("bob@example.com", "acc-bob", "platform", "engineering", "cc-1001", AGENTS[1], MODELS[0], ((0.208, 4410, 1130), (0.0012, 410, 30)), (1, 2)),
    Member("carol@example.com", "acc-carol", "data", "research", "cc-2002", AGENTS[0], MODELS[2], ((1.104, 6020, 3300), (0.0024, 700, 55)), (4, 0)),
    # A CI bot on an API key: no e-mail; its team sets team.id only.
    Member(None, "acc-ci-bot", "data", None, None, AGENTS[1], MODELS[0], ((0.051, 1500, 320), (0.0008, 300, 20)), (2, 1)),
)


class _MemberSession(_Session):
    def __init__(self, n: int, member: Member):
        super().__init__(n, "claude-code", member.agent, member.email or member.account)
        self.member = member

    def resource(self) -> dict[str, Any]:
        return {**super().resource(), **self.member.resource_attributes()}

    def event(self, name: str, **attributes: Any) -> dict[str, Any]:
        record = super().event(name, **attributes)
        record["attributes"].pop("user.email")
        record["attributes"].update(self.member.user_attributes())
        return record


def _member_session(s: _MemberSession) -> list[dict[str, Any]]:
    m = s.member
    out = []
    s.new_prompt()
    out.append(s.event("user_prompt", prompt_length=41, prompt="Add a retry to the exporter and test it"))
    for i, ((cost, tokens_in, tokens_out), model) in enumerate(zip(m.requests, (m.model, MODELS[1]))):
        out.append(
            s.event(
                "api_request", model=model, cost_usd=cost, duration_ms=4100 + i, input_tokens=tokens_in, output_tokens=tokens_out,
                cache_read_tokens=20000, cache_creation_tokens=0, request_id=f"req_{m.account}_{i}", speed="normal",
                query_source="repl_main_thread", effort="medium",
            )
        )
    accepted, rejected = m.edits
    for i, decision in enumerate(["accept"] * accepted + ["reject"] * rejected):
        tool = "Edit" if i % 2 == 0 else "Write"
        source = "user_temporary" if decision == "accept" else "user_reject"
        out.append(s.event("tool_decision", tool_name=tool, decision=decision, source=source, tool_use_id=f"toolu_{m.account}_{i}", language="Python"))
        if decision == "accept":
            out.append(
                s.event("tool_result", tool_name=tool, tool_use_id=f"toolu_{m.account}_{i}", success=True, duration_ms=30 + i,
                        decision_type="accept", decision_source=source, tool_result_size_bytes=400)
            )
    return out


def _member_sessions() -> list[_MemberSession]:
    return [_MemberSession(11 + i, m) for i, m in enumerate(TEAM_MEMBERS)]


def team_claude_code_batches() -> list[Batch]:
    """One CLI session per team member, its events under the member's resource (team attributes)."""
    return [Batch(UNTRUSTED, "claude-code", s.resource(), "com.anthropic.claude_code.events", _member_session(s)) for s in _member_sessions()]


@dataclass
class MetricExport:
    """One Claude Code process's metric exports: its resource and its rounds of (counter, increment, attributes)."""

    resource: dict[str, Any]
    rounds: list[list[tuple[str, float, dict[str, Any]]]]


def team_metric_exports() -> list[MetricExport]:
    """The members' sessions as Claude Code's counters count them (the same cost and edits as their events)."""
    exports = []
    for s in _member_sessions():
        m = s.member
        point = {"session.id": s.id, "app.version": APP_VERSION, "organization.id": "4f0e2d8c-org", "terminal.type": "xterm-256color", **m.user_attributes()}

        def at(**attributes: Any) -> dict[str, Any]:
            return {**point, **attributes}

        round_: list[tuple[str, float, dict[str, Any]]] = [("claude_code.session.count", 1, at())]
        for (cost, tokens_in, tokens_out), model in zip(m.requests, (m.model, MODELS[1])):
            round_ += [
                ("claude_code.cost.usage", cost, at(model=model)),
                ("claude_code.token.usage", tokens_in, at(model=model, type="input")),
                ("claude_code.token.usage", tokens_out, at(model=model, type="output")),
            ]
        for decision, n in zip(("accept", "reject"), m.edits):
            if n:
                round_.append(("claude_code.code_edit_tool.decision", n, at(decision=decision, source="user_temporary" if decision == "accept" else "user_reject", tool_name="Edit", language="Python")))
        exports.append(MetricExport(s.resource(), [round_]))
    return exports


# Spans (traces beta, OTEL_TRACES_EXPORTER=otlp, CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1).
def span_tree(run: str) -> dict[str, Any]:
    return {
        "name": "claude_code.interaction",
        "attributes": {"session.id": "5e550001-0c1a", "user_prompt_length": 35, "interaction.sequence": 1, "run": run},
        "children": [
            {
                "name": "claude_code.llm_request",
                # success: set on every llm_request span Claude Code ends (sessionTracing's
                # endLLMRequestSpan; with status_code and error when the request failed).
                "attributes": {"model": MODELS[0], "input_tokens": 1200, "output_tokens": 310, "duration_ms": 2345, "query_source": "repl_main_thread", "speed": "normal", "success": True},
            },
            {
                "name": "claude_code.tool",
                "attributes": {"tool_name": "Bash", "tool_use_id": "toolu_01A", "duration_ms": 8200},
                "children": [
                    {"name": "claude_code.tool.blocked_on_user", "attributes": {"decision": "accept", "source": "user_temporary", "duration_ms": 4100}},
                    {"name": "claude_code.hook", "attributes": {"hook_event": "PreToolUse", "hook_name": "no-rm-rf", "num_hooks": 2}},
                    {"name": "claude_code.tool.execution", "attributes": {"success": True, "duration_ms": 4011}},
                ],
            },
        ],
    }


def span_names(tree: dict[str, Any]) -> list[str]:
    return [tree["name"]] + [n for child in tree.get("children", []) for n in span_names(child)]


# Metric attributes newer than the reference (SPEC), per instrument that carries them.
METRIC_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "claude_code.session.count": {"start_type": "fresh"},
    # On metrics query_source is a category (main, subagent, auxiliary); events carry the subsystem.
    "claude_code.cost.usage": {"query_source": "main", "effort": "high", "speed": "normal"},
    "claude_code.token.usage": {
        "query_source": "subagent",
        "effort": "low",
        "speed": "fast",
        "agent.name": "code-reviewer",
        "skill.name": "pdf",
        "plugin.name": "docs",
    },
    "claude_code.code_edit_tool.decision": {"mcp_server.name": "github", "mcp_tool.name": "create_pull_request"},
}


# --------------------------------------------------------------------------- Clawker


def _zerolog(msg: str, level: str, at_ns: int, **fields: Any) -> dict[str, Any]:
    """A zerolog record after internal/logger/otel_writer.go's bridge."""
    severity = {
        "debug": SeverityNumber.DEBUG,
        "info": SeverityNumber.INFO,
        "warn": SeverityNumber.WARN,
        "error": SeverityNumber.ERROR,
    }[level]
    return {"body": msg, "severity_text": level, "severity_number": severity, "timestamp": at_ns, "attributes": fields}


def clawker_cli_batch() -> Batch:
    now = time.time_ns()
    records = [
        _zerolog("container started", "info", now - 50 * 10**9, component="run", event="agent_started", project=PROJECT, agent=AGENTS[0], container_id="3f2a9c1d7e"),
        _zerolog("image build failed", "error", now - 40 * 10**9, component="build", event="image_build_failed", error="exit status 1: no space left on device", project=PROJECT),
        _zerolog("monitor stack unreachable; retrying", "warn", now - 30 * 10**9, component="monitor", event="otel_export_retry", attempt=3, retry_in=1500),
    ]
    return Batch(UNTRUSTED, "clawker-cli", {"service.name": "clawker-cli", "service.version": "0.9.0", "project": PROJECT, "agent": AGENTS[0]}, "clawker", records)


def clawker_cp_batches() -> list[Batch]:
    now = time.time_ns()
    older = [
        _zerolog(
            "docker event",
            "info",
            now - 45 * 10**9,
            component="dockerevents",
            event="container_start",
            subsystem="docker",
            agent=AGENTS[0],
            project=PROJECT,
            container="clawker.clawker.ralph",
            **{
                "actor_attr.com.docker.compose.project": PROJECT,
                "actor_attr.com.docker.compose.project.working_dir": "/home/dev/clawker",
                "actor_attr.image": "clawker-clawker:latest",
            },
        ),
        _zerolog("firewall reconcile failed", "error", now - 44 * 10**9, component="firewall", event="reconcile_failed", error="iptables: exit status 4"),
    ]
    newer = [
        _zerolog(
            "Session establishment failed; will retry with backoff",
            "warn",
            now - 20 * 10**9,
            component="agentdial",
            event="agentdial_connect_retry",
            container_id="3f2a9c1d7e",
            agent=AGENTS[1],
            project=PROJECT,
            dial_target="172.18.0.7:7443",
            error="connection refused",
            attempt=2,
            retry_in=500,
        ),
        _zerolog("agent registered", "info", now - 19 * 10**9, component="agentdial", event="agent_registered", agent=AGENTS[1], project=PROJECT, container_id="3f2a9c1d7e"),
    ]
    return [
        Batch(TRUSTED, "clawker-cp", {"service.name": "clawker-cp", "service.version": "0.9.0"}, "clawker", older),
        Batch(TRUSTED, "clawker-cp", {"service.name": "clawkercp", "service.version": "0.10.0"}, "clawker", newer),
    ]


# Envoy access-log attributes (envoy_accesslog.go accessLogFields + the HTTP extras).
_ENVOY_KEYS = (
    "server.address", "client.address", "listener_ip", "network.peer.address", "network.peer.port",
    "response_flags", "bytes_sent", "bytes_received", "upstream_bytes_sent", "upstream_bytes_received",
    "duration_ms", "tls.protocol.version", "tls.cipher", "upstream_tls_version", "upstream_tls_cipher",
    "network.transport", "network.protocol.name", "action", "tls.established",
)
_ENVOY_HTTP_KEYS = (
    "method", "path", "response_code", "response_code_details", "user_agent", "req_duration_ms",
    "resp_duration_ms", "resp_tx_duration_ms", "upstream_transport_failure_reason", "network.protocol.version",
)


def _envoy(http: bool, **values: Any) -> dict[str, Any]:
    """An access-log record as Envoy's OpenTelemetry logger sends it: all strings, "-" when absent."""
    keys = _ENVOY_KEYS + (_ENVOY_HTTP_KEYS if http else ())
    attrs = {k: str(values.get(k, "-")) for k in keys}
    return {"body": "envoy access_log", "attributes": attrs, "severity_text": "", "severity_number": SeverityNumber.UNSPECIFIED}


def envoy_batch() -> Batch:
    records = [
        _envoy(
            True,
            **{
                "server.address": "api.anthropic.com", "client.address": "172.18.0.5", "listener_ip": "172.18.0.2",
                "network.peer.address": "160.79.104.10", "network.peer.port": 443, "response_flags": "-",
                "bytes_sent": 5120, "bytes_received": 2048, "upstream_bytes_sent": 2190, "upstream_bytes_received": 5302,
                "duration_ms": 830, "tls.protocol.version": "TLSv1.3", "tls.cipher": "TLS_AES_128_GCM_SHA256",
                "upstream_tls_version": "TLSv1.3", "upstream_tls_cipher": "TLS_AES_256_GCM_SHA384",
                "network.transport": "tcp", "network.protocol.name": "http", "action": "allowed", "tls.established": "true",
                "method": "POST", "path": "/v1/messages?beta=true", "response_code": 200, "response_code_details": "via_upstream",
                "user_agent": "claude-cli/2.1.3 (external, cli)", "req_duration_ms": 2, "resp_duration_ms": 800,
                "resp_tx_duration_ms": 28, "network.protocol.version": "HTTP/1.1",
            },
        ),
        _envoy(
            True,
            **{
                "server.address": "evil.example", "client.address": "172.18.0.5", "listener_ip": "172.18.0.2",
                "response_flags": "NR", "bytes_sent": 0, "bytes_received": 0, "duration_ms": 0,
                "tls.protocol.version": "TLSv1.3", "tls.cipher": "TLS_AES_128_GCM_SHA256",
                "network.transport": "tcp", "network.protocol.name": "http", "action": "denied", "tls.established": "true",
                "method": "GET", "path": "/payload", "response_code": 403, "response_code_details": "route_not_found",
                "user_agent": "curl/8.5.0", "req_duration_ms": 0, "network.protocol.version": "HTTP/1.1",
                "upstream_transport_failure_reason": "-",
            },
        ),
        # No route decided anything yet (plaintext, Host header only).
        _envoy(
            True,
            **{
                "server.address": "registry.npmjs.org", "client.address": "172.18.0.6", "listener_ip": "172.18.0.2",
                "response_flags": "UF", "duration_ms": 3, "network.transport": "tcp", "network.protocol.name": "http",
                "action": "-", "tls.established": "false", "method": "GET", "path": "/", "response_code": 0,
                "response_code_details": "upstream_reset_before_response_started{connection_failure}",
                "upstream_transport_failure_reason": "delayed connect error: 111", "network.protocol.version": "HTTP/1.1",
            },
        ),
        # An opaque TCP chain (ssh): no HTTP fields, verdict fixed at generation.
        _envoy(
            False,
            **{
                "server.address": "github.com", "client.address": "172.18.0.5", "listener_ip": "172.18.0.2",
                "network.peer.address": "140.82.121.4", "network.peer.port": 22, "bytes_sent": 40211,
                "bytes_received": 9120, "upstream_bytes_sent": 9120, "upstream_bytes_received": 40211, "duration_ms": 15234,
                "network.transport": "tcp", "network.protocol.name": "ssh", "action": "allowed", "tls.established": "false",
            },
        ),
    ]
    resource = {"service.name": "envoy", "cluster_name": "", "log_name": "", "node_name": "", "zone_name": ""}
    return Batch(TRUSTED, "clawker-envoy", resource, "", records)


def coredns_batch() -> Batch:
    def query(name: str, qtype: str, rcode: str, answers: list[str], duration_ms: float) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "client.address": "172.18.0.5",
            "zone": ".",
            "query_name": name,
            "qtype": qtype,
            "rcode": rcode,
            "answer_count": len(answers),
            "duration_ms": duration_ms,
        }
        if answers:
            attrs["answers"] = answers
        return {"body": "CoreDNS query handled", "attributes": attrs, "severity_text": "INFO", "severity_number": SeverityNumber.INFO}

    records = [
        query("api.anthropic.com.", "A", "NOERROR", ["api.anthropic.com.\t300\tIN\tA\t160.79.104.10"], 0.734),
        query("api.anthropic.com.", "AAAA", "NOERROR", [], 0.412),
        query("evil.example.", "A", "NXDOMAIN", [], 12.5),
        query("github.com.", "A", "NOERROR", ["github.com.\t60\tIN\tA\t140.82.121.4"], 3.0),
    ]
    return Batch(TRUSTED, "clawker-coredns", {"service.name": "coredns"}, "otel", records)


def ebpf_batches() -> list[Batch]:
    """The netlogger of both Clawker releases: a5aed90f names the route's hash domain_hash,
    896bf908 identity (controlplane/firewall/ebpf/netlogger/otel_sink.go: a uint32 as a string)."""
    return [ebpf_batch(), ebpf_batch("identity")]


def ebpf_batch(route_field: str = "domain_hash") -> Batch:
    def egress(site: str, verdict: str, *, dst_ip: str = "", dst_port: int = 0, host: str = "", ipv6: bool = False, n: int = 0) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "event.name": f"ebpf.egress.{site}",
            "action": verdict,
            "container_id": "3f2a9c1d7e5b" if route_field == "domain_hash" else "8c4d2e6f1a3b",
            "agent": AGENTS[0],
            "project": PROJECT,
            "cgroup_id": "12345",
            "bpf_ts_ns": 1234567890123456789 + n + (0 if route_field == "domain_hash" else 1000),
            "l4_proto": "udp" if site == "sendmsg" else "tcp",
            "l4_proto_code": 17 if site == "sendmsg" else 6,
            "ipv6": ipv6,
            "ipv4_mapped": False,
            "no_dst": not dst_ip,
            route_field: "2882343476" if host else "0",
        }
        if dst_ip:
            attrs["dst_ip"] = dst_ip
        if dst_port:
            attrs["dst_port"] = str(dst_port)
        if host:
            attrs["dst_host"] = host
        return {"body": "ebpf egress", "attributes": attrs, "severity_text": "INFO", "severity_number": SeverityNumber.INFO}

    records = [
        egress("connect", "denied", dst_ip="203.0.113.9", dst_port=443, host="evil.example", n=1),
        egress("connect", "allowed", dst_ip="172.18.0.2", dst_port=443, host="api.anthropic.com", n=2),
        egress("sendmsg", "bypassed", dst_ip="172.18.0.3", dst_port=53, n=3),
        egress("sock_create", "denied", n=4),
    ]
    return Batch(TRUSTED, "clawker-ebpf-egress", {"service.name": "ebpf-egress"}, "clawker.netlogger", records)


def log_batches() -> list[Batch]:
    """Every log batch of the corpus, for both lanes."""
    return (
        claude_code_batches() + team_claude_code_batches() + [clawker_cli_batch()] + clawker_cp_batches()
        + [envoy_batch(), coredns_batch()] + ebpf_batches()
    )


# --- a unit of one's own (tests/fixtures/units/acme-agent): a made-up agent reporting finished
# tasks through the OpenTelemetry SDK with its own service names. Not in log_batches(): only a
# stack that selects that folder (unitPaths) routes it.
ACME_UNIT = "acme-agent"


def acme_agent_batches() -> list[Batch]:
    now = time.time_ns()

    def task(n: int, outcome: str, model: str, tokens: int, duration_ms: int) -> dict[str, Any]:
        return {
            "body": f"task {outcome}",
            "attributes": {
                "event.name": "acme.task_finished",
                "task.id": f"task-{n}",
                "task.kind": "refactor" if n % 2 else "test",
                "task.outcome": outcome,
                "task.tokens": tokens,
                "task.duration_ms": duration_ms,
                "model": model,
            },
            "severity_text": "INFO",
            "severity_number": SeverityNumber.INFO,
            "timestamp": now - (30 - n) * 10**9,
        }

    resource = {"service.name": "acme-agent", "service.version": "1.4.0", "project": PROJECT, "agent": AGENTS[0]}
    ide = {**resource, "service.name": "acme-agent-ide"}
    return [
        Batch(UNTRUSTED, ACME_UNIT, resource, "acme.agent", [task(1, "succeeded", "acme-large", 1200, 5400), task(2, "failed", "acme-small", 300, 900)]),
        Batch(UNTRUSTED, ACME_UNIT, ide, "acme.agent", [task(3, "succeeded", "acme-small", 450, 1300)]),
    ]
