"""The collector config renderer's output, byte for byte, for today's settings.

tests/fixtures/collector_config/<variant>.yaml were written by the renderer as it
was before it became a composition of per-lane and per-unit parts (main at
ae6042e, one render function): `python tests/unit/test_collector_config_golden.py`
run on that commit wrote them. Values changed since, on purpose and by hand in every
file, by issue 21's measured ingest tuning (components/services/collector_config.py
DURABLE_CONSUMERS, DURABLE_BATCH): the durable exporters' `num_consumers` 4 -> 2 (28f7dbf),
then their batches' `flush_timeout` 1s -> 200ms (2026-12-05: the last batch of a burst no
longer waits a second). The composed renderer must write the same bytes for
the default settings (units [claude-code]) and the non-default ones below; a
change that moves a key, a list item or a quote fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.services import collector_config, config_file  # noqa: E402
from components.settings import validate  # noqa: E402

GOLDEN = ROOT / "tests" / "fixtures" / "collector_config"
TLS = {"infraTlsCertFile": "/tls/server.crt", "infraTlsKeyFile": "/tls/server.key", "infraTlsCaFile": "/tls/ca.crt"}
VARIANTS = {
    "default": {},
    "trusted-lane": TLS,
    "infra-port-off": {"infraPort": 0},
    "moved-ports-long-retry": {
        **TLS,
        "otlpHttpPort": 14318,
        # Was 14317 until 2026-12-05: the untrusted lane's loopback receiver's port, which the
        # rendered collector would have bound twice (settings refuse it now); by hand here and
        # in the fixture's otlp grpc endpoint.
        "otlpGrpcPort": 14327,
        "infraPort": 24319,
        "collectorMetricsPort": 18889,
        "opensearchPort": 19200,
        "deliveryRetryHours": 48,
    },
}


def rendered(variant: str) -> str:
    return config_file.to_yaml(collector_config.render(validate(VARIANTS[variant])))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_yaml_is_byte_for_byte_what_the_single_function_renderer_wrote(variant):
    expected = (GOLDEN / f"{variant}.yaml").read_text()
    assert rendered(variant) == expected


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in VARIANTS:
        (GOLDEN / f"{name}.yaml").write_text(rendered(name))
        print(f"wrote {GOLDEN / name}.yaml")
