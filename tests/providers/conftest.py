"""Fixtures of the OpenSearch provider tests (implemented in opensearch_node.py).

opensearch: a real OpenSearch 3.6.0 as a local process for the session;
cluster: the same, emptied before the test; prometheus: the cached Prometheus
binary (or a stand-in answering only what registration needs).
"""

from opensearch_node import cluster, prometheus  # noqa: F401  (fixtures; `opensearch` is in tests/conftest.py)
