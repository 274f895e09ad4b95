"""No project module is imported inside a function to dodge an import cycle.

import-linter (``make lint``) checks which module may import which; an import
inside a function would still be counted by it, but would hide a cycle from
Python's import order. The one allowed place is Django's app-loading idiom:
``AppConfig.ready()``, which runs once the app registry is ready.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tasker_project", "workflows", "namespaces", "audit", "examples")


def _deferred_imports(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if function and isinstance(child, ast.Import | ast.ImportFrom):
                names = (
                    [alias.name for alias in child.names]
                    if isinstance(child, ast.Import)
                    else [child.module or ""]
                )
                project = [n for n in names if n.split(".")[0] in PACKAGES]
                if project and not (path.name == "apps.py" and function == "ready"):
                    rel = path.relative_to(root)
                    found.append(f"{rel}:{child.lineno} in {function}(): {project}")
            visit(child, function)

    visit(tree, None)
    return found


def test_project_imports_sit_at_module_level():
    """Every project import is at module level, except in AppConfig.ready()."""
    deferred = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for hit in _deferred_imports(path)
    ]
    assert deferred == []


def test_the_check_finds_an_import_inside_a_function(tmp_path):
    """The scan itself sees a deferred import (so the test above can fail)."""
    sample = tmp_path / "workflows" / "probe.py"
    sample.parent.mkdir()
    sample.write_text(
        "from workflows.engine import states\n"
        "def f():\n"
        "    import json\n"
        "    from workflows.engine import progress\n"
    )
    assert _deferred_imports(sample, tmp_path) == [
        "workflows/probe.py:4 in f(): ['workflows.engine']"
    ]
