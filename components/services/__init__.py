"""The services that run: one ComponentResource per container (collector, opensearch,
dashboards, prometheus), the container config files they carry (config_file,
prometheus_config; the collector's is components/collector_config.py), and the Docker
helpers and network they share (docker)."""
