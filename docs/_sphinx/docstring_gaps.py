"""List the public functions, classes and methods whose docstrings fail numpydoc checks.

The site's build (``docs/conf.py``) validates every docstring against the numpydoc checks
it does not exclude; this script reports the failures of the given checks, by default
PR01 (an argument missing from Parameters), RT01 (no Returns section) and EX01 (no
Examples section)::

    python docs/_sphinx/docstring_gaps.py            # PR01, RT01, EX01
    python docs/_sphinx/docstring_gaps.py PR01 PR02   # any numpydoc check codes

Methods are checked as the build checks them (the public members a class defines itself,
with a docstring), except for EX01, which the build asks only of functions and classes.
The documented exemptions (:data:`EXEMPT_NAMES`, :data:`EXEMPT_FILES`, which
``docs/conf.py`` passes to numpydoc through :func:`exempt_name_patterns`) are left out;
``--all`` lists them too.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numpydoc.validate import validate  # noqa: E402

from _sphinx.apigen import collect_sections  # noqa: E402

#: missing Parameters entries, missing Returns section, missing Examples section
DEFAULT_CHECKS = ("PR01", "RT01", "EX01")

#: checks the build applies to functions and classes but not to methods (a method's
#: example is its class's Examples section)
NOT_FOR_METHODS = frozenset({"EX01"})

#: qualified-name regexes exempt from every numpydoc check (``numpydoc_validation_exclude``),
#: each with its reason
EXEMPT_NAMES = {
    # the constructor is documented by its class's Parameters section
    r"\.__init__$": "documented by the class",
    # a typing.Protocol: its signature is Protocol's own (*args, **kwargs) and it is never
    # instantiated, so there are no parameters to document
    r"^spikedecode\.align\.DayAligner$": "typing.Protocol, never instantiated",
    # same constructor as its parent: the 26 parameters are documented once, on
    # AdversarialAligner, which its docstring links
    r"^spikedecode\.align\.ConditionalAdversarialAligner$":
        "parameters documented on AdversarialAligner (same signature)",
}

#: module-path regexes (relative to the package) whose objects are exempt from every
#: numpydoc check (see :func:`exempt_name_patterns`). TEMPORARY: the adversarial aligners are being
#: rewritten (issue 14) and their docstrings are completed with the rewrite; drop the
#: entry then.
EXEMPT_FILES: dict[str, str] = {}


def is_exempt(qualified: str) -> bool:
    """Whether the build exempts ``qualified`` (a function, class or method) from checks.

    Parameters
    ----------
    qualified : str
        A dotted name such as ``"spikedecode.align.procrustes"``.

    Returns
    -------
    bool
        True when the name matches :data:`EXEMPT_NAMES` or the object is defined in a
        module matching :data:`EXEMPT_FILES`.
    """
    import re

    return any(re.search(p, qualified) for p in EXEMPT_NAMES) or _in_exempt_file(qualified)


def _in_exempt_file(qualified: str) -> bool:
    """Whether the object named ``qualified`` is defined in a file of :data:`EXEMPT_FILES`."""
    import re

    module_name, _, attr = qualified.partition(".")
    obj = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    module = inspect.getmodule(obj)
    if module is None or "." not in module.__name__:
        return False
    rel = module.__name__.split(".", 1)[1].replace(".", "/") + ".py"
    return any(re.search(p, rel) for p in EXEMPT_FILES)


def _methods(cls: type, qualified: str) -> list[str]:
    """Qualified names of the public methods and properties ``cls`` defines itself and
    autodoc documents (those with a docstring, possibly inherited)."""
    names = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            has_doc = bool(value.__doc__)
        elif callable(getattr(value, "__func__", value)):
            has_doc = bool(inspect.getdoc(getattr(cls, name)))
        else:
            continue
        if has_doc:
            names.append(f"{qualified}.{name}")
    return names


def exempt_name_patterns() -> set[str]:
    """Every exemption as a qualified-name regex, for ``numpydoc_validation_exclude``.

    numpydoc's own ``numpydoc_validation_exclude_files`` also skips rendering the
    docstrings of those files (they reach docutils as raw numpydoc text), so the objects
    of :data:`EXEMPT_FILES` are exempted by name instead, methods included.

    Returns
    -------
    set of str
        :data:`EXEMPT_NAMES`, plus ``^<qualified name>(\\.|$)`` for each function and class
        of the API reference defined in an exempt file.
    """
    import re

    patterns = set(EXEMPT_NAMES)
    for section in collect_sections():
        module = importlib.import_module(section.module)
        for name in section.names:
            qualified = f"{section.module}.{name}"
            if callable(getattr(module, name)) and _in_exempt_file(qualified):
                patterns.add(rf"^{re.escape(qualified)}(\.|$)")
    return patterns


def gaps(checks: tuple[str, ...] = DEFAULT_CHECKS, *,
         include_exempt: bool = False) -> dict[str, list[str]]:
    """Qualified names of the API reference failing each check.

    Parameters
    ----------
    checks : tuple of str
        numpydoc check codes.
    include_exempt : bool, default=False
        Also list the names the build exempts (:func:`is_exempt`).

    Returns
    -------
    dict of str to list of str
        For each check, the failing names (functions, classes and methods; constants
        have no numpydoc docstring).
    """
    found: dict[str, list[str]] = {c: [] for c in checks}
    for section in collect_sections():
        module = importlib.import_module(section.module)
        for name in section.names:
            if not callable(getattr(module, name)):
                continue
            obj = getattr(module, name)
            qualified = f"{section.module}.{name}"
            methods = _methods(obj, qualified) if inspect.isclass(obj) else []
            for target in [qualified, *methods]:
                if not include_exempt and is_exempt(target):
                    continue
                for code, _ in validate(target)["errors"]:
                    if target in methods and code in NOT_FOR_METHODS:
                        continue
                    if code in found and target not in found[code]:
                        found[code].append(target)
    return found


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--all"]
    result = gaps(tuple(args) or DEFAULT_CHECKS, include_exempt="--all" in sys.argv[1:])
    for code, names in result.items():
        print(f"{code}: {len(names)}")
        for name in names:
            print(f"    {name}")
