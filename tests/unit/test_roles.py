"""Roles (README "Running for a team"): settings each role takes, and the components each runs.

Settings are refused before anything is registered, naming the key and the fix; each role's
resource graph is checked against Pulumi's mock engine (the local role's graph is the rest of
this directory's business and must not change: test_stack_graph.py).
"""

import pytest
import yaml

from components import names, roles
from components.providers.opensearch.security import role_body, user_name
from components.services import collector_config, collector_machine
from components.settings import SettingsError, validate
from stack_harness import NETWORK_LOOKUP, deploy

CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
TEAM = {
    "role": "team",
    "clusterUrls": "https://node-1.example:9200,https://node-2.example:9200",
    "clusterCaCert": CA,
    "clusterAdminPassword": "admin-secret-1",
    "machines": "laptop-a,laptop-b",
}
MACHINE = {
    "role": "machine",
    "machineName": "laptop-a",
    "clusterUrls": "https://node-1.example:9200",
    "clusterCaCert": CA,
    "machinePassword": "machine-secret-1",
    "teamPrometheusUrl": "https://team.example:9090",
}
TEAM_OUTPUTS = {
    "clusterUrls": ["https://node-1.example:9200", "https://node-2.example:9200"],
    "clusterCaCert": CA,
    "prometheusRemoteWriteUrl": "https://team.example:9090/api/v1/write",
    "prometheusCaCert": CA,
    "machineCredentials": {"laptop-a": {"username": "clawker-machine-laptop-a", "password": "from-team-stack"}},
}


@pytest.mark.parametrize(
    "raw, key, fragment",
    [
        ({"role": "cloud"}, "role", "must be one of local, team, machine"),
        # a team stack without a cluster, or without the admin password
        ({"role": "team", "clusterAdminPassword": "x"}, "clusterUrls", "give its HTTPS URL(s)"),
        ({**TEAM, "clusterAdminPassword": ""}, "clusterAdminPassword", "needs the cluster's admin password"),
        ({**TEAM, "clusterUrls": "http://plain:9200"}, "clusterUrls", "is not allowed"),
        ({**TEAM, "clusterCaCert": "not a pem"}, "clusterCaCert", "is not allowed"),
        ({**TEAM, "machines": "a,b,a"}, "machines", "a listed more than once"),
        ({**TEAM, "machines": "Laptop_A"}, "machines", "is not allowed"),
        # nothing beyond 127.0.0.1 without TLS (authentication is always on)
        ({**TEAM, "prometheusBindAddress": "0.0.0.0"}, "prometheusBindAddress", "needs TLS"),
        ({**TEAM, "prometheusTlsCertFile": "/tls/p.crt"}, "prometheusTlsKeyFile", "needs both"),
        # a machine stack without its name, or without a team to ship to
        ({**MACHINE, "machineName": ""}, "machineName", "needs its name"),
        ({"role": "machine", "machineName": "m"}, "teamStack", "needs a team to ship to"),
        ({**MACHINE, "machinePassword": ""}, "machinePassword", "machinePassword missing"),
        ({"role": "machine", "machineName": "m", "teamStack": "org/clawker-monitor/team", "clusterUrls": "https://x:9200"},
         "clusterUrls", "teamStack (org/clawker-monitor/team) already gives it"),
        # settings of another role
        ({"machines": "a"}, "machines", "a setting of the team role, but this stack's role is local"),
        ({"clusterUrls": "https://x:9200"}, "clusterUrls", "a setting of the team and machine role"),
        ({**TEAM, "machineName": "m"}, "machineName", "a setting of the machine role, but this stack's role is team"),
        ({**MACHINE, "machines": "a"}, "machines", "a setting of the team role, but this stack's role is machine"),
        # settings of services the role does not run
        ({**TEAM, "opensearchHeapMb": 1024}, "opensearchHeapMb", "the OpenSearch node, which a team stack does not run"),
        ({**TEAM, "otlpHttpPort": 14318}, "otlpHttpPort", "the collector"),
        ({**MACHINE, "dashboardsPort": 15601}, "dashboardsPort", "which a machine stack does not run"),
        # The machine's own metrics endpoint cannot take the collector's self-telemetry port (it would not start).
        ({**MACHINE, "machineMetricsPort": 8888}, "machineMetricsPort", "port 8888 is the collector's own (its own telemetry"),
        ({**MACHINE, "budgetDailyUsd": 5}, "budgetDailyUsd", "which a machine stack does not run"),
        # the machine's own metrics endpoint: a machine stack's, on a port of its own
        ({"machineMetricsPort": 19464}, "machineMetricsPort", "a setting of the machine role, but this stack's role is local"),
        ({**TEAM, "machineMetricsPort": 19464}, "machineMetricsPort", "a setting of the machine role, but this stack's role is team"),
        ({**MACHINE, "machineMetricsPort": 4318}, "machineMetricsPort", "port 4318 is already used by clawker-monitor:otlpHttpPort"),
    ],
)
def test_role_settings_are_refused_naming_the_key_and_the_fix(raw, key, fragment):
    with pytest.raises(SettingsError) as error:
        validate(raw)
    message = str(error.value)
    assert f"clawker-monitor:{key}" in message, message
    assert fragment in message, message


