"""A revoked machine says why: the machine collector's credential check and the team's alert on it.

The machine part of the collector config (components/services/collector_machine.py) asks every
cluster URL who it is with the machine's credential and reports the answer as
clawker_machine_credential_refused (remote-written, and printed with the reason when refused);
the team Prometheus alerts on it (components/services/prometheus_config.py). The real collector
and cluster run it in tests/providers/test_machine_credential.py and tests/e2e/test_team.py.
"""

from __future__ import annotations

import pytest
import yaml

from components import names
from components.services import collector_config, collector_machine as cm, prometheus_config
from components.settings import validate
from stack_harness import deploy
from test_alerting import promtool_test, run, write_rules
from test_roles import MACHINE, TEAM, TEAM_OUTPUTS, _collector_config, plain_envs

import alerting_tools


def _part(cluster_urls: int = 1, cluster_ca: bool = True) -> dict:
    return cm.machine_part(collector_config.render(validate({})), "laptop-a", cluster_ca=cluster_ca, prometheus_ca=True,
                           cluster_urls=cluster_urls)


def test_the_check_asks_every_cluster_url_with_the_machines_credential_and_ca():
    check = _part(cluster_urls=2)["receivers"][cm.CREDENTIAL_CHECK]
    assert [t["endpoint"] for t in check["targets"]] == [
        "${env:CLAWKER_CLUSTER_URL}/_plugins/_security/authinfo", "${env:CLAWKER_CLUSTER_URL_2}/_plugins/_security/authinfo"]
    for target in check["targets"]:
        assert target["auth"] == {"authenticator": cm.AUTH} and target["tls"] == {"ca_file": cm.CLUSTER_CA_PATH}
    # Without a CA file the system's CAs verify the cluster, as for the exporters.
    assert all("tls" not in t for t in _part(cluster_ca=False)["receivers"][cm.CREDENTIAL_CHECK]["targets"])


def test_the_answer_is_remote_written_and_a_refusal_is_logged_with_the_reason():
    config = _part()
    pipelines = config["service"]["pipelines"]
    assert pipelines[cm.CHECK_PIPELINE] == {"receivers": [cm.CREDENTIAL_CHECK], "processors": ["memory_limiter", cm.CHECK_TRANSFORM],
                                            "exporters": [cm.CHECK_ROUTE]}
    assert pipelines[cm.CHECKED_PIPELINE]["exporters"] == [cm.REMOTE_WRITE]
    assert pipelines[cm.REFUSED_PIPELINE]["exporters"] == ["debug"]
    assert config["exporters"]["debug"]["verbosity"] == "normal"  # one line per datapoint, its attributes included
    refused, answered = config["connectors"][cm.CHECK_ROUTE]["table"]
    assert (refused["action"], refused["pipelines"], answered["pipelines"]) == ("copy", [cm.REFUSED_PIPELINE], [cm.CHECKED_PIPELINE])
    assert "default_pipelines" not in config["connectors"][cm.CHECK_ROUTE]  # unanswered status classes are dropped
    why = config["processors"][cm.REFUSED_REASON]["metric_statements"][0]["statements"]
    assert why == [f'set(datapoint.attributes["why"], "{cm.REFUSED_WHY}")']
    # The debug exporter joins attributes with commas; OTTL strings end at a double quote.
    assert "," not in cm.REFUSED_WHY and '"' not in cm.REFUSED_WHY + cm.REFUSED_DESCRIPTION
    assert "401" in cm.REFUSED_WHY and "machines" in cm.REFUSED_WHY and "pulumi up" in cm.REFUSED_WHY
    # The series is the one the team's alert reads.
    assert cm.REFUSED_METRIC.replace(".", "_") == prometheus_config.MACHINE_REFUSED_METRIC


def test_the_local_role_has_no_credential_check():
    local = collector_config.render(validate({}))
    text = yaml.safe_dump(local)
    assert "httpcheck" not in text and "credential" not in text


