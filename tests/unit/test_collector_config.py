"""The rendered collector config: consistent, lane-safe, and driven by the settings."""

import re

import pytest
import yaml

from components import names
from components.services import collector_config
from components.services import config_file
from components.settings import SCHEMA, validate
from components.settings_docs import ROOT

DEFAULT_RETRY_HOURS = SCHEMA["properties"]["deliveryRetryHours"]["default"]
TLS = {"infraTlsCertFile": "/tls/server.crt", "infraTlsKeyFile": "/tls/server.key", "infraTlsCaFile": "/tls/ca.crt"}


def render(**overrides):
    config = collector_config.render(validate(overrides))
    # What the container reads is the YAML dump: round-trip it.
    return yaml.safe_load(config_file.to_yaml(config))


@pytest.fixture(params=[False, True], ids=["untrusted-only", "with-trusted-lane"])
def config(request):
    return render(**TLS) if request.param else render()


def component_ids(config, kind):
    return set(config.get(kind, {}))


def test_every_pipeline_names_defined_components(config):
    receivers = component_ids(config, "receivers") | component_ids(config, "connectors")
    processors = component_ids(config, "processors")
    exporters = component_ids(config, "exporters") | component_ids(config, "connectors")
    pipelines = config["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        assert set(pipeline["receivers"]) <= receivers, name
        assert set(pipeline.get("processors", [])) <= processors, name
        assert set(pipeline["exporters"]) <= exporters, name
    used = set()
    for pipeline in pipelines.values():
        used |= set(pipeline["receivers"]) | set(pipeline.get("processors", [])) | set(pipeline["exporters"])
    # Nothing defined and left unused (the collector would warn, and it hides mistakes).
    assert (receivers | processors | exporters) - used == set()


def test_connectors_are_both_exporter_and_receiver(config):
    pipelines = config["service"]["pipelines"].values()
    for connector in component_ids(config, "connectors"):
        assert any(connector in p["exporters"] for p in pipelines), connector
        assert any(connector in p["receivers"] for p in pipelines), connector


def test_routing_targets_exist(config):
    pipelines = config["service"]["pipelines"]
    for connector in ("routing/untrusted", "routing/trusted"):
        if connector not in config["connectors"]:
            continue
        table = config["connectors"][connector]
        for route in table["table"]:
            for target in route["pipelines"]:
                assert connector in pipelines[target]["receivers"]
        for target in table["default_pipelines"]:
            assert pipelines[target]["exporters"] == ["debug"]


def test_unrouted_records_are_logged_with_their_service_name_and_nothing_else():
    config = render(**TLS)
    # verbosity normal prints each resource's attributes (service.name) and one line per record.
    assert config["exporters"]["debug"]["verbosity"] == "normal"
    for lane in ("untrusted", "trusted"):
        steps = config["service"]["pipelines"][f"logs/{lane}-unrouted"]["processors"]
        assert steps == ["memory_limiter", f"transform/unrouted-{lane}"]
        (group,) = config["processors"][f"transform/unrouted-{lane}"]["log_statements"]
        joined = "\n".join(group["statements"])
        assert f"no {lane}-lane route for this service.name" in joined
        # What the sender wrote in the record never reaches the collector's log.
        assert 'delete_matching_keys(log.attributes, ".*")' in joined and "set(log.body," in joined


def test_memory_limiter_is_first_everywhere(config):
    for name, pipeline in config["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
    limiter = config["processors"]["memory_limiter"]
    assert (limiter["limit_mib"], limiter["spike_limit_mib"]) == (150, 30)
    assert config["processors"]["batch"] == {"timeout": "5s", "send_batch_size": 1024, "send_batch_max_size": 2048}


def test_batch_processor_is_for_metrics_only(config):
    # A batch processor answers the sender before the record is on disk.
    for name, pipeline in config["service"]["pipelines"].items():
        if not name.startswith("metrics"):
            assert "batch" not in pipeline.get("processors", []), name


def stored_by(config, pipeline_name):
    """The opensearch exporter a routed pipeline reaches through its failover connector."""
    pipelines = config["service"]["pipelines"]
    (failover,) = pipelines[pipeline_name]["exporters"]
    assert failover.startswith("failover/"), pipeline_name
    (level,) = config["connectors"][failover]["priority_levels"]
    (store,) = level
    assert pipelines[store]["receivers"] == [failover]
    (exporter,) = pipelines[store]["exporters"]
    return exporter


def routed_services(config, connector):
    services = {}
    for route in config["connectors"][connector]["table"]:
        (service,) = re.findall(r'attributes\["service.name"\] == "([^"]+)"', route["condition"])
        (target,) = route["pipelines"]
        services[service] = config["exporters"][stored_by(config, target)]["logs_index"]
    return services


def test_untrusted_lane_routes_only_claude_code_and_clawker_cli(config):
    assert routed_services(config, "routing/untrusted") == {
        "claude-code": "claude-code",
        "claude-code-desktop": "claude-code",
        "clawker-cli": "clawker-cli",
    }
    # The otlp receiver's logs reach only the untrusted lane's durable exporter (stamped first),
    # whose loopback receiver feeds only the untrusted router.
    pipelines = config["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        if name.startswith("logs") and "otlp" in pipeline["receivers"]:
            assert pipeline["exporters"] == ["otlp_grpc/untrusted"]
            assert "resource/untrusted" in pipeline["processors"]
    for name, pipeline in pipelines.items():
        if name.startswith("logs") and "otlp/loop-untrusted" in pipeline["receivers"]:
            assert pipeline["exporters"] == ["routing/untrusted"]


def test_untrusted_records_are_stamped_and_cannot_forge_the_stamp(config):
    stamp = config["processors"]["resource/untrusted"]["attributes"]
    assert stamp == [{"key": "ingest_source", "value": "untrusted_otlp", "action": "upsert"}]


def test_trusted_indices_are_unreachable_from_the_untrusted_lane(config):
    trusted_indices = set(names.TRUSTED_LOG_INDICES.values())
    pipelines = config["service"]["pipelines"]
    # A durable exporter reaches the loopback receiver it points at.
    loop_of = {
        name: next(
            r for r, body in config["receivers"].items()
            if r.startswith("otlp/loop-") and body["protocols"]["grpc"]["endpoint"] == exporter["endpoint"]
        )
        for name, exporter in config["exporters"].items()
        if name.startswith("otlp_grpc/")
    }
    reachable = {"otlp"}
    changed = True
    while changed:  # follow receivers -> exporters/connectors (and the loopback hop) transitively
        changed = False
        for pipeline in pipelines.values():
            if reachable & set(pipeline["receivers"]):
                new = set(pipeline["exporters"]) | {loop_of[e] for e in pipeline["exporters"] if e in loop_of}
                new -= reachable
                if new:
                    reachable |= new
                    changed = True
    assert "otlp/loop-untrusted" in reachable and "otlp/loop-trusted" not in reachable
    for exporter in reachable:
        if exporter.startswith("opensearch/") and "logs_index" in config["exporters"][exporter]:
            assert config["exporters"][exporter]["logs_index"] not in trusted_indices


def test_trusted_lane_needs_client_certificates():
    config = render(**TLS)
    grpc = config["receivers"]["otlp/infra"]["protocols"]["grpc"]
    assert set(config["receivers"]["otlp/infra"]["protocols"]) == {"grpc"}
    assert grpc["endpoint"].endswith(":4319")
    assert grpc["tls"]["client_ca_file"] == collector_config.INFRA_TLS_FILES["infraTlsCaFile"]
    assert grpc["tls"]["cert_file"] and grpc["tls"]["key_file"]
    assert routed_services(config, "routing/trusted") == {
        "clawker-cp": "clawker-cp",
        "clawkercp": "clawker-cp",
        "envoy": "clawker-envoy",
        "coredns": "clawker-coredns",
        "ebpf-egress": "clawker-ebpf-egress",
    }
    for service, source in names.TRUSTED_INGEST_SOURCE.items():
        index = names.TRUSTED_LOG_INDICES[service]
        steps = config["service"]["pipelines"][f"logs/{index}"]["processors"]
        assert f"resource/{source}" in steps
        assert config["service"]["pipelines"][f"logs/{index}"]["receivers"] == ["routing/trusted"]
        assert config["processors"][f"resource/{source}"]["attributes"][0]["value"] == source
    assert render(infraPort=4400, **TLS)["receivers"]["otlp/infra"]["protocols"]["grpc"]["endpoint"].endswith(":4400")


def test_trusted_lane_is_left_out_without_tls_material():
    config = render()
    assert "otlp/infra" not in config["receivers"]
    assert "routing/trusted" not in config["connectors"]
    assert "otlp/loop-trusted" not in config["receivers"] and "otlp_grpc/trusted" not in config["exporters"]
    assert not any(e.endswith(tuple(names.TRUSTED_LOG_INDICES.values())) for e in config["exporters"])


def test_envoy_records_are_shape_fixed():
    statements = render(**TLS)["processors"]["transform/envoy"]["log_statements"][0]["statements"]
    joined = "\n".join(statements)
    assert 'set(severity_text, "INFO") where severity_text == ""' in statements
    assert 'set(attributes["action"], "pre_route") where attributes["action"] == "-"' in statements
    # "-" is removed before the integer conversion of the same field.
    removal = statements.index('delete_key(attributes, "response_code") where attributes["response_code"] == "-"')
    conversion = statements.index('set(attributes["response_code"], Int(attributes["response_code"])) where attributes["response_code"] != nil')
    assert removal < conversion
    assert statements.index('set(attributes["action"], "pre_route") where attributes["action"] == "-"') < removal
    for field in collector_config.ENVOY_NUMERIC_ATTRIBUTES:
        assert f'Int(attributes["{field}"])' in joined
    steps = render(**TLS)["service"]["pipelines"]["logs/clawker-envoy"]["processors"]
    assert "transform/envoy" in steps


def test_metrics_pipelines(config):
    pipelines = config["service"]["pipelines"]
    untrusted = pipelines["metrics/untrusted"]
    trusted = pipelines["metrics/trusted"]
    assert untrusted["receivers"] == ["otlp"]
    assert set(trusted["receivers"]) == {"prometheus/self", "span_metrics"}
    for pipeline in (untrusted, trusted):
        steps = pipeline["processors"]
        assert steps.index("transform/metric-labels") < steps.index("deltatocumulative") < steps.index("batch")
        assert pipeline["exporters"] == ["prometheus"]
    statements = config["processors"]["transform/metric-labels"]["metric_statements"][0]["statements"]
    assert any('attributes["kind"], attributes["type"]' in s for s in statements)
    assert 'delete_key(attributes, "type")' in statements
    assert any('resource.attributes["project"]' in s for s in statements)
    assert any('resource.attributes["agent"]' in s for s in statements)
    expiration = config["exporters"]["prometheus"]["metric_expiration"]
    assert expiration not in ("0", "0s", 0)
    assert config["processors"]["deltatocumulative"]["max_stale"] == expiration


def test_traces_go_to_ss4o_and_spanmetrics(config):
    pipelines = config["service"]["pipelines"]
    traces = pipelines["traces"]
    # span_metrics counts at intake (a retried delivery must not count twice).
    assert set(traces["exporters"]) == {"otlp_grpc/untrusted", "span_metrics"}
    assert "resource/untrusted" in traces["processors"]
    assert stored_by(config, "traces/untrusted-loop") == "opensearch/traces"
    assert pipelines["traces/untrusted-loop"]["receivers"] == ["otlp/loop-untrusted"]
    exporter = config["exporters"]["opensearch/traces"]
    assert (exporter["dataset"], exporter["namespace"]) == ("traces", "clawker")
    assert "logs_index" not in exporter


# --------------------------------------------------------------------------- durable delivery


def test_queue_storage_is_fsynced_on_the_queue_volume(config):
    storage = config["extensions"][collector_config.QUEUE_STORAGE]
    assert storage["directory"] == collector_config.QUEUE_DIR == storage["compaction"]["directory"]
    assert storage["fsync"] is True
    assert "create_directory" not in storage  # the volume's root is the directory
    assert config["service"]["extensions"] == [collector_config.QUEUE_STORAGE]


def test_every_intake_ends_in_a_persistent_retried_queue(config):
    pipelines = config["service"]["pipelines"]
    intake = {name: p for name, p in pipelines.items() if {"otlp", "otlp/infra"} & set(p["receivers"])}
    log_and_span_intake = {n: p for n, p in intake.items() if not n.startswith("metrics")}
    assert set(log_and_span_intake) >= {"logs/untrusted", "traces"}
    for name, pipeline in log_and_span_intake.items():
        durable = [e for e in pipeline["exporters"] if e.startswith("otlp_grpc/")]
        assert len(durable) == 1, name
        # Only synchronous steps before the persistent queue.
        assert set(pipeline["processors"]) <= {"memory_limiter", collector_config.INTAKE_ID_PROCESSOR} | {
            p for p in config["processors"] if p.startswith("resource/")
        }, name
        assert not set(pipeline["exporters"]) - set(durable) - {"span_metrics"}, name
    for name, exporter in config["exporters"].items():
        if not name.startswith("otlp_grpc/"):
            continue
        queue = exporter["sending_queue"]
        assert queue["enabled"] is True and queue["storage"] == collector_config.QUEUE_STORAGE, name
        assert queue["block_on_overflow"] is False
        assert queue["batch"]["sizer"] == "items" and queue["sizer"] == "bytes"
        retry = exporter["retry_on_failure"]
        assert retry["enabled"] is True
        assert retry["max_elapsed_time"] == f"{DEFAULT_RETRY_HOURS}h", "the deliveryRetryHours default"
        assert exporter["endpoint"].startswith("127.0.0.1:")


def test_log_records_get_their_intake_id_before_the_persistent_queue():
    config = render(**TLS)
    pipelines = config["service"]["pipelines"]
    intake = {n: p for n, p in pipelines.items() if {"otlp", "otlp/infra"} & set(p["receivers"]) and n.startswith("logs/")}
    assert set(intake) == {"logs/untrusted", "logs/trusted"}
    for name, pipeline in intake.items():
        # Last before the durable exporter, after the lane's own stamp: on disk with the request.
        assert pipeline["processors"][-1] == collector_config.INTAKE_ID_PROCESSOR, name
    # Nowhere else: a step after the queue would give a replayed record a new id; spans carry their own.
    elsewhere = [n for n, p in pipelines.items() if n not in intake and collector_config.INTAKE_ID_PROCESSOR in p.get("processors", [])]
    assert elsewhere == []
    step = config["processors"][collector_config.INTAKE_ID_PROCESSOR]
    (group,) = step["log_statements"]
    # Unconditional `set`: whatever a sender put in the attribute is replaced.
    assert group == {"context": "log", "statements": [f'set(log.attributes["{collector_config.INTAKE_ID}"], UUID())']}
    assert step["error_mode"] == "ignore"


def test_retry_horizon_is_the_delivery_retry_hours_setting():
    """README's promise ("retried for `deliveryRetryHours` (default N hours)") and the config say the same."""
    assert DEFAULT_RETRY_HOURS >= 1, "SPEC: at least an hour of outage"
    for hours, config in ((DEFAULT_RETRY_HOURS, render(**TLS)), (2, render(deliveryRetryHours=2, **TLS))):
        durable = {n: e for n, e in config["exporters"].items() if n.startswith("otlp_grpc/")}
        assert set(durable) == {"otlp_grpc/untrusted", "otlp_grpc/trusted"}
        assert {e["retry_on_failure"]["max_elapsed_time"] for e in durable.values()} == {f"{hours}h"}
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"retried for `deliveryRetryHours` (default {DEFAULT_RETRY_HOURS} hours)" in readme


def test_loopback_receivers_listen_on_loopback_only_and_accept_big_batches(config):
    loops = {r: b for r, b in config["receivers"].items() if r.startswith("otlp/loop-")}
    assert loops
    for name, body in loops.items():
        assert set(body["protocols"]) == {"grpc"}, name
        grpc = body["protocols"]["grpc"]
        assert grpc["endpoint"].startswith("127.0.0.1:"), name
        assert grpc["max_recv_msg_size_mib"] >= 16
    published = {config["receivers"]["otlp"]["protocols"][p]["endpoint"].rsplit(":", 1)[1] for p in ("grpc", "http")}
    assert not published & {b["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1] for b in loops.values()}


def test_store_half_is_synchronous_to_opensearch(config):
    pipelines = config["service"]["pipelines"]
    for name, exporter in config["exporters"].items():
        if not name.startswith("opensearch/"):
            continue
        # The failure must reach the loopback call: no queue, no in-exporter retries.
        assert exporter["sending_queue"] == {"enabled": False}, name
        assert exporter["retry_on_failure"] == {"enabled": False}, name
        assert exporter["bulk_action"] == "index", name
        (store,) = [n for n, p in pipelines.items() if name in p["exporters"]]
        (failover,) = pipelines[store]["receivers"]
        connector = config["connectors"][failover]
        assert connector["sending_queue"] == {"enabled": False}
        assert connector["priority_levels"] == [[store]]
    for name, pipeline in pipelines.items():
        if {r for r in pipeline["receivers"] if r.startswith("otlp/loop-")} or name.endswith("-store"):
            assert set(pipeline.get("processors", [])) <= {"memory_limiter"} | {
                p for p in config["processors"] if p.startswith(("resource/", "transform/envoy"))
            }, name
