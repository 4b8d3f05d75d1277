"""The OpenSearch providers against a real OpenSearch 3.6.0, calling the ResourceProvider methods directly.

Inputs and outputs pass through Pulumi's property serialisation the way they do
between the engine and a dynamic provider (every number comes back a float).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import socket
import time

import pytest
from pulumi.runtime import rpc

from net import AnswerDroppingProxy
from opensearch_node import ISM, SQL, OpenSearchNode

from components.bootstrap import opensearch as boot
from components import names
from components.providers import opensearch as osp
from components.providers.opensearch import base as osp_base  # where every OpenSearch ApiClient is made
from components.providers.diffing import project_onto
from components.providers.http_client import AlreadyManagedError, ApiClient, ApiError
from components.providers.opensearch import index as index_module
from components.providers.opensearch.ism_policy import ISM_ALREADY_MANAGED, _ism_index_call

TIMEOUT_S = 30.0


def engine(props: dict) -> dict:
    """What the engine hands a provider after storing `props` (protobuf Struct both ways)."""
    loop = asyncio.new_event_loop()
    try:
        return rpc.deserialize_properties(loop.run_until_complete(rpc.serialize_properties(props, {})))
    finally:
        loop.close()


def props_for(node: OpenSearchNode, name: str, body: dict, **extra) -> dict:
    return engine({"endpoint": node.url, "name": name, "body": body, "timeout_s": TIMEOUT_S, **extra})


def create(provider, props: dict):
    """check, then create; returns (id, outputs as the engine stores them)."""
    checked = provider.check({}, props)
    assert not checked.failures, [(f.property, f.reason) for f in checked.failures]
    result = provider.create(checked.inputs)
    return result.id, engine(result.outs)


def assert_no_diff(provider, id_: str, outs: dict, props: dict) -> None:
    diff = provider.diff(id_, outs, props)
    assert not diff.changes, provider.changes(outs, props) if hasattr(provider, "changes") else diff


# ------------------------------------------------------------------- kinds


def _component_body() -> dict:
    return boot.component_template_body()


def _index_template_body() -> dict:
    body = boot.index_template_body("clawker-cli")
    body["index_patterns"] = ["clawker-test-cli"]
    body["composed_of"] = []  # this test runs without the component template
    return body


def _pipeline_body() -> dict:
    return boot.pipeline_bodies()[names.ENVELOPE_PIPELINE]


def _add_mapping_field(body: dict) -> dict:
    body = copy.deepcopy(body)
    props = body["template"]["mappings"]["properties"]
    props.setdefault("attributes", {"properties": {}})["properties"]["test_added"] = {"type": "keyword"}
    return body


def _add_processor(body: dict) -> dict:
    body = copy.deepcopy(body)
    body["processors"].append({"set": {"field": "test_added", "value": "yes"}})
    return body


def _edit_description(body: dict) -> dict:
    body = copy.deepcopy(body)
    if "_meta" in body or "template" in body:
        body["_meta"] = {"description": "edited by hand"}
    else:
        body["description"] = "edited by hand"
    return body


KINDS = {
    "component-template": (osp.ComponentTemplateProvider, "clawker-test-common", _component_body, _add_mapping_field),
    "index-template": (osp.IndexTemplateProvider, "clawker-test-cli", _index_template_body, _add_mapping_field),
    "ingest-pipeline": (osp.IngestPipelineProvider, "clawker-test-envelope", _pipeline_body, _add_processor),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_document_lifecycle(cluster, kind):
    cls, name, make_body, grow = KINDS[kind]
    provider = cls()
    path = provider.path(name)
    props = props_for(cluster, name, make_body())

    # create, then nothing to do: right away and after a refresh
    id_, outs = create(provider, props)
    assert id_ == name and cluster.call("GET", path).status_code == 200
    assert_no_diff(provider, id_, outs, props)
    refreshed = provider.read(id_, outs)
    assert refreshed.id == id_
    assert_no_diff(provider, id_, engine(refreshed.outs), props)

    # update in place: an added field is a change, not a replacement
    grown = props_for(cluster, name, grow(make_body()))
    diff = provider.diff(id_, outs, grown)
    assert diff.changes and not diff.replaces
    assert any(p.startswith("body.") for p in provider.changes(outs, grown))
    outs = engine(provider.update(id_, outs, grown).outs)
    live = provider.fetch(ApiClient(cluster.url), name)
    assert provider.normalise(live, grown["body"]) == provider.normalise(osp.plain(grown["body"]), grown["body"])
    assert_no_diff(provider, id_, outs, grown)

    # an out-of-band edit: refresh reports the live document, the next up restores ours
    assert cluster.call("PUT", path, _edit_description(osp.plain(grown["body"]))).status_code == 200
    drifted = provider.read(id_, outs)
    assert drifted.id == id_
    assert provider.diff(id_, engine(drifted.outs), grown).changes
    assert drifted.inputs["body"] == drifted.outs["body"]  # the next preview diffs live -> declared
    outs = engine(provider.update(id_, engine(drifted.outs), grown).outs)
    assert_no_diff(provider, id_, engine(provider.read(id_, outs).outs), grown)

    # an out-of-band delete: refresh drops it from state
    assert cluster.call("DELETE", path).status_code == 200
    assert provider.read(id_, outs).id == ""

    # delete (also fine when it is already gone)
    provider.create(grown)
    provider.delete(id_, outs)
    assert cluster.call("GET", path).status_code == 404
    provider.delete(id_, outs)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rename_replaces_and_endpoint_change_updates(cluster, kind):
    cls, name, make_body, _ = KINDS[kind]
    provider = cls()
    props = props_for(cluster, name, make_body())
    id_, outs = create(provider, props)

    renamed = dict(props, name=name + "-renamed")
    diff = provider.diff(id_, outs, renamed)
    assert diff.changes and diff.replaces == ["name"]

    # A new port moves the container, not the assets: update in place, send nothing.
    port = cluster.url.rsplit(":", 1)[1]
    moved = dict(props, endpoint=f"http://localhost:{port}")
    diff = provider.diff(id_, outs, moved)
    assert diff.changes and not diff.replaces
    before = cluster.call("GET", provider.path(name)).json()
    outs = engine(provider.update(id_, outs, moved).outs)
    assert outs["endpoint"] == moved["endpoint"]
    assert cluster.call("GET", provider.path(name)).json() == before
    assert_no_diff(provider, id_, outs, moved)


def test_check_validates_locally_before_any_request():
    # Nothing listens on this endpoint: check must not need it.
    bad = engine(
        {
            "endpoint": "http://127.0.0.1:9",
            "name": "Bad Name",
            "body": {"template": {"mappings": {"properties": {"x": {"type": "strnig"}, "y": "keyword"}}}},
            "timeout_s": 1.0,
        }
    )
    failures = osp.ComponentTemplateProvider().check({}, bad).failures
    reasons = " | ".join(f"{f.property}: {f.reason}" for f in failures)
    assert "unknown field type 'strnig'" in reasons and "properties.y must be an object" in reasons
    assert any(f.property == "name" for f in failures)
    missing = osp.IndexTemplateProvider().check({}, engine({**bad, "name": "ok", "body": {"template": {}}}))
    assert any("index_patterns" in f.reason for f in missing.failures)
    policy = boot.retention_policy_body(7)
    policy["policy"]["default_state"] = "warm"
    ism = osp.IsmPolicyProvider().check({}, engine({**bad, "name": "ok", "body": policy}))
    assert any("default_state" in f.reason for f in ism.failures)


def test_invalid_mapping_error_carries_opensearch_reason(cluster):
    body = _component_body()
    body["template"]["mappings"]["properties"]["body"] = {"type": "text", "analyzer": "no_such_analyzer"}
    provider = osp.ComponentTemplateProvider()
    props = props_for(cluster, "clawker-test-invalid", body)
    assert not provider.check({}, props).failures  # locally fine: only OpenSearch knows its analyzers
    with pytest.raises(ApiError) as err:
        provider.create(props)
    assert err.value.status == 400
    assert "no_such_analyzer" in str(err.value) and "mapper_parsing_exception" in str(err.value)
    assert cluster.url in str(err.value)


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_unreachable_opensearch_fails_within_the_bound(server):
    bound = 4.0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if server == "silent":
            sock.listen(16)  # accepts connections, never answers
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        props = engine({"endpoint": url, "name": "clawker-common", "body": _component_body(), "timeout_s": bound})
        started = time.monotonic()
        with pytest.raises(ApiError) as err:
            osp.ComponentTemplateProvider().create(props)
        elapsed = time.monotonic() - started
    message = str(err.value)
    assert url in message and f"within {bound:g}s" in message and "last answer" in message
    assert ("Connection refused" in message) if server == "refused" else ("timed out" in message)
    # The bound is the behaviour under test, so it is timed: it kept trying until the bound and then
    # stopped; the upper limit is a generous multiple (without the bound a silent server holds each
    # attempt for the client's 30 s read timeout, again and again), not a measure of speed.
    assert bound - 0.5 <= elapsed <= 2 * bound, elapsed


# ---------------------------------------------------------------------- ISM


def _policy_props(node, days: int) -> dict:
    return props_for(node, names.ISM_POLICY, boot.retention_policy_body(days))


def _live_policy(node) -> dict:
    return node.call("GET", f"_plugins/_ism/policies/{names.ISM_POLICY}").json()


def _min_age(policy: dict) -> str:
    return policy["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"]


@pytest.mark.needs_ism
def test_ism_policy_lifecycle_and_retention_update(cluster):
    cluster.require(ISM)
    provider = osp.IsmPolicyProvider()
    props = _policy_props(cluster, 7)
    id_, outs = create(provider, props)
    assert _min_age(_live_policy(cluster)) == "8d"  # 7 days kept, whole days: deleted one day later
    assert_no_diff(provider, id_, outs, props)
    assert_no_diff(provider, id_, engine(provider.read(id_, outs).outs), props)

    # 7d -> 14d: an update in place, carrying seq_no/primary_term of a fresh GET
    before = _live_policy(cluster)
    longer = _policy_props(cluster, 14)
    assert provider.changes(outs, longer) == ["body.policy.states[0].transitions[0].conditions.min_index_age"]
    assert not provider.diff(id_, outs, longer).replaces
    outs = engine(provider.update(id_, outs, longer).outs)
    after = _live_policy(cluster)
    assert _min_age(after) == "15d" and after["_seq_no"] > before["_seq_no"]
    assert_no_diff(provider, id_, outs, longer)

    # A bare PUT on an existing policy is what OpenSearch refuses (why the provider GETs first).
    bare = cluster.call("PUT", f"_plugins/_ism/policies/{names.ISM_POLICY}", osp.plain(longer["body"]))
    assert bare.status_code == 409, bare.text

    # out-of-band edit and delete
    edited = osp.plain(longer["body"])
    edited["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"] = "1d"
    live = _live_policy(cluster)
    cluster.call(
        "PUT",
        f"_plugins/_ism/policies/{names.ISM_POLICY}",
        edited,
        params={"if_seq_no": live["_seq_no"], "if_primary_term": live["_primary_term"]},
    )
    drifted = provider.read(id_, outs)
    assert provider.changes(engine(drifted.outs), longer) == ["body.policy.states[0].transitions[0].conditions.min_index_age"]
    outs = engine(provider.update(id_, engine(drifted.outs), longer).outs)
    assert _min_age(_live_policy(cluster)) == "15d"
    cluster.call("DELETE", f"_plugins/_ism/policies/{names.ISM_POLICY}")
    assert provider.read(id_, outs).id == ""
    provider.create(longer)
    provider.delete(id_, outs)
    assert cluster.call("GET", f"_plugins/_ism/policies/{names.ISM_POLICY}").status_code == 404


@pytest.mark.needs_ism
def test_ism_update_retries_when_policy_changes_between_get_and_put(cluster, monkeypatch):
    cluster.require(ISM)
    provider = osp.IsmPolicyProvider()
    id_, outs = create(provider, _policy_props(cluster, 7))
    path = f"_plugins/_ism/policies/{names.ISM_POLICY}"
    seen = {"gets": 0, "puts": [], "interfered": False}

    class Interfering(ApiClient):
        """Someone else updates the policy between the provider's GET of seq_no and its PUT."""

        def request(self, method, req_path, **kwargs):
            if method == "PUT" and req_path == path:
                seen["puts"].append(kwargs.get("params"))  # before the call: refused attempts count too
            answer = super().request(method, req_path, **kwargs)
            if method == "GET" and req_path == path and answer:
                seen["gets"] += 1
                # GET 1 reads the live document (diff); GET 2 is the one whose seq_no the PUT carries.
                if seen["gets"] == 2 and not seen["interfered"]:
                    seen["interfered"] = True
                    other = copy.deepcopy({"policy": answer["policy"]})
                    for key in ("policy_id", "last_updated_time", "schema_version", "error_notification"):
                        other["policy"].pop(key, None)
                    other["policy"]["description"] = "changed by someone else"
                    for tpl in other["policy"].get("ism_template") or []:
                        tpl.pop("last_updated_time", None)
                    r = super().request(
                        "PUT",
                        path,
                        json_body=other,
                        params={"if_seq_no": answer["_seq_no"], "if_primary_term": answer["_primary_term"]},
                    )
                    assert r["_seq_no"] > answer["_seq_no"]
            return answer

    monkeypatch.setattr(osp_base, "ApiClient", Interfering)
    longer = _policy_props(cluster, 14)
    provider.update(id_, outs, longer)
    monkeypatch.undo()
    live = _live_policy(cluster)
    assert seen["interfered"] and seen["gets"] >= 3
    # The provider's own PUTs: the first (stale seq_no) got 409, the retry won with a fresh one.
    own = [p for p in seen["puts"] if p is not None]
    assert len(own) >= 2 and own[0] != own[-1]
    assert _min_age(live) == "15d"
    assert live["policy"]["description"] == boot.retention_policy_body(14)["policy"]["description"]


