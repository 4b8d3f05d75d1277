"""The previous release's program, for the upgrade check of the lifecycle module (issue 13).

Pulumi keeps, per resource, its type (in the URN) and, for a dynamic resource, its
provider pickled by module path (`__provider`). Moving a provider class or renaming
a type is invisible to a fresh stack and breaks an existing one. So the lifecycle's
stack is first brought up by the program of PREVIOUS_RELEASE (a fixed commit of
main, taken with `git archive` and run with this checkout's virtualenv and
toolchain: only the program differs), and this checkout's program then takes it
over: its preview must plan no replacement (containers aside: RECREATED_TYPES), creation
or deletion (aliases carry renamed types), and its refresh reads every resource through the providers the
previous release pickled. Every later lifecycle step runs on that upgraded stack.

One exception, stated exactly (issue 21): that release held one resource per explore
(PromQL panel) object; this one holds a unit's explore objects in one resource. The
engine adopts at most one old resource per new one (pulumi/pulumi
pkg/resource/deploy/step_generator.go takes the first alias that matches), so the
upgrade plans the unit's collection as a create and each old per-object resource as a
delete. Such a delete passes only when the old state is retain_on_delete (shown as
`delete[retain]`: the engine forgets it, no call reaches Dashboards) and a collection
of this release holds that object (`retained_explore_handover`); the lifecycle's later
panel proofs read every explore object from Dashboards.

Move PREVIOUS_RELEASE forward when a release ships. It needs the repository's
history (not a shallow clone); without it the test fails under CI=true.
"""

from __future__ import annotations

import base64
import io
import json
import pathlib
import pickletools
import subprocess
import tarfile

from prerequisites import unavailable
from pulumi_cli import ROOT, PulumiStack, Result

# main before the providers were split into packages and the Dashboards types renamed (2026-11-30).
PREVIOUS_RELEASE = "7636bdcb4daacd9aefe3fef9fba1bd0a918492f2"
# Where that release's providers live, as its stacks store them.
STORED_PROVIDER_MODULES = {"components.providers.opensearch", "components.providers.dashboards"}
# Ops that mean the engine would destroy something that exists, or make a second one.
FORBIDDEN_OPS = {"replace", "create-replacement", "delete-replaced", "create", "delete", "discard"}
REPLACE_OPS = {"replace", "create-replacement", "delete-replaced"}
# A container holds no data (its data is on a named volume, a resource of its own that
# stays forbidden to replace), and a changed config file uploaded into it re-creates it:
# a release whose rendered configs differ re-creates those containers, as any setting
# change does.
RECREATED_TYPES = {"docker:index/container:Container"}


