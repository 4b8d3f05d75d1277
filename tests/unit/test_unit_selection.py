"""The `units` and `unitPaths` settings: what a selection of units adds to the stack.

Against the mock engine (tests/unit/stack_harness.py): adding a unit registers its
collector route, exporter and store pipeline, its index templates, pipeline and
index, its retention pattern, its saved-object bundle and its agentEnv variables;
removing it takes them out of the program again (what a preview shows as deleted),
and every Dashboards resource of a unit is retain_on_delete as the core's are, so
its saved objects stay (its indices stay too: Index.delete never deletes data). A
selection that claims a reserved or already claimed name is refused before any
resource is registered, naming both units.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from components import names, units
from components.bootstrap import opensearch as boot
from components.services import collector_config, config_file
from components.settings import SettingsError, validate
from stack_harness import deploy

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "units" / "acme-agent"
ACME = "acme-agent"
ACME_PATH = json.dumps([str(FIXTURE)])
WITH_ACME = {"unitPaths": ACME_PATH}
CC_OBJECTS = {f"{so['type']}/{so['id']}" for so in units.unit_saved_objects(units.default_units()[0]) if so["type"] != "explore"}


def _collector(**config) -> dict:
    return yaml.safe_load(config_file.to_yaml(collector_config.render(validate(config))))


def _opensearch_names(d) -> set[str]:
    return {r.name for r in d.registrations if r.type.startswith("pulumi-python:dynamic/clawker:OpenSearch")}


@pytest.fixture(scope="module")
def default():
    return deploy()


@pytest.fixture(scope="module")
def with_acme():
    return deploy({"unitPaths": ACME_PATH})


def test_settings_default_to_claude_code_and_no_folders():
    settings = validate({})
    assert settings.units == ("claude-code",) and settings.unit_paths == ()
    assert [u.name for u in settings.selected_units] == ["claude-code"]


def test_a_relative_unit_path_is_read_from_the_project_directory():
    settings = validate({"unitPaths": json.dumps(["tests/fixtures/units/acme-agent"])})
    assert [u.name for u in settings.selected_units] == ["claude-code", ACME]
    assert settings.selected_units[1].path == FIXTURE


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"units": '["claude-code", "claude-code"]'}, "clawker-monitor:units: ['claude-code', 'claude-code'] is not allowed; it must be an array"),
        ({"units": "claude-code"}, "clawker-monitor:units: 'claude-code' is not allowed; it must be an array"),
        ({"units": '["Claude Code"]'}, "it must be an array of distinct names matching"),
        ({"units": '["gemini"]'}, "unit 'gemini' is not built in (built in: claude-code, codex); add its folder to unitPaths instead"),
        ({"unitPaths": '["/nowhere/my-unit"]'}, "unit 'my-unit': /nowhere/my-unit is not a folder"),
    ],
)
def test_a_bad_selection_is_refused_naming_the_setting(config, expected):
    with pytest.raises(SettingsError) as refused:
        validate(config)
    assert expected in str(refused.value)


def test_a_name_claimed_twice_is_refused_at_preview_naming_both_units(tmp_path):
    # A user's copy of the acme unit under another folder name claims the same index and services.
    copy = tmp_path / "acme-fork"
    shutil.copytree(FIXTURE, copy)
    with pytest.raises(SettingsError) as refused:
        deploy({"unitPaths": json.dumps([str(FIXTURE), str(copy)])})
    message = str(refused.value)
    assert "clawker-monitor:units / clawker-monitor:unitPaths: " in message
    assert "is claimed by both unit 'acme-agent' and unit 'acme-fork'" in message


def test_a_unit_claiming_a_core_service_name_is_refused_at_preview(tmp_path):
    folder = tmp_path / "spoof"
    shutil.copytree(FIXTURE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["logs"][0]["service_names"].append("envoy")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SettingsError, match="unit 'spoof': service name 'envoy' is reserved for the stack's core"):
        deploy({"unitPaths": json.dumps([str(folder)])})


def test_a_unit_variable_following_an_unknown_setting_is_refused(tmp_path):
    folder = tmp_path / "acme-typo"
    shutil.copytree(FIXTURE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["logs"][0].update(index="acme-typo", service_names=["acme-typo"])
    (folder / "index_templates" / "acme-agent.json").rename(folder / "index_templates" / "acme-typo.json")
    shutil.rmtree(folder / "dashboards")
    manifest["agent_env"]["ACME_AGENT_LOG_PROMPTS"]["setting"] = "logPrompts"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SettingsError, match="unit 'acme-typo': agent_env ACME_AGENT_LOG_PROMPTS follows 'logPrompts', which is not a boolean setting"):
        validate({"unitPaths": json.dumps([str(folder)])})


def test_a_unit_may_not_set_a_core_agent_variable(tmp_path):
    folder = tmp_path / "acme-agent"
    shutil.copytree(FIXTURE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["agent_env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://elsewhere:4318"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SettingsError, match="agentEnv variable 'OTEL_EXPORTER_OTLP_ENDPOINT' is claimed by both the core and unit 'acme-agent'"):
        validate({"unitPaths": json.dumps([str(folder)])})


# --------------------------------------------------------------------------- collector


def test_a_units_service_names_are_routed_into_its_index_through_the_durable_lane():
    config = _collector(**WITH_ACME)
    table = config["connectors"]["routing/untrusted"]["table"]
    routes = {row["condition"]: row["pipelines"] for row in table}
    for service in ("acme-agent", "acme-agent-ide"):
        assert routes[f'attributes["service.name"] == "{service}"'] == [f"logs/{ACME}"]
    pipelines = config["service"]["pipelines"]
    assert pipelines[f"logs/{ACME}"] == {"receivers": ["routing/untrusted"], "processors": ["memory_limiter"], "exporters": [f"failover/{ACME}"]}
    assert pipelines[f"logs/{ACME}-store"]["exporters"] == [f"opensearch/{ACME}"]
    assert config["exporters"][f"opensearch/{ACME}"]["logs_index"] == ACME
    # Its records come through the untrusted lane's persistent queue, like Claude Code's.
    assert pipelines["logs/untrusted"]["exporters"] == ["otlp_grpc/untrusted"]
    assert config["exporters"]["otlp_grpc/untrusted"]["sending_queue"]["storage"] == collector_config.QUEUE_STORAGE
    # Without the unit, its service names are unrouted (debug only), and claude-code's are gone with it.
    bare = _collector(units="[]")
    conditions = [row["condition"] for row in bare["connectors"]["routing/untrusted"]["table"]]
    assert conditions == ['attributes["service.name"] == "clawker-cli"']
    assert f"opensearch/{ACME}" not in bare["exporters"] and "opensearch/claude-code" not in bare["exporters"]


def test_a_units_metric_renames_apply_to_its_own_service_names_only():
    config = _collector(**WITH_ACME)
    processor = config["processors"][f"transform/unit-{ACME}"]
    services = 'resource.attributes["service.name"] == "acme-agent" or resource.attributes["service.name"] == "acme-agent-ide"'
    assert processor["metric_statements"][0]["statements"] == [
        f'set(attributes["task_kind"], attributes["acme.task_kind"]) where attributes["acme.task_kind"] != nil and ({services})',
        f'delete_key(attributes, "acme.task_kind") where attributes["acme.task_kind"] != nil and ({services})',
    ]
    steps = config["service"]["pipelines"]["metrics/untrusted"]["processors"]
    assert steps.index(f"transform/unit-{ACME}") < steps.index("transform/metric-labels")


# --------------------------------------------------------------------------- OpenSearch, Dashboards, agentEnv


def test_adding_a_unit_adds_its_opensearch_assets_and_removing_it_takes_them_out(default, with_acme):
    added = _opensearch_names(with_acme) - _opensearch_names(default)
    assert added == {
        f"opensearch-index-template-{ACME}",
        f"opensearch-index-template-{ACME}-daily",
        f"opensearch-pipeline-{names.route_pipeline(ACME)}",
        f"opensearch-index-{ACME}",
    }
    # Claude Code's assets keep their resource names whatever else is selected.
    assert _opensearch_names(default) <= _opensearch_names(with_acme)
    without_cc = _opensearch_names(deploy({"units": "[]"}))
    assert {n for n in _opensearch_names(default) - without_cc} == {
        "opensearch-index-template-claude-code",
        "opensearch-index-template-claude-code-daily",
        "opensearch-pipeline-clawker-claude-code",
        f"opensearch-pipeline-{names.route_pipeline('claude-code')}",
        "opensearch-index-claude-code",
    }


def test_the_retention_policy_covers_default_retention_units_only(with_acme, tmp_path):
    policy = with_acme.by_name(f"opensearch-ism-policy-{names.ISM_POLICY}").documents["body"]
    patterns = policy["policy"]["ism_template"][0]["index_patterns"]
    assert names.day_pattern(ACME) in patterns and names.day_pattern("claude-code") in patterns
    folder = tmp_path / ACME
    shutil.copytree(FIXTURE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["logs"][0]["retention"] = "custom"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    table = validate({"unitPaths": json.dumps([str(folder)])}).stream_table
    assert ACME in table.log_indices and ACME not in table.retained_indices
    patterns = boot.retention_policy_body(7, table.retained_indices)["policy"]["ism_template"][0]["index_patterns"]
    assert names.day_pattern(ACME) not in patterns


def test_the_envelope_types_a_units_declared_attributes(with_acme):
    envelope = with_acme.by_name(f"opensearch-pipeline-{names.ENVELOPE_PIPELINE}").documents["body"]
    typed = next(p["script"] for p in envelope["processors"] if p.get("script", {}).get("tag") == boot.TYPED_ATTRIBUTES_TAG)
    assert typed["params"]["typed_fields"][ACME]["task.duration_ms"] == "long"


def test_each_unit_has_its_own_bundle_kept_on_removal_and_the_core_bundle_hands_claude_codes_over(default, with_acme):
    core = default.by_name("dashboards-saved-objects")
    assert not set(core.inputs["objects"]) & CC_OBJECTS
    assert set(core.inputs["handed_over"]) == CC_OBJECTS
    cc = default.by_name("dashboards-saved-objects-claude-code")
    assert set(cc.inputs["objects"]) == CC_OBJECTS
    acme = with_acme.by_name(f"dashboards-saved-objects-{ACME}")
    assert set(acme.inputs["objects"]) == {
        "index-pattern/acme-agent", "visualization/acme-agent-tasks", "visualization/acme-agent-tasks-by-outcome",
        "visualization/acme-agent-tokens-by-model", "dashboard/acme-agent-overview",
    }
    # Removing the unit: its bundle leaves the program but is retain_on_delete, so a deployment
    # forgets it without a call to Dashboards (as destroy does); purge deletes it.
    assert cc.retain_on_delete and acme.retain_on_delete
    # A unit's panels may show the core's index patterns (claude-code's traces do): imported after
    # them; a unit whose objects show none of the core's does not wait for it (issue 21: a shorter chain).
    core_keys = set(with_acme.by_name("dashboards-saved-objects").inputs["objects"])
    for bundle in (cc, acme):
        refs = {f"{r['type']}/{r['id']}" for so in bundle.documents["objects"].values() for r in so.get("references") or []}
        deployment = default if bundle is cc else with_acme
        assert deployment.depends_on(bundle.urn, deployment.by_name("dashboards-saved-objects").urn) == bool(refs & core_keys)
    assert not with_acme.depends_on(acme.urn, with_acme.by_name("dashboards-saved-objects").urn)
    assert default.depends_on(cc.urn, default.by_name("dashboards-saved-objects").urn)
    assert not deploy({"unitPaths": ACME_PATH, "purgeVolumesOnDestroy": True}).by_name(f"dashboards-saved-objects-{ACME}").retain_on_delete
    assert not [r for r in deploy({"units": "[]"}).registrations if r.name == "dashboards-saved-objects-claude-code"]


def test_agent_env_comes_from_the_selected_units(default, with_acme):
    assert default.outputs["agentEnv"]["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert "ACME_AGENT_TELEMETRY" not in default.outputs["agentEnv"]
    assert with_acme.outputs["agentEnv"]["ACME_AGENT_TELEMETRY"] == "1"
    assert with_acme.outputs["agentEnv"]["ACME_AGENT_LOG_PROMPTS"] == "on"
    quiet = deploy({"unitPaths": ACME_PATH, "logUserPrompts": False}).outputs["agentEnv"]
    assert (quiet["ACME_AGENT_LOG_PROMPTS"], quiet["OTEL_LOG_USER_PROMPTS"]) == ("off", "0")
    bare = deploy({"units": "[]"}).outputs["agentEnv"]
    assert not [k for k in bare if k.startswith("CLAUDE_CODE_")] and "OTEL_LOG_USER_PROMPTS" not in bare
    assert set(bare) == set(units.CORE_AGENT_ENV)
