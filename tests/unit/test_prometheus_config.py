import pytest
import yaml

import catalogue
from components.services import collector_config
from components.services import config_file, prometheus_config
from components.settings import SettingsError, validate


def dumped(config: dict) -> dict:
    """What the container gets: the dict as PyYAML writes it, read back."""
    return yaml.safe_load(config_file.to_yaml(config))


def test_prometheus_scrapes_the_collector_metrics_port():
    for port in (8889, 18889):
        config = dumped(prometheus_config.render(validate({"collectorMetricsPort": port})))
        (job,) = config["scrape_configs"]
        assert job["static_configs"] == [{"targets": [f"otel-collector:{port}"]}]


def test_prometheus_globals_and_otlp_promotion():
    config = prometheus_config.render(validate({}))
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    assert config["otlp"]["promote_resource_attributes"] == [
        "project", "agent", "service.name", "service.version", "team.id", "department", "cost_center"]


# --------------------------------------------------------------------------- alerting rules


def rules_by_name(raw: dict) -> dict[str, dict]:
    rendered = dumped(prometheus_config.render_rules(validate(raw)))
    return {rule["alert"]: {**rule, "group": group["name"]} for group in rendered["groups"] for rule in group["rules"] if "alert" in rule}


def test_config_loads_the_rule_file_it_is_shipped_with():
    assert prometheus_config.render(validate({}))["rule_files"] == [prometheus_config.RULES_PATH]


def test_default_rules_and_their_thresholds():
    rules = rules_by_name({})
    assert set(rules) == {
        prometheus_config.ALERT_COST,
        prometheus_config.ALERT_API_ERRORS,
        prometheus_config.ALERT_COLLECTOR_FAILING,
        prometheus_config.ALERT_COLLECTOR_QUEUE,
        prometheus_config.ALERT_COST_SPIKE,
    }
    cost = rules[prometheus_config.ALERT_COST]
    assert cost["group"] == "clawker-claude-code"
    assert cost["expr"] == (
        "sum(((claude_code_cost_usage_USD_total - claude_code_cost_usage_USD_total offset 1h) >= 0)"
        " or claude_code_cost_usage_USD_total) > 10"
    )
    assert "for" not in cost
    errors = rules[prometheus_config.ALERT_API_ERRORS]
    assert errors["expr"].endswith("* 100 > 10") and 'success="false"' in errors["expr"]
    assert errors["for"] == "5m"
    queue = rules[prometheus_config.ALERT_COLLECTOR_QUEUE]
    assert queue["group"] == "clawker-collector"
    assert queue["expr"] == "max by (exporter) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity) * 100 > 50"
    failing = rules[prometheus_config.ALERT_COLLECTOR_FAILING]
    for metric in prometheus_config.COLLECTOR_SEND_FAILED_METRICS:
        assert f"increase({metric}[5m])" in failing["expr"]
    assert failing["labels"]["severity"] == "critical"
    for rule in rules.values():
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_thresholds_and_pending_time_come_from_the_settings():
    rules = rules_by_name(
        {
            "alertCostPerHourUsd": "2.5",
            "alertApiErrorRatePercent": "12.5",
            "alertCollectorQueuePercent": "80",
            "alertForMinutes": "15",
        }
    )
    assert rules[prometheus_config.ALERT_COST]["expr"].endswith("or claude_code_cost_usage_USD_total) > 2.5")
    assert rules[prometheus_config.ALERT_API_ERRORS]["expr"].endswith("* 100 > 12.5")
    assert rules[prometheus_config.ALERT_COLLECTOR_QUEUE]["expr"].endswith("* 100 > 80")
    assert {r.get("for") for r in rules.values()} == {None, "15m"}
    assert "2.5 USD" in rules[prometheus_config.ALERT_COST]["annotations"]["summary"]


def test_zero_turns_a_rule_off_and_an_empty_group_is_left_out():
    rules = rules_by_name(
        {"alertCostPerHourUsd": 0, "alertApiErrorRatePercent": "0", "alertCollectorQueuePercent": 0, "alertCostSpikeFactor": 0}
    )
    assert set(rules) == {prometheus_config.ALERT_COLLECTOR_FAILING}
    groups = prometheus_config.render_rules(
        validate({"alertCostPerHourUsd": 0, "alertApiErrorRatePercent": 0, "alertCostSpikeFactor": 0})
    )["groups"]
    # The Team & users views' recordings are always there.
    assert [g["name"] for g in groups] == ["clawker-collector", prometheus_config.GROUP_VIEWS]


def test_for_zero_fires_on_first_evaluation():
    rules = rules_by_name({"alertForMinutes": 0})
    assert all("for" not in rule for rule in rules.values())


@pytest.mark.parametrize(
    "raw, key, fragment",
    [
        ({"alertCostPerHourUsd": "-1"}, "alertCostPerHourUsd", "-1 is not allowed; it must be a number from 0"),
        ({"alertCostPerHourUsd": "ten"}, "alertCostPerHourUsd", "'ten' is not allowed; it must be a number"),
        ({"alertCostPerHourUsd": "nan"}, "alertCostPerHourUsd", "'nan' is not allowed"),
        ({"alertApiErrorRatePercent": "101"}, "alertApiErrorRatePercent", "101 is not allowed; it must be a number from 0 to 100"),
        ({"alertCollectorQueuePercent": True}, "alertCollectorQueuePercent", "True is not allowed"),
        ({"alertForMinutes": "2.5"}, "alertForMinutes", "'2.5' is not allowed; it must be an integer"),
        ({"alertForMinutes": "-5"}, "alertForMinutes", "-5 is not allowed"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_key(raw, key, fragment):
    with pytest.raises(SettingsError) as error:
        validate(raw)
    assert f"clawker-monitor:{key}" in str(error.value)
    assert fragment in str(error.value)


def test_api_error_rule_reads_the_dimension_the_collector_adds_to_span_metrics():
    collector = collector_config.render(validate({}))
    dimensions = [d["name"] for d in collector["connectors"]["span_metrics"]["dimensions"]]
    assert collector_config.SPAN_METRICS_SUCCESS_DIMENSION in dimensions
    expr = rules_by_name({})[prometheus_config.ALERT_API_ERRORS]["expr"]
    assert f'{collector_config.SPAN_METRICS_SUCCESS_DIMENSION}="false"' in expr
    assert 'span_name="claude_code.llm_request"' in expr


def test_the_cost_rule_reads_a_metric_the_dashboards_read():
    assert prometheus_config.COST_METRIC in catalogue.COLLECTOR_PROMETHEUS_METRICS


def test_alertmanager_is_wired_only_when_an_address_is_set():
    assert "alerting" not in prometheus_config.render(validate({}))
    config = dumped(prometheus_config.render(validate({"alertmanagerAddress": "alertmanager:9093"})))
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]}


@pytest.mark.parametrize("bad", ["alertmanager", "http://alertmanager:9093", "a b:1", "host:port"])
def test_alertmanager_address_must_be_host_and_port(bad):
    with pytest.raises(SettingsError) as error:
        validate({"alertmanagerAddress": bad})
    assert "clawker-monitor:alertmanagerAddress" in str(error.value)