@pytest.mark.needs_ism
def test_ism_update_moves_managed_indices_to_the_new_version(cluster):
    cluster.require(ISM)
    _bootstrap_templates(cluster)
    provider = osp.IsmPolicyProvider()
    id_, outs = create(provider, _policy_props(cluster, 7))
    index = osp.IndexProvider()
    create(index, _index_props(cluster, "clawker-cli"))
    day = today("clawker-cli")
    provider.update(id_, outs, _policy_props(cluster, 14))
    explain = cluster.call("GET", f"_plugins/_ism/explain/{day}").json()[day]
    # change_policy was accepted: ISM records the pending switch (or has already made it).
    assert (explain.get("policy_id") or explain["index.plugins.index_state_management.policy_id"]) == names.ISM_POLICY
    managed = cluster.call("GET", "_plugins/_ism/explain/clawker-cli*", params={"show_policy": "true"}).json()
    assert managed["total_managed_indices"] == 1  # the day, never the write name


# -------------------------------------------------------------------- index


def _bootstrap_templates(node: OpenSearchNode) -> None:
    """Pipelines, the component template and the log index templates (write name and days), as the bootstrap declares them."""
    for name, body in boot.pipeline_bodies().items():
        create(osp.IngestPipelineProvider(), props_for(node, name, body))
    create(osp.ComponentTemplateProvider(), props_for(node, names.COMPONENT_TEMPLATE, boot.component_template_body()))
    for index, template in names.LOG_INDEX_TEMPLATES.items():
        create(osp.IndexTemplateProvider(), props_for(node, template, boot.index_template_body(index)))
        create(osp.IndexTemplateProvider(), props_for(node, boot.daily_template_name(index), boot.daily_template_body(index)))


