"""Fixtures of the OpenSearch provider tests (implemented in opensearch_node.py).

opensearch: a real OpenSearch 3.6.0 as a local process for the session, with the
ISM / SQL plugin contract doubles in front of it where the distribution lacks the
plugins; cluster: the same, emptied before the test; prometheus: the cached real
Prometheus binary, never a stand-in (without it: a failure under CI, a skip elsewhere).
All three are imported in tests/conftest.py (one node for every layer).
"""
