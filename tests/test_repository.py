"""The repository a maintainer expects: one version, one copy of the schemas, a wheel that
carries LICENSE and schemas, matplotlib optional, and docs whose paths exist."""

from __future__ import annotations

import ast
import glob
import importlib.metadata
import itertools
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import spikedecode
from spikedecode.schema import SCHEMA_DIR, load_schema, schema_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(spikedecode.__file__).resolve().parent


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# ----------------------------------------------------------------------------- version


def test_one_version_source():
    project = _pyproject()["project"]
    assert "version" not in project.get("dynamic", [])
    # the installed metadata is read back, never a second literal
    assert spikedecode.__version__ == importlib.metadata.version("spikedecode")
    assert spikedecode.__version__ == project["version"]
    init = (PACKAGE / "__init__.py").read_text()
    assert f'"{project["version"]}"' not in init


# ----------------------------------------------------------------------------- schemas


def test_root_data_schemas_is_the_package_folder():
    link = ROOT / "data_schemas"
    assert link.is_symlink(), "the root data_schemas must be a link, not a second copy"
    assert os.readlink(link) == "spikedecode/data_schemas"  # relative: survives a clone
    assert link.resolve() == (ROOT / "spikedecode" / "data_schemas").resolve()
    assert sorted(p.name for p in link.glob("*.schema.json")) == sorted(
        f"{n}.schema.json" for n in schema_names())


def test_schemas_load_from_the_package():
    assert SCHEMA_DIR.resolve().parent == PACKAGE
    from importlib.resources import files

    shipped = files("spikedecode") / "data_schemas"
    for name in schema_names():
        text = (shipped / f"{name}.schema.json").read_text()
        assert load_schema(name)["$id"] in text


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source tree (the work tree is left untouched)."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("the build needs setuptools>=77 (SPDX license + license-files)")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "spikedecode", src / "spikedecode",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    code = ("import sys, setuptools.build_meta as b; "
            "print(b.build_wheel(sys.argv[1]))")
    res = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return out / res.stdout.strip().splitlines()[-1]


