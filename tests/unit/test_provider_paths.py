"""Existing stacks keep working after the providers moved (issue 13).

Pulumi stores each dynamic resource's provider in the state as a pickle
(`__provider`: base64 of `dill.dumps(provider)`), which names the provider's
class by module path. `refresh`, `up` and `destroy` of a stack made by an
earlier release unpickle exactly those bytes. The strings below were produced
by `pulumi.dynamic.dynamic.serialize_provider` on main at 7636bdc, the last
commit before the providers were split into packages (every provider class ever
released lived in these four modules; `git log` shows no other).
"""

from __future__ import annotations

import base64
import importlib

import dill
import pytest
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

STORED = {
    ("components.providers.opensearch", "_AssetProvider"): "gASVOQAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLm9wZW5zZWFyY2iUjA5fQXNzZXRQcm92aWRlcpSTlCmBlC4=",
    ("components.providers.opensearch", "ComponentTemplateProvider"): "gASVRAAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLm9wZW5zZWFyY2iUjBlDb21wb25lbnRUZW1wbGF0ZVByb3ZpZGVylJOUKYGULg==",
    ("components.providers.opensearch", "IndexTemplateProvider"): "gASVQAAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLm9wZW5zZWFyY2iUjBVJbmRleFRlbXBsYXRlUHJvdmlkZXKUk5QpgZQu",
    ("components.providers.opensearch", "IngestPipelineProvider"): "gASVQQAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLm9wZW5zZWFyY2iUjBZJbmdlc3RQaXBlbGluZVByb3ZpZGVylJOUKYGULg==",
    ("components.providers.opensearch", "IsmPolicyProvider"): "gASVPAAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLm9wZW5zZWFyY2iUjBFJc21Qb2xpY3lQcm92aWRlcpSTlCmBlC4=",
    ("components.providers.opensearch", "IndexProvider"): "gASVOAAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLm9wZW5zZWFyY2iUjA1JbmRleFByb3ZpZGVylJOUKYGULg==",
    ("components.providers.opensearch", "DatasourceProvider"): "gASVPQAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLm9wZW5zZWFyY2iUjBJEYXRhc291cmNlUHJvdmlkZXKUk5QpgZQu",
    ("components.providers.dashboards", "DataConnectionProvider"): "gASVQQAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLmRhc2hib2FyZHOUjBZEYXRhQ29ubmVjdGlvblByb3ZpZGVylJOUKYGULg==",
    ("components.providers.dashboards", "WorkspaceProvider"): "gASVPAAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLmRhc2hib2FyZHOUjBFXb3Jrc3BhY2VQcm92aWRlcpSTlCmBlC4=",
    ("components.providers.dashboards", "ExploreObjectProvider"): "gASVQAAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLmRhc2hib2FyZHOUjBVFeHBsb3JlT2JqZWN0UHJvdmlkZXKUk5QpgZQu",
    ("components.providers.dashboards", "SavedObjectBundleProvider"): "gASVRAAAAAAAAACMH2NvbXBvbmVudHMucHJvdmlkZXJzLmRhc2hib2FyZHOUjBlTYXZlZE9iamVjdEJ1bmRsZVByb3ZpZGVylJOUKYGULg==",
    # Added for issue 21 (one resource per unit's explore objects); stored by its own module path.
    ("components.providers.dashboards", "ExploreCollectionProvider"): "gASVTAAAAAAAAACMJ2NvbXBvbmVudHMucHJvdmlkZXJzLmRhc2hib2FyZHMuZXhwbG9yZZSMGUV4cGxvcmVDb2xsZWN0aW9uUHJvdmlkZXKUk5QpgZQu",
    ("components.providers.readiness", "ServiceReadyProvider"): "gASVPgAAAAAAAACMHmNvbXBvbmVudHMucHJvdmlkZXJzLnJlYWRpbmVzc5SMFFNlcnZpY2VSZWFkeVByb3ZpZGVylJOUKYGULg==",
    ("components.providers.secret", "GeneratedSecretProvider"): "gASVPgAAAAAAAACMG2NvbXBvbmVudHMucHJvdmlkZXJzLnNlY3JldJSMF0dlbmVyYXRlZFNlY3JldFByb3ZpZGVylJOUKYGULg==",
}


@pytest.mark.parametrize("module,name", sorted(STORED), ids=lambda v: v)
def test_a_provider_stored_by_an_earlier_release_unpickles(module, name):
    raw = base64.b64decode(STORED[(module, name)])
    # The bytes really name the old path (so this test cannot pass vacuously).
    assert module.encode() in raw and name.encode() in raw
    provider = dill.loads(raw)  # what pulumi.dynamic.__main__.get_provider does
    assert isinstance(provider, ResourceProvider)
    assert type(provider).__name__ == name
    # The class found at the old path is the one the program uses today.
    assert type(provider) is getattr(importlib.import_module(module), name)


def test_every_provider_the_program_uses_today_is_reachable_from_a_stored_path():
    """A provider class added since must be listed above once a release stores it; a class
    that moved must still be the one its old path gives."""
    from components.providers import dashboards, opensearch, readiness, secret

    for package in (opensearch, dashboards, readiness, secret):
        for attr in dir(package):
            cls = getattr(package, attr)
            if isinstance(cls, type) and issubclass(cls, ResourceProvider) and cls is not ResourceProvider:
                assert (package.__name__, attr) in STORED, f"{package.__name__}.{attr} is not pinned here"
                # New stacks pickle it where it lives now; that path must load too.
                assert type(dill.loads(base64.b64decode(serialize_provider(cls())))) is cls
