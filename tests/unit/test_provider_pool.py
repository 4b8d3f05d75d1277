"""The dynamic-provider process serves more than four calls at once once our kit is loaded
(components/providers/pool.py), and only four without it (the SDK's pool: the control).

Each test starts the real `python -m pulumi.dynamic` process the engine starts, sends it
Check calls over gRPC the way the engine does (the pickled provider in `__provider`), and
reads back how many calls the provider saw running at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.providers import pool

ROOT = Path(__file__).resolve().parents[2]
BURST = 12


@pytest.fixture
def provider_process():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "unit")])}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield provider_pb2_grpc.ResourceProviderStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def check(stub, provider_text: str, n: int) -> int:
    news = struct_pb2.Struct()
    news.update({"__provider": provider_text, "n": n})
    request = provider_pb2.CheckRequest(urn=f"urn:pulumi:s::p::pulumi-python:dynamic:Resource::r{n}", news=news)
    response = stub.Check(request, timeout=60)
    return int(response.inputs["peak"])


def peak_of_burst(stub, provider) -> int:
    text = serialize_provider(provider)
    check(stub, text, 0)  # the first call unpickles the provider (and imports its modules)
    with futures.ThreadPoolExecutor(BURST) as senders:
        return max(senders.map(lambda n: check(stub, text, n), range(1, BURST + 1)))


def test_the_providers_kit_lets_the_process_serve_more_than_four_calls_at_once(provider_process):
    from pool_probe_widened import Widened

    assert peak_of_burst(provider_process, Widened()) == BURST


def test_control_without_the_kit_the_sdk_serves_four_at_once(provider_process):
    from pool_probe import Plain

    assert peak_of_burst(provider_process, Plain()) == pool.SDK_WORKERS


def test_widen_does_nothing_outside_the_dynamic_provider_process():
    # This test process is no provider process: nothing of its own is touched.
    assert not pool.in_dynamic_provider_process()
    assert pool.widen() == 0