def test_passwords_are_never_echoed_in_errors():
    with pytest.raises(SettingsError) as error:
        validate({**TEAM, "opensearchPort": 1, "machineName": "x"})
    assert TEAM["clusterAdminPassword"] not in str(error.value)


def test_each_role_accepts_its_own_settings_and_local_is_the_default():
    assert validate({}).role == "local"
    # machineMetricsPort's default is no local stack's concern: another service may use that port there.
    assert validate({"prometheusPort": 9464}).prometheus_port == 9464
    assert validate({**MACHINE, "machineMetricsPort": 19464}).machine_metrics_port == 19464
    team = validate(TEAM)
    assert team.cluster_url_list == ["https://node-1.example:9200", "https://node-2.example:9200"]
    assert team.machine_list == ["laptop-a", "laptop-b"]
    assert validate(MACHINE).machine_name == "laptop-a"
    assert validate({"role": "machine", "machineName": "m", "teamStack": "org/clawker-monitor/team"}).team_stack


def test_every_role_setting_belongs_to_a_role():
    from components.settings import SCHEMA

    for key in roles.TEAM_KEYS + roles.MACHINE_KEYS + roles.SHARED_KEYS:
        assert key in SCHEMA["properties"], key


def test_role_passwords_must_be_pulumi_secrets():
    from components import settings as stack_settings

    with pytest.raises(SettingsError) as error:
        stack_settings.plaintext_secrets(TEAM, lambda key: False)
    assert "clawker-monitor:clusterAdminPassword" in str(error.value)


# --- the resource graphs


def containers(d) -> list[str]:
    return sorted(r.inputs["name"] for r in d.of_type("container:Container"))


def plain_envs(registration) -> dict:
    envs = registration.inputs["envs"]
    if isinstance(envs, dict) and "value" in envs:
        envs = envs["value"]
    return dict(item.split("=", 1) for item in envs)


@pytest.fixture(scope="module")
def team():
    return deploy(TEAM)


def test_the_team_urls_output_names_where_dashboards_is_published():
    """Not `hostName` (the address machines reach the team Prometheus at): Dashboards is published on 127.0.0.1."""
    from components.stack import team_urls

    d = deploy({**TEAM, "hostName": "team.example", "dashboardsPort": 15601})
    (port,) = d.container(names.DASHBOARDS).inputs["ports"]
    assert team_urls(d.outputs["settings"]) == {"dashboards": f"http://{port['ip']}:{int(port['external'])}"}
    assert port["ip"] == "127.0.0.1" and int(port["external"]) == 15601
    # An existing Dashboards: its own URL, and no container.
    existing = deploy({**TEAM, "dashboardsUrl": "https://dashboards.example"})
    assert team_urls(existing.outputs["settings"]) == {"dashboards": "https://dashboards.example"}
    assert names.DASHBOARDS not in containers(existing)


def test_team_runs_no_opensearch_node_and_no_collector(team):
    assert containers(team) == [names.DASHBOARDS, names.PROMETHEUS]
    assert not [r for r in team.of_type("volume:Volume") if r.inputs["name"] == names.OPENSEARCH_VOLUME]


def test_team_bootstrap_goes_to_the_cluster_with_the_admin_credential_as_a_secret(team):
    assets = [r for r in team.registrations if r.type.startswith("pulumi-python:dynamic/clawker:OpenSearch")]
    bootstrap = [r for r in assets if "MachineCredential" not in r.type]
    kinds = {r.type.rsplit(":", 1)[1] for r in bootstrap}
    assert {"OpenSearchComponentTemplate", "OpenSearchIndexTemplate", "OpenSearchIngestPipeline",
            "OpenSearchIsmPolicy", "OpenSearchIndex"} <= kinds
    assert "OpenSearchDatasource" in kinds
    for r in assets:
        assert r.inputs["endpoint"] == "https://node-1.example:9200"
        connection = r.inputs["connection"]
        assert connection.get(  # a secret on the wire to the engine
            "4dabf18193072939515e22adb298388d"
        ) == "1b47061264138c4ac30d75fd1eb44270", r.name
        assert connection["value"] == {"username": "admin", "password": "admin-secret-1", "ca_pem": CA}
        assert "connection" in r.additional_secret_outputs


