"""Budget alerts delivered for real: a REAL Prometheus 3 evaluating the rendered rules, a REAL
Alertmanager (built from github.com/prometheus/alertmanager by tools/alerting.sh) running the
rendered config, and a local HTTP receiver on 127.0.0.1 standing in for the webhook and for
Slack's incoming webhook. Claude Code's cost counter is pushed over OTLP as agents send it
(delta temporality, user.email / user.account_uuid on the datapoints).

Shown, each counted exactly: one notification per threshold naming the user (0.8 first, then
0.9 and 1.0 once spend grows, 0.8 not again), to both receivers, the Slack one in Slack's
payload shape; nothing for a user under the default budget (control); nothing for a silenced
user while the unsilenced one in the same round is notified (control); the resolved
notification once the spend window has moved past the spend.

Differences from the stack, for speed only: rules are evaluated every second, Alertmanager
waits 1s to group (stack: alertGroupWaitSeconds 30, alertGroupIntervalMinutes 5) and the
daily window is 30 seconds instead of 24 hours (prometheus_config.render_rules' `windows`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

import alerting_tools
from net import free_port
from otlp_sender import send_delta_counters
from test_prometheus_rules import Prom, binary as prometheus_binary, wait_until

from components.services import alertmanager_config, config_file, prometheus_config
from components.settings import validate

DAY_WINDOW = "30s"
COST = {"claude_code.cost.usage": {"unit": "USD", "description": "Cost of the Claude Code session"}}


class Receiver:
    """Records every POST on 127.0.0.1 by path (webhook, slack); answers 200."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    received.append((self.path, body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def webhook(self) -> list[dict]:
        """Webhook notifications as (status, alert labels) per alert."""
        return [body for path, body in list(self.received) if path == "/webhook"]

    def slack(self) -> list[dict]:
        return [body for path, body in list(self.received) if path == "/slack"]

    def stop(self):
        self.server.shutdown()


def notified(bodies: list[dict], user: str, status: str = "firing") -> list[str]:
    """Thresholds of `user`'s budget alerts in webhook notifications of `status`, one entry per notification alert."""
    return sorted(
        a["labels"]["threshold"]
        for b in bodies
        for a in b["alerts"]
        if a["labels"].get("user") == user and a["status"] == status
    )


