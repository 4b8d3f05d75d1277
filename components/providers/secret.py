"""A per-stack generated secret (the datasource master key when the user sets none).

Generated once on create and kept in state encrypted as a Pulumi secret, so it
is stable across runs and never appears in plain text.

It registered as the anonymous dynamic type until 7636bdc; the alias moves an
existing stack's secret to the real type instead of generating a new key (which
would lock OpenSearch out of the datasource secrets it encrypted).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from components.providers.kit import formerly_anonymous


class GeneratedSecretProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        # 32 hex characters: the SQL plugin's AES master key must be 16, 24 or 32 characters.
        return CreateResult(id_=str(uuid.uuid4()), outs={"value": secrets.token_hex(16)})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)


class GeneratedSecret(Resource, module="clawker", name="GeneratedSecret"):
    value: pulumi.Output[str]

    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(
            GeneratedSecretProvider(),
            name,
            {"value": None},
            formerly_anonymous(pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"]))),
        )
