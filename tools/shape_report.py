"""Print shape counts of a spikedecode checkout (the before/after numbers of issue 13).

Not part of the package. Run it from any directory with the project's Python::

    python tools/shape_report.py [CHECKOUT]        # default: this repository

It prints

- public names: the union of ``__all__`` over every module of ``spikedecode`` (read by
  importing each module, with ``CHECKOUT`` first on ``sys.path``), and the sizes of the
  top-level and ``spikedecode.robust`` ``__all__`` (for a ``robust`` without ``__all__``:
  the names its lazy ``__getattr__`` reached, the union of its submodules' ``__all__``);
- names defined (``def`` / ``class`` at module level, not underscored) in two or more
  modules, with the modules;
- functions and methods over 80 and over 100 lines, counted two ways: the whole span from
  ``def`` to the last line, and the code alone (the span minus the docstring, the measure of
  ``tests/test_shape.py``);
- the number of pairs the ``duplicates`` command finds in ``CHECKOUT/spikedecode`` (six or
  more shared lines), when that command is on the PATH.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

_ALL_NAMES = r"""
import importlib, json, pkgutil, sys, warnings
sys.path.insert(0, sys.argv[1])
import spikedecode
assert spikedecode.__file__.startswith(sys.argv[1]), spikedecode.__file__
warnings.simplefilter("ignore")
out, failed = {}, []
for info in pkgutil.walk_packages(spikedecode.__path__, "spikedecode."):
    try:
        mod = importlib.import_module(info.name)
    except Exception as err:  # an optional dependency that is not installed
        failed.append(f"{info.name}: {type(err).__name__}")
        continue
    if hasattr(mod, "__all__"):
        out[info.name] = list(mod.__all__)
out["spikedecode"] = list(spikedecode.__all__)
import spikedecode.robust as robust
if "spikedecode.robust" not in out:
    out["spikedecode.robust (lazy, no __all__)"] = [
        n for n in dir(robust) if not n.startswith("_") and n not in robust._SUBMODULES]
print(json.dumps({"all": out, "failed": failed}))
"""


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def public_names(checkout: Path) -> dict:
    """``__all__`` of every module, read by importing the checkout in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "MPLBACKEND": "Agg"}
    res = subprocess.run([sys.executable, "-c", _ALL_NAMES, str(checkout)], env=env,
                         capture_output=True, text=True, check=True, cwd=checkout)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _top_level_defs(tree: ast.Module) -> list[str]:
    names, todo = [], list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.If):
            todo.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            todo.extend(node.body + node.orelse)
    return [n for n in names if not n.startswith("_")]


def _lengths(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
    """(whole span, span minus the docstring)."""
    span = node.end_lineno - node.lineno + 1
    first = node.body[0]
    doc = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
           and isinstance(first.value.value, str))
    return span, span - (first.end_lineno - first.lineno + 1 if doc else 0)


def source_counts(checkout: Path) -> dict:
    """Names defined in several modules and long functions, from the source (ast)."""
    package = checkout / "spikedecode"
    where: dict[str, list[str]] = defaultdict(list)
    functions: list[tuple[str, str, int, int]] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        mod = _module_name(path, package)
        for name in _top_level_defs(tree):
            where[name].append(mod)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                span, code = _lengths(node)
                functions.append((path.relative_to(package).as_posix(), node.name, span, code))
    repeated = {n: mods for n, mods in sorted(where.items()) if len(mods) > 1}
    return {"repeated": repeated, "functions": functions}


def duplicate_pairs(checkout: Path) -> str:
    """The first line of ``duplicates`` over ``spikedecode/``, or why there is none."""
    exe = shutil.which("duplicates")
    if exe is None:
        return "duplicates: command not found"
    res = subprocess.run([exe, "--repo", str(checkout / "spikedecode"), "--seconds", "120"],
                         capture_output=True, text=True, check=False)
    lines = res.stdout.strip().splitlines()
    return lines[0] if lines else f"duplicates: no output ({res.stderr.strip()})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", nargs="?", type=Path,
                        default=Path(__file__).resolve().parents[1])
    parser.add_argument("--list", action="store_true",
                        help="also list the repeated names and the long functions")
    args = parser.parse_args(argv)
    checkout = args.checkout.resolve()
    head = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True, check=False).stdout.strip()
    print(f"checkout: {checkout} ({head[:70]})")

    names = public_names(checkout)
    alls = names["all"]
    union = set().union(*alls.values())
    robust_key = next(k for k in alls if k.startswith("spikedecode.robust") and
                      (k == "spikedecode.robust" or "lazy" in k))
    print(f"public names (union of every __all__): {len(union)} "
          f"in {len(alls)} modules with __all__")
    print(f"  spikedecode.__all__: {len(alls['spikedecode'])}")
    print(f"  {robust_key}: {len(alls[robust_key])}")
    if names["failed"]:
        print(f"  modules that did not import: {names['failed']}")

    src = source_counts(checkout)
    rep = src["repeated"]
    print(f"public def/class names defined in 2+ modules: {len(rep)}")
    if args.list:
        for n, mods in rep.items():
            print(f"    {n}: {', '.join(mods)}")
    fns = src["functions"]
    for limit in (80, 100):
        span = [f for f in fns if f[2] > limit]
        code = [f for f in fns if f[3] > limit]
        print(f"functions over {limit} lines: {len(span)} (whole span), "
              f"{len(code)} (code without docstring)")
        if args.list:
            for f, name, s, c in sorted(code, key=lambda t: -t[3]):
                print(f"    {f}::{name} span {s}, code {c}")
    print(f"duplicates (spikedecode/): {duplicate_pairs(checkout)}")


if __name__ == "__main__":
    main()
