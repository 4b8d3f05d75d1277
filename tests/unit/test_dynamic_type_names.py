"""Every Dashboards resource registers under a real type name, with an alias to the
anonymous `pulumi-python:dynamic:Resource` type it had until 7636bdc, so the engine
moves an existing stack's resources to the new type instead of replacing them
(the e2e proof: test_a0 of tests/e2e/test_stack_lifecycle.py, tests/e2e/previous_release.py)."""

from __future__ import annotations

from stack_harness import deploy

from components.providers.kit import ANONYMOUS_DYNAMIC_TYPE

RENAMED = {
    "dashboards-data-connection": "pulumi-python:dynamic/clawker:DashboardsDataConnection",
    "dashboards-workspace": "pulumi-python:dynamic/clawker:DashboardsWorkspace",
    "dashboards-saved-objects": "pulumi-python:dynamic/clawker:DashboardsSavedObjectBundle",
}


def _alias_types(reg) -> set[str]:
    types = {a.spec.type for a in reg.aliases if a.WhichOneof("alias") == "spec" and a.spec.type}
    types |= {urn.split("::")[-2].rsplit("$", 1)[-1] for urn in reg.alias_urns}
    return types


def test_dashboards_resources_have_real_types_and_an_alias_to_the_anonymous_one():
    dep = deploy()
    explore = [r for r in dep.registrations if r.name.startswith("dashboards-explore-")]
    assert explore
    regs = [dep.by_name(name) for name in RENAMED] + explore
    for reg in regs:
        expected = RENAMED.get(reg.name, "pulumi-python:dynamic/clawker:DashboardsExploreCollection")
        assert reg.type == expected
        assert ANONYMOUS_DYNAMIC_TYPE in _alias_types(reg), f"{reg.name}: no alias to {ANONYMOUS_DYNAMIC_TYPE}"
        # Only the type moves: the alias keeps the resource's name and parent.
        for alias in reg.aliases:
            if alias.WhichOneof("alias") == "spec":
                assert alias.spec.name in ("", reg.name)


def test_no_resource_of_ours_is_left_anonymous_except_the_generated_secret():
    dep = deploy()
    anonymous = {r.name for r in dep.registrations if r.type == ANONYMOUS_DYNAMIC_TYPE}
    assert anonymous <= {"datasource-master-key"}


def test_the_generated_secret_has_a_real_type_and_an_alias_to_the_anonymous_one():
    reg = deploy().by_name("datasource-master-key")
    assert reg.type == "pulumi-python:dynamic/clawker:GeneratedSecret"
    assert ANONYMOUS_DYNAMIC_TYPE in _alias_types(reg)


def test_no_resource_of_ours_is_left_anonymous():
    dep = deploy()
    assert {r.name for r in dep.registrations if r.type == ANONYMOUS_DYNAMIC_TYPE} == set()
