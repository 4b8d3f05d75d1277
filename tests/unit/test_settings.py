"""Settings validation: every bad value is refused before anything is registered."""

import pytest
import yaml

from components import settings as stack_settings
from components.settings import SettingsError, validate
from components import settings_docs


@pytest.mark.parametrize(
    "raw, key, fragment",
    [
        ({"opensearchPort": "abc"}, "opensearchPort", "'abc' is not allowed; it must be an integer from 1 to 65535"),
        ({"opensearchPort": 0}, "opensearchPort", "0 is not allowed"),
        ({"otlpHttpPort": 70000}, "otlpHttpPort", "70000 is not allowed; it must be an integer from 1 to 65535"),
        ({"prometheusPort": 9200}, "prometheusPort", "port 9200 is already used by clawker-monitor:opensearchPort"),
        ({"collectorMetricsPort": 4318}, "collectorMetricsPort", "already used by clawker-monitor:otlpHttpPort"),
        ({"collectorMetricsPort": 8888}, "collectorMetricsPort", "port 8888 is the collector's own (its own telemetry"),
        ({"otlpHttpPort": 14317}, "otlpHttpPort", "port 14317 is the collector's own (the untrusted lane's loopback receiver"),
        ({"infraPort": 14319}, "infraPort", "choose another port"),
        ({"opensearchHeapMb": 128}, "opensearchHeapMb", "128 is not allowed; it must be an integer from 256"),
        ({"bogusKey": "1"}, "bogusKey", "unknown setting"),
        ({"logUserPrompts": "maybe"}, "logUserPrompts", "must be a boolean"),
        ({"infraTlsCertFile": "/a.crt"}, "infraTlsKeyFile", "needs all of infraTlsCertFile"),
        ({"infraPort": 0, **{k: "/x" for k in ("infraTlsCertFile", "infraTlsKeyFile", "infraTlsCaFile")}}, "infraPort", "turns the trusted lane off"),
        ({"hostName": "bad host"}, "hostName", "not allowed"),
        ({"datasourceMasterKey": "short"}, "datasourceMasterKey", "secret is not allowed"),
        ({"logRetentionDays": -1}, "logRetentionDays", "-1 is not allowed"),
        ({"traceRetentionDays": -1}, "traceRetentionDays", "-1 is not allowed"),
        ({"traceRetentionDays": "seven"}, "traceRetentionDays", "must be an integer from 0 to 3650"),
        ({"deliveryRetryHours": 0}, "deliveryRetryHours", "0 is not allowed; it must be an integer from 1 to 720"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(raw, key, fragment):
    with pytest.raises(SettingsError) as error:
        validate(raw)
    message = str(error.value)
    assert f"clawker-monitor:{key}" in message
    assert fragment in message


def test_secret_values_are_never_echoed():
    with pytest.raises(SettingsError) as error:
        validate({"datasourceMasterKey": "not-a-valid-length"})
    assert "not-a-valid-length" not in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as error:
        validate({"opensearchPort": 0, "dashboardsPort": "x"})
    assert "opensearchPort" in str(error.value) and "dashboardsPort" in str(error.value)


def test_defaults_match_the_reference():
    s = validate({})
    assert (s.otlp_http_port, s.otlp_grpc_port, s.opensearch_port, s.dashboards_port, s.prometheus_port) == (
        4318, 4317, 9200, 5601, 9090)
    assert (s.collector_metrics_port, s.infra_port, s.opensearch_heap_mb, s.log_retention_days) == (8889, 4319, 512, 7)
    assert s.host_name == "localhost" and s.purge_volumes_on_destroy is False
    assert (s.metric_export_interval_ms, s.logs_export_interval_ms) == (10000, 5000)
    assert s.log_tool_details and s.log_user_prompts and s.include_account_uuid and s.include_session_id


def test_config_strings_are_coerced_like_pulumi_passes_them():
    s = validate({"opensearchPort": "19200", "purgeVolumesOnDestroy": "true"})
    assert s.opensearch_port == 19200 and s.purge_volumes_on_destroy is True


def test_missing_tls_material_is_a_warning_not_an_error():
    (message,) = stack_settings.warnings_for(validate({}))
    assert "infraTlsCertFile" in message and "infraPort" in message
    assert stack_settings.warnings_for(validate({"infraPort": 0})) == []


def test_pulumi_yaml_declares_every_setting_as_the_schema_does():
    with open(settings_docs.ROOT / "Pulumi.yaml") as f:
        project = yaml.safe_load(f)
    assert project["name"] == "clawker-monitor"
    assert project["config"] == settings_docs.pulumi_config_block(), "run: python -m components.settings_docs"


def test_readme_configuration_reference_is_in_step_with_the_schema():
    readme = (settings_docs.ROOT / "README.md").read_text()
    assert settings_docs.render_readme(readme) == readme, "run: python -m components.settings_docs"
    for key in stack_settings.SCHEMA["properties"]:
        assert f"`clawker-monitor:{key}`" in readme


def test_tls_paths_must_name_readable_files(tmp_path):
    paths = {}
    for key in ("infraTlsCertFile", "infraTlsKeyFile", "infraTlsCaFile"):
        path = tmp_path / f"{key}.pem"
        path.write_text("pem")
        paths[key] = str(path)
    stack_settings.check_host_files(validate(paths))
    missing = {**paths, "infraTlsCaFile": str(tmp_path / "nope.pem")}
    with pytest.raises(SettingsError) as error:
        stack_settings.check_host_files(validate(missing))
    assert "clawker-monitor:infraTlsCaFile" in str(error.value) and "nope.pem" in str(error.value)
    relative = {**paths, "infraTlsKeyFile": "key.pem"}
    with pytest.raises(SettingsError, match="infraTlsKeyFile: 'key.pem' must be an absolute path"):
        stack_settings.check_host_files(validate(relative))
    # A remote Docker host's files are not visible here: nothing to check.
    stack_settings.check_host_files(validate(missing), docker_host="ssh://builder")


def test_a_stack_that_sets_nothing_validates_with_every_default_pulumi_hands_it():
    """Pulumi passes the program every key Pulumi.yaml's config block declares, with its default when
    the stack sets none: those defaults are not "set" by the stack (a local stack is not refused for
    the team role's keys), while a value that differs from its default still is."""
    import json
    from pathlib import Path

    declared = yaml.safe_load((Path(__file__).resolve().parents[2] / "Pulumi.yaml").read_text())["config"]
    def as_pulumi_passes_it(value):  # config values reach the program as text, structured ones as JSON
        return json.dumps(value) if isinstance(value, (bool, list, dict)) else str(value)

    raw = {key.split(":", 1)[-1]: as_pulumi_passes_it(spec["default"]) for key, spec in declared.items() if "default" in spec}
    assert "clusterAdminUser" in raw and "machineName" in raw
    validate(raw)
    with pytest.raises(SettingsError) as error:
        validate({**raw, "clusterAdminUser": "root"})
    assert "clawker-monitor:clusterAdminUser: is a setting of the team role" in str(error.value)