def today(index: str) -> str:
    return names.day_index(index, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))


def _uuid(node, index: str) -> str:
    return node.call("GET", f"{index}/_settings").json()[index]["settings"]["index"]["uuid"]


def _write(node, index: str, body: str = "kept", ts: str | None = None) -> dict:
    """One record written the way the collector writes it: to the write name, through its pipelines."""
    doc = {
        "@timestamp": ts or datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
        "body": body,
        "resource": {"service.name": index},
    }
    answer = node.call("POST", f"{index}/_doc?refresh=true", doc)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _count(node, index: str) -> int:
    node.call("POST", f"{names.read_pattern(index)}/_refresh")
    return node.call("GET", f"{names.read_pattern(index)}/_count").json()["count"]


def _index_props(node, index: str, *, policy: bool = True) -> dict:
    former = boot.DEFAULT.former_indices(index)  # as declare_opensearch_assets passes them
    return engine(
        {
            "endpoint": node.url,
            "name": index,
            "mappings": boot.index_mappings(index),
            "settings": boot.index_settings(index),
            "policy_id": names.ISM_POLICY if policy else None,
            "timeout_s": TIMEOUT_S,
            **({"former_names": list(former)} if former else {}),
        }
    )


def _live_mapping(node, index: str) -> dict:
    return node.call("GET", f"{index}/_mapping").json()[index]["mappings"]


