"""The dependency rule, checked on the source: a lower layer never imports a higher one, and a
private module (``_x.py``) is imported only from inside its own package.

The order is the layer table of docs/architecture.md, lowest first. A module may import its own
layer and any layer before it, at module level or inside a function alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agent_orchestrated_etl

PACKAGE = Path(agent_orchestrated_etl.__file__).parent
NAME = "agent_orchestrated_etl"

LAYERS = (
    ("errors", "_text"),
    ("settings",),
    ("spec",),
    ("secrets",),
    ("state",),
    ("resilience",),
    ("data",),
    ("connectors",),
    ("transform",),
    ("analysis",),
    ("quality",),
    ("engine",),
    ("agents",),
    ("pipeline",),
    ("export",),
    ("api",),
    ("progress", "cli", "mcp", "airflow", "_launch", "__init__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def dotted(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts


def imported(path: Path) -> list[tuple[int, list[str]]]:
    """(line, module path inside the package) for every import of the package's own code."""
    here = dotted(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == NAME:
                target = node.module.split(".")[1:]
            else:
                continue
            # `from . import x` names a module as much as `import .x` would.
            for alias in node.names:
                found.append((node.lineno, [*target, alias.name]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == NAME:
                    found.append((node.lineno, alias.name.split(".")[1:]))
    return found


def exists(parts: list[str]) -> bool:
    path = PACKAGE.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer_or_another_packages_private_module(path: Path) -> None:
    here = dotted(path)
    layer = here[0] if here else "__init__"
    assert layer in RANK, f"{layer} is not in the layer table; add it to LAYERS and the docs"
    problems = []
    for line, target in imported(path):
        # Trim a trailing imported name (a class or function) that is not a module.
        while target and not exists(target):
            target = target[:-1]
        if not target:
            continue
        other = target[0]
        if other in RANK and RANK[other] > RANK[layer]:
            problems.append(f"line {line}: {'.'.join(target)} is a higher layer than {layer}")
        for depth, part in enumerate(target):
            owner = target[:depth]
            if part.startswith("_") and part != "__init__" and here[: len(owner)] != owner:
                problems.append(f"line {line}: {'.'.join(target)} is private to {owner}")
    assert not problems, "\n".join(problems)
