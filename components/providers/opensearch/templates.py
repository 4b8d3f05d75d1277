"""Component and index templates (`_component_template/<name>`, `_index_template/<name>`)."""

from __future__ import annotations

from components.providers.opensearch.base import _AssetProvider, _DocumentResource, _only_entry
from components.providers.opensearch.documents import canonical_template, mapping_problems


def _template_problems(body: dict) -> list[str]:
    problems = []
    template = body.get("template", {})
    if not isinstance(template, dict):
        return ["template must be an object"]
    if "settings" in template and not isinstance(template["settings"], dict):
        problems.append("template.settings must be an object")
    if "mappings" in template:
        problems += mapping_problems(template["mappings"], "template.mappings")
    return problems


class _TemplateProvider(_AssetProvider):
    """A template at `<route>/<name>`; GET answers {<list_key>: [{name, <item_key>: ...}]}."""
    TEXT_PROPERTIES = ("body",)  # one JSON text in the engine's hands (text_documents.py)

    route = list_key = item_key = ""

    def path(self, name: str) -> str:
        return f"{self.route}/{name}"

    def fetch(self, client, name):
        answer = client.request("GET", self.path(name), missing_ok=True)
        return _only_entry(answer, self.list_key, self.item_key, name)

    def normalise(self, live, desired):
        return canonical_template(live)


class ComponentTemplateProvider(_TemplateProvider):
    kind = "component template"
    route, list_key, item_key = "_component_template", "component_templates", "component_template"

    def body_problems(self, name, body):
        problems = [] if isinstance(body.get("template"), dict) else ["template (an object) is required"]
        return problems + _template_problems(body)


class IndexTemplateProvider(_TemplateProvider):
    kind = "index template"
    route, list_key, item_key = "_index_template", "index_templates", "index_template"
    # Two templates with the same patterns and priority are refused: old one out first.
    delete_before_replace = True

    def body_problems(self, name, body):
        problems = []
        patterns = body.get("index_patterns")
        if not (isinstance(patterns, list) and patterns and all(isinstance(p, str) and p for p in patterns)):
            problems.append("index_patterns must be a non-empty list of strings")
        composed = body.get("composed_of", [])
        if not (isinstance(composed, list) and all(isinstance(c, str) and c for c in composed)):
            problems.append("composed_of must be a list of component template names")
        priority = body.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
            problems.append("priority must be a non-negative integer")
        return problems + _template_problems(body)


class ComponentTemplate(_DocumentResource, module="clawker", name="OpenSearchComponentTemplate"):
    provider_class = ComponentTemplateProvider


class IndexTemplate(_DocumentResource, module="clawker", name="OpenSearchIndexTemplate"):
    provider_class = IndexTemplateProvider