def test_index_created_after_templates_carries_their_mapping(cluster):
    _bootstrap_templates(cluster)
    provider = osp.IndexProvider()
    props = _index_props(cluster, "claude-code", policy=False)
    id_, outs = create(provider, props)
    mapping = _live_mapping(cluster, "claude-code")
    attributes = mapping["properties"]["attributes"]["properties"]
    assert attributes["cost_usd"] == {"type": "double"}
    assert attributes["prompt"]["properties"]["value"] == {"type": "text"}
    assert mapping["properties"]["resource"]["properties"]["attributes"]["properties"]["service"]["properties"]["name"] == {
        "type": "keyword"
    }
    settings = cluster.call("GET", "claude-code/_settings").json()["claude-code"]["settings"]["index"]
    assert settings["default_pipeline"] == names.route_pipeline("claude-code")
    assert "final_pipeline" not in settings
    # Today's daily index is made from the daily template: same mapping, no pipeline.
    day = today("claude-code")
    assert _live_mapping(cluster, day)["properties"]["attributes"]["properties"]["cost_usd"] == {"type": "double"}
    day_settings = cluster.call("GET", f"{day}/_settings").json()[day]["settings"]["index"]
    assert "default_pipeline" not in day_settings and "final_pipeline" not in day_settings
    # A record written to the write name is processed and lands in its day; the write name stays empty.
    written = _write(cluster, "claude-code")
    assert written["_index"] == day
    assert cluster.call("GET", "claude-code/_count").json()["count"] == 0
    assert_no_diff(provider, id_, outs, props)
    assert_no_diff(provider, id_, engine(provider.read(id_, outs).outs), props)


def test_index_without_matching_template_fails_the_bootstrap(cluster):
    provider = osp.IndexProvider()
    with pytest.raises(ApiError) as err:
        provider.create(_index_props(cluster, "clawker-envoy", policy=False))
    assert "template did not match" in str(err.value)


def test_existing_index_is_moved_into_its_days_and_made_again(cluster, capsys):
    """A fixed-name index kept from an earlier release, holding records and mapping a field with
    another type: its records move into the daily indices by their own timestamps (same _id), and
    the write name is made again, empty, from its template."""
    _bootstrap_templates(cluster)
    old_mapping = {"properties": {"attributes": {"properties": {"answer_count": {"type": "keyword"}}}}}
    assert cluster.call("PUT", "clawker-coredns", {"mappings": old_mapping}).status_code == 200
    days = ["2026-11-02T10:00:00Z", "2026-11-03T23:59:59.999Z", "2026-11-03T00:00:00Z"]
    ids = []
    for ts in days:
        doc = {"@timestamp": ts, "body": "old", "attributes": {"answer_count": "2"}}
        answer = cluster.call("POST", "clawker-coredns/_doc?refresh=true&pipeline=_none", doc)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["_id"])
    uuid = _uuid(cluster, "clawker-coredns")
    provider = osp.IndexProvider()
    props = _index_props(cluster, "clawker-coredns", policy=False)
    capsys.readouterr()
    id_, outs = create(provider, props)
    assert "moved 3 document(s) of clawker-coredns" in capsys.readouterr().err
    assert _uuid(cluster, "clawker-coredns") != uuid
    assert cluster.call("GET", "clawker-coredns/_count").json()["count"] == 0
    for doc_id, day in zip(ids, ("2026-11-02", "2026-11-03", "2026-11-03")):
        got = cluster.call("GET", f"clawker-coredns-{day}/_doc/{doc_id}").json()
        assert got["found"] and got["_source"]["body"] == "old", got
    assert _count(cluster, "clawker-coredns") == 3
    assert _live_mapping(cluster, "clawker-coredns-2026-11-02")["properties"]["attributes"]["properties"]["answer_count"] == {"type": "integer"}
    assert_no_diff(provider, id_, outs, props)
    assert_no_diff(provider, id_, engine(provider.read(id_, outs).outs), props)


def test_a_record_that_cannot_be_moved_stops_the_move_before_anything_is_deleted(cluster):
    _bootstrap_templates(cluster)
    assert cluster.call("PUT", "clawker-cli", {"settings": {"index": {"default_pipeline": "_none"}}}).status_code == 200
    cluster.call("POST", "clawker-cli/_doc?refresh=true", {"@timestamp": "2026-11-02T10:00:00Z", "body": "dated"})
    cluster.call("POST", "clawker-cli/_doc?refresh=true", {"body": "no timestamp: no day to go to"})
    uuid = _uuid(cluster, "clawker-cli")
    with pytest.raises(ApiError) as err:
        osp.IndexProvider().create(_index_props(cluster, "clawker-cli", policy=False))
    assert "@timestamp" in str(err.value) and "left as it was" in str(err.value)
    assert _uuid(cluster, "clawker-cli") == uuid
    assert cluster.call("GET", "clawker-cli/_count").json()["count"] == 2


def test_index_delete_keeps_data_and_out_of_band_delete_is_seen(cluster):
    _bootstrap_templates(cluster)
    provider = osp.IndexProvider()
    props = _index_props(cluster, "clawker-cp", policy=False)
    id_, outs = create(provider, props)
    provider.delete(id_, outs)
    assert cluster.call("HEAD", "clawker-cp").status_code == 200  # telemetry survives destroy
    cluster.call("DELETE", "clawker-cp")
    assert provider.read(id_, outs).id == ""


