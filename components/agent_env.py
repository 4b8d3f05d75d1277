"""What agents need: endpoints and the env block Clawker bakes into agent containers."""

from __future__ import annotations

from components import names
from components.settings import Settings

# Clawker fills these per agent container.
RESOURCE_ATTRIBUTES_TEMPLATE = "project=${CLAWKER_PROJECT},agent=${CLAWKER_AGENT}"


def resource_attributes(settings: Settings) -> str:
    """OTEL_RESOURCE_ATTRIBUTES: Clawker's per-agent template plus the team attributes this stack is configured with."""
    team = "".join(f",{key}={value}" for key, value in settings.team_attributes.items())
    return RESOURCE_ATTRIBUTES_TEMPLATE + team


def _flag(value: bool) -> str:
    return "1" if value else "0"


def otlp_endpoint_in_network(settings: Settings) -> str:
    return f"http://{names.COLLECTOR}:{settings.otlp_http_port}"


def otlp_endpoint_from_host(settings: Settings) -> str:
    return f"http://{settings.host_name}:{settings.otlp_http_port}"


def agent_env(settings: Settings) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint_in_network(settings),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        # Counters arrive as deltas; the collector turns them cumulative.
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
        "OTEL_RESOURCE_ATTRIBUTES": resource_attributes(settings),
        "OTEL_LOG_TOOL_DETAILS": _flag(settings.log_tool_details),
        "OTEL_LOG_USER_PROMPTS": _flag(settings.log_user_prompts),
        "OTEL_METRICS_INCLUDE_ACCOUNT_UUID": "true" if settings.include_account_uuid else "false",
        "OTEL_METRICS_INCLUDE_SESSION_ID": "true" if settings.include_session_id else "false",
        "OTEL_METRIC_EXPORT_INTERVAL": str(settings.metric_export_interval_ms),
        "OTEL_LOGS_EXPORT_INTERVAL": str(settings.logs_export_interval_ms),
    }


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
