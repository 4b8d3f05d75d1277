import yaml

from components import config_file, prometheus_config
from components.settings import validate


def test_prometheus_scrapes_the_collector_metrics_port():
    for port in (8889, 18889):
        config = yaml.safe_load(config_file.to_yaml(prometheus_config.render(validate({"collectorMetricsPort": port}))))
        (job,) = config["scrape_configs"]
        assert job["static_configs"] == [{"targets": [f"otel-collector:{port}"]}]


def test_prometheus_globals_and_otlp_promotion():
    config = prometheus_config.render(validate({}))
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    assert config["otlp"]["promote_resource_attributes"] == ["project", "agent", "service.name", "service.version"]
