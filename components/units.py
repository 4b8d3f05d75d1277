"""Monitoring units: folders of data that add an agent's telemetry to the stack.

The stack has a core (clawker-cli and the trusted infrastructure streams, the
traces, the Clawker Networking dashboard: opensearch_assets/<kind>/) and units.
A unit is a folder

    <unit>/manifest.json          checked against opensearch_assets/units/manifest.schema.json
    <unit>/index_templates/<index>.json    one per index the manifest names
    <unit>/ingest_pipelines/<name>.json    optional; a lane's `pipeline` names one
    <unit>/dashboards/*.json               optional; {"objects": [saved objects]}

Built-in units live in opensearch_assets/units/<name>/. The manifest's facts
(index, service names, retention, metric renames) follow the one Clawker's
monitoring extensions carry at schmitthub/clawker 896bf908
(internal/config/monitoring_schema.go); the layout and the checks are ours.

`load_unit` refuses a folder that is not a unit (schema, missing or stray
files, reserved names) with an error naming the unit, the file and what to do.
`check_selection` refuses units that claim the same index, service name,
pipeline or saved object, naming both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence

import jsonschema

ASSETS = Path(__file__).resolve().parents[1] / "opensearch_assets"
BUILTIN_DIR = ASSETS / "units"
SCHEMA_FILE = BUILTIN_DIR / "manifest.schema.json"
MANIFEST = "manifest.json"

INDEX_TEMPLATES = "index_templates"
INGEST_PIPELINES = "ingest_pipelines"
DASHBOARDS = "dashboards"
FOLDERS = (INDEX_TEMPLATES, INGEST_PIPELINES, DASHBOARDS)

DEFAULT_UNITS = ("claude-code",)

# The core's indices and service names (SPEC "Units"): no unit may claim them. The
# trusted ones must stay unreachable from the untrusted lane; clawker-cli's route is core.
RESERVED_INDICES = ("clawker-cli", "clawker-cp", "clawkercp", "clawker-envoy", "clawker-coredns", "clawker-ebpf-egress")
RESERVED_SERVICE_NAMES = ("clawker-cli", "clawker-cp", "clawkercp", "envoy", "coredns", "ebpf-egress")
# Index names the core uses otherwise (traces) and prefixes of its own assets.
RESERVED_INDEX_PREFIXES = ("ss4o_", ".")

# agentEnv variables the core sets (components/agent_env.py CORE_ENV): no unit may set them.
CORE_AGENT_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_LOGS_EXPORT_INTERVAL",
)

RETENTION_DEFAULT = "default"
RETENTION_CUSTOM = "custom"


class UnitError(ValueError):
    """A unit folder or a selection of units the stack cannot use."""


@dataclass(frozen=True)
class Lane:
    """One log index a unit owns."""

    index: str
    service_names: tuple[str, ...]
    retention: str = RETENTION_DEFAULT
    pipeline: Optional[str] = None


@dataclass(frozen=True)
class Unit:
    name: str
    path: Path
    manifest: dict = field(compare=False, hash=False)

    @property
    def lanes(self) -> tuple[Lane, ...]:
        return tuple(
            Lane(
                index=log["index"],
                service_names=tuple(log["service_names"]),
                retention=log.get("retention", RETENTION_DEFAULT),
                pipeline=log.get("pipeline"),
            )
            for log in self.manifest["logs"]
        )

    @property
    def indices(self) -> tuple[str, ...]:
        return tuple(lane.index for lane in self.lanes)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s for lane in self.lanes for s in lane.service_names)

    @property
    def pipelines(self) -> tuple[str, ...]:
        return tuple(lane.pipeline for lane in self.lanes if lane.pipeline)

    @property
    def metric_service_names(self) -> tuple[str, ...]:
        metrics = self.manifest.get("metrics") or {}
        return tuple(metrics.get("service_names") or self.service_names)

    @property
    def datapoint_renames(self) -> tuple[tuple[str, str], ...]:
        metrics = self.manifest.get("metrics") or {}
        return tuple((r["from"], r["to"]) for r in metrics.get("datapoint_renames") or ())

    @property
    def agent_env(self) -> dict:
        return dict(self.manifest.get("agent_env") or {})

    def file(self, folder: str, name: str) -> Path:
        return self.path / folder / f"{name}.json"

    def dashboards_dir(self) -> Path:
        return self.path / DASHBOARDS


@lru_cache(maxsize=None)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(top level)"


def check_manifest(name: str, manifest: object, source: str = MANIFEST) -> None:
    """Schema and reserved-name checks of one manifest (no files)."""
    problems = sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if problems:
        lines = "; ".join(f"{_where(e)}: {e.message}" for e in problems)
        raise UnitError(f"unit {name!r}: {source} does not match {SCHEMA_FILE.name}: {lines}")
    seen_index: set[str] = set()
    seen_service: set[str] = set()
    for log in manifest["logs"]:
        index = log["index"]
        if index in RESERVED_INDICES or index.startswith(RESERVED_INDEX_PREFIXES):
            raise UnitError(
                f"unit {name!r}: index {index!r} is reserved for the stack's core "
                f"(reserved: {', '.join(RESERVED_INDICES)} and names starting {' or '.join(RESERVED_INDEX_PREFIXES)}); "
                "give the unit's index another name"
            )
        if index in seen_index:
            raise UnitError(f"unit {name!r}: index {index!r} is listed twice in {source}")
        seen_index.add(index)
        for service in log["service_names"]:
            if service in RESERVED_SERVICE_NAMES:
                raise UnitError(
                    f"unit {name!r}: service name {service!r} is reserved for the stack's core "
                    f"(reserved: {', '.join(RESERVED_SERVICE_NAMES)}); a unit cannot route it"
                )
            if service in seen_service:
                raise UnitError(f"unit {name!r}: service name {service!r} is listed twice in {source}")
            seen_service.add(service)
    for service in (manifest.get("metrics") or {}).get("service_names") or ():
        if service in RESERVED_SERVICE_NAMES:
            raise UnitError(f"unit {name!r}: metrics service name {service!r} is reserved for the stack's core")


def _json_file(name: str, path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnitError(f"unit {name!r}: cannot read {path}: {exc}") from exc


def _check_tree(unit: Unit) -> None:
    """The folder holds what the manifest promises, and nothing the loader would silently skip."""
    name, root = unit.name, unit.path
    for entry in sorted(root.iterdir()):
        if entry.name == MANIFEST or entry.name.startswith("."):
            continue
        if not entry.is_dir() or entry.name not in FOLDERS:
            raise UnitError(
                f"unit {name!r}: unexpected {entry} (a unit folder holds {MANIFEST} and the folders "
                f"{', '.join(FOLDERS)}); move or remove it"
            )
        for item in sorted(entry.iterdir()):
            if item.name.startswith("."):
                continue
            if item.suffix != ".json" or not item.is_file():
                raise UnitError(f"unit {name!r}: unexpected {item} (only *.json files are read from {entry.name}/)")
            _json_file(name, item)
    for lane in unit.lanes:
        template = unit.file(INDEX_TEMPLATES, lane.index)
        if not template.is_file():
            raise UnitError(f"unit {name!r}: index {lane.index!r} has no template: add {template}")
        if lane.pipeline and not unit.file(INGEST_PIPELINES, lane.pipeline).is_file():
            raise UnitError(
                f"unit {name!r}: index {lane.index!r} names pipeline {lane.pipeline!r}: add "
                f"{unit.file(INGEST_PIPELINES, lane.pipeline)}"
            )
    for folder, wanted, why in (
        (INDEX_TEMPLATES, unit.indices, f"for no index of {MANIFEST}; name each template after an index the manifest lists"),
        (INGEST_PIPELINES, unit.pipelines, f"which no lane of {MANIFEST} names as its pipeline"),
    ):
        stray = sorted({p.stem for p in (root / folder).glob("*.json")} - set(wanted))
        if stray:
            raise UnitError(f"unit {name!r}: {folder}/ holds {', '.join(s + '.json' for s in stray)}, {why}")


def load_unit(path: Path, name: Optional[str] = None) -> Unit:
    """The unit in folder `path` (its name is the folder's), checked."""
    path = Path(path)
    name = name or path.name
    if not path.is_dir():
        raise UnitError(f"unit {name!r}: {path} is not a folder")
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise UnitError(f"unit {name!r}: {path} has no {MANIFEST}")
    manifest = _json_file(name, manifest_file)
    check_manifest(name, manifest, str(manifest_file))
    unit = Unit(name=name, path=path, manifest=manifest)
    _check_tree(unit)
    return unit


def builtin_names() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / MANIFEST).is_file()))


