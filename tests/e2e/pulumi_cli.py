"""Drives the real `pulumi` CLI against a local file backend for the e2e tests."""

from __future__ import annotations

import copy
import json
import os
import pathlib
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import Optional

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
E2E_CONFIG = pathlib.Path(__file__).resolve().parent / "Pulumi.e2e.yaml"
# Compiled modules of the programs the e2e stacks run, per user, outside the checkout.
PYCACHE = pathlib.Path(os.environ.get("CLAWKER_CACHE", pathlib.Path.home() / ".cache" / "clawker-monitor")) / "e2e-pycache"


def let_plugins_take_sigint() -> None:
    """Give this process (and so every `pulumi` it starts) the default SIGINT disposition.

    A command started in the background of a non-interactive shell (`cmd &`, as CI
    runners and nohup-style launchers do) inherits SIGINT *ignored*, and exec keeps it
    ignored. The Pulumi CLI stops its language host with SIGINT and waits 5 s before
    killing it, so every `pulumi` command then took 5 s longer: the benchmark's empty
    program measured 6.4 s instead of 1.4 s, and the e2e layer paid it per command.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


let_plugins_take_sigint()


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self) -> "Result":
        assert self.returncode == 0, f"pulumi {' '.join(self.args)} failed ({self.returncode}):\n{self.output[-6000:]}"
        return self


class PulumiStack:
    """One stack of this project with its own state directory and config file."""

    def __init__(
        self,
        name: str,
        workdir: pathlib.Path,
        toolchain_bin: str,
        config_source: pathlib.Path = E2E_CONFIG,
        project_dir: pathlib.Path = ROOT,
    ):
        self.name = name
        # Another Pulumi project (the benchmark's empty program) runs the same way.
        self.project_dir = project_dir
        self.state_dir = workdir / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_file = workdir / f"Pulumi.{name}.yaml"
        shutil.copy(config_source, self.config_file)
        self.env = {
            **os.environ,
            "PATH": f"{toolchain_bin}:{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{self.state_dir}",
            "PULUMI_CONFIG_PASSPHRASE": "e2e-passphrase",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # These machines reach no plugin server: every plugin is on PATH.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_HOME": str(workdir / "pulumi-home"),
        }
        self.env.pop("PULUMI_ACCESS_TOKEN", None)
        # As on a user's machine, the program and the dynamic-provider process keep their
        # compiled modules: a sandbox's PYTHONDONTWRITEBYTECODE=1 made every command compile
        # ours again (benchmarks/stack.py as_users_python). Outside the checkout, shared by
        # every stack of the run (Python writes each .pyc atomically).
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
        self._init_stack()

    def _init_stack(self) -> None:
        """Create the stack, keeping the checkout clean.

        `stack init` writes the passphrase salt into Pulumi.<stack>.yaml beside
        Pulumi.yaml; it belongs with this stack's own config file instead.
        """
        written = self.project_dir / f"Pulumi.{self.name}.yaml"
        self.run("stack", "init", self.name, check=False)
        if written.exists():
            salt = yaml.safe_load(written.read_text()) or {}
            config = yaml.safe_load(self.config_file.read_text()) or {}
            config.update({k: v for k, v in salt.items() if k != "config"})
            self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
            written.unlink()

    def with_program(self, project_dir: pathlib.Path) -> "PulumiStack":
        """The same stack (state, config file, secrets) driven by the program in project_dir."""
        other = copy.copy(self)
        other.project_dir = project_dir
        return other

    def run(self, *args: str, check: bool = True, timeout: int = 900, value: Optional[str] = None) -> Result:
        """`value`: a last argument passed after `--`, so that one beginning with "-" (a generated
        password, a Dashboards id) is not read as a flag."""
        if args[:2] == ("stack", "init"):
            argv = ["pulumi", *args, "--non-interactive"]
        elif args[0] == "stack":
            # `stack` subcommands (export, output, rm) take --stack but not --config-file.
            argv = ["pulumi", *args, "--stack", self.name, "--non-interactive"]
        else:
            argv = ["pulumi", *args, "--stack", self.name, "--config-file", str(self.config_file), "--non-interactive"]
        if value is not None:
            argv += ["--", value]
        proc = subprocess.run(argv, cwd=self.project_dir, env=self.env, capture_output=True, text=True, timeout=timeout)
        result = Result(list(args), proc.returncode, proc.stdout, proc.stderr)
        return result.check() if check else result

    def set_config(self, key: str, value: str, secret: bool = False) -> None:
        self.run("config", "set", *(["--secret"] if secret else []), f"clawker-monitor:{key}", value=value)

    def up(self) -> Result:
        return self.run("up", "--yes", "--skip-preview")

    def destroy(self) -> Result:
        return self.run("destroy", "--yes", "--skip-preview")

    def refresh(self) -> Result:
        """Read every resource back from the live system (drift becomes state)."""
        return self.run("refresh", "--yes", "--skip-preview")

    def preview(self, *extra: str, check: bool = True) -> Result:
        return self.run("preview", *extra, check=check)

    def preview_changes(self) -> dict[str, str]:
        """URN -> operation for every step the preview plans that is not a no-op."""
        result = self.run("preview", "--json")
        doc = json.loads(result.stdout)
        return {
            step["urn"]: step["op"]
            for step in doc.get("steps", [])
            if step.get("op") not in ("same", "read")
        }

    def outputs(self) -> dict:
        return json.loads(self.run("stack", "output", "--json", "--show-secrets").stdout)

    def remove(self) -> None:
        self.run("stack", "rm", "--yes", "--force", check=False)


def stack_name_of(urn: str) -> str:
    """The resource name at the end of a URN."""
    return urn.rsplit("::", 1)[-1]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc


def inspect(kind: str, name: str) -> Optional[dict]:
    proc = docker(kind, "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]
