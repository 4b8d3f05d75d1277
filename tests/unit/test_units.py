"""Units as data (components/units.py): the manifest schema, the folder checks, the claims.

Every refusal is asserted on its message: it must name the unit (both units, for a
name two of them claim), the file or the name at fault, and what to do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from components import names, telemetry, units
from components.bootstrap import opensearch as boot
from components.providers import dashboards as dp

CLAUDE_CODE = units.BUILTIN_DIR / "claude-code"


def _copy_unit(tmp_path: Path, name: str, source: Path = CLAUDE_CODE) -> Path:
    target = tmp_path / name
    shutil.copytree(source, target)
    return target


def _edit_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / units.MANIFEST).read_text())
    change(manifest)
    (folder / units.MANIFEST).write_text(json.dumps(manifest))


def _minimal_unit(tmp_path: Path, name: str, index: str, services: list[str]) -> Path:
    folder = tmp_path / name
    (folder / units.INDEX_TEMPLATES).mkdir(parents=True)
    (folder / units.INDEX_TEMPLATES / f"{index}.json").write_text(json.dumps({"template": {"mappings": {}}}))
    (folder / units.MANIFEST).write_text(json.dumps({"logs": [{"index": index, "service_names": services}]}))
    return folder


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(units.SCHEMA_FILE.read_text()))


def test_claude_code_is_built_in_and_the_default_selection():
    assert "claude-code" in units.builtin_names()
    (unit,) = units.default_units()
    assert unit.name == "claude-code"
    assert unit.indices == ("claude-code",)
    assert unit.service_names == ("claude-code", "claude-code-desktop")
    assert unit.pipelines == ("clawker-claude-code",)
    assert [lane.retention for lane in unit.lanes] == [units.RETENTION_DEFAULT]


def test_the_default_units_rows_come_first_in_the_stream_table():
    rows = telemetry.unit_streams(units.default_units())
    assert telemetry.LOG_STREAMS[: len(rows)] == rows
    assert telemetry.LOG_STREAMS[len(rows):] == telemetry.CORE_STREAMS
    assert names.INDEX_PIPELINES["claude-code"] == "clawker-claude-code"


def test_the_loader_reads_the_units_files_beside_the_core_ones():
    assert boot.load_asset("index_templates", "claude-code") == json.loads(
        (CLAUDE_CODE / "index_templates" / "claude-code.json").read_text()
    )
    assert "clawker-claude-code" in boot.pipeline_bodies()
    keys = {dp.object_key(so) for so in dp.load_saved_objects()}
    assert {dp.object_key(so) for so in units.unit_saved_objects(units.default_units()[0])} <= keys
    assert {dp.object_key(so) for so in units.core_saved_objects()} <= keys
    assert "index-pattern/claude-code" in keys and "index-pattern/clawker-cli" in keys


def test_a_copied_unit_under_another_name_loads(tmp_path):
    folder = _minimal_unit(tmp_path, "my-agent", "my-agent", ["my-agent"])
    unit = units.load_unit(folder)
    assert (unit.name, unit.indices, unit.service_names) == ("my-agent", ("my-agent",), ("my-agent",))


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda m: m.pop("logs"), "'logs' is a required property"),
        (lambda m: m.update(logs=[]), "logs: [] should be non-empty"),
        (lambda m: m["logs"][0].update(retention="forever"), "logs/0/retention: 'forever' is not one of"),
        (lambda m: m["logs"][0].update(service_names=[]), "logs/0/service_names: [] should be non-empty"),
        (lambda m: m["logs"][0].update(index="Claude Code"), "logs/0/index: 'Claude Code' does not match"),
        (lambda m: m.update(dashboards=True), "Additional properties are not allowed ('dashboards' was unexpected)"),
        (lambda m: m.update(metrics={"datapoint_renames": [{"from": "a b", "to": "c"}]}), "metrics/datapoint_renames/0/from"),
    ],
)
def test_a_manifest_the_schema_refuses_is_named_with_its_field(tmp_path, change, expected):
    folder = _copy_unit(tmp_path, "broken")
    _edit_manifest(folder, change)
    with pytest.raises(units.UnitError) as refused:
        units.load_unit(folder)
    message = str(refused.value)
    assert message.startswith("unit 'broken': ") and str(folder / units.MANIFEST) in message
    assert "manifest.schema.json" in message and expected in message


@pytest.mark.parametrize("index", ["clawker-cli", "clawker-cp", "clawkercp", "clawker-envoy", "clawker-coredns", "clawker-ebpf-egress"])
def test_a_unit_cannot_claim_a_core_index(tmp_path, index):
    folder = _minimal_unit(tmp_path, "sneaky", index, ["sneaky"])
    with pytest.raises(units.UnitError, match=rf"unit 'sneaky': index '{index}' is reserved for the stack's core"):
        units.load_unit(folder)


@pytest.mark.parametrize("service", ["clawker-cli", "clawker-cp", "clawkercp", "envoy", "coredns", "ebpf-egress"])
def test_a_unit_cannot_route_a_core_service_name(tmp_path, service):
    folder = _minimal_unit(tmp_path, "sneaky", "sneaky", ["sneaky", service])
    with pytest.raises(units.UnitError, match=rf"unit 'sneaky': service name '{service}' is reserved for the stack's core"):
        units.load_unit(folder)


def test_the_reserved_names_are_the_cores_own():
    core_indices = {s.index for s in telemetry.CORE_STREAMS}
    core_services = {svc for s in telemetry.CORE_STREAMS for svc in s.service_names}
    assert core_indices <= set(units.RESERVED_INDICES)
    assert core_services <= set(units.RESERVED_SERVICE_NAMES)


def test_a_name_two_units_claim_is_refused_naming_both(tmp_path):
    mine = units.load_unit(_minimal_unit(tmp_path, "mine", "mine", ["shared-agent"]))
    theirs = units.load_unit(_minimal_unit(tmp_path, "theirs", "theirs", ["shared-agent"]))
    with pytest.raises(units.UnitError) as refused:
        units.check_selection([mine, theirs])
    assert str(refused.value).startswith(
        "service name 'shared-agent' is claimed by both unit 'mine' and unit 'theirs'"
    )
    # The built-in claude-code's index, claimed by a user's folder.
    copy = units.load_unit(_minimal_unit(tmp_path, "copy", "claude-code", ["other-agent"]))
    with pytest.raises(units.UnitError, match="index 'claude-code' is claimed by both unit 'claude-code' and unit 'copy'"):
        units.check_selection(list(units.default_units()) + [copy])


def test_a_units_saved_object_or_pipeline_may_not_be_the_cores(tmp_path):
    folder = _minimal_unit(tmp_path, "mine", "mine", ["mine"])
    (folder / units.DASHBOARDS).mkdir()
    core_object = units.core_saved_objects()[0]
    (folder / units.DASHBOARDS / "x.json").write_text(json.dumps({"objects": [core_object]}))
    with pytest.raises(units.UnitError, match=rf"saved object '{dp.object_key(core_object)}' is claimed by both the core and unit 'mine'"):
        units.check_selection([units.load_unit(folder)])
    (folder / units.DASHBOARDS / "x.json").unlink()
    (folder / units.INGEST_PIPELINES).mkdir()
    (folder / units.INGEST_PIPELINES / f"{names.ENVELOPE_PIPELINE}.json").write_text("{}")
    _edit_manifest(folder, lambda m: m["logs"][0].update(pipeline=names.ENVELOPE_PIPELINE))
    with pytest.raises(units.UnitError, match=f"ingest pipeline '{names.ENVELOPE_PIPELINE}' is claimed by both the core and unit 'mine'"):
        units.check_selection([units.load_unit(folder)])


def test_files_the_manifest_does_not_account_for_are_refused(tmp_path):
    folder = _copy_unit(tmp_path, "cc")
    (folder / "dashboard").mkdir()
    with pytest.raises(units.UnitError, match=r"unit 'cc': unexpected .*/dashboard \(a unit folder holds manifest.json"):
        units.load_unit(folder)
    (folder / "dashboard").rmdir()
    (folder / units.DASHBOARDS / "notes.txt").write_text("x")
    with pytest.raises(units.UnitError, match=r"only \*\.json files are read from dashboards/"):
        units.load_unit(folder)
    (folder / units.DASHBOARDS / "notes.txt").unlink()
    (folder / units.INDEX_TEMPLATES / "claude-code-extra.json").write_text("{}")
    with pytest.raises(units.UnitError, match=r"index_templates/ holds claude-code-extra\.json, for no index"):
        units.load_unit(folder)


def test_an_index_without_its_template_or_pipeline_is_refused(tmp_path):
    folder = _copy_unit(tmp_path, "cc")
    (folder / units.INGEST_PIPELINES / "clawker-claude-code.json").unlink()
    with pytest.raises(units.UnitError, match="names pipeline 'clawker-claude-code': add .*ingest_pipelines/clawker-claude-code.json"):
        units.load_unit(folder)
    (folder / units.INDEX_TEMPLATES / "claude-code.json").unlink()
    with pytest.raises(units.UnitError, match="index 'claude-code' has no template: add .*index_templates/claude-code.json"):
        units.load_unit(folder)


def test_unknown_built_in_unit_is_refused():
    with pytest.raises(units.UnitError, match="unit 'nope' is not built in .*add its folder to unitPaths"):
        units.select(["nope"])
