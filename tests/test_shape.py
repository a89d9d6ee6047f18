"""The shape of the package (issue 13 item 8): short functions, no import circles.

Long functions
    A function or method of ``spikedecode/`` may have at most :data:`MAX_LINES` lines of
    code, counted from its ``def`` line to its last line, minus its docstring (numpydoc
    docstrings with Examples are required and are not what makes a function hard to read).
    A longer one needs a comment that starts with the marker ``# long:`` followed by the
    reason, placed between the ``def`` line and the first statement after the docstring::

        def train(module, train_data, ...):
            \"\"\"...\"\"\"
            # long: the training loop keeps the callback order in one place; ...
            import torch

    :data:`LONG_ALLOWED` lists the ``(file, function)`` pairs that are still over the limit
    without the comment; entries are to be removed, never added.

Import circles
    The graph has one node per module of ``spikedecode`` and an edge ``a -> b`` for every
    module-level import in ``a`` that names ``b`` (``import b``, ``from b import x``, and
    ``from a_package import b`` when ``b`` is a submodule). Imports inside functions and
    under ``if TYPE_CHECKING:`` are not edges: they run after both modules are loaded.
    Parent packages that Python initialises on the way are not edges either. Every circle
    (strongly connected component of two or more modules; a package importing from its
    own ``__init__`` is no circle)
    must lie inside one of :data:`CYCLES_ALLOWED` (empty today: there is no module-level
    circle). A second graph adds the imports deferred into functions; its circles work at
    run time but still tie two files together, and must lie inside one of
    :data:`DEFERRED_CYCLES_ALLOWED`, today's ones. Entries are to be removed, never added.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spikedecode"
MAX_LINES = 100
MARKER = "# long:"

#: (path relative to spikedecode/, qualified function name): over MAX_LINES, no comment
#: yet; in files owned by other branches of issue 13 (cleaned after the merge).
LONG_ALLOWED: set[tuple[str, str]] = set()

#: module-level import circles allowed (module names); each found circle must be a
#: subset of one. None today.
CYCLES_ALLOWED: list[frozenset[str]] = []

#: circles through imports deferred into functions, allowed until their owners remove them.
DEFERRED_CYCLES_ALLOWED: list[frozenset[str]] = [
    # torch_estimator's loader imports the presets that subclass it (branch h14d fixes it)
    frozenset({"spikedecode.decoders.torch_estimator", "spikedecode.decoders.mlp",
               "spikedecode.decoders.lstm"}),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


# ----------------------------------------------------------------------------- long functions
def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    """(lines of code without the docstring, line of the first statement after it)."""
    n = node.end_lineno - node.lineno + 1
    body = node.body
    first = body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        n -= first.end_lineno - first.lineno + 1
        first = body[1] if len(body) > 1 else first
    return n, first.lineno


def long_functions(root: Path = PACKAGE) -> list[tuple[str, str, int, bool]]:
    """``(file, qualified name, code lines, has the marker)`` for every function over the limit."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            parent, prefix = stack.pop()
            for node in ast.iter_child_nodes(parent):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{node.name}"
                    stack.append((node, f"{name}."))
                    if isinstance(node, ast.ClassDef):
                        continue
                    n, first = _code_lines(node)
                    if n > MAX_LINES:
                        head = lines[node.lineno - 1:first]
                        marked = any(line.strip().startswith(MARKER)
                                     and len(line.strip()) > len(MARKER) + 20 for line in head)
                        found.append((path.relative_to(root).as_posix(), name, n, marked))
                else:
                    stack.append((node, prefix))
    return found


def test_long_functions_say_why():
    unexplained = [(f, name, n) for f, name, n, marked in long_functions()
                   if not marked and (f, name) not in LONG_ALLOWED]
    assert not unexplained, (
        f"functions over {MAX_LINES} lines of code without a '{MARKER} <reason>' comment "
        f"after the docstring: {unexplained}. Split them, or say why they are one piece.")