@pytest.mark.needs_ism
def test_todays_index_has_template_mapping_and_attached_policy(cluster):
    cluster.require(ISM)
    _bootstrap_templates(cluster)
    create(osp.IsmPolicyProvider(), _policy_props(cluster, 7))
    provider = osp.IndexProvider()
    props = _index_props(cluster, "clawker-envoy")
    id_, outs = create(provider, props)
    day = today("clawker-envoy")
    explain = cluster.call("GET", f"_plugins/_ism/explain/{day}").json()[day]
    assert explain["index.plugins.index_state_management.policy_id"] == names.ISM_POLICY
    # The write name is never managed: ISM would delete it whole.
    door = cluster.call("GET", "_plugins/_ism/explain/clawker-envoy").json()["clawker-envoy"]
    assert door["index.plugins.index_state_management.policy_id"] is None
    mapping = _live_mapping(cluster, day)["properties"]["attributes"]["properties"]
    assert mapping["response_code"] == {"type": "integer"} and mapping["client"]["properties"]["address"] == {"type": "ip"}
    assert outs["policy_id"] == names.ISM_POLICY
    assert_no_diff(provider, id_, outs, props)

    # Out of band: the policy is removed from a day; refresh sees it, update re-attaches it.
    cluster.call("POST", f"_plugins/_ism/remove/{day}")
    drifted = provider.read(id_, outs)
    assert drifted.outs["policy_id"] is None and provider.diff(id_, engine(drifted.outs), props).changes
    outs = engine(provider.update(id_, engine(drifted.outs), props).outs)
    assert outs["policy_id"] == names.ISM_POLICY


@pytest.mark.needs_ism
def test_an_index_step_asks_each_days_policy_once_and_reads_the_door_once(cluster, monkeypatch):
    """Issue 21 (cold start): the step's last questions sit on the bootstrap's path to the collector.
    What _converge_days has just confirmed (every day under the declared policy) and the door as
    read once (nothing has changed it since) are not asked again: before, the step ended by
    reading the door and listing and explaining every day a second time. The days are listed
    before today's index is made, so after its creation only its mapping and the days' policies
    are asked."""
    cluster.require(ISM)
    _bootstrap_templates(cluster)
    create(osp.IsmPolicyProvider(), _policy_props(cluster, 7))
    now = datetime.datetime.now(datetime.timezone.utc)
    earlier = [names.day_index("clawker-coredns", (now - datetime.timedelta(days=d)).strftime("%Y-%m-%d")) for d in (2, 1)]
    for day in earlier:
        assert cluster.call("PUT", day).status_code == 200
        assert _wait_explain(cluster, day, names.ISM_POLICY) == names.ISM_POLICY
    asked: list[tuple[str, str]] = []
    real = ApiClient.request

    def counting(self, method, path, **kw):
        asked.append((method, path))
        return real(self, method, path, **kw)

    monkeypatch.setattr(ApiClient, "request", counting)
    provider = osp.IndexProvider()
    props = _index_props(cluster, "clawker-coredns")
    id_, outs = create(provider, props)
    monkeypatch.undo()

    for day in earlier:  # asked once, with no wait: it was managed already
        assert asked.count(("GET", f"_plugins/_ism/explain/{day}")) == 1, asked
    assert asked.count(("GET", "_cat/indices/clawker-coredns-*")) == 1, asked
    day = today("clawker-coredns")
    after = set(asked[asked.index(("PUT", day)) + 1:])
    assert after <= {("GET", f"{day}/_mapping")} | {("GET", f"_plugins/_ism/explain/{d}") for d in earlier + [day]}, after
    # Once to find it missing, once to check the mapping the template gave it.
    assert asked.count(("GET", "clawker-coredns")) == 2, asked
    # What the step answered is what a read finds: no diff, no false drift.
    assert outs["policy_id"] == names.ISM_POLICY
    assert_no_diff(provider, id_, outs, props)
    assert_no_diff(provider, id_, engine(provider.read(id_, outs).outs), props)


@pytest.mark.needs_ism
def test_an_ism_add_whose_answer_is_lost_is_confirmed_by_explain_not_resent(cluster):
    cluster.require(ISM)
    create(osp.IsmPolicyProvider(), _policy_props(cluster, 7))
    index = "lost-answer-ism-add"  # matches no ism_template: only the add attaches a policy
    cluster.call("PUT", index)
    add = f"/_plugins/_ism/add/{index}"
    proxy = AnswerDroppingProxy(cluster.url, "POST", add)
    try:
        _ism_index_call(ApiClient(proxy.url, total_timeout_s=TIMEOUT_S), "add", index, names.ISM_POLICY)
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.forwarded[("POST", add)] == 1
    explain = cluster.call("GET", f"_plugins/_ism/explain/{index}").json()[index]
    assert explain["index.plugins.index_state_management.policy_id"] == names.ISM_POLICY
    # Control: what a resend of that add would have met.
    with pytest.raises(AlreadyManagedError):
        _ism_index_call(ApiClient(cluster.url), "add", index, names.ISM_POLICY)


@pytest.mark.needs_ism
def test_a_day_deleted_between_listing_and_change_policy_does_not_fail_the_update(cluster, monkeypatch):
    """Updating the retention policy moves every managed day onto the new version: explain lists
    them, then one change_policy names them all. ISM may delete an expired day in between (a CI
    run crossing midnight met it); change_policy then answers 404 for the whole call. The update
    lists again and moves the days that are still there."""
    cluster.require(ISM)
    from components.providers.opensearch import ism_policy
    from components.providers.http_client import NotFoundError

    create(osp.IsmPolicyProvider(), _policy_props(cluster, 7))
    day = today("clawker-cli")
    cluster.call("PUT", day)
    wait_for = time.monotonic() + 30
    while day not in ism_policy.managed_indices(ApiClient(cluster.url), names.ISM_POLICY):
        assert time.monotonic() < wait_for, f"ISM did not attach {names.ISM_POLICY} to {day}"
        time.sleep(0.5)
    gone = "clawker-cli-2000-01-01"  # listed by explain, deleted by ISM before the change_policy
    real = ism_policy.managed_indices
    lists = []

    def listed_then_deleted(client, policy_id):
        lists.append(policy_id)
        return real(client, policy_id) + ([gone] if len(lists) == 1 else [])

    monkeypatch.setattr(ism_policy, "managed_indices", listed_then_deleted)
    create(osp.IsmPolicyProvider(), _policy_props(cluster, 14))
    assert len(lists) >= 2 and _min_age(_live_policy(cluster)) == "15d"
    # Control: the single change_policy the update used to send fails on that list.
    with pytest.raises(NotFoundError):
        _ism_index_call(ApiClient(cluster.url), "change_policy", f"{day},{gone}", names.ISM_POLICY)


