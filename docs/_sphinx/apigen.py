"""Write the API reference sources from the packages' ``__all__`` lists.

Nothing here names a public function: every entry of the reference comes from
``spikedecode.__all__``, ``spikedecode.robust.__all__`` and the ``__all__`` of each public
subpackage, read when the site is built. Every name of the two root lists gets a page (an
alias such as ``robust.ifgsm`` of ``robust.bim`` too); a function or class that a
subpackage re-exports from a root (``spikedecode.decoders.make_decoder`` is
``spikedecode.make_decoder``) is not repeated under the subpackage.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

#: the packages whose ``__all__`` is the public API, in reading order; their public
#: subpackages are found by walking them
ROOTS = ("spikedecode", "spikedecode.robust")


@dataclass
class Section:
    """One package of the reference: its module and the names documented under it."""

    module: str
    title: str
    names: list[str] = field(default_factory=list)


def _subpackages(package: ModuleType) -> list[str]:
    """Public subpackages of ``package`` (not the ``_private`` ones), sorted."""
    return sorted(
        f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if info.ispkg and not info.name.startswith("_")
    )


def collect_sections() -> list[Section]:
    """Every public name, grouped by the package whose ``__all__`` exports it first.

    Returns
    -------
    list of Section
        ``spikedecode`` first, then its subpackages, then ``spikedecode.robust`` and its
        subpackages. A subpackage's function or class already listed is left out.
    """
    seen: dict[int, str] = {}  # id(object) -> qualified name already documented
    sections: list[Section] = []
    modules: list[str] = []
    for root in ROOTS:
        modules.append(root)
        modules.extend(m for m in _subpackages(importlib.import_module(root))
                       if m not in ROOTS)
    for modname in dict.fromkeys(modules):
        module = importlib.import_module(modname)
        public = getattr(module, "__all__", None)
        if public is None:
            continue
        first_line = (module.__doc__ or modname).strip().splitlines()[0].rstrip(".")
        first_line = first_line.removeprefix(f"{modname}:").strip()  # no "x: x: ..."
        section = Section(modname, f"``{modname}``: {first_line}")
        for name in public:
            obj = getattr(module, name)
            # plain values (ints, strings, tuples) are shared by identity across modules
            # without being the same public thing; only dedupe functions, classes, dicts
            key = id(obj)
            if callable(obj) and key in seen and modname not in ROOTS:
                continue
            if callable(obj):
                seen[key] = f"{modname}.{name}"
            section.names.append(name)
        if section.names:
            sections.append(section)
    return sections


def render(sections: list[Section]) -> str:
    """The reStructuredText of the API index: one autosummary table per package."""
    lines = [
        ".. This file is written by docs/_sphinx/apigen.py at build time; do not edit.",
        "",
        "API reference",
        "=============",
        "",
        "Every public name of ``spikedecode``, ``spikedecode.robust`` and their",
        "subpackages, one page each, generated from the packages' ``__all__`` lists.",
        "",
    ]
    for section in sections:
        lines += [section.title, "-" * len(section.title), "",
                  f".. automodule:: {section.module}", "   :no-members:",
                  "   :no-index:", "",
                  f".. currentmodule:: {section.module}", "",
                  ".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in section.names]
        lines.append("")
    return "\n".join(lines)


def write_api_index(path: Path) -> list[Section]:
    """Write the API index to ``path`` (only if it changed, to keep rebuilds incremental)."""
    sections = collect_sections()
    text = render(sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return sections


def documented_names(api_index: Path) -> set[str]:
    """Qualified names listed by the autosummary tables of a written API index."""
    names: set[str] = set()
    module = ""
    in_table = False
    for line in api_index.read_text().splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::", 1)[1].strip()
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and line.startswith("   ") and not line.strip().startswith(":"):
            names.add(f"{module}.{line.strip()}")
        elif in_table and line and not line.startswith(" "):
            in_table = False
    return names
