"""The OpenSearch providers under the real Pulumi engine (no Docker): a tiny program
declares the pipelines, templates and log indices against the test OpenSearch.

What only the engine shows: the providers pickle and load in the dynamic-provider
process, `preview --expect-no-changes` holds after `up`, `preview --diff` names
the changed field and updates in place, `refresh` sees a template deleted by
hand and the next `up` restores it, `destroy` removes the assets but keeps the
indices (and their documents).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import textwrap
from pathlib import Path


from prerequisites import unavailable

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent(
    '''
    """Test program: the bootstrap's OpenSearch assets without ISM, the datasource or containers."""
    import copy

    import pulumi

    from components.bootstrap import opensearch as boot
    from components import names
    from components.providers import opensearch as osp

    config = pulumi.Config()
    endpoint = config.require("endpoint")
    grow = config.get_bool("grow") or False

    pipelines = [
        osp.IngestPipeline(f"pipeline-{name}", endpoint=endpoint, name=name, body=body)
        for name, body in boot.pipeline_bodies().items()
    ]
    common = osp.ComponentTemplate(
        "component-template",
        endpoint=endpoint,
        name=names.COMPONENT_TEMPLATE,
        body=boot.component_template_body(),
        opts=pulumi.ResourceOptions(depends_on=pipelines),
    )
    for index in ("clawker-cli", "clawker-coredns"):
        mappings = boot.index_mappings(index)
        if grow and index == "clawker-cli":
            mappings = copy.deepcopy(mappings)
            mappings["properties"]["attributes"]["properties"]["grown_field"] = {"type": "keyword"}
        templates = []
        for name, body in boot.template_bodies(index).items():  # the write name's and the days'
            if grow and index == "clawker-cli":
                body["template"]["mappings"]["properties"]["attributes"]["properties"]["grown_field"] = {"type": "keyword"}
            templates.append(
                osp.IndexTemplate(
                    f"index-template-{name}",
                    endpoint=endpoint,
                    name=name,
                    body=body,
                    opts=pulumi.ResourceOptions(depends_on=[common]),
                )
            )
        osp.Index(
            f"index-{index}",
            endpoint=endpoint,
            name=index,
            mappings=mappings,
            settings=boot.index_settings(index),
            policy_id=None,
            opts=pulumi.ResourceOptions(depends_on=templates),
        )
    '''
)


def _toolchain() -> str:
    path = os.environ.get("CLAWKER_TOOLCHAIN_BIN")
    if not path:
        cache = Path(os.environ.get("CLAWKER_CACHE", Path.home() / ".cache" / "clawker-monitor"))
        found = sorted(glob.glob(str(cache / "toolchain" / "bin-*")))
        path = found[-1] if found else ""
    if not path or not (Path(path) / "pulumi").exists() or not (Path(path) / "pulumi-resource-pulumi-python").exists():
        unavailable("the Pulumi toolchain is missing (tools/toolchain.sh provides it)")
    return path


class Program:
    def __init__(self, workdir: Path, toolchain: str, endpoint: str, source: str = PROGRAM):
        self.dir = workdir / "program"
        self.dir.mkdir()
        (self.dir / "__main__.py").write_text(source)
        (self.dir / "Pulumi.yaml").write_text(
            "name: clawker-os-provider-test\n"
            "runtime:\n  name: python\n  options:\n"
            f"    toolchain: pip\n    virtualenv: {ROOT / 'venv'}\n"
        )
        self.env = {
            **os.environ,
            "PATH": f"{toolchain}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "PULUMI_BACKEND_URL": f"file://{workdir / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "provider-tests",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_HOME": str(workdir / "pulumi-home"),
        }
        self.env.pop("PULUMI_ACCESS_TOKEN", None)
        (workdir / "state").mkdir()
        self.run("stack", "init", "test")
        self.run("config", "set", "endpoint", endpoint)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["pulumi", "--non-interactive", *args],  # a global flag, first: after `--` it would be a value
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check:
            assert proc.returncode == 0, f"pulumi {' '.join(args)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
        return proc


def test_assets_under_the_pulumi_engine(cluster, tmp_path):
    program = Program(tmp_path, _toolchain(), cluster.url)

    program.run("up", "--yes", "--skip-preview")
    assert cluster.call("GET", "_index_template/clawker-cli").status_code == 200
    program.run("preview", "--expect-no-changes")

    # A template deleted by hand: refresh reports it gone, the next up restores it.
    assert cluster.call("DELETE", "_index_template/clawker-coredns").status_code == 200
    refresh = program.run("refresh", "--yes")
    assert "deleted" in refresh.stdout, refresh.stdout
    assert program.run("preview", "--expect-no-changes", check=False).returncode != 0
    program.run("up", "--yes", "--skip-preview")
    assert cluster.call("GET", "_index_template/clawker-coredns").status_code == 200
    program.run("preview", "--expect-no-changes")

    # A field added to a template: an in-place update, shown field by field.
    program.run("config", "set", "grow", "true")
    preview = program.run("preview", "--diff")
    assert "grown_field" in preview.stdout, preview.stdout
    assert "replace" not in preview.stdout.lower(), preview.stdout
    program.run("up", "--yes", "--skip-preview")
    mapping = cluster.call("GET", "clawker-cli/_mapping").json()["clawker-cli"]["mappings"]
    assert mapping["properties"]["attributes"]["properties"]["grown_field"] == {"type": "keyword"}
    program.run("preview", "--expect-no-changes")

    # Nothing secret or provider-internal leaks into plain outputs; the state stays readable.
    exported = json.loads(program.run("stack", "export").stdout)
    assert exported["deployment"]["resources"]

    # destroy: the assets go, the indices (the telemetry) stay.
    assert cluster.call("POST", "clawker-cli/_doc?refresh=true", {"@timestamp": "2026-12-04T10:00:00Z", "body": "kept"}).status_code == 201
    program.run("destroy", "--yes", "--skip-preview")
    assert cluster.call("GET", "_index_template/clawker-cli").status_code == 404
    assert cluster.call("GET", "_component_template/clawker-common").status_code == 404
    assert cluster.call("GET", "clawker-cli*/_count").json()["count"] == 1

    # up again over the kept indices: they are adopted, not an error.
    program.run("up", "--yes", "--skip-preview")
    program.run("preview", "--expect-no-changes")
    assert cluster.call("GET", "clawker-cli*/_count").json()["count"] == 1
