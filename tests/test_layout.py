"""The code stays readable: no module of the package over 550 lines, no function nested deeper
than 6 levels, and the engine's loop on one screen."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from stylesweep import transfer

PACKAGE = Path(__file__).resolve().parent.parent / "stylesweep"
MODULES = sorted(PACKAGE.glob("*.py"))
BLOCKS = (ast.For, ast.While, ast.If, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef)


def _depth(node: ast.AST, level: int = 1) -> int:
    """The indentation level of the deepest statement in the function `node` (its body is 1)."""
    deepest = level
    for child in ast.iter_child_nodes(node):
        inner = level + 1 if isinstance(child, BLOCKS) and child is not node else level
        if isinstance(child, BLOCKS) and child.body:  # type: ignore[attr-defined]
            deepest = max(deepest, inner)
        deepest = max(deepest, _depth(child, inner))
    return deepest


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_modules_stay_small_and_shallow(module: Path) -> None:
    source = module.read_text()
    assert len(source.splitlines()) <= 550
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            assert _depth(node) <= 6, f"{module.name}: {node.name} nests too deep"


def test_the_loop_body_fits_on_one_screen() -> None:
    # The per-iteration body of transfer.stylize: evaluate, report if due, step, checkpoint.
    tree = ast.parse(inspect.getsource(transfer.stylize).lstrip())
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For)]
    inner = loops[-1]
    assert inner.end_lineno - inner.lineno <= 20  # type: ignore[operator]
    assert _depth(tree.body[0]) <= 5
