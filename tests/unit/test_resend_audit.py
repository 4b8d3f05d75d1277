"""Every POST/PATCH the providers send says whether it may be resent.

ApiClient sends a POST or PATCH once unless the call passes `idempotent=` (see
components/providers/http_client.py). A call that does not pass it must be one whose
caller recovers from OutcomeUnknownError by reading state; those are listed here, so
a new write is either marked or recovered on purpose, never resent by accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
# The client itself, whose own session.request passes the caller's method through.
TRANSPORT = "providers/http_client.py"

# (module, function) whose unmarked POST is sent once, and how the caller finds out after a lost answer.
RECOVERED = {
    ("providers/dashboards/workspace.py", "_create_new"): "adopts the workspace of that exact name if it matches",
    ("providers/dashboards/data_connection.py", "_write"): "reads the object back and PUTs it in line",
    ("providers/opensearch/datasource.py", "apply"): "reads the datasource back and PUTs it in line",
    ("providers/opensearch/ism_policy.py", "_ism_index_call"): "add: explain shows the policy on each index",
    ("providers/opensearch/tasks.py", "start_task"): "run_task follows the running task of that description",
}


def _unmarked_writes() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(COMPONENTS.rglob("*.py")):
        rel = path.relative_to(COMPONENTS).as_posix()
        if rel == TRANSPORT:
            continue
        tree = ast.parse(path.read_text(), filename=rel)
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for call in ast.walk(func):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "request" and call.args):
                    continue
                method = call.args[0]
                literal = isinstance(method, ast.Constant) and isinstance(method.value, str)
                if literal and method.value.upper() not in ("POST", "PATCH"):
                    continue
                if any(kw.arg == "idempotent" for kw in call.keywords):
                    continue
                found.append((rel, func.name, call.lineno))
    return found


def test_every_post_or_patch_is_marked_or_recovered():
    unexplained = [f"{rel}:{line} in {name}()" for rel, name, line in _unmarked_writes() if (rel, name) not in RECOVERED]
    assert not unexplained, (
        "POST/PATCH calls that neither pass idempotent= nor recover from OutcomeUnknownError "
        "(mark them, or recover by reading state and list them in RECOVERED): " + ", ".join(unexplained)
    )


def test_the_audit_sees_the_calls_it_should():
    # Negative control: the scan finds the known unmarked create, and a marked read is not reported.
    seen = {(rel, name) for rel, name, _ in _unmarked_writes()}
    assert ("providers/dashboards/workspace.py", "_create_new") in seen
    assert ("providers/dashboards/workspace.py", "find_by_name") not in seen
