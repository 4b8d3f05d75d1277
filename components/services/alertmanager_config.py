"""Alertmanager's config file, built as Python data from the settings.

Receiver URLs and the SMTP password never appear in it: each is a Pulumi secret
written to its own file in the container (SECRET_FILES), and the config names the
file (Alertmanager's url_file, api_url_file and auth_password_file fields).
"""

from __future__ import annotations

from components.settings import Settings

CONFIG_PATH = "/etc/alertmanager/alertmanager.yml"
SECRETS_DIR = "/etc/alertmanager/secrets"
DATA_DIR = "/alertmanager"

RECEIVER_KINDS = ("webhook", "slack", "email")
# Which setting holds each secret, and the file it is written to (in SECRETS_DIR).
SECRET_FILES = {
    "alertWebhookUrl": "webhook-url",
    "alertSlackWebhookUrl": "slack-webhook-url",
    "alertEmailPassword": "smtp-password",
}
# Alerts of a severity without a route of its own go to the warning receiver.
SEVERITIES = ("critical", "warning")

SLACK_TITLE = '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}{{ with .CommonLabels.user }} {{ . }}{{ end }}{{ with .CommonLabels.team }} team {{ . }}{{ end }}'
SLACK_TEXT = "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n{{ end }}"


def receiver_name(severity: str) -> str:
    return f"clawker-{severity}"


def secret_values(settings: Settings) -> dict[str, str]:
    """The secret file contents by file name (only the ones whose setting is set)."""
    values = {
        "alertWebhookUrl": settings.alert_webhook_url,
        "alertSlackWebhookUrl": settings.alert_slack_webhook_url,
        "alertEmailPassword": settings.alert_email_password,
    }
    return {SECRET_FILES[key]: value for key, value in values.items() if value}


def _notifier(kind: str, settings: Settings, secrets_dir: str) -> dict:
    def secret(key: str) -> str:
        return f"{secrets_dir}/{SECRET_FILES[key]}"

    if kind == "webhook":
        return {"send_resolved": True, "url_file": secret("alertWebhookUrl")}
    if kind == "slack":
        slack = {"send_resolved": True, "api_url_file": secret("alertSlackWebhookUrl"), "title": SLACK_TITLE, "text": SLACK_TEXT}
        if settings.alert_slack_channel:
            slack["channel"] = settings.alert_slack_channel
        return slack
    email = {
        "send_resolved": True,
        "to": settings.alert_email_to,
        "from": settings.alert_email_from,
        "smarthost": settings.alert_email_smarthost,
        "require_tls": settings.alert_email_require_tls,
    }
    if settings.alert_email_username:
        email["auth_username"] = settings.alert_email_username
    if settings.alert_email_password:
        email["auth_password_file"] = secret("alertEmailPassword")
    return email


def _receiver(severity: str, chosen: str, settings: Settings, secrets_dir: str) -> dict:
    receiver: dict = {"name": receiver_name(severity)}
    for kind in RECEIVER_KINDS:
        if kind in chosen.split(",") and settings.alert_receivers[kind]:
            receiver[f"{kind}_configs"] = [_notifier(kind, settings, secrets_dir)]
    return receiver


def render(settings: Settings, secrets_dir: str = SECRETS_DIR) -> dict:
    chosen = {"critical": settings.alert_critical_receivers, "warning": settings.alert_warning_receivers}
    return {
        "route": {
            "receiver": receiver_name("warning"),
            "group_by": settings.alert_group_by.split(","),
            "group_wait": f"{settings.alert_group_wait_seconds}s",
            "group_interval": f"{settings.alert_group_interval_minutes}m",
            "repeat_interval": f"{settings.alert_repeat_interval_hours}h",
            "routes": [{"receiver": receiver_name("critical"), "matchers": ['severity="critical"']}],
        },
        "receivers": [_receiver(severity, chosen[severity], settings, secrets_dir) for severity in SEVERITIES],
    }
