"""A unit's explore objects as one resource, and a saved-object bundle, under the real Pulumi
engine (issue 21), against the Dashboards double: what only the engine shows is that
`pulumi preview --diff` still names the object and the field that changed inside the one
resource, as an in-place update, and that a no-op preview holds after `up`. Each object is
one JSON text in the engine's hands (text_documents.py): `preview --json`'s detailedDiff
names the changed object, `preview --diff` prints its changed field with both values (a
`(json)` diff) and nothing of the unchanged objects.
"""

from __future__ import annotations

import json
import re
import textwrap

from conftest_dashboards import dashboards_double  # noqa: F401  (fixture)
from test_dashboards_providers import EXPLORE, create_workspace
from test_opensearch_engine import Program, _toolchain

PROGRAM = textwrap.dedent(
    '''
    """Test program: the claude-code unit's explore objects in one collection."""
    import copy

    import pulumi

    from components.providers import dashboards as dp

    config = pulumi.Config()
    every = {dp.object_key(so): so for so in dp.load_saved_objects()}
    objects = [so for so in every.values() if so["type"] == "explore"]
    # A visualization and the index pattern it reads, imported as a bundle.
    vis = copy.deepcopy(every["visualization/clawker-net-filters"])
    imported = [vis, every["index-pattern/clawker-envoy"]]
    if config.get("retitle"):
        objects[0] = copy.deepcopy(objects[0])
        objects[0]["attributes"]["title"] = config.get("retitle")
        vis["attributes"]["visState"]["title"] = config.get("retitle") + " (visualization)"
    dp.ExploreCollection(
        "explore-objects", url=config.require("endpoint"), workspace_id=config.require("workspace"),
        saved_objects=objects, ready_timeout_s=60,
    )
    dp.SavedObjectBundle(
        "saved-objects", url=config.require("endpoint"), workspace_id=config.require("workspace"),
        saved_objects=imported, ready_timeout_s=60,
    )
    '''
)


def test_explore_collection_diff_names_object_and_field_under_the_engine(dashboards_double, tmp_path):
    double = dashboards_double
    _, _, ws = create_workspace(double)
    program = Program(tmp_path, _toolchain(), double.url, source=PROGRAM)
    # `--`: Dashboards makes ids such as "-Le-GJ", which the CLI would read as flags.
    program.run("config", "set", "workspace", "--", ws.id)
    program.run("up", "--yes", "--skip-preview")
    first = EXPLORE[0]
    path = f"/w/{ws.id}/api/saved_objects/explore/{first['id']}"
    assert double.call("GET", path).json()["attributes"]["title"] == first["attributes"]["title"]
    program.run("preview", "--expect-no-changes")

    program.run("config", "set", "retitle", "Retitled panel")
    # The engine's detailed diff names each changed object by type/id (detailed_diff.py) ...
    steps = {s["urn"].rsplit("::", 1)[-1]: s for s in json.loads(program.run("preview", "--json").stdout)["steps"] if s["op"] != "same"}
    assert sorted(steps) == ["explore-objects", "saved-objects"]
    assert {s["op"] for s in steps.values()} == {"update"}
    update = {"kind": "update", "inputDiff": True}
    assert steps["explore-objects"]["detailedDiff"] == {f'objects["explore/{first["id"]}"]': update}
    assert steps["saved-objects"]["detailedDiff"] == {'objects["visualization/clawker-net-filters"]': update}
    # ... and `preview --diff` prints the changed field with both values, even inside visState,
    # and nothing of the unchanged objects.
    preview = program.run("preview", "--diff").stdout
    assert f"explore/{first['id']}: (json)" in preview, preview
    # (the display pads a key to its siblings' width)
    assert re.search(rf'~ title +: "{re.escape(first["attributes"]["title"])}" => "Retitled panel"\n', preview), preview
    assert "visualization/clawker-net-filters: (json)" in preview, preview
    assert re.search(r'~ title +: "Machine" => "Retitled panel \(visualization\)"\n', preview), preview
    assert f"explore/{EXPLORE[1]['id']}" not in preview and "index-pattern/clawker-envoy" not in preview, preview
    program.run("up", "--yes", "--skip-preview")
    assert double.call("GET", path).json()["attributes"]["title"] == "Retitled panel"
    vis_path = f"/w/{ws.id}/api/saved_objects/visualization/clawker-net-filters"
    assert json.loads(double.call("GET", vis_path).json()["attributes"]["visState"])["title"] == "Retitled panel (visualization)"
    program.run("preview", "--expect-no-changes")