SECRET = "4dabf18193072939515e22adb298388d"


def test_team_datasource_queries_the_team_prometheus_with_basic_auth_as_a_secret(team):
    (ds,) = team.of_type("clawker:OpenSearchDatasource")
    # The body carries the admin password (basic auth): a secret, as is the readiness wait's login.
    for key in ("body", "prometheus_connection"):
        assert SECRET in ds.inputs[key] and key in ds.additional_secret_outputs, key
    props = ds.inputs["body"]["value"]["properties"]
    assert props == {"prometheus.uri": "https://localhost:9090", "prometheus.auth.type": "basicauth",
                     "prometheus.auth.username": "admin", "prometheus.auth.password": "admin-secret-1"}
    assert ds.inputs["prometheus_url"] == "https://localhost:9090"
    assert ds.inputs["prometheus_connection"]["value"] == {"username": "admin", "password": "admin-secret-1", "ca_pem": CA}
    # After the team Prometheus (which waits for the machines' credentials).
    assert team.container(names.PROMETHEUS).urn in ds.dependencies


def test_team_indices_get_one_replica(team):
    bodies = [r.documents["body"] for r in team.of_type("clawker:OpenSearchComponentTemplate")]
    bodies += [r.documents["body"] for r in team.of_type("clawker:OpenSearchIndexTemplate")]
    replicas = [b["template"]["settings"]["index"]["number_of_replicas"] for b in bodies
                if "number_of_replicas" in b.get("template", {}).get("settings", {}).get("index", {})]
    assert replicas and set(replicas) == {1}
    settings = [r.inputs["settings"] for r in team.of_type("clawker:OpenSearchIndex")]
    assert {s["index.number_of_replicas"] for s in settings} == {1}


def test_team_makes_one_credential_per_machine_after_the_bootstrap(team):
    credentials = team.of_type("clawker:OpenSearchMachineCredential")
    assert sorted(r.inputs["machine"] for r in credentials) == ["laptop-a", "laptop-b"]
    for r in credentials:
        assert "password" in r.additional_secret_outputs
        assert r.inputs["streams"] == list(names.LOG_INDICES) + [names.TRACES_INDEX]
        # After the bootstrap (its indices are what the role names): a component's
        # depends_on reaches the engine as its children.
        indices = {i.urn for i in team.of_type("clawker:OpenSearchIndex")}
        assert indices and indices <= set(r.dependencies), r.name


def test_team_dashboards_container_talks_to_the_cluster_with_its_ca(team):
    d = team.container(names.DASHBOARDS)
    env = plain_envs(d)
    assert yaml.safe_load(env["OPENSEARCH_HOSTS"]) == ["https://node-1.example:9200", "https://node-2.example:9200"]
    assert env["OPENSEARCH_PASSWORD"] == "admin-secret-1" and env["OPENSEARCH_SSL_VERIFICATIONMODE"] == "full"
    assert d.inputs["envs"].get("value") is not None, "the environment (the admin password) must be a secret"
    assert [u["content"] for u in d.inputs["uploads"]] == [CA]


def test_team_with_an_existing_dashboards_runs_no_dashboards_container():
    d = deploy({**TEAM, "dashboardsUrl": "https://dashboards.example"})
    assert containers(d) == [names.PROMETHEUS]
    workspace = d.of_type("clawker:DashboardsWorkspace")[0]
    assert workspace.inputs["url"] == "https://dashboards.example"


def test_machine_credential_role_writes_the_streams_and_their_days_only():
    body = role_body(["claude-code", "traces"])
    assert body["cluster_permissions"] == ["indices:data/write/bulk"]
    doors, days = body["index_permissions"]
    assert doors["index_patterns"] == ["claude-code", "traces"]
    assert days["index_patterns"] == ["claude-code-*", "traces-*"]
    for entry in (doors, days):
        actions = entry["allowed_actions"]
        assert not [a for a in actions if a.startswith("indices:data/read") or "delete" in a or "template" in a]
    assert user_name("laptop-a") == "clawker-machine-laptop-a"


