"""Claude Code-shaped metrics: the counters Claude Code registers, and two export rounds of them.

Instrument names, units and attributes as Claude Code sends them (SPEC "What
Claude Code sends"): every counter is monotonic with DELTA temporality; only
cost, tokens and active time carry a unit; every datapoint has the session's
standard attributes; project/agent arrive as resource attributes
(OTEL_RESOURCE_ATTRIBUTES). Two rounds make two delta exports, so Prometheus
must show their sums. Beside this process, the corpus' team members (tests/corpus.py
TEAM_MEMBERS) export their own sessions' counters under their own resources (users and
teams on the Team & users dashboard); the totals below count every export.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from corpus import METRIC_ATTRIBUTES, MetricExport, team_metric_exports

PROJECT = "clawker"
AGENT = "ralph"
TEAM = "platform"
SESSION_ACCOUNT = "acc-uuid-1"
MODEL = "claude-sonnet-4-5"
SMALL_MODEL = "claude-haiku-4-5"

RESOURCE = {
    "service.name": "claude-code",
    "service.version": "2.1.3",
    "project": PROJECT,
    "agent": AGENT,
    # A team attribute as agentEnv adds it (teamId): budgets per team read it.
    "team.id": TEAM,
    "os.type": "linux",
    "host.arch": "amd64",
}
SCOPE = "com.anthropic.claude_code"

COUNTERS: dict[str, dict[str, Any]] = {
    "claude_code.session.count": {"description": "Count of CLI sessions started"},
    "claude_code.lines_of_code.count": {"description": "Count of lines of code modified"},
    "claude_code.pull_request.count": {"description": "Number of pull requests created"},
    "claude_code.commit.count": {"description": "Number of git commits created"},
    "claude_code.cost.usage": {"unit": "USD", "description": "Cost of the Claude Code session"},
    "claude_code.token.usage": {"unit": "tokens", "description": "Number of tokens used"},
    "claude_code.code_edit_tool.decision": {"description": "Count of code editing tool permission decisions"},
    "claude_code.active_time.total": {"unit": "s", "description": "Total active time in seconds"},
}

_SESSION = {
    "session.id": "0f6b1c9e-session",
    "app.version": "2.1.3",
    "organization.id": "org-1",
    "user.account_uuid": SESSION_ACCOUNT,
    "terminal.type": "xterm-256color",
}


def _at(**attributes: Any) -> dict[str, Any]:
    return {**_SESSION, **attributes}


ROUNDS: list[list[tuple[str, float, dict[str, Any]]]] = [
    [
        ("claude_code.session.count", 1, _at()),
        ("claude_code.cost.usage", 0.5, _at(model=MODEL)),
        ("claude_code.cost.usage", 0.125, _at(model=SMALL_MODEL)),
        ("claude_code.token.usage", 1200, _at(model=MODEL, type="input")),
        ("claude_code.token.usage", 300, _at(model=MODEL, type="output")),
        ("claude_code.token.usage", 20000, _at(model=MODEL, type="cacheRead")),
        ("claude_code.token.usage", 512, _at(model=MODEL, type="cacheCreation")),
        ("claude_code.token.usage", 80, _at(model=SMALL_MODEL, type="input")),
        ("claude_code.lines_of_code.count", 40, _at(type="added")),
        ("claude_code.lines_of_code.count", 7, _at(type="removed")),
        ("claude_code.commit.count", 1, _at()),
        ("claude_code.code_edit_tool.decision", 3, _at(decision="accept", source="config", tool_name="Edit", language="Python")),
        ("claude_code.code_edit_tool.decision", 1, _at(decision="reject", source="user_reject", tool_name="Write", language="Markdown")),
        ("claude_code.active_time.total", 42.5, _at(type="user")),
        ("claude_code.active_time.total", 120.0, _at(type="cli")),
    ],
    [
        ("claude_code.cost.usage", 0.25, _at(model=MODEL)),
        # Cost Claude Code attributes to an MCP server (metric attribute mcp_server.name, SPEC
        # "What Claude Code sends"): the Cost Attribution dashboard's per-server view.
        ("claude_code.cost.usage", 0.05, _at(model=SMALL_MODEL, **{"mcp_server.name": "github"})),
        ("claude_code.token.usage", 800, _at(model=MODEL, type="input")),
        ("claude_code.token.usage", 200, _at(model=MODEL, type="output")),
        ("claude_code.token.usage", 10000, _at(model=MODEL, type="cacheRead")),
        ("claude_code.lines_of_code.count", 10, _at(type="added")),
        ("claude_code.pull_request.count", 1, _at()),
        ("claude_code.code_edit_tool.decision", 1, _at(decision="accept", source="user_temporary", tool_name="Edit", language="Python")),
        ("claude_code.active_time.total", 7.5, _at(type="user")),
    ],
]


# Newer attributes (query_source, effort, speed, agent.name, skill.name, plugin.name,
# mcp_server.name, mcp_tool.name, start_type) on every datapoint of the instruments
# that carry them (tests/corpus.py METRIC_ATTRIBUTES).
for _round in ROUNDS:
    for _name, _increment, _attributes in _round:
        _attributes.update(METRIC_ATTRIBUTES.get(_name, {}))


# Every process that exports: this one, then each team member's session.
EXPORTS = [MetricExport(RESOURCE, ROUNDS)] + team_metric_exports()


def user_of(attributes: dict[str, Any]) -> str:
    """A user as the budget rules name them: the e-mail, or the account without one."""
    return attributes.get("user.email") or attributes.get("user.account_uuid", "")


def totals(counter: str, by: str = "") -> dict[str, float]:
    """What every export added to `counter`, summed per value of `by` ("" sums all): a datapoint
    attribute, a resource attribute, or "user" (user_of)."""
    out: dict[str, float] = defaultdict(float)
    for export in EXPORTS:
        for round_ in export.rounds:
            for name, increment, attributes in round_:
                if name != counter:
                    continue
                if by == "user":
                    key = user_of(attributes)
                else:
                    key = str({**export.resource, **attributes}.get(by, "")) if by else ""
                out[key] += increment
    return dict(out)
