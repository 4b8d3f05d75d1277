"""The e2e and benchmark harness lets the `pulumi` it starts take SIGINT (tests/e2e/pulumi_cli.py).

Started in the background of a non-interactive shell, the harness inherits SIGINT ignored;
the Pulumi CLI stops its language host with SIGINT and waits 5 s before killing it, so every
command would take 5 s longer. A grandchild reports the disposition it inherited.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"


def grandchild_ignores_sigint(import_harness: bool) -> bool:
    harness = "import pulumi_cli; " if import_harness else ""
    parent = (
        "import signal, subprocess, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        f"sys.path[:0] = [{str(ROOT / 'tests' / 'e2e')!r}, {str(ROOT)!r}]; {harness}"
        f"print(subprocess.run([sys.executable, '-c', {REPORT!r}], capture_output=True, text=True).stdout.strip())"
    )
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, check=True).stdout.strip()
    return out == "True"


def test_commands_started_by_the_harness_take_sigint_even_when_it_was_ignored():
    assert grandchild_ignores_sigint(import_harness=True) is False


def test_control_without_the_harness_the_ignored_sigint_is_inherited():
    assert grandchild_ignores_sigint(import_harness=False) is True
