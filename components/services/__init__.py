"""The services that run: one ComponentResource per container (collector, opensearch,
dashboards, prometheus, alertmanager), the container config files they carry (config_file,
collector_config, prometheus_config, alertmanager_config), and the Docker helpers and network they
share (docker)."""
