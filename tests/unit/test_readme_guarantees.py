"""README's Guarantees table names, for every promise, tests that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"u": "unit", "p": "providers", "e": "e2e", "d": "dashboards_double"}


def guarantee_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Guarantees\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [tuple(cell.strip() for cell in row.strip("|").split(" | ")) for row in rows[1:]]


def named_tests(cell: str) -> list[tuple[Path, str]]:
    """`u:file.py::test_x`, then `::test_y` for another test of the same file."""
    out, current = [], None
    for ref in re.findall(r"`([^`]+)`", cell):
        if ref.startswith("::"):
            assert current, f"{ref} names no file before it"
            name = ref[2:]
        else:
            layer, rest = ref.split(":", 1)
            filename, name = rest.split("::")
            current = ROOT / "tests" / LAYERS[layer] / filename
        out.append((current, name))
    return out


def test_every_guarantee_names_tests_that_exist():
    rows = guarantee_rows()
    assert len(rows) >= 20
    for guarantee, proof in rows:
        tests = named_tests(proof)
        assert tests, f"README guarantee without a test: {guarantee}"
        for path, name in tests:
            assert path.exists(), f"{guarantee}: no {path}"
            assert re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.M), f"{guarantee}: no {name} in {path}"


def test_a_misnamed_test_is_caught():
    (path, name), = named_tests("`u:test_readme_guarantees.py::test_that_does_not_exist`")
    assert path.exists() and not re.search(rf"^def {name}\(", path.read_text(), re.M)
