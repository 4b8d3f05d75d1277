"""Fixtures shared by several test layers.

The real OpenSearch node (tests/providers/opensearch_node.py) is one session
fixture for tests/providers and tests/plugin_doubles alike, so a run that
collects both starts it once.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "providers"))

from opensearch_node import cluster, opensearch, prometheus  # noqa: E402,F401  (fixtures)
