"""The documentation site's generated sources: the API reference and the tutorial gallery.

These run without building the site: they call the generators that ``docs/conf.py`` calls
(``docs/_sphinx``) and read what they write.
"""

from __future__ import annotations

import ast
import importlib
import sys

import pytest

import spikedecode
import spikedecode.robust
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "docs"))
from _sphinx import apigen, gallery  # noqa: E402


def _resolve(qualified: str) -> object:
    module, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    index = tmp_path_factory.mktemp("api") / "index.rst"
    apigen.write_api_index(index)
    return apigen.documented_names(index)


@pytest.mark.parametrize("package", [spikedecode, spikedecode.robust],
                         ids=["spikedecode", "spikedecode.robust"])
def test_every_public_name_has_an_api_page(package: object, documented: set[str]) -> None:
    missing = {f"{package.__name__}.{n}" for n in package.__all__} - documented
    assert not missing, f"names of __all__ without an API page: {sorted(missing)}"


def test_subpackage_names_are_documented_once_and_resolve(documented: set[str]) -> None:
    # every entry of the reference imports (no stale names) ...
    objects = {q: _resolve(q) for q in documented}
    # ... and each function/class of a subpackage's __all__ has exactly one page, under
    # its own path or under the top-level name it is re-exported as
    pages_of: dict[int, list[str]] = {}
    for q, obj in objects.items():
        if callable(obj):
            pages_of.setdefault(id(obj), []).append(q)
    # several pages for one object only for aliases inside a root's __all__ (robust.ifgsm
    # is robust.bim), never for a subpackage repeating a root name
    roots = set(apigen.ROOTS)
    duplicated = [qs for qs in pages_of.values()
                  if len(qs) > 1 and not all(q.rpartition(".")[0] in roots for q in qs)]
    assert not duplicated, f"one object, several API pages: {duplicated}"
    sections = apigen.collect_sections()
    modules = [s.module for s in sections]
    assert modules[0] == "spikedecode" and "spikedecode.robust" in modules
    for modname in modules:
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj):
                assert id(obj) in pages_of, f"{modname}.{name} has no API page"
            else:
                assert f"{modname}.{name}" in documented, f"{modname}.{name}"


def test_api_index_is_reproducible(tmp_path) -> None:
    a, b = tmp_path / "a.rst", tmp_path / "b.rst"
    apigen.write_api_index(a)
    apigen.write_api_index(b)
    assert a.read_text() == b.read_text()
    assert ".. autosummary::" in a.read_text()


@pytest.mark.parametrize("script", sorted((REPO / "tutorials").glob("[0-9][0-9]_*.py")),
                         ids=lambda p: p.stem)
def test_tutorial_converts_to_a_gallery_example(script, tmp_path) -> None:
    text = gallery.convert_tutorial(script)
    tree = ast.parse(text)  # valid Python
    title = (ast.get_docstring(tree) or "").splitlines()
    # sphinx-gallery's title: the docstring's first line, underlined with "="
    assert title and title[0].strip() and set(title[1]) == {"="}, title[:2]
    assert len(title[1]) == len(title[0])
    # the code is unchanged: every code line of the tutorial appears, in order
    original = [ln for ln in script.read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    converted = iter(text.splitlines())
    for line in original:
        assert any(c == line for c in converted), f"code line lost or reordered: {line!r}"
    # no Markdown cell marker or heading survives into the reStructuredText blocks
    assert "# %% [markdown]" not in text
    assert not [ln for ln in text.splitlines() if ln.startswith("# #")]