def test_wheel_carries_license_schemas_and_metadata(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert f"{dist_info}/licenses/LICENSE" in names
        assert zf.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        for name in schema_names():
            member = f"spikedecode/data_schemas/{name}.schema.json"
            assert zf.read(member) == (SCHEMA_DIR / f"{name}.schema.json").read_bytes()
        assert "spikedecode/py.typed" in names
        meta = zf.read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: BSD-3-Clause" in meta
    assert f"Version: {spikedecode.__version__}" in meta
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    # matplotlib and elephant are extras, never unconditional requirements
    for dep in ("matplotlib", "elephant"):
        lines = [r for r in requires if r.split()[1].startswith(dep)]
        assert lines and all("extra ==" in r for r in lines), lines


def test_installed_wheel_finds_its_schemas(wheel, tmp_path):
    """Unpacked alone (no source tree on the path), the package still loads its schemas."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = ("import spikedecode.schema as s; "
            "print(s.SCHEMA_DIR); print(sorted(s.load_schema(n)['title'] "
            "for n in s.schema_names()))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    schema_dir, titles = res.stdout.strip().splitlines()[-2:]
    assert Path(schema_dir).is_relative_to(site)
    assert titles == repr(sorted(load_schema(n)["title"] for n in schema_names()))


# ----------------------------------------------------------------------------- matplotlib


def _module_level_imports(tree: ast.Module) -> list[str]:
    """Modules imported by statements that run at import time (not inside functions)."""
    out: list[str] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    todo += child.body if isinstance(child, ast.ExceptHandler) else [child]
    return out


def test_no_module_level_matplotlib_import():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mods = _module_level_imports(ast.parse(path.read_text(), str(path)))
        offenders += [f"{path.relative_to(PACKAGE)}: {m}" for m in mods
                      if m.split(".")[0] == "matplotlib"]
    assert offenders == []


def test_works_without_matplotlib_and_plotting_names_the_extra():
    code = """
import sys
sys.modules["matplotlib"] = None  # import matplotlib now raises ImportError
import spikedecode as sd
import spikedecode.align, spikedecode.cli, spikedecode.decoders, spikedecode.evaluation
import spikedecode.io, spikedecode.plotting.raster, spikedecode.robust, spikedecode.training
exp = sd.simulate_touch_experiment(n_days=1, n_repeats=1, n_strokes=2, n_puffs=2,
                                   random_state=0)
X, y, groups = sd.to_xy(sd.make_windows(exp[0], bin_size=0.005, n_bins=5))
print("windows", X.shape[0] > 0)
try:
    spikedecode.plotting.raster.plot_raster(exp[0])
except ImportError as err:
    print("error", err)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "windows True" in res.stdout
    err = [line for line in res.stdout.splitlines() if line.startswith("error")]
    assert err, "plotting without matplotlib must raise ImportError"
    assert "matplotlib" in err[0] and "pip install 'spikedecode[plot]'" in err[0]


# ----------------------------------------------------------------------------- docs


_DOCS = ["README.md", "CHANGELOG.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
_TOP = {"docs", "tutorials", "benchmarks", "data_schemas", "spikedecode", "tests"}


def _patterns(token: str) -> list[str]:
    """Glob patterns of a path as written in the docs: {a,b}, 01…06, <name>, *."""
    token = token.split("::")[0].split("#")[0]
    token = re.sub(r":[\d,\-–]+$", "", token)  # file:12, file:83-94, file:9,28
    token = re.sub(r"<[^>]+>", "*", token)
    m = re.search(r"(\d+)…(\d+)", token)
    if m:
        lo, hi, width = int(m[1]), int(m[2]), len(m[1])
        return [p for k in range(lo, hi + 1)
                for p in _patterns(token[:m.start()] + f"{k:0{width}d}" + token[m.end():])]
    m = re.search(r"\{([^{}]+)\}", token)
    if m:
        return list(itertools.chain.from_iterable(
            _patterns(token[:m.start()] + alt + token[m.end():]) for alt in m[1].split(",")))
    return [token]


#: build outputs that docs may name; they exist only after `make docs`
_BUILT = ("docs/_build/", "docs/api/", "docs/tutorials/")


def _doc_paths(doc: str) -> list[str]:
    text = (ROOT / doc).read_text()
    found = [t for t in re.findall(r"\]\(([^)\s]+)\)", text)
             if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    for t in re.findall(r"`([^`\s]+)`", text):
        if ("/" in t and t.split("/")[0] in _TOP) or re.fullmatch(r"[\w.-]+\.md", t):
            found.append(t)
    return found


def test_doc_path_patterns():
    assert _patterns("t/01…03_*.py") == ["t/01_*.py", "t/02_*.py", "t/03_*.py"]
    assert _patterns("d/{a,b}.json") == ["d/a.json", "d/b.json"]
    assert _patterns("s/_cli/<name>.py") == ["s/_cli/*.py"]
    assert _patterns("tests/x.py::test_y") == ["tests/x.py"]
    assert _patterns("tests/x.py:83-94") == _patterns("tests/x.py:9,28") == ["tests/x.py"]


@pytest.mark.parametrize("doc", _DOCS)
def test_paths_named_in_docs_exist(doc):
    if not (ROOT / doc).exists():
        pytest.fail(f"{doc} is missing")
    missing = []
    for token in _doc_paths(doc):
        if token.startswith(_BUILT):  # written by `make docs`, absent from a clean checkout
            continue
        for pattern in _patterns(token):
            # a bare file name (e.g. `data_model.md` inside docs/) is relative to the doc
            bases = [ROOT, (ROOT / doc).parent]
            if not any(glob.glob(str(base / pattern)) for base in bases):
                missing.append(f"{token} ({pattern})")
        if "::" in token:  # a named test must exist in that file
            path, name = token.split("::", 1)
            if (ROOT / path).exists() and f"def {name}(" not in (ROOT / path).read_text():
                missing.append(token)
    assert missing == [], f"{doc} names paths that do not exist: {missing}"