def test_long_function_detector(tmp_path):
    # a 101-line function is caught; the same with the marker passes; 100 lines is fine
    body = "\n".join(f"    x{i} = {i}" for i in range(100))
    (tmp_path / "a.py").write_text(f'def f():\n    """Doc.\n\n    More.\n    """\n{body}\n'
                                   f"def g():\n{body[:-len(chr(10) + '    x99 = 99')]}\n")
    (tmp_path / "b.py").write_text(f"class C:\n    def m(self):\n        {MARKER} one loop that "
                                   "reads top to bottom\n" + body.replace("    ", "        ")
                                   + "\n")
    found = {(f, name): (n, marked) for f, name, n, marked in long_functions(tmp_path)}
    assert found == {("a.py", "f"): (101, False), ("b.py", "C.m"): (102, True)}


# ----------------------------------------------------------------------------- import circles
def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, deferred: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """The imports that run when the module loads (and, if ``deferred``, those in functions)."""
    out: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                todo.extend(node.body + node.orelse)
        elif deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                            ast.ClassDef)):
            todo.extend(node.body)
        elif isinstance(node, ast.Try):
            todo.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                todo.extend(handler.body)
        elif isinstance(node, (ast.With, ast.For, ast.While)):
            todo.extend(node.body)
        elif isinstance(node, ast.ClassDef):  # a class body runs at import time
            todo.extend(node.body)
    return out


def import_graph(modules: dict[str, Path] | None = None, *, deferred: bool = False
                 ) -> dict[str, set[str]]:
    """module -> the spikedecode modules it imports at module level (or anywhere)."""
    modules = _modules() if modules is None else modules
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text()), deferred):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = mod.split(".")
                    base = base if is_pkg else base[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [src] + [f"{src}.{a.name}" for a in node.names]
            graph[mod].update(t for t in targets if t in modules and t != mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of two or more modules (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def test_no_new_import_circles():
    found = cycles(import_graph())
    new = [sorted(c) for c in found if not any(c <= allowed for allowed in CYCLES_ALLOWED)]
    assert not new, (f"module-level import circles {new}: move the shared piece to a module "
                     "both import (registries to the package __init__ or a registry module), "
                     "or import inside the function that needs it.")


def test_cycle_detector_finds_circles_and_ignores_function_imports(tmp_path):
    pkg = tmp_path / "spikedecode"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import a\n")
    (pkg / "sub" / "a.py").write_text("from spikedecode.sub.b import f\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from spikedecode.c import g\n"
                                      "try:\n    from .a import h\nexcept ImportError:\n"
                                      "    pass\n")
    (pkg / "c.py").write_text("def g():\n    from spikedecode.sub import b\n")
    modules = {}
    for path in sorted(pkg.rglob("*.py")):
        parts = list(path.relative_to(tmp_path).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = import_graph(modules)
    assert graph["spikedecode.sub"] == {"spikedecode.sub.a"}
    assert graph["spikedecode.sub.b"] == {"spikedecode.sub.a"}  # TYPE_CHECKING skipped
    assert graph["spikedecode.c"] == set()  # the import inside g() is not an edge
    assert cycles(graph) == [frozenset({"spikedecode.sub.a", "spikedecode.sub.b"})]
    # counting the deferred import in c.g(): c -> sub.b, but no new circle through c
    assert import_graph(modules, deferred=True)["spikedecode.c"] == {"spikedecode.sub",
                                                                     "spikedecode.sub.b"}


def test_no_new_deferred_import_circles():
    found = cycles(import_graph(deferred=True))
    new = [sorted(c) for c in found
           if not any(c <= allowed for allowed in DEFERRED_CYCLES_ALLOWED)]
    assert not new, (f"import circles through function-level imports {new}: move the shared "
                     "piece to a module both import.")


@pytest.mark.parametrize("allowed", CYCLES_ALLOWED + DEFERRED_CYCLES_ALLOWED,
                         ids=lambda c: sorted(c)[0])
def test_allowed_cycles_name_real_modules(allowed):
    # a typo in the allow-list would silently allow nothing
    assert allowed <= set(_modules())
