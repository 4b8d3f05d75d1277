"""Alertmanager, budgets and team attributes: rendered configs checked by the real amtool and
promtool, settings refused naming the key, and the graph the mock engine records."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

import alerting_tools
from components import agent_env, names
from components import settings as stack_settings
from components.services import alertmanager_config, collector_config, config_file, prometheus_config
from components.settings import SettingsError, validate
from stack_harness import deploy

WEBHOOK = "https://hooks.example.com/clawker/T0KEN-webhook"
SLACK = "https://hooks.slack.com/services/T000/B000/SLACK-S3CRET"
SMTP_PASSWORD = "smtp-pa55word"
EMAIL = {
    "alertEmailTo": "oncall@example.com",
    "alertEmailFrom": "alertmanager@example.com",
    "alertEmailSmarthost": "smtp.example.com:587",
    "alertEmailUsername": "alertmanager",
    "alertEmailPassword": SMTP_PASSWORD,
}
ALL_RECEIVERS = {"alertWebhookUrl": WEBHOOK, "alertSlackWebhookUrl": SLACK, "alertSlackChannel": "#ai-spend", **EMAIL}
BUDGETS = {
    "budgetDailyUsd": "10",
    "budgetMonthlyUsd": "150",
    "budgetUsers": '{"alice@example.com": {"dailyUsd": 20, "monthlyUsd": 300}, "acc-bob": {"monthlyUsd": 50}}',
    "budgetTeams": '{"platform": {"dailyUsd": 100, "monthlyUsd": 2000}}',
    "budgetWarnFractions": "0.5,0.8,1,1.2",
}


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


# --------------------------------------------------------------------------- amtool check-config


def write_config(tmp_path: Path, raw: dict) -> Path:
    settings = validate(raw)
    path = tmp_path / "alertmanager.yml"
    path.write_text(config_file.to_yaml(alertmanager_config.render(settings)))
    return path


@pytest.mark.parametrize(
    "raw",
    [
        {"alertWebhookUrl": WEBHOOK},
        {"alertSlackWebhookUrl": SLACK},
        {k: v for k, v in EMAIL.items() if k not in ("alertEmailUsername", "alertEmailPassword")},
        {**ALL_RECEIVERS, "alertWarningReceivers": "slack", "alertCriticalReceivers": "webhook,email", "alertGroupBy": "alertname,user"},
    ],
    ids=["webhook", "slack", "email-without-auth", "all-routed-by-severity"],
)
def test_rendered_alertmanager_config_passes_amtool_check_config(tmp_path, raw):
    amtool = alerting_tools.amtool()
    result = run(amtool, "check-config", str(write_config(tmp_path, raw)))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_amtool_refuses_a_broken_config(tmp_path):
    """Negative control: check-config can fail (a route to a receiver that does not exist)."""
    amtool = alerting_tools.amtool()
    config = alertmanager_config.render(validate({"alertWebhookUrl": WEBHOOK}))
    config["route"]["receiver"] = "nobody"
    path = tmp_path / "broken.yml"
    path.write_text(config_file.to_yaml(config))
    result = run(amtool, "check-config", str(path))
    assert result.returncode != 0 and "nobody" in result.stdout + result.stderr


def test_the_config_file_holds_no_secret_only_the_files_that_do():
    settings = validate(ALL_RECEIVERS)
    text = config_file.to_yaml(alertmanager_config.render(settings))
    for secret in (WEBHOOK, SLACK, SMTP_PASSWORD):
        assert secret not in text
    (critical, warning) = alertmanager_config.render(settings)["receivers"]
    secrets = alertmanager_config.SECRETS_DIR
    assert critical["webhook_configs"] == [{"send_resolved": True, "url_file": f"{secrets}/webhook-url"}]
    assert critical["slack_configs"][0]["api_url_file"] == f"{secrets}/slack-webhook-url"
    assert critical["slack_configs"][0]["channel"] == "#ai-spend"
    assert critical["email_configs"][0]["auth_password_file"] == f"{secrets}/smtp-password"
    assert alertmanager_config.secret_values(settings) == {
        "webhook-url": WEBHOOK,
        "slack-webhook-url": SLACK,
        "smtp-password": SMTP_PASSWORD,
    }


def test_routing_grouping_and_intervals_follow_the_settings():
    config = alertmanager_config.render(
        validate(
            {
                **ALL_RECEIVERS,
                "alertCriticalReceivers": "slack,email",
                "alertWarningReceivers": "webhook",
                "alertGroupBy": "alertname,user",
                "alertGroupWaitSeconds": "5",
                "alertGroupIntervalMinutes": "2",
                "alertRepeatIntervalHours": "12",
            }
        )
    )
    route = config["route"]
    assert route["group_by"] == ["alertname", "user"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("5s", "2m", "12h")
    assert route["receiver"] == "clawker-warning"
    assert route["routes"] == [{"receiver": "clawker-critical", "matchers": ['severity="critical"']}]
    by_name = {r["name"]: r for r in config["receivers"]}
    assert set(by_name["clawker-critical"]) == {"name", "slack_configs", "email_configs"}
    assert set(by_name["clawker-warning"]) == {"name", "webhook_configs"}


def test_unconfigured_receivers_named_in_a_route_are_skipped():
    config = alertmanager_config.render(validate({"alertSlackWebhookUrl": SLACK}))
    for receiver in config["receivers"]:
        assert set(receiver) == {"name", "slack_configs"}


def test_budget_defaults():
    s = validate({})
    assert s.warn_fractions == [0.8, 0.9, 1.0]
    assert not s.alertmanager_enabled and s.default_budgets == {}
    assert (s.alert_group_wait_seconds, s.alert_group_interval_minutes, s.alert_repeat_interval_hours) == (30, 5, 24)


# --------------------------------------------------------------------------- settings refused


@pytest.mark.parametrize(
    "raw, key, fragment",
    [
        ({"alertWebhookUrl": "hooks.example.com/x"}, "alertWebhookUrl", "secret is not allowed"),
        ({"alertSlackWebhookUrl": "ftp://hooks.slack.com/x"}, "alertSlackWebhookUrl", "secret is not allowed"),
        ({"alertSlackChannel": "ai spend"}, "alertSlackChannel", "not allowed"),
        ({"alertEmailTo": "a@example.com"}, "alertEmailFrom", "needs all of alertEmailTo, alertEmailFrom, alertEmailSmarthost"),
        ({**EMAIL, "alertEmailSmarthost": "smtp.example.com"}, "alertEmailSmarthost", "not allowed"),
        ({**EMAIL, "alertEmailUsername": ""}, "alertEmailUsername", "SMTP user name is needed"),
        ({"alertCriticalReceivers": "pagerduty"}, "alertCriticalReceivers", "'pagerduty' is not allowed"),
        ({"alertGroupBy": "alertname, user"}, "alertGroupBy", "not allowed"),
        ({"alertRepeatIntervalHours": "0"}, "alertRepeatIntervalHours", "0 is not allowed"),
        ({"alertmanagerPort": "9090"}, "alertmanagerPort", "already used by clawker-monitor:prometheusPort"),
        ({"budgetUsers": "alice=20"}, "budgetUsers", "is not JSON"),
        ({"budgetUsers": '{"alice": {"dailyUsd": 0}}'}, "budgetUsers", "at alice/dailyUsd"),
        ({"budgetTeams": '{"platform": {"weeklyUsd": 5}}'}, "budgetTeams", "weeklyUsd"),
        ({"budgetTeams": '{"plat form": {"dailyUsd": 5}}'}, "budgetTeams", "plat form"),
        ({"budgetDailyUsd": "-5"}, "budgetDailyUsd", "-5 is not allowed"),
        ({"budgetWarnFractions": "80%"}, "budgetWarnFractions", "not allowed"),
        ({"budgetWarnFractions": "0.8,0"}, "budgetWarnFractions", "0 is not above 0"),
        ({"budgetWarnFractions": "0.8,0.8"}, "budgetWarnFractions", "listed twice"),
        ({"teamId": "plat,form"}, "teamId", "not allowed"),
        ({"costCenter": "cc=1"}, "costCenter", "not allowed"),
    ],
)
def test_bad_alerting_settings_are_refused_naming_the_key(raw, key, fragment):
    with pytest.raises(SettingsError) as error:
        validate(raw)
    assert f"clawker-monitor:{key}" in str(error.value)
    assert fragment in str(error.value)


def test_a_bad_receiver_url_is_never_echoed():
    with pytest.raises(SettingsError) as error:
        validate({"alertSlackWebhookUrl": "hooks.slack.com/services/T0/B0/NOT-ECHOED"})
    assert "NOT-ECHOED" not in str(error.value)


MASTER_KEY = "m" * 32


def test_receiver_secrets_stored_in_plain_text_are_refused_naming_the_key():
    raw = {"alertSlackWebhookUrl": SLACK, "alertEmailPassword": SMTP_PASSWORD, "alertWebhookUrl": WEBHOOK, "datasourceMasterKey": MASTER_KEY}
    raw.update({key: f"plain-{key}-value" for key in stack_settings.SECRET_KEYS if key not in raw})
    with pytest.raises(SettingsError) as error:
        stack_settings.plaintext_secrets(raw, lambda key: key == "alertWebhookUrl")
    message = str(error.value)
    assert "clawker-monitor:alertSlackWebhookUrl" in message and "clawker-monitor:alertEmailPassword" in message
    # Every secret setting, not only the receivers': the master key and any other too.
    for key in stack_settings.SECRET_KEYS:
        assert (f"clawker-monitor:{key}:" in message) == (key != "alertWebhookUrl"), key
        assert key == "alertWebhookUrl" or raw[key] not in message
    assert "pulumi config set --secret" in message
    stack_settings.plaintext_secrets(raw, lambda key: True)  # all set with --secret: accepted


def test_the_program_refuses_a_receiver_url_set_without_secret():
    with pytest.raises(Exception) as error:
        deploy({"alertSlackWebhookUrl": SLACK, "alertWebhookUrl": WEBHOOK}, secret_keys=("alertWebhookUrl",))
    assert "clawker-monitor:alertSlackWebhookUrl" in str(error.value) and "--secret" in str(error.value)
    assert "clawker-monitor:alertWebhookUrl" not in str(error.value) and SLACK not in str(error.value)
    with pytest.raises(Exception) as error:
        deploy({"datasourceMasterKey": MASTER_KEY}, secret_keys=())
    assert "clawker-monitor:datasourceMasterKey" in str(error.value) and MASTER_KEY not in str(error.value)


# --------------------------------------------------------------------------- promtool check rules


def write_rules(tmp_path: Path, rules: dict) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(config_file.to_yaml(rules))
    return path


@pytest.mark.parametrize("raw", [{}, BUDGETS, {**BUDGETS, "alertCostSpikeFactor": "0", "budgetTeams": ""}], ids=["defaults", "budgets", "no-spike"])
def test_rendered_rules_pass_promtool_check_rules(tmp_path, raw):
    promtool = alerting_tools.promtool()
    result = run(promtool, "check", "rules", str(write_rules(tmp_path, prometheus_config.render_rules(validate(raw)))))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_promtool_refuses_a_broken_rule(tmp_path):
    """Negative control: a rule whose template does not parse fails the check."""
    promtool = alerting_tools.promtool()
    rules = prometheus_config.render_rules(validate(BUDGETS))
    (budgets,) = [g for g in rules["groups"] if g["name"] == prometheus_config.GROUP_BUDGETS]
    budgets["rules"][-1]["annotations"]["summary"] = "{{ $labels.user "
    result = run(promtool, "check", "rules", str(write_rules(tmp_path, rules)))
    assert result.returncode != 0, result.stdout


def budget_alerts(raw: dict) -> list[dict]:
    group = prometheus_config.budget_group(validate(raw))
    return [r for r in group["rules"] if r.get("alert") in (prometheus_config.ALERT_USER_BUDGET, prometheus_config.ALERT_TEAM_BUDGET)]


def test_one_budget_rule_per_subject_period_and_threshold():
    alerts = budget_alerts(BUDGETS)
    keys = {(r["alert"], r["labels"]["scope"], r["labels"]["period"], r["labels"]["threshold"], r["labels"]["budget_usd"]) for r in alerts}
    assert len(keys) == len(alerts)
    # alice: daily+monthly, acc-bob: monthly, platform: daily+monthly, default: daily+monthly; 4 fractions each.
    assert len(alerts) == (2 + 1 + 2 + 2) * 4
    alice = [r for r in alerts if r["labels"]["scope"] == "user" and 'user="alice@example.com"' in r["expr"]]
    assert sorted(r["expr"].split(" >= ")[1] for r in alice if r["labels"]["period"] == "daily") == ["10", "16", "20", "24"]
    assert {r["labels"]["severity"] for r in alice if float(r["labels"]["threshold"]) >= 1} == {"critical"}
    assert {r["labels"]["severity"] for r in alice if float(r["labels"]["threshold"]) < 1} == {"warning"}
    # The default budget covers everyone without their own budget for that period.
    default_daily = [r for r in alerts if r["labels"]["scope"] == "default-user" and r["labels"]["period"] == "daily"]
    assert all('unless on(user) (clawker:user_cost_usd:daily{user="alice@example.com"})' in r["expr"] for r in default_daily)
    default_monthly = [r for r in alerts if r["labels"]["scope"] == "default-user" and r["labels"]["period"] == "monthly"]
    assert all('{user="alice@example.com"} or clawker:user_cost_usd:monthly{user="acc-bob"}' in r["expr"] for r in default_monthly)
    for rule in alerts:
        text = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert "$labels." in text and "$value" in text and "at_last_hour_pace" in text and rule["labels"]["budget_usd"] in text


def test_team_spend_is_recorded_only_with_team_budgets():
    records = lambda raw: {r["record"] for r in prometheus_config.budget_group(validate(raw))["rules"] if "record" in r}
    assert not any(":team_" in r for r in records({"budgetDailyUsd": "5"}))
    assert "clawker:team_cost_usd:daily" in records(BUDGETS)


def test_spend_is_recorded_before_the_alerts_that_read_it():
    rules = prometheus_config.budget_group(validate(BUDGETS))["rules"]
    kinds = ["record" if "record" in r else "alert" for r in rules]
    assert kinds == sorted(kinds, key=lambda k: k != "record")


def test_no_budget_and_no_spike_rule_leaves_the_group_out():
    groups = prometheus_config.render_rules(validate({"alertCostSpikeFactor": "0"}))["groups"]
    assert prometheus_config.GROUP_BUDGETS not in [g["name"] for g in groups]


def test_the_spend_rules_read_the_labels_the_collector_gives_metrics():
    statements = collector_config.render(validate({}))["processors"]["transform/metric-labels"]["metric_statements"][0]["statements"]
    for attribute in ("team.id", "department", "cost_center", "project", "agent"):
        assert f'set(attributes["{attribute}"], resource.attributes["{attribute}"]) where resource.attributes["{attribute}"] != nil' in statements
    assert {"team.id", "department", "cost_center"} <= set(prometheus_config.render(validate({}))["otlp"]["promote_resource_attributes"])
    team_spend = prometheus_config.spend_expr("team", "24h")
    assert '"team_id"' in team_spend  # team.id as Prometheus spells it


# --------------------------------------------------------------------------- agentEnv


def test_agent_env_carries_the_team_attributes_configured_on_the_stack():
    plain = agent_env.agent_env(validate({}))["OTEL_RESOURCE_ATTRIBUTES"]
    assert plain == "project=${CLAWKER_PROJECT},agent=${CLAWKER_AGENT}"
    tagged = agent_env.agent_env(validate({"teamId": "platform", "department": "eng", "costCenter": "cc-4711"}))
    assert tagged["OTEL_RESOURCE_ATTRIBUTES"] == plain + ",team.id=platform,department=eng,cost_center=cc-4711"


# --------------------------------------------------------------------------- the graph


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def test_no_alertmanager_without_a_receiver():
    deployment = deploy()
    assert not [r for r in deployment.of_type("container:Container") if r.name == names.ALERTMANAGER]
    assert "alerting" not in yaml.safe_load(
        next(u for u in deployment.container(names.PROMETHEUS).inputs["uploads"] if u["file"].endswith("prometheus.yml"))["content"]
    )


@pytest.fixture(scope="module")
def with_receivers():
    return deploy({**ALL_RECEIVERS, "alertmanagerPort": "19093"})


def test_alertmanager_container(with_receivers):
    c = with_receivers.container(names.ALERTMANAGER)
    assert c.inputs["command"] == [
        "--config.file=/etc/alertmanager/alertmanager.yml",
        "--storage.path=/alertmanager",
        "--web.listen-address=:19093",
        "--cluster.listen-address=",
    ]
    assert c.inputs["ports"] == [{"internal": 19093, "external": 19093, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert c.inputs["volumes"] == [{"volumeName": names.ALERTMANAGER_VOLUME, "containerPath": "/alertmanager"}]
    image = with_receivers.by_name(f"{names.ALERTMANAGER}-image", "remoteImage:RemoteImage")
    assert image.inputs["name"] == stack_settings.DEFAULT_IMAGES["alertmanagerImage"]
    assert "@sha256:" in image.inputs["name"] and image.inputs["keepLocally"]
    assert deploy({"alertWebhookUrl": WEBHOOK, "alertmanagerImage": "registry.local/am:1"}).by_name(
        f"{names.ALERTMANAGER}-image", "remoteImage:RemoteImage"
    ).inputs["name"] == "registry.local/am:1"


def test_prometheus_sends_to_the_stacks_alertmanager_and_an_extra_address(with_receivers):
    def targets(deployment):
        uploads = deployment.container(names.PROMETHEUS).inputs["uploads"]
        config = yaml.safe_load(next(u for u in uploads if u["file"].endswith("prometheus.yml"))["content"])
        return config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]

    assert targets(with_receivers) == ["alertmanager:19093"]
    both = deploy({"alertWebhookUrl": WEBHOOK, "alertmanagerAddress": "am.example.com:9093"})
    assert targets(both) == ["alertmanager:9093", "am.example.com:9093"]


def test_receiver_secrets_are_uploaded_as_pulumi_secrets_and_never_in_plain_inputs(with_receivers):
    uploads = with_receivers.container(names.ALERTMANAGER).inputs["uploads"]
    # A secret element makes the whole list a secret: the engine stores it encrypted.
    assert isinstance(uploads, dict) and uploads.get(SECRET_SIG), f"uploads are not a secret: {str(uploads)[:200]}"
    by_file = {u["file"]: u for u in uploads["value"]}
    config = by_file[alertmanager_config.CONFIG_PATH]["content"]
    for secret in (WEBHOOK, SLACK, SMTP_PASSWORD):
        assert secret not in config
    secrets = {f: u["content"] for f, u in by_file.items() if f.startswith(alertmanager_config.SECRETS_DIR)}
    assert secrets == {
        f"{alertmanager_config.SECRETS_DIR}/webhook-url": WEBHOOK,
        f"{alertmanager_config.SECRETS_DIR}/slack-webhook-url": SLACK,
        f"{alertmanager_config.SECRETS_DIR}/smtp-password": SMTP_PASSWORD,
    }
    # Negative control: without a receiver secret the uploads stay plain.
    plain = deploy({k: v for k, v in EMAIL.items() if k not in ("alertEmailUsername", "alertEmailPassword")})
    assert isinstance(plain.container(names.ALERTMANAGER).inputs["uploads"], list)
    # No output names a secret either, nor the settings' printed form.
    outputs = {k: v for k, v in with_receivers.outputs.items() if k != "settings"}
    assert SLACK not in repr(outputs) and SLACK not in repr(with_receivers.outputs["settings"])
    assert with_receivers.outputs["urls"]["alertmanager"] == "http://localhost:19093"


def test_alertmanager_volume_is_kept_on_destroy_unless_purge_is_on(with_receivers):
    assert with_receivers.by_name(names.ALERTMANAGER_VOLUME, "volume:Volume").retain_on_delete
    purged = deploy({"alertWebhookUrl": WEBHOOK, "purgeVolumesOnDestroy": True})
    assert not purged.by_name(names.ALERTMANAGER_VOLUME, "volume:Volume").retain_on_delete


# --------------------------------------------------------------------------- promtool test rules


def promtool_test(tmp_path: Path, rules: dict, series: dict[str, list], expect: list[dict], interval: str = "1h") -> subprocess.CompletedProcess:
    """`promtool test rules`: the real Prometheus engine evaluates `rules` over `series` (one sample
    per `interval`, None = no sample) on a simulated clock, and compares the queries in `expect`."""
    write_rules(tmp_path, rules)

    def values(samples: list) -> str:
        return " ".join("_" if v is None else str(v) for v in samples)

    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": interval,
                "input_series": [{"series": s, "values": values(v)} for s, v in series.items()],
                "promql_expr_test": expect,
            }
        ],
    }
    path = tmp_path / "test.yml"
    path.write_text(config_file.to_yaml(test))
    return run(alerting_tools.promtool(), "test", "rules", str(path))


def _cost(user: str, session: str) -> str:
    return f'{prometheus_config.COST_METRIC}{{user_email="{user}",session_id="{session}",team_id="platform"}}'


# dave's two sessions, one sample an hour. Session a spent 5 USD in its first two hours; the
# collector restarted at hour 30 and a's cumulative sum began again (0.5 since). Session b
# began after the restart (1.2). Session c ended before the restart and is exported no more.
# Over the 24 hours to hour 34, dave spent 0.5 + 1.2 = 1.7 USD.
RESET_SERIES = {
    _cost("dave@example.com", "a"): [1, 5] + [5] * 29 + [0.5] * 4,
    _cost("dave@example.com", "b"): [None] * 32 + [1.2] * 3,
    _cost("dave@example.com", "c"): [None] * 5 + [3] * 25,
}
DAVE_SPENT = 1.7


def test_spend_survives_a_counter_reset_and_series_that_are_gone(tmp_path):
    """The collector restarting (cumulative sums begin again, ended sessions vanish) neither hides a
    user's spend nor turns it negative: the 1 USD budget still fires at every threshold."""
    rules = prometheus_config.render_rules(validate({"budgetDailyUsd": "1", "budgetTeams": '{"platform": {"dailyUsd": 1}}'}))
    firing = f'ALERTS{{alertname="{prometheus_config.ALERT_USER_BUDGET}",alertstate="firing",period="daily"}}'
    expect = [
        {"expr": f"count by (user, threshold) ({firing})", "eval_time": "34h",
         "exp_samples": [{"labels": f'{{user="dave@example.com",threshold="{t}"}}', "value": 1} for t in ("0.8", "0.9", "1")]},
        {"expr": prometheus_config.spend_series("user", "daily"), "eval_time": "34h",
         "exp_samples": [{"labels": 'clawker:user_cost_usd:daily{user="dave@example.com"}', "value": DAVE_SPENT}]},
        {"expr": prometheus_config.spend_series("team", "daily"), "eval_time": "34h",
         "exp_samples": [{"labels": 'clawker:team_cost_usd:daily{team="platform"}', "value": DAVE_SPENT}]},
        {"expr": prometheus_config.budget_used_series("user"), "eval_time": "34h",
         "exp_samples": [{"labels": 'clawker:user_budget_used:ratio{user="dave@example.com",period="daily",budget_usd="1",scope="default-user"}',
                          "value": DAVE_SPENT}]},
    ]
    result = promtool_test(tmp_path, rules, RESET_SERIES, expect)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    # Negative control: the spend as sums (now - then) was negative after the restart, so no alert fired.
    old = f"sum by (user) (label_replace(label_replace({prometheus_config.COST_METRIC}, \"user\", \"$1\", \"user_account_uuid\", \"(.+)\"), \"user\", \"$1\", \"user_email\", \"(.+)\"))"
    control = {"groups": [{"name": "old", "rules": [{"record": "old_spend", "expr": f"{old} - ({old.replace(prometheus_config.COST_METRIC, prometheus_config.COST_METRIC + ' offset 24h')} or {old} * 0)"}]}]}
    expect_old = [{"expr": "old_spend", "eval_time": "34h", "exp_samples": [{"labels": 'old_spend{user="dave@example.com"}', "value": 1.7 - 5 - 3}]}]
    result = promtool_test(tmp_path, control, RESET_SERIES, expect_old)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_budget_used_is_recorded_once_per_budget_with_the_alerts_selection():
    """The dashboard's budget panels read clawker:<subject>_budget_used:ratio: spend over the budget the
    alerts compare it with, one recording per budget (named users and teams, then the default)."""
    group = prometheus_config.budget_group(validate(BUDGETS))
    used = [r for r in group["rules"] if r.get("record", "").endswith("_budget_used:ratio")]
    assert [(r["record"].split(":")[1], r["labels"]["scope"], r["labels"]["period"], r["labels"]["budget_usd"]) for r in used] == [
        ("user_budget_used", "user", "daily", "20"),
        ("user_budget_used", "user", "monthly", "300"),
        ("user_budget_used", "user", "monthly", "50"),
        ("team_budget_used", "team", "daily", "100"),
        ("team_budget_used", "team", "monthly", "2000"),
        ("user_budget_used", "default-user", "daily", "10"),
        ("user_budget_used", "default-user", "monthly", "150"),
    ]
    for record in used:
        (alert,) = [a for a in budget_alerts(BUDGETS) if a["labels"]["threshold"] == "1" and all(a["labels"][k] == v for k, v in record["labels"].items())]
        assert record["expr"] == alert["expr"].replace(" >= ", " / ")
    assert not [r for r in prometheus_config.budget_group(validate({}))["rules"] if r.get("record", "").endswith(":ratio")]


