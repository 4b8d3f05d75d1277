"""Fixtures shared by several test layers.

opensearch: ONE real OpenSearch 3.6.0 process for the whole run (tests/providers/
opensearch_node.py), used by the provider tests and by the Dashboards double's own
tests (the double keeps its saved objects in it). Started only when a test asks.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "providers"))

from opensearch_node import opensearch  # noqa: E402,F401  (session fixture)
