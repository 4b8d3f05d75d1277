"""The counting provider of pool_probe, in a module that imports the providers' kit at
import time, as every provider module of the stack does."""

from __future__ import annotations

import components.providers.kit  # noqa: F401  (the import under test)
from pool_probe import Plain


class Widened(Plain):
    pass