@pytest.mark.needs_ism
def test_a_day_made_moments_ago_accepts_the_policy_ism_attached_meanwhile(cluster, monkeypatch):
    """A create that finds today's index already there (a record made it, another process) asks
    ISM to add the policy; ISM's own ism_template attach can land first, and ISM then refuses the
    add with "already has a policy". The window is forced: the first explain is made to miss the
    attach that has in fact happened. The policy the index ends with counts."""
    cluster.require(ISM)
    _bootstrap_templates(cluster)
    create(osp.IsmPolicyProvider(), _policy_props(cluster, 7))
    day = today("clawker-cli")
    assert cluster.call("PUT", day).status_code == 200  # made moments ago: ism_template attaches
    real_wait = index_module._wait_for_policy
    calls = []

    def explain_misses_the_attach_once(client, index, *, timeout_s):
        calls.append(timeout_s)
        return None if len(calls) == 1 else real_wait(client, index, timeout_s=timeout_s)

    monkeypatch.setattr(index_module, "_wait_for_policy", explain_misses_the_attach_once)
    id_, outs = create(osp.IndexProvider(), _index_props(cluster, "clawker-cli"))
    assert outs["policy_id"] == names.ISM_POLICY and len(calls) >= 2
    # Control: ISM really refuses that add, so the create above went through the refusal.
    answer = cluster.call("POST", f"_plugins/_ism/add/{day}", {"policy_id": names.ISM_POLICY}).json()
    assert answer.get("failures") and ISM_ALREADY_MANAGED in str(answer.get("failed_indices"))


# ------------------------------------------------------- the whole bootstrap


def bootstrap_props(node: OpenSearchNode, prometheus_url: str, prometheus_uri: str, days: int = 7) -> list:
    """(provider, props) for every OpenSearch asset, in the order declare_opensearch_assets chains them."""
    items = []
    for name, body in boot.pipeline_bodies().items():
        items.append((osp.IngestPipelineProvider(), props_for(node, name, body)))
    items.append((osp.ComponentTemplateProvider(), props_for(node, names.COMPONENT_TEMPLATE, boot.component_template_body())))
    for index, template in names.LOG_INDEX_TEMPLATES.items():
        items.append((osp.IndexTemplateProvider(), props_for(node, template, boot.index_template_body(index))))
        items.append((osp.IndexTemplateProvider(), props_for(node, boot.daily_template_name(index), boot.daily_template_body(index))))
    items.append((osp.IndexTemplateProvider(), props_for(node, names.TRACES_INDEX_TEMPLATE, boot.traces_template_body())))
    items.append((osp.IndexTemplateProvider(), props_for(node, boot.daily_template_name(names.TRACES_INDEX), boot.traces_daily_template_body())))
    items.append((osp.IsmPolicyProvider(), props_for(node, names.ISM_POLICY, boot.retention_policy_body(days))))
    for index in names.LOG_INDICES:
        items.append((osp.IndexProvider(), _index_props(node, index)))
    body = boot.datasource_body(prometheus_uri)
    items.append(
        (
            osp.DatasourceProvider(),
            props_for(node, names.DATASOURCE, body, prometheus_url=prometheus_url, key_fingerprint="test-key"),
        )
    )
    return items


def _snapshot(node: OpenSearchNode) -> dict:
    """Everything a re-run could change, with the version counters that would move."""
    return {
        "policy": _live_policy(node)["_seq_no"],
        "indices": {i: _uuid(node, i) for i in names.LOG_INDICES + tuple(today(i) for i in names.LOG_INDICES)},
        "templates": node.call("GET", "_index_template").json(),
        "components": node.call("GET", "_component_template").json(),
        "pipelines": node.call("GET", "_ingest/pipeline").json(),
        "datasource": node.call("GET", f"_plugins/_query/_datasources/{names.DATASOURCE}").json(),
    }


@pytest.mark.needs_sql
@pytest.mark.needs_ism
def test_second_full_bootstrap_on_a_populated_cluster_changes_nothing(cluster, prometheus):
    cluster.require(ISM)
    cluster.require(SQL)
    states = []
    for provider, props in bootstrap_props(cluster, prometheus.url, prometheus.url):
        states.append((provider, props, create(provider, props)))
    for index in names.LOG_INDICES:
        _write(cluster, index)
    before = _snapshot(cluster)

    # A refresh followed by a preview: no drift, no changes.
    for provider, props, (id_, outs) in states:
        refreshed = provider.read(id_, outs)
        assert refreshed.id == id_
        assert_no_diff(provider, id_, engine(refreshed.outs), props)
    # The same program over the kept data with fresh state (destroy, then up): all adopted as is.
    _RecordingWrites.writes = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(osp_base, "ApiClient", _RecordingWrites)
        for provider, props in bootstrap_props(cluster, prometheus.url, prometheus.url):
            create(provider, props)
    assert _RecordingWrites.writes == []
    after = _snapshot(cluster)
    assert after == before
    for index in names.LOG_INDICES:
        assert _count(cluster, index) == 1


# ---------------------------------------------------------------- datasource


