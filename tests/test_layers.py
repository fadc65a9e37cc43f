"""The packages form layers, and imports only go downwards (docs/architecture.md).

Each module's imports are read from its source (every ``import`` and ``from ...
import``, including those inside functions and under TYPE_CHECKING), resolved to
absolute names, and checked against what its layer may not import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recsvc"

#: for each layer (a module or package of recsvc), what it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "recsvc.errors": ("recsvc.", "implicit", "flask", "sqlalchemy"),
    "recsvc.config": ("recsvc.data", "recsvc.training", "recsvc.artifact", "recsvc.serving",
                      "recsvc.store", "recsvc.evaluation", "recsvc.api", "implicit", "flask"),
    "recsvc.scoring": ("recsvc.", "implicit"),
    "recsvc.proportions": ("recsvc.", "implicit", "numpy", "flask", "sqlalchemy"),
    "recsvc.metrics": ("recsvc.", "implicit", "flask", "sqlalchemy"),
    "recsvc.processes": ("recsvc.",),
    "recsvc.data": ("recsvc.training", "recsvc.artifact", "recsvc.serving", "recsvc.store",
                    "recsvc.evaluation", "recsvc.api", "recsvc.pipeline", "implicit", "flask",
                    "sqlalchemy"),
    "recsvc.training": ("recsvc.serving", "recsvc.api", "recsvc.store", "recsvc.evaluation",
                        "recsvc.pipeline", "flask", "sqlalchemy"),
    "recsvc.artifact": ("recsvc.training", "recsvc.serving", "recsvc.api", "recsvc.store",
                        "recsvc.evaluation", "recsvc.pipeline", "implicit", "flask"),
    "recsvc.store": ("recsvc.training", "recsvc.serving", "recsvc.api", "recsvc.evaluation",
                     "recsvc.pipeline", "implicit", "flask"),
    "recsvc.serving": ("recsvc.training", "recsvc.api", "recsvc.evaluation", "recsvc.pipeline",
                       "implicit", "flask"),
    "recsvc.evaluation": ("recsvc.api", "recsvc.store", "recsvc.pipeline", "flask"),
    "recsvc.api": ("recsvc.training", "recsvc.evaluation", "recsvc.pipeline", "implicit"),
}  # fmt: skip


#: the top: what runs recsvc (the app, the command, training end to end); no layer
#: imports it
TOP = ("recsvc.app", "recsvc.cli", "recsvc.pipeline", "recsvc.__main__")
FORBIDDEN = {layer: (*bad, *TOP) for layer, bad in FORBIDDEN.items()}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str | None = None) -> set[str]:
    """Absolute names of everything a module (named ``name``, default its path's) imports."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer_of(name: str) -> str | None:
    return next((layer for layer in FORBIDDEN if name == layer or name.startswith(layer + ".")),
                None)  # fmt: skip


MODULES = sorted(PACKAGE.rglob("*.py"))


def forbidden(target: str, bad: str) -> bool:
    """Whether an imported name is ``bad`` or inside it ("recsvc." means any module)."""
    return target.startswith(bad) if bad.endswith(".") else (
        target == bad or target.startswith(bad + "."))  # fmt: skip


def violations(path: Path, name: str | None = None) -> list[str]:
    """What a module imports that its layer must not."""
    name = name or module_name(path)
    layer = layer_of(name)
    if layer is None:
        return []  # the top: app, cli, pipeline may import anything below them
    return sorted(
        target for target in imports(path, name)
        if not target.startswith(layer) and any(forbidden(target, b) for b in FORBIDDEN[layer])
    )  # fmt: skip


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_only_go_downwards(path: Path) -> None:
    wrong = violations(path)
    assert not wrong, f"{module_name(path)} imports {wrong}"


def test_every_module_belongs_to_a_layer_or_the_top() -> None:
    loose = [name for name in map(module_name, MODULES) if layer_of(name) is None
             and name != "recsvc" and not any(forbidden(name, top) for top in TOP)]  # fmt: skip
    assert not loose, f"modules outside every layer: {loose}; add them to FORBIDDEN"


def test_the_checker_finds_wrong_imports_behind_dots_and_in_functions(tmp_path: Path) -> None:
    module = tmp_path / "fake.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..artifact import Model\n"
        "from . import recommender\n"
        "if TYPE_CHECKING:\n    from ..training.models import AlsModel\n"
        "def f():\n    import implicit.cpu.als\n"
    )
    assert violations(module, "recsvc.serving.fake") == [
        "implicit.cpu.als",
        "recsvc.training.models",
        "recsvc.training.models.AlsModel",
    ]
    assert violations(module, "recsvc.evaluation.fake") == []  # evaluation sits above both


def test_serving_the_app_loads_nothing_from_training_or_implicit() -> None:
    """What a web process imports, checked in a fresh interpreter."""
    code = ("import sys, recsvc.app, recsvc.api.extension; "
            "print(sorted(m for m in sys.modules if m.startswith(('implicit', 'recsvc.training',"
            " 'recsvc.evaluation', 'recsvc.pipeline', 'matplotlib'))))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