@lru_cache(maxsize=None)
def _builtin(name: str) -> Unit:
    return load_unit(BUILTIN_DIR / name)


def check_selection(units: Sequence[Unit]) -> None:
    """No two units claim the same name, index, service name, pipeline or saved object."""
    owners: dict[tuple[str, str], str] = {}

    def claim(kind: str, value: str, unit: Unit) -> None:
        other = owners.setdefault((kind, value), unit.name)
        if other != unit.name:
            whose = other if other == "the core" else f"unit {other!r}"
            raise UnitError(
                f"{kind} {value!r} is claimed by both {whose} and unit {unit.name!r}; "
                "select only one of the units, or rename it in one"
            )

    core = "the core"
    for stem in sorted(p.stem for p in (ASSETS / INGEST_PIPELINES).glob("*.json")):
        owners[("ingest pipeline", stem)] = core
    for so in core_saved_objects():
        owners[("saved object", f"{so['type']}/{so['id']}")] = core
    for var in CORE_AGENT_ENV:
        owners[("agentEnv variable", var)] = core
    for unit in units:
        for var in unit.agent_env:
            claim("agentEnv variable", var, unit)
        for lane in unit.lanes:
            claim("index", lane.index, unit)
            for service in lane.service_names:
                claim("service name", service, unit)
            if lane.pipeline:
                claim("ingest pipeline", lane.pipeline, unit)
        for so in unit_saved_objects(unit):
            claim("saved object", f"{so['type']}/{so['id']}", unit)
    seen: dict[str, Unit] = {}
    for unit in units:
        if unit.name in seen:
            raise UnitError(f"two units are named {unit.name!r} ({seen[unit.name].path} and {unit.path}); rename one folder")
        seen[unit.name] = unit


