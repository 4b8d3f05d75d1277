"""The one table of log streams (components/telemetry.py) is consistent, and names.py's
lookups are views of it."""

from __future__ import annotations

from components import names, telemetry


def test_each_service_name_and_index_has_exactly_one_row():
    services = [svc for s in telemetry.LOG_STREAMS for svc in s.service_names]
    assert len(services) == len(set(services))
    indices = [s.index for s in telemetry.LOG_STREAMS]
    assert len(indices) == len(set(indices))
    assert {s.lane for s in telemetry.LOG_STREAMS} == {telemetry.TRUSTED, telemetry.UNTRUSTED}


def test_the_untrusted_lane_never_names_a_trusted_index_or_source():
    trusted = {s.index for s in telemetry.streams(telemetry.TRUSTED)}
    assert not trusted & set(names.UNTRUSTED_LOG_INDICES.values())
    for s in telemetry.streams(telemetry.UNTRUSTED):
        assert s.ingest_source == names.UNTRUSTED_INGEST_SOURCE
    for s in telemetry.streams(telemetry.TRUSTED):
        assert s.ingest_source != names.UNTRUSTED_INGEST_SOURCE


def test_names_lookups_are_derived_from_the_table():
    for s in telemetry.LOG_STREAMS:
        lookup = names.UNTRUSTED_LOG_INDICES if s.lane == telemetry.UNTRUSTED else names.TRUSTED_LOG_INDICES
        for service in s.service_names:
            assert lookup[service] == s.index
            if s.lane == telemetry.TRUSTED:
                assert names.TRUSTED_INGEST_SOURCE[service] == s.ingest_source
        assert names.INDEX_PIPELINES.get(s.index) == s.default_pipeline
    assert names.LOG_INDICES == tuple(s.index for s in telemetry.LOG_STREAMS)
