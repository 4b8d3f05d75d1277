"""A first `pulumi preview` (or `up`, which previews first) on a fresh stack.

Values another resource has not produced yet (the Dashboards workspace's id,
a container's id) reach the dynamic providers' check as unresolved Outputs:
the engine sends them as output values and the SDK deserialises those into
pulumi.Output. A check must let them pass, and still refuse a bad known value.
"""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import rpc

from components.providers import dashboards as dsp
from components.providers import opensearch as osp
from components.providers.readiness import ServiceReadyProvider


ENCODINGS = {
    # What the engine sends for a value not known yet (seen in a real preview), and
    # an output value without a value; the dynamic provider deserialises with keep_unknowns.
    "sentinel": rpc.UNKNOWN,
    "output value": {rpc._special_sig_key: rpc._special_output_value_sig},
}


def as_engine_sends(props: dict, unknown: str, encoding: str = "sentinel") -> dict:
    """props with `unknown` as the dynamic provider receives a not-yet-known value."""
    struct = struct_pb2.Struct()
    struct.update({**props, unknown: ENCODINGS[encoding]})
    return rpc.deserialize_properties(struct, True)


def failed(result) -> set[str]:
    return {f.property for f in result.failures}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("provider", [dsp.ExploreObjectProvider, dsp.ExploreCollectionProvider, dsp.SavedObjectBundleProvider])
def test_workspace_id_not_known_yet_passes_check(provider, encoding):
    base = {"url": "http://127.0.0.1:5601", "workspace_id": "placeholder"}
    news = as_engine_sends(base, "workspace_id", encoding)
    assert "workspace_id" not in failed(provider().check({}, news))
    # Negative control: a known but empty id is still refused.
    assert "workspace_id" in failed(provider().check({}, {**base, "workspace_id": ""}))


def test_opensearch_endpoint_not_known_yet_passes_check():
    base = {"endpoint": "http://127.0.0.1:9200", "name": "p", "body": {"processors": [{"set": {"field": "a", "value": 1}}]}}
    news = as_engine_sends(base, "endpoint")
    assert "endpoint" not in failed(osp.IngestPipelineProvider().check({}, news))
    assert "endpoint" in failed(osp.IngestPipelineProvider().check({}, {**base, "endpoint": "not a url"}))


def test_readiness_url_not_known_yet_passes_check():
    base = {"url": "http://127.0.0.1:9200/_cluster/health", "target": "c", "timeout_s": 300}
    assert "url" not in failed(ServiceReadyProvider().check({}, as_engine_sends(base, "url")))
    assert "url" in failed(ServiceReadyProvider().check({}, {**base, "url": "localhost"}))
