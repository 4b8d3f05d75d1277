"""What agents need: endpoints and the env block Clawker bakes into agent containers."""

from __future__ import annotations

from components import names, units
from components.settings import Settings, _snake

# Clawker fills these per agent container.
RESOURCE_ATTRIBUTES_TEMPLATE = "project=${CLAWKER_PROJECT},agent=${CLAWKER_AGENT}"


def resource_attributes(settings: Settings) -> str:
    """OTEL_RESOURCE_ATTRIBUTES: Clawker's per-agent template plus the team attributes this stack is configured with."""
    team = "".join(f",{key}={value}" for key, value in settings.team_attributes.items())
    return RESOURCE_ATTRIBUTES_TEMPLATE + team


def otlp_endpoint_in_network(settings: Settings) -> str:
    return f"http://{names.COLLECTOR}:{settings.otlp_http_port}"


def otlp_endpoint_from_host(settings: Settings) -> str:
    return f"http://{settings.host_name}:{settings.otlp_http_port}"


def core_env(settings: Settings) -> dict[str, str]:
    """What every OpenTelemetry SDK in an agent container reads: where to send, how, and who it is."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint_in_network(settings),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        # Counters arrive as deltas; the collector turns them cumulative.
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
        "OTEL_RESOURCE_ATTRIBUTES": resource_attributes(settings),
        "OTEL_METRIC_EXPORT_INTERVAL": str(settings.metric_export_interval_ms),
        "OTEL_LOGS_EXPORT_INTERVAL": str(settings.logs_export_interval_ms),
    }


def unit_env(settings: Settings, unit: units.Unit) -> dict[str, str]:
    """A unit's own variables (manifest agent_env): fixed text, or picked by a boolean setting."""
    out = {}
    for var, value in unit.agent_env.items():
        if isinstance(value, dict):
            value = value["true"] if getattr(settings, _snake(value["setting"])) else value["false"]
        out[var] = value
    return out


def agent_env(settings: Settings) -> dict[str, str]:
    """The agentEnv stack output: the core's variables and each selected unit's (claude-code's by default)."""
    env = core_env(settings)
    for unit in settings.selected_units:
        env.update(unit_env(settings, unit))
    return env


def service_urls(settings: Settings) -> dict[str, str]:
    host = settings.host_name
    alertmanager = {"alertmanager": f"http://{host}:{settings.alertmanager_port}"} if settings.alertmanager_enabled else {}
    return {
        "opensearch": f"http://{host}:{settings.opensearch_port}",
        "dashboards": f"http://{host}:{settings.dashboards_port}",
        "prometheus": f"http://{host}:{settings.prometheus_port}",
        "otlpHttp": otlp_endpoint_from_host(settings),
        "otlpGrpc": f"http://{host}:{settings.otlp_grpc_port}",
        **alertmanager,
    }
