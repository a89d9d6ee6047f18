"""Sphinx configuration of the spikedecode documentation site (``make docs``).

Offline by design: no intersphinx inventories are fetched (CI has no network), so
references to numpy, xarray or torch render as plain text instead of links. The API
reference (``api/index.rst``) and the tutorial gallery sources are generated from the
package and from ``tutorials/`` each time the site is built; neither is kept in git.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # the checkout being documented, not an installed copy
sys.path.insert(0, str(DOCS))

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from _sphinx import apigen, docstring_gaps, gallery  # noqa: E402

import spikedecode  # noqa: E402

project = "spikedecode"
author = "spikedecode developers"
copyright = "spikedecode developers, BSD-3-Clause"  # noqa: A001
version = release = spikedecode.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_sphinx",
    "_templates",
    "_gallery_src",  # the converted tutorials; sphinx-gallery renders them into tutorials/
    "tutorials/*.ipynb",
    "tutorials/*.py",
    "**.codeobj.json",
    "dev-notes-*.md",  # internal plans of work in progress: kept in the repository only
]

# --- API reference: written from the packages' __all__ before autosummary runs ----------
API_SECTIONS = apigen.write_api_index(DOCS / "api" / "index.rst")
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autoclass_content = "class"

# --- numpydoc -------------------------------------------------------------------------
numpydoc_show_class_members = False  # the class template lists the methods itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Validation: every numpydoc check runs on every documented function, class and method,
# and a failure fails the build (through -W), except these:
#   ES01 extended summary, SA01 "See Also": optional sections;
#   GL01/GL02 where the summary line starts, SS05 "Returns" vs "Return", SS06 one-line
#   summary: layout the project's style guide does not fix;
#   PR03-PR10, RT02-RT05, SA03/SA04, SS02: the style of parameter/return entries (types,
#   order, punctuation), uneven across the package;
#   EX01 (an Examples section) here only: numpydoc would ask it of every method too, and
#   a method's example is its class's Examples section. ``_require_examples`` below asks
#   it of every public function and class (exceptions and warnings included), with the
#   same exemptions;
#   GL08 no docstring: methods inherited from torch/scikit-learn.
# PR01 (every argument in Parameters) and RT01 (a Returns section) hold for functions,
# classes and methods alike; a method returning ``self`` says so in one entry.
# `python docs/_sphinx/docstring_gaps.py` lists what fails PR01, RT01 or EX01 (and
# tests/test_docs_api.py fails when that list is not empty).
numpydoc_validation_checks = {
    "all",
    "ES01", "SA01", "GL01", "GL02", "SS05", "SS06",
    "PR03", "PR04", "PR05", "PR06", "PR07", "PR08", "PR09", "PR10",
    "RT02", "RT03", "RT04", "RT05", "SA03", "SA04", "SS02", "EX01", "GL08",
}
# Names (regexes on the qualified name) and the objects of module files exempt from every
# check; the reason of each is beside it in docs/_sphinx/docstring_gaps.py
numpydoc_validation_exclude = docstring_gaps.exempt_name_patterns()

# --- MyST (the existing Markdown pages) ---------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- tutorial gallery ---------------------------------------------------------------------
GALLERY_SRC = DOCS / "_gallery_src" / "tutorials"
gallery.convert_tutorials(REPO / "tutorials", GALLERY_SRC)
_reset_argv = gallery.ResetArgv(DOCS / "_build" / "tutorial_out", REPO / "tutorials")
sphinx_gallery_conf = {
    "examples_dirs": [str(GALLERY_SRC)],
    "gallery_dirs": ["tutorials"],
    "filename_pattern": r"/\d\d_",  # execute every tutorial, not only plot_*.py
    "reset_argv": _reset_argv,
    "image_scrapers": (gallery.PNGScraper(_reset_argv),),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "plot_gallery": "True",
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "capture_repr": (),
    "min_reported_time": 1e9,
    # "Tutorials using X" on each API page
    "doc_module": ("spikedecode",),
    "backreferences_dir": "api/backrefs",
}

# --- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"spikedecode {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}

# offline: no inventories are fetched (see the module docstring)
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = False

# --- autodoc events -----------------------------------------------------------------------
import inspect  # noqa: E402
import re  # noqa: E402

from sphinx.util import logging as _sphinx_logging  # noqa: E402

logger = _sphinx_logging.getLogger(__name__)

# numpydoc validates functions, classes and methods; module constants carry no numpydoc
# docstring (their meaning is in the module docs), so they are not validated
numpydoc_validation_exclude |= {r"\.[A-Z][A-Z0-9_]*$", r"\.__version__$"}

_SKLEARN_ROUTING = re.compile(r"^set_\w+_request$")


def _skip_member(app, what, name, obj, skip, options):
    """Leave out members that are not spikedecode's own API.

    scikit-learn adds ``set_<method>_request`` (metadata routing) to every estimator, with
    docstrings that reference scikit-learn's own glossary; a named tuple's fields are
    documented by its class docstring, not by ``Alias for field number N``.
    """
    if _SKLEARN_ROUTING.match(name):
        return True
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith("Alias for field number"):
        return True
    return skip


def _drop_type_docstring(app, what, name, obj, options, lines):
    """A constant without its own docstring shows its value, not its type's docstring."""
    if what in ("data", "attribute") and not callable(obj):
        type_doc = (inspect.getdoc(type(obj)) or "").strip()
        first = lines[0].strip() if lines else ""
        # numpy rewrites the signature line of its docstrings, so match it loosely
        if first and (first == type_doc.splitlines()[0].strip()
                      or first.startswith(f"{type(obj).__name__}(")):
            lines.clear()


def _require_examples(app, what, name, obj, options, lines):
    """numpydoc's EX01 for public functions and classes (not methods): warn, and so fail
    the ``-W`` build, when a docstring has no Examples section.

    Runs before numpydoc rewrites the docstring (priority 400 < numpydoc's 500), so the
    section is still the plain ``Examples`` heading.
    """
    if what not in ("function", "class", "exception") or docstring_gaps.is_exempt(name):
        return
    if not any(line.strip() == "Examples" for line in lines):
        logger.warning(f"[numpydoc] Validation warnings while processing docstring for "
                       f"{name!r}:\n  EX01: No examples section found")


def setup(app):
    app.connect("autodoc-skip-member", _skip_member, priority=100)
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=400)
    app.connect("autodoc-process-docstring", _require_examples, priority=400)
