"""Ingest pipelines (`_ingest/pipeline/<name>`)."""

from __future__ import annotations

from components.providers.opensearch.base import _AssetProvider, _DocumentResource



class IngestPipelineProvider(_AssetProvider):
    kind = "ingest pipeline"
    TEXT_PROPERTIES = ("body",)  # one JSON text in the engine's hands (text_documents.py)

    def path(self, name: str) -> str:
        return f"_ingest/pipeline/{name}"

    def body_problems(self, name, body):
        problems = []
        for key in ("processors", "on_failure"):
            steps = body.get(key, [] if key == "on_failure" else None)
            if not isinstance(steps, list) or (key == "processors" and not steps):
                problems.append(f"{key} must be a {'non-empty ' if key == 'processors' else ''}list")
                continue
            for i, step in enumerate(steps):
                if not (isinstance(step, dict) and len(step) == 1 and isinstance(next(iter(step.values())), dict)):
                    problems.append(f"{key}[{i}] must be one processor: {{\"<type>\": {{...}}}}")
        return problems

    def fetch(self, client, name):
        answer = client.request("GET", self.path(name), missing_ok=True)
        return (answer or {}).get(name)


class IngestPipeline(_DocumentResource, module="clawker", name="OpenSearchIngestPipeline"):
    provider_class = IngestPipelineProvider