def test_cost_spike_fires_for_a_users_unusual_hour_only(tmp_path):
    """ClaudeCodeCostSpike on the real engine (promtool test rules, one sample an hour): erin spends
    0.5 USD an hour, then 6 in one hour; frank spends 2 every hour (steady, no spike); gina 0.1 an
    hour, then 0.9 (a spike under alertCostSpikeMinUsd, 1 USD)."""
    def hourly(per_hour: float, last: float) -> list:
        values = [round(per_hour * h, 6) for h in range(31)]
        return values + [round(values[-1] + last, 6)]

    series = {_cost(user, "s"): hourly(per_hour, last) for user, per_hour, last in
              (("erin@example.com", 0.5, 6), ("frank@example.com", 2, 2), ("gina@example.com", 0.1, 0.9))}
    rules = prometheus_config.render_rules(validate({}))  # the defaults: factor 3, at least 1 USD
    firing = f'ALERTS{{alertname="{prometheus_config.ALERT_COST_SPIKE}",alertstate="firing"}}'
    expect = [
        {"expr": f"count by (user) ({firing})", "eval_time": "31h", "exp_samples": [{"labels": '{user="erin@example.com"}', "value": 1}]},
        # An hour earlier erin's hours were all alike: nothing fired.
        {"expr": f"count by (user) ({firing})", "eval_time": "30h", "exp_samples": []},
    ]
    result = promtool_test(tmp_path, rules, series, expect)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
