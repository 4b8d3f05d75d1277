"""Runs the Pulumi program against Pulumi's mock engine and records every registration.

The mock monitor is wrapped so tests can see what the real engine would get:
inputs, parent, explicit and implicit dependencies, retain-on-delete and
import ids. Fast graph checks only; the real engine runs in tests/e2e.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi.runtime.mocks import MockMonitor, Mocks

from components import settings as stack_settings

EXISTING_NETWORK_ID = "existing-clawker-net-id"
GENERATED_KEY = "0123456789abcdef0123456789abcdef"
# The program's lookup of clawker-net (components/services/docker.py existing_network_id).
NETWORK_LOOKUP = "docker:index/getNetwork:getNetwork"


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    inputs: dict
    parent: str
    dependencies: list[str]
    retain_on_delete: bool
    import_id: str
    additional_secret_outputs: list[str] = field(default_factory=list)
    # Alias specs as sent to the engine (each a resource_pb2 Alias) and old-style alias URNs.
    aliases: list = field(default_factory=list)
    alias_urns: list[str] = field(default_factory=list)

    @property
    def documents(self) -> dict:
        """The inputs with the documents the providers carry as JSON text (a template's `body`,
        a collection's `objects` members: components/providers/text_documents.py) as structures."""
        from components.providers import text_documents

        out = {}
        for key, value in self.inputs.items():
            out[key] = text_documents.decode_members(value) if isinstance(value, dict) else text_documents.decode(value)
        return out


class StackMocks(Mocks):
    def __init__(self, network_exists: bool, team_outputs: Optional[dict] = None):
        self.network_exists = network_exists
        # What a StackReference to the team stack reads (the machine role).
        self.team_outputs = team_outputs or {}

    def new_resource(self, args):
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["image_id"] = f"sha256:{args.name}"
            outputs["imageId"] = f"sha256:{args.name}"
        if args.typ == "pulumi-python:dynamic/clawker:GeneratedSecret" and args.name == "datasource-master-key":
            outputs["value"] = GENERATED_KEY
        if args.typ == "pulumi:pulumi:StackReference":
            outputs = {"name": args.inputs.get("name"), "outputs": self.team_outputs, "secretOutputNames": ["machineCredentials"]}
        if args.typ == "pulumi-python:dynamic/clawker:OpenSearchMachineCredential":
            outputs.update(username=f"clawker-machine-{args.inputs['machine']}", password=f"generated-{args.inputs['machine']}")
        return f"{args.name}-id", outputs

    def call(self, args):
        if args.token == NETWORK_LOOKUP:
            if self.network_exists:
                return {"id": EXISTING_NETWORK_ID, "name": args.args["name"], "driver": "bridge"}
            # What the provider answers for a missing network (an invoke failure, not a crash).
            return {}, [("name", f"Could not find docker network: {args.args['name']}")]
        return {}


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks, invoke_delay_s: float = 0.0):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        # What reached the engine, in order: ("register", type, name) for a registration,
        # ("invoke", token, "start") and ("invoke", token, "end") around an invoke, which
        # takes invoke_delay_s (the real docker provider starts before it answers its first one).
        self.events: list[tuple[str, str, str]] = []
        self.invoke_delay_s = invoke_delay_s

    def Invoke(self, request):
        # The SDK sends invokes from a worker thread while its event loop goes on.
        self.events.append(("invoke", request.tok, "start"))
        time.sleep(self.invoke_delay_s)
        try:
            return super().Invoke(request)
        finally:
            self.events.append(("invoke", request.tok, "end"))

    def RegisterResource(self, request):
        self.events.append(("register", request.type, request.name))
        response = super().RegisterResource(request)
        from pulumi.runtime import rpc

        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                inputs=rpc.deserialize_properties(request.object),
                parent=request.parent,
                dependencies=list(request.dependencies),
                retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
                import_id=request.importId,
                additional_secret_outputs=list(request.additionalSecretOutputs),
                aliases=list(request.aliases),
                alias_urns=list(request.aliasURNs),
            )
        )
        return response


class Deployment:
    def __init__(self, registrations: list[Registration], outputs: dict, events: Optional[list] = None):
        self.registrations = registrations
        self.outputs = outputs
        self.events = events or []

    def by_name(self, name: str, type_suffix: Optional[str] = None) -> Registration:
        found = [
            r for r in self.registrations if r.name == name and (type_suffix is None or r.type.endswith(type_suffix))
        ]
        assert len(found) == 1, f"expected one resource named {name!r}, got {[r.type for r in found]}"
        return found[0]

    def registered_during(self, token: str) -> list[str]:
        """The types registered while the first invoke of `token` waited for its answer."""
        start = self.events.index(("invoke", token, "start"))
        end = self.events.index(("invoke", token, "end"), start)
        return [typ for kind, typ, _ in self.events[start + 1 : end] if kind == "register"]

    def of_type(self, type_suffix: str) -> list[Registration]:
        return [r for r in self.registrations if r.type.endswith(type_suffix)]

    def container(self, name: str) -> Registration:
        return self.by_name(name, "container:Container")

    def urn_of(self, name: str) -> str:
        """The URN of the container called `name`, or else of the one resource called `name`."""
        containers = [r for r in self.of_type("container:Container") if r.name == name]
        return containers[0].urn if containers else self.by_name(name).urn

    def ancestors_and_self(self, urn: str) -> set[str]:
        by_urn = {r.urn: r for r in self.registrations}
        out = set()
        while urn in by_urn:
            out.add(urn)
            urn = by_urn[urn].parent
        return out

    def depends_on(self, name: str, other: str) -> bool:
        """Does resource `name` wait for `other` (directly, or via a dependency chain)?"""
        by_urn = {r.urn: r for r in self.registrations}
        target = other if other.startswith("urn:") else self.urn_of(other)
        seen, todo = set(), [name if name.startswith("urn:") else self.urn_of(name)]
        while todo:
            urn = todo.pop()
            if urn in seen:
                continue
            seen.add(urn)
            deps = by_urn[urn].dependencies if urn in by_urn else []
            if target in deps:
                return True
            todo.extend(deps)
        return False


def deploy(
    config: Optional[dict[str, Any]] = None,
    *,
    network_exists: bool = False,
    secret_keys: Optional[tuple[str, ...]] = None,
    team_outputs: Optional[dict] = None,
    invoke_delay_s: float = 0.0,
) -> Deployment:
    """Run components.stack against mocks with the given config (keys without namespace)."""
    from components import stack

    mocks = StackMocks(network_exists, team_outputs)
    monitor = RecordingMonitor(mocks, invoke_delay_s)
    pulumi.runtime.set_mocks(mocks, project="clawker-monitor", stack="unit", preview=False, monitor=monitor)
    namespaced = {f"{stack_settings.CONFIG_NAMESPACE}:{k}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in (config or {}).items()}
    # Keys set with `pulumi config set --secret`: every secret setting given, unless the test says otherwise.
    secret = stack_settings.SECRET_KEYS if secret_keys is None else secret_keys
    pulumi.runtime.set_all_config(namespaced, [f"{stack_settings.CONFIG_NAMESPACE}:{k}" for k in secret if k in (config or {})])
    outputs: dict = {}

    @pulumi.runtime.test
    def run():
        settings = stack_settings.load()
        outputs["built"] = stack.build_for_role(settings)
        from components import agent_env

        outputs["agentEnv"] = agent_env.agent_env(settings)
        outputs["urls"] = agent_env.service_urls(settings)
        outputs["settings"] = settings

    run()
    return Deployment(monitor.registrations, outputs, monitor.events)
