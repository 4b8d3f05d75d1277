"""The resource graph the program registers, checked against Pulumi's mock engine."""

import pytest

from components import names
from components.services import collector_config
from stack_harness import EXISTING_NETWORK_ID, GENERATED_KEY, NETWORK_LOOKUP, deploy

CONTAINERS = (names.COLLECTOR, names.PROMETHEUS, names.OPENSEARCH, names.DASHBOARDS)


@pytest.fixture(scope="module")
def default():
    return deploy()


def env_of(registration) -> dict:
    envs = registration.inputs["envs"]
    if isinstance(envs, dict) and "value" in envs:  # a secret-wrapped list
        envs = envs["value"]
    return dict(item.split("=", 1) for item in envs)


def published_ports(registration) -> list[dict]:
    return registration.inputs.get("ports", [])


def test_every_service_container_exists_with_its_dns_name(default):
    for name in CONTAINERS:
        c = default.container(name)
        assert c.inputs["name"] == name
        assert c.inputs["networksAdvanced"] == [{"name": names.NETWORK, "aliases": [name]}]


def test_every_published_port_binds_loopback_only(default):
    seen = []
    for name in CONTAINERS:
        for port in published_ports(default.container(name)):
            assert port["ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            assert port["internal"] == port["external"]
            seen.append(int(port["external"]))
    assert sorted(seen) == sorted([4317, 4318, 9200, 5601, 9090])


def test_ports_follow_their_settings_on_both_sides_and_in_the_listeners():
    d = deploy(
        {
            "otlpHttpPort": 14318,
            "otlpGrpcPort": 14327,
            "opensearchPort": 19200,
            "dashboardsPort": 15601,
            "prometheusPort": 19090,
            "collectorMetricsPort": 18889,
        }
    )

    def ports(name):
        return sorted(int(p["external"]) for p in published_ports(d.container(name)))

    assert ports(names.COLLECTOR) == [14318, 14327]
    assert ports(names.OPENSEARCH) == [19200]
    assert ports(names.DASHBOARDS) == [15601]
    assert ports(names.PROMETHEUS) == [19090]
    assert env_of(d.container(names.OPENSEARCH))["http.port"] == "19200"
    assert env_of(d.container(names.DASHBOARDS))["SERVER_PORT"] == "15601"
    assert env_of(d.container(names.DASHBOARDS))["OPENSEARCH_HOSTS"] == '["http://opensearch-node:19200"]'
    assert "--web.listen-address=:19090" in d.container(names.PROMETHEUS).inputs["command"]
    assert "19200" in d.container(names.OPENSEARCH).inputs["healthcheck"]["tests"][-1]
    config = collector_config.render(d.outputs["settings"])
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":14318")
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":14327")
    assert config["exporters"]["prometheus"]["endpoint"].endswith(":18889")
    assert config["exporters"]["opensearch/claude-code"]["http"]["endpoint"] == "http://opensearch-node:19200"


def test_labels_logging_and_restart_are_uniform(default):
    for name in CONTAINERS:
        c = default.container(name)
        assert {(l["label"], l["value"]) for l in c.inputs["labels"]} == set(names.LABELS.items())
        assert c.inputs["logDriver"] == "json-file"
        assert c.inputs["logOpts"] == {"max-size": "10m", "max-file": "3"}
        assert c.inputs["restart"] == "unless-stopped"
    for volume in (names.OPENSEARCH_VOLUME, names.PROMETHEUS_VOLUME, names.COLLECTOR_QUEUE_VOLUME):
        v = default.by_name(volume, "volume:Volume")
        assert {(l["label"], l["value"]) for l in v.inputs["labels"]} == set(names.LABELS.items())


