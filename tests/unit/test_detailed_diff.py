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


def test_a_bundle_names_each_changed_object_of_its_json_texts_and_only_those():
    """Each bundle object is one JSON text in the engine's hands (text_documents.py): the diff
    names the changed object (`preview --diff` prints its changed fields itself,
    tests/providers/test_dashboards_engine.py), an added one as added, nothing unchanged, and
    a state written before (nested objects, JSON-text attributes as text) names the same."""
    import json

    from components.providers import dashboards as dp
    from components.providers import text_documents as td

    vis, other = [so for so in dp.load_saved_objects() if so["type"] == "visualization"][:2]
    key = dp.object_key(vis)
    base = {"url": "http://127.0.0.1:5601", "workspace_id": "w"}
    declared = {dp.object_key(so): dp.declared_object(so) for so in (vis, other)}
    edited = dp.declared_object(vis)
    edited["attributes"]["visState"]["title"] = "edited"
    edited["attributes"]["title"] = "edited too"
    new = {"type": "index-pattern", "id": "new", "attributes": {"title": "n"}, "references": []}
    news = {**base, "objects": td.encode_members({**declared, key: edited, "index-pattern/new": new})}
    provider = dp.SavedObjectBundleProvider()
    for olds in (
        {**base, "objects": td.encode_members(declared)},  # this release's state
        {**base, "objects": {dp.object_key(so): dp.stored_object(so) for so in (vis, other)}},  # c35faae's
        {**base, "objects": {dp.object_key(so): so for so in (vis, other)}},  # earlier ones'
    ):
        assert provider.diff("w/bundle", olds, {**olds}).changes is False
        assert provider.diff("w/bundle", olds, {**news, "objects": td.encode_members(declared)}).changes is False
        assert provider.diff("w/bundle", olds, news).changes is True
        assert dd._take() == {f'objects["{key}"]': "update", 'objects["index-pattern/new"]': "add"}
    assert json.loads(news["objects"][key])["attributes"]["visState"]["title"] == "edited"