class Alertmanager:
    def __init__(self, workdir: Path, config: dict, secrets: dict[str, str]):
        secrets_dir = workdir / "secrets"
        secrets_dir.mkdir()
        for name, value in secrets.items():
            (secrets_dir / name).write_text(value)
        (workdir / "alertmanager.yml").write_text(config_file.to_yaml(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "alertmanager.log"
        self.proc = subprocess.Popen(
            [
                alerting_tools.alertmanager(),
                f"--config.file={workdir / 'alertmanager.yml'}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready(self) -> bool:
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text()[-2000:])
            try:
                return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        return wait_until(up, 60, "alertmanager not ready")

    def alerts(self, **filters) -> list[dict]:
        return requests.get(f"{self.url}/api/v2/alerts", params=filters, timeout=10).json()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="clawker-alert-delivery-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def spend(url: str, user: str, usd: float, *, email: bool = True) -> None:
    """One delta export of Claude Code's cost counter for `user`'s session."""
    point = {"session.id": f"s-{user}", "model": "claude-sonnet-4-5", "user.account_uuid": f"acc-{user}"}
    if email:
        point["user.email"] = user
    resource = {"service.name": "claude-code", "project": "clawker", "agent": "ralph", "team.id": "platform"}
    assert send_delta_counters(
        f"{url}/api/v1/otlp", resource=resource, scope="com.anthropic.claude_code", counters=COST,
        rounds=[[("claude_code.cost.usage", usd, point)]],
    )


def test_budget_alerts_reach_webhook_and_slack_once_per_threshold_and_resolve(workdir):
    am_binary, amtool = alerting_tools.alertmanager(), alerting_tools.amtool()
    prom_binary = prometheus_binary()
    receiver = Receiver()
    settings = validate(
        {
            "alertWebhookUrl": f"{receiver.url}/webhook",
            "alertSlackWebhookUrl": f"{receiver.url}/slack",
            "alertSlackChannel": "#ai-spend",
            "budgetDailyUsd": "1",
            "budgetUsers": json.dumps({"alice@example.com": {"dailyUsd": 1}, "carol@example.com": {"dailyUsd": 1}}),
            "alertCostSpikeFactor": "0",
            "alertCostPerHourUsd": "0",
        }
    )
    config = alertmanager_config.render(settings, secrets_dir=str(workdir / "secrets"))
    config["route"].update(group_wait="1s", group_interval="1s")
    am = Alertmanager(workdir, config, alertmanager_config.secret_values(settings))
    prom = None
    try:
        assert am.ready() and am_binary
        rules = prometheus_config.render_rules(settings, windows={"daily": DAY_WINDOW})
        prom = Prom(prom_binary, workdir, rules, alertmanager=f"127.0.0.1:{am.port}")
        assert prom.ready(), prom.log.read_text()[-3000:]
        # Prometheus applies its Alertmanager targets a few seconds after start; an alert that
        # fires before then is sent again only after the resend delay (1 minute).
        wait_until(lambda: prom.api("alertmanagers")["activeAlertmanagers"], 30, "Prometheus found no Alertmanager")

        # carol is silenced before she spends (amtool, as README tells users to).
        silence = subprocess.run(
            [amtool, f"--alertmanager.url={am.url}", "silence", "add", "user=carol@example.com",
             "--comment=on leave", "--author=test", "--duration=1h"],
            capture_output=True, text=True, timeout=30,
        )
        assert silence.returncode == 0, silence.stderr

        # Round 1: alice at 85% of her 1 USD budget; bob (account only, no e-mail: user "acc-bob")
        # at 70% of the 1 USD default, just under its first threshold.
        spend(prom.url, "alice@example.com", 0.85)
        spend(prom.url, "bob", 0.7, email=False)
        wait_until(lambda: notified(receiver.webhook(), "alice@example.com") == ["0.8"], 60, f"no 0.8 notice: {receiver.received}")
        bob = requests.get(
            f"{prom.url}/api/v1/query", params={"query": prometheus_config.spend_series("user", "daily") + '{user="acc-bob"}'}, timeout=10
        ).json()["data"]["result"]
        assert [float(s["value"][1]) for s in bob] == [pytest.approx(0.7)], bob

        # Round 2: alice to 125% (0.9 and 1.0 cross), carol to 200% while silenced.
        spend(prom.url, "alice@example.com", 0.40)
        spend(prom.url, "carol@example.com", 2.0)
        wait_until(
            lambda: notified(receiver.webhook(), "alice@example.com") == ["0.8", "0.9", "1"], 60, f"{receiver.webhook()}"
        )
        wait_until(
            lambda: len([a for a in am.alerts(silenced="true") if a["labels"].get("user") == "carol@example.com"
                         and a["status"]["state"] == "suppressed"]) == 3,
            60, f"carol's alerts not suppressed: {am.alerts()}",
        )
        # One notification per threshold and receiver: the same count on Slack.
        wait_until(lambda: len(receiver.slack()) >= 3, 30, f"slack got {receiver.slack()}")
        slack_firing = [b for b in receiver.slack() if "FIRING" in b["attachments"][0]["title"]]
        assert len(slack_firing) == 3, receiver.slack()
        for body in slack_firing:
            (attachment,) = body["attachments"]
            assert body["channel"] == "#ai-spend"
            assert attachment["title"].startswith("[FIRING:1] ClaudeCodeUserBudget alice@example.com"), attachment
            assert "reached" in attachment["text"] and "budget of 1 USD" in attachment["text"], attachment
        # The 1.0 notice carries spend and projection: 1.25 USD so far, 30.00 a day at the last hour's pace.
        (critical,) = [a for b in receiver.webhook() for a in b["alerts"] if a["labels"]["threshold"] == "1"]
        assert critical["labels"]["severity"] == "critical" and critical["labels"]["budget_usd"] == "1"
        assert "spent 1.25 USD" in critical["annotations"]["description"]
        assert "would be 30.00 USD" in critical["annotations"]["description"]
        assert {b["receiver"] for b in receiver.webhook()} == {"clawker-warning", "clawker-critical"}

        # The spend window moves past the spend: each firing alert is resolved, once.
        wait_until(
            lambda: notified(receiver.webhook(), "alice@example.com", "resolved") == ["0.8", "0.9", "1"],
            90, f"not resolved: {receiver.webhook()}",
        )
        webhook = receiver.webhook()
        assert notified(webhook, "alice@example.com") == ["0.8", "0.9", "1"]  # never a second firing notice
        # bob is under the default budget: counted (his spend is recorded) but never alerted.
        assert notified(webhook, "acc-bob") == [] and notified(webhook, "acc-bob", "resolved") == []
        assert not [a for a in am.alerts() if a["labels"].get("user") == "acc-bob"]
        assert notified(webhook, "carol@example.com") == []  # silenced
        assert not [b for b in receiver.slack() if "carol" in json.dumps(b) or "bob" in json.dumps(b)]
        assert len([b for b in receiver.slack() if "RESOLVED" in b["attachments"][0]["title"]]) == 3
    finally:
        if prom:
            prom.stop()
        am.stop()
        receiver.stop()