def program(dest: pathlib.Path) -> pathlib.Path:
    """PREVIOUS_RELEASE's tree in dest, runnable with this checkout's virtualenv."""
    proc = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE], capture_output=True)
    if proc.returncode != 0:
        unavailable(f"git cannot produce commit {PREVIOUS_RELEASE} of this repository (a shallow clone?): "
                    f"{proc.stderr.decode()[-500:]}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    (dest / "venv").symlink_to(ROOT / "venv")
    return dest


def stored_provider_modules(stack: PulumiStack) -> set[str]:
    """The module paths named by every `__provider` pickle in the stack's state."""
    state = json.loads(stack.run("stack", "export", "--show-secrets").stdout)
    found = set()
    for res in state["deployment"].get("resources", []):
        pickled = (res.get("inputs") or {}).get("__provider")
        if isinstance(pickled, dict):  # a secret: {"4dabf18193072939515e22adb298388d": ..., "plaintext": "<json>"}
            pickled = json.loads(pickled.get("plaintext", "null"))
        if isinstance(pickled, str):
            # A class reference: the first string the pickle pushes is the module path.
            strings = [arg for _op, arg, _pos in pickletools.genops(base64.b64decode(pickled)) if isinstance(arg, str)]
            found.add(strings[0])
    return found


def added_since_previous_release() -> set[str]:
    """Resource names this release adds beside what PREVIOUS_RELEASE made: created on upgrade,
    never in place of anything (README "Retention": the daily indices' templates, the route and
    move pipelines, the traces' retention policy). A renamed resource would still show its delete."""
    from components import names
    from components.bootstrap import opensearch as boot

    streams = names.LOG_INDICES + (names.TRACES_INDEX,)
    added = {f"opensearch-index-template-{boot.daily_template_name(i)}" for i in streams}
    added |= {f"opensearch-pipeline-{names.route_pipeline(i)}" for i in streams}
    added |= {f"opensearch-pipeline-{names.DAY_ROUTE_PIPELINE}", f"opensearch-pipeline-{names.DAY_MOVE_PIPELINE}"}
    added.add(f"opensearch-ism-policy-{names.TRACES_ISM_POLICY}")
    # Envoy's empty resource fields removed as clawker monitor removed them (issue 18 item 2).
    added.add("opensearch-pipeline-clawker-envoy-resource")
    # Units (README "Units"): each unit's saved objects are a bundle of their own. claude-code's
    # were in the core bundle, which now hands them over (handed_over) instead of deleting them.
    from components import units

    added |= {f"dashboards-saved-objects-{unit.name}" for unit in units.default_units()}
    # Issue 21: each unit's explore (PromQL) panels are one resource, created on upgrade over the
    # objects the per-object resources wrote (retained_explore_handover).
    added |= {f"dashboards-explore-objects-{unit.name}" for unit in units.default_units() if _unit_has_explore(unit)}
    return added


def _unit_has_explore(unit) -> bool:
    from components.providers import dashboards as dp

    return any(so["type"] == "explore" for so in dp.load_saved_objects([unit.dashboards_dir()]))


EXPLORE_OBJECT_PREFIX = "dashboards-explore-"


def retained_explore_handover(step: dict) -> bool:
    """A delete of a per-object explore resource the previous release made, retain_on_delete
    (so the engine only forgets it), whose object an explore collection of this release holds."""
    name = step["urn"].rsplit("::", 1)[-1]
    old = step.get("oldState") or {}
    return (
        step.get("op") == "delete"
        and name.startswith(EXPLORE_OBJECT_PREFIX)
        and name[len(EXPLORE_OBJECT_PREFIX):] in _explore_ids()
        and old.get("retainOnDelete") is True
    )


def _explore_ids() -> set[str]:
    from components.providers import dashboards as dp

    return {so["id"] for so in dp.load_saved_objects() if so["type"] == "explore"}


def _previous_explore_ids() -> set[str]:
    """The explore objects PREVIOUS_RELEASE declared (its opensearch_assets/dashboards/*.json)."""
    git = ["git", "-C", str(ROOT)]
    listing = subprocess.run([*git, "ls-tree", "--name-only", PREVIOUS_RELEASE, "opensearch_assets/dashboards/"], capture_output=True, text=True)
    if listing.returncode != 0:
        unavailable(f"git cannot list commit {PREVIOUS_RELEASE} of this repository (a shallow clone?): {listing.stderr[-500:]}")
    ids = set()
    for path in listing.stdout.split():
        if path.endswith(".json"):
            body = subprocess.run([*git, "show", f"{PREVIOUS_RELEASE}:{path}"], capture_output=True, text=True, check=True).stdout
            ids |= {so["id"] for so in json.loads(body).get("objects", []) if so["type"] == "explore"}
    return ids


def forbidden_steps(preview_json: Result) -> dict[str, str]:
    """URN -> op of every step of a `preview --json` that replaces, creates or deletes
    (creates of what this release adds, added_since_previous_release, and the retained
    per-object explore resources a collection took over, retained_explore_handover, excepted)."""
    steps = json.loads(preview_json.stdout).get("steps", [])
    assert steps, "the preview planned nothing at all"
    added = added_since_previous_release()
    return {
        s["urn"]: s["op"]
        for s in steps
        if s.get("op") in FORBIDDEN_OPS
        and not (s.get("op") in REPLACE_OPS and s["urn"].split("::")[-2].split("$")[-1] in RECREATED_TYPES)
        and not (s["op"] == "create" and s["urn"].rsplit("::", 1)[-1] in added)
        and not retained_explore_handover(s)
    }
