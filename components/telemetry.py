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


# The core's streams, untrusted first.
CORE_STREAMS: tuple[LogStream, ...] = (
    LogStream("clawker-cli", ("clawker-cli",), UNTRUSTED),
    LogStream("clawker-cp", ("clawker-cp", "clawkercp"), TRUSTED, "cp", default_pipeline="clawker-cp-actor-attrs"),
    LogStream("clawker-envoy", ("envoy",), TRUSTED, "envoy"),
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


# Untrusted streams first (the units', then the core's), in the order the indices are created and listed.
LOG_STREAMS: tuple[LogStream, ...] = unit_streams(_units.default_units()) + CORE_STREAMS


def streams(lane: Optional[str] = None) -> tuple[LogStream, ...]:
    return tuple(s for s in LOG_STREAMS if lane is None or s.lane == lane)


def index_by_service(lane: str) -> dict[str, str]:
    """service.name -> index for one lane, in table order."""
    return {service: s.index for s in streams(lane) for service in s.service_names}
