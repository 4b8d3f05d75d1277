"""The log streams the stack stores: one row per log index, everything about it in that row.

A record's resource `service.name` picks its row; the row says which collector lane
may write it (the untrusted OTLP lane can never write a trusted index), which index
it lands in, the `ingest_source` stamped on it, and the ingest pipeline that reshapes
it first (`index.default_pipeline`; every log index runs the envelope pipeline last).
Several service names may share a row: Claude Code desktop sessions report
claude-code-desktop, newer control planes clawkercp.

The core's streams (clawker-cli and the trusted infrastructure) are listed here;
each selected unit adds its own untrusted rows from its manifest (components/units.py),
ahead of the core's, so Claude Code's index stays the first one.

`components.names` derives the lookups older callers use (UNTRUSTED_LOG_INDICES,
TRUSTED_LOG_INDICES, TRUSTED_INGEST_SOURCE, LOG_INDICES, INDEX_PIPELINES, ...) from
this table; a core stream is added here, an agent's stream as a unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from components import units as _units

UNTRUSTED = "untrusted"
TRUSTED = "trusted"
# ingest_source stamped on every record of the untrusted lane.
UNTRUSTED_INGEST_SOURCE = "untrusted_otlp"


@dataclass(frozen=True)
class LogStream:
    index: str
    service_names: tuple[str, ...]
    lane: str
    # ingest_source stamped on the records (the untrusted lane stamps its own).
    ingest_source: str = UNTRUSTED_INGEST_SOURCE
    # index.default_pipeline: reshapes this source's attributes before the envelope.
    default_pipeline: Optional[str] = None
    # Names a predecessor stored this stream under (`clawker monitor` 896bf908: clawkercp);
    # an index of such a name is moved into this stream's daily indices (README "Moving from `clawker monitor`").
    former_indices: tuple[str, ...] = ()


# The core's streams, untrusted first.
CORE_STREAMS: tuple[LogStream, ...] = (
    LogStream("clawker-cli", ("clawker-cli",), UNTRUSTED),
    LogStream(
        "clawker-cp", ("clawker-cp", "clawkercp"), TRUSTED, "cp", default_pipeline="clawker-cp-actor-attrs",
        former_indices=("clawkercp",),
    ),
    LogStream("clawker-envoy", ("envoy",), TRUSTED, "envoy", default_pipeline="clawker-envoy-resource"),
    LogStream("clawker-coredns", ("coredns",), TRUSTED, "coredns"),
    LogStream("clawker-ebpf-egress", ("ebpf-egress",), TRUSTED, "netlogger"),
)


def unit_streams(units: Sequence[_units.Unit]) -> tuple[LogStream, ...]:
    """One untrusted row per log index of each unit, in manifest order."""
    return tuple(
        LogStream(lane.index, lane.service_names, UNTRUSTED, default_pipeline=lane.pipeline)
        for unit in units
        for lane in unit.lanes
    )


@dataclass(frozen=True)
class StreamTable:
    """The log streams of one selection of units: the units' rows first, then the core's.

    Everything the stack declares per log index (collector routes, templates,
    pipelines, indices, retention patterns, index patterns) is read from here;
    `settings.stream_table` is the one for a stack's `units` and `unitPaths`.
    """

    units: tuple[_units.Unit, ...]

    @property
    def streams(self) -> tuple[LogStream, ...]:
        return unit_streams(self.units) + CORE_STREAMS

    def of_lane(self, lane: Optional[str] = None) -> tuple[LogStream, ...]:
        return tuple(s for s in self.streams if lane is None or s.lane == lane)

    def index_by_service(self, lane: str) -> dict[str, str]:
        """service.name -> index for one lane, in table order."""
        return {service: s.index for s in self.of_lane(lane) for service in s.service_names}

    @property
    def log_indices(self) -> tuple[str, ...]:
        return tuple(s.index for s in self.streams)

    @property
    def index_pipelines(self) -> dict[str, str]:
        return {s.index: s.default_pipeline for s in self.streams if s.default_pipeline}

    @property
    def trusted_ingest_source(self) -> dict[str, str]:
        return {service: s.ingest_source for s in self.of_lane(TRUSTED) for service in s.service_names}

    @property
    def retained_indices(self) -> tuple[str, ...]:
        """Log indices the stack's retention policy (logRetentionDays) covers: the core's and default-retention lanes."""
        custom = {
            lane.index for unit in self.units for lane in unit.lanes if lane.retention != _units.RETENTION_DEFAULT
        }
        return tuple(index for index in self.log_indices if index not in custom)

    def former_indices(self, index: str) -> tuple[str, ...]:
        return next((s.former_indices for s in self.streams if s.index == index), ())

    def unit_of(self, index: str) -> Optional[_units.Unit]:
        return next((unit for unit in self.units if index in unit.indices), None)

    def asset_file(self, folder: str, name: str):
        return _units.asset_file(self.units, folder, name)


def table_for(units: Sequence[_units.Unit]) -> StreamTable:
    return StreamTable(tuple(units))


# The default selection (units [claude-code]): what names.py's constants and most tests read.
DEFAULT = table_for(_units.default_units())
# Untrusted streams first (the units', then the core's), in the order the indices are created and listed.
LOG_STREAMS: tuple[LogStream, ...] = DEFAULT.streams


def streams(lane: Optional[str] = None) -> tuple[LogStream, ...]:
    return DEFAULT.of_lane(lane)


def index_by_service(lane: str) -> dict[str, str]:
    """service.name -> index for one lane, in table order (default selection)."""
    return DEFAULT.index_by_service(lane)
