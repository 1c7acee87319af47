"""The layers of STYLE.md, checked from the source: services import the floor below them
(registry.actors), never the services of the app that imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(relative: str) -> set[str]:
    tree = ast.parse((ROOT / relative).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):  # function-level imports count too
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("module", ["lineage/services.py", "tokens/services.py"])
def test_other_apps_services_take_actors_and_audit_from_the_floor_not_registry_services(
    module: str,
) -> None:
    imports = imported_modules(module)
    assert "registry.services" not in imports
    assert "registry.actors" in imports


def test_the_floor_imports_no_services() -> None:
    imports = imported_modules("registry/actors.py")
    assert not {name for name in imports if name.endswith((".services", ".reads", ".api"))}