def test_opensearch_container(default):
    c = default.container(names.OPENSEARCH)
    env = env_of(c)
    assert env["cluster.name"] == "clawker-observability"
    assert env["node.name"] == "opensearch-node"
    assert env["discovery.type"] == "single-node"
    assert env["bootstrap.memory_lock"] == "true"
    assert env["DISABLE_SECURITY_PLUGIN"] == "true"
    assert env["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
    assert env["OPENSEARCH_JAVA_OPTS"] == "-Xms512m -Xmx512m"
    assert env["plugins.query.datasources.encryption.masterkey"] == GENERATED_KEY
    ulimits = {u["name"]: (int(u["soft"]), int(u["hard"])) for u in c.inputs["ulimits"]}
    assert ulimits == {"memlock": (-1, -1), "nofile": (65536, 65536)}
    assert c.inputs["volumes"] == [{"volumeName": names.OPENSEARCH_VOLUME, "containerPath": "/usr/share/opensearch/data"}]
    hc = c.inputs["healthcheck"]
    assert hc["tests"] == ["CMD", "curl", "-fsS", "http://localhost:9200/_cluster/health?wait_for_status=yellow&timeout=5s"]
    assert (hc["interval"], hc["timeout"], int(hc["retries"]), hc["startPeriod"]) == ("10s", "5s", 10, "1m0s")
    # Pulumi does not wait for Docker's verdict (one 10 s interval late); the readiness
    # resource asks the healthcheck's own question from the host instead.
    assert not c.inputs.get("wait")
    ready = default.by_name(f"{names.OPENSEARCH}-ready")
    assert ready.type == "pulumi-python:dynamic/clawker:ServiceReady"
    assert ready.inputs["url"] == "http://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=5s"
    assert hc["tests"][-1].endswith(ready.inputs["url"].split(":9200", 1)[1])
    assert ready.inputs["timeout_s"] >= 300
    # A replaced container (new id) is waited for again.
    assert c.urn in ready.dependencies


def test_opensearch_limits_can_be_left_to_the_daemon():
    c = deploy({"opensearchRaiseLimits": False}).container(names.OPENSEARCH)
    assert not c.inputs.get("ulimits")
    assert env_of(c)["bootstrap.memory_lock"] == "false"


def test_opensearch_heap_setting():
    c = deploy({"opensearchHeapMb": 1024}).container(names.OPENSEARCH)
    assert env_of(c)["OPENSEARCH_JAVA_OPTS"] == "-Xms1024m -Xmx1024m"


def test_master_key_is_a_generated_secret_unless_set(default):
    key = default.by_name("datasource-master-key")
    assert "value" in key.additional_secret_outputs
    given = deploy({"datasourceMasterKey": "k" * 32})
    assert env_of(given.container(names.OPENSEARCH))["plugins.query.datasources.encryption.masterkey"] == "k" * 32
    assert not given.of_type("dynamic:Resource") or all(
        r.name != "datasource-master-key" for r in given.registrations
    )


def test_prometheus_container(default):
    c = default.container(names.PROMETHEUS)
    assert c.inputs["command"] == [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--web.listen-address=:9090",
        "--web.enable-remote-write-receiver",
        "--web.enable-otlp-receiver",
        "--web.console.templates=/etc/prometheus/consoles",
        "--web.console.libraries=/etc/prometheus/console_libraries",
        "--storage.tsdb.path=/prometheus",
        "--web.route-prefix=/",
        "--enable-feature=exemplar-storage,otlp-deltatocumulative",
    ]
    assert int(c.inputs["memory"]) == 300 == int(c.inputs["memorySwap"])
    assert c.inputs["volumes"] == [{"volumeName": names.PROMETHEUS_VOLUME, "containerPath": "/prometheus"}]
    assert [u["file"] for u in c.inputs["uploads"]] == [
        "/etc/prometheus/prometheus.yml",
        "/etc/prometheus/rules/clawker-alerts.yml",
    ]


def test_dashboards_container(default):
    c = default.container(names.DASHBOARDS)
    assert c.inputs["command"] == [
        "opensearch-dashboards",
        "--explore.enabled=true",
        "--explore.discoverMetrics.enabled=true",
    ]
    env = env_of(c)
    assert env == {
        "OPENSEARCH_HOSTS": '["http://opensearch-node:9200"]',
        "DISABLE_SECURITY_DASHBOARDS_PLUGIN": "true",
        "SERVER_PORT": "5601",
        "DATA_SOURCE_ENABLED": "true",
        "WORKSPACE_ENABLED": "true",
    }


def test_collector_container(default):
    c = default.container(names.COLLECTOR)
    assert c.inputs["command"] == ["--config=/etc/otel-collector-config.yaml"]
    assert int(c.inputs["memory"]) == 200 == int(c.inputs["memorySwap"])
    assert c.inputs["hosts"] == [{"host": "host.docker.internal", "ip": "host-gateway"}]
    (upload,) = c.inputs["uploads"]
    assert upload["file"] == "/etc/otel-collector-config.yaml"
    assert "routing/untrusted" in upload["content"]
    # Without TLS material the trusted lane is left out entirely.
    assert "otlp/infra" not in upload["content"]
    # The persistent sending queues live on their own named volume.
    assert c.inputs["volumes"] == [{"volumeName": names.COLLECTOR_QUEUE_VOLUME, "containerPath": collector_config.QUEUE_DIR}]


def test_queue_volume_is_handed_to_the_collector_user_before_it_starts(default):
    init = default.container(names.COLLECTOR_QUEUE_INIT)
    assert init.inputs["volumes"] == [{"volumeName": names.COLLECTOR_QUEUE_VOLUME, "containerPath": collector_config.QUEUE_DIR}]
    assert init.inputs["user"] == "0:0"
    script = init.inputs["entrypoints"][-1]
    assert f"chown 10001:10001 {collector_config.QUEUE_DIR}" in script
    # Runs once to completion; its exit is success, not a container to restart.
    assert init.inputs["attach"] is True and init.inputs["mustRun"] is False
    assert init.inputs["restart"] == "no" and init.inputs["networkMode"] == "none"
    assert {(l["label"], l["value"]) for l in init.inputs["labels"]} == set(names.LABELS.items())
    # A shell and chown come from the Prometheus image (the collector image has neither).
    assert default.by_name(f"{names.COLLECTOR_QUEUE_INIT}-image").inputs["name"] == default.by_name(
        f"{names.PROMETHEUS}-image"
    ).inputs["name"]
    assert default.depends_on(names.COLLECTOR, names.COLLECTOR_QUEUE_INIT)


def test_images_are_pinned_and_overridable(default):
    images = {r.name: r.inputs["name"] for r in default.of_type("remoteImage:RemoteImage")}
    for ref in images.values():
        assert "@sha256:" in ref
    assert images[f"{names.OPENSEARCH}-image"].startswith("opensearchproject/opensearch:3.6.0@")
    d = deploy({"prometheusImage": "registry.local/prom:3"})
    assert d.by_name(f"{names.PROMETHEUS}-image").inputs["name"] == "registry.local/prom:3"
    for r in default.of_type("remoteImage:RemoteImage"):
        assert r.inputs["keepLocally"] is True


def test_network_is_created_when_missing_and_never_removed(default):
    net = default.by_name(names.NETWORK, "network:Network")
    assert net.retain_on_delete
    assert net.import_id == ""


def test_existing_network_is_adopted():
    net = deploy(network_exists=True).by_name(names.NETWORK, "network:Network")
    assert net.import_id == EXISTING_NETWORK_ID
    assert net.retain_on_delete


def test_volumes_are_kept_on_destroy_unless_purge_is_on(default):
    for volume in (names.OPENSEARCH_VOLUME, names.PROMETHEUS_VOLUME, names.COLLECTOR_QUEUE_VOLUME):
        assert default.by_name(volume, "volume:Volume").retain_on_delete
    purged = deploy({"purgeVolumesOnDestroy": True})
    for volume in (names.OPENSEARCH_VOLUME, names.PROMETHEUS_VOLUME, names.COLLECTOR_QUEUE_VOLUME):
        assert not purged.by_name(volume, "volume:Volume").retain_on_delete


DASHBOARDS_ASSETS = ("dashboards-data-connection", "dashboards-workspace", "dashboards-saved-objects")


def test_dashboards_assets_are_kept_on_destroy_unless_purge_is_on(default):
    # Dashboards deletes a workspace's saved objects (users' included) with the workspace:
    # without purge, destroy must not reach Dashboards at all.
    purged = deploy({"purgeVolumesOnDestroy": True})
    for d, keep in ((default, True), (purged, False)):
        assets = [d.by_name(n) for n in DASHBOARDS_ASSETS]
        assets += [r for r in d.registrations if r.name.startswith("dashboards-explore-")]
        assert len(assets) > len(DASHBOARDS_ASSETS)
        for r in assets:
            assert r.retain_on_delete is keep, f"{r.name}: retain_on_delete={r.retain_on_delete}"


def test_order_of_the_graph(default):
    # Dashboards starts once OpenSearch's container runs (it waits for OpenSearch itself);
    # the bootstrap waits for a healthy OpenSearch.
    assert default.depends_on(names.DASHBOARDS, names.OPENSEARCH)
    assert default.depends_on("bootstrap", f"{names.OPENSEARCH}-ready")
    ready = default.urn_of(f"{names.OPENSEARCH}-ready")
    # Pipelines and templates side by side; no index before both.
    by_type = lambda t: [r for r in default.registrations if r.type.endswith(t)]  # noqa: E731
    pipelines = by_type("OpenSearchIngestPipeline")
    for template in by_type("OpenSearchComponentTemplate") + by_type("OpenSearchIndexTemplate"):
        assert not any(default.depends_on(template.urn, p.urn) for p in pipelines), template.name
    for index in by_type("OpenSearchIndex"):
        for dep in pipelines + by_type("OpenSearchIndexTemplate"):
            assert default.depends_on(index.urn, dep.urn), f"{index.name} does not wait for {dep.name}"
    for r in default.registrations:
        if r.type.startswith("pulumi-python:dynamic/clawker:OpenSearch"):
            assert default.depends_on(r.urn, ready), f"{r.name} does not wait for a healthy OpenSearch"
    # The collector waits for Prometheus and for every bootstrap step (SPEC "Order" 4).
    assert default.depends_on(names.COLLECTOR, names.PROMETHEUS)
    bootstrap = default.urn_of("bootstrap")
    steps = [
        r
        for r in default.registrations
        if r.type.startswith("pulumi-python:dynamic") and bootstrap in default.ancestors_and_self(r.parent)
    ]
    assert steps, "the bootstrap declares no steps"
    assert any(r.name.startswith("dashboards-") for r in steps) and any("datasource" in r.name for r in steps)
    for step in steps:
        assert default.depends_on(names.COLLECTOR, step.urn), f"collector does not wait for {step.name}"
    assert default.depends_on(names.COLLECTOR, names.OPENSEARCH)
    # OpenSearch and Prometheus start in parallel.
    assert not default.depends_on(names.OPENSEARCH, names.PROMETHEUS)
    assert not default.depends_on(names.PROMETHEUS, names.OPENSEARCH)
    # Nothing waits on the collector.
    for name in (names.OPENSEARCH, names.PROMETHEUS, names.DASHBOARDS, "bootstrap"):
        assert not default.depends_on(name, names.COLLECTOR)


# How long the lookup waits here: the real docker provider starts before it answers (0.05-0.1 s).
LOOKUP_DELAY_S = 0.3


def test_a_dynamic_resource_reaches_the_engine_while_the_network_lookup_waits():
    # The lookup of clawker-net blocks the program until the docker provider answers. A dynamic
    # resource registered meanwhile lets the engine start the dynamic-provider process at the
    # same time, not after it (README "Benchmarks": about 0.1 s of every no-op preview and up).
    during = deploy(invoke_delay_s=LOOKUP_DELAY_S).registered_during(NETWORK_LOOKUP)
    assert "pulumi-python:dynamic/clawker:GeneratedSecret" in during, during


def test_one_component_per_service_and_one_for_the_bootstrap(default):
    components = {r.type for r in default.registrations if r.type.startswith("clawker:monitor:")}
    assert components == {
        "clawker:monitor:OpenSearch",
        "clawker:monitor:Prometheus",
        "clawker:monitor:Dashboards",
        "clawker:monitor:Collector",
        "clawker:monitor:Bootstrap",
    }
    for name, component in (
        (names.OPENSEARCH, "OpenSearch"),
        (names.PROMETHEUS, "Prometheus"),
        (names.DASHBOARDS, "Dashboards"),
        (names.COLLECTOR, "Collector"),
    ):
        (owner,) = default.of_type(f"clawker:monitor:{component}")
        assert default.container(name).parent == owner.urn


def test_agent_outputs(default):
    env = default.outputs["agentEnv"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    for key in ("OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_TRACES_EXPORTER"):
        assert env[key] == "otlp"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert env["CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"] == "1"
    assert env["OTEL_RESOURCE_ATTRIBUTES"].startswith("project=") and ",agent=" in env["OTEL_RESOURCE_ATTRIBUTES"]
    assert env["OTEL_LOG_TOOL_DETAILS"] == "1"
    assert env["OTEL_LOG_USER_PROMPTS"] == "1"
    assert env["OTEL_METRIC_EXPORT_INTERVAL"] == "10000"
    assert env["OTEL_LOGS_EXPORT_INTERVAL"] == "5000"
    quiet = deploy({"logUserPrompts": False, "hostName": "monitor.lan", "otlpHttpPort": 14318}).outputs
    assert quiet["agentEnv"]["OTEL_LOG_USER_PROMPTS"] == "0"
    assert quiet["urls"]["otlpHttp"] == "http://monitor.lan:14318"


def bootstrap_steps(deployment, type_suffix):
    return [r for r in deployment.registrations if r.type.endswith(type_suffix)]


def test_bootstrap_opensearch_order(default):
    policies = {p.inputs["name"]: p for p in bootstrap_steps(default, "clawker:OpenSearchIsmPolicy")}
    assert sorted(policies) == sorted([names.ISM_POLICY, names.TRACES_ISM_POLICY])
    policy = policies[names.ISM_POLICY]
    (datasource,) = bootstrap_steps(default, "clawker:OpenSearchDatasource")
    indices = bootstrap_steps(default, "clawker:OpenSearchIndex")
    assert sorted(i.inputs["name"] for i in indices) == sorted(names.LOG_INDICES + (names.TRACES_INDEX,))
    for index in indices:
        # Logs and spans each have their policy (logRetentionDays, traceRetentionDays).
        own = names.TRACES_ISM_POLICY if index.inputs["name"] == names.TRACES_INDEX else names.ISM_POLICY
        assert index.inputs.get("policy_id") == own
        assert default.depends_on(index.urn, policies[own].urn), "an index was created before its ISM policy"
        for template in bootstrap_steps(default, "clawker:OpenSearchIndexTemplate"):
            assert default.depends_on(index.urn, template.urn)
    assert default.depends_on(datasource.urn, names.PROMETHEUS)
    assert default.depends_on(policy.urn, names.OPENSEARCH)
    # Nothing waits on what it does not need: every extra link is one more step on the
    # critical path of a cold up and of a no-op preview (issue 11).
    for template in bootstrap_steps(default, "clawker:OpenSearchIndexTemplate"):
        assert not default.depends_on(policy.urn, template.urn), "the ISM policy waits for a template"
    for index in indices:
        assert not default.depends_on(datasource.urn, index.urn), "the datasource waits for an index"
    # The Dashboards side does not wait for the OpenSearch side (Dashboards never looks the
    # datasource up when the data connection is written); the collector waits for both.
    for step in bootstrap_steps(default, "clawker:DashboardsDataConnection"):
        for asset in [datasource, policy, *indices]:
            assert not default.depends_on(step.urn, asset.urn), f"the data connection waits for {asset.name}"
        assert default.depends_on(names.COLLECTOR, step.urn)
    assert default.depends_on(names.COLLECTOR, datasource.urn)


def test_retention_zero_keeps_logs_forever_without_a_policy():
    d = deploy({"logRetentionDays": 0})
    assert [p.inputs["name"] for p in bootstrap_steps(d, "clawker:OpenSearchIsmPolicy")] == [names.TRACES_ISM_POLICY]
    for index in bootstrap_steps(d, "clawker:OpenSearchIndex"):
        assert index.inputs.get("policy_id") == (names.TRACES_ISM_POLICY if index.inputs["name"] == names.TRACES_INDEX else None)
    d = deploy({"logRetentionDays": 0, "traceRetentionDays": 0})
    assert bootstrap_steps(d, "clawker:OpenSearchIsmPolicy") == []
    for index in bootstrap_steps(d, "clawker:OpenSearchIndex"):
        assert index.inputs.get("policy_id") is None


def test_retention_policies_delete_whole_days_one_day_after_the_retention():
    d = deploy({"logRetentionDays": 7, "traceRetentionDays": 3})
    bodies = {p.inputs["name"]: p.documents["body"]["policy"] for p in bootstrap_steps(d, "clawker:OpenSearchIsmPolicy")}
    for name, days, claimed in (
        (names.ISM_POLICY, 8, [names.day_pattern(i) for i in names.LOG_INDICES]),
        (names.TRACES_ISM_POLICY, 4, [names.day_pattern(names.TRACES_INDEX)]),
    ):
        policy = bodies[name]
        hot = next(s for s in policy["states"] if s["name"] == policy["default_state"])
        assert hot["transitions"][0]["conditions"]["min_index_age"] == f"{days}d"
        # The daily indices only: the write names stay empty and are never deleted.
        assert policy["ism_template"][0]["index_patterns"] == claimed


def test_datasource_can_be_left_out():
    d = deploy({"prometheusDatasource": False})
    assert bootstrap_steps(d, "clawker:OpenSearchDatasource") == []