def _objects_in(directory: Path) -> list[dict]:
    objects: list[dict] = []
    for path in sorted(directory.glob("*.json")):
        objects.extend(json.loads(path.read_text(encoding="utf-8")).get("objects", []))
    return objects


def unit_saved_objects(unit: Unit) -> list[dict]:
    return _objects_in(unit.dashboards_dir())


def core_saved_objects() -> list[dict]:
    return _objects_in(ASSETS / DASHBOARDS)


def dashboards_dirs(units: Sequence[Unit]) -> tuple[Path, ...]:
    """Where the saved objects of the core and of `units` are, core first."""
    return (ASSETS / DASHBOARDS,) + tuple(u.dashboards_dir() for u in units if u.dashboards_dir().is_dir())


def asset_file(units: Sequence[Unit], folder: str, name: str) -> Path:
    """opensearch_assets/<folder>/<name>.json, or the unit's own file of that name."""
    core = ASSETS / folder / f"{name}.json"
    if core.is_file():
        return core
    for unit in units:
        if unit.file(folder, name).is_file():
            return unit.file(folder, name)
    raise UnitError(f"no {folder}/{name}.json in opensearch_assets/ or in the units {', '.join(u.name for u in units)}")


def select(names: Iterable[str] = DEFAULT_UNITS, paths: Iterable[str | Path] = ()) -> tuple[Unit, ...]:
    """The units a stack uses: built-in ones by name, plus the users' folders."""
    chosen: list[Unit] = []
    available = builtin_names()
    for name in names:
        if name not in available:
            raise UnitError(f"unit {name!r} is not built in (built in: {', '.join(available)}); add its folder to unitPaths instead")
        chosen.append(_builtin(name))
    chosen.extend(load_unit(Path(p)) for p in paths)
    check_selection(chosen)
    return tuple(chosen)


def default_units() -> tuple[Unit, ...]:
    return select(DEFAULT_UNITS)
