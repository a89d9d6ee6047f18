"""List the public functions and classes whose docstrings fail numpydoc checks.

The site's build (``docs/conf.py``) validates every docstring against the numpydoc checks
it does not exclude; this script reports the excluded ones that the project still means
to meet, so that each can be switched on once its list is empty::

    python docs/_sphinx/docstring_gaps.py            # PR01, RT01, EX01
    python docs/_sphinx/docstring_gaps.py PR01 PR02   # any numpydoc check codes
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numpydoc.validate import validate  # noqa: E402

from _sphinx.apigen import collect_sections  # noqa: E402

#: missing Parameters entries, missing Returns section, missing Examples section
DEFAULT_CHECKS = ("PR01", "RT01", "EX01")


def gaps(checks: tuple[str, ...] = DEFAULT_CHECKS) -> dict[str, list[str]]:
    """Qualified names of the API reference failing each check.

    Parameters
    ----------
    checks : tuple of str
        numpydoc check codes.

    Returns
    -------
    dict of str to list of str
        For each check, the failing names (functions and classes; constants have no
        numpydoc docstring).
    """
    found: dict[str, list[str]] = {c: [] for c in checks}
    for section in collect_sections():
        module = importlib.import_module(section.module)
        for name in section.names:
            if not callable(getattr(module, name)):
                continue
            qualified = f"{section.module}.{name}"
            for code, _ in validate(qualified)["errors"]:
                if code in found and qualified not in found[code]:
                    found[code].append(qualified)
    return found


if __name__ == "__main__":
    result = gaps(tuple(sys.argv[1:]) or DEFAULT_CHECKS)
    for code, names in result.items():
        print(f"{code}: {len(names)}")
        for name in names:
            print(f"    {name}")