@pytest.fixture(scope="module")
def machine():
    return deploy(MACHINE)


def test_machine_registers_its_team_check_while_the_network_lookup_waits():
    # As the local stack's generated secret (test_stack_graph.py): the dynamic-provider process
    # starts while the docker provider answers the lookup of clawker-net.
    during = deploy(MACHINE, invoke_delay_s=0.3).registered_during(NETWORK_LOOKUP)
    assert "pulumi-python:dynamic/clawker:TeamConnectionCheck" in during, during


def test_machine_runs_the_collector_only_with_its_durable_queue(machine):
    assert containers(machine) == [names.COLLECTOR, names.COLLECTOR_QUEUE_INIT]
    assert [r.inputs["name"] for r in machine.of_type("volume:Volume")] == [names.COLLECTOR_QUEUE_VOLUME]
    assert not machine.of_type("clawker:OpenSearchIndex") and not machine.of_type("clawker:DashboardsWorkspace")
    for port in machine.container(names.COLLECTOR).inputs["ports"]:
        assert port["ip"] == "127.0.0.1"


def _collector_config(d) -> dict:
    uploads = d.container(names.COLLECTOR).inputs["uploads"]
    config = [u for u in uploads if u["file"] == collector_config.CONFIG_PATH][0]["content"]
    return yaml.safe_load(config)


def test_machine_config_ships_to_the_team_and_holds_no_credential(machine):
    text = yaml.safe_dump(_collector_config(machine))
    assert "machine-secret-1" not in text and "node-1.example" not in text
    env = plain_envs(machine.container(names.COLLECTOR))
    assert env == {
        "CLAWKER_CLUSTER_URL": "https://node-1.example:9200",
        "CLAWKER_MACHINE_USER": "clawker-machine-laptop-a",
        "CLAWKER_MACHINE_PASSWORD": "machine-secret-1",
        "CLAWKER_REMOTE_WRITE_URL": "https://team.example:9090/api/v1/write",
    }
    assert machine.container(names.COLLECTOR).inputs["envs"].get("value") is not None, "the credential must be a secret"
    ca_uploads = {u["file"]: u["content"] for u in machine.container(names.COLLECTOR).inputs["uploads"]}
    assert ca_uploads[collector_machine.CLUSTER_CA_PATH] == CA == ca_uploads[collector_machine.PROMETHEUS_CA_PATH]


