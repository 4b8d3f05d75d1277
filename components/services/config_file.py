"""Config files for containers: dumped from Python data with PyYAML and uploaded
into the container at creation, so nothing is left on the host. A changed
upload replaces just that container."""

from __future__ import annotations

import pulumi_docker as docker
import yaml


# libyaml's emitter when PyYAML was built with it: the same text, several times faster
# (u:test_config_file.py holds the two to the same bytes).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(config: dict) -> str:
    return yaml.dump(config, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


def upload(path: str, config: dict) -> docker.ContainerUploadArgs:
    return docker.ContainerUploadArgs(file=path, content=to_yaml(config), permissions="0644")