def test_the_machine_stack_gives_the_check_urls_without_a_trailing_slash():
    d = deploy({**MACHINE, "clusterUrls": "https://node-1.example:9200/,https://node-2.example:9200"})
    env = plain_envs(d.container(names.COLLECTOR))
    assert (env["CLAWKER_CLUSTER_URL"], env["CLAWKER_CLUSTER_URL_2"]) == ("https://node-1.example:9200", "https://node-2.example:9200")
    assert len(_collector_config(d)["receivers"][cm.CREDENTIAL_CHECK]["targets"]) == 2
    from_team = _collector_config(deploy({"role": "machine", "machineName": "laptop-a", "teamStack": "org/clawker-monitor/team"},
                                         team_outputs=TEAM_OUTPUTS))
    assert len(from_team["receivers"][cm.CREDENTIAL_CHECK]["targets"]) == len(TEAM_OUTPUTS["clusterUrls"])


def _alerts(raw: dict) -> list[str]:
    return [r.get("alert") for g in prometheus_config.render_rules(validate(raw))["groups"] for r in g["rules"]]


def test_only_the_team_prometheus_alerts_on_a_refused_machine():
    assert prometheus_config.ALERT_MACHINE_REFUSED in _alerts(TEAM)
    assert prometheus_config.ALERT_MACHINE_REFUSED not in _alerts({})


@pytest.fixture()
def team_rules() -> dict:
    return prometheus_config.render_rules(validate({**TEAM, "alertForMinutes": "2"}))


def test_the_refused_machine_alert_passes_promtool_check_rules(tmp_path, team_rules):
    result = run(alerting_tools.promtool(), "check", "rules", str(write_rules(tmp_path, team_rules)))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_the_alert_fires_for_the_refused_machine_only(tmp_path, team_rules):
    """promtool test rules, one sample a minute: bob's check answers 401 at both of the cluster's URLs
    from minute 3 on; alice's is accepted throughout; carol's was refused for one minute only (less than
    alertForMinutes: her password changed and her stack picked up the new one)."""
    metric = prometheus_config.MACHINE_REFUSED_METRIC
    url = "https://node-{}.example:9200/_plugins/_security/authinfo"
    series = {
        f'{metric}{{machine="bob-laptop",http_url="{url.format(1)}"}}': [0, 0, 0] + [1] * 7,
        f'{metric}{{machine="bob-laptop",http_url="{url.format(2)}"}}': [0, 0, 0] + [1] * 7,
        f'{metric}{{machine="alice-laptop",http_url="{url.format(1)}"}}': [0] * 10,
        f'{metric}{{machine="carol-laptop",http_url="{url.format(1)}"}}': [0, 0, 0, 0, 1] + [0] * 5,
    }
    firing = f'ALERTS{{alertname="{prometheus_config.ALERT_MACHINE_REFUSED}",alertstate="firing"}}'
    expect = [
        {"expr": f"count by (machine) ({firing})", "eval_time": "9m", "exp_samples": [{"labels": '{machine="bob-laptop"}', "value": 1}]},
        # Before alertForMinutes passed, nothing fired.
        {"expr": f"count by (machine) ({firing})", "eval_time": "4m", "exp_samples": []},
    ]
    result = promtool_test(tmp_path, team_rules, series, expect, interval="1m")
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_control_the_alert_test_fails_when_the_refused_machine_is_expected_silent(tmp_path, team_rules):
    """Negative control: the same promtool run fails when bob is expected not to fire."""
    metric = prometheus_config.MACHINE_REFUSED_METRIC
    series = {f'{metric}{{machine="bob-laptop",http_url="u"}}': [1] * 10}
    firing = f'ALERTS{{alertname="{prometheus_config.ALERT_MACHINE_REFUSED}",alertstate="firing"}}'
    expect = [{"expr": f"count by (machine) ({firing})", "eval_time": "9m", "exp_samples": []}]
    result = promtool_test(tmp_path, team_rules, series, expect, interval="1m")
    assert result.returncode != 0, result.stdout
