"""The engine's property paths and change kinds a Dashboards diff offers (detailed_diff.py);
the engine itself reading them is tests/providers/test_dashboards_engine.py."""

from components.providers import detailed_diff as dd
from components.providers.dashboards.base import detailed_changes


def test_property_paths_quote_what_is_not_an_identifier():
    assert dd.property_path(("objects", "explore/a.b", "attributes", "title")) == 'objects["explore/a.b"].attributes.title'
    assert dd.property_path(("references", 0, "id")) == "references[0].id"
    assert dd.property_path(("objects", 'say "hi"\\')) == 'objects["say \\"hi\\"\\\\"]'


def test_changes_name_added_deleted_and_updated_paths_and_replacing_keys():
    olds = {"url": "http://a", "object_id": "x", "objects": {"explore/a": {"title": "t", "refs": [1, 2]}, "explore/gone": {}}}
    news = {"url": "http://a", "object_id": "y", "objects": {"explore/a": {"title": "u", "refs": [1, 3]}, "explore/new": {}}}
    kinds = dd.kinds_of(detailed_changes(olds, news, ("url", "object_id", "objects")), ("object_id",))
    assert kinds == {
        "object_id": "update-replace",
        'objects["explore/a"].refs[1]': "update",
        'objects["explore/a"].title': "update",
        'objects["explore/gone"]': "delete",
        'objects["explore/new"]': "add",
    }
    assert detailed_changes(olds, olds, ("url", "object_id", "objects")) == []


def test_install_touches_nothing_outside_the_dynamic_provider_process():
    import sys

    before = getattr(sys.modules["__main__"], "proto", None)
    assert dd.install() is False
    assert getattr(sys.modules["__main__"], "proto", None) is before


def test_a_bundle_names_a_change_inside_json_text_down_to_that_attribute():
    """The bundle carries visState and the like as JSON text: the engine is given the attribute,
    not a path inside the text it cannot read (it would print empty braces)."""
    import json

    from components.providers import dashboards as dp

    (vis,) = [so for so in dp.load_saved_objects() if so["type"] == "visualization"][:1]
    key = dp.object_key(vis)
    olds = {"url": "http://127.0.0.1:5601", "workspace_id": "w", "objects": {key: dp.stored_object(vis)}}
    edited = dp.stored_object(vis)
    state = json.loads(edited["attributes"]["visState"])
    state["title"] = "edited"
    edited["attributes"]["visState"] = json.dumps(state)
    edited["attributes"]["title"] = "edited too"
    news = {**olds, "objects": {key: edited, "index-pattern/new": {"type": "index-pattern", "id": "new", "attributes": {"title": "n"}}}}
    provider = dp.SavedObjectBundleProvider()
    old, new = provider._normalised(olds), provider._normalised(news)
    changes = [provider._as_input_path(seg, kind) for seg, kind in detailed_changes(old, new, provider.DIFF_KEYS)]
    assert dd.kinds_of(changes) == {
        f'objects["{key}"].attributes.visState': "update",
        f'objects["{key}"].attributes.title': "update",
        'objects["index-pattern/new"]': "add",
    }