@pytest.mark.needs_sql
def test_datasource_lifecycle(cluster, prometheus):
    cluster.require(SQL)
    provider = osp.DatasourceProvider()
    body = boot.datasource_body(prometheus.url)
    props = props_for(cluster, names.DATASOURCE, body, prometheus_url=prometheus.url, key_fingerprint="k1")
    id_, outs = create(provider, props)
    path = f"_plugins/_query/_datasources/{names.DATASOURCE}"
    live = cluster.call("GET", path).json()
    assert live["properties"]["prometheus.uri"] == prometheus.url
    assert_no_diff(provider, id_, outs, props)
    assert_no_diff(provider, id_, engine(provider.read(id_, outs).outs), props)

    # update in place: a new URI (Prometheus moved), and a new master key re-registers it
    moved_uri = prometheus.url.replace("127.0.0.1", "localhost")
    new = props_for(
        cluster, names.DATASOURCE, boot.datasource_body(moved_uri), prometheus_url=prometheus.url, key_fingerprint="k2"
    )
    diff = provider.diff(id_, outs, new)
    assert diff.changes and not diff.replaces
    assert set(provider.changes(outs, new)) == {"body.properties.prometheus.uri", "key_fingerprint"}
    outs = engine(provider.update(id_, outs, new).outs)
    assert cluster.call("GET", path).json()["properties"]["prometheus.uri"] == moved_uri
    assert_no_diff(provider, id_, outs, new)

    # out of band: edit, then delete
    edited = {"name": names.DATASOURCE, "connector": "prometheus", "properties": {"prometheus.uri": prometheus.url}}
    assert cluster.call("PUT", "_plugins/_query/_datasources", edited).status_code == 200
    assert provider.diff(id_, engine(provider.read(id_, outs).outs), new).changes
    cluster.call("DELETE", path)
    assert provider.read(id_, outs).id == ""
    provider.create(new)
    provider.delete(id_, outs)
    assert provider.fetch(ApiClient(cluster.url), names.DATASOURCE) is None


def test_datasource_waits_for_prometheus_within_the_bound(cluster):
    provider = osp.DatasourceProvider()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        body = boot.datasource_body(url)
        props = engine({**props_for(cluster, names.DATASOURCE, body, prometheus_url=url, key_fingerprint="k"), "timeout_s": 3.0})
        started = time.monotonic()
        with pytest.raises(ApiError) as err:
            provider.create(props)
    assert "Prometheus was not ready" in str(err.value) and url in str(err.value)
    # The bound is the behaviour under test; a generous multiple of it (nothing would ever answer).
    assert time.monotonic() - started <= 2 * 3.0


