"""What the codex unit renders from the stack's settings: the `codexConfig` output and the estimated cost.

Codex takes its telemetry settings from `~/.codex/config.toml` `[otel]`, never from
`OTEL_*` variables for its exporters (github.com/openai/codex: the table is
OtelConfigToml in codex-rs/config/src/types.rs @000c857e, turned into exporters by
codex-rs/core/src/otel_init.rs @035dec61; the only environment variables its telemetry
code reads are the OTLP timeouts, codex-rs/otel/src/otlp.rs @34ffab4d). So agentEnv
cannot switch it on: `codexConfig` is the block a user pastes into that file. Its
defaults matter: with no `[otel]` Codex exports no logs or traces but sends its metrics
to OpenAI's Statsig endpoint (metrics_exporter "statsig", codex-rs/otel/src/config.rs
@062351dc); the block points all three at this stack instead. An OTLP/HTTP endpoint in
that table is used as given, so each names its signal's path (/v1/logs, ...).

Codex reports tokens, not cost. The Codex dashboard shows cost only as an estimate from
the `codexPrices` price table (USD per million input, cached input and output tokens per
model), titled "Estimated" wherever it appears, and not at all when no price is set.
The estimate reads codex.turn.token_usage in Prometheus (a histogram per turn, by
token_type; codex-rs/core/src/tasks/mod.rs @0082977c): OpenAI counts cached tokens
inside input tokens, so input is priced as (input - cached_input) plus cached_input at
the cached price, and output (reasoning included) at the output price.
"""

from __future__ import annotations

import copy
import json

from components import agent_env, names
from components.settings import Settings

# Codex's metric as the collector's Prometheus exporter names it (histogram sum).
TOKEN_USAGE_SUM = "codex_turn_token_usage_sum"
DASHBOARD_ID = "clawker-codex"
COST_TOTAL_ID = "clawker-codex-estimated-cost"
COST_BY_MODEL_ID = "clawker-codex-estimated-cost-by-model"
ESTIMATE_NOTE = (
    "ESTIMATED from the codexPrices price table (USD per million tokens) and the token counts Codex reports; "
    "not a billed amount. Models without a price are left out."
)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for these characters


def codex_config(settings: Settings) -> str:
    """The [otel] block for ~/.codex/config.toml: logs, traces and metrics to this stack's OTLP/HTTP port."""
    base = agent_env.otlp_endpoint_from_host(settings)

    def exporter(signal: str) -> str:
        return f"{{ otlp-http = {{ endpoint = {_toml_string(f'{base}/v1/{signal}')}, protocol = \"binary\" }} }}"

    return "\n".join(
        [
            "# clawker-monitor: send Codex's telemetry to this stack. Paste into ~/.codex/config.toml",
            "# (in a Clawker agent container, use the collector's in-network address instead:",
            f"# {agent_env.otlp_endpoint_in_network(settings)}).",
            "[otel]",
            "# Prompt text in codex.user_prompt events, as for Claude Code (logUserPrompts).",
            f"log_user_prompt = {'true' if settings.log_user_prompts else 'false'}",
            f"exporter = {exporter('logs')}",
            f"trace_exporter = {exporter('traces')}",
            "# Metrics to this stack, not to OpenAI (Codex's default metrics_exporter is \"statsig\").",
            f"metrics_exporter = {exporter('metrics')}",
            "",
        ]
    )


def _price(value: float) -> str:
    return repr(value / 1e6)


def cost_promql(prices: dict[str, dict[str, float]], by_model: bool) -> str:
    """Estimated USD per model (or summed) from the token histograms and the price table."""

    def tokens(model: str, token_type: str) -> str:
        return f'sum by (model) ({TOKEN_USAGE_SUM}{{token_type="{token_type}",model="{model}"}})'

    per_model = []
    for model, price in sorted(prices.items()):
        inputs, cached, outputs = tokens(model, "input"), tokens(model, "cached_input"), tokens(model, "output")
        per_model.append(
            f"(({inputs} - {cached}) * {_price(price['input'])}"
            f" + {cached} * {_price(price['cachedInput'])}"
            f" + {outputs} * {_price(price['output'])})"
        )
    joined = " or ".join(per_model)
    return joined if by_model else f"sum({joined})"


def _explore(object_id: str, title: str, promql: str, chart: str) -> dict:
    return {
        "type": "explore",
        "id": object_id,
        "attributes": {
            "title": title,
            "description": ESTIMATE_NOTE,
            "hits": 0,
            "version": 1,
            "type": "metrics",
            "columns": ["_source"],
            "sort": [],
            "visualization": {
                "title": "",
                "chartType": chart,
                "params": {"showTitle": True, "title": "", "useColor": False, "valueCalculation": "last", "unitId": "dollars"},
                "axesMapping": {"facet": "Series", "time": "Time", "value": "Value"},
            },
            "uiState": {"activeTab": "explore_visualization_tab"},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": {
                    "query": {
                        "query": promql,
                        "language": "PROMQL",
                        "dataset": {
                            "id": names.DATASOURCE,
                            "title": names.DATASOURCE,
                            "type": "PROMETHEUS",
                            "language": "PROMQL",
                            "timeFieldName": "Time",
                            "dataSource": {},
                            "signalType": "metrics",
                        },
                    },
                    "filter": [],
                    "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
                }
            },
        },
        "references": [
            {"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": names.DATASOURCE}
        ],
    }


def estimated_cost_objects(prices: dict[str, dict[str, float]]) -> list[dict]:
    """The explore panels of the estimate; none without a price table."""
    if not prices:
        return []
    return [
        _explore(COST_TOTAL_ID, "Estimated Cost (USD, from codexPrices)", cost_promql(prices, by_model=False), "metric"),
        _explore(COST_BY_MODEL_ID, "Estimated Cost by Model (USD, from codexPrices)", cost_promql(prices, by_model=True), "pie"),
    ]


def with_estimated_cost(objects: list[dict], prices: dict[str, dict[str, float]]) -> list[dict]:
    """The codex unit's saved objects plus the estimate's panels, placed at the top of the Codex dashboard.

    Without prices the objects are returned as they are: no cost panel, no cost reference.
    """
    extra = estimated_cost_objects(prices)
    if not extra:
        return objects
    out = []
    for so in objects:
        if so["type"] == "dashboard" and so["id"] == DASHBOARD_ID:
            so = copy.deepcopy(so)
            attrs = so["attributes"]
            panels = attrs["panelsJSON"]
            if isinstance(panels, str):
                panels = json.loads(panels)
            # The estimate goes in a row of its own below the rest.
            bottom = max((p["gridData"]["y"] + p["gridData"]["h"] for p in panels), default=0)
            for n, (cost, width) in enumerate(zip(extra, (16, 32))):
                index = f"cost{n + 1}"
                x = 0 if n == 0 else 16
                panels.append(
                    {
                        "version": "7.10.2",
                        "type": "explore",
                        "gridData": {"x": x, "y": bottom, "w": width, "h": 12, "i": index},
                        "panelIndex": index,
                        "embeddableConfig": {},
                        "panelRefName": f"panel_{index}",
                    }
                )
                so["references"].append({"name": f"panel_{index}", "type": "explore", "id": cost["id"]})
            attrs["panelsJSON"] = panels
            attrs["description"] = attrs.get("description", "") + " Cost is " + ESTIMATE_NOTE
        out.append(so)
    return extra + out
