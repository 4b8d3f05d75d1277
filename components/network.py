"""clawker-net: shared with the rest of Clawker, so adopted when it exists and never removed."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components import names


def existing_network_id(name: str) -> Optional[str]:
    """The id of the Docker network called `name`, or None when there is none."""
    try:
        return docker.get_network(name=name).id
    except Exception as exc:  # the provider reports a missing network as an invoke error
        text = str(exc).lower()
        if any(phrase in text for phrase in ("not found", "no such network", "could not find")):
            return None
        raise


def clawker_network(opts: Optional[pulumi.ResourceOptions] = None) -> docker.Network:
    """Declare clawker-net: import it if Docker already has it, create it otherwise.

    retain_on_delete keeps it on `pulumi destroy`: agent containers outside this
    stack are attached to it. Only the name is declared so that a network made
    by `clawker` or by hand imports without an input mismatch.
    """
    network_id = existing_network_id(names.NETWORK)
    return docker.Network(
        names.NETWORK,
        name=names.NETWORK,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(retain_on_delete=True, import_=network_id),
        ),
    )
