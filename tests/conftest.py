"""Fixtures shared by several test layers.

opensearch: ONE real OpenSearch 3.6.0 process for the whole run (tests/providers/
opensearch_node.py), with the ISM / SQL plugin contract doubles in front of it
where the distribution lacks those plugins. Used by the provider tests, the plugin
doubles' contract tests and the Dashboards double's own tests (the double keeps
its saved objects in it). Started only when a test asks. cluster: the same,
emptied before the test; prometheus: the cached real Prometheus binary (no stand-in: without it the test
fails under CI=true, is skipped elsewhere).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "providers"))

from opensearch_node import cluster, opensearch, prometheus  # noqa: E402,F401  (fixtures)