def test_delete_with_opensearch_gone_does_not_wedge_destroy(monkeypatch):
    monkeypatch.setattr(osp_base, "DELETE_UNREACHABLE_S", 2.0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens
        props = engine({"endpoint": url, "name": "clawker-common", "body": _component_body(), "timeout_s": 60.0})
        started = time.monotonic()
        osp.ComponentTemplateProvider().delete("clawker-common", props)
    # The bound (DELETE_UNREACHABLE_S) is the behaviour under test; a generous multiple of it,
    # far under the 60 s timeout_s it replaces.
    assert time.monotonic() - started <= 3 * 2.0


def test_delete_refused_by_opensearch_fails(cluster):
    # A component template still used by an index template cannot go: that answer is an error.
    component = props_for(cluster, "clawker-test-common", _component_body())
    create(osp.ComponentTemplateProvider(), component)
    body = _index_template_body()
    body["composed_of"] = ["clawker-test-common"]
    create(osp.IndexTemplateProvider(), props_for(cluster, "clawker-test-cli", body))
    with pytest.raises(ApiError) as err:
        osp.ComponentTemplateProvider().delete("clawker-test-common", component)
    assert err.value.status == 400 and "clawker-test-cli" in str(err.value)


def test_datasource_waits_for_a_ready_prometheus(prometheus):
    # Runs without the SQL plugin: the readiness gate returns once a real Prometheus says /-/ready.
    osp.DatasourceProvider()._wait_for_prometheus({"prometheus_url": prometheus.url, "timeout_s": 10.0})
    # Negative control: where nothing answers, the gate fails naming Prometheus instead of passing.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
        with pytest.raises(ApiError, match="Prometheus was not ready"):
            osp.DatasourceProvider()._wait_for_prometheus({"prometheus_url": nowhere, "timeout_s": 1.0})


class _RecordingWrites(ApiClient):
    writes: list = []

    def request(self, method, path, **kwargs):
        if method not in ("GET", "HEAD"):
            _RecordingWrites.writes.append(f"{method} {path}")
        return super().request(method, path, **kwargs)


def test_second_bootstrap_of_the_plugin_free_assets_changes_nothing(cluster, monkeypatch):
    """The same check as the full one above, for what needs no plugin (runs on every distribution)."""

    def items():
        out = []
        for provider, props in bootstrap_props(cluster, "http://127.0.0.1:9", "http://127.0.0.1:9"):
            if isinstance(provider, (osp.IsmPolicyProvider, osp.DatasourceProvider)):
                continue
            if isinstance(provider, osp.IndexProvider):
                props = engine({**osp.plain(props), "policy_id": None})
            out.append((provider, props))
        return out

    states = [(provider, props, create(provider, props)) for provider, props in items()]
    for index in names.LOG_INDICES:
        _write(cluster, index)
    every = names.LOG_INDICES + tuple(today(i) for i in names.LOG_INDICES)

    def snapshot():
        return {
            "indices": {i: _uuid(cluster, i) for i in every},
            "mappings": {i: _live_mapping(cluster, i) for i in every},
            "templates": cluster.call("GET", "_index_template").json(),
            "components": cluster.call("GET", "_component_template").json(),
            "pipelines": cluster.call("GET", "_ingest/pipeline").json(),
        }

    before = snapshot()
    for provider, props, (id_, outs) in states:
        refreshed = provider.read(id_, outs)
        assert refreshed.id == id_
        assert_no_diff(provider, id_, engine(refreshed.outs), props)
    monkeypatch.setattr(osp_base, "ApiClient", _RecordingWrites)
    _RecordingWrites.writes = []
    for provider, props in items():
        create(provider, props)  # fresh state over the kept cluster: adopted as is
    assert _RecordingWrites.writes == []  # not one write: every asset was found as declared
    assert snapshot() == before
    assert all(_count(cluster, i) == 1 for i in names.LOG_INDICES)


# ------------------------------------------------ moving from `clawker monitor`


@pytest.mark.needs_ism
@pytest.mark.needs_sql
@pytest.mark.parametrize("releases", [("a5aed90f",), ("896bf908",), ("a5aed90f", "896bf908")], ids="+".join)
def test_bootstrap_over_what_clawker_monitor_left_converges(cluster, prometheus, capsys, releases):
    """A cluster seeded with the reference bootstrap's asset names and shapes (reference_clawker.py)
    of either release, or of both (Clawker upgraded in place before the move)."""
    import reference_clawker as ref

    cluster.require(ISM)
    cluster.require(SQL)
    for release in releases:
        ref.seed(cluster.call, prometheus_uri=prometheus.url, release=release)
    seeded = list(dict.fromkeys(i for release in releases for i in ref.log_indices(release)))
    for index in seeded:
        assert _wait_explain(cluster, index, ref.POLICY) == ref.POLICY  # the seed really is managed by it
    uuids = {i: _uuid(cluster, i) for i in seeded}
    # Each stream's seeded indices: its own name, and 896bf908's name for it (clawkercp).
    sources = {index: [i for i in seeded if i == index or i in boot.DEFAULT.former_indices(index)] for index in names.LOG_INDICES}

    capsys.readouterr()
    states = [(p, props, create(p, props)) for p, props in bootstrap_props(cluster, prometheus.url, prometheus.url)]
    said = capsys.readouterr().err

    # Its policy would delete the write names whole: it is gone, and said.
    assert cluster.call("GET", f"_plugins/_ism/policies/{ref.POLICY}").status_code == 404
    assert f"replaced ISM policy {ref.POLICY}" in said, said
    assert _min_age(_live_policy(cluster)) == "8d"
    for index in names.LOG_INDICES:
        # The write name: made again (its record moved), empty, unmanaged, routing to the days.
        if index in uuids:
            assert _uuid(cluster, index) != uuids[index]
        for source in sources[index]:
            assert f"moved 1 document(s) of {source} into the daily indices {names.day_pattern(index)}" in said, said
            if source != index:  # 896bf908's name for the stream is gone, its record moved
                assert cluster.call("HEAD", source).status_code == 404, source
        explain = cluster.call("GET", f"_plugins/_ism/explain/{index}").json()
        assert explain[index]["index.plugins.index_state_management.policy_id"] is None, explain
        settings = cluster.call("GET", f"{index}/_settings").json()[index]["settings"]["index"]
        assert "final_pipeline" not in settings
        assert settings["default_pipeline"] == names.route_pipeline(index), (index, settings)
        assert cluster.call("GET", f"{index}/_count").json()["count"] == 0
        # clawker monitor's records (both service names' for the control plane), in the day of their own timestamp.
        day = names.day_index(index, "2026-11-01")
        hits = cluster.call("GET", f"{day}/_search").json()["hits"]["hits"]
        assert sorted(h["_source"]["resource"]["attributes"]["service.name"] for h in hits) == sorted(sources[index])
        assert {h["_source"]["body"] for h in hits} == {"recorded under clawker monitor"}
        assert _wait_explain(cluster, day, names.ISM_POLICY) == names.ISM_POLICY
        declared = osp.canonical_mappings(boot.index_mappings(index))
        for live in (index, day):
            assert project_onto(osp.canonical_mappings(_live_mapping(cluster, live)), declared) == declared
    assert cluster.call("GET", "_cat/indices/*-clawker-rebuild", params={"format": "json"}).json() == []
    policies = cluster.call("GET", "_plugins/_ism/policies").json()["policies"]
    assert [p["_id"] for p in policies] == [names.ISM_POLICY]
    ds = cluster.call("GET", f"_plugins/_query/_datasources/{names.DATASOURCE}").json()
    assert ds["properties"]["prometheus.uri"] == prometheus.url

    # Converged: refresh shows no drift, a second run writes nothing.
    for provider, props, (id_, outs) in states:
        refreshed = provider.read(id_, outs)
        assert_no_diff(provider, id_, engine(refreshed.outs), props)
    _RecordingWrites.writes = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(osp_base, "ApiClient", _RecordingWrites)
        for provider, props in bootstrap_props(cluster, prometheus.url, prometheus.url):
            create(provider, props)
    assert _RecordingWrites.writes == []


@pytest.mark.needs_ism
def test_a_foreign_policy_claiming_our_indices_is_named_and_left_alone(cluster):
    cluster.require(ISM)
    mine = boot.retention_policy_body(30)
    mine["policy"]["ism_template"][0]["index_patterns"] = ["clawker-*"]
    assert cluster.call("PUT", "_plugins/_ism/policies/users-own", mine).status_code == 201
    provider = osp.IsmPolicyProvider()
    with pytest.raises(ApiError) as err:
        provider.create(_policy_props(cluster, 7))
    message = str(err.value)
    assert "users-own" in message and "priority 100" in message and "DELETE _plugins/_ism/policies" in message
    assert cluster.call("GET", "_plugins/_ism/policies/users-own").status_code == 200
    assert cluster.call("GET", f"_plugins/_ism/policies/{names.ISM_POLICY}").status_code == 404


def _wait_explain(node, index: str, want: str, timeout_s: float = 15):
    deadline = time.monotonic() + timeout_s
    while True:
        got = node.call("GET", f"_plugins/_ism/explain/{index}").json()[index]["index.plugins.index_state_management.policy_id"]
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)
