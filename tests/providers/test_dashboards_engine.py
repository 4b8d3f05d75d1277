"""A unit's explore objects as one resource under the real Pulumi engine (issue 21), against
the Dashboards double: what only the engine shows is that `pulumi preview --diff` still
names the object and the field that changed inside the one resource, as an in-place
update, and that a no-op preview holds after `up`.
"""

from __future__ import annotations

import json
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
    objects = [so for so in dp.load_saved_objects() if so["type"] == "explore"]
    if config.get("retitle"):
        objects[0] = copy.deepcopy(objects[0])
        objects[0]["attributes"]["title"] = config.get("retitle")
    dp.ExploreCollection(
        "explore-objects", url=config.require("endpoint"), workspace_id=config.require("workspace"),
        saved_objects=objects, ready_timeout_s=60,
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
    # The engine's detailed diff names the object by type/id and the field (detailed_diff.py) ...
    (step,) = [s for s in json.loads(program.run("preview", "--json").stdout)["steps"] if s["op"] != "same"]
    assert step["op"] == "update"
    assert step["detailedDiff"] == {f'objects["explore/{first["id"]}"].attributes.title': {"kind": "update", "inputDiff": True}}
    # ... and `preview --diff` prints that field with both values, nothing of the unchanged objects.
    preview = program.run("preview", "--diff").stdout
    assert f"explore/{first['id']}" in preview, preview
    assert f'~ title: "{first["attributes"]["title"]}" => "Retitled panel"' in preview, preview
    assert f"explore/{EXPLORE[1]['id']}" not in preview and "visualization" not in preview, preview
    program.run("up", "--yes", "--skip-preview")
    assert double.call("GET", path).json()["attributes"]["title"] == "Retitled panel"
    program.run("preview", "--expect-no-changes")
