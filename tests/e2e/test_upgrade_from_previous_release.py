"""A stack brought up by the previous release keeps working under this one (issue 13, item 2).

Pulumi keeps, per resource, its type (in the URN) and, for a dynamic resource, its
provider pickled by module path (`__provider`). Moving a provider class or renaming
a type is invisible to a fresh stack and breaks an existing one, so this module
brings ONE stack up with the program of PREVIOUS_RELEASE (a fixed commit of main,
taken with `git archive` into a temporary directory and run with this checkout's
virtualenv and toolchain), then drives that same state with this checkout's program:

- `preview` plans no replacement, creation or deletion of anything (aliases carry
  renamed types; every step is `same` or an in-place `update`);
- `refresh` reads every resource back through the providers unpickled from the
  previous release's module paths (the state shows them before the refresh);
- `preview --expect-no-changes` after it, then `up` and `destroy` succeed.

Pin PREVIOUS_RELEASE forward when a release ships; keep it at a commit whose
program ran on this toolchain.
"""

from __future__ import annotations

import base64
import io
import json
import pathlib
import pickletools
import subprocess
import tarfile

import pytest

from conftest import remove_stack_leftovers
from components import names
from prerequisites import unavailable
from pulumi_cli import ROOT, PulumiStack, inspect

# main before the providers were split into packages and types renamed (2026-11-30).
PREVIOUS_RELEASE = "7636bdcb4daacd9aefe3fef9fba1bd0a918492f2"
# Ops that mean the engine would destroy something that exists, or make a second one.
FORBIDDEN_OPS = {"replace", "create-replacement", "delete-replaced", "create", "delete", "discard"}
SERVICES = (names.COLLECTOR, names.PROMETHEUS, names.OPENSEARCH, names.DASHBOARDS)


def _previous_program(dest: pathlib.Path) -> pathlib.Path:
    """PREVIOUS_RELEASE's tree, runnable with this checkout's virtualenv."""
    proc = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE],
                          capture_output=True)
    if proc.returncode != 0:
        unavailable(f"git cannot produce commit {PREVIOUS_RELEASE} of this repository (a shallow clone?): "
                    f"{proc.stderr.decode()[-500:]}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    # Same pinned requirements, same toolchain: only the program differs.
    (dest / "venv").symlink_to(ROOT / "venv")
    return dest


def _stored_provider_modules(stack: PulumiStack) -> set[str]:
    """The module paths named by every `__provider` pickle in the stack's state."""
    state = json.loads(stack.run("stack", "export", "--show-secrets").stdout)
    found = set()
    for res in state["deployment"].get("resources", []):
        pickled = (res.get("inputs") or {}).get("__provider")
        if isinstance(pickled, dict):  # a secret, shown as {"4dabf18193072939515e22adb298388d": ..., "plaintext": ...}
            pickled = json.loads(pickled.get("plaintext", "null"))
        if isinstance(pickled, str):
            # A class reference: the first string the pickle pushes is the module path.
            strings = [arg for op, arg, _ in pickletools.genops(base64.b64decode(pickled)) if isinstance(arg, str)]
            found.add(strings[0])
    return found


@pytest.fixture(scope="module")
def stacks(tmp_path_factory, toolchain_bin, docker_engine):
    remove_stack_leftovers(remove_network=True)
    work = tmp_path_factory.mktemp("upgrade")
    old_dir = _previous_program(tmp_path_factory.mktemp("previous-release"))
    old = PulumiStack("e2e-upgrade", work, toolchain_bin, project_dir=old_dir)
    new = old.with_program(ROOT)
    yield old, new
    new.run("destroy", "--yes", "--skip-preview", check=False)
    new.remove()
    remove_stack_leftovers(remove_network=True)


def test_a_the_previous_release_brings_the_stack_up(stacks):
    old, _ = stacks
    old.up()
    for name in SERVICES:
        info = inspect("container", name)
        assert info and info["State"]["Running"], f"{name} is not running"
    # The state holds the previous release's provider paths (so the next steps exercise them).
    assert {"components.providers.opensearch", "components.providers.dashboards"} <= _stored_provider_modules(old)


def test_b_this_release_previews_no_replacement(stacks):
    _, new = stacks
    result = new.run("preview", "--json")
    steps = json.loads(result.stdout).get("steps", [])
    assert steps, "the preview planned nothing at all"
    bad = {s["urn"]: s["op"] for s in steps if s.get("op") in FORBIDDEN_OPS}
    assert bad == {}, f"this release would replace, create or delete resources of an existing stack: {bad}"


def test_c_refresh_reads_through_the_stored_providers(stacks):
    _, new = stacks
    new.refresh()
    new.preview("--expect-no-changes")


def test_d_up_then_destroy(stacks):
    _, new = stacks
    new.up()
    new.preview("--expect-no-changes")
    new.run("destroy", "--yes", "--skip-preview")
    for name in SERVICES:
        assert inspect("container", name) is None, f"{name} survived destroy"
    # Data volumes survive destroy (SPEC); the fixture purges them afterwards.
    assert inspect("volume", names.OPENSEARCH_VOLUME) is not None
