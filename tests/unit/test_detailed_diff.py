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
