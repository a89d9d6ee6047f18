"""The files of spikedecode.align import each other without a cycle (issue 13, item 8)."""

from __future__ import annotations

import ast
from pathlib import Path

import spikedecode.align

PKG = "spikedecode.align"
ALIGN_DIR = Path(spikedecode.align.__file__).parent


def _module_name(path: Path) -> str:
    return "__init__" if path.stem == "__init__" else path.stem


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Sibling modules that ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: "from .base import x" or "from . import base"
                base = node.module or ""
                names = [f"{PKG}.{base}" if base else PKG]
                if not base:
                    names += [f"{PKG}.{a.name}" for a in node.names]
            else:
                mod = node.module or ""
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == PKG:
                found.add("__init__")
            elif name.startswith(PKG + "."):
                sub = name[len(PKG) + 1:].split(".")[0]
                if sub in modules:
                    found.add(sub)
    found.discard(_module_name(path))
    return found


def _import_graph() -> dict[str, set[str]]:
    files = sorted(ALIGN_DIR.glob("*.py"))
    modules = {_module_name(f) for f in files}
    return {_module_name(f): _imports(f, modules) for f in files}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_sees_a_cycle():
    # guards the test below against a finder that never reports anything
    assert _find_cycle({"base": {"adversarial"}, "adversarial": {"base"}}) == [
        "adversarial", "base", "adversarial"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_align_files_import_without_cycle():
    graph = _import_graph()
    # the walk really sees the imports (else an empty graph would pass trivially)
    assert "base" in graph["pca"] and "base" in graph["_registry"]
    assert "adversarial" not in graph["base"] and "__init__" not in graph["base"]
    assert _find_cycle(graph) is None, f"import cycle: {' -> '.join(_find_cycle(graph))}"