def test_machine_part_keeps_the_lanes_and_names_the_machine_before_the_queue(machine):
    local = collector_config.render(validate({}))
    config = _collector_config(machine)
    # The durable hop and the lanes are the local role's: same pipelines, same receivers (and
    # the credential check's and
    # the machine's own metrics endpoint's, tests/unit/test_machine_refusal.py).
    check = {collector_machine.CHECK_PIPELINE, collector_machine.CHECKED_PIPELINE, collector_machine.REFUSED_PIPELINE,
             collector_machine.LOCAL_PIPELINE}
    assert sorted(config["service"]["pipelines"]) == sorted([*local["service"]["pipelines"], *check])
    own = (collector_machine.CREDENTIAL_CHECK, collector_machine.LOCAL_SELF)
    assert {k: v for k, v in config["receivers"].items() if k not in own} == local["receivers"]
    for name, exporter in config["exporters"].items():
        if name.startswith("opensearch/"):
            assert exporter["http"]["endpoint"] == "${env:CLAWKER_CLUSTER_URL}"
            assert exporter["http"]["auth"] == {"authenticator": collector_machine.AUTH}
            assert exporter["http"]["tls"] == {"ca_file": collector_machine.CLUSTER_CA_PATH}
            assert exporter["sending_queue"] == local["exporters"][name]["sending_queue"]
    assert "prometheus" not in config["exporters"]
    remote = config["exporters"][collector_machine.REMOTE_WRITE]
    assert remote["external_labels"] == {"machine": "laptop-a"}
    assert config["extensions"][collector_machine.AUTH]["client_auth"]["password"] == "${env:CLAWKER_MACHINE_PASSWORD}"
    for name, pipeline in config["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
        intake = any(r in collector_machine.INTAKE_RECEIVERS for r in pipeline["receivers"])
        assert (collector_machine.MACHINE_PROCESSOR in pipeline["processors"]) == intake, name
        assert "prometheus" not in pipeline["exporters"], name


def test_machine_reads_the_team_stack_through_a_stack_reference():
    d = deploy(
        {"role": "machine", "machineName": "laptop-a", "teamStack": "org/clawker-monitor/team"},
        team_outputs=TEAM_OUTPUTS,
    )
    # (A StackReference is read, not registered: the values below come only from TEAM_OUTPUTS.)
    env = plain_envs(d.container(names.COLLECTOR))
    assert env["CLAWKER_MACHINE_PASSWORD"] == "from-team-stack"
    assert env["CLAWKER_CLUSTER_URL"] == "https://node-1.example:9200"
    assert env["CLAWKER_REMOTE_WRITE_URL"] == "https://team.example:9090/api/v1/write"


def test_a_machine_fails_over_across_the_cluster_urls_in_order():
    """Each store's failover connector: the first URL's exporter, then the next's (README "Running for a team")."""
    d = deploy({"role": "machine", "machineName": "laptop-a", "teamStack": "org/clawker-monitor/team"}, team_outputs=TEAM_OUTPUTS)
    env = plain_envs(d.container(names.COLLECTOR))
    assert (env["CLAWKER_CLUSTER_URL"], env["CLAWKER_CLUSTER_URL_2"]) == tuple(TEAM_OUTPUTS["clusterUrls"])
    config = _collector_config(d)
    pipelines = config["service"]["pipelines"]
    failovers = {k: v for k, v in config["connectors"].items() if k.startswith("failover/")}
    assert failovers
    for name, connector in failovers.items():
        levels = [level for (level,) in connector["priority_levels"]]
        assert len(levels) == 2 and levels[1] == levels[0] + "-url2", name
        endpoints = [config["exporters"][pipelines[p]["exporters"][0]]["http"]["endpoint"] for p in levels]
        assert endpoints == ["${env:CLAWKER_CLUSTER_URL}", "${env:CLAWKER_CLUSTER_URL_2}"], name
        first, second = (config["exporters"][pipelines[p]["exporters"][0]] for p in levels)
        assert {**second, "http": {**second["http"], "endpoint": None}} == {**first, "http": {**first["http"], "endpoint": None}}
        assert pipelines[levels[1]]["receivers"] == [name] and pipelines[levels[1]]["processors"] == pipelines[levels[0]]["processors"]
    # One URL: one level, as the local role has it.
    single = _collector_config(deploy(MACHINE))
    assert all(len(c["priority_levels"]) == 1 for k, c in single["connectors"].items() if k.startswith("failover/"))
    assert "CLAWKER_CLUSTER_URL_2" not in plain_envs(deploy(MACHINE).container(names.COLLECTOR))


def test_a_machine_missing_from_the_team_stack_fails_naming_the_setting():
    with pytest.raises(Exception) as error:
        deploy(
            {"role": "machine", "machineName": "laptop-z", "teamStack": "org/clawker-monitor/team"},
            team_outputs=TEAM_OUTPUTS,
        )
    assert "clawker-monitor:machineName: laptop-z has no credential in the team stack" in str(error.value)


def test_team_prometheus_takes_basic_auth_from_the_admin_and_each_machine():
    from components.services import prometheus_web

    d = deploy({**TEAM, "prometheusBindAddress": "0.0.0.0", "prometheusTlsCertFile": "/tls/p.crt", "prometheusTlsKeyFile": "/tls/p.key"})
    p = d.container(names.PROMETHEUS)
    assert f"--web.config.file={prometheus_web.WEB_CONFIG_PATH}" in p.inputs["command"]
    assert [(port["ip"], int(port["external"])) for port in p.inputs["ports"]] == [("0.0.0.0", 9090)]
    mounts = {(v.get("hostPath"), v.get("containerPath"), v.get("readOnly")) for v in p.inputs["volumes"]}
    assert ("/tls/p.crt", prometheus_web.TLS_CERT_PATH, True) in mounts and ("/tls/p.key", prometheus_web.TLS_KEY_PATH, True) in mounts
    uploads = p.inputs["uploads"]
    assert isinstance(uploads, dict) and "value" in uploads, "the web config (and with it the uploads) must be a secret"
    (web,) = [u for u in uploads["value"] if u["file"] == prometheus_web.WEB_CONFIG_PATH]
    config = yaml.safe_load(web["content"])
    assert config["tls_server_config"] == {"cert_file": prometheus_web.TLS_CERT_PATH, "key_file": prometheus_web.TLS_KEY_PATH}
    users = config["basic_auth_users"]
    # The mock engine's credentials: clawker-machine-<name> / generated-<name> (stack_harness).
    expected = {"admin": "admin-secret-1", "clawker-machine-laptop-a": "generated-laptop-a", "clawker-machine-laptop-b": "generated-laptop-b"}
    assert sorted(users) == sorted(expected)
    for user, password in expected.items():
        assert users[user].startswith("$2b$10$") and prometheus_web.password_matches(password, users[user]), user
        assert not prometheus_web.password_matches(password + "x", users[user])
        assert password not in web["content"]
    # Same passwords, same file: an unchanged stack does not re-create Prometheus.
    assert prometheus_web.web_config(expected, True) == config


def test_local_prometheus_has_no_web_config():
    from components.services import prometheus_web

    p = deploy().container(names.PROMETHEUS)
    assert not [c for c in p.inputs["command"] if c.startswith("--web.config.file")]
    assert prometheus_web.WEB_CONFIG_PATH not in [u["file"] for u in p.inputs["uploads"]]


def test_team_prometheus_tls_files_must_exist(tmp_path):
    from components import settings as stack_settings

    cert = tmp_path / "p.crt"
    cert.write_text("pem")
    team = validate({**TEAM, "prometheusTlsCertFile": str(cert), "prometheusTlsKeyFile": str(tmp_path / "missing.key")})
    with pytest.raises(SettingsError) as error:
        stack_settings.check_host_files(team)
    assert "clawker-monitor:prometheusTlsKeyFile" in str(error.value) and "prometheusTlsCertFile" not in str(error.value)


def _check_inputs(check) -> dict:
    return {k: v.get("value") if isinstance(v, dict) and "value" in v else v for k, v in check.inputs.items()}


def test_machine_collector_waits_for_the_team_check(machine):
    (check,) = machine.of_type("clawker:TeamConnectionCheck")
    assert check.urn in machine.container(names.COLLECTOR).dependencies
    assert check.inputs["cluster_urls"] == ["https://node-1.example:9200"]
    assert check.inputs["password"].get("value") == "machine-secret-1" and "password" in check.additional_secret_outputs


@pytest.mark.parametrize("source", ["teamStack", "explicit"])
def test_the_team_check_is_given_every_value_the_collector_carries(source):
    """Any change of the collector's cluster URLs (each of them: it fails over), credential or
    remote-write URL is a change of the check's inputs, so the check runs before the collector is replaced."""
    urls = TEAM_OUTPUTS["clusterUrls"]
    if source == "teamStack":
        d = deploy({"role": "machine", "machineName": "laptop-a", "teamStack": "org/clawker-monitor/team"}, team_outputs=TEAM_OUTPUTS)
    else:
        d = deploy({**MACHINE, "clusterUrls": ",".join(urls)})
    (check,) = d.of_type("clawker:TeamConnectionCheck")
    inputs = _check_inputs(check)
    env = plain_envs(d.container(names.COLLECTOR))
    carried = {
        "cluster_urls": [env[collector_machine.cluster_url_env(i)] for i in range(len(urls))],
        "username": env[collector_machine.ENV["username"]],
        "password": env[collector_machine.ENV["password"]],
        "remote_write_url": env[collector_machine.ENV["remote_write_url"]],
    }
    assert carried["cluster_urls"] == urls and collector_machine.cluster_url_env(len(urls)) not in env
    assert {k: inputs[k] for k in carried} == carried
    uploads = {u["file"]: u["content"] for u in d.container(names.COLLECTOR).inputs["uploads"]}
    assert (inputs["cluster_ca_pem"], inputs["prometheus_ca_pem"]) == (
        uploads[collector_machine.CLUSTER_CA_PATH], uploads[collector_machine.PROMETHEUS_CA_PATH])


@pytest.mark.parametrize("crypt_module", [None, "no-bcrypt"])
def test_a_team_stack_on_a_python_without_bcrypt_is_refused_naming_the_role(monkeypatch, crypt_module):
    """The team Prometheus's hashes come from the standard `crypt` module: without it (Python 3.13)
    or without bcrypt in the platform's crypt(3), preview refuses, naming `role`, before anything changes."""
    from components.services import prometheus_web

    class NoBcrypt:
        @staticmethod
        def crypt(word, salt):
            return None

    monkeypatch.setattr(prometheus_web, "_crypt", None if crypt_module is None else NoBcrypt)
    with pytest.raises(SettingsError) as error:
        validate(dict(TEAM))
    assert "clawker-monitor:role: the team Prometheus's password file needs bcrypt" in str(error.value)
    # Local stacks never hash a password: unaffected.
    validate({})
